"""Two working days that start on the workbench, in a real browser at 1366 px:

* the command centre takes a 12345 call that gave only an address, finds the case from its workbench by number,
  places it on the map (定位: a point inside a grid) and dispatches it to a department;
* a case for the community (dispatched to the 社区（村）居民委员会 placeholder) is held by the community of its grid;
  the community's staff find it among their unit's cases, sign for it and resolve it.

The calls are entered through the API (as the command centre would from its telephone system); everything after
that goes through the pages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from liveserver import LiveServer, login
from shapely.geometry import shape
from test_case_journey import act, fact, state_badge

DESKTOP = {"viewport": {"width": 1366, "height": 900}}


def _call(server: LiveServer, **where: Any) -> dict[str, Any]:
    with server.api("zhihui") as api:
        r = api.post("/api/v1/cases", json={"category_code": "SJ-0101", "channel": "hotline",
                                            "description": "热线来电：小区门口有人私搭乱建铁皮棚，影响通行", **where})
        r.raise_for_status()
        return dict(r.json())


def _point_in_community_of(server: LiveServer, username: str) -> tuple[float, float]:
    """A point inside the first grid the user's jurisdiction holds."""
    with server.api(username) as api:
        grids = api.get("/api/v1/regions/boundaries", params={"level": "grid"}).raise_for_status().json()
    p = shape(grids["features"][0]["geometry"]).representative_point()
    return p.x, p.y


def _clean(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def _no_sideways_scroll(page: Any) -> None:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"horizontal scroll on {page.url}: {width} > {inner}"


def _offered(page: Any, action: str) -> bool:
    return page.locator(f"form.action-form:has(input[name=action][value={action}])").count() > 0


def _dispatch(page: Any, department: str) -> None:
    form = page.locator("form.action-form:has(input[name=action][value=dispatch])")
    if not form.is_visible():
        page.locator("details.action:has(input[name=action][value=dispatch]) > summary").click()
    form.locator("select[name=department]").select_option(department)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert "msg=action_done" in page.url, page.locator("#action-error").all_inner_texts()


def test_the_command_centre_places_an_address_only_call_and_dispatches_it(
        server: LiveServer, make_context: Callable[..., Any]) -> None:
    case = _call(server, address="金陵社区东门外")
    lon, lat = _point_in_community_of(server, "shequ")
    page = make_context(**DESKTOP).new_page()
    errors = _clean(page)
    login(page, server, "zhihui")
    assert page.url.endswith("/console/home") and page.locator("h1").inner_text() == "工作台"
    _no_sideways_scroll(page)

    page.fill("#wb-number", case["number"])
    with page.expect_navigation():
        page.locator("form[action='/console/cases']:has(#wb-number) button[type=submit]").click()
    with page.expect_navigation():
        page.get_by_role("link", name=case["number"]).click()
    assert page.url.endswith(f"/console/cases/{case['id']}")
    if _offered(page, "accept"):
        act(page, "accept")
    act(page, "locate", {"lon": f"{lon:.6f}", "lat": f"{lat:.6f}"})
    assert "金陵社区" in page.locator(".case-detail").inner_text()  # now held by the grid's community
    _dispatch(page, "CG")
    assert state_badge(page) == "已派遣"
    assert fact(page, "处置部门") == "县综合行政执法局"
    timeline = page.locator("ol.timeline").inner_text()
    assert "定位" in timeline and "派遣" in timeline
    _no_sideways_scroll(page)
    assert errors == []


def test_community_staff_handle_a_case_held_by_their_unit(
        server: LiveServer, make_context: Callable[..., Any]) -> None:
    lon, lat = _point_in_community_of(server, "shequ")
    case = _call(server, address="金陵社区南门", lon=lon, lat=lat)
    cc = make_context(**DESKTOP).new_page()
    login(cc, server, "zhihui")
    cc.goto(f"/console/cases/{case['id']}")
    if _offered(cc, "accept"):
        act(cc, "accept")
    _dispatch(cc, "SQ")  # the placeholder: the community holding the case takes it
    assert state_badge(cc) == "已派遣"

    page = make_context(**DESKTOP).new_page()
    errors = _clean(page)
    login(page, server, "shequ")
    assert page.url.endswith("/console/home")
    page.goto("/console/cases")  # opens on the unit's open cases
    _no_sideways_scroll(page)
    with page.expect_navigation():
        page.get_by_role("link", name=case["number"]).click()
    assert "金陵社区" in fact(page, "处置部门")
    act(page, "start")
    assert state_badge(page) == "处置中"
    act(page, "resolve", {"result": "已联系当事人拆除铁皮棚，通道恢复畅通"})
    assert state_badge(page) == "处置完成"
    _no_sideways_scroll(page)
    assert errors == []
