"""Early warnings in the database: a surge above its baseline, a repeated complaint, special-care residents not
visited and a grid overdue far above its peers are raised once per cause, reach the responsible unit's inbox, can
be dismissed with a reason (and then stay dismissed) or turned into a case through the intake, and are seen only
inside the jurisdiction."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from zhili.cases import notify
from zhili.cases.inbox import inbox
from zhili.cases.models import Case, CaseEvent, CaseState, Channel, Urgency
from zhili.cases.service import report_case
from zhili.cases.taxonomy import load_defaults
from zhili.core.clock import district_tz, local_day
from zhili.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal
from zhili.core.security import Role
from zhili.core.settings import get_settings
from zhili.intel import warnings as warn
from zhili.intel.models import Warning, WarningState

NOW = dt.datetime(2026, 6, 10, 9, 0, tzinfo=dt.UTC)  # a Wednesday, 17:00 in Beijing
TODAY = local_day(NOW)
CN = "[\u4e00-\u9fff]"


@pytest.fixture
def env(db: Session, world: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    load_defaults(db)
    fake = notify.FakeChannel()
    notify.set_channels([fake])
    monkeypatch.setenv("ZHILI_WARN_SURGE_HISTORY_DAYS", "120")
    get_settings.cache_clear()
    try:
        yield world
    finally:
        notify.set_channels(None)
        monkeypatch.undo()
        get_settings.cache_clear()


def root_conftest() -> Any:
    """The root conftest's world builders (``tests`` is not a package; loaded by file, as ``casekit`` does)."""
    spec = importlib.util.spec_from_file_location("zhili_tests_root_conftest",
                                                  Path(__file__).resolve().parent.parent / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


def principal(db: Session, world: Any, who: str) -> Principal:
    from zhili.users.service import principal_for_user

    return principal_for_user(db, user=world.users[who])


def add_cases(db: Session, grid: Any, day: dt.date, n: int, category: str = "SG-0101", **extra: Any) -> list[str]:
    """``n`` cases reported in ``grid`` on the local ``day`` (rows written directly: history for the baselines)."""
    rows = []
    at = dt.datetime.combine(day, dt.time(10, 0), district_tz()).astimezone(dt.UTC)
    for i in range(n):
        cid = uuid.uuid4()
        rows.append({"id": cid, "number": f"T-{cid.hex[:16]}", "channel": Channel.hotline, "state": CaseState.closed,
                     "category_code": category, "title": "测试", "description": "测试事件", "urgency": Urgency.normal,
                     "grid_id": grid.id, "path": grid.path, "attributes": {}, "anonymous": True, "is_public": False,
                     "is_joint": False, "reported_at": at + dt.timedelta(minutes=i), "reported_day": day,
                     "warning_level": "none", "overdue": False, "reopen_count": 0, "support_count": 0,
                     "merged_count": 0, "is_history": False, "created_at": at, "updated_at": at, "version": 1,
                     **extra})
    if rows:
        db.execute(insert(Case), rows)
    return [str(r["id"]) for r in rows]


def background(db: Session, world: Any, *, days: int = 110, rate: float = 3.0, seed: int = 5) -> None:
    """Ordinary days: Poisson(rate) disputes a day in each of grids ga and gc."""
    rng = np.random.default_rng(seed)
    for k in range(1, days + 1):
        day = TODAY - dt.timedelta(days=k)
        for g in ("ga", "gc"):
            add_cases(db, world.units[g], day, int(rng.poisson(rate)))


def surge(env: Any, db: Session) -> Warning:
    background(db, env)
    spike = add_cases(db, env.units["ga"], TODAY - dt.timedelta(days=1), 16, "SG-0103")
    report = warn.scan(db, now=NOW, kinds=["surge"])
    assert report.raised["surge"] >= 1
    [w] = [w for w in db.scalars(select(Warning).where(Warning.kind == "surge"))
           if w.period_start == TODAY - dt.timedelta(days=1) and w.period_end == w.period_start]
    assert set(spike) <= set(w.case_ids)
    return w


# -- surge -------------------------------------------------------------------------------------------------------

def test_a_spike_is_raised_once_for_the_community_with_the_numbers_behind_it(env: Any, db: Session) -> None:
    w = surge(env, db)
    assert w.path == env.units["c1"].path and w.category_code == "SG-01"  # the group, at the most specific unit
    assert "金陵社区" in w.title and "矛盾纠纷" in w.title
    assert "预计约" in w.reason and "16" not in w.title and w.detail["observed"] >= 16
    assert w.detail["expected"] < 6 and w.detail["p_value"] <= get_settings().warn_surge_alpha
    assert w.severity in ("orange", "red")
    # the street, the district and "all categories" of the same day are explained by it: not raised beside it
    same_day = db.scalars(select(Warning).where(Warning.period_start == w.period_start)).all()
    assert [x.path for x in same_day] == [w.path]
    before = db.scalar(select(Warning.id).where(Warning.kind == "surge").order_by(Warning.id).limit(1))
    again = warn.scan(db, now=NOW, kinds=["surge"])
    assert again.raised["surge"] == 0 and again.found["surge"] >= 1
    assert db.scalar(select(Warning.id).where(Warning.kind == "surge").order_by(Warning.id).limit(1)) == before


def test_ordinary_days_raise_no_surge(env: Any, db: Session) -> None:
    background(db, env)
    report = warn.scan(db, now=NOW, kinds=["surge"])
    assert report.raised["surge"] == 0


def test_the_warning_reaches_the_units_inbox(env: Any, db: Session) -> None:
    w = surge(env, db)
    got = [n for n in inbox(db, principal=principal(db, env, "shequ1")) if n.kind == "intel_warning"]
    assert got and w.title in got[0].body
    others = [n for n in inbox(db, principal=principal(db, env, "jiedao2")) if n.kind == "intel_warning"]
    assert others == []


# -- deciding --------------------------------------------------------------------------------------------------------

def test_a_dismissed_warning_needs_a_reason_and_is_not_raised_again(env: Any, db: Session) -> None:
    w = surge(env, db)
    staff = principal(db, env, "shequ1")
    with pytest.raises(ValidationFailed) as refused:
        warn.dismiss(db, principal=staff, warning_id=w.id, reason="  ")
    assert refused.value.code == "reason_required" and "理由" in refused.value.message
    warn.dismiss(db, principal=staff, warning_id=w.id, reason="已核实为同一纠纷的集中反映，已调解")
    assert w.state == WarningState.dismissed and w.decided_by == "shequ1"
    report = warn.scan(db, now=NOW, kinds=["surge"])
    assert report.raised["surge"] == 0
    assert db.get(Warning, w.id).state == WarningState.dismissed
    with pytest.raises(Conflict):
        warn.dismiss(db, principal=staff, warning_id=w.id, reason="再次排除")


def test_a_warning_turned_into_a_case_goes_through_the_intake_with_its_story(env: Any, db: Session) -> None:
    w = surge(env, db)
    staff = principal(db, env, "shequ1")
    case = warn.convert(db, principal=staff, warning_id=w.id)
    assert w.state == WarningState.converted and w.case_id == case.id
    assert case.category_code.startswith("SG-01") and case.path.startswith(env.units["c1"].path)
    assert "智能预警" in case.description and w.reason in case.description
    assert case.attributes["origin"] == "intel_warning" and case.attributes["warning_id"] == str(w.id)
    first = db.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)).first()
    assert first is not None and first.action == "report" and "由智能预警转为事件" in (first.comment or "")
    with pytest.raises(Conflict):
        warn.convert(db, principal=staff, warning_id=w.id)


