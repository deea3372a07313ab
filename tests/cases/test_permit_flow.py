"""The residence-permit flow (居住证申领) in the one workflow table: its own rows, taken by the one engine; an event's
steps never apply to a permit application nor a permit's to an event; its statutory deadline (15 working days from
acceptance) is swept like an event's; it is kept out of the event statistics.

Each ``test_path_*`` takes steps through the API with :meth:`casekit.Kit.step` (timeline, audit, chain checked);
the last test checks every row of the flow was taken. The application itself (the stay as evidence) is
``tests/rental/test_permits.py``.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from casekit import CN, add_service_categories, local, uncovered
from sqlalchemy import select

from zhili.cases import engine, service, sweep, tally
from zhili.cases.deadlines import PERMIT_ISSUE_DAYS
from zhili.cases.flows import RESIDENCE_PERMIT, state_label
from zhili.cases.models import Case, CaseStat, CaseState, Channel, Supervision
from zhili.core.errors import DomainError
from zhili.worktime.service import load_calendar

T0 = local(2026, 3, 2, 9, 30)  # a Monday
RAN: set[str] = set()


@pytest.fixture(autouse=True)
def _record(request: Any) -> Any:
    yield
    if request.node.name.startswith("test_path_"):
        RAN.add(request.node.name)


@pytest.fixture
def pk(kit: Any) -> Any:
    add_service_categories(kit.db)
    return kit


def apply(kit: Any, who: str = "jumin", method: str = "mail", now: Any = None) -> Case:
    """A permit application as intake files it (the stay checks are zhili.rental.permits')."""
    channel = Channel.resident if who == "jumin" else None
    case, created = service.report_case(
        kit.db, principal=kit.principal(who), channel=channel, now=now, flow=RESIDENCE_PERMIT,
        data={"description": "申请办理居住证。居住地址：金陵路1号 主卧；已居住7个月。", "title": "居住证申领",
              "lon": 119.1, "lat": 31.1, "is_public": False,
              "system_attributes": {"permit": {"delivery": {"method": method}, "stay": {"months_resident": 7}}}})
    assert created
    kit.db.flush()
    return case


def test_path_applied_accepted_checked_approved_made_and_mailed_zero_trips(pk):
    c = apply(pk)
    assert (c.flow, c.state, c.category_code) == ("residence_permit", CaseState.reported, "FW-0101")
    assert c.is_public is False
    d = pk.detail(c.id)
    assert d["flow"] == "residence_permit" and d["state_label"] == "已申请"
    assert {a["action"] for a in pk.detail(c.id, "shequ1")["actions"]} == {"accept", "reject", "request_correction"}
    assert pk.step("shequ1", c.id, "accept", to="accepted")["state_label"] == "已受理（待核查）"
    case = pk.case(c.id)
    assert case.assignee_unit_id == pk.unit("c1").id, "the community holding the dwelling holds the application"
    assert case.handle_due_at is not None and case.handle_warn_at < case.handle_due_at
    assert any(n["title"] == "居住核查任务" for n in pk.notes("wangge_a")), "the grid is asked to check"
    assert {a["action"] for a in pk.detail(c.id, "wangge_a")["actions"]} == {"verify_residence"}
    pk.refused("wangge_a", c.id, "verify_residence", 422, "payload_required")
    pk.step("wangge_a", c.id, "verify_residence", to="verified", finding="入户核实：申请人实际居住于该房间，与登记一致")
    assert pk.case(c.id).attributes["permit"]["check"]["finding"].startswith("入户核实")
    pk.refused("shequ1", c.id, "approve", 403, "role_not_allowed")  # the police window (street) approves
    pk.step("jiedao1", c.id, "approve", to="in_progress")
    assert pk.detail(c.id)["state_label"] == "制证中"
    pk.refused("jiedao1", c.id, "issue", 422, "payload_required")
    pk.refused("jiedao1", c.id, "issue", 422, "bad_permit_no", permit_no="x")
    pk.step("jiedao1", c.id, "issue", to="resolved", permit_no="330522-2026-000123")
    case = pk.case(c.id)
    assert case.closed_on_time is True and case.attributes["permit"]["permit_no"] == "330522-2026-000123"
    assert pk.detail(c.id)["state_label"] == "已制证"
    pk.refused("shequ1", c.id, "deliver", 422, "tracking_no_required")  # mail, as applied for, needs its number
    pk.step("shequ1", c.id, "deliver", to="closed", tracking_no="SF1234567890")
    case = pk.case(c.id)
    assert case.closed_at is not None and pk.detail(c.id)["state_label"] == "已办结"
    assert case.attributes["permit"]["delivered"] == {**case.attributes["permit"]["delivered"], "method": "mail",
                                                      "tracking_no": "SF1234567890", "zero_trips": True}
    told = [n["title"] for n in pk.notes("jumin") if n.get("case_id") in (str(c.id), None)]
    for title in ("已收到您的居住证申请", "您的居住证申请已受理", "您的居住证已制作完成", "您的居住证申请已办结"):
        assert title in told, (title, told)
    labels = [(e["action"], e["action_label"]) for e in pk.timeline(c.id)]
    assert labels == [("report", "上报"), ("accept", "受理"), ("verify_residence", "居住核查通过"),
                      ("approve", "审批通过"), ("issue", "制证完成"), ("deliver", "送达")]


def test_path_missing_material_goes_back_to_the_applicant_who_resubmits_then_it_is_refused_or_denied(pk):
    c = apply(pk)
    pk.refused("shequ1", c.id, "request_correction", 422, "payload_required")
    pk.step("shequ1", c.id, "request_correction", to="returned", reason="请补充上传劳动合同或就业证明")
    assert pk.detail(c.id)["state_label"] == "待补正"
    assert pk.case(c.id).attributes["permit"]["correction"] == "请补充上传劳动合同或就业证明"
    pk.refused("jumin2", c.id, "resubmit", 404, "not_found")  # another resident does not even see it
    pk.step("jumin", c.id, "resubmit", to="reported", comment="已上传劳动合同")
    assert "correction" not in pk.case(c.id).attributes["permit"]
    pk.step("jiedao1", c.id, "request_correction", to="returned", reason="劳动合同缺少签章页")
    assert pk.case(c.id).attributes["permit"]["corrections"] == 2
    pk.step("shequ1", c.id, "resubmit", to="reported")  # staff resubmit on the applicant's behalf (the desk took it)
    pk.step("jiedao1", c.id, "reject", to="rejected", reason="申请人已在他处办理居住证")
    assert pk.detail(c.id)["state_label"] == "不予办理"

    staff_filed = apply(pk, who="shequ1", method="collect")
    pk.step("shequ1", staff_filed.id, "request_correction", to="returned", reason="缺少近期照片")
    pk.step("wangge_a", staff_filed.id, "resubmit", to="reported")
    pk.step("jiedao1", staff_filed.id, "accept", to="accepted")
    pk.step("jiedao1", staff_filed.id, "deny", to="rejected", reason="经核查申请人未在该处居住")

    checked = apply(pk, method="e_permit")
    pk.step("shequ1", checked.id, "accept", to="accepted")
    pk.step("shequ1", checked.id, "verify_residence", to="verified", finding="社区核实居住")
    pk.step("shequ1", checked.id, "deny", to="rejected", reason="不符合申领条件")
    assert pk.case(checked.id).reject_reason == "不符合申领条件"


def test_path_collected_at_the_desk_by_the_street_and_supervised_like_an_event(pk):
    c = apply(pk, method="collect")
    pk.step("jiedao1", c.id, "accept", to="accepted")
    pk.step("zhihui", c.id, "supervise", message="请加快办理")
    order = pk.db.scalar(select(Supervision).where(Supervision.case_id == c.id))
    assert order is not None and order.target == pk.unit("c1").code
    pk.step("shequ1", c.id, "answer_supervision", reply="已安排网格员核查")
    pk.step("wangge_a", c.id, "verify_residence", to="verified", finding="核实居住")
    pk.step("jiedao1", c.id, "approve", to="in_progress")
    pk.step("jiedao1", c.id, "issue", to="resolved", permit_no="330522-2026-000124")
    pk.step("jiedao1", c.id, "deliver", to="closed")
    assert pk.case(c.id).attributes["permit"]["delivered"]["zero_trips"] is False


def test_an_event_step_is_refused_on_a_permit_application_and_a_permit_step_on_an_event(pk):
    permit = apply(pk)
    event = pk.report()
    for action in ("dispatch", "merge", "start", "resolve", "rate", "close"):
        body = pk.refused("zhihui", permit.id, action, 409, "action_not_in_flow")
        assert "不是居住证申领的办理步骤" in body["message"], body
    for action in ("verify_residence", "approve", "issue", "deliver", "request_correction", "resubmit", "deny"):
        body = pk.refused("shequ1", event, action, 409, "action_not_in_flow")
        assert "不是事件的办理步骤" in body["message"], body
    # a shared action name takes its own flow's row: the permit's accept sets the statutory deadline
    pk.step("shequ1", permit.id, "accept", to="accepted")
    pk.step("zhihui", event, "accept", to="accepted")
    assert pk.case(permit.id).handle_due_at is not None and pk.case(event["id"]).handle_due_at is None


def test_a_service_category_is_never_an_event_and_an_event_category_never_a_permit(pk):
    r = pk.post("jumin", "/cases", json={"category_code": "FW-0101", "description": "申请居住证", "lon": 119.1,
                                         "lat": 31.1})
    assert (r.status_code, r.json()["code"]) == (422, "category_not_in_flow")
    with pytest.raises(DomainError) as err:
        service.report_case(pk.db, principal=pk.principal("jumin"), channel=Channel.resident, flow=RESIDENCE_PERMIT,
                            data={"category_code": "T0101", "description": "垃圾", "lon": 119.1, "lat": 31.1})
    assert err.value.code == "category_not_in_flow"
    with pytest.raises(DomainError) as err:
        service.report_case(pk.db, principal=pk.principal("jumin"), channel=Channel.resident, flow="nope",
                            data={"description": "x", "lon": 119.1, "lat": 31.1})
    assert err.value.code == "unknown_flow"


def test_the_statutory_limit_is_15_working_days_from_acceptance_and_the_sweep_warns_supervises_and_escalates(pk):
    c = apply(pk, now=T0)
    engine.transition(pk.db, principal=pk.principal("shequ1"), case_id=c.id, action="accept", now=T0)
    case = pk.case(c.id)
    cal = load_calendar(pk.db)
    assert PERMIT_ISSUE_DAYS == 15
    assert case.handle_due_at == cal.add_working_days(T0, 15)
    assert case.handle_due_at.astimezone(T0.tzinfo) == local(2026, 3, 23, 9, 30)  # three working weeks on
    stats_before = {(s.path, s.category_code, s.overdue) for s in pk.db.scalars(select(CaseStat))}

    assert sweep.sweep_deadlines(pk.db, now=case.handle_warn_at).yellow == 1
    assert pk.case(c.id).warning_level == "yellow"
    rep = sweep.sweep_deadlines(pk.db, now=case.handle_due_at)
    assert rep.red == 1 and pk.case(c.id).overdue is True
    orders = list(pk.db.scalars(select(Supervision).where(Supervision.case_id == c.id).order_by(Supervision.issued_at)))
    assert [(o.kind, o.target) for o in orders] == [("yellow", pk.unit("c1").code), ("red", pk.unit("c1").code)]
    assert all("居住证申请" in o.message for o in orders)
    late = cal.add_working_hours(case.handle_due_at, 100)
    assert sweep.sweep_deadlines(pk.db, now=late).escalated == 1
    assert pk.db.scalar(select(Supervision.target).where(Supervision.case_id == c.id,
                                                         Supervision.kind == "escalation")) == pk.unit("s1").code
    # the permit is no event: its overdue is not an event KPI
    assert {(s.path, s.category_code, s.overdue) for s in pk.db.scalars(select(CaseStat))} == stats_before
    # issued late: recorded as not on time; the sweep leaves an issued permit alone
    engine.transition(pk.db, principal=pk.principal("wangge_a"), case_id=c.id, action="verify_residence",
                      payload={"finding": "核实"}, now=late)
    assert sweep.sweep_deadlines(pk.db, now=late).escalated == 0  # in the flow's deadline states: already done
    engine.transition(pk.db, principal=pk.principal("jiedao1"), case_id=c.id, action="approve", now=late)
    engine.transition(pk.db, principal=pk.principal("jiedao1"), case_id=c.id, action="issue",
                      payload={"permit_no": "330522-2026-000200"}, now=late)
    assert pk.case(c.id).closed_on_time is False
    n = pk.db.scalar(select(Supervision.id).where(Supervision.case_id == c.id).order_by(Supervision.issued_at.desc()))
    sweep.sweep_deadlines(pk.db, now=cal.add_working_hours(late, 200))
    assert pk.db.scalar(select(Supervision.id).where(Supervision.case_id == c.id)
                        .order_by(Supervision.issued_at.desc())) == n


def test_permit_applications_stay_out_of_the_event_statistics_and_a_rebuild_agrees(pk):
    event = pk.report()
    permit = apply(pk)
    engine.transition(pk.db, principal=pk.principal("shequ1"), case_id=permit.id, action="accept")
    pk.db.flush()
    pk.db.expire_all()
    rows = {(s.category_code, s.reported, s.accepted) for s in pk.db.scalars(select(CaseStat))}
    assert rows == {("T0101", 1, 0)}, "only the event is counted"
    tally.rebuild_stats(pk.db)
    pk.db.expire_all()
    assert {(s.category_code, s.reported, s.accepted) for s in pk.db.scalars(select(CaseStat))} == rows
    from zhili.cases.stats import live_open

    assert live_open(pk.db, path=pk.unit("district").path).open == 1
    assert pk.detail(event["id"])["flow"] == "event"


def test_state_names_differ_per_flow_only_where_the_flow_says_so():
    assert state_label("residence_permit", "resolved") == "已制证"
    assert state_label("event", "resolved") == "处置完成"
    assert state_label("residence_permit", "merged") == state_label("event", "merged")


def test_zz_every_row_of_the_permit_flow_was_exercised():
    module = sys.modules[__name__]
    paths = {n for n in dir(module) if n.startswith("test_path_")}
    if not paths <= RAN:
        pytest.skip(f"run the whole module to check coverage (not run: {sorted(paths - RAN)})")
    missing = [m for m in uncovered(RESIDENCE_PERMIT) if not m.startswith(("supervise", "answer_supervision"))]
    assert not missing, "rows never exercised:\n" + "\n".join(missing)
    assert CN  # messages are Chinese (checked per refusal above)
