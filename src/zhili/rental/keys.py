"""Electronic keys (电子钥匙) of rental rooms.

A key is issued only

* to a **tenant** with an active stay — automatically at check-in, valid from the move-in day to the end of the
  expected move-out day (``valid_to``; extending the stay extends the key) — and revoked at check-out;
* to the **landlord** of the room — at registration, valid until revoked (a new landlord key revokes the old).

The credential code is random (16 characters of Crockford base32, 80 bits) and shown exactly once, to whoever the
issuing call answers; the table keeps its keyed blind index (purpose ``rental.key``: a lock event's credential is
looked up by it) and its last four characters. A holder who lost the code renews the key: the old one is revoked
and a new code issued with the same validity. Every issue, renewal and revocation is audited; codes never are.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from zhili.core import audit, clock
from zhili.core.crypto import get_cipher
from zhili.core.errors import Conflict, ValidationFailed
from zhili.core.jurisdiction import Principal, in_scope, not_found
from zhili.core.security import Perm
from zhili.registry.models import Person
from zhili.rental.common import KEY, aware, day_end, day_start, is_landlord, load_room, require_any, tenant_condition
from zhili.rental.models import HolderKind, Key, Room, RoomStatus, Stay, StayState

KEY_PURPOSE = "rental.key"
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
CODE_LEN = 16
REVOKE_REASON_MAX = 200
STATES = {"valid": "有效", "pending": "未生效", "expired": "已过期", "revoked": "已作废"}


@dataclass(frozen=True)
class IssuedKey:
    """A key just issued and its credential code — the only time the code is seen."""

    key: Key
    code: str


def new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LEN))


def credential_hash(code: str) -> str:
    """The blind index a credential code is stored and looked up by (upper-cased, spaces and dashes dropped)."""
    return get_cipher().blind_index(normalise(code), purpose=KEY_PURPOSE)


def normalise(code: str) -> str:
    return "".join(ch for ch in str(code).strip().upper() if ch not in " -")


def key_state(key: Key, now: dt.datetime | None = None) -> str:
    """valid | pending | expired | revoked."""
    now = now or clock.utcnow()
    if key.revoked_at is not None:
        return "revoked"
    if aware(key.valid_from) > now:  # type: ignore[operator]
        return "pending"
    valid_to = aware(key.valid_to)
    if valid_to is not None and valid_to <= now:
        return "expired"
    return "valid"


def valid_condition(at: dt.datetime) -> Any:
    """Keys usable at ``at``."""
    return (Key.revoked_at.is_(None)) & (Key.valid_from <= at) & (or_(Key.valid_to.is_(None), Key.valid_to > at))


def _issue(session: Session, *, room: Room, holder_person_id: uuid.UUID, kind: HolderKind, stay: Stay | None,
           valid_from: dt.datetime, valid_to: dt.datetime | None, issued_by: str) -> IssuedKey:
    for _ in range(5):
        code = new_code()
        digest = credential_hash(code)
        if session.scalar(select(Key.id).where(Key.credential_hash == digest)) is None:
            break
    key = Key(room_id=room.id, stay_id=stay.id if stay else None, holder_person_id=holder_person_id,
              holder_kind=kind, path=room.path, credential_hash=digest, suffix=code[-4:], valid_from=valid_from,
              valid_to=valid_to, issued_by=issued_by[:64], issued_at=clock.utcnow())
    session.add(key)
    session.flush()
    return IssuedKey(key, code)


def issue_tenant_key(session: Session, *, actor: audit.Actor, room: Room, stay: Stay) -> IssuedKey:
    """The tenant's key of a stay just checked in (the check-in's own transaction). Only for an active stay."""
    if stay.state != StayState.active:
        raise Conflict("只能为在住租户发放电子钥匙", code="stay_not_active")
    issued = _issue(session, room=room, holder_person_id=stay.person_id, kind=HolderKind.tenant, stay=stay,
                    valid_from=day_start(stay.move_in), valid_to=day_end(stay.expected_move_out),
                    issued_by=actor.name or "system")
    audit.record(session, actor=actor, action="rental.key_issue", object_type="rental_key", object_id=issued.key.id,
                 after={"room": str(room.id), "stay": str(stay.id), "holder_kind": "tenant",
                        "suffix": issued.key.suffix, "valid_to": issued.key.valid_to})
    return issued


def issue_landlord_key(session: Session, *, principal: Principal, room_id: uuid.UUID) -> IssuedKey:
    """A new landlord key for the room (the previous landlord key, if any, is revoked): the landlord, or staff with
    ``rental:write`` in jurisdiction."""
    room = load_room(session, principal, room_id, write=True)
    return landlord_key(session, actor=principal.actor, room=room)


def landlord_key(session: Session, *, actor: audit.Actor, room: Room) -> IssuedKey:
    """Issue the landlord's key of ``room`` (at registration, or again), revoking the one before."""
    if room.status != RoomStatus.active:
        raise Conflict("该房屋已停止出租，不能发放钥匙", code="room_withdrawn")
    now = clock.utcnow()
    for old in session.scalars(select(Key).where(Key.room_id == room.id, Key.holder_kind == HolderKind.landlord,
                                                 Key.revoked_at.is_(None))):
        _revoke(session, actor, old, "房东钥匙已重新发放", now)
    issued = _issue(session, room=room, holder_person_id=room.landlord_person_id, kind=HolderKind.landlord,
                    stay=None, valid_from=now, valid_to=None, issued_by=actor.name or "system")
    audit.record(session, actor=actor, action="rental.key_issue", object_type="rental_key", object_id=issued.key.id,
                 after={"room": str(room.id), "holder_kind": "landlord", "suffix": issued.key.suffix})
    return issued


