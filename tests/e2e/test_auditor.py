"""The auditor's day in a real browser at 1366 px: sign in, find the command centre's reveal of a person with the
reason it gave, open the event, run the chain verification and see it intact — no page wider than the screen, no
console error, no request leaving the server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from liveserver import LiveServer, login

DESKTOP = {"viewport": {"width": 1366, "height": 900}}
REASON = "核实独居老人联系方式（审计演练）"


def overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the viewport (0 = no horizontal scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def test_the_auditor_finds_a_reveal_with_its_reason_and_verifies_the_chain(
        server: LiveServer, make_context: Callable[..., Any]) -> None:
    with server.api("zhihui") as api:  # the command centre shows a person's full details, giving a reason
        person = api.get("/api/v1/registry/persons", params={"page_size": 1}).raise_for_status().json()["items"][0]
        api.post(f"/api/v1/registry/persons/{person['id']}/reveal", json={"reason": REASON}).raise_for_status()

    page = make_context(**DESKTOP).new_page()
    errors: list[str] = []
    elsewhere: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    host = urlsplit(server.base_url).netloc
    page.on("request", lambda r: elsewhere.append(r.url) if urlsplit(r.url).netloc not in ("", host)
            and not r.url.startswith("data:") else None)

    login(page, server, "shenji")
    if urlsplit(page.url).path != "/console/audit/":  # the auditor's home (set where the roles' homes are set)
        page.goto("/console/audit/")
    assert page.locator("h1").inner_text() == "审计日志"
    assert overflow(page) == 0

    page.get_by_role("link", name="查看与导出记录").click()
    page.wait_for_url("**/console/audit/reveals")
    page.select_option("#f-kind", label="查看完整信息")
    page.fill("#f-actor", "zhihui")
    with page.expect_navigation():
        page.get_by_role("button", name="筛选").click()
    row = page.locator("tr", has_text=REASON)
    assert row.count() == 1
    cells = row.inner_text()
    assert "查看完整个人信息" in cells and "指挥中心" in cells and "身份证号" in cells
    assert overflow(page) == 0
    with page.expect_navigation():
        row.get_by_role("link", name="查看").click()
    assert "内容与哈希一致" in page.locator(".audit-facts").inner_text()
    assert REASON in page.locator(".audit-facts").inner_text()
    assert overflow(page) == 0

    page.get_by_role("link", name="登录失败与锁定").click()
    page.wait_for_url("**/console/audit/logins")
    assert overflow(page) == 0

    page.get_by_role("link", name="审计链校验").click()
    page.wait_for_url("**/console/audit/verify")
    with page.expect_navigation():
        page.get_by_role("button", name="开始校验").click()
    result = page.locator("#verify-result").inner_text()
    assert "审计链完整，校验通过" in result, result
    assert overflow(page) == 0

    page.goto("/console/audit/?action=audit.verify")
    assert page.locator("tbody tr").first.inner_text().count("校验审计链") == 1
    assert overflow(page) == 0
    assert errors == [] and elsewhere == []
