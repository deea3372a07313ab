"""Users, login with lockout, sessions, and the principal (identity + jurisdiction) behind each request."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass
from dataclasses import replace as dc_replace
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from zhili.core import audit, config_version
from zhili.core.crypto import get_cipher
from zhili.core.db import database_key, keep_on_refusal, utcnow
from zhili.core.errors import Conflict, Locked, NotFound, Unauthenticated, ValidationFailed
from zhili.core.ids import new_id
from zhili.core.jurisdiction import Principal, authorize, in_scope, path_predicate
from zhili.core.masking import mask_phone, mask_text
from zhili.core.query import contains_text, paginate
from zhili.core.security import (
    ROLE_LABELS,
    Perm,
    Role,
    check_password_strength,
    hash_password,
    needs_rehash,
    new_token,
    token_digest,
    verify_password,
)
from zhili.core.settings import get_settings
from zhili.core.validators import validate_mobile
from zhili.regions.models import Unit
from zhili.users.models import AuthSession, User, UserUnit

_DUMMY_HASH = hash_password("not-a-real-password-Zz9!")
STAFF_ROLES_WITHOUT_UNITS = {Role.resident}


def login(
    session: Session, *, username: str, password: str, ip: str | None = None, user_agent: str | None = None
) -> tuple[str, AuthSession, User]:
    """Check a password, apply lockout after repeated failures, and open a session; returns the token."""
    settings = get_settings()
    user = session.scalar(select(User).where(User.username == username)) or _user_by_phone(session, username)
    now = utcnow()
    if user is None:
        verify_password(_DUMMY_HASH, password)  # equalise timing so usernames can't be probed
        shown = mask_text(username)  # a mistyped phone number must not land in the audit log in clear
        keep_on_refusal(session, lambda s: audit.record(
            s, actor=audit.Actor(name=shown, role=None, ip=ip), action="auth.login_failed", object_type="user",
            object_id=None, after={"username": shown, "reason": "no_such_user"}))
        raise _bad_credentials()
    actor = audit.Actor(id=user.id, name=user.username, role=user.role.value, ip=ip)
    user_id = user.id
    if user.locked_until and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        keep_on_refusal(session, lambda s: audit.record(
            s, actor=actor, action="auth.login_failed", object_type="user", object_id=user_id,
            after={"reason": "locked"}))
        raise Locked(f"密码连续错误次数过多，账号已锁定，请约{minutes}分钟后再试", details={"locked_until":
                     user.locked_until.isoformat()})
    if not verify_password(user.password_hash, password):

        def count_failure(s: Session) -> int:
            """One more failure on the account (read afresh: this runs again after a rollback); 0 once locked."""
            u = s.get_one(User, user_id)
            u.failed_logins += 1
            locked = u.failed_logins >= settings.login_max_failures
            if locked:
                u.locked_until = now + dt.timedelta(minutes=settings.login_lockout_minutes)
                u.failed_logins = 0
            audit.record(s, actor=actor, action="auth.locked" if locked else "auth.login_failed",
                         object_type="user", object_id=user_id)
            s.flush()
            return 0 if locked else settings.login_max_failures - u.failed_logins

        left = keep_on_refusal(session, count_failure)
        if not left:
            raise Locked(f"密码连续错误{settings.login_max_failures}次，账号已锁定"
                         f"{settings.login_lockout_minutes}分钟")
        raise _bad_credentials()
    if not user.is_active:  # only told to a caller who knows the password
        keep_on_refusal(session, lambda s: audit.record(
            s, actor=actor, action="auth.login_failed", object_type="user", object_id=user_id,
            after={"reason": "disabled"}))
        raise Unauthenticated("账号已停用，请联系管理员", code="account_disabled")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    token = new_token()
    auth = AuthSession(user_id=user.id, token_hash=token_digest(token), created_at=now,
                       expires_at=now + dt.timedelta(hours=settings.session_hours), ip=ip,
                       user_agent=(user_agent or "")[:255])
    session.add(auth)
    audit.record(session, actor=audit.Actor(id=user.id, name=user.username, role=user.role.value, ip=ip),
                 action="auth.login", object_type="user", object_id=user.id)
    session.flush()
    return token, auth, user


def _bad_credentials() -> Unauthenticated:
    """The one answer to a wrong password or an unknown user: nothing in it tells whether the account exists."""
    return Unauthenticated("用户名或密码错误", code="bad_credentials")


def _user_by_phone(session: Session, value: str) -> User | None:
    """The account whose phone number is ``value`` (login by phone); a resident's when staff share the number."""
    try:
        phone = validate_mobile(value)
    except ValidationFailed:
        return None
    bidx = get_cipher().blind_index(phone, purpose="app_user.phone")
    found = list(session.scalars(select(User).where(User.phone_bidx == bidx).limit(5)))
    if len(found) > 1:
        found = [u for u in found if u.role == Role.resident]
    return found[0] if len(found) == 1 else None


