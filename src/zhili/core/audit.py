"""Tamper-evident audit log: an append-only hash chain.

Each row stores ``prev_hash`` and ``hash = SHA-256(prev_hash ‖ canonical JSON of the row)``. The writer takes
the chain head inside the same transaction as the change it records (SQLite serialises writers; PostgreSQL
takes a transaction-level advisory lock), so the chain has no forks. Hourly anchors (the head's seq and hash
copied to ``audit_anchor``) let :func:`verify_chain` prove a truncated tail is missing too. Updates and
deletes on ``audit_event`` are refused by database triggers installed by the migration.

The head itself is kept in one row (``audit_head``), written with the events in the same transaction: reading the
newest event of a log partitioned by month probes every month's index (1.9 → 5.7 ms on the medium demo, one more
probe a month) and sits on every audited write; the row is one primary-key read. A time-bounded read of the
newest events was rejected: a clock stepped back would miss the true head and, with no unique ``seq`` across
partitions, fork the chain silently. Triggers refuse to move the row backwards or delete it, and
:func:`verify_chain` checks it against the log (a head past the last event is a truncated tail).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import BigInteger, Index, Integer, String, Table, Text, Uuid, event, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from zhili.core.db import Base, JSONType, UTCDateTime, driver_rows, execute_prepared, prepared_insert, utcnow

GENESIS = "0" * 64
ADVISORY_LOCK_KEY = 7_2_6_1_0_0_1  # arbitrary constant for pg_advisory_xact_lock


class AuditEvent(Base):
    """One audited action. Never updated, never deleted.

    On PostgreSQL the table is partitioned by month of ``at`` (:mod:`zhili.core.partitions`, migration 0023), so
    its primary key carries the partition key: (seq, at). ``seq`` stays unique because one writer at a time
    appends (the head lock) and :func:`verify_chain` checks its continuity; no global unique index on ``hash``
    (a partitioned table cannot have one without ``at``). SQLite keeps the plain table with ``seq`` its key."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_object", "object_type", "object_id"),
        Index("ix_audit_actor", "actor_id", "at"),
        Index("ix_audit_at", "at"),
        {"postgresql_partition_by": "RANGE (at)"},
    )

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_name: Mapped[str | None] = mapped_column(String(100))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    before: Mapped[Any] = mapped_column(JSONType, nullable=True)
    after: Mapped[Any] = mapped_column(JSONType, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain head: the newest event's seq and hash, in the one row ``id = 1`` (see the module's docstring)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))


class AuditAnchor(Base):
    """A periodic copy of the chain head, so a deleted tail is detectable."""

    __tablename__ = "audit_anchor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))


@dataclass(frozen=True)
class Actor:
    """Who did something, as the audit log records it."""

    id: uuid.UUID | None = None
    name: str | None = "system"
    role: str | None = "system"
    ip: str | None = None


SYSTEM = Actor()


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "value"):
        return value.value
    raise TypeError(f"not JSON serialisable: {type(value)}")


def to_jsonable(value: Any) -> Any:
    """A JSON-safe copy of ``value`` (datetimes, UUIDs, enums converted)."""
    return None if value is None else json.loads(json.dumps(value, default=_json_default, ensure_ascii=False))


def _canonical(row: dict[str, Any]) -> bytes:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_json_default).encode()


def compute_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """The chain hash of a row given its predecessor's hash."""
    return hashlib.sha256(prev_hash.encode() + _canonical(row)).hexdigest()


def hash_matches(ev: Any) -> bool:
    """True if one stored event's hash is that of its content and its predecessor's hash (a single row's check;
    :func:`verify_chain` checks the links and the anchors too)."""
    return compute_hash(ev.prev_hash, _row_payload(ev)) == ev.hash


def _row_payload(ev: Any) -> dict[str, Any]:
    return {
        "seq": ev.seq,
        "at": ev.at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_id": str(ev.actor_id) if ev.actor_id else None,
        "actor_name": ev.actor_name,
        "actor_role": ev.actor_role,
        "ip": ev.ip,
        "action": ev.action,
        "object_type": ev.object_type,
        "object_id": ev.object_id,
        "reason": ev.reason,
        "before": ev.before,
        "after": ev.after,
    }


_LOCK = text("SELECT pg_advisory_xact_lock(:k)")


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: Any = None,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
) -> AuditEvent:
    """Append one event to the chain in the caller's transaction."""
    seq, prev = _head(session)
    ev = AuditEvent(
        seq=seq + 1,
        at=utcnow(),
        actor_id=actor.id,
        actor_name=actor.name,
        actor_role=actor.role,
        ip=actor.ip,
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        reason=reason,
        before=to_jsonable(before),
        after=to_jsonable(after),
        prev_hash=prev,
        hash="",
    )
    ev.hash = compute_hash(prev, _row_payload(ev))
    session.add(ev)  # the head row moves when this row is flushed (_move_head)
    session.info["audit_head"] = (ev.seq, ev.hash)
    return ev