def _revoke(session: Session, actor: audit.Actor, key: Key, reason: str, now: dt.datetime) -> None:
    key.revoked_at = now
    key.revoke_reason = reason[:REVOKE_REASON_MAX]
    audit.record(session, actor=actor, action="rental.key_revoke", object_type="rental_key", object_id=key.id,
                 after={"room": str(key.room_id), "suffix": key.suffix, "reason": key.revoke_reason})


def revoke_stay_keys(session: Session, *, actor: audit.Actor, stay: Stay, reason: str) -> int:
    """Revoke every unrevoked key of a stay (check-out). The number revoked."""
    now = clock.utcnow()
    keys = list(session.scalars(select(Key).where(Key.stay_id == stay.id, Key.revoked_at.is_(None))))
    for k in keys:
        _revoke(session, actor, k, reason, now)
    session.flush()
    return len(keys)


def revoke_room_keys(session: Session, *, actor: audit.Actor, room: Room, reason: str) -> int:
    """Revoke every unrevoked key of a room (it stops being let). The number revoked."""
    now = clock.utcnow()
    keys = list(session.scalars(select(Key).where(Key.room_id == room.id, Key.revoked_at.is_(None))))
    for k in keys:
        _revoke(session, actor, k, reason, now)
    session.flush()
    return len(keys)


def retime_stay_keys(session: Session, *, stay: Stay) -> None:
    """The stay's expected move-out changed: its unrevoked keys end with it."""
    for k in session.scalars(select(Key).where(Key.stay_id == stay.id, Key.revoked_at.is_(None))):
        k.valid_to = day_end(stay.expected_move_out)
    session.flush()


def _load_key(session: Session, principal: Principal, key_id: uuid.UUID, *, write: bool) -> tuple[Key, Room]:
    """A key the caller may act on: staff in jurisdiction, the room's landlord, or the key's tenant holder."""
    require_any(principal, Perm.rental_write if write else Perm.rental_read, Perm.rental_self)
    key = session.get(Key, key_id)
    if key is None:
        raise not_found(KEY)
    room = session.get(Room, key.room_id)
    assert room is not None
    if principal.can(Perm.rental_write if write else Perm.rental_read) and in_scope(principal, key.path):
        return key, room
    if is_landlord(principal, room):
        return key, room
    if key.stay_id is not None and principal.can(Perm.rental_self):
        own = session.scalar(select(Stay.id).where(Stay.id == key.stay_id, tenant_condition(session, principal)))
        if own is not None:
            return key, room
    raise not_found(KEY)


