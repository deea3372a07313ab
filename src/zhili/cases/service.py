"""The case loop: intake, the one transition() that applies the workflow table, deadlines, visibility.

Intake and every transition run inside the caller's transaction: the state change (with an optimistic
version check), the timeline event, the audit event, statistics and notifications land together or not at all.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    and_,
    delete,
    false,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy import case as case_
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from zhili.cases import intake, notify, rollup
from zhili.cases.intake import STAT_COLUMNS, STAT_UPSERT, SYSTEM_PRINCIPAL, due, fmt_local
from zhili.cases.models import (
    CHANNEL_LABELS,
    OPEN_STATES,
    STATE_LABELS,
    Attachment,
    Case,
    CaseEvent,
    CaseStat,
    CaseState,
    Category,
    Channel,
    SubTask,
    Supervision,
)
from zhili.cases.scope import can_see, nearby_open_cases, visibility
from zhili.cases.taxonomy import get_department, reportable_category
from zhili.cases.workflow import TRANSITIONS, Transition, candidates
from zhili.cases.writer import IntakeWriter
from zhili.core import audit
from zhili.core.crypto import get_cipher
from zhili.core.db import utcnow
from zhili.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, in_scope, path_predicate
from zhili.core.query import paginate
from zhili.core.security import Role
from zhili.core.settings import get_settings
from zhili.regions.models import OPEN_END, Unit, UnitLevel
from zhili.users.models import User
from zhili.users.service import CachedPrincipal
from zhili.worktime.service import WorkCalendar, load_calendar

log = logging.getLogger(__name__)


class TransitionNotAllowed(DomainError):
    status = 409
    code = "transition_not_allowed"
    default_message = "当前状态下不能执行该操作"




# -- visibility ---------------------------------------------------------------------------------------------

def get_case(session: Session, *, principal: Principal, case_id: uuid.UUID) -> Case:
    """One case the principal may see (404 otherwise: existence does not leak)."""
    case = session.get(Case, case_id)
    if case is None or not can_see(session, principal, case):
        raise NotFound("事件不存在或无权查看")
    return case


def get_case_by_number(session: Session, *, principal: Principal, number: str) -> Case:
    """A case by its human number."""
    case = session.scalar(select(Case).where(Case.number == number))
    if case is None or not can_see(session, principal, case):
        raise NotFound("事件不存在或无权查看")
    return case


@dataclass
class CaseFilter:
    """List filters."""

    state: list[CaseState] | None = None
    category: str | None = None
    unit_id: uuid.UUID | None = None
    channel: Channel | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    overdue: bool | None = None
    warning: str | None = None
    keyword: str | None = None
    department: str | None = None
    open_only: bool = False


def _filtered(session: Session, principal: Principal, f: CaseFilter) -> Any:
    stmt = select(Case).where(visibility(principal))
    if f.state:
        stmt = stmt.where(Case.state.in_(f.state))
    if f.open_only:
        stmt = stmt.where(Case.state.in_(OPEN_STATES))
    if f.category:
        stmt = stmt.where(or_(Case.category_code == f.category, Case.category_code.startswith(f.category)))
    if f.unit_id:
        unit = session.get(Unit, f.unit_id)
        if unit is None or (principal.role != Role.department_handler and not in_scope(principal, unit.path)):
            raise NotFound("单位不存在或不在您的管辖范围内")
        stmt = stmt.where(path_predicate(Case.path, (unit.path,)))
    if f.channel:
        stmt = stmt.where(Case.channel == f.channel)
    if f.since:
        stmt = stmt.where(Case.reported_at >= f.since)
    if f.until:
        stmt = stmt.where(Case.reported_at < f.until)
    if f.overdue is not None:
        stmt = stmt.where(Case.overdue.is_(f.overdue))
    if f.warning:
        stmt = stmt.where(Case.warning_level == f.warning)
    if f.department:
        stmt = stmt.where(Case.assignee_department == f.department)
    if f.keyword:
        k = f.keyword.strip()
        stmt = stmt.where(or_(Case.title.contains(k), Case.description.contains(k), Case.number == k,
                              Case.address.contains(k)))
    return stmt


def list_cases(session: Session, *, principal: Principal, filters: CaseFilter, page: int = 1, page_size: int = 50,
               sort: str | None = None) -> tuple[list[Case], int]:
    """Cases visible to the principal, filtered and paginated."""
    return paginate(session, _filtered(session, principal, filters), page=page, page_size=page_size, sort=sort,
                    sortable={"reported_at": Case.reported_at, "handle_due_at": Case.handle_due_at,
                              "number": Case.number, "state": Case.state, "updated_at": Case.updated_at},
                    default_sort=[Case.reported_at.desc(), Case.id])


# -- intake -------------------------------------------------------------------------------------------------

def district_unit(session: Session) -> Unit:
    """The current district unit (cases with only an address are placed here for the command centre)."""
    unit = session.scalar(select(Unit).where(Unit.level == UnitLevel.district, Unit.valid_to == OPEN_END)
                          .order_by(Unit.code).limit(1))
    if unit is None:
        raise ValidationFailed("系统尚未配置区县", code="no_district")
    return unit


def _calendar(session: Session) -> WorkCalendar:
    return load_calendar(session)


def report_case(
    session: Session, *, principal: Principal | None, channel: Channel, data: dict[str, Any],
    idempotency_key: str | None = None, client: str | None = None, api_client_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> tuple[Case, bool]:
    """File a new case from any channel; returns (case, created). A repeated Idempotency-Key returns the first."""
    [out] = intake.file_cases(session, requests=[intake.IntakeRequest(
        principal=principal, channel=channel, data=data, idempotency_key=idempotency_key, client=client,
        api_client_id=api_client_id, now=now)])
    if out.error is not None:
        raise out.error
    case = session.get(Case, out.case_id)
    assert case is not None
    return case, out.created


async def submit_report(
    *, writer: IntakeWriter, principal: Principal, channel: Channel | None, data: dict[str, Any],
    idempotency_key: str | None = None, auth: CachedPrincipal | None = None,
) -> tuple[dict[str, Any], bool, list[tuple[Any, float]]]:
    """File a report through the intake writer (committed when this returns): (case view, created, duplicate
    candidates with their distance). ``auth``: the cache entry ``principal`` came from, confirmed by the writer.
    A coroutine, so the request waits for the writer's commit without holding a thread or a connection."""
    channel = channel or _DEFAULT_CHANNEL.get(principal.role, Channel.staff)
    if principal.role == Role.resident and channel != Channel.resident:
        raise ValidationFailed("居民只能通过居民渠道上报", code="bad_channel")
    if channel == Channel.hotline and principal.role != Role.command_centre:
        raise ValidationFailed("只有指挥中心（热线坐席）可录入热线工单", code="bad_channel")
    out = await writer.submit_async(intake.IntakeRequest(principal=principal, channel=channel, data=data,
                                                         idempotency_key=idempotency_key, auth=auth))
    if out.error is not None:
        raise out.error
    row, snap = out.row, out.snapshot
    assert row is not None and snap is not None  # a report without an error always has its case and snapshot
    view = case_view_values(row, departments=snap.departments,
                            category_name=snap.category_names.get(row["category_id"]))
    return view, out.created, list(out.duplicates)


