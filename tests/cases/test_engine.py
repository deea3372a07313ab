"""The case engine: one implementation of every step for every caller.

Intake's automatic accept-then-dispatch (applied to planned rows in a batch) and a dispatcher's accept-then-dispatch
(applied to a loaded case) must write the same rows; effects never write; several steps are all-or-nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from casekit import local
from sqlalchemy import select

from zhili.cases import dispatch, engine, service, tally
from zhili.cases.actors import SYSTEM_PRINCIPAL
from zhili.cases.models import Case, CaseEvent, CaseStat, Channel, Notification, SubTask
from zhili.cases.workflow import TRANSITIONS
from zhili.core.audit import AuditEvent
from zhili.core.errors import DomainError
from zhili.core.settings import get_settings

T0 = local(2026, 3, 2, 9, 30)
CASE_COLUMNS = ("state", "category_code", "path", "grid_id", "assignee_department", "assignee_unit_id",
                "assignee_path", "escalation_level", "dispatch_rule_id", "is_joint", "accepted_at", "dispatched_at",
                "accept_due_at", "handle_due_at", "handle_warn_at", "verify_due_at", "warning_level", "overdue",
                "updated_at")  # not ``version``: intake inserts the row once, a loaded case is updated per flush


def _rows(kit: Any, case: Case) -> dict[str, Any]:
    """Everything a case's accept-then-dispatch leaves behind, without who did it, ids and the case number."""
    db = kit.db
    db.flush()
    db.expire_all()
    c = db.get(Case, case.id)
    assert c is not None
    events = [(e.seq, e.action, e.from_state, e.to_state, {k: v for k, v in e.payload.items() if k != "rule_id"},
               e.attachment_ids, e.public) for e in db.scalars(select(CaseEvent).where(CaseEvent.case_id == c.id)
                                                             .order_by(CaseEvent.seq))]
    audits = [(a.action, a.before, {k: v for k, v in (a.after or {}).items() if k != "number"})
              for a in db.scalars(select(AuditEvent).where(AuditEvent.object_id == str(c.id))
                                  .order_by(AuditEvent.seq))]
    tasks = sorted((n.recipient, n.title, n.body.replace(c.number, "N")) for n in db.scalars(
        select(Notification).where(Notification.case_id == c.id, Notification.kind == "task")))
    subtasks = sorted((s.department, s.role, s.status) for s in db.scalars(select(SubTask).where(
        SubTask.case_id == c.id)))
    return {"case": {k: getattr(c, k) for k in CASE_COLUMNS}, "events": events, "audits": audits,
            "tasks": tasks, "subtasks": subtasks}


def _report(kit: Any, now: dt.datetime) -> Case:
    case, _ = service.report_case(kit.db, principal=kit.principal("jumin"), channel=Channel.resident, now=now,
                                  data={"category_code": "T0101", "description": "小区门口垃圾堆放三天无人清运",
                                        "lon": 119.1, "lat": 31.1})
    return case


