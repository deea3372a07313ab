"""Dashboard figures equal what the four scenario cases give by hand, and stay inside the jurisdiction."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from sqlalchemy import update

from zhili.cases.models import Case, CaseStat, CaseStatUnit
from zhili.core.errors import Forbidden, NotFound
from zhili.dashboard import service
from zhili.regions.models import UnitLevel

API = "/api/v1/dashboard"


def _km2(deg: float, lat_centre: float) -> float:
    """Area of a deg×deg square by the same local equirectangular projection the regions service uses."""
    return (deg * 111_320.0 * math.cos(math.radians(lat_centre))) * (deg * 110_574.0) / 1e6


def test_kpis_of_the_district_equal_the_hand_count(scenario: Any) -> None:
    k = service.kpis(scenario.db, principal=scenario.principal("zhihui"))
    assert k["unit"]["code"] == "330522"
    assert k["reported_today"] == 3  # A, C, D (B was reported yesterday)
    assert k["open"] == 2  # B and C; A closed, D rejected
    assert k["overdue_now"] == 1  # B
    assert k["reported_30d"] == 4 and k["closed_30d"] == 1
    assert k["on_time_rate"] == 1.0  # A closed on time
    assert k["satisfaction"] == 4.0  # A rated 4


def test_kpis_of_a_street_user_count_only_that_street(scenario: Any) -> None:
    k = service.kpis(scenario.db, principal=scenario.principal("jiedao1"))
    assert k["unit"]["code"] == "330522001"
    assert (k["reported_today"], k["open"], k["overdue_now"]) == (2, 2, 1)  # A, C today; B, C open; B overdue
    k2 = service.kpis(scenario.db, principal=scenario.principal("jiedao2"))
    assert (k2["reported_today"], k2["open"], k2["overdue_now"], k2["on_time_rate"]) == (1, 0, 0, None)


def test_breakdown_by_street_equals_the_hand_count(scenario: Any) -> None:
    district = scenario.world.units["district"]
    b = service.breakdown_by_child(scenario.db, principal=scenario.principal("lingdao"), unit_id=district.id)
    assert b["child_level"] == "street"
    rows = {c["code"]: c for c in b["children"]}
    assert set(rows) == {"330522001", "330522002"}
    s1, s2 = rows["330522001"], rows["330522002"]
    assert (s1["reported"], s1["closed"], s1["overdue"], s1["on_time_rate"]) == (3, 1, 1, 1.0)
    assert s1["overdue_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert (s2["reported"], s2["closed"], s2["overdue"], s2["on_time_rate"]) == (1, 0, 0, None)
    area = _km2(0.5, 31.25)
    assert s1["area_km2"] == pytest.approx(area, rel=1e-3)
    assert s1["density"] == pytest.approx(3 / area, rel=1e-3)
    assert s2["density"] == pytest.approx(1 / area, rel=1e-3)


def test_breakdown_drills_to_communities_and_grids(scenario: Any) -> None:
    w = scenario.world.units
    p = scenario.principal("zhihui")
    comm = service.breakdown_by_child(scenario.db, principal=p, unit_id=w["s1"].id)
    assert [(c["code"], c["reported"]) for c in comm["children"]] == [("330522001001", 3)]
    grids = service.breakdown_by_child(scenario.db, principal=p, unit_id=w["c1"].id)
    assert [(c["code"], c["reported"], c["overdue"]) for c in grids["children"]] == [
        ("330522001001001", 2, 1), ("330522001001002", 1, 0)]
    assert [u["code"] for u in grids["breadcrumb"]] == ["330522", "330522001", "330522001001"]


def test_a_street_users_breakdown_never_includes_the_other_street(scenario: Any) -> None:
    w = scenario.world.units
    p = scenario.principal("jiedao1")
    own = service.breakdown_by_child(scenario.db, principal=p, unit_id=None)
    assert own["unit"]["code"] == "330522001"
    assert [c["code"] for c in own["children"]] == ["330522001001"]
    with pytest.raises(NotFound):
        service.breakdown_by_child(scenario.db, principal=p, unit_id=w["district"].id)
    with pytest.raises(NotFound):
        service.breakdown_by_child(scenario.db, principal=p, unit_id=w["s2"].id)
    ranked = service.ranking(scenario.db, principal=p, level=UnitLevel.grid)
    assert {r["code"] for r in ranked["items"]} == {"330522001001001", "330522001001002"}
    assert service.breadcrumb(scenario.db, p, w["c1"]) == [service.unit_ref(w["s1"]), service.unit_ref(w["c1"])]


def test_residents_department_handlers_and_grid_workers_get_no_dashboard(scenario: Any) -> None:
    for who in ("jumin", "bumen", "wangge_a", "shenji"):
        with pytest.raises(Forbidden):
            service.kpis(scenario.db, principal=scenario.principal(who))


def test_figures_come_from_the_statistics_rows_not_from_the_cases(scenario: Any) -> None:
    """Doubling every statistics row (``case_stat`` and its per-unit rollup ``case_stat_unit``) doubles the figures;
    the live counts (open, overdue now) do not move."""
    db = scenario.db
    p = scenario.principal("zhihui")
    before = service.kpis(db, principal=p)
    cats_before = service.categories(db, principal=p, unit_id=None)["items"]
    db.execute(update(CaseStat).values(reported=CaseStat.reported * 2))
    db.execute(update(CaseStatUnit).values(reported=CaseStatUnit.reported * 2))
    db.flush()
    after = service.kpis(db, principal=p)
    assert after["reported_today"] == 2 * before["reported_today"]
    assert after["reported_30d"] == 2 * before["reported_30d"]
    assert [c["reported"] for c in service.categories(db, principal=p, unit_id=None)["items"]] == [
        2 * c["reported"] for c in cats_before]
    assert (after["open"], after["overdue_now"]) == (before["open"], before["overdue_now"])
    assert db.query(Case).count() == 4


def test_trend_categories_and_ranking(scenario: Any) -> None:
    p = scenario.principal("zhihui")
    today = service.local_today()
    t = service.trend(scenario.db, principal=p, unit_id=None, days=7)
    assert len(t["points"]) == 7 and t["points"][-1]["date"] == today.isoformat()
    by_day = {pt["date"]: pt for pt in t["points"]}
    assert by_day[today.isoformat()]["reported"] == 3
    assert by_day[(today - dt.timedelta(days=1)).isoformat()]["reported"] == 1
    assert sum(pt["closed"] for pt in t["points"]) == 1
    weeks = service.trend(scenario.db, principal=p, unit_id=None, days=28, by="week")
    assert sum(pt["reported"] for pt in weeks["points"]) == 4
    assert all(dt.date.fromisoformat(pt["date"]).weekday() == 0 for pt in weeks["points"])
    cats = service.categories(scenario.db, principal=p, unit_id=None)
    assert [(c["code"], c["name"], c["reported"]) for c in cats["items"]] == [
        ("TA-01", "市容环境", 2), ("TB-02", "公用设施", 1), ("TC-03", "社会治安", 1)]
    ranked = service.ranking(scenario.db, principal=p, level=UnitLevel.street)
    assert [(r["rank"], r["code"], r["on_time_rate"]) for r in ranked["items"]] == [
        (1, "330522001", 1.0), (2, "330522002", None)]


def test_cases_in_grid_are_the_open_cases_as_points(scenario: Any) -> None:
    w = scenario.world.units
    out = service.cases_in_grid(scenario.db, principal=scenario.principal("zhihui"), grid_id=w["ga"].id)
    assert [pt["number"] for pt in out["points"]] == [scenario.cases["B"].number]  # A is closed
    assert out["points"][0]["overdue"] is True and out["points"][0]["lon"] == pytest.approx(119.2)
    with pytest.raises(NotFound):
        service.cases_in_grid(scenario.db, principal=scenario.principal("jiedao2"), grid_id=w["ga"].id)


def test_the_dashboard_api_answers_in_json_within_the_jurisdiction(client: Any, scenario: Any) -> None:
    w, tokens = scenario.world.units, scenario.world.tokens
    lead = {"Authorization": f"Bearer {tokens['lingdao']}"}
    r = client.get(f"{API}/kpis", headers=lead)
    assert r.status_code == 200 and r.json()["reported_today"] == 3
    r = client.get(f"{API}/breakdown", params={"unit_id": str(w["district"].id)}, headers=lead)
    assert {c["code"] for c in r.json()["children"]} == {"330522001", "330522002"}
    assert client.get(f"{API}/trend", params={"by": "week"}, headers=lead).status_code == 200
    assert client.get(f"{API}/categories", headers=lead).json()["items"][0]["code"] == "TA-01"
    assert client.get(f"{API}/ranking", params={"level": "community"}, headers=lead).status_code == 200
    assert client.get(f"{API}/grids/{w['ga'].id}/cases", headers=lead).json()["points"][0]["overdue"] is True
    street = {"Authorization": f"Bearer {tokens['jiedao1']}"}
    r = client.get(f"{API}/breakdown", params={"unit_id": str(w["s2"].id)}, headers=street)
    assert r.status_code == 404
    assert {c["code"] for c in client.get(f"{API}/breakdown", headers=street).json()["children"]} == {
        "330522001001"}
    resident = {"Authorization": f"Bearer {tokens['jumin']}"}
    assert client.get(f"{API}/kpis", headers=resident).status_code == 403
    assert client.get(f"{API}/kpis").status_code == 401
