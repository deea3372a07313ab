"""Manual indicators (填报): periods, validation with Chinese messages per field and per rule, the approval workflow
refusing steps out of order, completeness, reminders and the approved figures for the scoring engine."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from evalformkit import C1, C2, DS, good, who
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases.models import Notification
from zhili.core.audit import AuditEvent
from zhili.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from zhili.evaluation import forms, forms_status
from zhili.evaluation.models import DataSet, Submission, SubmissionEvent
from zhili.evaluation.periods import parse_period, previous_period


def _approved(db: Session, world: Any, unit: str, period: str, values: dict[str, Any]) -> None:
    """Filled, submitted and approved: 金陵社区 by its own staff and its street; 画溪村 (no community account in the
    small world) by its street's staff, approved by the command centre."""
    filler, approver = ("shequ1", "jiedao1") if unit == C1 else ("jiedao2", "zhihui")
    forms.save(db, who(db, world, filler), DS, unit, period, values, submit=True)
    forms.approve(db, who(db, world, approver), DS, unit, period)


# -- periods ------------------------------------------------------------------------------------------------------

def test_periods_parse_format_and_step_back() -> None:
    assert parse_period("2026-10").text == "2026-10" and parse_period("2026-3").text == "2026-03"
    assert parse_period("2026-q4").text == "2026-Q4" and parse_period("2026").text == "2026"
    assert previous_period(parse_period("2026-01")).text == "2025-12"
    assert previous_period(parse_period("2026-Q1")).text == "2025-Q4"
    q = parse_period("2026-Q4")
    assert (q.start, q.end) == (dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    assert [m.text for m in q.months()] == ["2026-10", "2026-11", "2026-12"]
    assert parse_period("2026-12").due_date(5) == dt.date(2027, 1, 5)
    assert parse_period("2026-10").label == "2026年10月" and q.label == "2026年第四季度"
    for bad, words in [("2026-13", "月份应为 1–12"), ("十月", "格式不正确"), ("", "请填写期间"),
                       ("1999-01", "年份")]:
        with pytest.raises(ValidationFailed) as e:
            parse_period(bad)
        assert words in e.value.message
    with pytest.raises(ValidationFailed, match="按月填报"):
        parse_period("2026-Q4", "month")


def test_ensure_datasets_is_idempotent(db: Session) -> None:
    forms.ensure_datasets(db)
    assert forms.ensure_datasets(db) == 0
    ds = db.scalar(select(DataSet).where(DataSet.code == DS))
    assert ds is not None and ds.builtin and len(ds.fields) == 8 and len(ds.rules) == 5


# -- validation ---------------------------------------------------------------------------------------------------

def test_submit_refuses_with_a_chinese_message_per_field_and_per_rule(db: Session, world: Any) -> None:
    p = who(db, world, "shequ1")
    bad = good(info_staff=500, training_hours=0, trained_staff=0, it_spent=60, it_budget=40, terminals=None)
    with pytest.raises(ValidationFailed) as e:
        forms.save(db, p, DS, C1, "2026-10", bad, submit=True)
    d = e.value.details
    assert d["fields"]["info_staff"] == "“信息化专职人员”应在 0–200人 之间，填写的是 500"
    assert d["fields"]["terminals"] == "“智能终端设备”为必填项"
    assert d["rules"] == ["本月信息化支出不能超过本年信息化预算"]
    assert e.value.message.startswith("未能上报，请先改正以下问题：")
    # the cross-field rule on training: hours without trainees
    with pytest.raises(ValidationFailed) as e:
        forms.save(db, p, DS, C1, "2026-10", good(training_hours=10, trained_staff=0), submit=True)
    assert e.value.details["rules"] == ["填写了培训学时，参训人数不能为 0"]
    assert e.value.details["fields"] == {}


def test_a_value_that_is_not_a_number_is_refused_even_for_a_draft(db: Session, world: Any) -> None:
    p = who(db, world, "shequ1")
    with pytest.raises(ValidationFailed) as e:
        forms.save(db, p, DS, C1, "2026-10", good(info_staff="四个", terminals="2.5", colour=1))
    assert e.value.details["fields"] == {"info_staff": "“信息化专职人员”应填写数字，“四个”不是数字",
                                         "terminals": "“智能终端设备”应为整数",
                                         "colour": "“colour”不是“信息化建设月报”的填报项"}
    assert db.scalar(select(Submission)) is None


def test_a_draft_keeps_range_and_rule_failures_as_warnings(db: Session, world: Any) -> None:
    p = who(db, world, "shequ1")
    view = forms.save(db, p, DS, C1, "2026-10", {k: str(v) for k, v in good(it_spent=90, info_staff="").items()})
    assert view.state == "draft" and view.state_name == "草稿"
    assert view.field_errors == {"info_staff": "“信息化专职人员”为必填项"}
    assert view.rules == ["本月信息化支出不能超过本年信息化预算"]
    assert view.values["it_spent"] == 90.0 and view.values["terminals"] == 12
    assert view.actions == ["save", "submit"]
    with pytest.raises(ValidationFailed):
        forms.submit(db, p, DS, C1, "2026-10")


def test_a_rule_against_last_period_uses_the_approved_value(db: Session, world: Any) -> None:
    _approved(db, world, C1, "2026-09", good(info_staff=4))
    p = who(db, world, "shequ1")
    with pytest.raises(ValidationFailed) as e:
        forms.save(db, p, DS, C1, "2026-10", good(info_staff=20), submit=True)
    assert e.value.details["rules"] == ["信息化专职人员与上期相比变化过大（超过上期人数且多于 5 人），请核实"]
    view = forms.save(db, p, DS, C1, "2026-10", good(info_staff=9), submit=True)  # 5 more than 4: allowed
    assert view.state == "submitted" and view.fields[0].prev == 4
    # a budget halved is questioned (against the approved October), except in January
    forms.approve(db, who(db, world, "jiedao1"), DS, C1, "2026-10")
    with pytest.raises(ValidationFailed) as e:
        forms.save(db, p, DS, C1, "2026-11", good(info_staff=9, it_budget=10, it_spent=1), submit=True)
    assert "年度预算较上期减少一半以上" in e.value.details["rules"][0]


# -- workflow -----------------------------------------------------------------------------------------------------

def test_the_workflow_from_draft_to_locked_and_back(db: Session, world: Any) -> None:
    shequ, jiedao, admin = who(db, world, "shequ1"), who(db, world, "jiedao1"), who(db, world, "admin")
    forms.save(db, shequ, DS, C1, "2026-10", good())
    with pytest.raises(Conflict) as e:
        forms.approve(db, jiedao, DS, C1, "2026-10")
    assert e.value.code == "submission_state" and "“草稿”" in e.value.message
    v = forms.submit(db, shequ, DS, C1, "2026-10")
    assert v.state_name == "待审核" and "approve" not in v.actions
    assert forms.get_form(db, jiedao, DS, C1, "2026-10").actions == ["approve", "return"]
    with pytest.raises(Conflict) as e:
        forms.lock(db, jiedao, DS, C1, "2026-10")
    assert e.value.code == "submission_state" and "“待审核”" in e.value.message
    with pytest.raises(ValidationFailed, match="退回原因"):
        forms.return_(db, jiedao, DS, C1, "2026-10", " 好")
    v = forms.return_(db, jiedao, DS, C1, "2026-10", "培训学时偏高，请核实")
    assert v.state_name == "已退回" and v.return_reason == "培训学时偏高，请核实"
    forms.save(db, shequ, DS, C1, "2026-10", good(training_hours=8), submit=True)
    forms.approve(db, jiedao, DS, C1, "2026-10")
    v = forms.lock(db, jiedao, DS, C1, "2026-10")
    assert v.state_name == "已锁定" and v.actions == []
    with pytest.raises(Conflict) as e:
        forms.save(db, shequ, DS, C1, "2026-10", good(), submit=True)
    assert e.value.code == "submission_state" and "“已锁定”" in e.value.message
    with pytest.raises(Forbidden):
        forms.unlock(db, jiedao, DS, C1, "2026-10", "数据有误需更正")
    v = forms.unlock(db, admin, DS, C1, "2026-10", "数据有误需更正")
    assert v.state == "approved"
    events = db.scalars(select(SubmissionEvent).order_by(SubmissionEvent.at, SubmissionEvent.id)).all()
    assert [e.action for e in events] == ["save", "submit", "return", "submit", "approve", "lock", "unlock"]
    assert events[2].actor == "jiedao1" and events[2].comment == "培训学时偏高，请核实"
    actions = set(db.scalars(select(AuditEvent.action).where(AuditEvent.action.like("eval.form_%"))))
    assert {"eval.form_submit", "eval.form_approve", "eval.form_return", "eval.form_lock",
            "eval.form_unlock"} <= actions


def test_who_may_approve(db: Session, world: Any) -> None:
    forms.save(db, who(db, world, "shequ1"), DS, C1, "2026-10", good(), submit=True)
    with pytest.raises(Forbidden):  # community staff: no eval:approve
        forms.approve(db, who(db, world, "shequ1"), DS, C1, "2026-10")
    with pytest.raises(Forbidden):  # a grid worker neither
        forms.approve(db, who(db, world, "wangge_a"), DS, C1, "2026-10")
    with pytest.raises(NotFound):  # another street's staff: not in their jurisdiction
        forms.approve(db, who(db, world, "jiedao2"), DS, C1, "2026-10")
    assert forms.approve(db, who(db, world, "zhihui"), DS, C1, "2026-10").state == "approved"


def test_a_community_cannot_approve_its_own(db: Session, world: Any) -> None:
    import dataclasses

    from zhili.core.security import Perm

    shequ = who(db, world, "shequ1")
    forms.save(db, shequ, DS, C1, "2026-10", good(), submit=True)
    mighty = dataclasses.replace(shequ, extra_perms=frozenset({Perm.eval_approve}))
    with pytest.raises(Forbidden) as e:
        forms.approve(db, mighty, DS, C1, "2026-10")
    assert e.value.code == "own_unit" and "不能由本单位自行审核" in e.value.message


def test_only_a_community_fills_and_only_in_jurisdiction(db: Session, world: Any) -> None:
    with pytest.raises(ValidationFailed, match="由社区/村填报"):
        forms.save(db, who(db, world, "jiedao1"), DS, "330522001", "2026-10", good())
    with pytest.raises(NotFound):
        forms.save(db, who(db, world, "shequ1"), DS, C2, "2026-10", good())
    with pytest.raises(Forbidden):
        forms.save(db, who(db, world, "zhihui"), DS, C1, "2026-10", good())  # command centre: no eval:fill


# -- completeness, reminders ----------------------------------------------------------------------------------------

def test_completeness_counts_and_overdue(db: Session, world: Any) -> None:
    forms.save(db, who(db, world, "shequ1"), DS, C1, "2026-10", good(), submit=True)
    c = forms_status.completeness(db, who(db, world, "zhihui"), DS, "2026-10", today=dt.date(2026, 11, 9))
    assert [(r.unit_name, r.state_name, r.overdue) for r in c.rows] == [("金陵社区", "待审核", False),
                                                                         ("画溪村", "未填报", True)]
    assert c.expected == 2 and c.reported == 1 and c.rate == 0.5 and c.counts["missing"] == 1
    assert c.due_date == dt.date(2026, 11, 5) and c.overdue == 1
    early = forms_status.completeness(db, who(db, world, "zhihui"), DS, "2026-10", today=dt.date(2026, 11, 3))
    assert early.overdue == 0
    street = forms_status.completeness(db, who(db, world, "jiedao2"), DS, "2026-10")
    assert [r.unit_name for r in street.rows] == ["画溪村"] and street.rate == 0.0
    under = forms_status.completeness(db, who(db, world, "zhihui"), DS, "2026-10", unit_code="330522001")
    assert [r.unit_name for r in under.rows] == ["金陵社区"]


def test_reminders_go_only_to_the_units_that_have_not_reported(db: Session, world: Any) -> None:
    forms.save(db, who(db, world, "shequ1"), DS, C1, "2026-10", good(), submit=True)
    assert forms_status.send_reminders(db, who(db, world, "zhihui"), DS, "2026-10") == 1
    [n] = db.scalars(select(Notification).where(Notification.kind == "eval_remind"))
    assert n.recipient == C2 and "信息化建设月报" in n.title and "画溪村" in n.body
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "eval.form_remind")) is not None
    with pytest.raises(Forbidden):
        forms_status.send_reminders(db, who(db, world, "shequ1"), DS, "2026-10")


