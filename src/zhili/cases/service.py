"""The case loop: intake, the one transition() that applies the workflow table, deadlines, visibility.

Intake and every transition run inside the caller's transaction: the state change (with an optimistic
version check), the timeline event, the audit event, statistics and notifications land together or not at all.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from zhili.cases import duplicates, engine, intake
from zhili.cases.models import (
    OPEN_STATES,
    Case,
    CaseEvent,
    CaseState,
    Channel,
    SubTask,
    Supervision,
)
from zhili.cases.scope import can_see, visibility
from zhili.cases.timeline import EventView, event_views
from zhili.cases.views import case_view_values
from zhili.cases.writer import IntakeWriter
from zhili.core import audit
from zhili.core import query as core_query
from zhili.core.crypto import get_cipher
from zhili.core.db import write_after_read
from zhili.core.errors import NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, in_scope, path_predicate
from zhili.core.query import Listing, contains_text, paginate_counted, starts_with_text
from zhili.core.reveal import authorize_reveal
from zhili.core.security import Perm, Role
from zhili.core.validators import validate_mobile
from zhili.regions.models import OPEN_END, Unit, UnitLevel
from zhili.users.models import User
from zhili.users.service import CachedPrincipal

log = logging.getLogger(__name__)


# -- visibility ---------------------------------------------------------------------------------------------

def get_case(session: Session, *, principal: Principal, case_id: uuid.UUID) -> Case:
    """One case the principal may see (404 otherwise: existence does not leak)."""
    authorize(principal, Perm.case_read)
    case = session.get(Case, case_id)
    if case is None or not can_see(session, principal, case):
        raise NotFound("事件不存在或无权查看")
    return case


def get_case_by_number(session: Session, *, principal: Principal, number: str) -> Case:
    """A case by its human number."""
    authorize(principal, Perm.case_read)
    case = session.scalar(select(Case).where(Case.number == number))
    if case is None or not can_see(session, principal, case):
        raise NotFound("事件不存在或无权查看")
    return case


@dataclass
class CaseFilter:
    """List filters. ``reporter_phone`` (exact, through the blind indexes) needs the reveal permission of the
    command centre; the pages never put it in a URL, a saved view or an export."""

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
    number: str | None = None  # the exact case number
    supervised: bool = False  # an unanswered supervision order (督办中)
    reporter_phone: str | None = None
    history: bool | None = None  # None: all; True: imported history only (历史导入); False: live cases only


REPORTER_PHONE_PURPOSE = "case.reporter_phone"  # the blind index intake writes for a typed call-back phone


def _reporter_predicate(principal: Principal, phone: str) -> Any:
    """Cases whose reporter left this phone (typed call-back phone) or whose reporter's account has it."""
    authorize(principal, Perm.case_reveal_reporter, "只有指挥中心可以按上报人手机号查找事件")
    phone = validate_mobile(phone)
    cipher = get_cipher()
    accounts = select(User.id).where(User.phone_bidx == cipher.blind_index(phone, purpose="app_user.phone"))
    return or_(Case.reporter_phone_bidx == cipher.blind_index(phone, purpose=REPORTER_PHONE_PURPOSE),
               Case.reporter_user_id.in_(accounts))


def _filtered(session: Session, principal: Principal, f: CaseFilter) -> Any:
    stmt = select(Case).where(visibility(principal))
    if f.reporter_phone:
        stmt = stmt.where(_reporter_predicate(principal, f.reporter_phone))
    if f.number:
        stmt = stmt.where(Case.number == f.number.strip())
    if f.supervised:
        stmt = stmt.where(exists().where(Supervision.case_id == Case.id, Supervision.acknowledged_at.is_(None)))
    if f.state:
        stmt = stmt.where(Case.state.in_(f.state))
    if f.open_only:
        stmt = stmt.where(Case.state.in_(OPEN_STATES))
    if f.history is not None:
        stmt = stmt.where(Case.is_history.is_(f.history))
    if f.category:
        # the code itself or any below it: one prefix test (``LIKE 'BJ%'`` holds 'BJ' too), which PostgreSQL seeks
        # in ix_case_category_prefix; an OR with the equality made it read the whole index (1,000,000 cases: 555 ms)
        stmt = stmt.where(starts_with_text(Case.category_code, f.category))
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
        stmt = stmt.where(or_(contains_text(Case.title, k), contains_text(Case.description, k), Case.number == k,
                              contains_text(Case.address, k)))
    return stmt


# the list's sort keys (a leading '-' sorts descending)
SORTABLE = {"reported_at": Case.reported_at, "handle_due_at": Case.handle_due_at, "number": Case.number,
            "state": Case.state, "updated_at": Case.updated_at}


