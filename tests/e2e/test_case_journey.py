"""One case's life through the real pages in a real browser: a resident reports it on a phone with a photo and a
point picked on the map, the command centre accepts and dispatches it in the console queue, the department signs for
and resolves it in its inbox, the grid worker verifies it, the resident rates it and the command centre closes it.
Plus: reported text is never executed, a grid worker cannot open another grid's household, and the command-centre
screen drills down and back up.

Every step goes through pages; the API (httpx, as admin or the owning user) is only used to *find* test data
(a point inside the first grid, a household of the second grid, the street boundaries).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from liveserver import LiveServer, login
from shapely.geometry import shape

PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
CATEGORY_CODE, CATEGORY_NAME = "SJ-0101", "私搭乱建"  # routed to 县综合行政执法局 (CG), the department of "bumen"
DEPARTMENT_CODE, DEPARTMENT_NAME = "CG", "县综合行政执法局"
PHONE = {"viewport": {"width": 375, "height": 800}}
DESKTOP = {"viewport": {"width": 1366, "height": 900}}

# What the resident's report created, shared by the tests that follow it in this module.
JOURNEY: dict[str, str] = {}


def watch_dialogs(page: Any) -> list[str]:
    """Any alert/confirm/prompt would mean page content ran as script: record (and dismiss) it for an assertion."""
    fired: list[str] = []

    def on_dialog(dialog: Any) -> None:
        fired.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return fired


def state_badge(page: Any) -> str:
    return str(page.locator(".case-detail .badge").first.inner_text()).strip()


def fact(page: Any, term: str) -> str:
    return str(page.locator(f".facts div:has(dt:text-is('{term}')) dd").inner_text()).strip()


def act(page: Any, action: str, fields: dict[str, str] | None = None, rating: int | None = None) -> None:
    """Submit one action form of a case page (opening its <details> first when it is folded)."""
    form = page.locator(f"form.action-form:has(input[name=action][value={action}])")
    if not form.is_visible():
        page.locator(f"details.action:has(input[name=action][value={action}]) > summary").click()
    for name, value in (fields or {}).items():
        form.locator(f"[name={name}]").fill(value)
    if rating is not None:
        form.locator(f"input[name=rating][value='{rating}']").check()
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert "msg=action_done" in page.url, page.locator("#action-error").all_inner_texts()
    assert page.locator(".flash").inner_text() == "操作已完成。"


def point_in_grid(server: LiveServer, grid_name: str) -> tuple[float, float]:
    with server.api("admin") as api:
        features = api.get("/api/v1/regions/boundaries", params={"level": "grid"}).raise_for_status().json()
    geom = next(shape(f["geometry"]) for f in features["features"] if f["properties"]["name"] == grid_name)
    p = geom.representative_point()
    return p.x, p.y


def test_resident_on_a_phone_reports_a_case_with_photo_and_map_point_and_finds_it_in_my_reports(
        server: LiveServer, make_context: Callable[..., Any], tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(PNG_1X1)
    lon, lat = point_in_grid(server, server.logins["wangge1"]["unit"])
    page = make_context(**PHONE).new_page()
    dialogs = watch_dialogs(page)

    login(page, server, "jumin")
    assert page.url.endswith("/h5/")
    page.get_by_role("link", name="我要上报").first.click()
    page.wait_for_url("**/h5/report")

    # 1. the category, found by keyword (htmx replaces the list)
    page.fill("#cat-q", CATEGORY_NAME)
    page.locator(f"#category-list label.chip:has(input[value='{CATEGORY_CODE}'])").click()
    assert CATEGORY_NAME in page.locator("[data-category-chosen]").inner_text()
    # 2. description and a photo
    page.fill("#description", "小区东门外有人私搭乱建铁皮棚，占用消防通道")
    page.set_input_files("#photos", str(photo))
    # 3. the place: open the map, wait for the grid outlines, click where the point inside the first grid is drawn
    page.locator("details.map-picker > summary").click()
    page.wait_for_selector("#report-map path.leaflet-interactive")
    page.wait_for_function("([lat, lon]) => { const m = document.querySelector('[data-map]')._map;"
                           " return m && m.getBounds().pad(-0.05).contains([lat, lon]); }", arg=[lat, lon])
    page.wait_for_timeout(400)  # let fitBounds settle
    x, y = page.evaluate("([lat, lon]) => { const p = document.querySelector('[data-map]')._map"
                         ".latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }", [lat, lon])
    page.locator("#report-map").click(position={"x": x, "y": y})
    assert abs(float(page.input_value("#lon")) - lon) < 0.005
    assert abs(float(page.input_value("#lat")) - lat) < 0.005
    assert page.locator("#geo-status").inner_text() != ""
    page.fill("#address", "金陵社区东门")

    with page.expect_navigation():
        page.get_by_role("button", name="提交上报").click()
    m = re.search(r"/h5/cases/([0-9a-f-]{36})\?msg=reported", page.url)
    assert m, (page.url, page.locator(".alert").all_inner_texts())
    assert page.locator(".flash").inner_text() == "上报成功，我们会尽快处理。"
    assert state_badge(page) == "已上报"
    number = fact(page, "事件编号")
    assert re.fullmatch(r"[0-9A-Z-]{6,}", number), number
    assert fact(page, "问题类型") == CATEGORY_NAME
    assert page.locator("ul.photos img").count() == 1
    JOURNEY.update(case_id=m.group(1), number=number)

    page.get_by_role("link", name="我的上报").first.click()
    page.wait_for_url("**/h5/mine")
    item = page.locator(f".case-item:has(a[href='/h5/cases/{m.group(1)}'])")
    assert f"事件编号 {number}" in item.inner_text()
    assert "已上报" in item.inner_text()
    assert dialogs == []


def test_command_centre_dispatches_department_resolves_grid_worker_verifies_and_resident_rates(
        server: LiveServer, make_context: Callable[..., Any]) -> None:
    assert JOURNEY, "the resident's report (the test above) must have run and passed: this journey continues it"
    case_id, number = JOURNEY["case_id"], JOURNEY["number"]

    # Command centre: accept and dispatch from the intake queue (one row form).
    cc = make_context(**DESKTOP).new_page()
    login(cc, server, "zhihui")
    cc.goto("/console/")
    row = cc.locator(f"tr#case-{case_id}")
    assert number in row.inner_text() and "已上报" in row.inner_text()
    row.locator("select[name=department]").select_option(DEPARTMENT_CODE)
    with cc.expect_navigation():
        row.get_by_role("button", name="受理并派遣").click()
    assert cc.locator(".flash").inner_text() == "操作已完成。"
    assert cc.locator(f"tr#case-{case_id}").count() == 0  # left the intake queue
    cc.goto(f"/console/cases/{case_id}")
    assert state_badge(cc) == "已派遣"
    assert fact(cc, "处置部门") == DEPARTMENT_NAME

    # Department: finds it in its inbox, signs for it and resolves it on the console case page.
    dept = make_context(**DESKTOP).new_page()
    login(dept, server, "bumen")
    dept.goto("/console/inbox")
    dept.locator(f"tr:has(td:text-is('{number}'))").get_by_role("link", name="办理").click()
    dept.wait_for_url(f"**/console/cases/{case_id}")
    act(dept, "start")
    assert state_badge(dept) == "处置中"
    act(dept, "resolve", {"result": "铁皮棚已拆除，消防通道已恢复畅通"})
    assert state_badge(dept) == "处置完成"

    # Grid worker of the grid containing the point: sees it under "to verify" and verifies it.
    gw = make_context(**PHONE).new_page()
    login(gw, server, "wangge1")
    gw.goto("/gw/?tab=verify")
    gw.locator(f"a[href='/gw/cases/{case_id}']").click()
    gw.wait_for_url(f"**/gw/cases/{case_id}")
    assert state_badge(gw) == "处置完成"
    assert "铁皮棚已拆除" in gw.locator(".case-detail").inner_text()
    act(gw, "verify")
    assert state_badge(gw) == "已核查"

    # Resident: rates it on the case page.
    res = make_context(**PHONE).new_page()
    login(res, server, "jumin")
    res.goto(f"/h5/cases/{case_id}")
    assert state_badge(res) == "已核查"
    act(res, "rate", {"comment": "处理很及时"}, rating=5)
    assert state_badge(res) == "已评价"
    assert "5 星（非常满意）" in res.locator(".case-detail").inner_text()

    # Command centre closes it; the timeline shows every step.
    cc.goto(f"/console/cases/{case_id}")
    act(cc, "close")
    assert state_badge(cc) == "已结案"
    timeline = cc.locator("ol.timeline").inner_text()
    for step in ("上报", "受理", "派遣", "签收", "处置完成", "核查通过", "评价", "结案"):
        assert step in timeline, step


def test_reported_description_with_script_tag_is_shown_as_text_and_never_runs(
        server: LiveServer, make_context: Callable[..., Any]) -> None:
    payload = "路灯不亮<script>alert(1)</script><img src=x onerror=alert(2)>"
    page = make_context(**PHONE).new_page()
    dialogs = watch_dialogs(page)
    login(page, server, "jumin")
    page.goto("/h5/report")
    page.fill("#cat-q", CATEGORY_NAME)
    page.locator(f"#category-list label.chip:has(input[value='{CATEGORY_CODE}'])").click()
    page.fill("#description", payload)
    page.fill("#address", "金陵社区西门")
    with page.expect_navigation():
        page.get_by_role("button", name="提交上报").click()
    assert "msg=reported" in page.url, page.locator(".alert").all_inner_texts()
    case_id = page.url.split("/h5/cases/")[1].split("?")[0]
    assert page.locator(".case-detail p.prewrap").first.inner_text() == payload
    assert page.locator(".case-detail script").count() == 0

    staff = make_context(**DESKTOP).new_page()
    staff_dialogs = watch_dialogs(staff)
    login(staff, server, "zhihui")
    staff.goto(f"/console/cases/{case_id}")
    assert staff.locator(".case-detail p.prewrap").first.inner_text() == payload
    staff.goto("/console/")
    assert staff.locator(f"tr#case-{case_id}").count() == 1
    page.wait_for_timeout(200)
    assert dialogs == [] and staff_dialogs == []


def test_grid_worker_opening_another_grids_household_gets_the_chinese_404_page(
        server: LiveServer, make_context: Callable[..., Any]) -> None:
    with server.api("wangge2") as api:
        other = api.get("/api/v1/registry/households", params={"page_size": 1}).raise_for_status().json()
    household_id = other["items"][0]["id"]

    page = make_context(**PHONE).new_page()
    login(page, server, "wangge1")
    response = page.goto(f"/gw/households/{household_id}")
    assert response is not None and response.status == 404
    assert page.locator("main h1").inner_text() == "页面不存在"
    assert page.locator(".error-code").inner_text() == "404"
    assert other["items"][0]["address"] not in page.content()
    assert page.get_by_role("link", name="返回首页").get_attribute("href") == "/gw/"


def test_command_centre_screen_drills_down_from_district_to_street_and_back_via_breadcrumb(
        server: LiveServer, make_context: Callable[..., Any]) -> None:
    page = make_context(viewport={"width": 1920, "height": 1080}).new_page()
    dialogs = watch_dialogs(page)
    login(page, server, "zhihui")
    response = page.goto("/screen")
    assert response is not None and response.status == 200
    district_id = page.locator("#screen").get_attribute("data-root-id")
    with server.api("admin") as api:
        streets = api.get("/api/v1/regions/boundaries", params={"parent_id": district_id}).raise_for_status().json()
        street = streets["features"][0]
        communities = api.get("/api/v1/regions/boundaries",
                              params={"parent_id": street["properties"]["id"]}).raise_for_status().json()
    page.wait_for_function("() => document.getElementById('updated').textContent.startsWith('更新于')")
    crumbs = page.locator("#crumbs li")
    assert crumbs.count() == 1
    district_name = crumbs.first.inner_text()

    def map_children() -> int:
        return int(page.evaluate("() => { const o = echarts.getInstanceByDom(document.getElementById('map'))"
                                 ".getOption(); return o.series[0].data.length; }"))

    assert map_children() == len(streets["features"])
    # Click the street where ECharts draws its representative point.
    p = shape(street["geometry"]).representative_point()
    x, y = page.evaluate("([lon, lat]) => echarts.getInstanceByDom(document.getElementById('map'))"
                         ".convertToPixel({seriesIndex: 0}, [lon, lat])", [p.x, p.y])
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_function("() => document.querySelectorAll('#crumbs li').length === 2")
    assert crumbs.nth(1).inner_text() == street["properties"]["name"]
    page.wait_for_function(f"() => echarts.getInstanceByDom(document.getElementById('map')).getOption()"
                           f".series[0].data.length === {len(communities['features'])}")
    # Back up through the breadcrumb.
    page.locator("#crumbs button", has_text=district_name).click()
    page.wait_for_function("() => document.querySelectorAll('#crumbs li').length === 1")
    page.wait_for_function(f"() => echarts.getInstanceByDom(document.getElementById('map')).getOption()"
                           f".series[0].data.length === {len(streets['features'])}")
    assert dialogs == []