def logout(session: Session, *, token: str) -> None:
    """Revoke the session behind ``token``."""
    session.execute(update(AuthSession).where(AuthSession.token_hash == token_digest(token))
                    .values(revoked_at=utcnow()))
    session.flush()


@dataclass(frozen=True)
class CachedPrincipal:
    """A principal as cached by token: valid while the authentication counter still reads ``stamp``."""

    principal: Principal
    expires_at: dt.datetime
    stamp: config_version.Stamp
    digest: str


# (database, token digest) → the principal. Entries are checked against the authentication counter (one indexed
# row, bumped by triggers on every revocation and on every change to what a principal is built from), so a cache
# hit costs one small read instead of the session, user and unit lookups.
_principals: dict[tuple[str, str], CachedPrincipal] = {}
_principals_lock = threading.Lock()
_PRINCIPAL_CACHE_SIZE = 20_000


def _cache_key(database: str, digest: str) -> tuple[str, str]:
    """The principal cache's key: the database (:func:`~zhili.core.db.database_key`) and the token's digest."""
    return (database, digest)


def _auth_stamp(session: Session) -> config_version.Stamp | None:
    stamps = config_version.current_all(session)
    return stamps.get(config_version.AUTH)


def _load_principal(session: Session, digest: str, now: dt.datetime) -> tuple[Principal, dt.datetime]:
    conn = session.connection()
    row = conn.execute(
        select(AuthSession.revoked_at, AuthSession.expires_at, User.id, User.username, User.display_name, User.role,
               User.is_active, User.department)
        .join(User, User.id == AuthSession.user_id).where(AuthSession.token_hash == digest)
    ).first()
    if row is None:
        raise Unauthenticated()
    if row.revoked_at is not None or row.expires_at <= now or not row.is_active:
        raise Unauthenticated("登录已过期，请重新登录", code="session_expired")
    units = conn.execute(
        select(Unit.id, Unit.path).join(UserUnit, UserUnit.unit_id == Unit.id).where(UserUnit.user_id == row.id)
    ).all()
    return Principal(
        user_id=row.id, username=row.username, display_name=row.display_name, role=row.role,
        scope_paths=tuple(p for _, p in units), unit_ids=tuple(i for i, _ in units), department=row.department,
    ), row.expires_at


def authenticate(session: Session, *, token: str, stamp: config_version.Stamp | None = None) -> CachedPrincipal:
    """The live session behind a token as a cache entry (raise 401): from the cache when the authentication
    counter is unchanged (``stamp``: the counter as already read in this transaction), else from the database."""
    now = utcnow()
    digest = token_digest(token)
    if stamp is None:
        stamp = _auth_stamp(session)
    key = _cache_key(database_key(session.get_bind().engine), digest)
    hit = _principals.get(key)
    if stamp is not None and hit is not None and hit.stamp == stamp and hit.expires_at > now:
        return hit
    principal, expires_at = _load_principal(session, digest, now)
    entry = CachedPrincipal(principal=principal, expires_at=expires_at, stamp=stamp or (0, 0), digest=digest)
    if stamp is not None:  # no counter (a database without migration 0008): never cache
        with _principals_lock:
            if len(_principals) >= _PRINCIPAL_CACHE_SIZE:
                _principals.clear()
            _principals[key] = entry
    return entry


def cached_principal(*, database: str, token: str) -> CachedPrincipal | None:
    """The cache entry for a token on a database (:func:`~zhili.core.db.database_key`) without reading it, or None.
    The caller must confirm it — compare ``stamp`` with the authentication counter in the transaction that acts on
    it (the intake writer does)."""
    hit = _principals.get(_cache_key(database, token_digest(token)))
    if hit is None or hit.expires_at <= utcnow():
        return None
    return hit


