"""The responsibility list (rule matching, the "who would get this?" test, versioned rules), the versioned
taxonomy, and the statistics table (incremental updates equal a full rebuild)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from casekit import local
from sqlalchemy import select

from zhili.cases import engine, service, sweep, tally
from zhili.cases.dispatch import CaseFacts, match
from zhili.cases.models import Case, CaseStat, CaseStatUnit, Channel, DispatchRule

GA_PATH = "330522/330522001/330522001001/330522001001001"
C1_PATH = "330522/330522001/330522001001"
GC_PATH = "330522/330522002/330522002001/330522002001001"
NOON = local(2026, 3, 2, 12, 0)


def rule(name: str, target: str, **kw: Any) -> DispatchRule:
    """A rule as matching sees it (not stored)."""
    base = dict(priority=100, category_code=None, region_path=None, keywords=[], hour_from=None, hour_to=None,
                target_department=target, target_unit_id=None, co_departments=[], confidence=1.0, enabled=True)
    return DispatchRule(id=uuid.uuid4(), rule_key=uuid.uuid4(), version=1, name=name, **{**base, **kw})


def winner(rules: list[DispatchRule], *, category: str | None = "T0101", path: str = GA_PATH,
           text: str = "垃圾", at: dt.datetime = NOON) -> str | None:
    m = match(CaseFacts(category, path, text, at), rules)
    return m.rule.name if m.rule else None


# -- matching ---------------------------------------------------------------------------------------------

def test_the_lower_priority_number_wins_over_a_more_specific_rule():
    rules = [rule("specific", "CG", priority=100, category_code="T0101", region_path=C1_PATH),
             rule("urgent-anything", "SW", priority=10)]
    assert winner(rules) == "urgent-anything"


def test_at_equal_priority_the_more_specific_category_then_region_then_keywords_wins():
    anything = rule("anything", "CG")
    major = rule("major class", "CG", category_code="T01")
    leaf = rule("leaf", "CG", category_code="T0101")
    leaf_street = rule("leaf+street", "CG", category_code="T0101", region_path="330522/330522001")
    leaf_community = rule("leaf+community", "CG", category_code="T0101", region_path=C1_PATH)
    leaf_community_kw = rule("leaf+community+keyword", "CG", category_code="T0101", region_path=C1_PATH,
                             keywords=["垃圾"])
    ladder = [anything, major, leaf, leaf_street, leaf_community, leaf_community_kw]
    for i in range(len(ladder)):
        shuffled = ladder[: i + 1][::-1]
        assert winner(shuffled) == ladder[i].name
    # Rules that do not apply are skipped: another category, another region, another class.
    assert winner(ladder, category="T0102") == "major class"
    assert winner(ladder, category="T0301") == "anything"
    assert winner(ladder, path=GC_PATH) == "leaf"
    m = match(CaseFacts("T0101", GA_PATH, "垃圾", NOON), ladder)
    assert m.rule is leaf_community_kw and m.considered == 6
    assert m.reasons == ["类别匹配 T0101", f"区域匹配 {C1_PATH}", "关键词：垃圾"]


def test_a_keyword_rule_matches_only_when_one_of_its_words_is_in_the_description():
    rules = [rule("default", "CG", category_code="T0101"),
             rule("oil", "HB", category_code="T0101", keywords=["油污", "废油"])]
    assert winner(rules, text="路面大片油污") == "oil"
    assert winner(rules, text="餐馆倾倒废油和垃圾") == "oil"
    assert winner(rules, text="垃圾") == "default"
    assert winner([rules[1]], text="垃圾") is None


def test_hour_windows_are_local_time_half_open_and_may_run_over_midnight():
    night = [rule("night", "GA", hour_from=22, hour_to=6)]
    day = [rule("day", "CG", hour_from=8, hour_to=18)]
    for h, m_, night_hit, day_hit in [(21, 59, False, False), (22, 0, True, False), (23, 30, True, False),
                                      (0, 0, True, False), (3, 0, True, False), (5, 59, True, False),
                                      (6, 0, False, False), (8, 0, False, True), (17, 59, False, True),
                                      (18, 0, False, False)]:
        at = local(2026, 3, 2, h, m_)
        assert (winner(night, at=at) == "night") is night_hit, at
        assert (winner(day, at=at) == "day") is day_hit, at
    # Local, not UTC: 23:00 in Beijing is 15:00 UTC.
    assert winner(night, at=local(2026, 3, 2, 23, 0).astimezone(dt.UTC)) == "night"


def test_disabled_rules_never_match():
    assert winner([rule("off", "CG", enabled=False)]) is None
    m = match(CaseFacts("T0101", GA_PATH, "垃圾", NOON), [])
    assert (m.rule, m.confidence) == (None, 0.0) and "人工派遣" in m.reasons[0]


# -- the rule test endpoint agrees with real intake -------------------------------------------------------

def _create_rule(kit, **body: Any) -> dict[str, Any]:
    r = kit.post("zhihui", "/dispatch-rules", json={"confidence": 0.95, **body})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_the_rule_test_answers_which_department_and_why_and_intake_then_does_the_same(kit):
    _create_rule(kit, name="垃圾→城管", category_code="T01", target_department="CG")
    _create_rule(kit, name="金陵社区垃圾→水务", category_code="T0101", region_path=C1_PATH,
                 target_department="SW")
    _create_rule(kit, name="油污→环保", category_code="T0101", region_path=C1_PATH, keywords=["油污"],
                 target_department="HB", co_departments=["CG"])
    _create_rule(kit, name="噪声→公安（低置信）", category_code="T0301", target_department="GA", confidence=0.5)
    probes = [
        ({"category_code": "T0101", "description": "路边油污", "lon": 119.1, "lat": 31.1}, "HB"),
        ({"category_code": "T0101", "description": "垃圾", "lon": 119.3, "lat": 31.1}, "SW"),
        ({"category_code": "T0101", "description": "垃圾", "lon": 119.6, "lat": 31.1}, "CG"),
        ({"category_code": "T0102", "description": "占道", "lon": 119.6, "lat": 31.1}, "CG"),
        ({"category_code": "T0301", "description": "噪声", "lon": 119.1, "lat": 31.1}, None),
    ]
    for body, dept in probes:
        r = kit.post("jiedao1", "/dispatch-rules/test", json=body)
        assert r.status_code == 200, r.text
        t = r.json()
        assert t["matched"] is True and t["reasons"] and t["path"]
        case = kit.report("jumin", category=body["category_code"], description=body["description"],
                          lon=body["lon"], lat=body["lat"])
        assert t["auto_dispatch"] is (dept is not None)
        if dept is None:
            assert (t["department"], case["state"]) == ("GA", "reported")
            continue
        assert t["department"] == dept
        assert (case["state"], case["assignee_department"]) == ("dispatched", dept)
        assert kit.case(case["id"]).dispatch_rule_id == uuid.UUID(t["rule"]["id"])
        assert t["path"] == case["path"]
    oil = kit.post("zhihui", "/dispatch-rules/test", json=probes[0][0]).json()
    assert oil["reasons"] == ["类别匹配 T0101", f"区域匹配 {C1_PATH}", "关键词：油污"]
    assert oil["rule"]["co_departments"] == ["CG"]

    by_unit = kit.post("zhihui", "/dispatch-rules/test",
                       json={"category_code": "T0101", "description": "垃圾", "unit_id": str(kit.unit("gb").id)})
    assert by_unit.json()["department"] == "SW"
    nothing = kit.post("zhihui", "/dispatch-rules/test", json={"category_code": "T0201", "description": "井盖",
                                                              "lon": 119.1, "lat": 31.1}).json()
    assert (nothing["matched"], nothing["department"], nothing["auto_dispatch"]) == (False, None, False)
    assert "人工派遣" in nothing["reasons"][0]
    nowhere = kit.post("zhihui", "/dispatch-rules/test", json={"category_code": "T0101", "lon": 119.1,
                                                              "lat": 31.9}).json()
    assert nowhere["matched"] is False and nowhere["path"] is None


def test_only_config_writers_may_change_rules(kit):
    body = {"name": "x", "category_code": "T0101", "target_department": "CG"}
    for who in ("jiedao1", "bumen", "lingdao", "jumin"):
        assert kit.post(who, "/dispatch-rules", json=body).status_code == 403
    r = kit.post("zhihui", "/dispatch-rules", json={"name": "no target", "category_code": "T0101"})
    assert (r.status_code, r.json()["code"]) == (422, "rule_target_required")
    r = kit.post("zhihui", "/dispatch-rules", json={**body, "target_department": "NOPE"})
    assert (r.status_code, r.json()["code"]) == (422, "department_not_found")


def test_editing_a_rule_writes_version_2_and_cases_keep_the_version_that_dispatched_them(kit):
    v1 = _create_rule(kit, name="垃圾→城管", category_code="T0101", target_department="CG")
    before = kit.report("jumin")
    assert before["assignee_department"] == "CG"
    r = kit.patch("zhihui", f"/dispatch-rules/{v1['rule_key']}", json={"target_department": "SW",
                                                                      "name": "垃圾→水务"})
    assert r.status_code == 200, r.text
    v2 = r.json()
    assert (v2["version"], v2["rule_key"], v2["target_department"]) == (2, v1["rule_key"], "SW")
    assert v2["id"] != v1["id"] and v2["category_code"] == "T0101" and v2["confidence"] == 0.95
    history = kit.get("zhihui", f"/dispatch-rules/{v1['rule_key']}/history").json()
    assert [(h["version"], h["target_department"]) for h in history] == [(2, "SW"), (1, "CG")]
    assert [x["id"] for x in kit.get("zhihui", "/dispatch-rules").json()] == [v2["id"]]
    assert kit.case(before["id"]).dispatch_rule_id == uuid.UUID(v1["id"])
    assert kit.timeline(before["id"])[-1]["payload"]["rule_id"] == v1["id"]
    after = kit.report("jumin")
    assert after["assignee_department"] == "SW"
    assert kit.case(after["id"]).dispatch_rule_id == uuid.UUID(v2["id"])
    assert kit.case(before["id"]).assignee_department == "CG"


# -- taxonomy ---------------------------------------------------------------------------------------------

def test_editing_a_category_writes_a_new_version_and_existing_cases_keep_theirs(kit):
    old = kit.report("jumin")
    v1 = kit.case(old["id"]).category_id
    assert v1 == kit.cats["T0101"].id
    assert kit.patch("jiedao1", "/categories/T0101", json={"handle_hours": 8}).status_code == 403
    r = kit.patch("zhihui", "/categories/T0101", json={"handle_hours": 8, "name": "暴露垃圾（含垃圾桶满溢）"})
    assert r.status_code == 200, r.text
    v2 = r.json()
    assert (v2["version"], v2["handle_hours"], v2["accept_hours"], v2["default_department"]) == (2, 8, 2, "CG")
    assert uuid.UUID(v2["id"]) != v1
    history = kit.get("zhihui", "/categories/T0101/history").json()
    assert [(h["version"], h["name"]) for h in history] == [(2, "暴露垃圾（含垃圾桶满溢）"), (1, "暴露垃圾")]
    listed = [c for c in kit.get("jumin", "/categories").json() if c["code"] == "T0101"]
    assert [c["version"] for c in listed] == [2]

    assert kit.case(old["id"]).category_id == v1
    assert kit.detail(old["id"])["category_name"] == "暴露垃圾"
    new = kit.report("jumin")
    assert kit.case(new["id"]).category_id == uuid.UUID(v2["id"])
    assert new["category_name"] == "暴露垃圾（含垃圾桶满溢）"
    # The new limit applies to the case filed under the new version; the old case keeps the old one.
    for c in (old, new):
        kit.act("zhihui", c, "accept")
        kit.act("zhihui", c, "dispatch", department="CG")
    from zhili.worktime.service import load_calendar

    cal = load_calendar(kit.db)
    for c, hours in ((old, 16), (new, 8)):
        row = kit.case(c["id"])
        assert row.handle_due_at == cal.add_working_hours(row.dispatched_at, hours)


def test_reporting_under_a_major_class_an_inactive_or_an_unknown_category_is_refused(kit):
    for code, status, err in [("T01", 422, "category_not_leaf"), ("T0109", 422, "category_inactive"),
                              ("NOPE", 404, "category_not_found")]:
        r = kit.post("jumin", "/cases", json={"category_code": code, "description": "x", "lon": 119.1,
                                               "lat": 31.1})
        assert (r.status_code, r.json()["code"]) == (status, err), code
    assert "T0109" not in [c["code"] for c in kit.get("jumin", "/categories").json()]
    assert "T0109" in [c["code"] for c in kit.get("jumin", "/categories?include_inactive=true").json()]
    assert kit.patch("zhihui", "/categories/T0102", json={"is_active": False}).status_code == 200
    r = kit.post("jumin", "/cases", json={"category_code": "T0102", "description": "x", "lon": 119.1, "lat": 31.1})
    assert (r.status_code, r.json()["code"]) == (422, "category_inactive")
    # Nor can a case be re-classified into one on acceptance.
    c = kit.report("jumin")
    kit.refused("zhihui", c, "accept", 422, "category_not_leaf", category_code="T01")
    r = kit.step("zhihui", c, "accept", to="accepted", category_code="T0301")
    assert r["category_code"] == "T0301" and r["category_name"] == "噪声扰民"


def test_a_new_category_under_a_leaf_turns_the_parent_into_a_major_class(kit):
    r = kit.post("zhihui", "/categories", json={"code": "T030101", "name": "广场舞噪声", "parent_code": "T0301",
                                                "default_department": "GA", "handle_hours": 8})
    assert r.status_code == 201, r.text
    assert (r.json()["kind"], r.json()["is_leaf"]) == ("social", True)
    r = kit.post("jumin", "/cases", json={"category_code": "T0301", "description": "x", "lon": 119.1, "lat": 31.1})
    assert (r.status_code, r.json()["code"]) == (422, "category_not_leaf")
    assert kit.report("jumin", category="T030101")["category_code"] == "T030101"


# -- statistics -------------------------------------------------------------------------------------------

def _stats(kit) -> dict[tuple[str, dt.date, str], tuple[int, ...]]:
    """The statistics rows (a row of zeros — left behind when a case moved to another category — counts as
    no row)."""
    kit.db.flush()
    kit.db.expire_all()
    rows = {(s.path, s.day, s.category_code): (s.reported, s.accepted, s.closed, s.closed_on_time, s.overdue,
                                               s.rating_sum, s.rating_count)
            for s in kit.db.scalars(select(CaseStat))}
    return {k: v for k, v in rows.items() if any(v)}


def _unit_stats(kit) -> dict[tuple[str, dt.date], tuple[int, ...]]:
    """The per-unit rollup rows (rows of zeros count as no row)."""
    kit.db.flush()
    kit.db.expire_all()
    rows = {(s.path, s.day): (s.depth, s.reported, s.accepted, s.closed, s.closed_on_time, s.overdue, s.rating_sum,
                              s.rating_count) for s in kit.db.scalars(select(CaseStatUnit))}
    return {k: v for k, v in rows.items() if any(v[1:])}


def test_rebuilding_the_statistics_gives_exactly_the_incrementally_maintained_figures(kit):
    p = {n: kit.principal(n) for n in ("jumin", "jumin2", "zhihui", "bumen", "shequ1", "wangge_a")}
    t0 = local(2026, 3, 2, 9, 0)

    def new(day_offset: int = 0, who: str = "jumin", cat: str = "T0102", lon: float = 119.1) -> Case:
        case, _ = service.report_case(kit.db, principal=p[who], channel=Channel.resident, now=t0 + dt.timedelta(
            days=day_offset), data={"category_code": cat, "description": "统计", "lon": lon, "lat": 31.1})
        return case

    def do(who: str, case: Case, action: str, at: dt.datetime | None = t0, **payload: Any) -> None:
        engine.transition(kit.db, principal=p[who], case_id=case.id, action=action, payload=payload, now=at)

    def to_dispatched(case: Case, at: dt.datetime = t0, **target: Any) -> None:
        do("zhihui", case, "accept", at)
        do("zhihui", case, "dispatch", at, **(target or {"department": "CG"}))

    def finish(case: Case, at: dt.datetime | None, rating: int | None = None) -> None:
        do("bumen", case, "resolve", at, result="已处理")
        do("zhihui", case, "verify", at)
        if rating:
            do("jumin", case, "rate", at, rating=rating)
        do("zhihui", case, "close", at)

    normal = new()
    to_dispatched(normal)
    do("bumen", normal, "start")
    finish(normal, t0 + dt.timedelta(hours=1), rating=4)

    do("zhihui", new(1), "reject", reason="重复")
    master = new(1)
    do("zhihui", new(1, who="jumin2"), "merge", master_id=master.id)
    do("zhihui", new(2, cat="T0101"), "accept", category_code="T0102")  # re-classified on acceptance

    extended, returned, reopened, late = new(2), new(2), new(3), new(3, lon=119.3)
    escalated = new(3)
    for c in (extended, returned, late):
        to_dispatched(c)
        do("bumen", c, "start")
    to_dispatched(escalated, unit_id=kit.unit("c1").id)
    to_dispatched(reopened)
    do("bumen", reopened, "start")
    finish(reopened, None, rating=5)  # closed now: the reopen window is judged against the wall clock

    sweep.sweep_deadlines(kit.db, now=t0 + dt.timedelta(days=1))  # all four open ones are overdue
    assert all(c.overdue for c in (extended, returned, late, escalated))
    do("bumen", extended, "request_extension", t0 + dt.timedelta(days=1), reason="待料", hours=40)
    do("zhihui", extended, "approve_extension", t0 + dt.timedelta(days=1))
    assert not extended.overdue  # the red light is off again
    do("bumen", returned, "return_case", t0 + dt.timedelta(days=1), reason="非本部门")
    do("shequ1", escalated, "escalate", t0 + dt.timedelta(days=1), reason="需街道协调")
    do("zhihui", escalated, "dispatch", t0 + dt.timedelta(days=1), department="CG")
    do("jumin", reopened, "reopen", None, reason="又出现了")
    finish(late, t0 + dt.timedelta(days=2), rating=2)
    assert late.closed_on_time is False and late.overdue

    incremental = _stats(kit)
    incremental_units = _unit_stats(kit)
    totals = [sum(v[i] for v in incremental.values()) for i in range(7)]
    # reported, accepted, closed, closed on time, overdue now, rating sum, ratings
    assert totals == [10, 7, 2, 1, 1, 4 + 2, 2]
    assert kit.db.query(Case).count() == 10
    tally.rebuild_stats(kit.db)
    assert _stats(kit) == incremental
    assert _unit_stats(kit) == incremental_units and incremental_units  # and the per-unit rollup with it
