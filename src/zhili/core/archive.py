"""Retention and archiving of old monthly partitions (PostgreSQL): detach, write to a file, verify, drop.

``zhili db archive --before YYYY-MM`` takes every monthly partition of ``audit_event`` and ``case_event`` older
than that month, oldest first, and for each one:

1. writes its rows to ``<partition>.csv.gz`` — a CSV whose header names the columns and whose every cell is a JSON
   literal (``null``, a number, a string, an object): NULL and the empty string stay apart, JSON payloads and
   timestamps (ISO 8601, UTC, microseconds) come back exactly as the chain hashed them. Gzip with a zero
   timestamp, so the same rows always give the same bytes. Plain compressed CSV rather than Parquet: any
   machine can read it in decades (``zcat``), it needs no dependency on the server, and DuckDB reads it anyway
   (``read_csv``) for whoever wants to query an archive;
2. writes ``<partition>.manifest.json``: row count, the file's SHA-256, the columns and — for the audit log — the
   partition's chain anchor: first and last seq, the hash of its last entry and the hash it starts from (the
   previous partition's last entry, or the genesis);
3. re-reads the file and verifies it against that anchor (:func:`verify_archive`) before anything is dropped;
4. in one transaction: stores the anchor in ``partition_archive``, records ``db.archive`` in the audit log,
   detaches the partition and drops it.

The live chain then verifies from its first live partition on the stored anchors (:func:`zhili.core.audit.
verify_chain`), and each archive file verifies on its own against its anchor (``zhili db verify-archive``).

Retention: the audit log must stay online at least :data:`LEGAL_MIN_MONTHS` months — 《中华人民共和国网络安全法》
第二十一条（三）requires network operators to keep the logs of network operation "不少于六个月" — and at least the
``history_online_months`` setting (default 12). A month younger than that is refused, as is an audit partition
whose seqs do not continue the chain exactly where the last archive ended.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.backup import file_sha256
from zhili.core.errors import Conflict, ValidationFailed
from zhili.core.partitions import (
    PartitionArchive,
    add_months,
    bounds,
    is_partitioned,
    list_partitions,
    month_start,
)

LEGAL_MIN_MONTHS = 6  # 网络安全法 第二十一条: network logs kept no less than six months
ORDER = {"audit_event": "seq", "case_event": "at, id"}


@dataclass
class ArchiveResult:
    """One archived partition."""

    table: str
    month: dt.date
    rows: int
    file: Path
    sha256: str


@dataclass
class ArchiveCheck:
    """The outcome of verifying one archive file."""

    ok: bool = True
    rows: int = 0
    problems: list[str] = field(default_factory=list)

    def broken(self, problem: str) -> None:
        self.problems.append(problem)
        self.ok = False


def latest_allowed(now: dt.datetime, keep_months: int) -> dt.date:
    """The latest ``--before`` month allowed: every month before it is at least ``keep_months`` (and at least the
    legal six) months old."""
    return add_months(month_start(now), -max(keep_months, LEGAL_MIN_MONTHS))


def _cell(value: Any) -> str:
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC).isoformat()
    elif isinstance(value, dt.date):
        value = value.isoformat()
    elif isinstance(value, uuid.UUID):
        value = str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _rows(conn: Connection, partition: str, order: str, batch: int = 5000) -> Iterator[tuple[list[str], Any]]:
    result = conn.execute(text(f'SELECT * FROM "{partition}" ORDER BY {order}'),
                          execution_options={"stream_results": True, "yield_per": batch})
    keys = list(result.keys())
    for row in result:
        yield keys, row


def _write(conn: Connection, partition: str, order: str, path: Path) -> tuple[int, list[str]]:
    """Stream the partition into ``path`` (gzip, zero mtime); returns (rows, columns)."""
    n, columns = 0, list[str]()
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz, \
            io.TextIOWrapper(gz, encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        for keys, row in _rows(conn, partition, order):
            if not columns:
                columns = [str(k) for k in keys]
                writer.writerow(columns)
            writer.writerow([_cell(v) for v in row])
            n += 1
    if not columns:  # an empty month: header only
        columns = list(conn.execute(text(f'SELECT * FROM "{partition}" LIMIT 0')).keys())
        with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
            gz.write((",".join(columns) + "\n").encode())
    return n, columns


def read_archive(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of an archive file as dicts of decoded values (timestamps back to aware datetimes)."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None) or []
        for cells in reader:
            row = {k: json.loads(c) for k, c in zip(header, cells, strict=True)}
            if isinstance(row.get("at"), str):
                row["at"] = dt.datetime.fromisoformat(row["at"])
            yield row


def _chain_of_rows(rows: Iterator[dict[str, Any]], check: ArchiveCheck, *, prev_hash: str, first_seq: int | None
                   ) -> tuple[int | None, int | None, str]:
    """Walk audit rows: recompute each hash and check the links; returns (first seq, last seq, last hash)."""
    first = last = None
    expected = first_seq
    for row in rows:
        check.rows += 1
        seq = int(row["seq"])
        if first is None:
            first = seq
        if expected is not None and seq != expected:
            check.broken(f"序号 {seq}：应为 {expected}（记录缺失或多出）")
        if row["prev_hash"] != prev_hash:
            check.broken(f"序号 {seq}：前序哈希不匹配")
        if audit.compute_hash(row["prev_hash"], audit._row_payload(audit._RowView(row))) != row["hash"]:
            check.broken(f"序号 {seq}：内容与哈希不符（记录被篡改）")
        prev_hash, last, expected = row["hash"], seq, seq + 1
    return first, last, prev_hash


def verify_archive(manifest_path: Path, anchor: PartitionArchive | None = None) -> ArchiveCheck:
    """Verify an archive file against its anchor: the one stored in the database when given (the trusted copy),
    else its manifest's. Checks the file's SHA-256, its row count and — for the audit log — every hash, the seq
    continuity from the first seq, the start from the previous partition's last hash and the last entry's hash."""
    check = ArchiveCheck()
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    path = manifest_path.parent / manifest["file"]
    ref: dict[str, Any] = manifest if anchor is None else {
        "rows": anchor.rows, "sha256": anchor.sha256, "first_seq": anchor.first_seq, "last_seq": anchor.last_seq,
        "prev_hash": anchor.prev_hash, "last_hash": anchor.last_hash}
    if anchor is not None:
        for key in ("rows", "sha256", "first_seq", "last_seq", "prev_hash", "last_hash"):
            if manifest.get(key) != ref[key]:
                check.broken(f"清单的 {key} 与数据库中的锚点不符")
    if not path.exists():
        check.broken(f"归档文件不存在：{path.name}")
        return check
    if file_sha256(path) != ref["sha256"]:
        check.broken("归档文件的 SHA-256 与锚点不符（文件被修改或损坏）")
    try:
        if manifest["table"] == "audit_event":
            first, last, last_hash = _chain_of_rows(read_archive(path), check, prev_hash=ref["prev_hash"],
                                                    first_seq=ref["first_seq"])
            if check.rows and (first != ref["first_seq"] or last != ref["last_seq"] or last_hash != ref["last_hash"]):
                check.broken(f"链锚点不符：文件为序号 {first}–{last}，锚点为 {ref['first_seq']}–{ref['last_seq']}")
        else:
            check.rows = sum(1 for _ in read_archive(path))
    except (OSError, ValueError, KeyError, TypeError, csv.Error, EOFError) as exc:
        check.broken(f"归档文件无法读取：{exc.__class__.__name__}")
    if check.rows != ref["rows"]:
        check.broken(f"行数 {check.rows} 与锚点的 {ref['rows']} 不符")
    return check


def stored_anchor(session: Session, table: str, month: dt.date) -> PartitionArchive | None:
    return session.scalar(select(PartitionArchive).where(PartitionArchive.table_name == table,
                                                         PartitionArchive.month == month))


def _audit_anchor_in_db(session: Session, partition: str) -> tuple[int | None, int | None, int]:
    first, last, n = session.execute(text(f'SELECT min(seq), max(seq), count(*) FROM "{partition}"')).one()
    return first, last, int(n)


def archive_month(session: Session, table: str, month: dt.date, directory: Path, *, actor: audit.Actor = audit.SYSTEM
                  ) -> ArchiveResult:
    """Archive one monthly partition (the steps in the module's docstring); the caller commits."""
    conn = session.connection()
    partition = next((p for p in list_partitions(conn, table) if p.month == month), None)
    if partition is None:
        raise ValidationFailed(f"{table} 没有 {month:%Y-%m} 的分区", code="partition_not_found")
    start, end = bounds(month)
    if conn.scalar(text(f'SELECT EXISTS (SELECT 1 FROM "{table}_default" WHERE at < :e)'), {"e": end}):
        raise Conflict(f"{table} 的默认分区中有 {month:%Y-%m} 及以前的记录：先执行 zhili db partitions --ensure",
                       code="default_partition_not_empty")
    prev_hash, first_seq, last_seq, last_hash = None, None, None, None
    if table == "audit_event":
        prior = session.scalar(select(PartitionArchive).where(PartitionArchive.table_name == table,
                                                              PartitionArchive.rows > 0)
                               .order_by(PartitionArchive.last_seq.desc()).limit(1))
        expected_first = int(prior.last_seq or 0) + 1 if prior else 1
        prev_hash = str(prior.last_hash) if prior else audit.GENESIS
        first_seq, last_seq, n = _audit_anchor_in_db(session, partition.name)
        if n and (first_seq != expected_first or last_seq - first_seq + 1 != n):  # type: ignore[operator]
            raise Conflict(f"审计日志 {month:%Y-%m} 分区的序号不连续或未接上已归档部分（{first_seq}–{last_seq}，"
                           f"{n} 条，应从 {expected_first} 开始）：不能归档", code="audit_partition_not_contiguous")
        later = conn.scalar(text("SELECT min(seq) FROM audit_event WHERE at >= :e"), {"e": end})
        if n and later is not None and later != last_seq + 1:  # type: ignore[operator]
            raise Conflict(f"审计日志 {month:%Y-%m} 之后的记录未从序号 {last_seq + 1} 接续（{later}）：不能归档",  # type: ignore[operator]
                           code="audit_partition_not_contiguous")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{partition.name}.csv.gz"
    rows, columns = _write(conn, partition.name, ORDER[table], path)
    if table == "audit_event" and rows:
        last_hash = conn.scalar(text(f'SELECT hash FROM "{partition.name}" WHERE seq = :s'), {"s": last_seq})
    digest = file_sha256(path)
    manifest = {"table": table, "month": f"{month:%Y-%m}", "partition": partition.name, "file": path.name,
                "format": "csv, every cell a JSON literal, gzip", "columns": columns, "rows": rows, "sha256": digest,
                "range_utc": [start.isoformat(), end.isoformat()], "archived_at": audit.utcnow().isoformat(),
                "first_seq": first_seq if rows else None, "last_seq": last_seq if rows else None,
                "prev_hash": prev_hash if rows else None, "last_hash": last_hash}
    manifest_path = directory / f"{partition.name}.manifest.json"
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    check = verify_archive(manifest_path)
    if not check.ok or check.rows != rows:
        raise Conflict("归档文件写出后校验未通过，分区未删除：" + "；".join(check.problems[:3]),
                       code="archive_verify_failed")
    session.add(PartitionArchive(table_name=table, month=month, rows=rows, file_name=path.name, sha256=digest,
                                 first_seq=manifest["first_seq"], last_seq=manifest["last_seq"],
                                 prev_hash=manifest["prev_hash"], last_hash=last_hash))
    session.flush()
    audit.record(session, actor=actor, action="db.archive", object_type="partition", object_id=partition.name,
                 after={"table": table, "month": f"{month:%Y-%m}", "rows": rows, "sha256": digest,
                        "file": path.name, "first_seq": manifest["first_seq"], "last_seq": manifest["last_seq"]})
    session.flush()
    conn.execute(text(f'ALTER TABLE "{table}" DETACH PARTITION "{partition.name}"'))
    conn.execute(text(f'DROP TABLE "{partition.name}"'))
    return ArchiveResult(table, month, rows, path, digest)


def months_to_archive(conn: Connection, table: str, before: dt.date) -> list[dt.date]:
    return [p.month for p in list_partitions(conn, table) if p.month is not None and p.month < before]


def check_retention(before: dt.date, *, now: dt.datetime, keep_months: int) -> None:
    """Refuse a ``--before`` month that would take audit entries younger than the retention off line."""
    allowed = latest_allowed(now, keep_months)
    if before > allowed:
        raise ValidationFailed(
            f"审计日志至少在线保留 {max(keep_months, LEGAL_MIN_MONTHS)} 个月（网络安全法第二十一条：不少于六个月）："
            f"最多归档到 {allowed:%Y-%m} 之前", code="retention_too_short")


def archive_before(session_scope: Any, before: dt.date, directory: Path, *, now: dt.datetime, keep_months: int,
                   tables: tuple[str, ...] = ("audit_event", "case_event")) -> list[ArchiveResult]:
    """Archive every monthly partition older than ``before`` of ``tables``, oldest first, one transaction each."""
    check_retention(before, now=now, keep_months=keep_months)
    done: list[ArchiveResult] = []
    for table in tables:
        with session_scope() as s:
            if not is_partitioned(s.connection(), table):
                raise ValidationFailed("只有 PostgreSQL 上的分区表可以归档", code="not_partitioned")
            months = months_to_archive(s.connection(), table, before)
        for month in months:
            with session_scope() as s:
                done.append(archive_month(s, table, month, directory))
    return done
