"""Reading the audit log for auditors: the log with filters (actor, action, target, time, unit), one event, the
anchors, the chain verification (itself audited) and the accounts failing to log in. Each function checks
``audit:read`` itself (三员分立: the auditor reads the log; nobody else does, the administrator included).

Every query is bounded: lists are paginated, the reviews of a page (names of what the events refer to) read only
the objects of that page. The names of targets and actors are in :mod:`zhili.audit.names`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, cast, false, func, or_, select
from sqlalchemy.orm import Session

from zhili.cases.models import Case
from zhili.core import audit
from zhili.core.audit import AuditAnchor, AuditEvent, VerifyResult
from zhili.core.clock import local_midnight, utcnow
from zhili.core.db import write_after_read
from zhili.core.errors import NotFound
from zhili.core.jurisdiction import Principal, authorize, path_predicate
from zhili.core.query import check_page, paginate, starts_with_text
from zhili.core.security import Perm
from zhili.regions.models import Unit
from zhili.users.models import User, UserUnit

# What the auditor reviews on their own pages: every full-data reveal (and every refused one), every export.
REVEAL_ACTIONS = ("person.reveal", "case.reveal_reporter", "person.reveal_refused", "case.reveal_refused",
                  "rental.stay_reveal", "rental_stay.reveal_refused", "rental.stay_photo")
EXPORT_ACTIONS = ("registry.export", "case.export", "registry.import_rejected_download", "hub.quarantine.download",
                  "rental.export")
LOGIN_ACTIONS = ("auth.login_failed", "auth.locked")
MAX_ACCOUNTS = 100


@dataclass(frozen=True)
class EventFilter:
    """Which audit events to list (all given conditions hold)."""

    actor: str | None = None  # the actor's name as recorded (the username), exactly
    action: str | None = None  # by prefix, e.g. ``person.reveal`` (the API's filter)
    actions: tuple[str, ...] = ()  # exactly one of these (the pages' choices and review lists)
    object_type: str | None = None
    object_id: str | None = None
    case_number: str | None = None  # the case with this number is the target
    since: dt.date | None = None  # local days, both ends included
    until: dt.date | None = None
    unit_path: str | None = None  # done by someone working in this unit's subtree, or to a case lying in it


def _uuid_text(column: Any) -> ColumnElement[Any]:
    """A UUID (column or text) as 32 hex digits, the same on SQLite (stored so) and PostgreSQL (native UUIDs)."""
    return func.replace(cast(column, String), "-", "")


def _in_unit(path: str) -> ColumnElement[bool]:
    actors = select(UserUnit.user_id).join(Unit, Unit.id == UserUnit.unit_id).where(path_predicate(Unit.path, (path,)))
    cases = select(_uuid_text(Case.id)).where(path_predicate(Case.path, (path,)))
    return or_(AuditEvent.actor_id.in_(actors),
               and_(AuditEvent.object_type == "case", _uuid_text(AuditEvent.object_id).in_(cases)))


def _conditions(session: Session, f: EventFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if f.actor:
        out.append(AuditEvent.actor_name == f.actor)
    if f.action:
        out.append(starts_with_text(AuditEvent.action, f.action))
    if f.actions:
        out.append(AuditEvent.action.in_(f.actions))
    if f.object_type:
        out.append(AuditEvent.object_type == f.object_type)
    if f.object_id:
        out.append(AuditEvent.object_id == f.object_id)
    if f.case_number:
        case_id = session.scalar(select(Case.id).where(Case.number == f.case_number))
        out.append(and_(AuditEvent.object_type == "case", AuditEvent.object_id == str(case_id))
                   if case_id else false())
    if f.since:
        out.append(AuditEvent.at >= local_midnight(f.since))
    if f.until:
        out.append(AuditEvent.at < local_midnight(f.until + dt.timedelta(days=1)))
    if f.unit_path:
        out.append(_in_unit(f.unit_path))
    return out


def list_events(
    session: Session, *, principal: Principal, action: str | None = None, object_type: str | None = None,
    object_id: str | None = None, actor: str | None = None, filters: EventFilter | None = None, page: int = 1,
    page_size: int = 50,
) -> tuple[list[AuditEvent], int]:
    """Audit events, newest first, filtered (``action`` by prefix, e.g. ``person.reveal``; the keyword filters and
    ``filters`` combine); auditors only (三员分立)."""
    authorize(principal, Perm.audit_read)
    given: dict[str, Any] = {k: v for k, v in {"action": action, "object_type": object_type,
                                               "object_id": object_id, "actor": actor}.items() if v}
    f = dataclasses.replace(filters or EventFilter(), **given)
    stmt = select(AuditEvent).where(*_conditions(session, f))
    return paginate(session, stmt, page=page, page_size=page_size, sort=None, sortable={},
                    default_sort=[AuditEvent.seq.desc()])


def get_event(session: Session, *, principal: Principal, seq: int) -> tuple[AuditEvent, bool]:
    """One event and whether its own hash still matches its content (the chain's links: :func:`verify`)."""
    authorize(principal, Perm.audit_read)
    ev = session.scalar(select(AuditEvent).where(AuditEvent.seq == seq))  # the key is (seq, at) on PostgreSQL
    if ev is None:
        raise NotFound("审计记录不存在", code="audit_event_not_found")
    return ev, audit.hash_matches(ev)


def verify(session: Session, *, principal: Principal) -> VerifyResult:
    """Verify the chain and record that the auditor did so (after the read: the check holds no write lock)."""
    authorize(principal, Perm.audit_read)
    result = audit.verify_chain(session)
    outcome = {"ok": result.ok, "checked": result.checked, "problems": len(result.problems)}
    write_after_read(session, lambda s: audit.record(s, actor=principal.actor, action="audit.verify",
                                                     object_type="audit", after=outcome))
    return result


def list_anchors(session: Session, *, principal: Principal, page: int = 1, page_size: int = 20
                 ) -> tuple[list[AuditAnchor], int]:
    """The chain's anchors (copies of its head taken hourly), newest first."""
    authorize(principal, Perm.audit_read)
    return paginate(session, select(AuditAnchor), page=page, page_size=page_size, sort=None, sortable={},
                    default_sort=[AuditAnchor.seq.desc(), AuditAnchor.id.desc()])


def accounts_at_risk(session: Session, *, principal: Principal, account: str | None = None,
                     limit: int = MAX_ACCOUNTS) -> list[User]:
    """Accounts locked now or with failed logins since their last success (the lockout counters of the users
    table), locked ones first; at most ``limit``."""
    authorize(principal, Perm.audit_read)
    check_page(1, limit)
    now = utcnow()
    stmt = select(User).where(or_(User.locked_until > now, User.failed_logins > 0))
    if account:
        stmt = stmt.where(User.username == account)
    locked_first = case((User.locked_until > now, 0), else_=1)
    return list(session.scalars(stmt.order_by(locked_first, User.failed_logins.desc(), User.username).limit(limit)))