@pytest.mark.parametrize("target", ["department", "unit", "placeholder"])
def test_automatic_dispatch_at_intake_writes_the_same_rows_as_a_dispatchers_accept_then_dispatch(kit, monkeypatch,
                                                                                                target):
    zhihui = kit.principal("zhihui")
    body: dict[str, Any] = {"name": "垃圾→处置", "category_code": "T0101", "handle_hours": 6, "confidence": 1.0}
    body.update({"department": {"target_department": "CG", "co_departments": ["SW", "HB"]},
                 "unit": {"target_unit_id": kit.unit("c1").id},
                 "placeholder": {"target_department": "SQ"}}[target])
    rule = dispatch.create_rule(kit.db, principal=zhihui, data=body)
    kit.db.flush()

    auto = _report(kit, T0)
    assert auto.state.value == "dispatched", "the rule dispatches at intake"

    monkeypatch.setattr(get_settings(), "auto_dispatch_confidence", 1.01)  # the twin waits for a dispatcher
    manual = _report(kit, T0)
    assert manual.state.value == "reported"
    payload: dict[str, Any] = {"rule_id": rule.id, "handle_hours": 6}
    payload.update({"department": body.get("target_department")} if body.get("target_department")
                   else {"unit_id": kit.unit("c1").id})
    if body.get("co_departments"):
        payload["co_departments"] = body["co_departments"]
    engine.take_steps(kit.db, principal=SYSTEM_PRINCIPAL, case_id=manual.id,
                      steps=[("accept", {}), ("dispatch", payload)], now=T0)

    a, m = _rows(kit, auto), _rows(kit, manual)
    assert a == m
    # and what it is, so "equal" cannot mean "equally empty"
    assert [e[1] for e in a["events"]] == ["report", "accept", "dispatch"]
    assert [x[0] for x in a["audits"]] == ["case.report", "case.accept", "case.dispatch"]
    assert a["tasks"] and a["case"]["handle_due_at"] is not None
    if target == "department":
        assert a["subtasks"] == [("CG", "lead", "open"), ("HB", "co", "open"), ("SW", "co", "open")]
    else:
        assert a["case"]["assignee_unit_id"] == kit.unit("c1").id and a["case"]["assignee_department"] is None


def test_the_reporter_hears_once_of_steps_taken_in_one_go(kit):
    """Accept-then-dispatch from the console is one message to the reporter (one SMS), as at intake."""
    c = _report(kit, T0)
    kit.fake.sent.clear()
    engine.take_steps(kit.db, principal=kit.principal("zhihui"), case_id=c.id,
                      steps=[("accept", {}), ("dispatch", {"department": "CG"})])
    to_reporter = [m.title for m in kit.fake.sent if m.user_id == c.reporter_user_id]
    assert to_reporter == ["您反映的问题已受理并派遣处置"]


def test_steps_taken_in_one_go_are_all_or_nothing(kit):
    c = _report(kit, T0)
    with pytest.raises(DomainError) as err:
        engine.take_steps(kit.db, principal=kit.principal("zhihui"), case_id=c.id,
                          steps=[("accept", {}), ("dispatch", {"department": "NOPE"})])
    assert err.value.code == "department_not_found"
    kit.db.expire_all()
    assert kit.db.get(Case, c.id).state.value == "reported"  # the accept was not taken either
    assert [e.action for e in kit.db.scalars(select(CaseEvent).where(CaseEvent.case_id == c.id))] == ["report"]


def test_effects_only_describe_changes_they_never_write(kit):
    """Planning a step changes nothing — not the case, not the session — until the engine applies it."""
    c = _report(kit, T0)
    kit.db.flush()
    before = {k: getattr(c, k) for k in CASE_COLUMNS}
    ctx = engine.request_ctx(kit.db, T0)
    steps = engine.plan_steps(ctx, c, kit.principal("zhihui"),
                              [("accept", {}), ("dispatch", {"department": "CG", "co_departments": ["SW"]})])
    assert [s.after.value for s in steps] == ["accepted", "dispatched"]
    assert steps[1].changes.subtasks == [("CG", "lead"), ("SW", "co")]
    assert {k: getattr(c, k) for k in CASE_COLUMNS} == before
    assert not kit.db.new and not kit.db.dirty


def test_every_row_names_a_guard_and_an_effect_and_the_table_is_readable():
    for t in TRANSITIONS:
        assert callable(t.guard) and callable(t.effect) and t.label
        assert t.guard.__doc__, f"guard of {t.action} says what it checks"


