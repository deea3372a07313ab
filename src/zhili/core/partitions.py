"""Monthly partitions of the append-only history (PostgreSQL): the case timeline and the audit log.

``case_event`` and ``audit_event`` are ``PARTITION BY RANGE (at)`` on PostgreSQL (migration 0023): one partition per
calendar month in UTC (``<table>_pYYYYMM``, ``[first day 00:00 UTC, next first day)``) and one DEFAULT partition
(``<table>_default``). SQLite keeps plain tables; every function here is a no-op or refuses there.

- :func:`ensure` creates the partitions of this month and ``ahead`` months after it (the sweep thread does it
  under the ``partitions`` lease, ``zhili.app``; ``zhili db partitions --ensure`` by hand), and those of any month
  whose rows sit in DEFAULT, re-homing them (an import of old history, e.g. the data hub's 历史工单, lands there
  and is moved at the job's next turn; the demo seeder makes its months first, :func:`ensure_range`).
- The DEFAULT partition is kept as a safety net: a row whose month has no partition (a clock far off, an import of
  old history before its months were made) lands there instead of failing the transaction — losing a timeline step
  or an audit entry, i.e. failing the user's action, is worse than one unpruned partition. It should stay empty;
  :func:`list_partitions` shows its rows and :func:`ensure` moves them into their month.
- Each partition carries the append-only guards of its parent: row triggers are cloned by PostgreSQL, statement
  triggers (the audit log's, TRUNCATE) are not, so :func:`_guard` adds them to every partition made here.

Retention and archiving of old partitions: :mod:`zhili.core.archive`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Connection, Date, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from zhili.core.db import Base, UTCDateTime, utcnow

# the partitioned tables and the guard each partition needs (statement-level: not cloned from the parent)
TABLES: dict[str, tuple[str, str]] = {
    # table: (trigger events, trigger function) — the functions are those of migrations 0001 and 0011
    "audit_event": ("UPDATE OR DELETE OR TRUNCATE", "zhili_audit_append_only"),
    "case_event": ("TRUNCATE", "zhili_case_event_append_only"),
}
_MONTH_NAME = re.compile(r"_p(\d{4})(\d{2})$")


class PartitionArchive(Base):
    """One archived monthly partition: where its file went, its checksum, and — for the audit log — the chain
    anchor that lets the archive verify on its own and the live chain start after it (:mod:`zhili.core.archive`).
    Written on both databases' schema; only PostgreSQL archives."""

    __tablename__ = "partition_archive"
    __table_args__ = (UniqueConstraint("table_name", "month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    table_name: Mapped[str] = mapped_column(String(64))
    month: Mapped[dt.date] = mapped_column(Date)  # the first day of the archived month (UTC)
    rows: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    archived_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))  # of the archive file as written
    # audit_event only: the chain anchor of the partition
    first_seq: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    last_seq: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    prev_hash: Mapped[str | None] = mapped_column(String(64))  # the hash of the previous partition's last entry
    last_hash: Mapped[str | None] = mapped_column(String(64))  # the hash of this partition's last entry


def month_start(day: dt.date | dt.datetime) -> dt.date:
    """The first day of ``day``'s month."""
    return dt.date(day.year, day.month, 1)


def add_months(month: dt.date, n: int) -> dt.date:
    """The first day of the month ``n`` months after ``month`` (negative: before)."""
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def parse_month(value: str) -> dt.date:
    """``YYYY-MM`` → the first day of that month (ValueError otherwise)."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", value.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"not a month (YYYY-MM): {value!r}")
    return dt.date(int(m.group(1)), int(m.group(2)), 1)


def bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC range [start, end) of a month's partition."""
    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)
    nxt = add_months(month, 1)
    return start, dt.datetime(nxt.year, nxt.month, 1, tzinfo=dt.UTC)


def partition_name(table: str, month: dt.date) -> str:
    return f"{table}_p{month.year:04d}{month.month:02d}"


