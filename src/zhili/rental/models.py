"""Rental housing (出租房屋) and the floating population living in it (流动人口): rooms, stays, electronic keys, the
police registration outbox and the activity signals of a room.

* :class:`Room` — a rental room (出租房间) of a landlord (a register :class:`~zhili.registry.models.Person`, and the
  resident account that manages it when there is one), resolved to the register's building, entrance and household;
  ``unit_id``/``path`` are the building's grid (jurisdiction). Capacity, photos (attachment ids), contract terms.
* :class:`Stay` — one tenant's stay (入住登记) in a room: the tenant is a register person (found or created by ID
  number), the phone given at check-in and the check-in photo are stored encrypted (bound to the row), the phone
  also as a blind index (the tenant's resident account finds their stay by it). ``state`` active → closed at
  check-out. ``police_state`` summarises its deliveries to the police registration interface (dead if one is
  dead, else pending if one is, else delivered).
* :class:`Key` — an electronic key (电子钥匙) of a room for a tenant with an active stay, or for the landlord; only a
  keyed hash of the credential code is kept (the code is shown once, when issued) plus its last characters for
  people to tell keys apart. ``valid_to`` is the stay's expected move-out; check-out revokes.
* :class:`PoliceDelivery` — the outbox row of one check-in or check-out record for the police (治安/流动人口登记),
  written in the check-in/check-out transaction, sent after commit, retried with back-off, ``dead`` after the last
  attempt (dead-letter list) until staff redeliver it. ``last_error`` never holds personal data.
* :class:`Signal` — room activity: a lock event, or water/power use reported by a meter (hourly counts), read by the
  vacancy rule; a lock event is recorded once per ``message_key`` (at-least-once delivery from the devices).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import (
    Boolean,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from zhili.core.crypto import encrypted
from zhili.core.db import Base, ShapedJSON, UTCDateTime, Versioned, path_string, utcnow
from zhili.core.ids import new_id


class RoomStatus(enum.StrEnum):
    active = "active"  # 出租中
    withdrawn = "withdrawn"  # 已停止出租


class StayState(enum.StrEnum):
    active = "active"  # 在住
    closed = "closed"  # 已退租


class RegisteredVia(enum.StrEnum):
    portal = "portal"  # 租户本人（居民端）
    landlord = "landlord"  # 房东代登记
    grid_worker = "grid_worker"  # 网格员走访登记
    staff = "staff"  # 工作人员登记


class HolderKind(enum.StrEnum):
    tenant = "tenant"  # 租户
    landlord = "landlord"  # 房东


class DeliveryKind(enum.StrEnum):
    check_in = "check_in"  # 入住登记
    check_out = "check_out"  # 退租登记


class DeliveryState(enum.StrEnum):
    pending = "pending"  # 待推送
    delivered = "delivered"  # 已推送
    dead = "dead"  # 推送失败（死信）


class SignalKind(enum.StrEnum):
    lock = "lock"  # 门锁
    water = "water"  # 用水
    power = "power"  # 用电


class Room(Versioned, Base):
    """A rental room (出租房间) in a household of the register."""

    __tablename__ = "rental_room"
    __table_args__ = (UniqueConstraint("household_id", "label", name="uq_rental_room_household_label"),
                      UniqueConstraint("checkin_code", name="uq_rental_room_checkin_code"),
                      Index("ix_rental_room_path", "path"),
                      Index("ix_rental_room_landlord_user", "landlord_user_id"),
                      Index("ix_rental_room_landlord_person", "landlord_person_id"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    landlord_person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"))
    landlord_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    building_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("building.id", ondelete="RESTRICT"))
    entrance_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("entrance.id", ondelete="SET NULL"))
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("household.id", ondelete="RESTRICT"))
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))  # the building's grid
    path: Mapped[str] = mapped_column(path_string())
    label: Mapped[str] = mapped_column(String(64))  # 房间：整套 / 主卧 / A间 …
    area_m2: Mapped[float | None] = mapped_column(Float)
    capacity: Mapped[int] = mapped_column(Integer)  # 核定居住人数
    photos: Mapped[list[str]] = mapped_column(ShapedJSON(list, strings=True), default=list)  # attachment ids
    rent_yuan: Mapped[int | None] = mapped_column(Integer)  # monthly rent, whole yuan
    contract_start: Mapped[dt.date | None] = mapped_column(Date)
    contract_end: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[RoomStatus] = mapped_column(Enum(RoomStatus, native_enum=False, length=16),
                                              default=RoomStatus.active)
    # 入住码: what the landlord shows a tenant (a QR code on the door) so the tenant checks in from the portal;
    # random, unique, replaced by the landlord at will
    checkin_code: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))


class Stay(Versioned, Base):
    """One tenant's stay in a room (入住登记 → 退租)."""

    __tablename__ = "rental_stay"
    __table_args__ = (Index("ix_rental_stay_room_state", "room_id", "state"),
                      Index("ix_rental_stay_person_state", "person_id", "state"),
                      Index("ix_rental_stay_path_state", "path", "state"),
                      Index("ix_rental_stay_phone_bidx", "phone_bidx"),
                      Index("ix_rental_stay_tenant_user", "tenant_user_id"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rental_room.id", ondelete="RESTRICT"))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"))
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))
    path: Mapped[str] = mapped_column(path_string())  # the room's (jurisdiction)
    phone_enc: Mapped[bytes] = mapped_column(LargeBinary, info=encrypted("rental_stay", "phone"))
    phone_bidx: Mapped[str] = mapped_column(String(64))  # zhili.registry.service.PHONE_PURPOSE
    photo_enc: Mapped[bytes | None] = mapped_column(LargeBinary, info=encrypted("rental_stay", "photo"))
    photo_type: Mapped[str | None] = mapped_column(String(32))  # image/jpeg …
    move_in: Mapped[dt.date] = mapped_column(Date)
    expected_move_out: Mapped[dt.date] = mapped_column(Date)
    moved_out: Mapped[dt.date | None] = mapped_column(Date)
    state: Mapped[StayState] = mapped_column(Enum(StayState, native_enum=False, length=16),
                                             default=StayState.active)
    registered_via: Mapped[RegisteredVia] = mapped_column(Enum(RegisteredVia, native_enum=False, length=16))
    registered_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the account that checked the tenant in
    registered_by_name: Mapped[str] = mapped_column(String(64))
    tenant_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    closed_by_name: Mapped[str | None] = mapped_column(String(64))
    close_note: Mapped[str | None] = mapped_column(Text)
    # its police deliveries summed up: dead if one is, else pending if one is, else delivered (None before the first)
    police_state: Mapped[str | None] = mapped_column(String(16))
    police_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Key(Base):
    """An electronic key (电子钥匙) of a room."""

    __tablename__ = "rental_key"
    __table_args__ = (UniqueConstraint("credential_hash", name="uq_rental_key_credential"),
                      Index("ix_rental_key_room", "room_id", "revoked_at"),
                      Index("ix_rental_key_stay", "stay_id"),
                      Index("ix_rental_key_holder", "holder_person_id"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rental_room.id", ondelete="CASCADE"))
    stay_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rental_stay.id", ondelete="CASCADE"))
    holder_person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"))
    holder_kind: Mapped[HolderKind] = mapped_column(Enum(HolderKind, native_enum=False, length=16))
    path: Mapped[str] = mapped_column(path_string())
    credential_hash: Mapped[str] = mapped_column(String(64))  # keyed blind index of the code (purpose rental.key)
    suffix: Mapped[str] = mapped_column(String(8))  # the code's last characters, for people to tell keys apart
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    valid_to: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # None: the landlord's, until revoked
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoke_reason: Mapped[str | None] = mapped_column(String(200))
    issued_by: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PoliceDelivery(Base):
    """One check-in or check-out record for the police registration interface (the outbox row)."""

    __tablename__ = "rental_delivery"
    __table_args__ = (UniqueConstraint("idempotency_key", name="uq_rental_delivery_key"),
                      Index("ix_rental_delivery_due", "state", "next_try_at"),
                      Index("ix_rental_delivery_stay", "stay_id"),
                      Index("ix_rental_delivery_path", "path"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    stay_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rental_stay.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(path_string())
    kind: Mapped[DeliveryKind] = mapped_column(Enum(DeliveryKind, native_enum=False, length=16))
    idempotency_key: Mapped[str] = mapped_column(String(80))
    state: Mapped[DeliveryState] = mapped_column(Enum(DeliveryState, native_enum=False, length=16),
                                                 default=DeliveryState.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))  # status codes and exception names, no personal data
    receipt: Mapped[str | None] = mapped_column(String(128))  # the police system's receipt number
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Signal(Base):
    """Room activity: a lock event (one row per message) or a meter's use (one row per room, kind, device and hour,
    ``count`` readings)."""

    __tablename__ = "rental_signal"
    __table_args__ = (UniqueConstraint("message_key", name="uq_rental_signal_message"),
                      Index("ix_rental_signal_room_at", "room_id", "kind", "at"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rental_room.id", ondelete="CASCADE"))
    kind: Mapped[SignalKind] = mapped_column(Enum(SignalKind, native_enum=False, length=16))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    device_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    count: Mapped[int] = mapped_column(Integer, default=1)
    event: Mapped[str | None] = mapped_column(String(32))  # a lock's event (unlock, tamper, …)
    unknown_credential: Mapped[bool] = mapped_column(Boolean, default=False)  # an unlock by no valid key
    key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the key that unlocked, when known
    message_key: Mapped[str | None] = mapped_column(String(160))  # a lock message's idempotency key