def test_statistics_written_by_steps_equal_a_rebuild_after_the_engine_moves_a_case(kit):
    c = _report(kit, T0)
    engine.take_steps(kit.db, principal=kit.principal("zhihui"), case_id=c.id,
                      steps=[("accept", {}), ("dispatch", {"department": "CG"})])
    kit.db.flush()
    kit.db.expire_all()
    incremental = {(s.path, s.category_code): (s.reported, s.accepted) for s in kit.db.scalars(select(CaseStat))}
    tally.rebuild_stats(kit.db)
    kit.db.expire_all()
    assert {(s.path, s.category_code): (s.reported, s.accepted) for s in kit.db.scalars(select(CaseStat))} \
        == incremental


def _permit_rows(kit: Any, case_id: Any) -> dict[str, Any]:
    """What filing (and stepping) a residence-permit application leaves behind, without ids and the number."""
    db = kit.db
    db.flush()
    db.expire_all()
    c = db.get(Case, case_id)
    assert c is not None
    cols = ("flow", "state", "category_code", "path", "grid_id", "is_public", "attributes", "accept_due_at",
            "accepted_at", "handle_due_at", "handle_warn_at", "assignee_unit_id", "assignee_path", "reporter_user_id")
    events = [(e.seq, e.action, e.from_state, e.to_state, e.payload, e.public) for e in db.scalars(
        select(CaseEvent).where(CaseEvent.case_id == c.id).order_by(CaseEvent.seq))]
    audits = [(a.action, a.before, {k: v for k, v in (a.after or {}).items() if k != "number"})
              for a in db.scalars(select(AuditEvent).where(AuditEvent.object_id == str(c.id))
                                  .order_by(AuditEvent.seq))]
    notes = sorted((n.kind, n.recipient, n.title, n.body.replace(c.number, "N")) for n in db.scalars(
        select(Notification).where(Notification.case_id == c.id)))
    return {"case": {k: getattr(c, k) for k in cols}, "events": events, "audits": audits, "notes": notes}


def test_a_permit_filed_by_the_batch_writer_writes_the_same_rows_as_one_filed_on_the_request_path(kit):
    """The batch writer (intake.file_cases with an event report beside it) and the request path
    (service.report_case) file a residence-permit application alike — and a step on each writes alike."""
    from casekit import add_service_categories

    from zhili.cases import intake
    from zhili.cases.flows import RESIDENCE_PERMIT

    add_service_categories(kit.db)
    jumin = kit.principal("jumin")
    data = {"description": "申请办理居住证", "title": "居住证申领", "lon": 119.1, "lat": 31.1, "is_public": False,
            "system_attributes": {"permit": {"delivery": {"method": "mail"}}}}
    batch = intake.file_cases(kit.db, requests=[
        intake.IntakeRequest(principal=jumin, channel=Channel.resident, now=T0,
                             data={"category_code": "T0101", "description": "垃圾堆放", "lon": 119.1, "lat": 31.1}),
        intake.IntakeRequest(principal=jumin, channel=Channel.resident, data=dict(data), now=T0,
                             flow=RESIDENCE_PERMIT)])
    assert [o.error for o in batch] == [None, None]
    alone, _ = service.report_case(kit.db, principal=jumin, channel=Channel.resident, data=dict(data), now=T0,
                                   flow=RESIDENCE_PERMIT)
    a, b = _permit_rows(kit, batch[1].case_id), _permit_rows(kit, alone.id)
    assert a == b
    assert a["case"]["flow"] == "residence_permit" and a["case"]["accept_due_at"] is not None
    assert ("task", kit.unit("c1").code, "新的居住证申请", "居住证申请 N 待受理。") in a["notes"]
    assert a["audits"][0][2]["flow"] == "residence_permit"
    for cid in (batch[1].case_id, alone.id):
        engine.transition(kit.db, principal=kit.principal("shequ1"), case_id=cid, action="accept", now=T0)
    a, b = _permit_rows(kit, batch[1].case_id), _permit_rows(kit, alone.id)
    assert a == b and a["case"]["handle_due_at"] is not None
    assert {(s.category_code, s.reported) for s in kit.db.scalars(select(CaseStat))} == {("T0101", 1)}