_DEFAULT_CHANNEL = {Role.resident: Channel.resident, Role.grid_worker: Channel.grid_worker,
                    Role.department_handler: Channel.department}


def _attach(session: Session, case: Case, ids: list[Any]) -> None:
    for aid in ids:
        att = session.get(Attachment, uuid.UUID(str(aid)))
        if att is None:
            raise ValidationFailed(f"附件 {aid} 不存在", code="attachment_not_found")
        if att.case_id is not None and att.case_id != case.id:
            raise ValidationFailed("附件已属于其他事件", code="attachment_in_use")
        att.case_id = case.id


# -- the transition engine ----------------------------------------------------------------------------------

Guard = Callable[[Session, Case, Principal, dict[str, Any]], str | None]


def _assignee_ok(session: Session, case: Case, p: Principal) -> bool:
    if p.role == Role.department_handler:
        return bool(p.department) and case.assignee_department == p.department
    return case.assignee_path is not None and in_scope(p, case.assignee_path)


def _g_in_scope(session: Session, case: Case, p: Principal, payload: dict[str, Any]) -> str | None:
    if p is SYSTEM_PRINCIPAL or can_see(session, p, case):
        return None
    return "该事件不在您的管辖范围内"


def _g_escalation_owner(session: Session, case: Case, p: Principal, payload: dict[str, Any]) -> str | None:
    if p is SYSTEM_PRINCIPAL:
        return None
    if p.role == Role.command_centre:
        return None if can_see(session, p, case) else "该事件不在您的管辖范围内"
    if case.escalation_level == "street" and case.assignee_path and in_scope(p, case.assignee_path):
        return None
    return "该事件已上报至上级，只能由接收的街道或指挥中心派遣"


def _g_assignee(session: Session, case: Case, p: Principal, payload: dict[str, Any]) -> str | None:
    return None if _assignee_ok(session, case, p) else "该事件未派给您或您的单位"


def _g_can_escalate(session: Session, case: Case, p: Principal, payload: dict[str, Any]) -> str | None:
    if not _assignee_ok(session, case, p):
        return "该事件未派给您或您的单位"
    if case.escalation_level == "district":
        return "事件已在区级处置，不能继续上报"
    return None


def _g_co_handler(session: Session, case: Case, p: Principal, payload: dict[str, Any]) -> str | None:
    st = session.scalar(select(SubTask).where(SubTask.case_id == case.id, SubTask.department == p.department,
                                              SubTask.role == "co"))
    if st is None:
        return "您的部门不是该事件的协办单位"
    if st.status == "done":
        return "协办任务已完成"
    return None


def _g_assignee_all_subtasks_done(session: Session, case: Case, p: Principal, payload: dict[str, Any]) -> str | None:
    err = _g_assignee(session, case, p, payload)
    if err:
        return err
    open_co = session.scalars(select(SubTask.department).where(SubTask.case_id == case.id, SubTask.role == "co",
                                                               SubTask.status != "done")).all()
    if open_co:
        return f"协办单位尚未完成：{'、'.join(open_co)}"
    return None


def _g_verifier(session: Session, case: Case, p: Principal, payload: dict[str, Any]) -> str | None:
    if p.role == Role.resident:
        return None if case.reporter_user_id == p.user_id else "只有上报人本人可以核查"
    return None if in_scope(p, case.path) else "该事件不在您的核查范围内"


def _g_reporter(session: Session, case: Case, p: Principal, payload: dict[str, Any]) -> str | None:
    return None if case.reporter_user_id == p.user_id else "只有上报人本人可以评价"


def _g_follow_up(session: Session, case: Case, p: Principal, payload: dict[str, Any]) -> str | None:
    if not can_see(session, p, case):
        return "该事件不在您的管辖范围内"
    reporter = session.get(User, case.reporter_user_id) if case.reporter_user_id else None
    if case.channel == Channel.hotline or reporter is None or reporter.role != Role.resident:
        return None
    return "该事件由居民本人评价，指挥中心回访仅适用于热线及无账号的上报"


def _g_reopen_window(session: Session, case: Case, p: Principal, payload: dict[str, Any]) -> str | None:
    if p.role == Role.resident and case.reporter_user_id != p.user_id:
        return "只有上报人本人可以申请重开"
    if p.role != Role.resident and not can_see(session, p, case):
        return "该事件不在您的管辖范围内"
    window = dt.timedelta(days=get_settings().reopen_window_days)
    now = payload.get("_now") or utcnow()
    if case.closed_at is None or now - case.closed_at > window:
        return f"已超过结案后{get_settings().reopen_window_days}天的重开期限"
    return None


def supervision_addressees(principal: Principal) -> set[str]:
    """The targets an order addressed to this principal carries: its department, its units' codes, and for the
    command centre its own queue."""
    out = {p.rsplit("/", 1)[-1] for p in principal.scope_paths}
    if principal.department:
        out.add(principal.department)
    if principal.role == Role.command_centre:
        out.add("command_centre")
    return out


def _unanswered_orders(session: Session, case: Case, p: Principal) -> list[Supervision]:
    """The case's orders addressed to the principal (their target, not a copy to the superior) still unanswered."""
    return list(session.scalars(select(Supervision).where(
        Supervision.case_id == case.id, Supervision.acknowledged_at.is_(None),
        Supervision.target.in_(supervision_addressees(p))).order_by(Supervision.issued_at, Supervision.id)))


