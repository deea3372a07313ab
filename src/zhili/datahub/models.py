"""Data hub (数据中台): sources, mapping templates, imports, source records, quarantine, golden records with
field-level provenance, the review queue, merge history, change events and their subscribers.

Layers of data, bottom up:

* an :class:`Import` reads one file (or one REST pull) of a :class:`Source` through a :class:`MappingTemplate`;
* every row that passes validation becomes (or refreshes) one :class:`SourceRecord` — the source's own copy of
  one record, keyed by the source's natural key, with the hash of its mapped values (re-importing the same row
  counts it ``unchanged``) and the register record or historical case it feeds;
* a row that fails is kept whole in :class:`QuarantineRow` with every failed rule and its Chinese explanation;
* source records of persons, organisations and buildings from several sources are resolved into one
  :class:`GoldenRecord` each (the register row is the golden record's value; :class:`GoldenLink` is the cluster
  membership with its history, :class:`GoldenField` the provenance and survivorship rule of each field);
* uncertain pairs wait in :class:`MatchCandidate` (the review queue); merges are :class:`MergeEvent` rows that
  can be undone;
* every change of a golden record is a :class:`ChangeEvent` (an outbox row), delivered after commit to each
  :class:`Subscription` and recorded per subscriber in :class:`Delivery`.

Personal data (raw cells, mapped values) is stored only encrypted and bound to its row, like everywhere else.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
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
from zhili.core.db import Base, ShapedJSON, UTCDateTime, path_string, utcnow
from zhili.core.ids import new_id


class Target(enum.StrEnum):
    """The standard model a source feeds (标准模型)."""

    persons = "persons"  # 人口
    households = "households"  # 房屋（户/室）
    buildings = "buildings"  # 楼栋
    organisations = "organisations"  # 组织
    cases = "cases"  # 历史事件 / 热线工单


class SecurityLevel(enum.StrEnum):
    public = "public"  # 公开
    internal = "internal"  # 内部
    sensitive = "sensitive"  # 敏感


class Connector(enum.StrEnum):
    csv = "csv"
    xlsx = "xlsx"
    json = "json"
    jsonl = "jsonl"
    rest = "rest"


class ImportStatus(enum.StrEnum):
    running = "running"  # 导入中 (or killed midway: resumable)
    done = "done"  # 已完成
    failed = "failed"  # 失败 (the import itself failed: unreadable file, template mismatch …)


class QuarantineStatus(enum.StrEnum):
    open = "open"  # 待处理
    fixed = "fixed"  # 已修正并重新导入
    discarded = "discarded"  # 已作废（保留记录）


class EntityType(enum.StrEnum):
    person = "person"
    organisation = "organisation"
    building = "building"


class MatchType(enum.StrEnum):
    seed = "seed"  # the first record of a golden record
    deterministic = "deterministic"  # same valid key (ID number blind index, USCC, building code)
    probabilistic = "probabilistic"  # match weight above the auto-merge threshold
    manual = "manual"  # merged by a reviewer


class CandidateStatus(enum.StrEnum):
    pending = "pending"  # 待复核
    merged = "merged"  # 已合并
    kept_apart = "kept_apart"  # 保持独立


class DeliveryStatus(enum.StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"  # gave up after the retries (dead letter)


class Source(Base):
    """A registered data source (数据源): one department's system feeding one standard model."""

    __tablename__ = "hub_source"
    __table_args__ = (Index("ix_hub_source_path", "path"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # machine name used on the CLI: 12345-archive
    title: Mapped[str] = mapped_column(String(100))  # Chinese display name
    department: Mapped[str | None] = mapped_column(String(32))  # owning department code (org.Department)
    system_name: Mapped[str | None] = mapped_column(String(100))
    contact: Mapped[str | None] = mapped_column(String(100))
    refresh_days: Mapped[int | None] = mapped_column(Integer)  # expected refresh schedule; None = one-off
    security_level: Mapped[SecurityLevel] = mapped_column(Enum(SecurityLevel, native_enum=False, length=16))
    target: Mapped[Target] = mapped_column(Enum(Target, native_enum=False, length=16))
    trust: Mapped[int] = mapped_column(Integer, default=50)  # 0–100, for the "most trusted source" survivorship
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))  # whose data it holds
    path: Mapped[str] = mapped_column(path_string())  # that unit's path: jurisdiction of the source
    default_template_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MappingTemplate(Base):
    """A mapping template (映射模板), versioned: saving a template adds a version, the old one stays readable.

    ``spec`` is the template as JSON (see :mod:`zhili.datahub.mapping`): columns → standard fields, value maps,
    date formats, concatenation and splitting, constants."""

    __tablename__ = "hub_template"
    __table_args__ = (UniqueConstraint("name", "version"), Index("ix_hub_template_current", "name", "is_current"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    title: Mapped[str] = mapped_column(String(100))
    target: Mapped[Target] = mapped_column(Enum(Target, native_enum=False, length=16))
    source_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("hub_source.id", ondelete="SET NULL"))
    spec: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)  # shipped with the platform
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))