def list_cases(session: Session, *, principal: Principal, filters: CaseFilter, page: int = 1, page_size: int = 50,
               sort: str | None = None, count_cap: int | None = None) -> Listing:
    """Cases visible to the principal, filtered and paginated: (rows, total, exact). The total is counted up to
    ``count_cap`` (None: :data:`zhili.core.query.COUNT_CAP`; exact False past it: a district's whole history is
    not counted on every page, its figures come from the statistics). A search by the reporter's phone is audited
    (which cases a phone number reported is personal data; the number itself is not written down)."""
    authorize(principal, Perm.case_read)
    listing = paginate_counted(
        session, _filtered(session, principal, filters), page=page, page_size=page_size, sort=sort,
        sortable=SORTABLE, default_sort=[Case.reported_at.desc(), Case.id],
        count_cap=core_query.COUNT_CAP if count_cap is None else count_cap)
    total, exact = listing.total, listing.exact
    if filters.reporter_phone:  # recorded after the read (a posted search reads only: it holds no write lock)
        write_after_read(session, lambda s: audit.record(s, actor=principal.actor, action="case.search_by_reporter",
                                                         object_type="case", object_id=None,
                                                         after={"matched": total} if exact
                                                         else {"matched": total, "more": True}))
    return listing



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
    now: dt.datetime | None = None, flow: str = "event",
) -> tuple[Case, bool]:
    """File a new case from any channel; returns (case, created). A repeated Idempotency-Key returns the first
    (the same key with another report is refused). Intake applies the channel rules (``channel`` None: the
    reporter's role's default). ``principal`` None: a report without a user (Open311, imports), which its caller
    has authorised. ``flow``: the event flow, unless an in-process service files another (a residence-permit
    application, :func:`zhili.rental.permits.apply`, after checking what that flow needs)."""
    if principal is not None:
        authorize(principal, Perm.case_report)
    [out] = intake.file_cases(session, requests=[intake.IntakeRequest(
        principal=principal, channel=channel, data=data, idempotency_key=idempotency_key, client=client,
        api_client_id=api_client_id, now=now, flow=flow)])
    if out.error is not None:
        raise out.error
    case = session.get(Case, out.case_id)
    assert case is not None
    return case, out.created


async def submit_report(
    *, writer: IntakeWriter, principal: Principal, channel: Channel | None, data: dict[str, Any],
    idempotency_key: str | None = None, auth: CachedPrincipal | None = None,
) -> tuple[dict[str, Any], bool, list[tuple[Any, float | None]]]:
    """File a report through the intake writer (committed when this returns): (case view, created, duplicate
    candidates — :class:`~zhili.cases.duplicates.Suggestion` — with their distance). ``auth``: the cache entry
    ``principal`` came from, confirmed by the writer.
    A coroutine, so the request waits for the writer's commit without holding a thread or a connection.
    Intake applies the channel rules (``channel`` None: the reporter's role's default)."""
    authorize(principal, Perm.case_report)
    out = await writer.submit_async(intake.IntakeRequest(principal=principal, channel=channel, data=data,
                                                         idempotency_key=idempotency_key, auth=auth))
    if out.error is not None:
        raise out.error
    row, snap = out.row, out.snapshot
    assert row is not None and snap is not None  # a report without an error always has its case and snapshot
    view = case_view_values(row, departments=snap.departments,
                            category_name=snap.category_names.get(row["category_id"]))
    return view, out.created, list(out.duplicates)


# -- duplicates ---------------------------------------------------------------------------------------------

def find_duplicates(session: Session, *, principal: Principal, case: Case, limit: int = 10
                    ) -> list[tuple[duplicates.Suggestion, float | None]]:
    """The open cases this one may repeat (疑似重复件, :mod:`zhili.cases.duplicates`) that the principal may see,
    best score first, each with its distance in metres (None when either has no point)."""
    authorize(principal, Perm.case_read)
    snap = intake.snapshot(session)
    row = {c: getattr(case, c) for c in ("id", "title", "description", "address", "category_code", "reported_at",
                                         "lon", "lat", "grid_id")}
    found = duplicates.suggest(session, principal=principal, probe=duplicates.probe_of(row, snap.categories),
                               category_names={code: c.name for code, c in snap.categories.items()}, limit=limit)
    return [(s, s.distance_m) for s in found]


# -- reading details ----------------------------------------------------------------------------------------

def timeline(session: Session, *, principal: Principal, case_id: uuid.UUID) -> list[EventView]:
    """The case's steps in order (internal warnings shown to staff only), as the principal may read them: names,
    never codes, and the reporter as 上报人 — never their account (:mod:`zhili.cases.timeline`)."""
    from zhili.org.service import department_names

    authorize(principal, Perm.case_read)
    case = get_case(session, principal=principal, case_id=case_id)
    stmt = select(CaseEvent).where(CaseEvent.case_id == case.id)
    if principal.role == Role.resident:
        stmt = stmt.where(CaseEvent.public.is_(True))
    return event_views(session.scalars(stmt.order_by(CaseEvent.seq)), viewer=principal.role,
                       departments=department_names(session), case_rating=case.rating)


def subtasks(session: Session, *, case: Case) -> list[SubTask]:
    """Lead and co-handler sub-tasks of a joint case."""
    return list(session.scalars(select(SubTask).where(SubTask.case_id == case.id).order_by(SubTask.role.desc(),
                                                                                          SubTask.department)))


def reveal_reporter(session: Session, *, principal: Principal, case_id: uuid.UUID, reason: str) -> dict[str, Any]:
    """The reporter's name and phone for a call-back: command centre only, with a reason, audited (see
    ``core.reveal``)."""
    reason = authorize_reveal(session, principal=principal, perms=(Perm.case_reveal_reporter,), reason=reason,
                              object_type="case", object_id=case_id)
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
    authorize(principal, Perm.case_read)
    base = select(func.count()).select_from(Case).where(visibility(principal), Case.state.in_(OPEN_STATES))
    return {
        "new": session.scalar(base.where(Case.state == CaseState.dispatched)) or 0,
        "due_soon": session.scalar(base.where(Case.warning_level == "yellow")) or 0,
        "overdue": session.scalar(base.where(Case.overdue.is_(True))) or 0,
        "to_accept": session.scalar(base.where(Case.state == CaseState.reported)) or 0,
    }


def queue_counts_by_state(session: Session, *, principal: Principal) -> dict[str, int]:
    """Open cases per state for the principal."""
    authorize(principal, Perm.case_read)
    rows = session.execute(select(Case.state, func.count()).where(visibility(principal)).group_by(Case.state)).all()
    return {s.value: n for s, n in rows}
