"""The interface between rental rooms and the devices bound to them (``zhili.iot`` calls it; nothing here knows
MQTT). Every function runs as the system — the device messages have no principal — and only ``flush()``es: the
caller commits together with its own record of the message.

* :func:`on_lock_event` — a door lock reported an event (``unlock``, ``unlock_*``, ``tamper``, ``low_battery``,
  ``offline`` …): the event is recorded as a lock :class:`~zhili.rental.models.Signal` (once per ``message_key``:
  a message delivered again returns the same verdict and records nothing), and the verdict says whether the
  credential is a valid key of this room (and whose), whether the room has an active stay, and how many unlocks by
  an unknown credential the room had in the last 24 hours. An unlock whose credential is no valid key of the room
  — unknown, revoked, expired — at a room with an active stay raises the warning ``rental_unknown_unlock`` (one per
  room and local day, to the grid's inbox); turning repeated ones into a case is the caller's (it knows its rules).
* :func:`record_signal` — a water or power meter's reading at a room (hourly counts): the vacancy rule's evidence.
* :func:`room_location` — where a room is (grid, path, the building's coordinates, address): a device bound to a
  room is located from it.
* :func:`lock_credentials` — the currently valid keys of a room (hash and suffix, never a code), to push to the lock.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhili.core import clock
from zhili.intel import warnings as intel_warnings
from zhili.intel.warn_common import Finding, UnitTree
from zhili.registry.models import Building, Household
from zhili.rental.common import aware
from zhili.rental.keys import credential_hash, valid_condition
from zhili.rental.models import HolderKind, Key, Room, Signal, SignalKind, Stay, StayState

UNKNOWN_WINDOW = dt.timedelta(hours=24)
METER_KINDS = (SignalKind.water, SignalKind.power)


@dataclass(frozen=True)
class LockVerdict:
    """What the platform makes of a lock event."""

    credential_known: bool  # a key of this room valid at the event's time
    holder_kind: str | None  # tenant | landlord, when known
    stay_active: bool  # the room has an active stay
    unknown_recent: int  # unlocks by an unknown credential at this room in the last 24 h (this one included)


@dataclass(frozen=True)
class RoomLocation:
    unit_id: uuid.UUID
    path: str
    lon: float | None
    lat: float | None
    address: str


@dataclass(frozen=True)
class LockCredential:
    """A valid key as a lock stores it: the credential's keyed hash, never the code."""

    key_id: uuid.UUID
    credential_hash: str
    suffix: str
    holder_kind: str
    valid_from: dt.datetime
    valid_to: dt.datetime | None


def is_unlock(event: str) -> bool:
    return event == "unlock" or event.startswith("unlock_")


def _key_for(session: Session, room_id: uuid.UUID, credential: str | None, at: dt.datetime) -> Key | None:
    if not credential or not str(credential).strip():
        return None
    return session.scalar(select(Key).where(Key.room_id == room_id, Key.credential_hash == credential_hash(credential),
                                            valid_condition(at)))


def _active_stay(session: Session, room_id: uuid.UUID) -> bool:
    return session.scalar(select(Stay.id).where(Stay.room_id == room_id, Stay.state == StayState.active)
                          .limit(1)) is not None


def _unknown_recent(session: Session, room_id: uuid.UUID, at: dt.datetime) -> int:
    return int(session.scalar(select(func.count()).select_from(Signal).where(
        Signal.room_id == room_id, Signal.kind == SignalKind.lock, Signal.unknown_credential.is_(True),
        Signal.at > at - UNKNOWN_WINDOW, Signal.at <= at)) or 0)


