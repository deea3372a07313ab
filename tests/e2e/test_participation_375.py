"""On a 375 px phone: a resident registers with the SMS code (read from the server log, where the default SMS
adapter writes it when no gateway is configured), finds problems near the browser's location, and none of the
participation pages is wider than the screen."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from liveserver import LiveServer

PHONE = {"viewport": {"width": 375, "height": 800}}
NUMBER = "13912340000"
PASSWORD = "Jumin-Anji-2026!"


def overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the viewport (0 = no horizontal scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def test_resident_registers_by_sms_on_a_375px_phone_and_no_participation_page_overflows(
        server: LiveServer, make_context: Callable[..., Any]) -> None:
    ctx = make_context(**PHONE, geolocation={"longitude": 119.91, "latitude": 31.01}, permissions=["geolocation"])
    page = ctx.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    page.goto("/h5/register")
    assert overflow(page) == 0
    page.fill("#phone", NUMBER)
    with page.expect_navigation():
        page.get_by_role("button", name="获取验证码").click()
    assert "验证码已发送至 139****0000" in page.locator("#code-status").inner_text()
    codes = re.findall(r"139\*\*\*\*0000: .*?验证码 (\d{6})", server.log_tail(20_000))
    assert codes, server.log_tail()
    page.fill("#code", codes[-1])
    page.fill("#password", PASSWORD)
    page.fill("#confirm_password", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="注册并登录").click()
    assert page.url.endswith("/h5/?msg=registered"), page.locator(".alert").all_inner_texts()
    assert overflow(page) == 0

    page.goto("/h5/nearby")
    with page.expect_navigation():
        page.get_by_role("button", name="使用我的位置查找").click()  # located → the form searches by itself
    assert "lon=119.91" in page.url and "附近 1000 米内" in page.locator("#results-h").inner_text()
    assert overflow(page) == 0
    for url in ("/h5/notices", "/h5/disclosure", "/h5/suggestions/new", "/h5/report", "/h5/password-reset"):
        page.goto(url)
        assert overflow(page) == 0, url
    assert dialogs == []
