"""Does a page show a code where a person should read a name? (``visible_codes``, for any page test or crawl.)

Looks at what a person reads — text outside ``<script>``, ``<style>`` and ``<template>``, and the ``alt``, ``title``,
``placeholder`` and ``aria-label`` attributes a browser shows or reads aloud — for:

* role keys (``grid_worker`` …), channel keys (``hotline``, ``iot``, ``sensor`` …), case-state keys (``in_progress``
  …) and the system actor (``system``) — every key of ``zhili.core.names``;
* department codes (``HW``, ``CG`` …): pass the codes of the department table;
* any ASCII identifier of the ``[a-z]+_[a-z_]+`` shape.

Text a page marks as machine data with the standard ``translate="no"`` attribute — a device's payload as it was
received, a rule's condition in the expression language — is data, not wording, and is not read.

Codes are matched as whole ASCII tokens, case-sensitive (the English catalogue's "Resident" is a name, not a code).
Test users whose display name is their username (``wangge_a``) would be flagged where the page greets them: give
them Chinese display names, as real accounts have.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html.parser import HTMLParser

from zhili.core import names

CODE_WORDS = frozenset().union(*(names.codes(kind) for kind in ("role", "channel", "state"))) | {
    "system", "sensor", names.SYSTEM_USERNAME}
IDENTIFIER = re.compile(r"^[a-z]+_[a-z_]+$")
_TOKEN = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z][A-Za-z0-9_]*(?![A-Za-z0-9_])")
_SHOWN_ATTRS = ("alt", "title", "placeholder", "aria-label")
_HIDDEN = {"script", "style", "template"}


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hidden = 0
        self.data: list[str] = []  # the open elements marked translate="no" (machine data), innermost last
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        if dict(attrs).get("translate") == "no":
            self.data.append(tag)
            self.hidden += 1
        self.parts.extend(v for k, v in attrs if k in _SHOWN_ATTRS and v)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN and self.hidden:
            self.hidden -= 1
        if self.data and self.data[-1] == tag:
            self.data.pop()
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def visible_texts(html: str) -> list[str]:
    """The pieces of text a person reads on the page (text nodes and the shown attributes)."""
    reader = _Visible()
    reader.feed(html)
    return [" ".join(p.split()) for p in reader.parts if p.strip()]


def visible_codes(html: str, departments: Iterable[str]) -> list[str]:
    """Every code the page shows where a name belongs, as ``"<code>: <the text it is in>"`` (empty: none)."""
    dept_codes = frozenset(departments)
    found = []
    for text in visible_texts(html):
        for m in _TOKEN.finditer(text):
            token = m.group(0)
            if token in CODE_WORDS or token in dept_codes or IDENTIFIER.match(token):
                found.append(f"{token}: {text[:120]}")
    return found
