"""The region service: listing and the tree, creating/retiring/redrawing units over time, boundaries and locate."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core import clock
from zhili.core.errors import Conflict, NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal
from zhili.regions import service
from zhili.regions.geo import wgs84_to_gcj02
from zhili.regions.models import OPEN_END, GeoVersion, Unit, UnitBoundary, UnitLevel
from zhili.users.service import principal_for_user

TODAY = clock.today()


def square(x0: float, y0: float, size: float, height: float | None = None) -> dict[str, Any]:
    h = size if height is None else height
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + size, y0], [x0 + size, y0 + h], [x0, y0 + h],
                                                 [x0, y0]]]}


BOW_TIE = {"type": "Polygon", "coordinates": [[[119.0, 31.3], [119.1, 31.4], [119.1, 31.3], [119.0, 31.4],
                                               [119.0, 31.3]]]}


@pytest.fixture
def admin(db: Session, world: Any) -> Principal:
    return principal_for_user(db, user=world.users["admin"])


def who(db: Session, world: Any, name: str) -> Principal:
    return principal_for_user(db, user=world.users[name])


def codes(units: list[Unit]) -> list[str]:
    return [u.code for u in units]


# -- reading --------------------------------------------------------------------------------------------------

def test_units_are_listed_by_level_by_parent_and_by_subtree(db: Session, world: Any, admin: Principal) -> None:
    u = world.units
    grids, total = service.list_units(db, principal=admin, level=UnitLevel.grid)
    assert codes(grids) == ["330522001001001", "330522001001002", "330522002001001"] and total == 3
    children, _ = service.list_units(db, principal=admin, parent_id=u["district"].id)
    assert codes(children) == ["330522001", "330522002"]
    under, _ = service.list_units(db, principal=admin, under_id=u["s1"].id)
    assert codes(under) == ["330522001", "330522001001", "330522001001001", "330522001001002"]
    named, _ = service.list_units(db, principal=admin, q="画溪")
    assert codes(named) == ["330522002", "330522002001", "330522002001001"]
    page, total = service.list_units(db, principal=admin, page=2, page_size=3, sort="-code")
    assert total == 8 and codes(page) == ["330522001001002", "330522001001001", "330522001001"]
    with pytest.raises(ValidationFailed) as e:
        service.list_units(db, principal=admin, sort="path")
    assert e.value.code == "bad_sort"


def test_listing_is_limited_to_the_callers_jurisdiction(db: Session, world: Any) -> None:
    mine, _ = service.list_units(db, principal=who(db, world, "wangge_a"))
    assert codes(mine) == ["330522001001001"]
    with pytest.raises(NotFound):
        service.list_units(db, principal=who(db, world, "wangge_a"), under_id=world.units["c1"].id)
    with pytest.raises(NotFound):
        service.get_unit(db, principal=who(db, world, "jiedao2"), unit_id=world.units["ga"].id)


def test_the_tree_nests_streets_communities_and_grids(db: Session, world: Any, admin: Principal) -> None:
    tree = service.get_tree(db, principal=admin)
    assert len(tree) == 1 and tree[0]["code"] == "330522"
    streets = tree[0]["children"]
    assert [s["code"] for s in streets] == ["330522001", "330522002"]
    c1 = streets[0]["children"][0]
    assert c1["code"] == "330522001001" and c1["level"] == UnitLevel.community
    assert [g["code"] for g in c1["children"]] == ["330522001001001", "330522001001002"]
    assert [g["code"] for g in streets[1]["children"][0]["children"]] == ["330522002001001"]

    shallow = service.get_tree(db, principal=admin, max_level=UnitLevel.street)
    assert [s["children"] for s in shallow[0]["children"]] == [[], []]
    # A street's staff see their street as the root; a grid worker just the grid.
    [s1] = service.get_tree(db, principal=who(db, world, "jiedao1"))
    assert s1["code"] == "330522001" and len(s1["children"][0]["children"]) == 2
    assert [n["code"] for n in service.get_tree(db, principal=who(db, world, "wangge_a"))] == ["330522001001001"]


def test_a_units_ancestors_come_top_first(db: Session, world: Any) -> None:
    chain = service.unit_ancestors(db, unit=world.units["gb"])
    assert codes(chain) == ["330522", "330522001", "330522001001"]
    assert service.count_children(db, unit=world.units["c1"]) == 2
    assert service.has_boundary(db, unit=world.units["gb"])


# -- creating and retiring ----------------------------------------------------------------------------------

def test_a_new_unit_is_one_level_below_its_parent_with_a_code_extending_the_parents(
    db: Session, world: Any, admin: Principal
) -> None:
    c1 = world.units["c1"]
    with pytest.raises(ValidationFailed) as e:
        service.create_unit(db, principal=admin, parent_id=c1.id, level=UnitLevel.community,
                            code="330522001001009", name="错误层级")
    assert e.value.code == "bad_level"
    for bad in ("330522002001009", "330522001001", "999"):
        with pytest.raises(ValidationFailed) as e:
            service.create_unit(db, principal=admin, parent_id=c1.id, level=UnitLevel.grid, code=bad, name="错码")
        assert e.value.code == "bad_code", bad
    with pytest.raises(Conflict) as c:
        service.create_unit(db, principal=admin, parent_id=c1.id, level=UnitLevel.grid, code="330522001001001",
                            name="重复")
    assert c.value.code == "code_taken"

    g = service.create_unit(db, principal=admin, parent_id=c1.id, level=UnitLevel.grid, code="330522001001003",
                            name="金陵社区第3网格", boundary=square(119.0, 31.25, 0.25))
    assert (g.path, g.depth, g.valid_from, g.valid_to) == (f"{c1.path}/330522001001003", c1.depth + 1, TODAY,
                                                           OPEN_END)
    assert g.center_lon is not None and 119.0 < g.center_lon < 119.25
    assert service.locate(db, lon=119.1, lat=31.4)[2].id == g.id


def test_staff_cannot_create_units_outside_their_jurisdiction(db: Session, world: Any) -> None:
    with pytest.raises(NotFound):
        service.create_unit(db, principal=who(db, world, "jiedao2"), parent_id=world.units["c1"].id,
                            level=UnitLevel.grid, code="330522001001003", name="越权")


def test_a_unit_with_live_children_cannot_be_retired(db: Session, world: Any, admin: Principal) -> None:
    with pytest.raises(Conflict) as e:
        service.retire_unit(db, principal=admin, unit_id=world.units["c1"].id, valid_to=TODAY, reason="撤并")
    assert e.value.code == "has_children"


def test_a_retired_grid_stays_in_history(db: Session, world: Any, admin: Principal) -> None:
    gc = world.units["gc"]
    service.retire_unit(db, principal=admin, unit_id=gc.id, valid_to=TODAY, reason="撤并到相邻网格")
    assert gc.valid_to == TODAY
    now, _ = service.list_units(db, principal=admin, level=UnitLevel.grid)
    before, _ = service.list_units(db, principal=admin, level=UnitLevel.grid, as_of=TODAY - dt.timedelta(days=1))
    assert gc.code not in codes(now) and gc.code in codes(before)
    assert service.locate(db, lon=119.6, lat=31.1)[2] is None
    assert service.locate(db, lon=119.6, lat=31.1, as_of=TODAY - dt.timedelta(days=1))[2].id == gc.id
    # Now that its only grid is gone, the community may be retired too.
    service.retire_unit(db, principal=admin, unit_id=world.units["c2"].id, valid_to=TODAY, reason="撤并")


# -- redrawing over time ----------------------------------------------------------------------------------------

def test_redrawing_a_grid_starts_a_new_version_and_keeps_the_old_one_in_history(
    db: Session, world: Any, admin: Principal
) -> None:
    ga = world.units["ga"]
    effective = TODAY - dt.timedelta(days=30)
    smaller = square(119.0, 31.0, 0.25, 0.125)  # the southern half of the old square
    new = service.redraw_unit(db, principal=admin, unit_id=ga.id, effective=effective, name="金陵社区第1网格（调整）",
                              boundary=smaller, reason="网格优化调整")
    db.refresh(ga)
    assert (ga.valid_to, ga.successor_id) == (effective, new.id)
    assert (new.code, new.path, new.valid_from, new.valid_to) == (ga.code, ga.path, effective, OPEN_END)

    def grid_ids(day: dt.date) -> list[Any]:
        return [u.id for u in service.list_units(db, principal=admin, code=ga.code, as_of=day)[0]]

    assert grid_ids(effective - dt.timedelta(days=1)) == [ga.id]
    assert grid_ids(effective) == [new.id]
    assert grid_ids(TODAY) == [new.id]

    last_year = service.get_tree(db, principal=admin, as_of=TODAY - dt.timedelta(days=365))
    c1_then = last_year[0]["children"][0]["children"][0]
    assert ga.id in [g["id"] for g in c1_then["children"]] and new.id not in [g["id"] for g in c1_then["children"]]
    c1_now = service.get_tree(db, principal=admin)[0]["children"][0]["children"][0]
    assert [g["id"] for g in c1_now["children"]] == [new.id, world.units["gb"].id]

    # The boundary changed on the same day: the northern half of the old grid is ga only before it.
    north = (119.1, 31.2)
    assert service.locate(db, lon=north[0], lat=north[1], as_of=effective - dt.timedelta(days=1))[2].id == ga.id
    assert service.locate(db, lon=north[0], lat=north[1], as_of=effective)[2] is None
    assert service.locate(db, lon=119.1, lat=31.1)[2].id == new.id
    history = db.scalars(select(UnitBoundary).where(UnitBoundary.unit_id.in_([ga.id, new.id]))
                         .order_by(UnitBoundary.valid_from)).all()
    assert [(b.unit_id, b.valid_to) for b in history] == [(ga.id, effective), (new.id, OPEN_END)]


def test_redrawing_without_a_boundary_carries_the_old_one_over(db: Session, world: Any, admin: Principal) -> None:
    gb = world.units["gb"]
    new = service.redraw_unit(db, principal=admin, unit_id=gb.id, effective=TODAY, reason="更名")
    assert new.name == gb.name
    assert service.locate(db, lon=119.3, lat=31.1)[2].id == new.id
    with pytest.raises(Conflict) as e:
        service.redraw_unit(db, principal=admin, unit_id=gb.id, effective=TODAY + dt.timedelta(days=1),
                            reason="再次调整")
    assert e.value.code == "not_current"


def test_redrawing_a_community_moves_its_current_grids_to_the_new_version(
    db: Session, world: Any, admin: Principal
) -> None:
    c1 = world.units["c1"]
    new = service.redraw_unit(db, principal=admin, unit_id=c1.id, effective=TODAY, reason="社区调整")
    for g in ("ga", "gb"):
        db.refresh(world.units[g])
        assert world.units[g].parent_id == new.id
    assert service.count_children(db, unit=new) == 2


# -- boundaries ---------------------------------------------------------------------------------------------------

def test_a_self_intersecting_boundary_is_refused(db: Session, world: Any, admin: Principal) -> None:
    with pytest.raises(ValidationFailed) as e:
        service.set_boundary(db, principal=admin, unit_id=world.units["ga"].id, geojson=BOW_TIE)
    assert e.value.code == "boundary_invalid" and "边界" in e.value.message


def test_a_boundary_overlapping_a_sibling_is_refused_but_touching_is_fine(
    db: Session, world: Any, admin: Principal
) -> None:
    with pytest.raises(ValidationFailed) as e:
        service.set_boundary(db, principal=admin, unit_id=world.units["ga"].id, geojson=square(119.0, 31.0, 0.3))
    assert e.value.code == "boundary_overlap" and e.value.details["unit_code"] == "330522001001002"
    # Sharing an edge with gb is not an overlap.
    service.set_boundary(db, principal=admin, unit_id=world.units["ga"].id, geojson=square(119.0, 31.0, 0.25, 0.5))


def test_a_gcj02_boundary_is_stored_in_wgs84(db: Session, world: Any, admin: Principal) -> None:
    gx, gy = wgs84_to_gcj02(119.0, 31.0)
    b = service.set_boundary(db, principal=admin, unit_id=world.units["ga"].id, crs="gcj02",
                             geojson=square(gx, gy, 0.2))
    vertices = json.loads(b.geojson)["coordinates"][0]
    assert any(abs(x - 119.0) < 1e-7 and abs(y - 31.0) < 1e-7 for x, y in vertices), vertices
    assert b.min_lon == pytest.approx(119.0, abs=1e-4) and b.min_lat == pytest.approx(31.0, abs=1e-4)


def test_the_locator_notices_a_new_boundary_without_a_restart(db: Session, world: Any, admin: Principal) -> None:
    before = db.scalar(select(GeoVersion.version).where(GeoVersion.id == 1))
    assert service.locate(db, lon=119.1, lat=31.4)[2] is None  # builds and caches the locator
    service.set_boundary(db, principal=admin, unit_id=world.units["ga"].id, geojson=square(119.0, 31.0, 0.25, 0.5))
    assert db.scalar(select(GeoVersion.version).where(GeoVersion.id == 1)) == before + 1
    assert service.locate(db, lon=119.1, lat=31.4)[2].id == world.units["ga"].id


# -- locate -----------------------------------------------------------------------------------------------------------

def test_locate_finds_the_grid_containing_a_point(db: Session, world: Any) -> None:
    assert service.locate(db, lon=119.1, lat=31.1)[2].id == world.units["ga"].id
    assert service.locate(db, lon=119.3, lat=31.1)[2].id == world.units["gb"].id
    assert service.locate(db, lon=119.6, lat=31.2)[2].id == world.units["gc"].id
    assert service.locate(db, lon=119.1, lat=31.4)[2] is None  # inside the community, outside every grid
    assert service.locate(db, lon=100.0, lat=40.0)[2] is None
    with pytest.raises(ValidationFailed):
        service.locate(db, lon=181.0, lat=31.0)


def test_a_gcj02_point_is_converted_before_locating(db: Session, world: Any) -> None:
    wgs = (119.248, 31.1)  # in ga, 0.002° west of the edge with gb
    gcj = wgs84_to_gcj02(*wgs)
    assert gcj[0] > 119.25, "read as WGS-84 the GCJ-02 point would fall in gb"
    lon, lat, grid = service.locate(db, lon=gcj[0], lat=gcj[1], crs="gcj02")
    assert grid.id == world.units["ga"].id
    assert (lon, lat) == (pytest.approx(wgs[0], abs=1e-5), pytest.approx(wgs[1], abs=1e-5))
    assert service.locate(db, lon=gcj[0], lat=gcj[1])[2].id == world.units["gb"].id


def test_batch_locate_answers_each_point_in_order(db: Session, world: Any, admin: Principal) -> None:
    lons = np.array([119.1, 119.3, 119.6, 119.1, 119.248])
    lats = np.array([31.1, 31.1, 31.1, 31.4, 31.1])
    ids = service.locate_batch(db, lons=lons, lats=lats)
    u = world.units
    assert ids == [u["ga"].id, u["gb"].id, u["gc"].id, None, u["ga"].id]
    gcj = np.array([wgs84_to_gcj02(x, y) for x, y in zip(lons, lats, strict=True)])
    assert service.locate_batch(db, lons=gcj[:, 0], lats=gcj[:, 1], crs="gcj02") == ids
    # Grids outside the caller's jurisdiction come back without a code.
    assert service.codes_for(db, principal=who(db, world, "wangge_a"), unit_ids=ids) == [
        u["ga"].code, None, None, None, u["ga"].code]
