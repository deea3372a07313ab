"""Every row of the workflow table, walked through the HTTP API.

Each successful step is checked by :meth:`Kit.step`: the response state, the timeline event (action, from/to
state, actor), the audit event ``case.<action>`` and an intact audit chain. The last test checks that the
paths below took every row of ``zhili.cases.workflow.TRANSITIONS`` at least once.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import threading
import uuid
from typing import Any

import pytest
from casekit import CN, EXERCISED, add_taxonomy, build_world, rows_for, uncovered
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from zhili.cases import engine, service, tally
from zhili.cases.models import Case, CaseEvent, Channel, Supervision
from zhili.core.errors import Conflict
from zhili.users.models import User
from zhili.users.service import principal_for_user
from zhili.worktime.service import load_calendar

RAN: set[str] = set()


@pytest.fixture(autouse=True)
def _mark(request: pytest.FixtureRequest) -> None:
    RAN.add(request.node.originalname)


# -- the main paths ---------------------------------------------------------------------------------------

def test_path_resident_report_is_accepted_dispatched_to_a_department_handled_verified_rated_and_closed(kit):
    c = kit.report("jumin")
    assert c["state"] == "reported" and c["accept_due_at"] is not None
    kit.step("zhihui", c, "accept", to="accepted")
    d = kit.step("zhihui", c, "dispatch", to="dispatched", department="CG")
    assert d["assignee_department"] == "CG" and d["assignee_department_name"] == "城管局"
    assert d["handle_due_at"] is not None and d["dispatched_at"] is not None
    kit.step("bumen", c, "start", to="in_progress")
    r = kit.step("bumen", c, "resolve", to="resolved", result="已清运并消毒")
    assert r["resolution"] == "已清运并消毒" and r["verify_due_at"] is not None
    kit.step("wangge_a", c, "verify", to="verified")
    r = kit.step("jumin", c, "rate", to="rated", rating=5, comment="很及时")
    assert (r["rating"], r["rating_comment"]) == (5, "很及时")
    r = kit.step("zhihui", c, "close", to="closed")
    assert r["closed_on_time"] is True and r["closed_at"] is not None

    titles = [n["title"] for n in kit.notes("jumin") if n["case_id"] == c["id"]]
    for t in ("已收到您反映的问题", "您反映的问题已受理", "您反映的问题已派遣处置", "您反映的问题已处置完成",
              "您反映的问题已办结"):
        assert t in titles
    jumin_id = kit.user("jumin").id
    assert any(m.user_id == jumin_id and m.title == "您反映的问题已办结" for m in kit.fake.sent)
    assert any(m.recipient == "CG" and m.title == "新派遣事件" for m in kit.fake.sent)
    assert [e["action"] for e in kit.timeline(c["id"])] == ["report", "accept", "dispatch", "start", "resolve",
                                                           "verify", "rate", "close"]


def test_path_reject_requires_a_reason_and_tells_the_reporter(kit):
    c = kit.report("jumin")
    err = kit.refused("shequ1", c, "reject", 422, "payload_required")
    assert err["details"]["missing"] == ["reason"] and re.search(CN, err["message"])
    r = kit.step("shequ1", c, "reject", to="rejected", reason="不属于本平台受理范围，请拨打物业电话")
    assert r["reject_reason"].startswith("不属于本平台") and r["closed_at"] is not None
    note = [n for n in kit.notes("jumin") if n["title"] == "您反映的问题不予受理"]
    assert len(note) == 1 and "物业电话" in note[0]["body"]
    kit.refused("zhihui", c, "accept", 409, "transition_not_allowed")


def test_path_duplicates_are_merged_into_a_master_whose_updates_reach_the_duplicates_reporter(kit):
    master = kit.report("jumin")
    dup = kit.report("jumin2", lon=119.1005, description="路口垃圾没人清理")
    assert dup["duplicate_candidates"] == []  # a resident is never shown other people's cases
    assert master["id"] in [d["id"] for d in kit.get("jiedao1", f"/cases/{dup['id']}/duplicates").json()]

    err = kit.refused("jiedao1", dup, "merge", 422, "payload_required")
    assert err["details"]["missing"] == ["master_id"]
    kit.refused("jiedao1", dup, "merge", 422, "bad_master", master_id=dup["id"])
    r = kit.step("jiedao1", dup, "merge", to="merged", master_id=master["id"])
    assert r["master_case_id"] == master["id"] and r["closed_at"] is not None
    shown = kit.detail(master["id"])
    assert (shown["merged_count"], shown["support_count"]) == (1, 0)  # a merged case is no resident's 附议

    kit.step("zhihui", master, "accept", to="accepted")
    dup2 = kit.report("jumin2", lon=119.1003, description="垃圾堆放")
    kit.step("zhihui", dup2, "accept", to="accepted")
    kit.step("zhihui", dup2, "merge", to="merged", master_id=master["id"])
    kit.refused("zhihui", dup2, "dispatch", 409, "transition_not_allowed", department="CG")
    # A merged case cannot be a master.
    kit.refused("zhihui", kit.report("jumin"), "merge", 422, "bad_master", master_id=dup["id"])

    kit.fake.sent.clear()
    kit.step("zhihui", master, "dispatch", department="CG")
    kit.step("bumen", master, "start")
    kit.step("bumen", master, "resolve", result="已清运")
    jumin2 = kit.user("jumin2").id
    for case in (dup, dup2):
        sent = [m.title for m in kit.fake.sent if m.user_id == jumin2 and str(m.case_id) == case["id"]]
        assert sent == ["您反映的问题已派遣处置", "您反映的问题已处置完成"]
        inbox = [n for n in kit.notes("jumin2") if n["case_id"] == case["id"]]
        assert any("已清运" in n["body"] for n in inbox)
    assert kit.detail(dup["id"], who="jumin2")["state"] == "merged"


def test_path_community_unit_dispatch_with_extension_denied_then_approved_then_returned_and_redispatched(kit):
    c = kit.report("jumin")
    kit.step("zhihui", c, "accept")
    d = kit.step("zhihui", c, "dispatch", to="dispatched", unit_id=kit.unit("c1").id)
    assert d["assignee_unit_id"] == str(kit.unit("c1").id) and d["assignee_department"] is None
    assert d["escalation_level"] == "community"
    assert any(m.recipient == kit.unit("c1").code and m.title == "新派遣事件" for m in kit.fake.sent)
    kit.step("shequ1", c, "start", to="in_progress")

    err = kit.refused("shequ1", c, "request_extension", 422, "payload_required", reason="需协调施工队")
    assert err["details"]["missing"] == ["hours"]
    kit.step("shequ1", c, "request_extension", to="extension_requested", reason="需协调施工队", hours=8)
    due = kit.case(c["id"]).handle_due_at
    kit.refused("zhihui", c, "deny_extension", 422, "payload_required")
    kit.step("zhihui", c, "deny_extension", to="in_progress", reason="可先行处置")
    assert kit.case(c["id"]).handle_due_at == due

    kit.step("shequ1", c, "request_extension", to="extension_requested", reason="材料未到", hours=8)
    kit.step("zhihui", c, "approve_extension", to="in_progress")
    new_due = kit.case(c["id"]).handle_due_at
    assert new_due == load_calendar(kit.db).add_working_hours(due, 8)
    assert load_calendar(kit.db).working_hours_between(due, new_due) == pytest.approx(8)

    kit.refused("shequ1", c, "return_case", 422, "payload_required")
    r = kit.step("shequ1", c, "return_case", to="returned", reason="不属于社区职责，应由水务处理")
    assert r["assignee_unit_id"] is None and r["handle_due_at"] is None
    assert any(n["title"] == "事件被退回" for n in kit.notes("zhihui"))
    r = kit.step("zhihui", c, "dispatch", to="dispatched", department="SW")
    assert r["assignee_department"] == "SW" and r["handle_due_at"] is not None
    kit.step("bumen_sw", c, "start", to="in_progress")
    kit.step("bumen_sw", c, "return_case", to="returned", reason="仍不属于水务")


def test_path_escalation_goes_community_to_street_to_district_and_is_dispatched_by_street_then_centre(kit):
    c = kit.report("jumin")
    kit.step("zhihui", c, "accept")
    kit.step("zhihui", c, "dispatch", unit_id=kit.unit("c1").id)
    kit.refused("shequ1", c, "escalate", 422, "payload_required")
    r = kit.step("shequ1", c, "escalate", to="escalated", reason="涉及多个社区，需街道协调（吹哨）")
    assert r["escalation_level"] == "street" and r["assignee_unit_id"] == str(kit.unit("s1").id)
    assert any(n["title"].startswith("下级上报事件") for n in kit.notes("jiedao1"))
    # The street that was whistled dispatches — here to itself, to handle it at street level.
    r = kit.step("jiedao1", c, "dispatch", to="dispatched", unit_id=kit.unit("s1").id)
    assert r["escalation_level"] == "street"
    kit.step("jiedao1", c, "start", to="in_progress")
    r = kit.step("jiedao1", c, "escalate", to="escalated", reason="需区级部门执法")
    assert r["escalation_level"] == "district" and r["assignee_unit_id"] is None
    assert any(n["title"] == "事件上报至区级" for n in kit.notes("zhihui"))
    err = kit.refused("jiedao1", c, "dispatch", 403, "guard_failed", department="GA")
    assert re.search(CN, err["message"])
    r = kit.step("zhihui", c, "dispatch", to="dispatched", department="GA")
    assert r["assignee_department"] == "GA"
    kit.step("bumen_ga", c, "start")
    kit.step("bumen_ga", c, "resolve", to="resolved", result="已处理")
    kit.step("shequ1", c, "verify", to="verified")
    kit.step("jiedao1", c, "close", to="closed")


def test_path_grid_worker_handles_sends_back_and_escalates_its_own_grid_cases(kit):
    c = kit.report("jumin")
    kit.step("zhihui", c, "accept")
    kit.step("zhihui", c, "dispatch", unit_id=kit.unit("ga").id)
    kit.refused("wangge_b", c, "start", 404, "not_found")  # another grid does not even see it
    kit.step("wangge_a", c, "start", to="in_progress")
    kit.step("wangge_a", c, "resolve", to="resolved", result="已协调物业清理")
    kit.step("wangge_a", c, "send_back", to="in_progress", reason="复查仍有残留")
    kit.step("wangge_a", c, "escalate", to="escalated", reason="物业不配合")
    assert kit.detail(c["id"])["escalation_level"] == "street"
    kit.step("jiedao1", c, "dispatch", to="dispatched", department="CG")
    kit.step("bumen", c, "start")

    c2 = kit.report("jumin")
    kit.step("zhihui", c2, "accept")
    kit.step("zhihui", c2, "dispatch", unit_id=kit.unit("ga").id)
    kit.step("wangge_a", c2, "escalate", to="escalated", reason="网格无力处置")
    kit.step("zhihui", c2, "dispatch", to="dispatched", department="CG")


def test_path_joint_case_lead_cannot_resolve_until_every_co_handler_completes_its_subtask(kit):
    c = kit.report("jumin", category="T0201", description="井盖破损，路面塌陷",
                   attributes={"material": "铸铁", "diameter_cm": 70})
    kit.step("zhihui", c, "accept")
    r = kit.step("zhihui", c, "dispatch", to="dispatched", department="CG", co_departments=["SW", "GA"])
    assert r["is_joint"] is True
    assert {(s["department"], s["role"], s["status"]) for s in r["subtasks"]} == {
        ("CG", "lead", "open"), ("SW", "co", "open"), ("GA", "co", "open")}
    assert {m.recipient for m in kit.fake.sent if m.title == "新协办事件"} == {"SW", "GA"}
    assert c["id"] in [x["id"] for x in kit.get("bumen_sw", "/cases").json()["items"]]

    err = kit.refused("bumen_sw", c, "start", 403, "guard_failed")  # another department tries to start
    assert re.search(CN, err["message"])
    kit.refused("bumen_ga", c, "complete_subtask", 422, "payload_required")
    kit.step("bumen_ga", c, "complete_subtask", to="dispatched", result="已设置警示围挡")
    kit.refused("bumen_ga", c, "complete_subtask", 403, "guard_failed", result="again")
    kit.refused("bumen", c, "complete_subtask", 403, "guard_failed", result="lead is not a co-handler")
    kit.step("bumen", c, "start", to="in_progress")
    err = kit.refused("bumen", c, "resolve", 403, "guard_failed", result="已更换井盖")
    assert "SW" in err["message"] and "GA" not in err["message"]
    kit.step("bumen_sw", c, "complete_subtask", to="in_progress", result="已疏通排水")
    r = kit.step("bumen", c, "resolve", to="resolved", result="已更换井盖")
    assert {s["department"]: s["status"] for s in r["subtasks"]} == {"CG": "open", "SW": "done", "GA": "done"}
    assert kit.timeline(c["id"])[-2]["action"] == "complete_subtask"


def test_a_joint_case_escalated_and_redispatched_without_co_handlers_is_no_longer_joint(kit):
    c = kit.report("jumin")
    kit.step("zhihui", c, "accept")
    r = kit.step("zhihui", c, "dispatch", unit_id=kit.unit("c1").id, co_departments=["SW"])
    assert r["is_joint"] is True and [s["department"] for s in r["subtasks"]] == ["SW"]
    kit.step("shequ1", c, "escalate", to="escalated", reason="需街道协调（吹哨）")
    r = kit.step("jiedao1", c, "dispatch", to="dispatched", unit_id=kit.unit("s1").id)
    assert r["is_joint"] is False and r["subtasks"] == []  # the re-dispatch replaced the sub-tasks


def test_path_the_reporter_sends_back_then_verifies_and_rates_their_own_case(kit):
    c = kit.dispatched("jumin")
    kit.step("bumen", c, "start")
    kit.step("bumen", c, "resolve", result="已清理")
    kit.refused("jumin2", c, "verify", 404, "not_found")
    kit.refused("jumin", c, "send_back", 422, "payload_required")
    r = kit.step("jumin", c, "send_back", to="in_progress", reason="现场还有垃圾")
    assert r["resolved_at"] is None
    assert any(m.recipient == "CG" and m.title == "核查不通过" for m in kit.fake.sent)
    kit.step("bumen", c, "resolve", to="resolved", result="已彻底清理")
    kit.step("jumin", c, "verify", to="verified")
    err = kit.refused("zhihui", c, "rate", 403, "guard_failed", rating=3)  # the resident rates their own case
    assert re.search(CN, err["message"])
    assert kit.act("jumin", c, "rate", rating=6).status_code == 422
    assert kit.act("jumin", c, "rate", rating=0).status_code == 422
    kit.refused("jumin", c, "rate", 422, "payload_required")
    kit.step("jumin", c, "rate", to="rated", rating=1)
    kit.step("shequ1", c, "close", to="closed")


def test_path_hotline_case_is_rated_by_the_command_centre_follow_up_call(kit):
    c = kit.report("zhihui", channel="hotline", reporter_name="王秀英", reporter_phone="13957001234",
                   external_id="12345-2026-0001")
    assert c["channel"] == "hotline"
    kit.step("zhihui", c, "accept")
    kit.step("zhihui", c, "dispatch", department="CG")
    kit.step("bumen", c, "start")
    kit.step("bumen", c, "resolve", result="已清运")
    kit.step("zhihui", c, "verify", to="verified")
    r = kit.step("zhihui", c, "rate", to="rated", rating=4, comment="回访：基本满意")
    assert r["rating"] == 4
    kit.step("zhihui", c, "close", to="closed")
    # The caller has no account: updates went out by SMS to the phone given to the hotline.
    sms = [m for m in kit.fake.sent if str(m.case_id) == c["id"] and m.phone]
    assert sms and all(m.phone == "13957001234" and m.user_id is None for m in sms)


def test_path_reopen_within_the_window_by_reporter_and_centre_and_refused_after_it(kit):
    c = kit.dispatched("jumin")
    for who, action, extra in [("bumen", "start", {}), ("bumen", "resolve", {"result": "已处理"}),
                               ("jumin", "verify", {}), ("jumin", "rate", {"rating": 2}),
                               ("zhihui", "close", {})]:
        kit.step(who, c, action, **extra)
    kit.refused("jumin", c, "reopen", 422, "payload_required")
    kit.refused("jumin2", c, "reopen", 404, "not_found", reason="不是我的")
    r = kit.step("jumin", c, "reopen", to="accepted", reason="问题再次出现")
    assert r["reopen_count"] == 1 and r["closed_at"] is None and r["rating"] is None
    assert r["assignee_department"] is None and r["handle_due_at"] is None
    kit.step("zhihui", c, "dispatch", department="CG")
    kit.step("bumen", c, "start")
    kit.step("bumen", c, "resolve", result="已再次处理")
    kit.step("zhihui", c, "verify")
    kit.step("zhihui", c, "close")
    r = kit.step("zhihui", c, "reopen", to="accepted", reason="回访发现未解决")
    assert r["reopen_count"] == 2
    kit.step("zhihui", c, "dispatch", department="CG")
    kit.step("bumen", c, "start")
    kit.step("bumen", c, "resolve", result="第三次处理")
    kit.step("zhihui", c, "verify")
    kit.step("zhihui", c, "close")

    kit.db.execute(update(Case).where(Case.id == uuid.UUID(c["id"]))
                   .values(closed_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=8)))
    kit.db.commit()
    err = kit.refused("jumin", c, "reopen", 403, "guard_failed", reason="又坏了")
    assert "7天" in err["message"]
    kit.refused("zhihui", c, "reopen", 403, "guard_failed", reason="又坏了")


def test_path_supervision_by_leader_and_centre_on_open_cases_only(kit):
    c = kit.dispatched("jumin")
    kit.refused("lingdao", c, "supervise", 422, "payload_required")
    r = kit.step("lingdao", c, "supervise", to="dispatched", message="请于今日内处置完毕")
    assert r["state"] == "dispatched"
    kit.step("bumen", c, "start")
    kit.step("zhihui", c, "supervise", to="in_progress", message="再次督办")
    rows = kit.db.scalars(select(Supervision).where(Supervision.case_id == uuid.UUID(c["id"]))
                          .order_by(Supervision.round)).all()
    assert [(s.kind, s.round, s.target, s.issued_by) for s in rows] == [
        ("manual", 1, "CG", "lingdao"), ("manual", 2, "CG", "zhihui")]
    inbox = [n for n in kit.notes("bumen") if n["title"] == "督办通知"]
    assert len(inbox) == 2 and "今日内" in inbox[-1]["body"]
    items = kit.get("bumen", "/supervisions").json()["items"]
    assert {i["round"] for i in items if i["case_id"] == c["id"]} == {1, 2}
    kit.refused("bumen", c, "supervise", 403, "role_not_allowed", message="自己督办自己")

    fresh = kit.report("jumin")
    kit.step("zhihui", fresh, "supervise", to="reported", message="请尽快受理")
    kit.step("zhihui", fresh, "reject", reason="重复反映")
    kit.refused("zhihui", fresh, "supervise", 409, "transition_not_allowed", message="已办结不能督办")


def test_path_a_supervision_order_is_answered_by_its_addressee_and_leaves_the_open_list(kit):
    c = kit.dispatched("jumin")
    kit.step("lingdao", c, "supervise", message="请于今日内处置完毕")
    kit.refused("bumen", c, "answer_supervision", 422, "payload_required")
    err = kit.refused("zhihui", c, "answer_supervision", 403, "guard_failed", reply="代为反馈")
    assert "没有发给您" in err["message"]  # the order went to the department, not to the centre
    kit.refused("jumin", c, "answer_supervision", 403, "role_not_allowed", reply="我来反馈")
    kit.step("bumen", c, "answer_supervision", to="dispatched", reply="已安排人员今日处置")
    [order] = kit.db.scalars(select(Supervision).where(Supervision.case_id == uuid.UUID(c["id"]))).all()
    assert (order.acknowledged_by, order.reply) == ("bumen", "已安排人员今日处置")
    assert order.acknowledged_at is not None
    assert kit.timeline(c["id"])[-1]["comment"] == "已安排人员今日处置"
    assert [i for i in kit.get("bumen", "/supervisions").json()["items"] if i["case_id"] == c["id"]] == []
    answered = kit.get("zhihui", "/supervisions", params={"open_only": "false"}).json()["items"]
    assert [(i["acknowledged_by"], i["reply"]) for i in answered if i["case_id"] == c["id"]] == [
        ("bumen", "已安排人员今日处置")]
    assert [n["body"] for n in kit.notes("zhihui") if n["title"] == "督办反馈"] == [
        f"事件 {c['number']}：已安排人员今日处置"]
    # nothing is left to answer until the next order
    kit.refused("bumen", c, "answer_supervision", 403, "guard_failed", reply="再次反馈")
    kit.step("bumen", c, "start")
    kit.step("zhihui", c, "supervise", message="再次督办")
    kit.step("bumen", c, "answer_supervision", to="in_progress", reply="预计明日完成")
    assert kit.db.scalar(select(func.count()).select_from(Supervision).where(
        Supervision.case_id == uuid.UUID(c["id"]), Supervision.acknowledged_at.is_(None))) == 0


# -- refusals ---------------------------------------------------------------------------------------------

def test_an_action_not_allowed_in_the_current_state_is_409_with_a_chinese_message(kit):
    c = kit.report("jumin")
    err = kit.refused("zhihui", c, "resolve", 409, "transition_not_allowed", result="x")
    assert "已上报" in err["message"] and re.search(CN, err["message"])
    assert err["details"] == {"state": "reported", "action": "resolve"}
    kit.refused("zhihui", c, "close", 409, "transition_not_allowed")
    kit.refused("zhihui", c, "approve_extension", 409, "transition_not_allowed")


def test_a_role_not_in_the_row_is_403_role_not_allowed(kit):
    c = kit.report("jumin")
    err = kit.refused("jumin", c, "accept", 403, "role_not_allowed")
    assert re.search(CN, err["message"])
    assert set(err["details"]["allowed_roles"]) == {"command_centre", "street_staff", "community_staff"}
    kit.refused("lingdao", c, "accept", 403, "role_not_allowed")
    kit.refused("wangge_a", c, "accept", 403, "role_not_allowed")
    kit.step("zhihui", c, "accept")
    kit.refused("jiedao1", c, "dispatch", 403, "role_not_allowed", department="CG")


def test_a_failing_guard_is_403_guard_failed(kit):
    c = kit.dispatched("jumin")
    err = kit.refused("jiedao1", c, "start", 403, "guard_failed")  # sees it (its area) but is not the assignee
    assert "未派给您" in err["message"]
    kit.refused("jiedao2", c, "accept", 404, "not_found")  # outside its area: existence does not leak


def test_an_unknown_action_is_422(kit):
    c = kit.report("jumin")
    r = kit.act("zhihui", c, "teleport")
    assert (r.status_code, r.json()["code"]) == (422, "unknown_action")
    assert kit.state(c["id"]) == "reported"


def test_a_stale_version_in_the_body_is_409_version_conflict(kit):
    c = kit.report("jumin")
    v = c["version"]
    a = kit.act("zhihui", c, "accept", version=v)
    assert a.status_code == 200 and a.json()["version"] > v
    r = kit.act("jiedao1", c, "reject", version=v, reason="晚了一步")
    assert (r.status_code, r.json()["code"]) == (409, "version_conflict")
    assert r.json()["details"]["current_version"] == a.json()["version"]
    assert kit.state(c["id"]) == "accepted"
    assert kit.act("zhihui", c, "dispatch", version=a.json()["version"], department="CG").status_code == 200


def _seed_dispatched_case(scratch: Any) -> tuple[Any, uuid.UUID, dict[str, uuid.UUID]]:
    eng = scratch.engine()
    with Session(eng) as s:
        w = build_world(s)
        add_taxonomy(s)
        s.commit()
        p = {n: principal_for_user(s, user=u) for n, u in w.users.items()}
        case, _ = service.report_case(s, principal=p["jumin"], channel=Channel.resident,
                                      data={"category_code": "T0101", "description": "垃圾", "lon": 119.1,
                                            "lat": 31.1})
        engine.transition(s, principal=p["zhihui"], case_id=case.id, action="accept")
        engine.transition(s, principal=p["zhihui"], case_id=case.id, action="dispatch",
                           payload={"department": "CG"})
        s.commit()
        return eng, case.id, {n: u.id for n, u in w.users.items()}


def _attempt(session: Session, who: Any, case_id: uuid.UUID, action: str, outcome: dict[str, str]) -> None:
    try:
        engine.transition(session, principal=who, case_id=case_id, action=action, payload={})
        session.commit()
        outcome[threading.current_thread().name] = "ok"
    except (Conflict, engine.TransitionNotAllowed) as exc:
        session.rollback()
        outcome[threading.current_thread().name] = exc.code
    except Exception as exc:  # noqa: BLE001 - any other outcome is reported by the assertion on it
        session.rollback()
        outcome[threading.current_thread().name] = f"{type(exc).__name__}: {str(exc)[:300]}"


def _assert_exactly_one_started(eng: Any, case_id: uuid.UUID, outcome: dict[str, str], losers: set[str]) -> None:
    from zhili.core.audit import AuditEvent, verify_chain

    assert len(outcome) == 2 and list(outcome.values()).count("ok") == 1, outcome
    assert {o for o in outcome.values() if o != "ok"} <= losers, outcome
    with Session(eng) as s:
        case = s.get(Case, case_id)
        assert case is not None and case.state.value == "in_progress"
        events = s.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case_id)
                           .order_by(CaseEvent.seq)).all()
        assert list(events) == ["report", "accept", "dispatch", "start"]
        n = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "case.start"))
        assert n == 1 and verify_chain(s).ok


def test_a_session_holding_an_older_version_of_the_case_loses_to_one_that_committed_first(scratch):
    """Two sessions on their own connections: B read the case (version N), then A started it and committed;
    B's own start — from its stale copy — is refused with version_conflict and leaves nothing behind."""
    eng, case_id, uid = _seed_dispatched_case(scratch)
    try:
        with Session(eng) as s:
            who = principal_for_user(s, user=s.get(User, uid["bumen"]))
        outcome: dict[str, str] = {}
        with Session(eng, expire_on_commit=False) as b:
            seen = service.get_case(b, principal=who, case_id=case_id)
            b.commit()  # B's page is rendered; its copy still says "dispatched", version N
            with Session(eng, expire_on_commit=False) as a:
                _attempt(a, who, case_id, "start", outcome)
            outcome["A"] = outcome.pop(threading.current_thread().name)
            assert seen.state.value == "dispatched"
            _attempt(b, who, case_id, "start", outcome)
        assert outcome[threading.current_thread().name] == "version_conflict"
        _assert_exactly_one_started(eng, case_id, outcome, {"version_conflict"})
    finally:
        eng.dispose()


