"""The data hub in a real browser at 1280 px, over the demo's hub (``zhili.seed.hub``): the command centre uploads a
hotline export with a template and sees the import finish with its counts, fixes the quarantined row, reads the
quality report (the trend chart draws), merges a pair of the review queue and undoes the merge on the golden
record; community staff see only their own community's source. No console error (the CSP holds), no request to
another host, no code where a name belongs.

``ZHILI_E2E_SCREENSHOTS=<dir>`` keeps screenshots of the import, quarantine, quality, review and golden-record
pages there as ``hub-*.png`` (``docs/screenshots`` for the documentation).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from liveserver import LiveServer, login

from testmodules import TESTS, load

codecheck = load("zhili_tests_codecheck", TESTS / "web" / "codecheck.py")

WIDE = {"viewport": {"width": 1280, "height": 900}}
HEADER = "留言编号,留言用户,留言主题,留言时间,留言详情,一级分类,答复意见,答复时间,点赞数,反对数\n"
ROWS = [
    "E2E-0001,A1000001,小区门口路灯不亮,2024/03/02 19:20:00,金陵社区东门路灯连续三晚不亮，行人看不清路。,市政设施,"
    "已安排维修，路灯恢复正常。,2024/03/05 10:00:00,3,0",
    "E2E-0002,A1000002,楼道堆放杂物,2024/03/04 08:15:00,3号楼楼道长期堆放纸箱，存在消防隐患。,消防安全,"
    "物业已清理楼道杂物。,2024/03/06 16:30:00,5,0",
    "E2E-0003,A1000003,夜间施工噪音,上周五晚上,工地晚上十一点后仍在施工，影响休息。,噪音扰民,,,1,0",
]
FIXED_TIME = "2024/03/08 23:10:00"


def _screenshot(page: Any, name: str) -> None:
    folder = os.environ.get("ZHILI_E2E_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"hub-{name}.png"), full_page=True)


class Watch:
    """Console errors, requests to other hosts and visible codes, collected over a test."""

    def __init__(self, page: Any, server: LiveServer) -> None:
        self.page, self.errors, self.elsewhere, self.codes = page, [], [], []
        host = urlsplit(server.base_url).netloc
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.elsewhere.append(r.url) if urlsplit(r.url).netloc not in ("", host)
                and not r.url.startswith(("data:", "blob:")) else None)
        with server.api("admin") as api:
            self.departments = [d["code"] for d in api.get("/api/v1/departments").raise_for_status().json()]

    def check(self) -> None:
        """No visible code on the current page."""
        found = codecheck.visible_codes(self.page.content(), self.departments)
        self.codes.extend(f"{urlsplit(self.page.url).path}: {c}" for c in found)

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.elsewhere == [], self.elsewhere
        assert self.codes == [], self.codes


def test_the_command_centre_imports_fixes_reads_quality_merges_and_undoes(
        server: LiveServer, make_context: Callable[..., Any], tmp_path: Path) -> None:
    page = make_context(**WIDE).new_page()
    watch = Watch(page, server)
    login(page, server, "zhihui")

    page.goto("/console/hub/")
    watch.check()
    home = page.locator("main").inner_text()
    for title in ("公安人口库", "民政救助名单", "卫健签约名单", "12345热线历史工单"):
        assert title in home

    # upload a hotline export with the built-in template: two rows in, one with an unreadable time quarantined
    upload = tmp_path / "热线留言.csv"
    upload.write_text(HEADER + "\n".join(ROWS) + "\n", encoding="utf-8")
    page.goto("/console/hub/imports/new")
    watch.check()
    page.select_option("#imp-source", label="12345热线历史工单（历史事件）")
    page.set_input_files("#imp-file", str(upload))
    page.fill("#imp-template", "cn-gov-messages")
    with page.expect_navigation():
        page.get_by_role("button", name="开始导入").click()
    assert "/console/hub/imports/" in page.url
    counts = page.locator("#import-counts td").all_inner_texts()
    assert counts[:5] == ["3", "2", "0", "0", "1"], counts
    assert "已完成" in counts[6]
    watch.check()
    _screenshot(page, "import")

    # the quarantined row: open it, fix its time, and it is gone from the open rows
    page.get_by_role("link", name="在隔离区查看全部", exact=False).click()
    page.wait_for_url("**/console/hub/quarantine?import=*")
    row = page.locator("article.quarantine-row")
    assert row.count() == 1
    assert "日期格式" in row.inner_text() and "留言时间" in row.inner_text()
    row.locator("summary", has_text="原始数据").click()
    row.locator("summary", has_text="修正并重新导入").click()
    watch.check()
    _screenshot(page, "quarantine")
    row.get_by_label("留言时间", exact=True).fill(FIXED_TIME)
    with page.expect_navigation():
        row.locator("form[action$='/fix'] button[type=submit]").click()
    assert page.locator("article.quarantine-row").count() == 0
    assert page.locator("[role=status]").count() >= 1
    watch.check()

    # quality: the overview, then a source's report whose trend chart draws
    page.goto("/console/hub/quality")
    watch.check()
    with page.expect_navigation():
        page.locator("#quality-overview").get_by_role("link", name="公安人口库").click()
    page.wait_for_selector("#quality-trend canvas, #quality-trend svg")
    assert page.locator("#quality-score").inner_text().strip() not in ("", "—")
    watch.check()
    _screenshot(page, "quality")

    # review queue: merge the first pending pair
    page.goto("/console/hub/review")
    watch.check()
    pending = page.locator("tr[id^=cand-]")
    assert pending.count() >= 3
    _screenshot(page, "review")
    first = pending.first
    golden_href = first.locator("td a[href*='/golden/']").first.get_attribute("href")
    first.get_by_role("button", name="合并").click()
    first.locator(".decision").filter(has_text="已合并").wait_for()
    watch.check()

    # the golden record shows the merge; undo it
    page.goto(golden_href)
    watch.check()
    merges = page.locator("section", has=page.locator("#merges-h"))
    assert merges.locator("tbody tr").count() == 1
    _screenshot(page, "golden")
    with page.expect_navigation():
        merges.get_by_role("button", name="撤销合并").click()
    assert page.locator("[role=status]").count() >= 1
    assert "已撤销" in page.locator("section", has=page.locator("#merges-h")).inner_text()
    watch.check()
    watch.assert_clean()


def test_community_staff_see_only_their_own_communitys_source(
        server: LiveServer, make_context: Callable[..., Any]) -> None:
    page = make_context(**WIDE).new_page()
    watch = Watch(page, server)
    login(page, server, "shequ")
    page.goto("/console/hub/")
    text = page.locator("main").inner_text()
    assert "卫健签约名单" in text
    for other in ("公安人口库", "民政救助名单", "12345热线历史工单"):
        assert other not in text
    watch.check()
    page.goto("/console/hub/quarantine")  # the health station's faulty rows: keys are ID numbers, shown masked
    assert page.locator("article.quarantine-row").count() >= 1
    assert not re.search(r"\b\d{17}[\dX]\b", page.locator("main").inner_text())
    watch.check()
    page.goto("/console/hub/imports")
    rows = page.locator("table tbody tr")
    assert rows.count() == 1 and "卫健签约名单" in rows.inner_text()
    watch.check()
    watch.assert_clean()
