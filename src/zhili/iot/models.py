"""IoT perception tables (物联感知): device types, devices, every message received, alert rules, their window state,
and the alerts they raise.

* :class:`DeviceType` — a kind of device (烟感, 智能门锁, 井盖 …) as data: the JSON-Schema subset each message kind's
  payload must satisfy (:mod:`zhili.iot.schema`) and the default heartbeat interval.
* :class:`Device` — one registered device: its external id (the one in the MQTT topic), where it is (coordinates,
  address, the unit whose jurisdiction it belongs to, optionally its building and the rental room of a lock or
  meter), its owner, status and heartbeat.
* :class:`Message` — every message the ingest received, accepted or rejected with the reason (an unknown device,
  a malformed topic, a payload off its schema). ``UNIQUE (device_key, message_id)`` is the idempotency of
  at-least-once delivery: a message the broker delivers again after a crash is recognised and changes nothing.
* :class:`Rule` — an alert rule as data: the device type and message kind it reads, a condition in the safe
  expression language (:mod:`zhili.core.expr`), a window (none, N hits within S seconds, or held for S seconds),
  severity, and the case it raises (category, urgency) — grouped per device or per building.
* :class:`RuleState` — a rule's window per device (recent hit times, since when the condition holds), kept in the
  database so a restart loses nothing.
* :class:`Alert` — an alert (告警): a rule's, or the platform's own (offline, tamper …). At most one is open per
  group key (a partial unique index), so a storm from one device or one building is one alert with a counter, and
  one case.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

# The tables referenced below (case, unit, building, rental_room) must be in the metadata of every process that
# writes these rows — the ingest's too, which loads no other model.
from zhili.cases import models as _cases_models  # noqa: F401
from zhili.core.db import Base, ShapedJSON, UTCDateTime, path_string, utcnow
from zhili.core.ids import new_id
from zhili.regions import models as _regions_models  # noqa: F401
from zhili.registry import models as _registry_models  # noqa: F401
from zhili.rental import models as _rental_models  # noqa: F401

MESSAGE_KINDS = ("events", "telemetry", "heartbeat")


class DeviceStatus(enum.StrEnum):
    active = "active"  # 在线
    offline = "offline"  # 离线
    disabled = "disabled"  # 停用


class Window(enum.StrEnum):
    none = "none"  # every message meeting the condition
    counted = "count"  # at least N messages meeting it within S seconds
    duration = "duration"  # the condition held for S seconds without a break


class GroupBy(enum.StrEnum):
    device = "device"
    building = "building"


class Severity(enum.StrEnum):
    info = "info"  # 提示
    warning = "warning"  # 预警
    critical = "critical"  # 严重


class AlertState(enum.StrEnum):
    open = "open"  # 未关闭
    closed = "closed"  # 已关闭


class DeviceType(Base):
    __tablename__ = "iot_device_type"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # also the topic's {device_type} segment
    name: Mapped[str] = mapped_column(String(100))
    # {"events": schema, "telemetry": schema, "heartbeat": schema}: a kind without one accepts any JSON object
    schemas: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)
    heartbeat_s: Mapped[int] = mapped_column(Integer, default=300)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __mapper_args__ = {"version_id_col": version}


class Device(Base):
    __tablename__ = "iot_device"
    __table_args__ = (Index("ix_iot_device_path", "path"),
                      Index("ix_iot_device_type_status", "type_id", "status"),
                      Index("ix_iot_device_room", "room_id"),
                      Index("ix_iot_device_status_seen", "status", "last_seen_at"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    device_key: Mapped[str] = mapped_column(String(64), unique=True)  # the external id (the topic's {device_id})
    type_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("iot_device_type.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(100))
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))
    path: Mapped[str] = mapped_column(path_string())  # the unit's path (jurisdiction)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(255))
    building_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("building.id", ondelete="SET NULL"))
    room_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("rental_room.id", ondelete="SET NULL"))  # lock/meter
    owner: Mapped[str | None] = mapped_column(String(100))  # 产权/运维单位
    status: Mapped[DeviceStatus] = mapped_column(Enum(DeviceStatus, native_enum=False, length=16),
                                                 default=DeviceStatus.active)
    heartbeat_s: Mapped[int | None] = mapped_column(Integer)  # None: the type's
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    installed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __mapper_args__ = {"version_id_col": version}


class Message(Base):
    __tablename__ = "iot_message"
    __table_args__ = (UniqueConstraint("device_key", "message_id", name="uq_iot_message_device_mid"),
                      Index("ix_iot_message_device_received", "device_id", "received_at"),
                      Index("ix_iot_message_received", "received_at"),
                      Index("ix_iot_message_rejected", "accepted", "received_at"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    device_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("iot_device.id", ondelete="CASCADE"))
    device_key: Mapped[str] = mapped_column(String(64))  # as the topic named it (also for unknown devices)
    message_id: Mapped[str] = mapped_column(String(80))  # the payload's "mid", else a digest of topic and payload
    topic: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # events | telemetry | heartbeat (or what the topic said)
    payload: Mapped[dict[str, Any] | None] = mapped_column(ShapedJSON(dict, none=True))
    raw: Mapped[str | None] = mapped_column(Text)  # a payload that is not a JSON object, cut to 2,000 characters
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # the payload's "ts"
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    accepted: Mapped[bool] = mapped_column(Boolean, default=True)
    reason: Mapped[str | None] = mapped_column(String(255))  # why it was rejected (Chinese)
    reason_code: Mapped[str | None] = mapped_column(String(32))  # unknown_device, bad_topic, schema, bad_json …


class Rule(Base):
    __tablename__ = "iot_rule"
    __table_args__ = (Index("ix_iot_rule_type_enabled", "type_code", "enabled"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    code: Mapped[str | None] = mapped_column(String(64), unique=True)  # shipped rules' stable code
    name: Mapped[str] = mapped_column(String(100))
    type_code: Mapped[str] = mapped_column(String(32))  # the device type it reads
    kind: Mapped[str | None] = mapped_column(String(16))  # the message kind it reads (None: events and telemetry)
    condition: Mapped[str] = mapped_column(Text)  # zhili.core.expr over the payload and the context
    window: Mapped[Window] = mapped_column(Enum(Window, native_enum=False, length=16), default=Window.none)
    window_count: Mapped[int | None] = mapped_column(Integer)  # count: N
    window_s: Mapped[int | None] = mapped_column(Integer)  # count: within S seconds; duration: held S seconds
    severity: Mapped[Severity] = mapped_column(Enum(Severity, native_enum=False, length=16),
                                               default=Severity.warning)
    raises_case: Mapped[bool] = mapped_column(Boolean, default=False)
    category_code: Mapped[str | None] = mapped_column(String(32))
    urgency: Mapped[str] = mapped_column(String(16), default="normal")  # zhili.cases.models.Urgency
    # the answers to the category's declared attributes the case needs (井盖问题: 移位 …)
    case_attributes: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)
    group_by: Mapped[GroupBy] = mapped_column(Enum(GroupBy, native_enum=False, length=16), default=GroupBy.device)
    # an open alert closes when a message from the device no longer meets the condition (recovery) …
    close_on_recovery: Mapped[bool] = mapped_column(Boolean, default=True)
    # … or after this many seconds without a hit (events that have no "recovered" message); None: never by time
    quiet_close_s: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __mapper_args__ = {"version_id_col": version}


class RuleState(Base):
    __tablename__ = "iot_rule_state"
    __table_args__ = (UniqueConstraint("rule_id", "device_id", name="uq_iot_rule_state_rule_device"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("iot_rule.id", ondelete="CASCADE"))
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("iot_device.id", ondelete="CASCADE"))
    hits: Mapped[list[str]] = mapped_column(ShapedJSON(list, strings=True), default=list)  # ISO times, newest last
    true_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # duration: condition holds since
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Alert(Base):
    __tablename__ = "iot_alert"
    __table_args__ = (Index("uq_iot_alert_open_group", "group_key", unique=True,
                            sqlite_where=text("state = 'open'"), postgresql_where=text("state = 'open'")),
                      Index("ix_iot_alert_path_state", "path", "state"),
                      Index("ix_iot_alert_device", "device_id", "last_at"),
                      Index("ix_iot_alert_case", "case_id"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    rule_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("iot_rule.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))  # "rule", "offline"
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("iot_device.id", ondelete="CASCADE"))
    group_key: Mapped[str] = mapped_column(String(200))  # what makes two hits the same alert
    unit_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    path: Mapped[str] = mapped_column(path_string())
    severity: Mapped[Severity] = mapped_column(Enum(Severity, native_enum=False, length=16),
                                               default=Severity.warning)
    title: Mapped[str] = mapped_column(String(200))
    state: Mapped[AlertState] = mapped_column(Enum(AlertState, native_enum=False, length=16),
                                              default=AlertState.open)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_message_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    detail: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)  # the last hit's payload, devices
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case.id", ondelete="SET NULL"))
    noted_count: Mapped[int] = mapped_column(Integer, default=1)  # the count the case's timeline last heard of
    noted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    close_reason: Mapped[str | None] = mapped_column(String(255))