_HEAD = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
_NEWEST = select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
# one upsert, sent without waiting (it rides the intake pipeline); the driver's own parameter style
_HEAD_UPSERT = ("INSERT INTO audit_head (id, seq, hash) VALUES (1, {seq}, {hash}) "
                "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash")
_HEAD_SQL = {"postgresql": _HEAD_UPSERT.format(seq="%(seq)s", hash="%(hash)s"),
             "sqlite": _HEAD_UPSERT.format(seq=":seq", hash=":hash")}


def _write_head(conn: Any, seq: int, hash_: str) -> None:
    """Move the head row to (seq, hash) in the caller's transaction (under the chain lock)."""
    conn.exec_driver_sql(_HEAD_SQL[conn.dialect.name], {"seq": seq, "hash": hash_})


@event.listens_for(AuditEvent, "after_insert")
def _move_head(_mapper: Any, connection: Any, target: AuditEvent) -> None:
    """The head row follows an event recorded with :func:`record` when — and only when — the event's own row is
    written: a read session that records a refusal (``core.db.keep_on_refusal``) writes nothing until its record is
    written again in a write transaction, so it takes no write lock (SQLite's, above all)."""
    _write_head(connection, target.seq, target.hash)


def current_head(session: Session) -> tuple[int, str] | None:
    """The chain head as stored (no lock): the head row, or the newest event where there is no row yet."""
    row = session.execute(_HEAD).first() or session.execute(_NEWEST).first()
    return (int(row[0]), str(row[1])) if row is not None else None


def _head(session: Session) -> tuple[int, str]:
    """The chain head (seq, hash): read once per transaction, under the lock, then carried in session.info.

    On PostgreSQL the lock is the transaction-level advisory lock, taken here — as late as the caller's work allows
    (intake appends its entries last) — and held to the commit; lock and read go to the server together, and in a
    pipeline (:func:`zhili.core.db.pipeline`, the intake writer) with everything sent before them: one round trip.
    The read is a statement of its own after the lock's, so its snapshot is taken once the lock is held. It reads
    the head row; a log without one (created before migration 0025 filled it, or by ``create_all``) is read at its
    newest event, and the row is written with the next event."""
    cached: tuple[int, str] | None = session.info.get("audit_head")
    if cached is None:
        session.flush()
        conn = session.connection()
        if conn.dialect.name == "postgresql":
            rows = driver_rows(conn, (_LOCK, {"k": ADVISORY_LOCK_KEY}), (_HEAD, None))
        else:
            rows = driver_rows(conn, (_HEAD, None))
        if not rows:
            rows = driver_rows(conn, (_NEWEST, None))
        cached = (rows[0][0], rows[0][1]) if rows else (0, GENESIS)
    return cached


@dataclass(frozen=True)
class Entry:
    """One audit event to append in bulk (see :func:`record_many`)."""

    actor: Actor
    action: str
    object_type: str
    object_id: Any = None
    before: Any = None
    after: Any = None
    reason: str | None = None
    jsonable: bool = False  # before/after are already JSON-safe (to_jsonable applied by the caller, e.g. off-lock)


def record_many(session: Session, entries: list[Entry]) -> None:
    """Append events to the chain in the caller's transaction with one multi-row INSERT (bulk writers: intake).

    Same rows and hashes as :func:`record` called once per entry, without an ORM object per row."""
    if not entries:
        return
    seq, prev = _head(session)
    rows: list[dict[str, Any]] = []
    for e in entries:
        seq += 1
        row = {"seq": seq, "at": utcnow(), "actor_id": e.actor.id, "actor_name": e.actor.name,
               "actor_role": e.actor.role, "ip": e.actor.ip, "action": e.action, "object_type": e.object_type,
               "object_id": str(e.object_id) if e.object_id is not None else None, "reason": e.reason,
               "before": e.before if e.jsonable else to_jsonable(e.before),
               "after": e.after if e.jsonable else to_jsonable(e.after), "prev_hash": prev}
        row["hash"] = prev = compute_hash(prev, _row_payload(_RowView(row)))
        rows.append(row)
    conn = session.connection()
    stmt = prepared_insert(cast(Table, AuditEvent.__table__), tuple(rows[0]), conn.dialect)
    execute_prepared(conn, [(stmt, stmt.row(r)) for r in rows])
    _write_head(conn, seq, prev)
    session.info["audit_head"] = (seq, prev)