def _g_supervision_addressee(session: Session, case: Case, p: Principal, payload: dict[str, Any]) -> str | None:
    if not can_see(session, p, case):
        return "该事件不在您的管辖范围内"
    if not _unanswered_orders(session, case, p):
        return "该事件没有发给您、待反馈的督办单"
    return None


GUARDS: dict[str, Guard] = {
    "in_scope": _g_in_scope, "escalation_owner": _g_escalation_owner, "assignee": _g_assignee,
    "can_escalate": _g_can_escalate, "co_handler": _g_co_handler,
    "assignee_all_subtasks_done": _g_assignee_all_subtasks_done, "verifier": _g_verifier,
    "reporter": _g_reporter, "follow_up": _g_follow_up, "reopen_window": _g_reopen_window,
    "supervision_addressee": _g_supervision_addressee,
}
assert {t.guard for t in TRANSITIONS} <= set(GUARDS), "every guard named in the table must exist"


def _choose(session: Session, case: Case, action: str, p: Principal, payload: dict[str, Any]) -> Transition:
    rows = candidates(action, case.state)
    if not rows:
        if action not in {t.action for t in TRANSITIONS}:
            raise ValidationFailed(f"未知操作：{action}", code="unknown_action")
        raise TransitionNotAllowed(f"事件当前状态为“{STATE_LABELS[case.state]}”，不能执行该操作",
                                   details={"state": case.state.value, "action": action})
    role_rows = [t for t in rows if p is SYSTEM_PRINCIPAL or p.role in t.roles]
    if not role_rows:
        raise Forbidden(f"当前角色不能对该事件执行“{rows[0].label}”", code="role_not_allowed",
                        details={"allowed_roles": sorted({r.value for t in rows for r in t.roles})})
    errors = []
    for t in role_rows:
        err = GUARDS[t.guard](session, case, p, payload)
        if err is None:
            missing = [f for f in t.requires if payload.get(f) in (None, "", [])]
            if missing:
                raise ValidationFailed(f"“{t.label}”需要填写：{'、'.join(_FIELD_LABELS.get(f, f) for f in missing)}",
                                       code="payload_required", details={"missing": missing})
            return t
        errors.append(err)
    raise Forbidden(errors[0], code="guard_failed")


_FIELD_LABELS = {"reason": "原因", "hours": "延期时长（工作小时）", "result": "处置结果", "rating": "评分",
                 "master_id": "主事件", "message": "督办意见", "reply": "反馈意见"}


def available_actions(session: Session, *, principal: Principal, case: Case) -> list[dict[str, str]]:
    """Actions this principal can take on the case now (guards checked) — for buttons on pages."""
    out: dict[str, str] = {}
    for t in TRANSITIONS:
        if case.state in t.sources and principal.role in t.roles and t.action not in out \
                and GUARDS[t.guard](session, case, principal, {}) is None:
            out[t.action] = t.label
    return [{"action": a, "label": lbl} for a, lbl in out.items()]


def transition(
    session: Session, *, principal: Principal, case_id: uuid.UUID, action: str, payload: dict[str, Any] | None = None,
    expected_version: int | None = None, now: dt.datetime | None = None,
) -> Case:
    """Apply one workflow action; refuses anything the transition table does not allow."""
    case = get_case(session, principal=principal, case_id=case_id)
    if expected_version is not None and expected_version != case.version:
        raise Conflict("事件已被他人处理，请刷新后重试", code="version_conflict",
                       details={"current_version": case.version, "state": case.state.value})
    try:
        _apply(session, case, action, principal, dict(payload or {}), now or utcnow(), _calendar(session))
        session.flush()
    except StaleDataError as exc:
        raise Conflict("事件已被他人同时处理，您的操作未生效，请刷新后重试", code="version_conflict") from exc
    return case


def _apply(session: Session, case: Case, action: str, p: Principal, payload: dict[str, Any], now: dt.datetime,
           cal: WorkCalendar) -> None:
    t = _choose(session, case, action, p, {**payload, "_now": now})
    before = case.state
    effect = _EFFECTS.get(action)
    extra: dict[str, Any] = {}
    if effect:
        extra = effect(session, case, p, payload, now, cal) or {}
    if t.target is not None:
        case.state = t.target
    case.updated_at = now
    ev = _event(session, case, action=action, from_state=before, to_state=case.state, principal=p, now=now,
                comment=payload.get("comment") or payload.get("reason") or payload.get("result")
                or payload.get("message") or payload.get("reply"),
                payload={k: v for k, v in {**payload, **extra}.items() if k not in ("comment",)},
                attachments=payload.get("attachment_ids") or [])
    _attach(session, case, payload.get("attachment_ids") or [])
    audit.record(session, actor=p.actor, action=f"case.{action}", object_type="case", object_id=case.id,
                 before={"state": before.value}, after={"state": case.state.value, "event": ev.seq, **{
                     k: v for k, v in extra.items() if k in ("department", "unit", "level", "due")}},
                 reason=payload.get("reason"))


def _event(session: Session, case: Case, *, action: str, from_state: CaseState | None, to_state: CaseState,
           principal: Principal, now: dt.datetime, comment: str | None = None, payload: dict[str, Any] | None = None,
           attachments: list[Any] | None = None, public: bool = True) -> CaseEvent:
    seqs: dict[uuid.UUID, int] = session.info.setdefault("case_seq", {})
    if case.id not in seqs:
        seqs[case.id] = 0 if action == "report" else (
            session.scalar(select(func.max(CaseEvent.seq)).where(CaseEvent.case_id == case.id)) or 0)
    seq = seqs[case.id] = seqs[case.id] + 1
    ev = CaseEvent(case_id=case.id, seq=seq, at=now, action=action,
                   from_state=from_state.value if from_state else None, to_state=to_state.value,
                   actor_id=None if principal is SYSTEM_PRINCIPAL else principal.user_id,
                   actor_name=principal.display_name, actor_role=principal.role.value,
                   actor_unit=principal.department, comment=comment,
                   payload=audit.to_jsonable(payload or {}), attachment_ids=[str(a) for a in attachments or []],
                   public=public)
    session.add(ev)
    return ev


# -- effects ------------------------------------------------------------------------------------------------

Effect = Callable[[Session, Case, Principal, dict[str, Any], dt.datetime, WorkCalendar], dict[str, Any] | None]