def renew_key(session: Session, *, principal: Principal, key_id: uuid.UUID) -> IssuedKey:
    """换钥匙: revoke a valid key and issue its holder a new code with the same validity (a lost or leaked code).
    The holder (tenant of the stay, or landlord), or staff with ``rental:write``."""
    key, room = _load_key(session, principal, key_id, write=True)
    now = clock.utcnow()
    state = key_state(key, now)
    if state in ("revoked", "expired"):
        raise Conflict(f"该钥匙{STATES[state]}，不能更换", code="key_not_valid", details={"state": state})
    stay = session.get(Stay, key.stay_id) if key.stay_id else None
    if stay is not None and stay.state != StayState.active:
        raise Conflict("该入住登记已退租，不能更换钥匙", code="stay_not_active")
    _revoke(session, principal.actor, key, "持有人更换钥匙", now)
    issued = _issue(session, room=room, holder_person_id=key.holder_person_id, kind=key.holder_kind, stay=stay,
                    valid_from=aware(key.valid_from) or now, valid_to=aware(key.valid_to), issued_by=principal.username)
    audit.record(session, actor=principal.actor, action="rental.key_issue", object_type="rental_key",
                 object_id=issued.key.id, after={"room": str(room.id), "holder_kind": key.holder_kind.value,
                                                 "suffix": issued.key.suffix, "renews": str(key.id)})
    return issued


def revoke_key(session: Session, *, principal: Principal, key_id: uuid.UUID, reason: str) -> Key:
    """Revoke a key with a reason: the room's landlord, or staff with ``rental:write`` in jurisdiction."""
    key, room = _load_key(session, principal, key_id, write=True)
    if not (principal.can(Perm.rental_write) and in_scope(principal, key.path)) and not is_landlord(principal, room):
        raise not_found(KEY)
    text = (reason or "").strip()
    if not 2 <= len(text) <= REVOKE_REASON_MAX:
        raise ValidationFailed(f"请填写作废原因（2至{REVOKE_REASON_MAX}字）", code="reason_required",
                               details={"fields": {"reason": "作废原因应为2至200字"}})
    if key.revoked_at is not None:
        raise Conflict("该钥匙已作废", code="key_revoked")
    _revoke(session, principal.actor, key, text, clock.utcnow())
    session.flush()
    return key


def list_keys(session: Session, *, principal: Principal, room_id: uuid.UUID,
              include_ended: bool = False) -> list[Key]:
    """The keys of a room (staff in jurisdiction, or its landlord); valid and pending ones unless ``include_ended``."""
    room = load_room(session, principal, room_id)
    stmt = select(Key).where(Key.room_id == room.id)
    if not include_ended:
        now = clock.utcnow()
        stmt = stmt.where(Key.revoked_at.is_(None), or_(Key.valid_to.is_(None), Key.valid_to > now))
    return list(session.scalars(stmt.order_by(Key.issued_at.desc(), Key.id)))


def my_keys(session: Session, *, principal: Principal) -> list[Key]:
    """我的钥匙: the caller's keys that are valid or pending — as tenant (of their active stays) and as landlord."""
    require_any(principal, Perm.rental_self)
    now = clock.utcnow()
    stays = select(Stay.id).where(tenant_condition(session, principal), Stay.state == StayState.active)
    rooms = select(Room.id).where(Room.landlord_user_id == principal.user_id)
    stmt = select(Key).where(Key.revoked_at.is_(None), or_(Key.valid_to.is_(None), Key.valid_to > now),
                             or_(Key.stay_id.in_(stays),
                                 (Key.holder_kind == HolderKind.landlord) & Key.room_id.in_(rooms)))
    return list(session.scalars(stmt.order_by(Key.issued_at.desc(), Key.id)))


def key_view(session: Session, key: Key, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """A key as shown: who holds it (name), kind, the code's last characters, validity and state — never a code."""
    holder = session.get(Person, key.holder_person_id)
    state = key_state(key, now)
    return {"id": key.id, "room_id": key.room_id, "stay_id": key.stay_id, "holder_kind": key.holder_kind.value,
            "holder_name": holder.name if holder else None, "suffix": key.suffix, "valid_from": key.valid_from,
            "valid_to": key.valid_to, "revoked_at": key.revoked_at, "revoke_reason": key.revoke_reason,
            "state": state, "state_name": STATES[state], "issued_at": key.issued_at}