class _RowView:
    """Attribute access over a row dict, so :func:`_row_payload` serves ORM rows and bulk rows alike."""

    __slots__ = ("_row",)

    def __init__(self, row: dict[str, Any]) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        return self._row[name]


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
@event.listens_for(Session, "after_soft_rollback")
def _forget_head(session: Session, *args: Any) -> None:
    session.info.pop("audit_head", None)
    session.info.pop("case_seq", None)


def anchor(session: Session) -> AuditAnchor | None:
    """Copy the current chain head into ``audit_anchor``."""
    head = current_head(session)
    if head is None:
        return None
    a = AuditAnchor(seq=head[0], hash=head[1], at=utcnow())
    session.add(a)
    session.flush()
    return a


@dataclass
class VerifyResult:
    """Outcome of a chain verification."""

    ok: bool
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    first_broken: int | None = None  # the seq of the first stored event that fails its check (edited, unlinked)
    archived: int = 0  # events in archived months, taken on their partitions' anchors (not re-read here)

    def broken(self, problem: str, seq: int | None = None) -> None:
        """Record a problem; ``seq``: the stored event it was found at (none for missing rows or an anchor)."""
        self.problems.append(problem)
        if seq is not None and (self.first_broken is None or seq < self.first_broken):
            self.first_broken = seq


def verify_chain(session: Session, *, batch: int = 5000) -> VerifyResult:
    """Recompute every hash, check seq continuity and the anchors; report each break found.

    Months archived off the database (:mod:`zhili.core.archive`) are taken on their anchors: the archived
    partitions must link up among themselves (first seq, previous partition's last hash), and the live chain starts
    from the last one's last seq and hash. Each archive file is verified against its anchor on its own
    (``zhili db verify-archive``)."""
    result = VerifyResult(ok=True)
    # the head row first: events written while the log is read only move it past what was read — read last, a
    # busy log would look truncated
    head = session.execute(_HEAD).first()
    prev_hash, expected_seq = GENESIS, 1
    hashes: dict[int, str] = {}
    from zhili.core.partitions import PartitionArchive

    archives = select(PartitionArchive).where(PartitionArchive.table_name == "audit_event", PartitionArchive.rows > 0)
    postgres = session.get_bind().dialect.name == "postgresql"  # only PostgreSQL archives (SQLite: plain tables)
    for arc in session.scalars(archives.order_by(PartitionArchive.first_seq)) if postgres else ():
        month = arc.month.strftime("%Y-%m")
        if arc.first_seq != expected_seq:
            result.broken(f"归档分区 {month}：起始序号 {arc.first_seq} 与前一段不衔接（应为 {expected_seq}）")
        if arc.prev_hash != prev_hash:
            result.broken(f"归档分区 {month}：前序哈希与前一段最后一条不符")
        hashes[int(arc.last_seq or 0)] = str(arc.last_hash)
        prev_hash, expected_seq = str(arc.last_hash), int(arc.last_seq or 0) + 1
        result.archived += arc.rows
    archived_to = last_seq = expected_seq - 1
    while True:
        rows = session.execute(
            select(*AuditEvent.__table__.c).where(AuditEvent.seq > last_seq).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not rows:
            break
        for ev in rows:
            if ev.seq != expected_seq:
                result.broken(f"缺失记录：序号 {expected_seq}–{ev.seq - 1} 不存在（被删除）")
            if ev.prev_hash != prev_hash:
                result.broken(f"序号 {ev.seq}：前序哈希不匹配（前一条被修改或删除）", ev.seq)
            if compute_hash(ev.prev_hash, _row_payload(ev)) != ev.hash:
                result.broken(f"序号 {ev.seq}：内容与哈希不符（记录被篡改）", ev.seq)
            hashes[ev.seq] = ev.hash
            prev_hash, expected_seq, last_seq = ev.hash, ev.seq + 1, ev.seq
            result.checked += 1
    for a in session.scalars(select(AuditAnchor).order_by(AuditAnchor.seq)):
        if a.seq <= archived_to and a.seq not in hashes:
            continue  # inside an archived month: checked against that archive file (zhili db verify-archive)
        if a.seq > last_seq:
            result.broken(f"锚点 {a.seq} 之后的记录缺失：日志尾部被截断（当前最后序号 {last_seq}）")
        elif hashes.get(a.seq) != a.hash:
            result.broken(f"锚点 {a.seq}：哈希与日志不符")
    if head is not None and head[0] > last_seq:
        result.broken(f"链头记录序号 {head[0]} 之后的记录缺失：日志尾部被截断（当前最后序号 {last_seq}）")
    elif head is not None and hashes.get(head[0]) != head[1]:
        result.broken(f"链头记录（序号 {head[0]}）与日志中该序号的记录不符")
    result.ok = not result.problems
    return result


def count_events(session: Session) -> int:
    """Number of audit events."""
    return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
