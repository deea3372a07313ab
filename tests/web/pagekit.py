"""Helpers for the page tests: a tiny HTML reader (standard library only) and signing a test client in."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from testimages import png  # noqa: F401 (re-exported for the tests that import it from here)

SESSION_COOKIE = "zhili_session"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Element] = field(default_factory=list)
    parent: Element | None = None

    def ancestors(self) -> list[Element]:
        out, node = [], self.parent
        while node is not None:
            out.append(node)
            node = node.parent
        return out


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {})
        self.stack = [self.root]
        self.all: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = Element(tag, {k: v or "" for k, v in attrs}, parent=self.stack[-1])
        self.stack[-1].children.append(el)
        self.all.append(el)
        if tag not in VOID:
            self.stack.append(el)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        for el in self.stack[1:]:
            el.text += data
        self.root.text += data


class Page:
    """A parsed HTML response: elements by tag/attribute, visible text, the CSRF token."""

    def __init__(self, html: str) -> None:
        self.html = html
        reader = _Reader()
        reader.feed(html)
        self.elements = reader.all
        self.text = " ".join(reader.root.text.split())

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        return [e for e in self.elements if (tag is None or e.tag == tag)
                and all(e.attrs.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items())]

    def find(self, tag: str | None = None, **attrs: str) -> Element:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag} {attrs}> in page"
        return found[0]

    def title(self) -> str:
        return " ".join(self.find("title").text.split())

    def h1(self) -> str:
        return " ".join(self.find("h1").text.split())

    def csrf(self) -> str:
        return self.find("input", name="csrf_token").attrs["value"]

    def unlabelled_controls(self) -> list[str]:
        """Form controls a screen reader could not name (no <label for>, not inside a <label>, no aria-label)."""
        label_for = {e.attrs.get("for") for e in self.find_all("label")}
        out = []
        for e in self.elements:
            if e.tag not in ("input", "select", "textarea"):
                continue
            if e.attrs.get("type") in ("hidden", "submit", "button"):
                continue
            if e.attrs.get("id") in label_for or e.attrs.get("aria-label") \
                    or any(a.tag == "label" for a in e.ancestors()):
                continue
            out.append(f"<{e.tag} name={e.attrs.get('name')!r}>")
        return out


def page(response: Any) -> Page:
    assert "text/html" in response.headers.get("content-type", ""), response.headers.get("content-type")
    return Page(response.text)


def sign_in(client: Any, token: str) -> None:
    """Make the test client a browser holding this session cookie."""
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, token)