def principal_for_token(session: Session, *, token: str, ip: str | None = None) -> Principal:
    """The principal for a live session token, or raise 401 (one indexed read when cached)."""
    return dc_replace(authenticate(session, token=token).principal, ip=ip)


def recheck_principal(session: Session, *, entry: CachedPrincipal, stamp: config_version.Stamp | None
                      ) -> Principal:
    """Confirm a cached principal against the database when the authentication counter has moved on (raise 401 if
    the session has ended or the principal has changed since it was cached)."""
    if stamp is not None and entry.stamp == stamp:
        return entry.principal
    principal, _ = _load_principal(session, entry.digest, utcnow())
    principal = dc_replace(principal, ip=entry.principal.ip)
    if principal != entry.principal:
        raise Unauthenticated("登录信息已变更，请重新登录后提交", code="session_changed")
    return principal


def principal_for_user(session: Session, *, user: User, ip: str | None = None) -> Principal:
    """Build a principal (role + jurisdiction paths from currently valid bound units) for a user."""
    units = session.execute(
        select(Unit.id, Unit.path).join(UserUnit, UserUnit.unit_id == Unit.id).where(UserUnit.user_id == user.id)
    ).all()
    return Principal(
        user_id=user.id, username=user.username, display_name=user.display_name, role=user.role,
        scope_paths=tuple(p for _, p in units), unit_ids=tuple(i for i, _ in units), ip=ip,
        department=user.department,
    )


def _check_units(session: Session, principal: Principal | None, unit_ids: list[uuid.UUID]) -> list[Unit]:
    units = []
    for uid in unit_ids:
        unit = session.get(Unit, uid)
        if unit is None or (principal is not None and not in_scope(principal, unit.path)):
            raise NotFound("绑定的单位不存在或不在您的管辖范围内", code="unit_not_found", details={"unit_id": str(uid)})
        units.append(unit)
    return units


def create_user(
    session: Session,
    *,
    principal: Principal | None,
    username: str,
    display_name: str,
    role: Role,
    password: str,
    unit_ids: list[uuid.UUID] | None = None,
    department: str | None = None,
    phone: str | None = None,
    must_change_password: bool = False,
) -> User:
    """Create a user bound to units inside the creator's jurisdiction (``principal=None`` for the CLI and
    self-registration)."""
    if principal is not None:
        authorize(principal, Perm.user_write)
    unit_ids = unit_ids or []
    if session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"用户名“{username}”已存在", code="username_taken")
    check_password_strength(password, username=username)
    if role not in STAFF_ROLES_WITHOUT_UNITS and not unit_ids:
        raise ValidationFailed("工作人员账号必须绑定至少一个单位（管辖范围）", code="units_required")
    units = _check_units(session, principal, unit_ids)
    user = User(id=new_id(), username=username, display_name=display_name, role=role,
                password_hash=hash_password(password), department=department,
                must_change_password=must_change_password, password_changed_at=utcnow())
    _set_phone(user, phone)
    user.units = [UserUnit(unit_id=u.id) for u in units]
    session.add(user)
    session.flush()
    audit.record(session, actor=principal.actor if principal else audit.SYSTEM, action="user.create",
                 object_type="user", object_id=user.id,
                 after={"username": username, "role": role.value, "units": [u.code for u in units]})
    return user


def _set_phone(user: User, phone: str | None) -> None:
    if phone is None:
        return
    cipher = get_cipher()
    if phone == "":
        user.phone_enc, user.phone_bidx = None, None
        return
    phone = validate_mobile(phone)
    user.phone_enc = cipher.encrypt(phone, table="app_user", column="phone", row_id=user.id)
    user.phone_bidx = cipher.blind_index(phone, purpose="app_user.phone")


def user_phone(user: User) -> str | None:
    """Decrypt a user's phone number."""
    if user.phone_enc is None:
        return None
    return get_cipher().decrypt(user.phone_enc, table="app_user", column="phone", row_id=user.id)


