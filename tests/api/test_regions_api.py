"""The region tree through the API: tree and lists, creating/retiring/redrawing units, boundaries and locate."""

from __future__ import annotations

import datetime as dt
from typing import Any

from apihelpers import Api

from zhili.core import clock
from zhili.regions.geo import wgs84_to_gcj02

TODAY = clock.today()
GA, GB, GC = "330522001001001", "330522001001002", "330522002001001"


def square(x0: float, y0: float, size: float, height: float | None = None) -> dict[str, Any]:
    h = size if height is None else height
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + size, y0], [x0 + size, y0 + h], [x0, y0 + h],
                                                 [x0, y0]]]}


def _codes(body: Any) -> list[str]:
    return [u["code"] for u in body["items"]]


def _error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.json()["code"] == code, r.json()
    return dict(r.json())


# -- reading --------------------------------------------------------------------------------------------------

def test_the_tree_nests_the_district_streets_communities_and_grids(api: Api) -> None:
    r = api.get("lingdao", "/regions/tree", params={"max_level": "grid"})
    assert r.status_code == 200, r.text
    [district] = r.json()
    assert (district["code"], district["level"]) == ("330522", "district")
    s1, s2 = district["children"]
    assert [c["code"] for c in s1["children"]] == ["330522001001"]
    assert [g["code"] for g in s1["children"][0]["children"]] == [GA, GB]
    assert [g["code"] for g in s2["children"][0]["children"]] == [GC]
    assert all(g["children"] == [] for g in s1["children"][0]["children"])

    default = api.get("lingdao", "/regions/tree").json()  # down to communities unless asked
    assert default[0]["children"][0]["children"][0]["children"] == []
    [root] = api.get("shequ1", "/regions/tree", params={"max_level": "grid"}).json()
    assert root["code"] == "330522001001" and len(root["children"]) == 2


def test_units_are_listed_by_level_parent_and_subtree(api: Api, world: Any) -> None:
    u = world.units
    assert _codes(api.get("admin", "/regions/units", params={"level": "grid"}).json()) == [GA, GB, GC]
    assert _codes(api.get("admin", "/regions/units", params={"parent_id": str(u["c1"].id)}).json()) == [GA, GB]
    under = api.get("admin", "/regions/units", params={"under_id": str(u["s2"].id)}).json()
    assert _codes(under) == ["330522002", "330522002001", GC] and under["total"] == 3
    assert _codes(api.get("admin", "/regions/units", params={"code": GB}).json()) == [GB]
    assert _codes(api.get("jiedao2", "/regions/units", params={"level": "grid"}).json()) == [GC]
    _error(api.get("admin", "/regions/units", params={"level": "village"}), 422, "validation_failed")


