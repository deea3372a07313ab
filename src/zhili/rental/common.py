"""Who may see and change a rental room or stay — the one place the rental services decide it — and the small
helpers they share.

Two kinds of caller:

* **Staff** hold ``rental:read`` (see) / ``rental:write`` (register rooms, check tenants in and out on a landlord's
  behalf) / ``rental:export`` and act within their jurisdiction: a room or stay whose ``path`` lies outside it is
  *not found*, like an id that does not exist.
* **Residents** hold ``rental:self`` and act only on their own:

  - as **landlord**: the rooms whose ``landlord_user_id`` is their account (set when they register the room
    themselves, or by staff registering it for them — linked to the resident account with the landlord's phone
    number when there is exactly one), and the stays in those rooms;
  - as **tenant**: the stays they checked in to themselves (``tenant_user_id``), and the stays registered with the
    phone number of their account (the landlord or a grid worker checked them in with that number). The match is
    by the phone's blind index, computed from the account's own (encrypted) number — never by name. Phone numbers
    are verified by SMS at resident sign-up, so a number identifies its holder as far as the platform knows.

Everything else is *not found*. A caller holding none of the permissions is refused (403) first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ColumnElement, false, or_
from sqlalchemy.orm import Session

from zhili.core import clock
from zhili.core.crypto import get_cipher
from zhili.core.errors import Forbidden
from zhili.core.jurisdiction import Principal, in_scope, not_found
from zhili.core.security import Perm
from zhili.registry.service import PHONE_PURPOSE
from zhili.rental.models import Room, Stay
from zhili.users.models import User

ROOM = "出租房屋"
STAY = "入住登记"
KEY = "电子钥匙"
DELIVERY = "推送记录"
_PHONE_BIDX = "zhili_rental_phone_bidx"  # session.info cache: (user id, the account phone's person-purpose bidx)


def require_any(principal: Principal, *perms: Perm) -> None:
    """Refuse (403) a caller holding none of ``perms``."""
    if not any(principal.can(p) for p in perms):
        raise Forbidden(f"当前角色（{principal.role.value}）没有出租房屋管理的权限", code="permission_denied")


def account_phone_bidx(session: Session, principal: Principal) -> str | None:
    """The blind index (purpose ``person.phone``, as stays store it) of the caller's account phone, if any."""
    cached = session.info.get(_PHONE_BIDX)
    if cached is not None and cached[0] == principal.user_id:
        return str(cached[1]) if cached[1] else None
    user = session.get(User, principal.user_id)
    bidx = None
    if user is not None and user.phone_enc:
        cipher = get_cipher()
        phone = cipher.decrypt(user.phone_enc, table="app_user", column="phone", row_id=user.id)
        bidx = cipher.blind_index(phone, purpose=PHONE_PURPOSE)
    session.info[_PHONE_BIDX] = (principal.user_id, bidx)
    return bidx


def tenant_condition(session: Session, principal: Principal) -> ColumnElement[bool]:
    """The stays of which the caller (a resident) is the tenant."""
    if not principal.can(Perm.rental_self):
        return false()
    bidx = account_phone_bidx(session, principal)
    conds: list[ColumnElement[bool]] = [Stay.tenant_user_id == principal.user_id]
    if bidx:
        conds.append(Stay.phone_bidx == bidx)
    return or_(*conds)


def is_landlord(principal: Principal, room: Room) -> bool:
    return principal.can(Perm.rental_self) and room.landlord_user_id == principal.user_id


def is_tenant(session: Session, principal: Principal, stay: Stay) -> bool:
    if not principal.can(Perm.rental_self):
        return False
    if stay.tenant_user_id == principal.user_id:
        return True
    bidx = account_phone_bidx(session, principal)
    return bool(bidx) and stay.phone_bidx == bidx


def load_room(session: Session, principal: Principal, room_id: uuid.UUID, *, write: bool = False) -> Room:
    """A room the caller may see (``write``: change): staff in jurisdiction, or its landlord."""
    require_any(principal, Perm.rental_write if write else Perm.rental_read, Perm.rental_self)
    room = session.get(Room, room_id)
    if room is None:
        raise not_found(ROOM)
    perm = Perm.rental_write if write else Perm.rental_read
    if principal.can(perm) and in_scope(principal, room.path):
        return room
    if is_landlord(principal, room):
        return room
    raise not_found(ROOM)


def load_stay(session: Session, principal: Principal, stay_id: uuid.UUID, *, write: bool = False,
              tenant_may: bool = True) -> tuple[Stay, Room]:
    """A stay the caller may see (``write``: change): staff in jurisdiction, the room's landlord, or (unless
    ``tenant_may`` is false) its tenant."""
    require_any(principal, Perm.rental_write if write else Perm.rental_read, Perm.rental_self)
    stay = session.get(Stay, stay_id)
    if stay is None:
        raise not_found(STAY)
    room = session.get(Room, stay.room_id)
    assert room is not None
    perm = Perm.rental_write if write else Perm.rental_read
    if principal.can(perm) and in_scope(principal, stay.path):
        return stay, room
    if is_landlord(principal, room):
        return stay, room
    if tenant_may and is_tenant(session, principal, stay):
        return stay, room
    raise not_found(STAY)


def delegate(principal: Principal, *paths: str) -> Principal:
    """The caller acting on the register for a check-in or a room registration: their own identity (the audit names
    them), with register read/write confined to ``paths`` (the room's, and a moving tenant's old place) — a resident
    landlord or tenant has no register permission of their own, and a grid worker checks in a tenant who may be
    registered elsewhere."""
    return dataclasses.replace(principal, scope_paths=tuple(dict.fromkeys(p for p in paths if p)),
                               extra_perms=principal.extra_perms | {Perm.region_read, Perm.registry_read,
                                                                        Perm.registry_write})


def day_start(day: dt.date) -> dt.datetime:
    """The moment a local day begins (UTC)."""
    return clock.local_midnight(day)


def day_end(day: dt.date) -> dt.datetime:
    """The moment after a local day ends (UTC): the next local midnight."""
    return clock.local_midnight(day + dt.timedelta(days=1))


def aware(moment: dt.datetime | None) -> dt.datetime | None:
    """A stored moment as an aware UTC datetime (SQLite hands back naive ones)."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def field_errors(errors: dict[str, str]) -> dict[str, Any]:
    """ValidationFailed details naming each bad field and why (Chinese)."""
    return {"fields": errors}