def test_remind_due_once_a_day_after_the_due_day(db: Session, world: Any) -> None:
    forms.ensure_datasets(db)
    forms.save(db, who(db, world, "shequ1"), DS, C1, "2026-10", good())  # a draft is not reported
    assert forms_status.remind_due(db, dt.datetime(2026, 11, 4, 2, tzinfo=dt.UTC)) == 0  # not yet due
    assert forms_status.remind_due(db, dt.datetime(2026, 11, 6, 2, tzinfo=dt.UTC)) == 2
    assert forms_status.remind_due(db, dt.datetime(2026, 11, 6, 5, tzinfo=dt.UTC)) == 0  # once a day
    got = db.scalars(select(Notification).where(Notification.kind == "eval_overdue")).all()
    assert sorted(n.recipient for n in got) == [C1, C2]
    assert any("草稿" in n.body for n in got)


# -- figures for the scoring engine ---------------------------------------------------------------------------------

def test_form_metrics_combine_months_by_sum_last_and_mean_and_ignore_unapproved(db: Session, world: Any) -> None:
    _approved(db, world, C1, "2026-10", good(info_staff=4, it_spent=2, multi_satisfaction=80))
    _approved(db, world, C1, "2026-11", good(info_staff=6, it_spent=3, multi_satisfaction=90))
    forms.lock(db, who(db, world, "jiedao1"), DS, C1, "2026-11")
    forms.save(db, who(db, world, "shequ1"), DS, C1, "2026-12", good(info_staff=8, it_spent=30), submit=True)
    forms.save(db, who(db, world, "jiedao2"), DS, C2, "2026-12", good())  # a draft
    got = forms_status.form_metrics(db, root_path="330522", period_kind="quarter", start_day=dt.date(2026, 10, 1),
                             end_day=dt.date(2026, 12, 31))
    c1 = world.units["c1"].path
    assert list(got) == [c1]
    assert got[c1]["it_spent"] == 2 + 3  # sum
    assert got[c1]["info_staff"] == 6  # last approved month (December is only submitted)
    assert got[c1]["multi_satisfaction"] == (80 + 90) / 2  # mean
    month = forms_status.form_metrics(db, root_path="330522", period_kind="month", start_day=dt.date(2026, 10, 1),
                               end_day=dt.date(2026, 10, 31))
    assert month[c1]["it_spent"] == 2
    # a field left blank (an optional one) is absent, not zero
    ds = db.scalar(select(DataSet).where(DataSet.code == DS))
    assert ds is not None
    ds.fields = [{**f, "required": False} if f["code"] == "talent_fund" else f for f in ds.fields]
    _approved(db, world, C2, "2026-09", good(talent_fund=None))
    sept = forms_status.form_metrics(db, root_path="330522/330522002", period_kind="month",
                              start_day=dt.date(2026, 9, 1), end_day=dt.date(2026, 9, 30))
    assert "talent_fund" not in sept[world.units["c2"].path] and sept[world.units["c2"].path]["info_staff"] == 4