def test_a_unit_detail_has_its_ancestors_children_and_boundary_flag(api: Api, world: Any) -> None:
    r = api.get("jiedao1", f"/regions/units/{world.units['c1'].id}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [a["code"] for a in body["ancestors"]] == ["330522", "330522001"]
    assert body["children_count"] == 2 and body["has_boundary"] is True


# -- writing --------------------------------------------------------------------------------------------------

def test_a_unit_with_the_wrong_level_or_code_is_refused(api: Api, world: Any) -> None:
    c1 = str(world.units["c1"].id)
    base = {"parent_id": c1, "name": "金陵社区第3网格"}
    _error(api.post("admin", "/regions/units", json={**base, "level": "community", "code": "330522001001003"}),
           422, "bad_level")
    _error(api.post("admin", "/regions/units", json={**base, "level": "grid", "code": "330522002001003"}), 422,
           "bad_code")
    _error(api.post("admin", "/regions/units", json={**base, "level": "grid", "code": "3305-22"}), 422,
           "validation_failed")
    r = api.post("admin", "/regions/units", json={**base, "level": "grid", "code": "330522001001003",
                                                  "boundary": square(119.0, 31.25, 0.25)})
    assert r.status_code == 201, r.text
    assert r.json()["path"] == f"{world.units['c1'].path}/330522001001003"
    located = api.get("admin", "/regions/locate", params={"lon": 119.1, "lat": 31.4}).json()
    assert located["grid"]["id"] == r.json()["id"]


def test_only_roles_with_region_write_change_the_tree(api: Api, world: Any) -> None:
    body = {"parent_id": str(world.units["c1"].id), "level": "grid", "code": "330522001001003", "name": "新网格"}
    _error(api.post("wangge_a", "/regions/units", json=body), 403, "permission_denied")
    _error(api.post("jiedao2", "/regions/units", json=body), 404, "not_found")
    assert api.post("jiedao1", "/regions/units", json=body).status_code == 201


def test_a_unit_with_live_children_cannot_be_retired(api: Api, world: Any) -> None:
    r = api.post("admin", f"/regions/units/{world.units['s2'].id}/retire",
                 json={"valid_to": TODAY.isoformat(), "reason": "撤并"})
    _error(r, 409, "has_children")
    leaf = api.post("admin", f"/regions/units/{world.units['gc'].id}/retire",
                    json={"valid_to": TODAY.isoformat(), "reason": "撤并"})
    assert leaf.status_code == 200 and leaf.json()["valid_to"] == TODAY.isoformat()


def test_a_unit_is_renamed_with_optimistic_locking(api: Api, world: Any) -> None:
    url = f"/regions/units/{world.units['ga'].id}"
    version = api.get("admin", url).json()["version"]
    r = api.patch("admin", url, json={"name": "金陵一网格", "version": version})
    assert r.status_code == 200 and r.json()["name"] == "金陵一网格"
    _error(api.patch("admin", url, json={"name": "又改名", "version": version}), 409, "conflict")
    _error(api.patch("admin", url, json={"name": None}), 422, "required_field")
    assert api.get("admin", url).json()["name"] == "金陵一网格"


def test_redrawing_a_grid_keeps_the_old_version_for_dates_before_it(api: Api, world: Any) -> None:
    ga = world.units["ga"]
    effective = TODAY - dt.timedelta(days=30)
    r = api.post("admin", f"/regions/units/{ga.id}/redraw",
                 json={"effective": effective.isoformat(), "name": "金陵社区第1网格（调整）", "reason": "网格优化",
                       "boundary": square(119.0, 31.0, 0.25, 0.125)})
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["code"] == GA and new["valid_from"] == effective.isoformat() and new["id"] != str(ga.id)

    old = api.get("admin", f"/regions/units/{ga.id}").json()
    assert old["valid_to"] == effective.isoformat() and old["successor_id"] == new["id"]

    def version_on(day: dt.date) -> list[str]:
        body = api.get("admin", "/regions/units", params={"code": GA, "as_of": day.isoformat()}).json()
        return [u["id"] for u in body["items"]]

    assert version_on(effective - dt.timedelta(days=1)) == [str(ga.id)]
    assert version_on(effective) == [new["id"]]
    assert version_on(effective + dt.timedelta(days=1)) == [new["id"]]

    last_year = api.get("admin", "/regions/tree", params={"max_level": "grid",
                                                          "as_of": (TODAY - dt.timedelta(days=365)).isoformat()})
    grids_then = last_year.json()[0]["children"][0]["children"][0]["children"]
    assert (grids_then[0]["id"], grids_then[0]["name"]) == (str(ga.id), "金陵社区第1网格")
    grids_now = api.get("admin", "/regions/tree", params={"max_level": "grid"}).json()[0]["children"][0][
        "children"][0]["children"]
    assert [g["id"] for g in grids_now] == [new["id"], str(world.units["gb"].id)]

    # Locating follows the boundary valid on the asked date.
    north = {"lon": 119.1, "lat": 31.2}
    then = api.get("admin", "/regions/locate",
                   params={**north, "as_of": (effective - dt.timedelta(days=1)).isoformat()}).json()
    assert then["grid"]["id"] == str(ga.id)
    assert api.get("admin", "/regions/locate", params=north).json()["grid"] is None
    history = api.get("admin", f"/regions/units/{new['id']}/boundaries").json()
    assert [b["valid_from"] for b in history] == [effective.isoformat()]

    # Registers can no longer be placed in the retired version.
    b = api.post("admin", "/registry/buildings", json={"grid_id": str(ga.id), "name": "1幢", "address": "金陵路1号"})
    _error(b, 422, "grid_retired")


# -- boundaries ---------------------------------------------------------------------------------------------------

def test_a_self_intersecting_boundary_is_refused(api: Api, world: Any) -> None:
    bow_tie = {"type": "Polygon", "coordinates": [[[119.0, 31.0], [119.1, 31.1], [119.1, 31.0], [119.0, 31.1],
                                                   [119.0, 31.0]]]}
    r = api.call("admin", "PUT", f"/regions/units/{world.units['ga'].id}/boundary", json={"geojson": bow_tie})
    body = _error(r, 422, "boundary_invalid")
    assert "边界" in body["message"]


def test_a_boundary_overlapping_a_sibling_is_refused(api: Api, world: Any) -> None:
    r = api.call("admin", "PUT", f"/regions/units/{world.units['gb'].id}/boundary",
                 json={"geojson": square(119.2, 31.0, 0.3)})
    body = _error(r, 422, "boundary_overlap")
    assert body["details"]["unit_code"] == GA


def test_the_locator_sees_a_new_boundary_at_once(api: Api, world: Any) -> None:
    point = {"lon": 119.1, "lat": 31.4}
    assert api.get("admin", "/regions/locate", params=point).json()["grid"] is None
    r = api.call("admin", "PUT", f"/regions/units/{world.units['ga'].id}/boundary",
                 json={"geojson": square(119.0, 31.0, 0.25, 0.5)})
    assert r.status_code == 200, r.text
    assert r.json()["valid_from"] == TODAY.isoformat() and r.json()["area_m2"] > 0
    assert api.get("admin", "/regions/locate", params=point).json()["grid"]["code"] == GA
    fc = api.get("admin", "/regions/boundaries", params={"level": "grid"}).json()
    [ga] = [f for f in fc["features"] if f["properties"]["code"] == GA]
    assert max(y for _, y in ga["geometry"]["coordinates"][0]) == 31.5


# -- locate -----------------------------------------------------------------------------------------------------------

def test_locate_returns_the_grid_and_its_ancestor_chain(api: Api) -> None:
    r = api.get("wangge_b", "/regions/locate", params={"lon": 119.3, "lat": 31.1})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["grid"]["code"] == GB
    assert [u["code"] for u in body["chain"]] == ["330522", "330522001", "330522001001"]
    nowhere = api.get("admin", "/regions/locate", params={"lon": 119.1, "lat": 31.4}).json()
    assert nowhere["grid"] is None and nowhere["chain"] == []
    _error(api.get("admin", "/regions/locate", params={"lon": 190, "lat": 31}), 422, "validation_failed")


def test_a_gcj02_point_is_converted_before_locating(api: Api) -> None:
    wgs = (119.248, 31.1)  # in ga, just west of the edge with gb
    gcj = wgs84_to_gcj02(*wgs)
    assert gcj[0] > 119.25, "read as WGS-84 the GCJ-02 point would fall in gb"
    r = api.get("admin", "/regions/locate", params={"lon": gcj[0], "lat": gcj[1], "crs": "gcj02"})
    assert r.status_code == 200, r.text
    assert r.json()["grid"]["code"] == GA
    assert abs(r.json()["lon"] - wgs[0]) < 1e-6 and abs(r.json()["lat"] - wgs[1]) < 1e-6
    assert api.get("admin", "/regions/locate", params={"lon": gcj[0], "lat": gcj[1]}).json()["grid"]["code"] == GB
    _error(api.get("admin", "/regions/locate", params={"lon": gcj[0], "lat": gcj[1], "crs": "bd09x"}), 422,
           "validation_failed")


def test_batch_locate_answers_every_point_in_order(api: Api, world: Any) -> None:
    points = [(119.1, 31.1), (119.3, 31.1), (119.6, 31.1), (119.1, 31.4)]
    r = api.post("admin", "/regions/locate", json={"points": [{"lon": x, "lat": y} for x, y in points]})
    assert r.status_code == 200, r.text
    u = world.units
    assert r.json() == {"grid_ids": [str(u["ga"].id), str(u["gb"].id), str(u["gc"].id), None],
                        "grid_codes": [GA, GB, GC, None]}
    gcj = [wgs84_to_gcj02(x, y) for x, y in points]
    converted = api.post("admin", "/regions/locate", json={"crs": "gcj02",
                                                           "points": [{"lon": x, "lat": y} for x, y in gcj]})
    assert converted.json() == r.json()
    empty = api.post("admin", "/regions/locate", json={"points": []})
    assert empty.status_code == 200 and empty.json() == {"grid_ids": [], "grid_codes": []}