def _visible_user(session: Session, principal: Principal, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None or not _user_in_scope(session, principal, user):
        raise NotFound("用户不存在或不在您的管辖范围内")
    return user


def _user_in_scope(session: Session, principal: Principal, user: User) -> bool:
    paths = [p for (p,) in session.execute(
        select(Unit.path).join(UserUnit, UserUnit.unit_id == Unit.id).where(UserUnit.user_id == user.id))]
    if not paths:  # an account bound to no unit (a resident): only account managers see it
        return principal.can(Perm.user_write)
    return all(in_scope(principal, p) for p in paths)


def get_user(session: Session, *, principal: Principal, user_id: uuid.UUID) -> User:
    """One user visible to the principal."""
    authorize(principal, Perm.user_read)
    return _visible_user(session, principal, user_id)


def list_users(
    session: Session, *, principal: Principal, role: Role | None = None, q: str | None = None,
    page: int = 1, page_size: int = 50, sort: str | None = None, under_path: str | None = None,
    is_active: bool | None = None, locked: bool | None = None,
) -> tuple[list[User], int]:
    """Users bound to units inside the principal's jurisdiction (admins also see unbound residents); optionally
    only those bound to a unit under ``under_path``, active or not, locked or not."""
    authorize(principal, Perm.user_read)
    in_scope_ids = (
        select(UserUnit.user_id).join(Unit, Unit.id == UserUnit.unit_id)
        .where(path_predicate(Unit.path, principal.scope_paths))
    )
    # Like get_user: a user is visible only if every unit they are bound to lies in the caller's jurisdiction.
    outside_ids = (
        select(UserUnit.user_id).join(Unit, Unit.id == UserUnit.unit_id)
        .where(~path_predicate(Unit.path, principal.scope_paths))
    )
    visible = User.id.in_(in_scope_ids) & ~User.id.in_(outside_ids)
    stmt = select(User).where(visible)
    if principal.can(Perm.user_write):  # account managers also see accounts bound to no unit
        stmt = select(User).where(visible | ~User.id.in_(select(UserUnit.user_id)))
    if role:
        stmt = stmt.where(User.role == role)
    if q:
        stmt = stmt.where(contains_text(User.username, q) | contains_text(User.display_name, q))
    if under_path:
        stmt = stmt.where(User.id.in_(select(UserUnit.user_id).join(Unit, Unit.id == UserUnit.unit_id)
                                      .where(path_predicate(Unit.path, (under_path,)))))
    if is_active is not None:
        stmt = stmt.where(User.is_active.is_(is_active))
    if locked is not None:
        is_locked = User.locked_until.is_not(None) & (User.locked_until > utcnow())
        stmt = stmt.where(is_locked if locked else ~is_locked)
    return paginate(session, stmt, page=page, page_size=page_size, sort=sort,
                    sortable={"username": User.username, "created_at": User.created_at, "role": User.role},
                    default_sort=[User.username])


def update_user(session: Session, *, principal: Principal, user_id: uuid.UUID, changes: dict[str, Any]) -> User:
    """Change a user's profile, role, units or status."""
    authorize(principal, Perm.user_write)
    user = _visible_user(session, principal, user_id)
    before = user_summary(user)
    if "unit_ids" in changes and changes["unit_ids"] is not None:
        units = _check_units(session, principal, changes.pop("unit_ids"))
        # keep the bindings that stay (replacing them would insert a duplicate before the old row is deleted)
        kept = {b.unit_id: b for b in user.units}
        user.units = [kept.get(u.id) or UserUnit(unit_id=u.id) for u in {u.id: u for u in units}.values()]
    if "phone" in changes:
        _set_phone(user, changes.pop("phone"))
    for key in ("display_name", "role", "department", "is_active"):
        if key in changes and changes[key] is not None:
            setattr(user, key, changes[key])
    if user.role not in STAFF_ROLES_WITHOUT_UNITS and not user.units:
        raise ValidationFailed("工作人员账号必须绑定至少一个单位（管辖范围）", code="units_required")
    if changes.get("is_active") is False:
        _revoke_all(session, user.id)
    session.flush()
    audit.record(session, actor=principal.actor, action="user.update", object_type="user", object_id=user.id,
                 before=before, after=user_summary(user))
    return user


def user_summary(user: User) -> dict[str, Any]:
    """What the audit log records about a user (no secrets)."""
    return {"username": user.username, "display_name": user.display_name, "role": user.role.value,
            "department": user.department, "is_active": user.is_active,
            "units": sorted(str(u.unit_id) for u in user.units)}


def end_sessions(session: Session, *, user_id: uuid.UUID, actor: audit.Actor, now: dt.datetime | None = None) -> int:
    """End every live session of an account (it must log in again), audited as ``user.sessions_revoke`` with how
    many were ended; returns that number. The caller has checked that ``actor`` may do this (an administrator for
    the account, or the account's owner who proved it is theirs)."""
    now = now or utcnow()
    live = (AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None), AuthSession.expires_at > now)
    n = int(session.scalar(select(func.count()).select_from(AuthSession).where(*live)) or 0)
    session.execute(update(AuthSession).where(*live).values(revoked_at=now))
    session.flush()
    audit.record(session, actor=actor, action="user.sessions_revoke", object_type="user", object_id=user_id,
                 after={"revoked": n})
    return n


