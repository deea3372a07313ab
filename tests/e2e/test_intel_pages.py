"""智能研判 in a real browser, on the small demo with its case history, after the jobs a district runs: the routing
models trained from the closed cases (``zhili ml train``), the early-warning scan and the coming week's risk
ranking. The command centre reads the 研判 page — warnings, hot issues, the hotspot map, the risk ranking — and the
models page with the version it can roll back; on a case waiting to be accepted it sees the routing suggestions
with the words behind them and takes one with a click; a resident typing a report sees suggested categories. No
console error, no request to another host, no code shown.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from liveserver import BIN, LiveServer, live_server, login, new_context, server_env

from testmodules import TESTS, load

hub_pages = load("zhili_tests_e2e_hub_pages", TESTS / "e2e" / "test_hub_pages.py")  # its Watch and viewport
WIDE, Watch = hub_pages.WIDE, hub_pages.Watch


@pytest.fixture(scope="module")
def intel_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("intel")
    # automatic dispatch off, so a new report waits in the queue for the command centre, as in the journey test
    with live_server(workdir, cases=True, ZHILI_AUTO_DISPATCH_CONFIDENCE="1.0") as srv:
        env = server_env(workdir, ZHILI_AUTO_DISPATCH_CONFIDENCE="1.0")
        # the last 30 days' cases: the page needs a model in use, not the best one (the whole history: ~2 min)
        since = (dt.date.today() - dt.timedelta(days=30)).isoformat()
        for args in (["ml", "train", "--target", "category", "--since", since], ["intel", "warn-scan"],
                     ["intel", "risk"]):
            t0 = time.monotonic()
            done = subprocess.run([str(BIN / "zhili"), *args], cwd=workdir, env=env, capture_output=True, text=True,
                                  timeout=600)
            assert done.returncode == 0, f"zhili {' '.join(args)}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            print(f"zhili {' '.join(args)}: {time.monotonic() - t0:.1f} s")
        yield srv


@pytest.fixture
def context(browser: Any, intel_server: LiveServer) -> Iterator[Callable[..., Any]]:
    opened: list[Any] = []

    def make(**options: Any) -> Any:
        ctx = new_context(browser, intel_server, **options)
        ctx.set_default_timeout(15_000)
        opened.append(ctx)
        return ctx

    yield make
    for ctx in opened:
        ctx.close()


def test_the_command_centre_reads_the_intelligence_page_and_the_models(
        intel_server: LiveServer, context: Callable[..., Any]) -> None:
    page = context(**WIDE).new_page()
    watch = Watch(page, intel_server)
    login(page, intel_server, "zhihui", "/console/intel/")
    assert page.locator("h1").inner_text() == "智能研判"
    # every section loads (HTMX) and shows content, not its loading line
    page.wait_for_selector("#warnings table, #warnings .muted:not(:has-text('正在计算'))")
    hot = page.locator("section:has(#hot-h)")
    hot.locator("table").wait_for()
    assert hot.locator("tbody tr").count() >= 1  # the demo's planted hot issues
    risk = page.locator("section:has(#risk-h)")
    risk.locator("table").wait_for()
    assert risk.locator("tbody tr").count() >= 10
    page.wait_for_function("document.querySelectorAll('#hotspot-map path.leaflet-interactive').length > 0")
    assert "显著热点" in page.locator("#hotspot-status").inner_text()
    watch.check()

    page.goto("/console/intel/models")
    table = page.locator("section:has(h2:has-text('事件类别分拨')) table")
    assert table.locator("tbody tr").count() >= 1
    assert "使用中" in table.inner_text() and "首选准确率" in table.inner_text()
    watch.check()
    watch.assert_clean()


def test_a_case_waiting_for_acceptance_shows_suggestions_and_one_click_takes_one(
        intel_server: LiveServer, context: Callable[..., Any]) -> None:
    with intel_server.api("zhihui") as api:
        created = api.post("/api/v1/cases", json={
            "category_code": "SJ-0699", "channel": "hotline", "address": "金陵社区",
            "description": "小区门口的垃圾桶满了好几天没人清运，臭味很大"}).raise_for_status().json()
    page = context(**WIDE).new_page()
    watch = Watch(page, intel_server)
    login(page, intel_server, "zhihui", f"/console/cases/{created['id']}")
    panel = page.locator("section:has(#intel-h)")
    panel.locator("ol.suggestions li").first.wait_for()
    first = panel.locator("ol.suggestions").first.locator("li").first
    assert "%" in first.inner_text()
    watch.check()
    with page.expect_navigation():
        first.locator("button").click()
    assert "已受理" in page.content()
    watch.assert_clean()


def test_a_resident_writing_a_report_sees_suggested_categories(
        intel_server: LiveServer, context: Callable[..., Any]) -> None:
    page = context(viewport={"width": 375, "height": 812}).new_page()
    watch = Watch(page, intel_server)
    login(page, intel_server, "jumin", "/h5/report")
    page.fill("#description", "楼下的垃圾桶满了好几天没人清运，臭味很大")
    page.locator("#cat-suggest .chip").first.wait_for()
    assert page.locator("#cat-suggest .chip").count() >= 1
    watch.assert_clean()
