"""Deadlines in working hours (holidays and 调休 from ``chinese_calendar``), natural-hours categories, the
deadline sweep (yellow, red, escalation; idempotent), extensions after the deadline, and restart safety.

Holiday dates are first checked against ``chinese_calendar`` itself, so a wrong assumption about the national
arrangement fails in the test's own preconditions rather than as a puzzling deadline.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import chinese_calendar
import pytest
from casekit import add_taxonomy, as_local, build_world, local
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.cases import engine, service, sweep
from zhili.cases.models import Case, CaseEvent, CaseStat, Channel, Notification, Supervision
from zhili.users.service import principal_for_user

D = dt.date


def _workdays(*days: dt.date) -> list[bool]:
    return [chinese_calendar.is_workday(d) for d in days]


def _dispatch(kit, at: dt.datetime, *, category: str = "T0101", department: str | None = "CG",
              unit: str | None = None, who: str = "jumin", lon: float = 119.1) -> Case:
    """Report, accept and dispatch a case, all at ``at``."""
    case, _ = service.report_case(kit.db, principal=kit.principal(who), channel=Channel.resident,
                                  data={"category_code": category, "description": "限时测试", "lon": lon,
                                        "lat": 31.1}, now=at)
    zhihui = kit.principal("zhihui")
    engine.transition(kit.db, principal=zhihui, case_id=case.id, action="accept", now=at)
    target = {"department": department} if unit is None else {"unit_id": kit.unit(unit).id}
    engine.transition(kit.db, principal=zhihui, case_id=case.id, action="dispatch", payload=target, now=at)
    return case


def _act(kit, who: str, case: Case, action: str, at: dt.datetime, **payload: Any) -> Case:
    return engine.transition(kit.db, principal=kit.principal(who), case_id=case.id, action=action,
                              payload=payload, now=at)


# -- holidays and make-up days ----------------------------------------------------------------------------

def test_a_case_dispatched_on_the_afternoon_before_spring_festival_2026_is_due_after_the_holiday(kit):
    # 2026: 春节 15–23 February; Saturday 14 February is a make-up working day, work resumes on the 24th.
    assert _workdays(D(2026, 2, 14)) == [True] and D(2026, 2, 14).weekday() == 5
    assert _workdays(*(D(2026, 2, d) for d in range(15, 24))) == [False] * 9
    assert chinese_calendar.get_holiday_detail(D(2026, 2, 17)) == (True, "Spring Festival")
    assert _workdays(D(2026, 2, 24), D(2026, 2, 25)) == [True, True]

    c = _dispatch(kit, local(2026, 2, 14, 16, 0))  # 16 working hours
    # 16:00–17:30 on the 14th (1.5 h), the whole 24th (7.5 h), then 7 h on the 25th.
    assert as_local(c.handle_due_at) == local(2026, 2, 25, 17, 0)
    # Accept limit 2 h: 1.5 h before the holiday, 0.5 h after it.
    assert as_local(c.accept_due_at) == local(2026, 2, 24, 9, 0)
    # Warning at 80 % = 12.8 h: 1.5 + 7.5 + 3.8 → 08:30 + 3.5 h is 12:00, + 0.3 h after lunch.
    assert as_local(c.handle_warn_at) == local(2026, 2, 25, 13, 48)


def test_a_make_up_working_weekend_day_counts_as_working_time(kit):
    assert _workdays(D(2026, 2, 13), D(2026, 2, 14)) == [True, True]  # Friday, make-up Saturday
    assert _workdays(D(2025, 9, 26), D(2025, 9, 27), D(2025, 9, 28)) == [True, False, True]  # Fri, Sat, make-up Sun
    c = _dispatch(kit, local(2026, 2, 13, 16, 0), category="T0301")  # 8 working hours
    assert as_local(c.handle_due_at) == local(2026, 2, 14, 16, 30)  # 1.5 h Friday + 6.5 h on the Saturday
    c = _dispatch(kit, local(2025, 9, 26, 16, 0), category="T0301")
    assert as_local(c.handle_due_at) == local(2025, 9, 28, 16, 30)  # Saturday skipped, Sunday worked


@pytest.mark.parametrize("year,last_day,first_back,hours,due", [
    (2025, D(2025, 9, 30), D(2025, 10, 9), 4, (10, 9, 11, 0)),
    (2026, D(2026, 9, 30), D(2026, 10, 8), 4, (10, 8, 11, 0)),
])
def test_national_day_holidays_do_not_count(kit, year, last_day, first_back, hours, due):
    between = [last_day + dt.timedelta(days=i) for i in range(1, (first_back - last_day).days)]
    assert _workdays(last_day, first_back) == [True, True] and not any(_workdays(*between))
    assert chinese_calendar.get_holiday_detail(D(year, 10, 1)) == (True, "National Day")
    c = _dispatch(kit, local(year, 9, 30, 16, 0), category="T0102")  # 4 working hours
    assert as_local(c.handle_due_at) == local(year, *due)  # 1.5 h on 30 Sep + 2.5 h on the first day back


def test_a_natural_hours_category_runs_through_nights_and_holidays(kit):
    c = _dispatch(kit, local(2025, 9, 30, 16, 0), category="T0201", department="SW")  # 24 natural hours
    assert as_local(c.handle_due_at) == local(2025, 10, 1, 16, 0)
    assert as_local(c.accept_due_at) == local(2025, 9, 30, 17, 0)
    assert as_local(c.handle_warn_at) == local(2025, 10, 1, 11, 12)  # 80 % of 24 h = 19.2 h


# -- the sweep --------------------------------------------------------------------------------------------

def _supervisions(kit, case: Case) -> list[tuple[str, int, str, str | None]]:
    rows = kit.db.scalars(select(Supervision).where(Supervision.case_id == case.id)
                          .order_by(Supervision.issued_at, Supervision.kind)).all()
    return [(s.kind, s.round, s.target, s.superior) for s in rows]


def _footprint(kit) -> tuple[int, int, int, int]:
    count = lambda model: kit.db.scalar(select(func.count()).select_from(model))  # noqa: E731
    return count(Supervision), count(Notification), count(CaseEvent), len(kit.fake.sent)


def test_the_sweep_raises_yellow_then_red_then_escalates_and_a_repeat_sweep_adds_nothing(kit):
    c = _dispatch(kit, local(2026, 3, 2, 9, 0))  # Monday, 16 working hours
    assert as_local(c.handle_due_at) == local(2026, 3, 4, 10, 0)
    assert as_local(c.handle_warn_at) == local(2026, 3, 3, 15, 48)  # 12.8 h

    run = lambda at: sweep.sweep_deadlines(kit.db, now=at)  # noqa: E731
    assert vars(run(local(2026, 3, 3, 15, 47))) == {"yellow": 0, "red": 0, "escalated": 0}
    assert c.warning_level == "none"

    kit.fake.sent.clear()
    assert vars(run(local(2026, 3, 3, 15, 48))) == {"yellow": 1, "red": 0, "escalated": 0}
    assert (c.warning_level, c.overdue) == ("yellow", False)
    assert _supervisions(kit, c) == [("yellow", 1, "CG", "command_centre")]
    assert {(m.recipient, m.title) for m in kit.fake.sent} == {("CG", "督办通知"), ("command_centre", "督办抄送")}
    before = _footprint(kit)
    assert vars(run(local(2026, 3, 3, 15, 48))) == {"yellow": 0, "red": 0, "escalated": 0}
    assert _footprint(kit) == before

    assert vars(run(local(2026, 3, 4, 10, 0))) == {"yellow": 0, "red": 1, "escalated": 0}
    assert (c.warning_level, c.overdue) == ("red", True)
    assert _supervisions(kit, c)[-1] == ("red", 1, "CG", "command_centre")
    assert any(n["title"] == "督办通知" and "已超期" in n["body"] for n in kit.notes("bumen"))
    assert any(n["title"] == "督办抄送" and "已超期" in n["body"] for n in kit.notes("zhihui"))
    before = _footprint(kit)
    assert vars(run(local(2026, 3, 4, 10, 0))) == {"yellow": 0, "red": 0, "escalated": 0}
    assert _footprint(kit) == before

    # Escalation after a further 8 working hours: 10:00–17:30 on the 4th is 6 h, then 2 h on the 5th.
    assert vars(run(local(2026, 3, 5, 10, 29))) == {"yellow": 0, "red": 0, "escalated": 0}
    assert vars(run(local(2026, 3, 5, 10, 30))) == {"yellow": 0, "red": 0, "escalated": 1}
    assert _supervisions(kit, c)[-1] == ("escalation", 1, "command_centre", "command_centre")
    before = _footprint(kit)
    assert vars(run(local(2026, 3, 6, 10, 30))) == {"yellow": 0, "red": 0, "escalated": 0}
    assert _footprint(kit) == before

    kit.db.commit()
    assert [e["action"] for e in kit.timeline(c.id)][-3:] == ["warning_yellow", "warning_red", "warning_escalation"]
    assert "warning_red" not in [e["action"] for e in kit.timeline(c.id, who="jumin")]  # internal to staff
    listed = kit.get("bumen", "/supervisions").json()["items"]
    assert sorted(s["kind"] for s in listed if s["case_id"] == str(c.id)) == ["escalation", "red", "yellow"]
    assert [x["id"] for x in kit.get("zhihui", "/cases?overdue=true").json()["items"]] == [str(c.id)]
    stat = kit.db.scalar(select(CaseStat).where(CaseStat.category_code == "T0101"))
    assert stat is not None and stat.overdue == 1
    assert [a.action for a in kit.audit("case.supervision_red", c.id)] == ["case.supervision_red"]


def test_an_overdue_community_case_is_supervised_at_the_community_and_copied_to_its_street(kit):
    c = _dispatch(kit, local(2026, 3, 2, 9, 0), category="T0102", unit="c1")  # 4 h → 14:30
    kit.fake.sent.clear()
    assert sweep.sweep_deadlines(kit.db, now=local(2026, 3, 2, 14, 30)).red == 1
    c1, s1 = kit.unit("c1").code, kit.unit("s1").code
    assert _supervisions(kit, c) == [("red", 1, c1, s1)]
    assert {(m.recipient, m.title) for m in kit.fake.sent} == {(c1, "督办通知"), (s1, "督办抄送")}
    kit.db.commit()
    assert any(n["title"] == "督办抄送" for n in kit.notes("jiedao1"))
    assert any(n["title"] == "督办通知" for n in kit.notes("shequ1"))


def test_cases_not_in_handling_are_left_alone_by_the_sweep(kit):
    waiting = _dispatch(kit, local(2026, 3, 2, 9, 0), category="T0102")
    _act(kit, "bumen", waiting, "start", local(2026, 3, 2, 9, 10))
    _act(kit, "bumen", waiting, "resolve", local(2026, 3, 2, 10, 0), result="已处理")
    returned = _dispatch(kit, local(2026, 3, 2, 9, 0), category="T0102")
    _act(kit, "bumen", returned, "return_case", local(2026, 3, 2, 9, 30), reason="非本部门")
    assert vars(sweep.sweep_deadlines(kit.db, now=local(2026, 3, 9, 9, 0))) == {"yellow": 0, "red": 0,
                                                                                   "escalated": 0}
    assert (waiting.overdue, returned.overdue) == (False, False)


def test_approving_an_extension_after_the_deadline_clears_the_red_light_while_the_new_deadline_is_ahead(kit):
    c = _dispatch(kit, local(2026, 3, 2, 9, 0), category="T0102")  # 4 h → Monday 14:30
    _act(kit, "bumen", c, "start", local(2026, 3, 2, 9, 30))
    assert sweep.sweep_deadlines(kit.db, now=local(2026, 3, 2, 15, 0)).red == 1
    assert (c.warning_level, c.overdue) == ("red", True)

    _act(kit, "bumen", c, "request_extension", local(2026, 3, 2, 15, 10), reason="待配件", hours=8)
    _act(kit, "zhihui", c, "approve_extension", local(2026, 3, 2, 15, 20))
    # 8 working hours from the old deadline: 14:30–17:30 (3 h), then 5 h on Tuesday.
    assert as_local(c.handle_due_at) == local(2026, 3, 3, 15, 0)
    assert (c.state.value, c.warning_level, c.overdue) == ("in_progress", "none", False)
    assert sweep.sweep_deadlines(kit.db, now=local(2026, 3, 3, 14, 59)).red == 0
    assert not c.overdue

    # Overdue again at the new deadline: a second red supervision, not a crash.
    assert sweep.sweep_deadlines(kit.db, now=local(2026, 3, 3, 15, 0)).red == 1
    assert (c.warning_level, c.overdue) == ("red", True)
    reds = [s for s in _supervisions(kit, c) if s[0] == "red"]
    assert [r[1] for r in reds] == [1, 2]


def test_an_extension_that_still_ends_in_the_past_keeps_the_red_light(kit):
    c = _dispatch(kit, local(2026, 3, 2, 9, 0), category="T0102")  # → Monday 14:30
    _act(kit, "bumen", c, "start", local(2026, 3, 2, 9, 30))
    sweep.sweep_deadlines(kit.db, now=local(2026, 3, 4, 9, 0))
    _act(kit, "bumen", c, "request_extension", local(2026, 3, 4, 9, 0), reason="待配件", hours=2)
    _act(kit, "zhihui", c, "approve_extension", local(2026, 3, 4, 9, 5))
    assert as_local(c.handle_due_at) == local(2026, 3, 2, 16, 30)
    assert (c.warning_level, c.overdue) == ("red", True)


def test_a_redispatched_case_can_go_yellow_and_red_again(kit):
    c = _dispatch(kit, local(2026, 3, 2, 9, 0), category="T0102")  # → 14:30, warn at 3.2 h = 13:42
    sweep.sweep_deadlines(kit.db, now=local(2026, 3, 2, 13, 45))
    sweep.sweep_deadlines(kit.db, now=local(2026, 3, 2, 14, 30))
    _act(kit, "bumen", c, "return_case", local(2026, 3, 2, 14, 40), reason="非本部门")
    _act(kit, "zhihui", c, "dispatch", local(2026, 3, 2, 14, 50), department="SW")
    assert (c.warning_level, c.overdue) == ("none", False)
    assert as_local(c.handle_due_at) == local(2026, 3, 3, 9, 50)  # 14:50–17:30 Monday, then 1 h 20 min
    report = sweep.sweep_deadlines(kit.db, now=local(2026, 3, 3, 9, 50))
    assert (report.red, c.overdue) == (1, True)
    assert [(k, r, t) for k, r, t, _ in _supervisions(kit, c)] == [
        ("yellow", 1, "CG"), ("red", 1, "CG"), ("red", 2, "SW")]


# -- restart safety ---------------------------------------------------------------------------------------

def test_cases_and_deadlines_survive_a_restart_and_the_new_process_sweep_still_finds_the_overdue_case(scratch):
    """Real commits on a separate database; the engine is disposed and a new one (and a new app) is built on
    the same database, as after a process restart."""
    from fastapi.testclient import TestClient

    from zhili.app import create_app
    from zhili.cases import dispatch, notify
    from zhili.http.deps import get_db
    from zhili.regions import service as regions_service

    first = scratch.engine()
    with Session(first, expire_on_commit=False) as s:
        w = build_world(s)
        add_taxonomy(s)
        s.commit()
        p = {n: principal_for_user(s, user=u) for n, u in w.users.items()}
        cases = []
        for cat, at in [("T0101", local(2026, 3, 2, 9, 0)), ("T0102", local(2026, 3, 2, 9, 0)),
                        ("T0301", local(2026, 3, 6, 9, 0))]:
            case, _ = service.report_case(s, principal=p["jumin"], channel=Channel.resident, now=at,
                                          data={"category_code": cat, "description": "重启测试", "lon": 119.1,
                                                "lat": 31.1})
            engine.transition(s, principal=p["zhihui"], case_id=case.id, action="accept", now=at)
            engine.transition(s, principal=p["zhihui"], case_id=case.id, action="dispatch", now=at,
                               payload={"department": "CG"})
            cases.append(case)
        # The old process ran one sweep at Monday noon (nothing due yet) and then died holding the lease.
        assert sweep.run_sweep_if_due(s, holder="old-process", now=local(2026, 3, 2, 12, 0)) is not None
        s.commit()
        before = {c.id: (c.number, c.state.value, c.handle_due_at, c.handle_warn_at) for c in cases}
        token = w.tokens["zhihui"]
    first.dispose()
    # Nothing of the old process survives in memory.
    regions_service._locator_cache.clear()
    dispatch._rule_cache.clear()
    notify.set_channels([notify.FakeChannel()])

    second = scratch.engine()
    try:
        with Session(second, expire_on_commit=False) as s:
            after = {c.id: (c.number, c.state.value, c.handle_due_at, c.handle_warn_at)
                     for c in s.scalars(select(Case))}
            assert after == before
            # The dead process's lease (2 × 60 s) still blocks for its remaining time, then the new one runs.
            assert sweep.run_sweep_if_due(s, holder="new-process", now=local(2026, 3, 2, 12, 1)) is None
            report = sweep.run_sweep_if_due(s, holder="new-process", now=local(2026, 3, 4, 10, 0))
            assert report is not None and (report.red, report.yellow) == (2, 0)
            s.commit()
        with Session(second) as s:
            flags = {c.category_code: (c.warning_level, c.overdue) for c in s.scalars(select(Case))}
            assert flags == {"T0101": ("red", True), "T0102": ("red", True), "T0301": ("none", False)}
            assert s.scalar(select(func.count()).select_from(Supervision).where(Supervision.kind == "red")) == 2

        app = create_app()

        def _db() -> Any:
            with Session(second, expire_on_commit=False) as session:
                try:
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise

        app.dependency_overrides[get_db] = _db
        with TestClient(app) as client:
            r = client.get("/api/v1/cases?overdue=true", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            got = {x["number"]: dt.datetime.fromisoformat(x["handle_due_at"]) for x in r.json()["items"]}
            assert got == {n: due for n, _, due, _ in before.values() if due <= local(2026, 3, 4, 10, 0)}
    finally:
        second.dispose()
        notify.set_channels(None)
