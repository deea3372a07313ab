"""Partitioned history on PostgreSQL (zhili.core.partitions, zhili.core.archive, migration 0023): rows land in their
month's partition, a month-bounded read touches one partition, old months are archived to files that verify on
their own, and the live audit chain verifies from the first live partition on the archived partitions' anchors.

PostgreSQL only (SQLite keeps plain tables): these skip in the SQLite pass and run in the PostgreSQL pass."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from zhili.cases.models import Case, CaseEvent, CaseState, Channel
from zhili.core import archive, audit, partitions
from zhili.core.errors import Conflict, ValidationFailed
from zhili.core.partitions import PartitionArchive

JAN, FEB, MAR = dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)


@pytest.fixture
def pg(db: Session) -> Session:
    if not partitions.is_partitioned(db.connection(), "audit_event"):
        pytest.skip("partitioned history is PostgreSQL's (SQLite keeps plain tables)")
    return db


def at(month: dt.date, day: int = 10, hour: int = 9) -> dt.datetime:
    return dt.datetime(month.year, month.month, day, hour, tzinfo=dt.UTC)


def record_at(db: Session, monkeypatch: pytest.MonkeyPatch, moment: dt.datetime, n: int = 1) -> None:
    """``n`` audit events recorded as if the clock read ``moment`` (each a microsecond later)."""
    for i in range(n):
        monkeypatch.setattr(audit, "utcnow", lambda i=i: moment + dt.timedelta(microseconds=i))
        audit.record(db, actor=audit.SYSTEM, action="probe.write", object_type="probe", object_id=str(i),
                     after={"n": i, "text": "" if i % 2 else None})
    monkeypatch.undo()
    db.flush()


def where(db: Session, table: str, **cond: Any) -> list[str]:
    """The partitions holding the rows of ``table`` matching ``cond``."""
    sql = " AND ".join(f"{k} = :{k}" for k in cond)
    return sorted(db.scalars(text(f"SELECT DISTINCT tableoid::regclass::text FROM {table} WHERE {sql}"), cond))


def a_case(db: Session) -> Case:
    c = Case(number=f"P-{uuid.uuid4().hex[:8]}", channel=Channel.staff, state=CaseState.reported, title="t",
             description="d", path="X", reported_day=JAN)
    db.add(c)
    db.flush()
    return c


def timeline_step(db: Session, case: Case, seq: int, moment: dt.datetime) -> CaseEvent:
    ev = CaseEvent(case_id=case.id, seq=seq, at=moment, action="note", to_state="reported")
    db.add(ev)
    db.flush()
    return ev


def test_new_rows_land_in_the_partition_of_their_month(pg, monkeypatch):
    partitions.ensure(pg.connection(), months=[JAN, FEB])
    record_at(pg, monkeypatch, at(JAN))
    record_at(pg, monkeypatch, at(FEB, 28, 23))
    case = a_case(pg)
    timeline_step(pg, case, 1, at(JAN, 31, 23))
    timeline_step(pg, case, 2, at(FEB, 1, 0))
    assert where(pg, "audit_event", action="probe.write") == ["audit_event_p202601", "audit_event_p202602"]
    assert where(pg, "case_event", case_id=case.id) == ["case_event_p202601", "case_event_p202602"]
    # the case's timeline reads across partitions in order, as before
    assert [e.seq for e in pg.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                      .order_by(CaseEvent.seq))] == [1, 2]


def test_a_row_of_a_month_without_partition_lands_in_default_and_ensure_moves_it_to_its_month(pg, monkeypatch):
    assert partitions.partition_name("audit_event", MAR) not in partitions.partition_tables(pg.connection())
    record_at(pg, monkeypatch, at(MAR), n=2)
    assert where(pg, "audit_event", action="probe.write") == ["audit_event_default"]
    made = partitions.ensure(pg.connection(), months=[MAR])
    assert made == ["audit_event_p202603", "case_event_p202603"]
    assert where(pg, "audit_event", action="probe.write") == ["audit_event_p202603"]
    assert partitions.ensure(pg.connection(), months=[MAR]) == []  # made once
    assert audit.verify_chain(pg).ok


def test_partitions_are_made_ahead_and_carry_the_append_only_guard(pg, monkeypatch):
    now = dt.datetime(2031, 11, 20, tzinfo=dt.UTC)
    made = partitions.ensure(pg.connection(), ahead=2, now=now)
    assert set(made) == {f"{t}_p{m}" for t in ("audit_event", "case_event") for m in ("203111", "203112", "203201")}
    listed = [p.name for p in partitions.list_partitions(pg.connection(), "audit_event")]
    assert listed[-1] == "audit_event_default" and {"audit_event_p203112"} < set(listed)
    record_at(pg, monkeypatch, now)
    case = a_case(pg)
    timeline_step(pg, case, 1, now)
    for stmt in ("DELETE FROM audit_event_p203111", "TRUNCATE audit_event_p203111",
                 "UPDATE audit_event_p203111 SET action = 'forged'", "DELETE FROM case_event_p203111",
                 "TRUNCATE case_event_p203111"):
        nested = pg.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            pg.execute(text(stmt))
        nested.rollback()


@pytest.mark.parametrize("table", ["audit_event", "case_event"])
def test_a_month_bounded_read_is_pruned_to_that_months_partition(pg, table):
    partitions.ensure(pg.connection(), months=[JAN, FEB, MAR])
    plan = "\n".join(pg.scalars(text(
        f"EXPLAIN SELECT * FROM {table} WHERE at >= '2026-02-01 00:00+00' AND at < '2026-03-01 00:00+00'")))
    assert f"{table}_p202602" in plan
    assert f"{table}_p202601" not in plan and f"{table}_p202603" not in plan and f"{table}_default" not in plan


def archive_two_months(db: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[archive.ArchiveResult]:
    partitions.ensure(db.connection(), months=[JAN, FEB])
    record_at(db, monkeypatch, at(JAN), n=3)
    record_at(db, monkeypatch, at(FEB), n=2)
    record_at(db, monkeypatch, audit.utcnow(), n=2)  # the live months
    case = a_case(db)
    timeline_step(db, case, 1, at(JAN))
    return [archive.archive_month(db, "audit_event", JAN, tmp_path),
            archive.archive_month(db, "audit_event", FEB, tmp_path),
            archive.archive_month(db, "case_event", JAN, tmp_path)]


def test_archived_months_leave_the_database_and_both_the_live_chain_and_the_archives_verify(pg, monkeypatch,
                                                                                             tmp_path):
    done = archive_two_months(pg, monkeypatch, tmp_path)
    assert [(r.table, r.rows) for r in done] == [("audit_event", 3), ("audit_event", 2), ("case_event", 1)]
    gone = partitions.partition_tables(pg.connection())
    assert not {"audit_event_p202601", "audit_event_p202602", "case_event_p202601"} & gone
    assert pg.scalar(text("SELECT count(*) FROM audit_event WHERE at < '2026-03-01'")) == 0
    result = audit.verify_chain(pg)
    assert result.ok, result.problems
    assert result.archived == 5 and result.checked == audit.count_events(pg) >= 4  # 2 live + 3 db.archive entries
    anchors = list(pg.scalars(select(PartitionArchive).where(PartitionArchive.table_name == "audit_event")
                              .order_by(PartitionArchive.month)))
    assert (anchors[0].first_seq, anchors[0].last_seq, anchors[0].prev_hash) == (1, 3, audit.GENESIS)
    assert (anchors[1].first_seq, anchors[1].prev_hash) == (4, anchors[0].last_hash)
    for r in done:
        manifest = r.file.with_name(r.file.name.replace(".csv.gz", ".manifest.json"))
        check = archive.verify_archive(manifest, archive.stored_anchor(pg, r.table, r.month))
        assert check.ok and check.rows == r.rows, check.problems
    audited = pg.scalars(select(audit.AuditEvent.object_id).where(audit.AuditEvent.action == "db.archive")
                         .order_by(audit.AuditEvent.seq)).all()  # (a partitioned table keeps no row order)
    assert audited == ["audit_event_p202601", "audit_event_p202602", "case_event_p202601"]


def _rewrite(path: Path, change: Any) -> None:
    lines = gzip.decompress(path.read_bytes()).decode().splitlines(keepends=True)
    path.write_bytes(gzip.compress("".join(change(lines)).encode(), mtime=0))


def test_a_tampered_archive_fails_verification(pg, monkeypatch, tmp_path):
    jan = archive_two_months(pg, monkeypatch, tmp_path)[0]
    manifest_path = tmp_path / "audit_event_p202601.manifest.json"
    stored = archive.stored_anchor(pg, "audit_event", JAN)
    _rewrite(jan.file, lambda lines: [ln.replace('"probe.write"', '"probe.other"', 1) if i == 2 else ln
                                      for i, ln in enumerate(lines)])
    edited = archive.verify_archive(manifest_path, stored)
    assert not edited.ok and any("SHA-256" in p for p in edited.problems)
    # the forger also rewrites the manifest's checksum: the chain itself gives the edited row away
    manifest = json.loads(manifest_path.read_text())
    manifest["sha256"] = archive.file_sha256(jan.file)
    manifest_path.write_text(json.dumps(manifest))
    alone = archive.verify_archive(manifest_path)
    assert not alone.ok and any("内容与哈希不符" in p for p in alone.problems)
    # a row dropped from the file: the seqs no longer continue
    _rewrite(jan.file, lambda lines: lines[:2] + lines[3:])
    manifest["sha256"] = archive.file_sha256(jan.file)
    manifest_path.write_text(json.dumps(manifest))
    dropped = archive.verify_archive(manifest_path)
    assert not dropped.ok and any("行数" in p for p in dropped.problems)


def test_a_month_dropped_without_archiving_breaks_the_live_chain(pg, monkeypatch):
    partitions.ensure(pg.connection(), months=[JAN])
    record_at(pg, monkeypatch, at(JAN), n=2)
    record_at(pg, monkeypatch, audit.utcnow(), n=1)
    pg.execute(text("ALTER TABLE audit_event DETACH PARTITION audit_event_p202601"))
    pg.execute(text("DROP TABLE audit_event_p202601"))
    result = audit.verify_chain(pg)
    assert not result.ok and any("缺失记录" in p for p in result.problems)


def test_archiving_refuses_a_month_whose_rows_still_sit_in_default(pg, monkeypatch, tmp_path):
    partitions.ensure(pg.connection(), months=[FEB])
    record_at(pg, monkeypatch, at(JAN))  # no January partition: in DEFAULT
    with pytest.raises(Conflict) as refused:
        archive.archive_month(pg, "audit_event", FEB, tmp_path)
    assert refused.value.code == "default_partition_not_empty"


def test_retention_refuses_archiving_audit_younger_than_six_months_whatever_the_setting():
    now = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
    archive.check_retention(dt.date(2026, 6, 1), now=now, keep_months=3)  # 6 months back: allowed
    for before, keep in [(dt.date(2026, 7, 1), 3), (dt.date(2026, 7, 1), 6), (dt.date(2026, 6, 1), 12)]:
        with pytest.raises(ValidationFailed) as refused:
            archive.check_retention(before, now=now, keep_months=keep)
        assert refused.value.code == "retention_too_short"


def test_months_are_parsed_strictly():
    assert partitions.parse_month("2026-02") == FEB
    for bad in ("2026-13", "2026-2", "26-02", "2026-02-01"):
        with pytest.raises(ValueError):
            partitions.parse_month(bad)
    assert partitions.add_months(dt.date(2026, 11, 1), 3) == dt.date(2027, 2, 1)
    assert partitions.add_months(JAN, -1) == dt.date(2025, 12, 1)