def test_another_communitys_staff_cannot_see_or_decide_it(env: Any, db: Session) -> None:
    w = surge(env, db)
    env.users["shequ2"], _ = root_conftest().make_user(db, "shequ2", Role.community_staff, [env.units["c2"]])
    other = principal(db, env, "shequ2")
    assert warn.list_warnings(db, principal=other) == []
    with pytest.raises(NotFound):
        warn.get_warning(db, principal=other, warning_id=w.id)
    with pytest.raises(NotFound):
        warn.dismiss(db, principal=other, warning_id=w.id, reason="不是我们社区的")
    assert [x.id for x in warn.list_warnings(db, principal=principal(db, env, "jiedao1"))] == [w.id]
    assert [x.id for x in warn.list_warnings(db, principal=principal(db, env, "zhihui"))] == [w.id]
    with pytest.raises(Forbidden):
        warn.list_warnings(db, principal=principal(db, env, "jumin"))
    with pytest.raises(Forbidden):  # the leader reads warnings but does not decide them
        warn.dismiss(db, principal=principal(db, env, "lingdao"), warning_id=w.id, reason="领导排除")


# -- rules -----------------------------------------------------------------------------------------------------------

def _hotline(db: Session, env: Any, *, phone: str, when: dt.datetime, address: str | None = None) -> Case:
    case, _ = report_case(db, principal=principal(db, env, "zhihui"), channel=Channel.hotline, now=when, data={
        "category_code": "SG-0103", "description": "楼上邻居装修漏水，物业多次协调无果", "grid_id": env.units["ga"].id,
        "reporter_phone": phone, "address": address})
    return case


