"""Reading the audit log (listing and verification) for auditors: each function checks ``audit:read`` itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.audit import AuditEvent, VerifyResult
from zhili.core.db import write_after_read
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.query import paginate, starts_with_text
from zhili.core.security import Perm


def list_events(
    session: Session, *, principal: Principal, action: str | None = None, object_type: str | None = None,
    object_id: str | None = None, actor: str | None = None, page: int = 1, page_size: int = 50,
) -> tuple[list[Any], int]:
    """Audit events, newest first, filtered (``action`` by prefix, e.g. ``person.reveal``; auditors only: 三员分立)."""
    authorize(principal, Perm.audit_read)
    stmt = select(AuditEvent)
    if action:
        stmt = stmt.where(starts_with_text(AuditEvent.action, action))
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    if actor:
        stmt = stmt.where(AuditEvent.actor_name == actor)
    return paginate(session, stmt, page=page, page_size=page_size, sort=None, sortable={},
                    default_sort=[AuditEvent.seq.desc()])


def verify(session: Session, *, principal: Principal) -> VerifyResult:
    """Verify the chain and record that the auditor did so (after the read: the check holds no write lock)."""
    authorize(principal, Perm.audit_read)
    result = audit.verify_chain(session)
    outcome = {"ok": result.ok, "checked": result.checked, "problems": len(result.problems)}
    write_after_read(session, lambda s: audit.record(s, actor=principal.actor, action="audit.verify",
                                                     object_type="audit", after=outcome))
    return result
