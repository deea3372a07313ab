"""The event closed loop (事件全流程闭环): categories, dispatch rules, cases and their trace."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
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
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from zhili.core import names
from zhili.core.crypto import encrypted
from zhili.core.db import Base, ShapedJSON, UTCDateTime, path_string, utcnow
from zhili.core.ids import new_id


class Channel(enum.StrEnum):
    resident = "resident"  # 居民上报 (app / H5)
    grid_worker = "grid_worker"  # 网格员巡查上报
    hotline = "hotline"  # 12345 热线转办
    department = "department"  # 部门移交
    iot = "iot"  # 物联感知告警
    open311 = "open311"  # Open311 客户端
    staff = "staff"  # 工作人员代录


CHANNEL_LABELS: dict[Channel, str] = {c: names.zh("channel")[c.value] for c in Channel}  # core.names


class CaseState(enum.StrEnum):
    reported = "reported"  # 已上报
    accepted = "accepted"  # 已受理
    rejected = "rejected"  # 不予受理
    dispatched = "dispatched"  # 已派遣
    in_progress = "in_progress"  # 处置中
    extension_requested = "extension_requested"  # 申请延期
    returned = "returned"  # 已退回
    escalated = "escalated"  # 已上报上级
    resolved = "resolved"  # 处置完成
    verified = "verified"  # 已核查
    rated = "rated"  # 已评价
    closed = "closed"  # 已结案
    merged = "merged"  # 已合并（重复件）


STATE_LABELS: dict[CaseState, str] = {st: names.zh("state")[st.value] for st in CaseState}  # core.names
OPEN_STATES = frozenset(CaseState) - {CaseState.rejected, CaseState.closed, CaseState.merged}


class Urgency(enum.StrEnum):
    normal = "normal"
    urgent = "urgent"
    emergency = "emergency"


class Category(Base):
    """One version of a taxonomy node. Editing makes a new row (same code, version + 1); cases keep theirs."""

    __tablename__ = "category"
    __table_args__ = (
        UniqueConstraint("code", "version"),
        Index("ix_category_current", "is_current", "code"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=1)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # component | event | social
    parent_code: Mapped[str | None] = mapped_column(String(32))
    is_leaf: Mapped[bool] = mapped_column(Boolean, default=True)
    default_department: Mapped[str | None] = mapped_column(String(32))
    accept_hours: Mapped[float | None] = mapped_column(Float)
    handle_hours: Mapped[float | None] = mapped_column(Float)
    verify_hours: Mapped[float | None] = mapped_column(Float)
    time_mode: Mapped[str] = mapped_column(String(16), default="working")
    urgency: Mapped[Urgency] = mapped_column(Enum(Urgency, native_enum=False, length=16), default=Urgency.normal)
    keywords: Mapped[list[str]] = mapped_column(ShapedJSON(list, strings=True), default=list)
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(ShapedJSON(list), default=list)
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    taxonomy_version: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))


class DispatchRule(Base):
    """A responsibility-list rule (权责清单): (category, region, keywords, time) → department or unit."""

    __tablename__ = "dispatch_rule"
    __table_args__ = (UniqueConstraint("rule_key", "version"), Index("ix_dispatch_rule_current", "is_current"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    rule_key: Mapped[uuid.UUID] = mapped_column(Uuid, default=new_id)  # stable across versions
    version: Mapped[int] = mapped_column(Integer, default=1)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    name: Mapped[str] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, default=100)  # lower number wins
    category_code: Mapped[str | None] = mapped_column(String(32))  # exact code or a major class prefix
    region_path: Mapped[str | None] = mapped_column(path_string())  # subtree; None = whole district
    # any of these in the description
    keywords: Mapped[list[str]] = mapped_column(ShapedJSON(list, strings=True), default=list)
    hour_from: Mapped[int | None] = mapped_column(Integer)  # local hour window [from, to)
    hour_to: Mapped[int | None] = mapped_column(Integer)
    target_department: Mapped[str | None] = mapped_column(String(32))
    target_unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))
    co_departments: Mapped[list[str]] = mapped_column(ShapedJSON(list, strings=True), default=list)
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    handle_hours: Mapped[float | None] = mapped_column(Float)  # SLA override
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))


class Case(Base):
    """An event / work order (事件/工单)."""

    __tablename__ = "case"
    __table_args__ = (
        Index("ix_case_path", "path"),
        Index("ix_case_state", "state"),
        Index("ix_case_flow_state", "flow", "state"),
        Index("ix_case_reported_at", "reported_at"),
        Index("ix_case_handle_due", "state", "handle_due_at"),
        Index("ix_case_dept", "assignee_department", "state"),
        Index("ix_case_reporter", "reporter_user_id"),
        Index("ix_case_category", "category_code", "reported_at"),
        # the case list's category filter is a prefix (大类 → every code below it): PostgreSQL seeks LIKE 'BJ%' only
        # in a text_pattern_ops (or C-collation) index; the column keeps the database's collation (joins with
        # category.code)
        Index("ix_case_category_prefix", "category_code", postgresql_ops={"category_code": "text_pattern_ops"}
              ).ddl_if(dialect="postgresql"),
        Index("ix_case_nearby", "category_code", "geo_cell", "reported_at"),
        # partial: "master_case_id IS NULL" (every unmerged case) must never look like a selective index seek — the
        # planner would otherwise read every unmerged case for a duplicate or public-list query (migration 0009)
        Index("ix_case_master", "master_case_id", sqlite_where=text("master_case_id IS NOT NULL"),
              postgresql_where=text("master_case_id IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[Channel] = mapped_column(Enum(Channel, native_enum=False, length=16))
    # the kind of case and so the rows of the workflow table it takes (cases.flows): event | residence_permit
    flow: Mapped[str] = mapped_column(String(24), default="event", server_default=text("'event'"))
    state: Mapped[CaseState] = mapped_column(Enum(CaseState, native_enum=False, length=24))
    category_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("category.id", ondelete="RESTRICT"))
    category_code: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    urgency: Mapped[Urgency] = mapped_column(Enum(Urgency, native_enum=False, length=16), default=Urgency.normal)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    # the lattice cell of (lon, lat) (cases.scope.geo_cell), for the duplicate search's index
    geo_cell: Mapped[int | None] = mapped_column(BigInteger)
    address: Mapped[str | None] = mapped_column(String(255))
    grid_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))
    path: Mapped[str] = mapped_column(path_string())
    attributes: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)
    # Reporter identity: never shown to handling departments; encrypted; every view audited.
    reporter_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    reporter_name_enc: Mapped[bytes | None] = mapped_column(LargeBinary, info=encrypted("case", "reporter_name"))
    reporter_phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary,
                                                           info=encrypted("case", "reporter_phone"))
    reporter_phone_bidx: Mapped[str | None] = mapped_column(String(64), index=True)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    api_client_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    external_id: Mapped[str | None] = mapped_column(String(64))
    # Handling.
    assignee_department: Mapped[str | None] = mapped_column(String(32))
    assignee_unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))
    assignee_path: Mapped[str | None] = mapped_column(path_string())
    escalation_level: Mapped[str | None] = mapped_column(String(16))  # community | street | district
    dispatch_rule_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    is_joint: Mapped[bool] = mapped_column(Boolean, default=False)
    master_case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case.id", ondelete="SET NULL"))
    resolution: Mapped[str | None] = mapped_column(Text)
    reject_reason: Mapped[str | None] = mapped_column(Text)
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    # Timeline and deadlines (all UTC).
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reported_day: Mapped[dt.date] = mapped_column(Date)  # local (district time zone) date, for statistics
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    accept_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    handle_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    handle_warn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    verify_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    warning_level: Mapped[str] = mapped_column(String(8), default="none")  # none | yellow | red
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    closed_on_time: Mapped[bool | None] = mapped_column(Boolean)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    support_count: Mapped[int] = mapped_column(Integer, default=0)  # residents' supports (附议): case_support rows
    merged_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))  # cases merged into it
    # imported history (历史工单, through the data hub): kept closed, never in a live queue or the deadline sweep;
    # its imported status, label and placement reason are in ``attributes``
    is_history: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def state_label(self) -> str:
        """The state's name in the case's flow (a permit's ``resolved`` is 已制证, :mod:`zhili.cases.flows`)."""
        from zhili.cases.flows import state_label

        return state_label(self.flow, self.state)


class CaseEvent(Base):
    """One step of a case's timeline — the legal record of handling. Never updated, never deleted: like
    ``audit_event``, database triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL; migration 0011).

    On PostgreSQL partitioned by month of ``at`` (migration 0023, :mod:`zhili.core.partitions`): the primary key
    carries the partition key, (id, at); nothing references a timeline row. SQLite keeps the plain table (key id)."""

    __tablename__ = "case_event"
    __table_args__ = (Index("ix_case_event_case", "case_id", "seq"), {"postgresql_partition_by": "RANGE (at)"})

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True, default=utcnow)
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_name: Mapped[str | None] = mapped_column(String(100))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    actor_unit: Mapped[str | None] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)
    attachment_ids: Mapped[list[str]] = mapped_column(ShapedJSON(list, strings=True), default=list)
    public: Mapped[bool] = mapped_column(Boolean, default=True)  # shown to the reporter / Open311 notes