def test_a_repeated_complaint_fires_at_n_and_not_before(env: Any, db: Session) -> None:
    cases = [_hotline(db, env, phone="13900001111", when=NOW - dt.timedelta(days=d)) for d in (20, 9)]
    _hotline(db, env, phone="13900002222", when=NOW - dt.timedelta(days=5))  # someone else
    assert warn.scan(db, now=NOW, kinds=["repeat"]).raised["repeat"] == 0
    cases.append(_hotline(db, env, phone="13900001111", when=NOW - dt.timedelta(days=1)))
    report = warn.scan(db, now=NOW, kinds=["repeat"])
    assert report.raised["repeat"] == 1
    [w] = db.scalars(select(Warning).where(Warning.kind == "repeat"))
    assert sorted(w.case_ids) == sorted(str(c.id) for c in cases)
    assert w.path == env.units["c1"].path and "3 件" in w.reason and "30 天" in w.reason
    assert "13900001111" not in w.reason + w.title  # the phone is never shown
    # a fourth report of the same dispute is the same cause
    _hotline(db, env, phone="13900001111", when=NOW - dt.timedelta(hours=2))
    assert warn.scan(db, now=NOW, kinds=["repeat"]).raised["repeat"] == 0


def test_a_door_address_repeats_but_a_vague_place_does_not(env: Any, db: Session) -> None:
    for d, phone in ((12, "13900003333"), (6, "13900004444"), (2, "13900005555")):
        _hotline(db, env, phone=phone, when=NOW - dt.timedelta(days=d), address="金陵路 12号 3幢")
        _hotline(db, env, phone=f"1370000{d:04d}", when=NOW - dt.timedelta(days=d), address="金陵社区第1网格附近")
    warn.scan(db, now=NOW, kinds=["repeat"])
    [w] = db.scalars(select(Warning).where(Warning.kind == "repeat"))
    assert "金陵路 12号 3幢" in w.reason and len(w.case_ids) == 3


def test_special_care_residents_not_visited_in_time(env: Any, db: Session, tmp_path: Any) -> None:
    from zhili.cases import files
    from zhili.registry import service as registry
    from zhili.registry.models import BuildingType, HouseholdUse, Person, ResidentType
    from zhili.visits import service as visits

    files.set_store(files.LocalFileStore(tmp_path / "files"))
    worker = principal(db, env, "wangge_a")
    b = registry.create_building(db, principal=worker, data={
        "grid_id": env.units["ga"].id, "name": "1幢", "address": "金陵路1号", "building_type": BuildingType.residential,
        "lon": 119.1, "lat": 31.1})
    homes = [registry.create_household(db, principal=worker, data={
        "building_id": b.id, "room": str(100 + i), "use": HouseholdUse.owner_occupied}) for i in range(3)]
    people = []
    for i, (h, name) in enumerate(zip(homes, ("王大爷", "李奶奶", "张阿姨"), strict=True)):
        first17 = f"3305221940061500{i}"
        from zhili.core.validators import id_check_digit

        people.append(registry.create_person(db, principal=worker, data={
            "name": name, "id_number": first17 + id_check_digit(first17), "household_id": h.id, "relation": "head",
            "resident_type": ResidentType.registered, "care_tags": ["elderly_alone"] if i < 2 else []}))
    db.execute(update(Person).values(created_at=NOW - dt.timedelta(days=200)))
    visits.record_visit(db, principal=worker, household_id=homes[1].id, kind="care", summary="老人身体良好",
                        visited_at=NOW - dt.timedelta(days=10), now=NOW)
    try:
        report = warn.scan(db, now=NOW, kinds=["unvisited"])
    finally:
        files.set_store(None)
    assert report.raised["unvisited"] == 1
    [w] = db.scalars(select(Warning).where(Warning.kind == "unvisited"))
    assert w.path == env.units["ga"].path and w.detail["count"] == 1
    assert w.detail["persons"][0]["person_id"] == str(people[0].id) and "王**" in w.reason
    assert "李" not in w.reason and "张" not in w.reason  # visited in time; no care tag
    got = [n for n in inbox(db, principal=principal(db, env, "shequ1")) if n.kind == "intel_warning"]
    assert got  # a grid's warning reaches its community too
    case = warn.convert(db, principal=principal(db, env, "shequ1"), warning_id=w.id)
    assert case.category_code == "SG-1301" and case.grid_id == env.units["ga"].id