class Import(Base):
    """One import run (导入批次) of a source: who, when, which file (name and SHA-256), counts, duration.

    An import killed midway stays ``running`` with its ``checkpoint`` (the last row number whose batch was
    committed); running the same file of the same source again resumes it rather than starting a second one."""

    __tablename__ = "hub_import"
    __table_args__ = (Index("ix_hub_import_source", "source_id", "started_at"),
                      Index("ix_hub_import_hash", "source_id", "file_hash"),
                      Index("ix_hub_import_path", "path"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    source_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hub_source.id", ondelete="RESTRICT"))
    template_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("hub_template.id", ondelete="SET NULL"))
    path: Mapped[str] = mapped_column(path_string())  # the source's path (jurisdiction)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    username: Mapped[str | None] = mapped_column(String(64))
    connector: Mapped[Connector] = mapped_column(Enum(Connector, native_enum=False, length=8))
    filename: Mapped[str] = mapped_column(String(255))
    file_hash: Mapped[str | None] = mapped_column(String(64))  # SHA-256 hex of the file (REST: of the request)
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    encoding: Mapped[str | None] = mapped_column(String(32))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[ImportStatus] = mapped_column(Enum(ImportStatus, native_enum=False, length=16),
                                                 default=ImportStatus.running)
    checkpoint: Mapped[int] = mapped_column(Integer, default=0)  # last committed row number
    cursor: Mapped[str | None] = mapped_column(Text)  # REST: where to resume (next-page URL or offset)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_imported: Mapped[int] = mapped_column(Integer, default=0)  # new records
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rows_quarantined: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)  # Chinese reason when the import itself failed
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    stats: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)  # quality figures of the run


class SourceRecord(Base):
    """A source's own copy of one record (源记录), keyed by the source's natural key.

    ``values_enc`` holds the mapped values (standard field → value) encrypted, since they carry ID and phone
    numbers; ``row_hash`` is the SHA-256 of their canonical JSON, so a re-import of an unchanged row is counted
    ``unchanged`` and writes nothing. ``target_id`` is the register row (person, household, building,
    organisation) or the historical case the record feeds. ``key_bidx`` is the blind index of the record's strong
    key (ID number, USCC) when it has a valid one, for deterministic resolution."""

    __tablename__ = "hub_source_record"
    __table_args__ = (UniqueConstraint("source_id", "natural_key"),
                      Index("ix_hub_source_record_target", "target_type", "target_id"),
                      Index("ix_hub_source_record_key", "target_type", "key_bidx"),
                      Index("ix_hub_source_record_path", "path"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    source_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hub_source.id", ondelete="RESTRICT"))
    natural_key: Mapped[str] = mapped_column(String(128))  # external id, or a digest of the key columns
    target_type: Mapped[Target] = mapped_column(Enum(Target, native_enum=False, length=16))
    target_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    path: Mapped[str] = mapped_column(path_string())  # where the record was placed (or the source's path)
    key_bidx: Mapped[str | None] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))
    values_enc: Mapped[bytes] = mapped_column(LargeBinary, info=encrypted("hub_source_record", "values"))
    first_import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hub_import.id", ondelete="RESTRICT"))
    last_import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hub_import.id", ondelete="RESTRICT"))
    row_number: Mapped[int] = mapped_column(Integer)  # row of the last import it came from
    record_date: Mapped[dt.date | None] = mapped_column()  # the record's own date (as-of for reference rules)
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)  # last change of its values