def test_two_concurrent_transactions_starting_the_same_case_exactly_one_wins(scratch, monkeypatch):
    """Two threads, each with its own session and connection, start the same case at the same time: one
    commits, the other gets a 409 and changes nothing. On PostgreSQL both have read the case before either
    writes (a barrier holds them), so the loser trips the optimistic version check; SQLite serialises writers
    at BEGIN, so the loser sees the winner's result and the transition is no longer allowed."""
    eng, case_id, uid = _seed_dispatched_case(scratch)
    try:
        with Session(eng) as s:
            who = principal_for_user(s, user=s.get(User, uid["bumen"]))
        losers = {"transition_not_allowed"}
        if eng.dialect.name == "postgresql":
            losers = {"version_conflict"}
            both_loaded = threading.Barrier(2, timeout=20)
            real_ctx = engine.request_ctx

            def ctx_after_both_loaded(session: Session, now: Any = None) -> Any:  # in take_steps: the case is loaded
                both_loaded.wait()
                return real_ctx(session, now)

            monkeypatch.setattr(engine, "request_ctx", ctx_after_both_loaded)
        outcome: dict[str, str] = {}

        def run() -> None:
            with Session(eng, expire_on_commit=False) as s:
                _attempt(s, who, case_id, "start", outcome)

        threads = [threading.Thread(target=run, name=n) for n in ("A", "B")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        _assert_exactly_one_started(eng, case_id, outcome, losers)
    finally:
        eng.dispose()


# -- every row was exercised ------------------------------------------------------------------------------

def test_path_address_only_hotline_case_is_placed_on_the_map_by_the_command_centre_then_dispatched(kit):
    """A hotline report with an address only sits at the district; the command centre places it (定位) — point,
    grid — and its statistics move from the district's row to the grid's, as a rebuild would count them."""
    c = kit.report("zhihui", lon=None, address="金陵路88号门口", channel="hotline")
    assert kit.case(c["id"]).grid_id is None and kit.case(c["id"]).path == kit.unit("district").path
    kit.step("zhihui", c, "accept", to="accepted")
    kit.refused("zhihui", c, "dispatch", 422, "case_unlocated", unit_id=kit.unit("c1").id)
    kit.refused("zhihui", c, "locate", 422, "location_required")
    kit.refused("zhihui", c, "locate", 422, "point_outside_grids", lon=100.0, lat=20.0)
    kit.refused("jiedao2", c, "locate", 404, "not_found", grid_id=kit.unit("ga").id)  # a district case
    r = kit.step("zhihui", c, "locate", to="accepted", lon=119.1, lat=31.1)
    placed = kit.case(c["id"])
    assert placed.grid_id == kit.unit("ga").id and placed.path == kit.unit("ga").path
    assert (r["lon"], r["lat"]) == (119.1, 31.1)
    ev = kit.timeline(c["id"])[-1]
    assert ev["action"] == "locate" and ev["payload"]["grid"] == kit.unit("ga").code
    # a correction: another grid, chosen from the list — within the street's own area only
    kit.refused("jiedao1", c, "locate", 422, "location_outside_jurisdiction", grid_id=kit.unit("gc").id)
    kit.step("jiedao1", c, "locate", grid_id=kit.unit("gb").id)
    assert kit.case(c["id"]).path == kit.unit("gb").path and kit.case(c["id"]).lon is None
    before = _stat_rows(kit)
    assert before[(kit.unit("gb").path, "T0101")] == (1, 1)
    assert (kit.unit("district").path, "T0101") not in before
    tally.rebuild_stats(kit.db)
    assert _stat_rows(kit) == before
    kit.step("zhihui", c, "dispatch", to="dispatched", unit_id=kit.unit("c1").id)


def _stat_rows(kit: Any) -> dict[tuple[str, str], tuple[int, int]]:
    from zhili.cases.models import CaseStat

    kit.db.flush()
    kit.db.expire_all()
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for s in kit.db.scalars(select(CaseStat)):
        if s.reported or s.accepted:
            k = (s.path, s.category_code)
            a, b = out.get(k, (0, 0))
            out[k] = (a + s.reported, b + s.accepted)
    return out


def test_path_community_and_street_placeholders_resolve_to_the_unit_that_holds_the_case(kit):
    """Rules and dispatchers may name 社区 (SQ) or 街道 (JD): the case goes to the community / street whose area holds
    it, and that unit's staff hold and handle it end to end."""
    c = kit.report("jumin")
    kit.step("zhihui", c, "accept")
    d = kit.step("zhihui", c, "dispatch", to="dispatched", department="SQ")
    assert d["assignee_department"] is None and d["assignee_unit_id"] == str(kit.unit("c1").id)
    assert d["escalation_level"] == "community"
    assert kit.timeline(c["id"])[-1]["payload"]["placeholder"] == "SQ"
    assert any(m.recipient == kit.unit("c1").code and m.title == "新派遣事件" for m in kit.fake.sent)
    kit.step("shequ1", c, "start", to="in_progress")
    kit.step("shequ1", c, "resolve", to="resolved", result="已协调物业清运")

    s = kit.report("jumin", lon=119.6)  # in 画溪村, under the second street
    kit.step("zhihui", s, "accept")
    d = kit.step("zhihui", s, "dispatch", department="JD")
    assert d["assignee_unit_id"] == str(kit.unit("s2").id) and d["escalation_level"] == "street"
    kit.refused("jiedao1", s, "start", 404, "not_found")  # another street's case
    kit.step("jiedao2", s, "start", to="in_progress")

    unplaced = kit.report("zhihui", lon=None, address="某路口", channel="hotline")
    kit.step("zhihui", unplaced, "accept")
    kit.refused("zhihui", unplaced, "dispatch", 422, "case_unlocated", department="SQ")


def test_zz_every_row_of_the_transition_table_was_exercised():
    module = sys.modules[__name__]
    paths = {n for n in dir(module) if n.startswith("test_path_")}
    if not paths <= RAN:
        pytest.skip(f"run the whole module to check coverage (not run: {sorted(paths - RAN)})")
    missing = uncovered("event")  # the event flow's rows (the permit's: tests/cases/test_permit_flow.py)
    assert not missing, "rows never exercised:\n" + "\n".join(missing)
    # And no exercised step falls outside the table.
    assert all(rows_for(a, s, r, f) for f, a, s, r in EXERCISED)
