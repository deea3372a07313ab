"""4E 评估 in a real browser, on the small demo with its case history (which ``zhili seed`` scores, month by
month): the leader reads the district's scorecard (radar and trend drawn by ECharts, the indicator table with
arrows), opens a community, drills into an indicator, opens the ranking of the grids with the map coloured by
score, and downloads the Excel and PDF reports. No console error, no request to another host, no code shown.
Screenshots are left in the module's temporary directory (``ZHILI_E2E_SHOTS`` names another)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from liveserver import LiveServer, live_server, login, new_context

from testmodules import TESTS, load

hub_pages = load("zhili_tests_e2e_hub_pages_for_eval", TESTS / "e2e" / "test_hub_pages.py")
WIDE, Watch = hub_pages.WIDE, hub_pages.Watch


@pytest.fixture(scope="module")
def eval_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("eval")
    with live_server(workdir, cases=True) as srv:  # zhili seed scores the history's months, quarters and years
        yield srv


@pytest.fixture
def context(browser: Any, eval_server: LiveServer) -> Iterator[Callable[..., Any]]:
    opened: list[Any] = []

    def make(**options: Any) -> Any:
        ctx = new_context(browser, eval_server, accept_downloads=True, **options)
        ctx.set_default_timeout(15_000)
        opened.append(ctx)
        return ctx

    yield make
    for ctx in opened:
        ctx.close()


def _shots(eval_server: LiveServer) -> Path:
    out = Path(os.environ.get("ZHILI_E2E_SHOTS") or eval_server.workdir / "shots")
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_the_leader_reads_scorecards_drills_down_ranks_and_exports(
        eval_server: LiveServer, context: Callable[..., Any]) -> None:
    shots = _shots(eval_server)
    page = context(**WIDE).new_page()
    watch = Watch(page, eval_server)
    login(page, eval_server, "lingdao", "/console/eval/")
    assert "4E 评估记分卡" in page.locator("h1").inner_text()
    page.wait_for_function("() => document.querySelector('#eval-radar canvas') !== null")
    page.wait_for_function("() => document.querySelector('#eval-trend canvas') !== null")
    assert page.locator("table.eval-table tbody tr").count() >= 35
    watch.check()
    page.screenshot(path=str(shots / "scorecard.png"), full_page=True)

    # a unit below, then one of its indicators
    with page.expect_navigation():
        page.locator("section:has(#kids-h) tbody a").first.click()
    page.wait_for_function("() => document.querySelector('#eval-radar canvas') !== null")
    watch.check()
    with page.expect_navigation():
        page.locator("table.eval-table a:has-text('按期办结率')").click()
    assert "按期办结率" in page.locator("h1").inner_text()
    assert page.locator("section:has(#fig-h) tbody tr").count() == 2
    watch.check()
    page.screenshot(path=str(shots / "indicator.png"), full_page=True)

    page.goto("/console/eval/ranking?level=grid")
    page.wait_for_function("() => document.querySelectorAll('#eval-map path.leaflet-interactive').length > 0")
    assert page.locator("section:has(#rk-h) tbody tr").count() >= 10
    watch.check()
    page.screenshot(path=str(shots / "ranking.png"), full_page=True)

    page.goto("/console/eval/")
    for label, suffix in (("导出 Excel", ".xlsx"), ("导出 PDF", ".pdf")):
        with page.expect_download(timeout=120_000) as dl:
            page.locator(f"a:has-text('{label}')").click()
        assert dl.value.suggested_filename.endswith(suffix) and "4E评估报告" in dl.value.suggested_filename
        dl.value.save_as(str(shots / f"report{suffix}"))
    assert (shots / "report.pdf").read_bytes().startswith(b"%PDF")
    watch.assert_clean()
