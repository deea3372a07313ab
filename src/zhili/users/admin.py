"""Account administration for the admin pages (三员分立: the system administrator manages accounts; the auditor
only reads the log): create with a one-time initial password, edit, reset, unlock, deactivate, revoke sessions.

Everything goes through :mod:`zhili.users.service` where a function exists; what was missing is added here,
each change audited in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.db import utcnow
from zhili.core.errors import ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm, Role, generate_password
from zhili.org.service import get_department
from zhili.regions.service import get_unit
from zhili.users import service
from zhili.users.models import AuthSession, User


@dataclass(frozen=True)
class UserFilter:
    """Filters of the user list."""

    role: Role | None = None
    unit_id: uuid.UUID | None = None
    status: str | None = None  # active | inactive | locked
    q: str | None = None


STATUSES = ("active", "inactive", "locked")


def search_users(session: Session, *, principal: Principal, filters: UserFilter, page: int = 1,
                 page_size: int = 50) -> tuple[list[User], int]:
    """Users in the principal's jurisdiction by role, unit (subtree), status and name."""
    authorize(principal, Perm.user_read)
    under = get_unit(session, principal=principal, unit_id=filters.unit_id).path if filters.unit_id else None
    status = filters.status if filters.status in STATUSES else None
    return service.list_users(
        session, principal=principal, role=filters.role, q=filters.q, page=page, page_size=page_size,
        under_path=under, is_active={"active": True, "inactive": False}.get(status or ""),
        locked=True if status == "locked" else None)


def _check_department(session: Session, role: Role, department: str | None) -> None:
    if role == Role.department_handler and not department:
        raise ValidationFailed("职能部门账号必须选择所属部门", code="department_required")
    if department:
        get_department(session, code=department)


def create_account(
    session: Session, *, principal: Principal, username: str, display_name: str, role: Role,
    unit_ids: list[uuid.UUID], department: str | None = None, phone: str | None = None,
) -> tuple[User, str]:
    """Create an account with a random initial password (returned once, never stored in clear) that must be
    changed at first login."""
    authorize(principal, Perm.user_write)
    _check_department(session, role, department)
    password = generate_password()
    user = service.create_user(session, principal=principal, username=username, display_name=display_name,
                               role=role, password=password, unit_ids=unit_ids,
                               department=department if role == Role.department_handler else None,
                               phone=phone or None, must_change_password=True)
    return user, password


def edit_account(session: Session, *, principal: Principal, user_id: uuid.UUID, changes: dict[str, Any]) -> User:
    """Change name, role, units, department or phone; administrators cannot change their own role."""
    authorize(principal, Perm.user_write)
    user = service.get_user(session, principal=principal, user_id=user_id)
    role = changes.get("role") or user.role
    if user.id == principal.user_id and role != user.role:
        raise ValidationFailed("不能修改自己的角色", code="own_role")
    if "department" in changes or "role" in changes:
        department = changes.get("department", user.department)
        _check_department(session, role, department)
        changes["department"] = department if role == Role.department_handler else ""
    return service.update_user(session, principal=principal, user_id=user_id, changes=changes)


def reset_to_generated_password(session: Session, *, principal: Principal, user_id: uuid.UUID) -> str:
    """Reset a password to a random one (returned once); the user must change it at next login."""
    authorize(principal, Perm.user_write)
    password = generate_password()
    service.reset_password(session, principal=principal, user_id=user_id, new_password=password)
    return password


def unlock_account(session: Session, *, principal: Principal, user_id: uuid.UUID) -> User:
    """Lift a lockout after repeated failed logins."""
    authorize(principal, Perm.user_write)
    user = service.get_user(session, principal=principal, user_id=user_id)
    before = {"locked_until": user.locked_until, "failed_logins": user.failed_logins}
    user.locked_until, user.failed_logins = None, 0
    session.flush()
    audit.record(session, actor=principal.actor, action="user.unlock", object_type="user", object_id=user.id,
                 before=before)
    return user


def set_account_active(session: Session, *, principal: Principal, user_id: uuid.UUID, active: bool) -> User:
    """Deactivate (which also ends the user's sessions) or reactivate an account; never one's own."""
    authorize(principal, Perm.user_write)
    if user_id == principal.user_id and not active:
        raise ValidationFailed("不能停用自己的账号", code="own_account")
    return service.update_user(session, principal=principal, user_id=user_id, changes={"is_active": active})


def revoke_sessions(session: Session, *, principal: Principal, user_id: uuid.UUID) -> int:
    """End every live session of an account (it must log in again); returns how many were ended."""
    authorize(principal, Perm.user_write)
    user = service.get_user(session, principal=principal, user_id=user_id)
    return service.end_sessions(session, user_id=user.id, actor=principal.actor)


def live_session_count(session: Session, *, user: User) -> int:
    """How many unexpired, unrevoked sessions an account has."""
    return int(session.scalar(select(func.count()).select_from(AuthSession).where(
        AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None), AuthSession.expires_at > utcnow())) or 0)