def test_a_grid_overdue_far_above_its_peers(env: Any, db: Session) -> None:
    due = NOW - dt.timedelta(days=5)
    for grid, n, late in (("ga", 20, 12), ("gb", 40, 2), ("gc", 30, 20)):
        ids = add_cases(db, env.units[grid], TODAY - dt.timedelta(days=8), n, handle_due_at=due)
        db.execute(update(Case).where(Case.id.in_([uuid.UUID(i) for i in ids[:late]])).values(overdue=True))
    report = warn.scan(db, now=NOW, kinds=["overdue"])
    assert report.raised["overdue"] == 1  # gc has no peer in its street
    [w] = db.scalars(select(Warning).where(Warning.kind == "overdue"))
    assert w.path == env.units["ga"].path and len(w.case_ids) == 12
    assert "60%" in w.reason and "5%" in w.reason
    assert warn.scan(db, now=NOW, kinds=["overdue"]).raised["overdue"] == 0


def test_every_message_is_chinese(env: Any, db: Session) -> None:
    w = surge(env, db)
    for text in (w.title, w.reason):
        assert re.search(CN, text)
    with pytest.raises(ValidationFailed) as bad:
        warn.list_warnings(db, principal=principal(db, env, "zhihui"), state="closed")
    assert re.search(CN, bad.value.message)


# -- command line ----------------------------------------------------------------------------------------------------

def test_the_commands_scan_and_list_in_chinese(env: Any, db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib
    import json

    import typer
    from typer.testing import CliRunner

    from zhili import cli_intel_warn
    from zhili.core import db as core_db

    background(db, env, days=70)
    add_cases(db, env.units["ga"], local_day(NOW) - dt.timedelta(days=1), 16, "SG-0103")
    @contextlib.contextmanager
    def same_session() -> Iterator[Session]:
        yield db

    monkeypatch.setattr(core_db, "session_scope", same_session)
    monkeypatch.setattr(warn, "utcnow", lambda: NOW)
    app = typer.Typer()
    cli_intel_warn.register(app)
    runner = CliRunner()
    scanned = runner.invoke(app, ["warn-scan"])
    assert scanned.exit_code == 0, scanned.output
    assert "新增预警" in scanned.output and "数量异常" in scanned.output
    listed = runner.invoke(app, ["warnings", "--json"])
    assert listed.exit_code == 0, listed.output
    [item] = json.loads(listed.output)
    assert item["unit"] == "金陵社区" and item["state"] == "open" and item["cases"] >= 16
    bad = runner.invoke(app, ["warnings", "--state", "closed"])
    assert bad.exit_code == 2 and "预警状态" in bad.output


def test_evaluate_measures_the_detector_next_to_its_baselines(env: Any, db: Session,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    background(db, env, days=100)
    monkeypatch.setattr(warn, "utcnow", lambda: NOW)
    rows = warn.evaluate(db, principal=principal(db, env, "zhihui"))
    by = {(r["model"], r["metric"]): r for r in rows}
    fa = by[("warn.surge", "false_alarm_rate")]
    assert 0.003 <= fa["value"] <= 0.02 and fa["baseline_value"] == 0.01
    assert by[("warn.surge.robust_mad", "false_alarm_rate")]["value"] > fa["value"]
    matched = by[("warn.surge", "spike_detection_rate_matched")]
    assert matched["value"] > matched["baseline_value"]
    history = by[("warn.surge", "history_p01_rate")]
    assert history["n"] > 0 and history["value"] is not None and history["value"] < 0.05
    assert all({"model", "metric", "value", "baseline_name", "baseline_value", "n", "note"} <= set(r) for r in rows)
    with pytest.raises(Forbidden):
        warn.evaluate(db, principal=principal(db, env, "shequ1"))
