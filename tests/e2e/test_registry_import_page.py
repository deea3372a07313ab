"""The register's Excel upload in a real browser, as community staff use it: download the 人员 template from the
import page, fill it in, upload it — the rows go through the data hub — and read the result: the counts, and each
quarantined row with its Excel row number and Chinese reason, ID numbers masked, with the way into the hub's
quarantine where the rows wait. The same file again imports nothing new. No console error, no request to another
host, no code shown. (Grid workers upload through the same service from the API; they have no console pages.)
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from liveserver import LiveServer, login
from openpyxl import load_workbook

from testmodules import TESTS, load
from zhili.core.validators import id_check_digit

hub_pages = load("zhili_tests_e2e_hub_pages", TESTS / "e2e" / "test_hub_pages.py")  # its Watch and viewport
WIDE, Watch = hub_pages.WIDE, hub_pages.Watch

GOOD_ID = "33052219620704" + "101"
GOOD_ID += id_check_digit(GOOD_ID)
BAD_ID = GOOD_ID[:-1] + ("0" if GOOD_ID[-1] != "0" else "1")  # a wrong check digit


def _filled_template(page: Any, path: Path) -> Path:
    """The 人员 template as the import page serves it, with three rows typed in over the example row."""
    response = page.request.get("/console/registry/persons/template.xlsx")
    assert response.ok, response.status
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    wb = load_workbook(io.BytesIO(response.body()))
    ws = wb.worksheets[0]
    headers = [str(c.value or "").rstrip("*") for c in ws[1]]
    grid = ws.cell(row=2, column=headers.index("网格") + 1).value  # the example row names one of their grids
    assert grid
    for row in ws.iter_rows(min_row=2, max_row=ws.max_row):
        for cell in row:
            cell.value = None
    rows = [
        {"姓名": "钱多多", "身份证号": GOOD_ID, "手机号": "13912345678", "网格": grid, "人口类型": "户籍人口"},
        {"姓名": "孙小小", "身份证号": BAD_ID},  # a wrong check digit, and nowhere to place her
        {"姓名": "周全", "身份证号": int(GOOD_ID[:15]) * 1000},  # typed into a number cell: digits lost
    ]
    for r, values in enumerate(rows, start=2):
        for name, value in values.items():
            ws.cell(row=r, column=headers.index(name) + 1).value = value
    wb.save(path)
    return path


def _upload(page: Any, path: Path) -> list[str]:
    page.goto("/console/registry/import")
    page.select_option("#import-kind", value="persons")
    page.set_input_files("#import-file", str(path))
    with page.expect_navigation():
        page.get_by_role("button", name="开始导入").click()
    assert "/console/registry/imports/" in page.url, page.url
    return [t.strip() for t in page.locator(".batch-counts .stat-count").all_inner_texts()]


def test_community_staff_upload_the_person_template_through_the_hub(
        server: LiveServer, make_context: Callable[..., Any], tmp_path: Path) -> None:
    page = make_context(**WIDE).new_page()
    watch = Watch(page, server)
    login(page, server, "shequ")
    workbook = _filled_template(page, tmp_path / "人员登记.xlsx")

    counts = _upload(page, workbook)
    assert counts == ["3", "1", "0", "0", "2"], counts  # read, new, updated, unchanged, quarantined
    watch.check()
    rows = page.locator(".rejected-table tbody tr")
    assert rows.count() == 2
    first, second = rows.nth(0).inner_text(), rows.nth(1).inner_text()
    assert first.startswith("3") and "身份证号" in first and "校验" in first
    assert second.startswith("4") and "文本格式" in second  # the number-cell hint
    assert BAD_ID not in page.content() and GOOD_ID not in page.content()  # masked
    # the rows wait in the hub's quarantine, one link away
    page.get_by_role("link", name="到数据中台隔离区处理").click()
    page.wait_for_url("**/console/hub/quarantine?*")
    assert page.locator("article.quarantine-row").count() == 2
    assert BAD_ID not in page.content()
    watch.check()

    again = _upload(page, workbook)
    assert again == ["3", "0", "0", "1", "2"], again
    watch.check()

    page.goto("/console/registry/import")
    recent = page.locator("main table tbody tr")
    assert recent.count() >= 2
    watch.check()
    watch.assert_clean()
