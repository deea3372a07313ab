"""The case loop: intake, the one transition() that applies the workflow table, deadlines, visibility.

Intake and every transition run inside the caller's transaction: the state change (with an optimistic
version check), the timeline event, the audit event, statistics and notifications land together or not at all.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session

from zhili.cases import engine, intake
from zhili.cases.actors import SYSTEM_PRINCIPAL as SYSTEM_PRINCIPAL
from zhili.cases.effects import REPLY_MAX as REPLY_MAX
from zhili.cases.engine import TransitionNotAllowed as TransitionNotAllowed
from zhili.cases.engine import available_actions as available_actions
from zhili.cases.engine import transition as transition
from zhili.cases.guards import supervision_addressees as supervision_addressees
from zhili.cases.models import (
    CHANNEL_LABELS,
    OPEN_STATES,
    STATE_LABELS,
    Attachment,
    Case,
    CaseEvent,
    CaseState,
    Category,
    Channel,
    SubTask,
)
from zhili.cases.scope import can_see, nearby_open_cases, visibility
from zhili.cases.sweep import SweepReport as SweepReport
from zhili.cases.sweep import run_sweep_if_due as run_sweep_if_due
from zhili.cases.sweep import sweep_deadlines as sweep_deadlines
from zhili.cases.tally import rebuild_stats as rebuild_stats
from zhili.cases.writer import IntakeWriter
from zhili.core import audit
from zhili.core.clock import fmt_local
from zhili.core.crypto import get_cipher
from zhili.core.db import utcnow
from zhili.core.errors import NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, in_scope, path_predicate
from zhili.core.query import paginate
from zhili.core.security import Role
from zhili.regions.models import OPEN_END, Unit, UnitLevel
from zhili.users.models import User
from zhili.users.service import CachedPrincipal

log = logging.getLogger(__name__)


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


def report_case(
    session: Session, *, principal: Principal | None, channel: Channel | None, data: dict[str, Any],
    idempotency_key: str | None = None, client: str | None = None, api_client_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> tuple[Case, bool]:
    """File a new case from any channel; returns (case, created). A repeated Idempotency-Key returns the first
    (the same key with another report is refused). Intake applies the channel rules (``channel`` None: the
    reporter's role's default)."""
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
    A coroutine, so the request waits for the writer's commit without holding a thread or a connection.
    Intake applies the channel rules (``channel`` None: the reporter's role's default)."""
    out = await writer.submit_async(intake.IntakeRequest(principal=principal, channel=channel, data=data,
                                                         idempotency_key=idempotency_key, auth=auth))
    if out.error is not None:
        raise out.error
    row, snap = out.row, out.snapshot
    assert row is not None and snap is not None  # a report without an error always has its case and snapshot
    view = case_view_values(row, departments=snap.departments,
                            category_name=snap.category_names.get(row["category_id"]))
    return view, out.created, list(out.duplicates)


def _attach(session: Session, case: Case, ids: list[Any]) -> None:
    for aid in ids:
        att = session.get(Attachment, uuid.UUID(str(aid)))
        if att is None:
            raise ValidationFailed(f"附件 {aid} 不存在", code="attachment_not_found")
        if att.case_id is not None and att.case_id != case.id:
            raise ValidationFailed("附件已属于其他事件", code="attachment_in_use")
        att.case_id = case.id


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
    phone = engine.reporter_phone(case)
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
        get_case(session, principal=principal, case_id=att.case_id)
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
                "merged_count", "version")


def case_view(session: Session, case: Case, *, departments: dict[str, str] | None = None,
              category_names: dict[uuid.UUID, str] | None = None) -> dict[str, Any]:
    """A case as the API shows it — never with the reporter's identity."""
    from zhili.org.service import department_names

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

    from zhili.org.service import department_names

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
                                          Notification.recipient.in_(targets) if targets else false()))
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