def on_lock_event(session: Session, *, room_id: uuid.UUID, event: str, credential: str | None, at: dt.datetime,
                  device_id: uuid.UUID, message_key: str) -> LockVerdict:
    """Record a lock event and judge it (see the module docstring). Idempotent on ``message_key``."""
    at = aware(at) or clock.utcnow()
    room = session.get(Room, room_id)
    if room is None:
        return LockVerdict(False, None, False, 0)
    key = _key_for(session, room_id, credential, at)
    stay_active = _active_stay(session, room_id)
    seen = session.scalar(select(Signal.id).where(Signal.message_key == message_key[:160]))
    unknown = is_unlock(event) and key is None
    if seen is None:
        sig = Signal(room_id=room_id, kind=SignalKind.lock, at=at, device_id=device_id, count=1, event=event[:32],
                     unknown_credential=unknown, key_id=key.id if key else None, message_key=message_key[:160])
        try:
            with session.begin_nested():
                session.add(sig)
                session.flush()
        except IntegrityError:  # the same message recorded meanwhile by another process
            seen = sig.id
        if seen is None and unknown and stay_active:
            _warn_unknown(session, room, at, _unknown_recent(session, room_id, at))
    return LockVerdict(credential_known=key is not None, holder_kind=key.holder_kind.value if key else None,
                       stay_active=stay_active, unknown_recent=_unknown_recent(session, room_id, at))


def _warn_unknown(session: Session, room: Room, at: dt.datetime, recent: int) -> None:
    tree = UnitTree(session, [room.path])
    unit = tree.by_path.get(room.path)
    if unit is None:
        return
    household = session.get(Household, room.household_id)
    day = clock.local_day(at)
    where = f"{household.address if household else ''}{room.label}"
    finding = Finding(kind="rental_unknown_unlock", cause_key=f"rental:unlock:{room.id.hex}:{day.isoformat()}",
                      unit=unit, title=f"陌生凭证开锁：{where}"[:200],
                      reason=(f"{clock.fmt_local(at)} 有人用未登记的凭证打开了在租房屋“{where}”的门锁，"
                              f"24小时内共{recent}次。请核实是否有未登记人员居住。"),
                      detail={"room_id": str(room.id), "count_24h": recent,
                              "convert_category": "SG-0203", "convert_building": str(room.building_id)},
                      category_code="SG-0203", severity="orange" if recent < 3 else "red", period_start=day,
                      period_end=day)
    intel_warnings.raise_and_notify(session, [finding], now=at)


def record_signal(session: Session, *, room_id: uuid.UUID, kind: str, at: dt.datetime,
                  device_id: uuid.UUID | None = None) -> None:
    """A meter's use (``water`` / ``power``) or a lock's activity at a room: counted per room, kind, device and
    hour. Unknown rooms are ignored."""
    sk = SignalKind(kind)
    at = aware(at) or clock.utcnow()
    if session.get(Room, room_id) is None:
        return
    hour = at.replace(minute=0, second=0, microsecond=0)
    stmt = select(Signal).where(Signal.room_id == room_id, Signal.kind == sk, Signal.at == hour,
                                Signal.message_key.is_(None))
    stmt = stmt.where(Signal.device_id.is_(None) if device_id is None else Signal.device_id == device_id)
    row = session.scalar(stmt)
    if row is None:
        session.add(Signal(room_id=room_id, kind=sk, at=hour, device_id=device_id, count=1))
    else:
        row.count += 1
    session.flush()


def room_location(session: Session, room_id: uuid.UUID) -> RoomLocation | None:
    """Where a room is, for a device bound to it."""
    room = session.get(Room, room_id)
    if room is None:
        return None
    building = session.get(Building, room.building_id)
    household = session.get(Household, room.household_id)
    address = f"{household.address if household else (building.address if building else '')}（{room.label}）"
    return RoomLocation(unit_id=room.unit_id, path=room.path, lon=building.lon if building else None,
                        lat=building.lat if building else None, address=address)


def lock_credentials(session: Session, *, room_id: uuid.UUID, at: dt.datetime) -> list[LockCredential]:
    """The keys of a room valid at ``at`` (a tenant's only while their stay is active)."""
    at = aware(at) or clock.utcnow()
    active = select(Stay.id).where(Stay.room_id == room_id, Stay.state == StayState.active)
    rows = session.scalars(select(Key).where(Key.room_id == room_id, valid_condition(at),
                                             (Key.holder_kind == HolderKind.landlord) | Key.stay_id.in_(active))
                           .order_by(Key.issued_at, Key.id))
    return [LockCredential(key_id=k.id, credential_hash=k.credential_hash, suffix=k.suffix,
                           holder_kind=k.holder_kind.value, valid_from=aware(k.valid_from) or at,
                           valid_to=aware(k.valid_to)) for k in rows]
