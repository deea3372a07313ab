"""Every staff role lands on its workbench (工作台) in a real browser at 1366 px: the page shows its figures, nothing
scrolls sideways, no navigation label breaks inside a word and the console stays free of errors; residents and grid
workers at 375 px keep their navigation labels whole too. The site root sends a visitor to the login page.

``ZHILI_E2E_SCREENSHOTS=<dir>`` keeps a screenshot of each role's home there (for the README).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from liveserver import LiveServer, login

DESKTOP = {"viewport": {"width": 1366, "height": 900}}
PHONE = {"viewport": {"width": 375, "height": 800}}
STAFF = ["zhihui", "lingdao", "jiedao", "shequ", "bumen", "admin"]

# Navigation labels whose text needs more than one line box (我要上/报, 待处理队/列).
WRAPPED_NAV_LABELS = """() => Array.from(document.querySelectorAll('.mainnav a')).filter(a => {
  const r = document.createRange(); r.selectNodeContents(a); return r.getClientRects().length > 1;
}).map(a => a.textContent.trim())"""


def overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the viewport (0 = no horizontal scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def watch_console(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def keep_screenshot(page: Any, name: str) -> None:
    folder = os.environ.get("ZHILI_E2E_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"home-{name}.png"), full_page=True)


def test_a_visitor_at_the_site_root_reaches_the_login_page(server: LiveServer,
                                                           make_context: Callable[..., Any]) -> None:
    page = make_context(**DESKTOP).new_page()
    page.goto("/")
    assert urlsplit(page.url).path == "/login"
    assert page.locator("#username").is_visible()


@pytest.mark.parametrize("who", STAFF)
def test_a_staff_member_lands_on_the_workbench_at_1366_px(server: LiveServer, make_context: Callable[..., Any],
                                                          who: str) -> None:
    page = make_context(**DESKTOP).new_page()
    errors = watch_console(page)
    login(page, server, who)
    assert urlsplit(page.url).path == "/console/home"
    assert page.locator("h1").inner_text() == "工作台"
    assert page.locator(".mainnav a").first.inner_text() == "工作台"
    assert page.locator("a.wb-fig").count() >= 3  # the figures, each a link to its list
    assert overflow(page) == 0
    assert page.evaluate(WRAPPED_NAV_LABELS) == []
    keep_screenshot(page, who)
    if who == "lingdao":  # the leader's way to the screen
        with page.expect_navigation():
            page.get_by_role("link", name="打开指挥大屏").click()
        assert urlsplit(page.url).path == "/screen"
    page.goto("/")  # the root takes a signed-in user home
    assert urlsplit(page.url).path == "/console/home"
    assert errors == []


@pytest.mark.parametrize(("who", "home"), [("jumin", "/h5/"), ("wangge1", "/gw/")])
def test_phone_users_keep_their_navigation_labels_whole_at_375_px(server: LiveServer,
                                                                  make_context: Callable[..., Any], who: str,
                                                                  home: str) -> None:
    page = make_context(**PHONE).new_page()
    errors = watch_console(page)
    login(page, server, who)
    assert urlsplit(page.url).path == home
    assert page.evaluate(WRAPPED_NAV_LABELS) == []
    assert overflow(page) == 0
    keep_screenshot(page, who)
    assert errors == []