def _category(session: Session, case: Case) -> Category | None:
    return session.get(Category, case.category_id) if case.category_id else None


def _e_accept(session: Session, case: Case, p: Principal, payload: dict[str, Any], now: dt.datetime,
              cal: WorkCalendar) -> dict[str, Any]:
    case.accepted_at = now
    if payload.get("category_code") and payload["category_code"] != case.category_code:
        cat = reportable_category(session, code=payload["category_code"])
        _stat(session, case, day=case.reported_day, reported=-1)  # the report moves to the new category's row
        case.category_id, case.category_code = cat.id, cat.code
        _stat(session, case, day=case.reported_day, reported=1)
    _stat(session, case, day=case.reported_day, accepted=1)
    _notify_reporter(session, case, "您反映的问题已受理", f"事件 {case.number} 已受理。")
    return {}


def _e_reject(session: Session, case: Case, p: Principal, payload: dict[str, Any], now: dt.datetime,
              cal: WorkCalendar) -> dict[str, Any]:
    case.reject_reason = payload["reason"]
    case.closed_at = now
    _notify_reporter(session, case, "您反映的问题不予受理", f"事件 {case.number} 不予受理：{payload['reason']}")
    return {}


def _e_merge(session: Session, case: Case, p: Principal, payload: dict[str, Any], now: dt.datetime,
             cal: WorkCalendar) -> dict[str, Any]:
    master = session.get(Case, uuid.UUID(str(payload["master_id"])))
    if master is None or not can_see(session, p, master):
        raise ValidationFailed("主事件不存在或无权查看", code="master_not_found")
    if master.id == case.id or master.master_case_id is not None or master.state not in OPEN_STATES:
        raise ValidationFailed("主事件必须是另一件未办结且未被合并的事件", code="bad_master")
    case.master_case_id = master.id
    case.closed_at = now
    master.support_count += 1
    _notify_reporter(session, case, "您反映的问题已合并办理", f"事件 {case.number} 与 {master.number} 为同一问题，"
                     "将随主事件一并办理，您会收到主事件的进展。")
    return {"master": master.number}


def _e_dispatch(session: Session, case: Case, p: Principal, payload: dict[str, Any], now: dt.datetime,
                cal: WorkCalendar) -> dict[str, Any]:
    dept, unit_id = payload.get("department"), payload.get("unit_id")
    if bool(dept) == bool(unit_id):
        raise ValidationFailed("派遣须且只能指定一个处置部门或处置单位", code="dispatch_target_required")
    if case.grid_id is None and case.path.count("/") < 3 and not payload.get("grid_id") and dept is None:
        raise ValidationFailed("事件尚未定位到网格，请先补充位置", code="case_unlocated")
    unit = None
    if dept:
        get_department(session, code=dept)
    else:
        unit = session.get(Unit, uuid.UUID(str(unit_id)))
        if unit is None or unit.level not in (UnitLevel.community, UnitLevel.street, UnitLevel.grid):
            raise ValidationFailed("处置单位须为社区、街道或网格", code="bad_dispatch_unit")
        if p is not SYSTEM_PRINCIPAL and not in_scope(p, unit.path):
            raise ValidationFailed("处置单位不在您的管辖范围内", code="unit_outside_jurisdiction")
    co_departments = payload.get("co_departments") or []
    for c in co_departments:
        get_department(session, code=c)
    cat = _category(session, case)
    hours = payload.get("handle_hours") or (cat.handle_hours if cat else None) or 40.0
    a = intake.plan_assignment(department=dept, unit=(unit.id, unit.path, unit.level, unit.code) if unit else None,
                               co_departments=co_departments, hours=float(hours),
                               mode=cat.time_mode if cat else "working", cal=cal, now=now, number=case.number,
                               title=case.title, rule_id=payload.get("rule_id"))
    session.query(SubTask).filter(SubTask.case_id == case.id).delete()  # a re-dispatch starts the sub-tasks again
    for attr, value in a.values.items():
        setattr(case, attr, value)
    session.add_all([SubTask(case_id=case.id, department=d, role=role) for d, role in a.subtasks])
    _clear_lights(session, case)
    for target, title, body in a.notices:
        _notify_handlers(session, case, target, title, body)
    _notify_reporter(session, case, "您反映的问题已派遣处置", f"事件 {case.number} 已交由相关部门处置。")
    return a.extra


def _e_request_extension(session: Session, case: Case, p: Principal, payload: dict[str, Any], now: dt.datetime,
                         cal: WorkCalendar) -> dict[str, Any]:
    hours = float(payload["hours"])
    if not 0 < hours <= 400:
        raise ValidationFailed("延期时长应在0到400个工作小时之间", code="bad_extension")
    return {"hours": hours}


def _e_approve_extension(session: Session, case: Case, p: Principal, payload: dict[str, Any], now: dt.datetime,
                         cal: WorkCalendar) -> dict[str, Any]:
    req = session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                 CaseEvent.action == "request_extension")
                         .order_by(CaseEvent.seq.desc()).limit(1))
    hours = float(payload.get("hours") or (req.payload.get("hours") if req else 0) or 0)
    base = case.handle_due_at or now
    cat = _category(session, case)
    mode = cat.time_mode if cat else "working"
    case.handle_due_at = due(cal, base, hours, mode)
    case.handle_warn_at = due(cal, base, hours * get_settings().warning_fraction, mode)
    if case.handle_due_at and case.handle_due_at > now:
        _clear_lights(session, case)
    _notify_handlers(session, case, case.assignee_department or _unit_code(session, case), "延期申请已同意",
                     f"事件 {case.number} 新的处置期限：{fmt_local(case.handle_due_at)}")
    return {"hours": hours, "due": case.handle_due_at}


def _clear_lights(session: Session, case: Case) -> None:
    """Warning light off and not overdue; the overdue statistic follows the flag (as rebuild_stats counts it)."""
    if case.overdue:
        _stat(session, case, day=case.reported_day, overdue=-1)
    case.warning_level, case.overdue = "none", False


def _unit_code(session: Session, case: Case) -> str | None:
    if case.assignee_unit_id is None:
        return None
    u = session.get(Unit, case.assignee_unit_id)
    return u.code if u else None