def reset_forgotten_password(session: Session, *, user: User, password: str, ip: str | None = None,
                             now: dt.datetime | None = None) -> None:
    """Set a new password for a user who proved who they are without logging in (a code sent to their phone):
    the lockout is cleared and every session ended; audited as ``user.password_reset_sms`` by the user. The
    caller has checked the proof and the password's strength."""
    now = now or utcnow()
    actor = audit.Actor(id=user.id, name=user.username, role=user.role.value, ip=ip)
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.must_change_password = False
    user.failed_logins = 0
    user.locked_until = None
    end_sessions(session, user_id=user.id, actor=actor, now=now)
    audit.record(session, actor=actor, action="user.password_reset_sms", object_type="user", object_id=user.id)


def _revoke_all(session: Session, user_id: uuid.UUID, *, keep_token: str | None = None) -> None:
    stmt = update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    if keep_token:
        stmt = stmt.where(AuthSession.token_hash != token_digest(keep_token))
    session.execute(stmt.values(revoked_at=utcnow()))


def change_password(session: Session, *, principal: Principal, old_password: str, new_password: str,
                    current_token: str | None = None) -> None:
    """Change one's own password (old one required); other sessions (all but ``current_token``'s) are revoked."""
    user = session.get(User, principal.user_id)
    assert user is not None
    if not verify_password(user.password_hash, old_password):
        raise ValidationFailed("原密码不正确", code="bad_old_password")
    if old_password == new_password:
        raise ValidationFailed("新密码不能与原密码相同", code="password_reused")
    check_password_strength(new_password, username=user.username)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    user.must_change_password = False
    _revoke_all(session, user.id, keep_token=current_token)
    session.flush()
    audit.record(session, actor=principal.actor, action="user.password_change", object_type="user",
                 object_id=user.id)


def reset_password(session: Session, *, principal: Principal | None, user_id: uuid.UUID, new_password: str) -> None:
    """An administrator sets a new password; the user must change it at next login; lockout is cleared
    (``principal=None`` for the CLI)."""
    if principal is not None:
        authorize(principal, Perm.user_write)
    user = session.get(User, user_id) if principal is None else _visible_user(session, principal, user_id)
    if user is None:
        raise NotFound("用户不存在")
    check_password_strength(new_password, username=user.username)
    user.password_hash = hash_password(new_password)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    _revoke_all(session, user.id)
    session.flush()
    audit.record(session, actor=principal.actor if principal else audit.SYSTEM, action="user.password_reset",
                 object_type="user", object_id=user.id)


def describe_user(session: Session, *, user: User) -> dict[str, Any]:
    """A user as the API shows it (phone masked, units resolved)."""
    units = session.scalars(select(Unit).join(UserUnit, UserUnit.unit_id == Unit.id)
                            .where(UserUnit.user_id == user.id)).all()
    return {
        "id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role,
        "role_label": ROLE_LABELS[user.role], "department": user.department,
        "phone_masked": mask_phone(user_phone(user)), "is_active": user.is_active,
        "locked": bool(user.locked_until and user.locked_until > utcnow()),
        "units": [{"id": u.id, "code": u.code, "name": u.name, "level": u.level.value, "path": u.path}
                  for u in units],
        "last_login_at": user.last_login_at, "created_at": user.created_at,
    }


def get_user_self(session: Session, *, principal: Principal) -> User:
    """The principal's own user row."""
    user = session.get(User, principal.user_id)
    if user is None:
        raise Unauthenticated()
    return user