class Attachment(Base):
    """A stored file (photo, document) attached to a case or a step."""

    __tablename__ = "attachment"
    __table_args__ = (Index("ix_attachment_case", "case_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubTask(Base):
    """A co-handler's part of a joint case (联合处置)."""

    __tablename__ = "case_subtask"
    __table_args__ = (UniqueConstraint("case_id", "department"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    department: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(8), default="co")  # lead | co
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done
    note: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Supervision(Base):
    """A supervision order (督办单) raised for a warning or an overdue case."""

    __tablename__ = "supervision"
    __table_args__ = (UniqueConstraint("case_id", "kind", "round"), Index("ix_supervision_target", "target"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # yellow | red | escalation | manual
    round: Mapped[int] = mapped_column(Integer, default=1)
    target: Mapped[str] = mapped_column(String(64))  # department code or unit code
    superior: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # answered (督办反馈)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))  # the username that answered
    reply: Mapped[str | None] = mapped_column(Text)


class IdempotencyRecord(Base):
    """(client, Idempotency-Key) → the case it created, so a retried report never creates two cases."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("client", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    client: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(128))
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # SHA-256 (hex) of the report the key was first used for (``intake.fingerprint``): the same key with another
    # report is refused. NULL on records written before it was kept: those match any report, as they always did.
    fingerprint: Mapped[str | None] = mapped_column(String(64))


class CaseCounter(Base):
    """Per district per day sequence for human case numbers (330522-20261123-000123)."""

    __tablename__ = "case_counter"

    district: Mapped[str] = mapped_column(String(12), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class ApiKey(Base):
    """A key for Open311 and other API clients (stored hashed; shown once)."""

    __tablename__ = "api_key"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Notification(Base):
    """A message to a user (in-app inbox) or to a reporter by phone, with its delivery status per channel."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user", "user_id", "read_at"),
                      Index("ix_notification_pending", "delivery_pending", "created_at"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    # an inbox that is not one user's: a department code, a unit code or "command_centre"
    recipient: Mapped[str | None] = mapped_column(String(32))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # channel -> sent|failed|logged|pending
    channels: Mapped[dict[str, str]] = mapped_column(ShapedJSON(dict), default=dict)
    # a deferred channel (webhook, SMS gateway) has yet to be tried: sent after the commit by the outbox
    delivery_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CaseSupport(Base):
    """One resident's support (附议) of a public case; at most one per resident and case."""

    __tablename__ = "case_support"
    __table_args__ = (UniqueConstraint("case_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseStat(Base):
    """Pre-aggregated figures per (grid path, day, category), updated with each transition (dashboards)."""

    __tablename__ = "case_stat"
    __table_args__ = (
        UniqueConstraint("path", "day", "category_code"),
        # Covering index for the screen: a date range answered from the index alone (3× faster on 1 M rows).
        Index("ix_case_stat_day", "day", "path", "category_code", "reported", "accepted", "closed",
              "closed_on_time", "overdue", "rating_sum", "rating_count"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    path: Mapped[str] = mapped_column(path_string())
    day: Mapped[dt.date] = mapped_column(Date)
    category_code: Mapped[str] = mapped_column(String(32))
    reported: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[int] = mapped_column(Integer, default=0)
    closed_on_time: Mapped[int] = mapped_column(Integer, default=0)
    overdue: Mapped[int] = mapped_column(Integer, default=0)
    rating_sum: Mapped[int] = mapped_column(Integer, default=0)
    rating_count: Mapped[int] = mapped_column(Integer, default=0)


class CaseStatUnit(Base):
    """``case_stat`` summed over categories for every unit of the tree (its whole subtree) per day — kept by the
    same upserts as ``case_stat`` — so district-wide screen figures read one row per unit and day."""

    __tablename__ = "case_stat_unit"
    # SQLite: clustered on the primary key (WITHOUT ROWID), so the days of a unit are one contiguous range read
    # without a second lookup — a ranking seeks once per unit. PostgreSQL ignores the option.
    __table_args__ = {"sqlite_with_rowid": False}

    path: Mapped[str] = mapped_column(path_string(), primary_key=True)  # a unit's path; the row covers its subtree
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    depth: Mapped[int] = mapped_column(Integer)  # number of "/" in path (= Unit.depth)
    reported: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[int] = mapped_column(Integer, default=0)
    closed_on_time: Mapped[int] = mapped_column(Integer, default=0)
    overdue: Mapped[int] = mapped_column(Integer, default=0)
    rating_sum: Mapped[int] = mapped_column(Integer, default=0)
    rating_count: Mapped[int] = mapped_column(Integer, default=0)


class JobLock(Base):
    """A lease row so only one process runs a periodic job (e.g. the deadline sweep) at a time."""

    __tablename__ = "job_lock"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64))
    until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SavedFilter(Base):
    """A staff user's saved case-list filter (常用视图): a name and the case list's query string — the filters as
    ``GET /console/cases`` takes them, never a reporter's phone (``cases.saved_views`` keeps it so)."""

    __tablename__ = "saved_filter"
    __table_args__ = (UniqueConstraint("user_id", "name"),)  # also the index of a user's views

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(30))
    query: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