def _e_return(session: Session, case: Case, p: Principal, payload: dict[str, Any], now: dt.datetime,
              cal: WorkCalendar) -> dict[str, Any]:
    prev = case.assignee_department or _unit_code(session, case)
    case.assignee_department, case.assignee_unit_id, case.assignee_path = None, None, None
    case.handle_due_at = case.handle_warn_at = None
    _clear_lights(session, case)
    case.is_joint = False
    session.query(SubTask).filter(SubTask.case_id == case.id).delete()
    _notify_handlers(session, case, "command_centre", "事件被退回", f"事件 {case.number} 被 {prev} 退回："
                     f"{payload['reason']}，请重新派遣。")
    return {"from": prev}


def _e_escalate(session: Session, case: Case, p: Principal, payload: dict[str, Any], now: dt.datetime,
                cal: WorkCalendar) -> dict[str, Any]:
    current = session.get(Unit, case.assignee_unit_id) if case.assignee_unit_id else None
    if current is not None and current.level in (UnitLevel.community, UnitLevel.grid):
        street = _ancestor_at(session, current, UnitLevel.street)
        if street is not None:
            case.assignee_unit_id, case.assignee_path, case.assignee_department = street.id, street.path, None
            case.escalation_level = "street"
            _notify_handlers(session, case, street.code, "下级上报事件（吹哨）",
                             f"事件 {case.number} 由 {current.name} 上报：{payload['reason']}")
            return {"level": "street", "unit": street.code}
    case.escalation_level = "district"
    case.assignee_unit_id = case.assignee_path = case.assignee_department = None
    _notify_handlers(session, case, "command_centre", "事件上报至区级",
                     f"事件 {case.number} 上报区指挥中心：{payload['reason']}")
    return {"level": "district"}


def _ancestor_at(session: Session, unit: Unit, level: UnitLevel) -> Unit | None:
    codes = unit.path.split("/")
    return session.scalar(select(Unit).where(Unit.code.in_(codes), Unit.level == level, Unit.valid_to == OPEN_END))


def _e_complete_subtask(session: Session, case: Case, p: Principal, payload: dict[str, Any], now: dt.datetime,
                        cal: WorkCalendar) -> dict[str, Any]:
    st = session.scalar(select(SubTask).where(SubTask.case_id == case.id, SubTask.department == p.department))
    assert st is not None
    st.status, st.result, st.done_at = "done", payload["result"], now
    return {"department": p.department}


def _e_resolve(session: Session, case: Case, p: Principal, payload: dict[str, Any], now: dt.datetime,
               cal: WorkCalendar) -> dict[str, Any]:
    case.resolution = payload["result"]
    case.resolved_at = now
    case.closed_on_time = case.handle_due_at is None or now <= case.handle_due_at
    cat = _category(session, case)
    case.verify_due_at = due(cal, now, (cat.verify_hours if cat else None) or 8.0, cat.time_mode if cat else "working")
    _notify_reporter(session, case, "您反映的问题已处置完成", f"事件 {case.number} 处置结果：{payload['result']}")
    return {}


def _e_verify(session: Session, case: Case, p: Principal, payload: dict[str, Any], now: dt.datetime,
              cal: WorkCalendar) -> dict[str, Any]:
    case.verified_at = now
    return {}


def _e_send_back(session: Session, case: Case, p: Principal, payload: dict[str, Any], now: dt.datetime,
                 cal: WorkCalendar) -> dict[str, Any]:
    case.resolved_at = None
    case.verify_due_at = None
    _notify_handlers(session, case, case.assignee_department or _unit_code(session, case), "核查不通过",
                     f"事件 {case.number} 核查不通过：{payload['reason']}")
    return {}


def _e_rate(session: Session, case: Case, p: Principal, payload: dict[str, Any], now: dt.datetime,
            cal: WorkCalendar) -> dict[str, Any]:
    try:
        rating = int(payload["rating"])
    except (TypeError, ValueError) as exc:
        raise ValidationFailed("评分应为1到5的整数", code="bad_rating") from exc
    if not 1 <= rating <= 5:
        raise ValidationFailed("评分应为1到5的整数", code="bad_rating")
    case.rating, case.rating_comment = rating, payload.get("comment")
    _stat(session, case, day=case.reported_day, rating_sum=rating, rating_count=1)
    return {"rating": rating}


def _e_close(session: Session, case: Case, p: Principal, payload: dict[str, Any], now: dt.datetime,
             cal: WorkCalendar) -> dict[str, Any]:
    case.closed_at = now
    on_time = bool(case.closed_on_time)
    _stat(session, case, day=case.reported_day, closed=1, closed_on_time=1 if on_time else 0)
    _notify_reporter(session, case, "您反映的问题已办结", f"事件 {case.number} 已办结，感谢您的参与。")
    return {}


def _e_reopen(session: Session, case: Case, p: Principal, payload: dict[str, Any], now: dt.datetime,
              cal: WorkCalendar) -> dict[str, Any]:
    was_on_time = bool(case.closed_on_time)
    _stat(session, case, day=case.reported_day, closed=-1, closed_on_time=-1 if was_on_time else 0)
    case.reopen_count += 1
    case.closed_at = case.resolved_at = case.verified_at = None
    case.assignee_department = case.assignee_unit_id = case.assignee_path = None
    case.handle_due_at = case.handle_warn_at = case.verify_due_at = None
    if case.rating is not None:  # the rating is withdrawn, and with it its share of the statistics
        _stat(session, case, day=case.reported_day, rating_sum=-case.rating, rating_count=-1)
    case.rating = None
    case.closed_on_time = None
    _clear_lights(session, case)
    return {"reopen_count": case.reopen_count}


def _e_supervise(session: Session, case: Case, p: Principal, payload: dict[str, Any], now: dt.datetime,
                 cal: WorkCalendar) -> dict[str, Any]:
    target = case.assignee_department or _unit_code(session, case) or "command_centre"
    n = session.scalar(select(func.count()).select_from(Supervision).where(Supervision.case_id == case.id,
                                                                           Supervision.kind == "manual")) or 0
    session.add(Supervision(case_id=case.id, kind="manual", round=n + 1, target=target, message=payload["message"],
                            issued_at=now, issued_by=p.username))
    _notify_handlers(session, case, target, "督办通知", f"事件 {case.number}：{payload['message']}")
    return {"target": target}


REPLY_MAX = 2000  # characters of a supervision reply (督办反馈)