def is_partitioned(conn: Connection, table: str) -> bool:
    """True if ``table`` is a partitioned table in the current schema (always False on SQLite)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.scalar(text("SELECT relkind FROM pg_class WHERE relname = :t "
                            "AND relnamespace = current_schema()::regnamespace"), {"t": table})
    return kind == "p"


def partition_tables(conn: Connection) -> set[str]:
    """The names of every partition in the current schema: tables of the database but not of the models (Alembic's
    comparison and the migration tests leave them out). Empty on SQLite."""
    if conn.dialect.name != "postgresql":
        return set()
    return set(conn.scalars(text("SELECT relname FROM pg_class WHERE relispartition AND relkind IN ('r', 'p') "
                                 "AND relnamespace = current_schema()::regnamespace")))


def include_name(partitions: set[str]) -> Any:
    """An Alembic ``include_name`` hook that skips the given partitions (tables made at run time, not by a model)."""

    def include(name: str | None, type_: str, parent_names: Any) -> bool:
        return not (type_ == "table" and name in partitions)

    return include


def include_name_of(conn: Connection) -> Any:
    """As :func:`include_name`, the partitions looked up on ``conn`` at the first call (not before: Alembic's
    environment must not begin a transaction before the migration context does)."""
    found: list[set[str]] = []

    def include(name: str | None, type_: str, parent_names: Any) -> bool:
        if type_ != "table":
            return True
        if not found:
            found.append(partition_tables(conn))
        return name not in found[0]

    return include


@dataclass(frozen=True)
class Partition:
    """One partition of a partitioned table: its month (None for DEFAULT) and its rows (exact count if asked)."""

    table: str
    name: str
    month: dt.date | None
    rows: int | None = None
    bytes: int | None = None


def list_partitions(conn: Connection, table: str, *, count: bool = False) -> list[Partition]:
    """The partitions of ``table``, months in order then DEFAULT; ``count``: exact row counts (a scan each)."""
    if not is_partitioned(conn, table):
        return []
    names = list(conn.scalars(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :t "
        "AND p.relnamespace = current_schema()::regnamespace"), {"t": table}))
    out: list[Partition] = []
    for name in names:
        m = _MONTH_NAME.search(name)
        month = dt.date(int(m.group(1)), int(m.group(2)), 1) if m else None
        rows = int(conn.scalar(text(f'SELECT count(*) FROM "{name}"')) or 0) if count else None
        size = int(conn.scalar(text("SELECT pg_total_relation_size(CAST(:n AS regclass))"), {"n": name}) or 0)
        out.append(Partition(table, name, month, rows, size))
    return sorted(out, key=lambda p: (p.month is None, p.month or dt.date.min))


def _guard(conn: Connection, table: str, partition: str) -> None:
    events, function = TABLES[table]
    conn.execute(text(f'CREATE TRIGGER "{partition}_append_only" BEFORE {events} ON "{partition}" '
                      f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"))


def _stray_months(conn: Connection, table: str) -> list[dt.date]:
    """The months of the rows sitting in ``table``'s DEFAULT partition (normally none)."""
    return [dt.date(m.year, m.month, 1) for m in conn.scalars(text(
        f"SELECT DISTINCT date_trunc('month', at AT TIME ZONE 'UTC') FROM \"{table}_default\""))]


def _create(conn: Connection, table: str, month: dt.date) -> None:
    name = partition_name(table, month)
    start, end = bounds(month)
    conn.execute(text(f'CREATE TABLE "{name}" PARTITION OF "{table}" '
                      f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"))
    _guard(conn, table, name)


def _rehome(conn: Connection, table: str, months: list[dt.date]) -> None:
    """Create ``months``' partitions while DEFAULT holds rows of some of them: DEFAULT is detached and replaced by a
    new one, and its rows re-inserted through the parent (each lands in its month) — copied, never updated or
    deleted, so the append-only guards hold throughout. Writers wait meanwhile (the parent is locked)."""
    conn.execute(text(f'ALTER TABLE "{table}" DETACH PARTITION "{table}_default"'))
    conn.execute(text(f'ALTER TABLE "{table}_default" RENAME TO "{table}_default_old"'))
    conn.execute(text(f'CREATE TABLE "{table}_default" PARTITION OF "{table}" DEFAULT'))
    _guard(conn, table, f"{table}_default")
    for month in months:
        _create(conn, table, month)
    conn.execute(text(f'INSERT INTO "{table}" SELECT * FROM "{table}_default_old"'))
    conn.execute(text(f'DROP TABLE "{table}_default_old"'))


def _exists(conn: Connection, name: str) -> bool:
    return conn.scalar(text("SELECT to_regclass(:n)"), {"n": name}) is not None


def ensure(conn: Connection, *, ahead: int = 3, now: dt.datetime | None = None,
           months: list[dt.date] | None = None) -> list[str]:
    """Create the partitions of this month and the ``ahead`` months after it (or of ``months``) for every
    partitioned table, and those of any month whose rows sit in DEFAULT (re-homing them); returns the names made.
    Nothing on SQLite or on an unpartitioned table."""
    first = month_start(now or utcnow())
    wanted = months if months is not None else [add_months(first, i) for i in range(ahead + 1)]
    made: list[str] = []
    for table in TABLES:
        if not is_partitioned(conn, table):
            continue
        stray = _stray_months(conn, table)
        missing = sorted({m for m in [*wanted, *stray] if not _exists(conn, partition_name(table, m))})
        if not missing:
            continue
        conn.execute(text(f'LOCK TABLE "{table}" IN SHARE ROW EXCLUSIVE MODE'))  # no writer lands in DEFAULT now
        if stray:
            _rehome(conn, table, missing)
        else:
            for month in missing:
                _create(conn, table, month)
        made.extend(partition_name(table, m) for m in missing)
    return made


def ensure_range(conn: Connection, start: dt.datetime, end: dt.datetime) -> list[str]:
    """Partitions for every month from ``start`` to ``end`` (both included): bulk imports of old history call it
    before writing, so their rows land in their months rather than in DEFAULT."""
    months, month = [], month_start(start)
    while month <= month_start(end):
        months.append(month)
        month = add_months(month, 1)
    return ensure(conn, months=months)
