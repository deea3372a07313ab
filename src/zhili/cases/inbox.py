"""The in-app inbox: notifications to a principal, their department, their units and (for the command centre) its
queue."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session

from zhili.core.clock import utcnow
from zhili.core.errors import NotFound
from zhili.core.jurisdiction import Principal
from zhili.core.security import Role
from zhili.regions.models import Unit


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