def _e_answer_supervision(session: Session, case: Case, p: Principal, payload: dict[str, Any], now: dt.datetime,
                          cal: WorkCalendar) -> dict[str, Any]:
    if len(payload["reply"]) > REPLY_MAX:  # the API's schema says so too; a page form must hear it as well
        raise ValidationFailed(f"反馈意见不能超过{REPLY_MAX}字", code="reply_too_long")
    orders = _unanswered_orders(session, case, p)
    for s in orders:
        s.acknowledged_at, s.acknowledged_by, s.reply = now, p.username, payload["reply"]
    # The command centre follows every order; a superior copied on one hears the answer too.
    told = {"command_centre"} | {s.superior for s in orders if s.superior}
    for target in sorted(told - supervision_addressees(p)):
        _notify_handlers(session, case, target, "督办反馈", f"事件 {case.number}：{payload['reply']}")
    return {"answered": [{"kind": s.kind, "round": s.round, "target": s.target} for s in orders]}


_EFFECTS: dict[str, Effect] = {
    "accept": _e_accept, "reject": _e_reject, "merge": _e_merge, "dispatch": _e_dispatch,
    "request_extension": _e_request_extension, "approve_extension": _e_approve_extension,
    "return_case": _e_return, "escalate": _e_escalate, "complete_subtask": _e_complete_subtask,
    "resolve": _e_resolve, "verify": _e_verify, "send_back": _e_send_back, "rate": _e_rate, "close": _e_close,
    "reopen": _e_reopen, "supervise": _e_supervise, "answer_supervision": _e_answer_supervision,
}


# -- notifications ------------------------------------------------------------------------------------------

def _reporter_phone(case: Case) -> str | None:
    if case.reporter_phone_enc is None:
        return None
    return get_cipher().decrypt(case.reporter_phone_enc, table="case", column="reporter_phone", row_id=case.id)


def _notify_reporter(session: Session, case: Case, title: str, body: str) -> None:
    """Tell the reporter — and the reporters of cases merged into this one."""
    targets = [case]
    if case.master_case_id is None and case.support_count:  # support_count counts the cases merged into it
        targets += list(session.scalars(select(Case).where(Case.master_case_id == case.id)))
    for c in targets:
        if c.reporter_user_id is None and c.reporter_phone_enc is None:
            continue
        notify.deliver(session, notify.Message(kind="case_update", title=title, body=body, case_id=c.id,
                                               user_id=c.reporter_user_id,
                                               phone=None if c.reporter_user_id else _reporter_phone(c)))


def _notify_handlers(session: Session, case: Case, target: str | None, title: str, body: str) -> None:
    if target:
        notify.deliver(session, notify.Message(kind="task", title=title, body=body, case_id=case.id,
                                               department=target))


# -- statistics ---------------------------------------------------------------------------------------------

def _stat(session: Session, case: Case, *, day: dt.date, **deltas: int) -> None:
    """Add to the (grid path, day, category) statistics row in the same transaction."""
    values = {"path": case.path, "day": day, "category_code": case.category_code or "",
              **dict.fromkeys(STAT_COLUMNS, 0)}
    values.update(deltas)
    session.execute(STAT_UPSERT, values)
    rollup.add(session, path=case.path, day=day, deltas=deltas)  # the per-unit rollup moves with it


def rebuild_stats(session: Session) -> int:
    """Recompute the statistics table from the cases in one aggregate query (must equal the incremental figures),
    then its per-unit rollup."""
    session.execute(delete(CaseStat))
    one, zero = literal(1), literal(0)
    # Inline '' (not a bound parameter) so PostgreSQL sees the SELECT and GROUP BY expressions as the same.
    cat = func.coalesce(Case.category_code, literal_column("''"))
    agg = select(
        Case.path, Case.reported_day, cat, func.count(),
        func.sum(case_(( Case.accepted_at.is_not(None), one), else_=zero)),
        func.sum(case_((Case.state == CaseState.closed, one), else_=zero)),
        func.sum(case_((and_(Case.state == CaseState.closed, Case.closed_on_time.is_(True)), one), else_=zero)),
        func.sum(case_((Case.overdue.is_(True), one), else_=zero)),
        func.coalesce(func.sum(Case.rating), 0),
        func.count(Case.rating),
    ).group_by(Case.path, Case.reported_day, cat)
    cols = ["path", "day", "category_code", "reported", "accepted", "closed", "closed_on_time", "overdue",
            "rating_sum", "rating_count"]
    session.execute(insert(CaseStat).from_select(cols, agg))
    session.flush()
    rollup.rebuild(session)
    return int(session.scalar(select(func.count()).select_from(CaseStat)) or 0)


# -- deadline sweep -----------------------------------------------------------------------------------------

@dataclass
class SweepReport:
    """What one sweep did."""

    yellow: int = 0
    red: int = 0
    escalated: int = 0


def sweep_deadlines(session: Session, *, now: dt.datetime | None = None) -> SweepReport:
    """Raise yellow/red warnings, supervision orders and auto-escalations from stored deadlines (restart-safe)."""
    now = now or utcnow()
    report = SweepReport()
    handling = (CaseState.dispatched, CaseState.in_progress, CaseState.extension_requested)
    yellow = session.scalars(select(Case).where(Case.state.in_(handling), Case.warning_level == "none",
                                                Case.handle_warn_at <= now, Case.handle_due_at > now)).all()
    for c in yellow:
        c.warning_level = "yellow"
        _supervise(session, c, "yellow", now,
                   f"事件 {c.number} 即将超期（期限 {fmt_local(c.handle_due_at)}），请抓紧处置。")
        report.yellow += 1
    red = session.scalars(select(Case).where(Case.state.in_(handling), Case.overdue.is_(False),
                                             Case.handle_due_at <= now)).all()
    for c in red:
        c.warning_level, c.overdue = "red", True
        _stat(session, c, day=c.reported_day, overdue=1)
        _supervise(session, c, "red", now,
                   f"事件 {c.number} 已超期（期限 {fmt_local(c.handle_due_at)}），请立即处置并说明原因。")
        report.red += 1
    cal = _calendar(session)
    extra = get_settings().escalate_after_hours
    overdue = session.scalars(select(Case).where(Case.state.in_(handling), Case.overdue.is_(True))).all()
    for c in overdue:
        if c.handle_due_at is None or cal.deadline(c.handle_due_at, extra) > now:
            continue
        if session.scalar(select(Supervision.id).where(Supervision.case_id == c.id, Supervision.kind == "escalation",
                                                       Supervision.issued_at >= c.handle_due_at)):
            continue
        _supervise(session, c, "escalation", now, f"事件 {c.number} 超期已逾{extra:g}个工作小时，升级督办至上级。",
                   superior=True)
        report.escalated += 1
    session.flush()
    return report