class QuarantineRow(Base):
    """A row that failed validation (隔离区), kept whole: the raw cells (encrypted), every failed rule with its
    Chinese explanation (never the value itself), the row number. Staff fix it and re-run it, or discard it (the
    row stays, marked)."""

    __tablename__ = "hub_quarantine"
    __table_args__ = (Index("ix_hub_quarantine_import", "import_id", "row_number"),
                      Index("ix_hub_quarantine_source", "source_id", "status"),
                      Index("ix_hub_quarantine_path", "path"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hub_import.id", ondelete="CASCADE"))
    source_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hub_source.id", ondelete="RESTRICT"))
    path: Mapped[str] = mapped_column(path_string())  # the row's resolved unit, or the source's path
    row_number: Mapped[int] = mapped_column(Integer)
    natural_key: Mapped[str | None] = mapped_column(String(128))
    raw_enc: Mapped[bytes] = mapped_column(LargeBinary, info=encrypted("hub_quarantine", "raw"))
    errors: Mapped[list[dict[str, Any]]] = mapped_column(ShapedJSON(list), default=list)  # [{field, rule, message}]
    rules: Mapped[str] = mapped_column(String(255))  # the failed rule codes, comma-separated (filterable)
    status: Mapped[QuarantineStatus] = mapped_column(Enum(QuarantineStatus, native_enum=False, length=16),
                                                     default=QuarantineStatus.open)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_import_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the re-run that imported it
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class GoldenRecord(Base):
    """A golden record (主数据): one person, organisation or building however many sources hold it. Its values
    are the register row ``register_id`` (the register *is* the golden copy); :class:`GoldenField` says where
    each field came from. A golden record absorbed by a merge points at the survivor (``merged_into``)."""

    __tablename__ = "hub_golden"
    __table_args__ = (Index("ix_hub_golden_register", "entity_type", "register_id"),
                      Index("ix_hub_golden_path", "path"),
                      Index("ix_hub_golden_block_a", "block_a"), Index("ix_hub_golden_block_b", "block_b"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    entity_type: Mapped[EntityType] = mapped_column(Enum(EntityType, native_enum=False, length=16))
    register_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    path: Mapped[str] = mapped_column(path_string())
    merged_into: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # why there is no register row (no valid ID number, no place …): Chinese, never a value
    register_note: Mapped[str | None] = mapped_column(String(200))
    # blocking keys of a golden record WITHOUT a register row (blind indexes, never values; both None once it has
    # one: the register's own columns block it then), so later records can still be matched to it — persons:
    # name + birth date and phone; organisations and buildings: name and address (golden_register.block_keys)
    block_a: Mapped[str | None] = mapped_column(String(64))
    block_b: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)


class GoldenLink(Base):
    """Membership of a source record in a golden record, with its history (``unlinked_at`` set when a merge is
    undone or the record moves)."""

    __tablename__ = "hub_golden_link"
    __table_args__ = (Index("ix_hub_golden_link_golden", "golden_id"),
                      Index("ix_hub_golden_link_record", "source_record_id"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    golden_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hub_golden.id", ondelete="CASCADE"))
    source_record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hub_source_record.id", ondelete="CASCADE"))
    match_type: Mapped[MatchType] = mapped_column(Enum(MatchType, native_enum=False, length=16))
    score: Mapped[float | None] = mapped_column(Float)  # match probability (probabilistic / manual)
    merge_event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    linked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    unlinked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class GoldenField(Base):
    """Provenance of one field of a golden record (字段血缘): which source record (hence source, import and row)
    supplied the surviving value, by which survivorship rule, when."""

    __tablename__ = "hub_golden_field"
    __table_args__ = (UniqueConstraint("golden_id", "field"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    golden_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hub_golden.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(64))
    source_record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hub_source_record.id", ondelete="CASCADE"))
    import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hub_import.id", ondelete="CASCADE"))
    row_number: Mapped[int] = mapped_column(Integer)
    rule: Mapped[str] = mapped_column(String(24))  # most_recent | most_trusted | most_complete
    # keyed digest (blind index) of the surviving value: tells a changed value without storing it
    value_digest: Mapped[str | None] = mapped_column(String(64))
    chosen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SurvivorshipRule(Base):
    """The survivorship rule of one field of one entity type (存活规则), editable by staff."""

    __tablename__ = "hub_survivorship"
    __table_args__ = (UniqueConstraint("entity_type", "field"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    entity_type: Mapped[EntityType] = mapped_column(Enum(EntityType, native_enum=False, length=16))
    field: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(24))  # most_recent | most_trusted | most_complete
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(64))


class MatchCandidate(Base):
    """A pair in the uncertain band (待复核): a source record and the golden record it may belong to, with the
    match probability and the per-field comparison (levels, never the values: the page shows the values side
    by side, masked by the reader's permission)."""

    __tablename__ = "hub_match_candidate"
    __table_args__ = (UniqueConstraint("source_record_id", "golden_id"),
                      Index("ix_hub_match_candidate_status", "status", "path"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    entity_type: Mapped[EntityType] = mapped_column(Enum(EntityType, native_enum=False, length=16))
    source_record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hub_source_record.id", ondelete="CASCADE"))
    golden_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hub_golden.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(path_string())
    probability: Mapped[float] = mapped_column(Float)
    evidence: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)
    status: Mapped[CandidateStatus] = mapped_column(Enum(CandidateStatus, native_enum=False, length=16),
                                                    default=CandidateStatus.pending)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MergeEvent(Base):
    """A merge of golden records (or of a source record into one), undoable: ``snapshot`` keeps what the merge
    changed (links moved, register rows retired, field provenance before) so undo restores both records."""

    __tablename__ = "hub_merge"
    __table_args__ = (Index("ix_hub_merge_golden", "survivor_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    entity_type: Mapped[EntityType] = mapped_column(Enum(EntityType, native_enum=False, length=16))
    survivor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hub_golden.id", ondelete="CASCADE"))
    absorbed_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    match_type: Mapped[MatchType] = mapped_column(Enum(MatchType, native_enum=False, length=16))
    probability: Mapped[float | None] = mapped_column(Float)
    snapshot: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)
    by: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    undone_by: Mapped[str | None] = mapped_column(String(64))


class ChangeEvent(Base):
    """A change of a golden record (变更事件), written in the same transaction as the change: the outbox.

    ``key`` is the idempotency key subscribers deduplicate on (delivery is at least once). ``fields`` names
    the changed fields, never their values."""

    __tablename__ = "hub_change"
    __table_args__ = (Index("ix_hub_change_at", "at"), Index("ix_hub_change_golden", "golden_id"),
                      Index("ix_hub_change_pending", "delivered"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    entity_type: Mapped[EntityType] = mapped_column(Enum(EntityType, native_enum=False, length=16))
    golden_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    register_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    path: Mapped[str] = mapped_column(path_string())
    kind: Mapped[str] = mapped_column(String(16))  # created | updated | merged | unmerged
    fields: Mapped[list[str]] = mapped_column(ShapedJSON(list, strings=True), default=list)
    source_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    import_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)  # every subscriber settled
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscription(Base):
    """A subscriber to golden-record changes (订阅): a department hears about the records it uses, in-app or by
    webhook, for the entity types and the area (path) it names."""

    __tablename__ = "hub_subscription"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    department: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # in_app | webhook
    url: Mapped[str | None] = mapped_column(String(500))
    entity_types: Mapped[list[str]] = mapped_column(ShapedJSON(list, strings=True), default=list)
    path: Mapped[str] = mapped_column(path_string())
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))


class Delivery(Base):
    """One change event delivered (or not yet) to one subscriber."""

    __tablename__ = "hub_delivery"
    __table_args__ = (UniqueConstraint("change_id", "subscription_id"), Index("ix_hub_delivery_status", "status"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    change_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hub_change.id", ondelete="CASCADE"))
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hub_subscription.id", ondelete="CASCADE"))
    status: Mapped[DeliveryStatus] = mapped_column(Enum(DeliveryStatus, native_enum=False, length=16),
                                                   default=DeliveryStatus.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_try_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
