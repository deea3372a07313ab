"""The command centre finds a case in a real browser at 1366 px: by its number, and by the phone its reporter left
— a phone that no request URL ever carries — and opens it; the page has no horizontal scroll and no console errors.

The case is taken by phone through the API (a 12345 hotline call entered by the command centre, with the caller's
call-back number); everything after that goes through the pages.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any

from liveserver import LiveServer, login

DESKTOP = {"viewport": {"width": 1366, "height": 900}}


def _hotline_case(server: LiveServer, phone: str) -> dict[str, Any]:
    with server.api("zhihui") as api:
        r = api.post("/api/v1/cases", json={
            "category_code": "SJ-0101", "channel": "hotline",
            "description": "热线来电：金陵社区东门外有人私搭乱建铁皮棚", "address": "金陵社区东门",
            "reporter_name": "王先生", "reporter_phone": phone})
        r.raise_for_status()
        return dict(r.json())


def _watch(page: Any) -> tuple[list[str], list[str]]:
    """Console errors (and uncaught exceptions), and every URL the page requests."""
    errors: list[str] = []
    urls: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: urls.append(r.url))
    return errors, urls


def _no_sideways_scroll(page: Any) -> None:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"horizontal scroll on {page.url}: {width} > {inner}"


def _listed(page: Any) -> list[str]:
    return [str(t).strip() for t in page.locator("table.case-table tbody td:first-child a").all_inner_texts()]


def test_the_command_centre_finds_a_case_by_number_and_by_the_reporters_phone(
        server: LiveServer, make_context: Callable[..., Any]) -> None:
    phone = "139" + "".join(secrets.choice("0123456789") for _ in range(8))
    case = _hotline_case(server, phone)
    page = make_context(**DESKTOP).new_page()
    errors, urls = _watch(page)
    login(page, server, "zhihui")

    # by number
    page.goto("/console/cases")
    assert page.locator("h1").inner_text() == "案件查询"
    _no_sideways_scroll(page)
    page.fill("#f-number", case["number"])
    with page.expect_navigation():
        page.get_by_role("button", name="查询").click()
    assert f"number={case['number']}" in page.url
    assert _listed(page) == [case["number"]]
    assert "共 1 条" in page.locator(".case-tools").inner_text()
    _no_sideways_scroll(page)

    # by the reporter's phone: posted, never in a URL, and the answer's links do not carry it
    page.goto("/console/cases")
    page.fill("#f-reporter-phone", phone)
    with page.expect_navigation():
        page.get_by_role("button", name="按手机号查找").click()
    assert page.url.endswith("/console/cases")
    assert case["number"] in _listed(page)
    assert f"{phone[:3]}****{phone[-4:]}" in page.locator(".phone-result").inner_text()
    links = page.evaluate("[...document.querySelectorAll('[href],[action],[src]')]"
                          ".map(e => e.getAttribute('href') || e.getAttribute('action') || e.getAttribute('src'))")
    assert not [u for u in links if phone in u]
    assert phone not in page.content()
    _no_sideways_scroll(page)

    # a phone typed into the text box is searched as the reporter's, through the posted form as well
    page.goto("/console/cases")
    page.fill("#f-q", phone)
    with page.expect_navigation():
        page.get_by_role("button", name="查询").click()
    assert case["number"] in _listed(page)

    # open it
    with page.expect_navigation():
        page.locator(f"table.case-table a:text-is('{case['number']}')").click()
    assert re.search(rf"/console/cases/{case['id']}$", page.url)
    assert page.locator("h1").inner_text() == case["title"]
    _no_sideways_scroll(page)

    assert not [u for u in urls if phone in u], "the phone travelled in a URL"
    assert not [u for u in urls if not u.startswith(server.base_url)], "a request left the machine"
    assert errors == []