def _superior_of(session: Session, case: Case) -> str:
    if case.assignee_unit_id:
        u = session.get(Unit, case.assignee_unit_id)
        if u is not None and u.parent_id is not None:
            parent = session.get(Unit, u.parent_id)
            if parent is not None and parent.level != UnitLevel.district:
                return parent.code
    return "command_centre"


def _supervise(session: Session, case: Case, kind: str, now: dt.datetime, message: str, superior: bool = False
               ) -> None:
    target = case.assignee_department or _unit_code(session, case) or "command_centre"
    boss = _superior_of(session, case)
    rnd = 1 + (session.scalar(select(func.count()).select_from(Supervision).where(
        Supervision.case_id == case.id, Supervision.kind == kind)) or 0)  # again after an extension/redispatch
    session.add(Supervision(case_id=case.id, kind=kind, round=rnd, target=boss if superior else target,
                            superior=boss, message=message, issued_at=now, issued_by="system"))
    _event(session, case, action=f"warning_{kind}", from_state=case.state, to_state=case.state,
           principal=SYSTEM_PRINCIPAL, now=now, comment=message, public=False)
    _notify_handlers(session, case, boss if superior else target, "督办通知", message)
    if not superior and boss != target:
        _notify_handlers(session, case, boss, "督办抄送", message)
    audit.record(session, actor=audit.SYSTEM, action=f"case.supervision_{kind}", object_type="case",
                 object_id=case.id, after={"target": target, "superior": boss})


def list_supervisions(session: Session, *, principal: Principal, open_only: bool = True, page: int = 1,
                      page_size: int = 50) -> tuple[list[Any], int]:
    """Supervision orders on cases the principal may see."""
    stmt = select(Supervision).join(Case, Case.id == Supervision.case_id).where(visibility(principal))
    if open_only:
        stmt = stmt.where(Supervision.acknowledged_at.is_(None), Case.state.in_(OPEN_STATES))
    return paginate(session, stmt, page=page, page_size=page_size, sort=None, sortable={},
                    default_sort=[Supervision.issued_at.desc()])


# -- duplicates ---------------------------------------------------------------------------------------------

def find_duplicates(session: Session, *, principal: Principal, case: Case, limit: int = 10
                    ) -> list[tuple[Any, float]]:
    """Open cases of the same category near this one within the time window, nearest first (metres)."""
    if case.lon is None or case.lat is None:
        return []
    return nearby_open_cases(session, principal=principal, category_code=case.category_code, lon=case.lon,
                             lat=case.lat, at=case.reported_at, exclude_id=case.id, limit=limit)


# -- reading details ----------------------------------------------------------------------------------------

def timeline(session: Session, *, principal: Principal, case_id: uuid.UUID) -> list[CaseEvent]:
    """The case's steps in order (internal warnings shown to staff only)."""
    case = get_case(session, principal=principal, case_id=case_id)
    stmt = select(CaseEvent).where(CaseEvent.case_id == case.id)
    if principal.role == Role.resident:
        stmt = stmt.where(CaseEvent.public.is_(True))
    return list(session.scalars(stmt.order_by(CaseEvent.seq)))


def subtasks(session: Session, *, case: Case) -> list[SubTask]:
    """Lead and co-handler sub-tasks of a joint case."""
    return list(session.scalars(select(SubTask).where(SubTask.case_id == case.id).order_by(SubTask.role.desc(),
                                                                                          SubTask.department)))


def reveal_reporter(session: Session, *, principal: Principal, case_id: uuid.UUID, reason: str) -> dict[str, Any]:
    """The reporter's name and phone for a call-back: command centre only, with a reason, audited."""
    case = get_case(session, principal=principal, case_id=case_id)
    cipher = get_cipher()
    name = (cipher.decrypt(case.reporter_name_enc, table="case", column="reporter_name", row_id=case.id)
            if case.reporter_name_enc else None)
    phone = _reporter_phone(case)
    if case.reporter_user_id and (name is None or phone is None):
        from zhili.users.service import user_phone

        u = session.get(User, case.reporter_user_id)
        if u is not None:
            name = name or u.display_name
            phone = phone or user_phone(u)
    audit.record(session, actor=principal.actor, action="case.reveal_reporter", object_type="case",
                 object_id=case.id, reason=reason, after={"fields": ["reporter_name", "reporter_phone"]})
    return {"case_id": case.id, "number": case.number, "anonymous": case.anonymous, "name": name, "phone": phone}


def pending_for(session: Session, *, principal: Principal) -> dict[str, int]:
    """Counts for a handler's task list: new, due soon (yellow), overdue."""
    base = select(func.count()).select_from(Case).where(visibility(principal), Case.state.in_(OPEN_STATES))
    return {
        "new": session.scalar(base.where(Case.state == CaseState.dispatched)) or 0,
        "due_soon": session.scalar(base.where(Case.warning_level == "yellow")) or 0,
        "overdue": session.scalar(base.where(Case.overdue.is_(True))) or 0,
        "to_accept": session.scalar(base.where(Case.state == CaseState.reported)) or 0,
    }


def queue_counts_by_state(session: Session, *, principal: Principal) -> dict[str, int]:
    """Open cases per state for the principal."""
    rows = session.execute(select(Case.state, func.count()).where(visibility(principal)).group_by(Case.state)).all()
    return {s.value: n for s, n in rows}


def set_attachment(session: Session, *, principal: Principal, data: bytes, filename: str) -> Attachment:
    """Store an uploaded file after checking its size and real type; returns the attachment (no case yet)."""
    import hashlib

    from zhili.cases.files import check_upload, get_store

    ctype, ext = check_upload(data)
    key = get_store().put(data, ext=ext)
    att = Attachment(filename=(filename or f"upload{ext}")[:255], content_type=ctype, size=len(data),
                     sha256=hashlib.sha256(data).hexdigest(), storage_key=key, uploaded_by=principal.user_id)
    session.add(att)
    session.flush()
    return att


def read_attachment(session: Session, *, principal: Principal, attachment_id: uuid.UUID) -> tuple[Attachment, bytes]:
    """An attachment's bytes, if its case is visible to the principal (or the principal uploaded it)."""
    from zhili.cases.files import get_store

    att = session.get(Attachment, attachment_id)
    if att is None:
        raise NotFound("附件不存在")
    if att.case_id is not None:
        case = session.get(Case, att.case_id)
        if case is None or not can_see(session, principal, case):
            raise NotFound("附件不存在")  # as for an id that does not exist: a case out of sight must not show
    elif att.uploaded_by != principal.user_id:
        raise NotFound("附件不存在")
    return att, get_store().get(att.storage_key)



# -- views and export ---------------------------------------------------------------------------------------

_VIEW_FIELDS = ("id", "number", "channel", "state", "category_code", "title", "description", "urgency", "lon", "lat",
                "address", "grid_id", "path", "attributes", "anonymous", "is_public", "external_id",
                "assignee_department", "assignee_unit_id", "escalation_level", "is_joint", "master_case_id",
                "resolution", "reject_reason", "rating", "rating_comment", "reported_at", "accepted_at",
                "dispatched_at", "resolved_at", "verified_at", "closed_at", "accept_due_at", "handle_due_at",
                "verify_due_at", "warning_level", "overdue", "closed_on_time", "reopen_count", "support_count",
                "version")


def case_view(session: Session, case: Case, *, departments: dict[str, str] | None = None,
              category_names: dict[uuid.UUID, str] | None = None) -> dict[str, Any]:
    """A case as the API shows it — never with the reporter's identity."""
    from zhili.cases.taxonomy import department_names

    departments = departments if departments is not None else department_names(session)
    if category_names is not None and case.category_id in category_names:
        category_name: str | None = category_names[case.category_id]
    else:
        cat = session.get(Category, case.category_id) if case.category_id else None
        category_name = cat.name if cat else None
    return case_view_values({f: getattr(case, f) for f in _VIEW_FIELDS}, departments=departments,
                            category_name=category_name)


def case_view_values(row: Mapping[str, Any], *, departments: Mapping[str, str], category_name: str | None
                     ) -> dict[str, Any]:
    """:func:`case_view` of a case given as column values (as intake writes them)."""
    view = {f: row[f] for f in _VIEW_FIELDS}
    view.update(channel_label=CHANNEL_LABELS[row["channel"]], state_label=STATE_LABELS[row["state"]],
                category_name=category_name,
                assignee_department_name=departments.get(row["assignee_department"] or ""))
    return view


def export_cases_xlsx(session: Session, *, principal: Principal, filters: CaseFilter, limit: int = 50_000) -> bytes:
    """The filtered cases as an Excel workbook (streamed write; no reporter identity)."""
    import io

    from openpyxl import Workbook

    from zhili.cases.taxonomy import department_names

    depts = department_names(session)
    cats = {c.id: c.name for c in session.scalars(select(Category))}
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("事件清单")
    ws.append(["事件编号", "上报时间", "渠道", "类别", "标题", "描述", "地址", "状态", "处置部门", "处置期限",
               "预警", "是否超期", "按时办结", "满意度", "结案时间"])
    stmt = _filtered(session, principal, filters).order_by(Case.reported_at.desc()).limit(limit)
    for c in session.scalars(stmt):
        ws.append([c.number, fmt_local(c.reported_at), CHANNEL_LABELS[c.channel], cats.get(c.category_id) or "",
                   c.title, c.description, c.address or "", STATE_LABELS[c.state],
                   depts.get(c.assignee_department or "", c.assignee_department or ""), fmt_local(c.handle_due_at),
                   {"none": "", "yellow": "黄灯", "red": "红灯"}.get(c.warning_level, ""), "是" if c.overdue else "否",
                   {True: "是", False: "否", None: ""}[c.closed_on_time], c.rating or "", fmt_local(c.closed_at)])
    buf = io.BytesIO()
    wb.save(buf)
    audit.record(session, actor=principal.actor, action="case.export", object_type="case", object_id=None,
                 after={"filters": {k: v for k, v in filters.__dict__.items() if v}})
    return buf.getvalue()


def inbox(session: Session, *, principal: Principal, unread_only: bool = False, limit: int = 100) -> list[Any]:
    """The principal's notifications: to them, their department, their units (and the command centre's)."""
    from zhili.cases.models import Notification

    targets = [u.code for u in session.scalars(select(Unit).where(Unit.id.in_(principal.unit_ids)))] \
        if principal.unit_ids else []
    if principal.department:
        targets.append(principal.department)
    if principal.role == Role.command_centre:
        targets.append("command_centre")
    stmt = select(Notification).where(or_(Notification.user_id == principal.user_id,
                                          Notification.department.in_(targets) if targets else false()))
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return list(session.scalars(stmt.order_by(Notification.created_at.desc()).limit(limit)))


def mark_read(session: Session, *, principal: Principal, notification_id: uuid.UUID) -> None:
    """Mark one of the principal's notifications read."""
    items = {n.id: n for n in inbox(session, principal=principal, limit=1000)}
    n = items.get(notification_id)
    if n is None:
        raise NotFound("通知不存在")
    n.read_at = utcnow()
    session.flush()


def run_sweep_if_due(session: Session, *, holder: str, every_s: int = 60, now: dt.datetime | None = None
                     ) -> SweepReport | None:
    """Run the deadline sweep unless another process holds the lease or it ran within ``every_s`` seconds."""
    from zhili.cases.models import JobLock

    now = now or utcnow()
    lock = session.get(JobLock, "deadline_sweep")
    if lock is None:
        lock = JobLock(name="deadline_sweep")
        session.add(lock)
        session.flush()
    if lock.until and lock.until > now and lock.holder != holder:
        return None
    if lock.last_run_at and (now - lock.last_run_at).total_seconds() < every_s:
        return None
    lock.holder, lock.until = holder, now + dt.timedelta(seconds=every_s * 2)
    report = sweep_deadlines(session, now=now)
    redelivered = notify.redeliver_pending(session)  # sent after this transaction commits
    if redelivered:
        log.warning("%d notifications left pending by a stopped process are sent again", redelivered)
    lock.last_run_at = now
    session.flush()
    return report
