"""Partitioned history on PostgreSQL (migration 0023): what monthly partitions of ``case_event`` and ``audit_event``
change, measured on a copy of the large demo — never on the demo itself (the script converts the tables).

Steps, each timed on the same database in the same run:

1. *before* (plain tables, revision 0021): the reads below, median of ``--repeat`` runs each, caches warm;
2. the migration 0021 → 0023 (rows copied into the monthly partitions, keys and indexes built, ANALYZE);
3. *after*: the same reads;
4. retention: the oldest month archived (`zhili db archive`'s code: file written, verified, detached, dropped) —
   against the baseline of deleting that month's rows from the plain table, measured in step 1 inside a
   transaction rolled back (the append-only guards lifted for the measurement only);
5. ``--case-table``: whether partitioning ``case`` itself by ``reported_at`` would pay — a partitioned copy of
   ``case`` (same indexes) against the table, for the reads the application makes of cases (by id, by number, a
   jurisdiction's open cases by state and path, a month's cases).

The reads: a month's timeline (counts by action over one UTC month); a month of the audit log (count and the
first page); the audit page's month filter (local month, newest 50 and the total, as ``audit.service.list_events``
with ``since``/``until``); a case's timeline (``case_id`` = …, ordered by seq) for ``--cases`` random cases; the
chain head (``ORDER BY seq DESC LIMIT 1``, taken on every audited write); one audit event by seq.

    pg_dump -Fc -h 127.0.0.1 -U postgres zhili_large > /tmp/large.dump
    createdb -h 127.0.0.1 -U postgres zhili_part && pg_restore -j2 -h 127.0.0.1 -U postgres -d zhili_part /tmp/large.dump
    ZHILI_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/zhili_part .venv/bin/python bench/bench_partitions.py \\
        --case-table --archive-dir /tmp/zhili-archive
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

import zhili.models  # noqa: F401
from zhili.core import archive, migrate, partitions
from zhili.core.db import get_engine, session_scope

LOCAL = dt.timezone(dt.timedelta(hours=8))  # the demo district's zone (Asia/Shanghai, no DST)


def timed(conn: Connection, sql: str, params: dict[str, Any] | None = None, repeat: int = 7) -> float:
    """Median milliseconds of ``sql`` (first run discarded: caches warm)."""
    conn.execute(text(sql), params or {}).all()
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        conn.execute(text(sql), params or {}).all()
        runs.append((time.perf_counter() - t) * 1000)
    return statistics.median(runs)


def month_range(month: dt.date, tz: dt.tzinfo = dt.UTC) -> dict[str, dt.datetime]:
    nxt = partitions.add_months(month, 1)
    return {"s": dt.datetime(month.year, month.month, 1, tzinfo=tz), "e": dt.datetime(nxt.year, nxt.month, 1, tzinfo=tz)}


def reads(conn: Connection, month: dt.date, case_ids: list[Any], seqs: list[int], repeat: int) -> dict[str, float]:
    utc, local = month_range(month), month_range(month, LOCAL)
    out = {
        "timeline: a month by action": timed(conn, "SELECT action, count(*) FROM case_event WHERE at >= :s AND at < :e "
                                                   "GROUP BY action", utc, repeat),
        "audit: a month, count": timed(conn, "SELECT count(*) FROM audit_event WHERE at >= :s AND at < :e", utc,
                                       repeat),
        "audit page: local month, newest 50": timed(conn, "SELECT * FROM audit_event WHERE at >= :s AND at < :e "
                                                          "ORDER BY seq DESC LIMIT 50", local, repeat),
        "audit page: local month, total": timed(conn, "SELECT count(*) FROM audit_event WHERE at >= :s AND at < :e",
                                                local, repeat),
        "audit page: no filter, newest 50": timed(conn, "SELECT * FROM audit_event ORDER BY seq DESC LIMIT 50",
                                                  None, repeat),
        "audit: chain head": timed(conn, "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1", None,
                                   repeat * 5),
    }
    t = time.perf_counter()
    for _ in range(3):
        for cid in case_ids:
            conn.execute(text("SELECT * FROM case_event WHERE case_id = :c ORDER BY seq"), {"c": cid}).all()
    out["a case's timeline (each)"] = (time.perf_counter() - t) * 1000 / (3 * len(case_ids))
    t = time.perf_counter()
    for seq in seqs:
        conn.execute(text("SELECT * FROM audit_event WHERE seq = :s"), {"s": seq}).all()
    out["audit: one event by seq (each)"] = (time.perf_counter() - t) * 1000 / len(seqs)
    return out


def fill_audit(conn: Connection, n: int) -> None:
    """The demo seeder writes few audit entries: on this throw-away copy, make the log a district's size — ``n``
    entries spread evenly over the timeline's months, then the seeded entries after them, one valid chain
    (re-numbered and re-hashed; the hourly anchors cleared)."""
    from sqlalchemy import insert, select

    from zhili.core import audit

    table = audit.AuditEvent.__table__
    existing = [dict(r._mapping) for r in conn.execute(select(*table.c).order_by(table.c.seq))]
    conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))
    conn.execute(text("DELETE FROM audit_event"))
    conn.execute(text("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only"))
    conn.execute(text("DELETE FROM audit_anchor"))
    start = conn.scalar(text("SELECT min(at) FROM case_event"))
    end = min([r["at"] for r in existing] or [dt.datetime.now(dt.UTC)])
    case_ids = [str(r[0]) for r in conn.execute(text('SELECT id FROM "case" LIMIT 5000'))]
    actions = ["case.accept", "case.dispatch", "case.resolve", "case.verify", "case.close", "person.update",
               "registry.export", "auth.login"]
    rnd = random.Random(20)
    step = (end - start) / max(n, 1)
    seq, prev, batch = 0, audit.GENESIS, []

    def add(row: dict[str, Any]) -> None:
        nonlocal seq, prev
        seq += 1
        row.update(seq=seq, prev_hash=prev)
        row["hash"] = prev = audit.compute_hash(prev, audit._row_payload(audit._RowView(row)))
        batch.append(row)
        if len(batch) >= 5000:
            conn.execute(insert(table), batch)
            batch.clear()

    for i in range(n):
        add({"at": start + step * i, "actor_id": None, "actor_name": f"user{rnd.randint(1, 300)}",
             "actor_role": "street_staff", "ip": "10.0.0.1", "action": rnd.choice(actions), "object_type": "case",
             "object_id": rnd.choice(case_ids), "reason": None, "before": {"state": "reported"},
             "after": {"state": "accepted", "note": "bench"}})
    for r in existing:
        add({k: v for k, v in r.items() if k not in ("seq", "prev_hash", "hash")})
    if batch:
        conn.execute(insert(table), batch)
    conn.commit()


def delete_month_baseline(conn: Connection, month: dt.date) -> dict[str, float]:
    """Deleting a month from the plain tables (the only way to retire it without partitions), rolled back."""
    out = {}
    for table, trigger in (("case_event", "case_event_append_only"), ("audit_event", "audit_event_append_only")):
        trans = conn.begin()
        conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}"))
        t = time.perf_counter()
        n = conn.execute(text(f"DELETE FROM {table} WHERE at >= :s AND at < :e"), month_range(month)).rowcount
        out[f"{table}: DELETE a month ({n:,} rows)"] = (time.perf_counter() - t) * 1000
        trans.rollback()
    return out


def case_table_experiment(conn: Connection, repeat: int) -> list[tuple[str, float, float]]:
    """``case`` against a copy partitioned by month of ``reported_at`` with the same indexes (PK (id, reported_at)):
    the application's reads of cases, median ms each."""
    conn.execute(text("DROP TABLE IF EXISTS case_part CASCADE"))
    conn.execute(text('CREATE TABLE case_part (LIKE "case" INCLUDING DEFAULTS) PARTITION BY RANGE (reported_at)'))
    first, last = conn.execute(text('SELECT min(reported_at), max(reported_at) FROM "case"')).one()
    month = partitions.month_start(first)
    while month <= partitions.month_start(last):
        r = month_range(month)
        conn.execute(text(f"CREATE TABLE case_part_p{month:%Y%m} PARTITION OF case_part FOR VALUES FROM "
                          f"('{r['s'].isoformat()}') TO ('{r['e'].isoformat()}')"))
        month = partitions.add_months(month, 1)
    conn.execute(text('INSERT INTO case_part SELECT * FROM "case"'))
    conn.execute(text("ALTER TABLE case_part ADD PRIMARY KEY (id, reported_at)"))
    for cols in ("path", "state", "number", "reported_at", "state, handle_due_at", "flow, state"):
        conn.execute(text(f"CREATE INDEX ON case_part ({cols})"))
    conn.execute(text("ANALYZE case_part"))
    conn.commit()
    ids = [r[0] for r in conn.execute(text('SELECT id FROM "case" TABLESAMPLE SYSTEM (1) LIMIT 200'))]
    numbers = [r[0] for r in conn.execute(text('SELECT number FROM "case" TABLESAMPLE SYSTEM (1) LIMIT 200'))]
    path = conn.scalar(text("SELECT path FROM unit WHERE depth = 2 ORDER BY code LIMIT 1"))
    recent = month_range(partitions.month_start(last))

    def each(sql_for: Callable[[str], str], values: list[Any], key: str) -> tuple[float, float]:
        res = []
        for table in ('"case"', "case_part"):
            sql = sql_for(table)
            conn.execute(text(sql), {key: values[0]}).all()
            t = time.perf_counter()
            for v in values:
                conn.execute(text(sql), {key: v}).all()
            res.append((time.perf_counter() - t) * 1000 / len(values))
        return res[0], res[1]

    rows = [("a case by id", *each(lambda t: f"SELECT * FROM {t} WHERE id = :v", ids, "v")),
            ("a case by number", *each(lambda t: f"SELECT * FROM {t} WHERE number = :v", numbers, "v"))]
    for label, sql, params in [
        ("a street's open cases, newest 50",
         "SELECT * FROM {t} WHERE path LIKE :p AND state NOT IN ('closed', 'rejected', 'merged') "
         "ORDER BY reported_at DESC LIMIT 50", {"p": f"{path}/%"}),
        ("overdue scan (state, handle_due_at)",
         "SELECT id FROM {t} WHERE state IN ('dispatched', 'in_progress') AND handle_due_at < now()", {}),
        ("the latest month's cases, count", "SELECT count(*) FROM {t} WHERE reported_at >= :s AND reported_at < :e",
         recent),
    ]:
        rows.append((label, timed(conn, sql.format(t='"case"'), params, repeat),
                     timed(conn, sql.format(t="case_part"), params, repeat)))
    conn.execute(text("DROP TABLE case_part CASCADE"))
    conn.commit()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--cases", type=int, default=300, help="random cases whose timeline is read")
    ap.add_argument("--archive-dir", type=Path, default=Path("/tmp/zhili-archive"))
    ap.add_argument("--case-table", action="store_true", help="also measure a partitioned copy of case")
    ap.add_argument("--audit-rows", type=int, default=0, help="first fill the copy's audit log to this size")
    ap.add_argument("--archive-months", type=int, default=3, help="the oldest months archived")
    args = ap.parse_args()
    engine = get_engine()
    with engine.connect() as conn:
        assert not partitions.is_partitioned(conn, "case_event"), "run on a copy at revision 0021 (plain tables)"
        if args.audit_rows:
            t = time.perf_counter()
            fill_audit(conn, args.audit_rows)
            conn.execute(text("ANALYZE audit_event"))
            conn.commit()
            print(f"audit log filled to {args.audit_rows:,} + seeded entries in {time.perf_counter() - t:.0f} s")
        counts = conn.execute(text("SELECT (SELECT count(*) FROM case_event), (SELECT count(*) FROM audit_event), "
                                   "(SELECT min(at) FROM case_event), (SELECT max(at) FROM case_event)")).one()
        print(f"case_event {counts[0]:,} rows, audit_event {counts[1]:,} rows, timeline {counts[2]:%Y-%m} – "
              f"{counts[3]:%Y-%m}")
        random.seed(20)
        case_ids = [r[0] for r in conn.execute(text('SELECT id FROM "case" TABLESAMPLE SYSTEM (1) LIMIT :n'),
                                               {"n": args.cases})]
        top = int(conn.scalar(text("SELECT max(seq) FROM audit_event")) or 1)
        seqs = [random.randint(1, top) for _ in range(300)]
        busiest = conn.execute(text("SELECT date_trunc('month', at AT TIME ZONE 'UTC') m FROM audit_event "
                                    "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")).scalar()
        month = partitions.month_start(busiest or dt.datetime.now(dt.UTC))
        oldest = partitions.month_start(counts[2])
        print(f"month read: {month:%Y-%m} (the audit log's busiest); retention: {oldest:%Y-%m} (the oldest)")
        before = reads(conn, month, case_ids, seqs, args.repeat)
        conn.commit()
        baseline = delete_month_baseline(conn, partitions.add_months(oldest, args.archive_months - 1))
    t = time.perf_counter()
    migrate.upgrade("0023", url=str(engine.url.render_as_string(hide_password=False)))
    took = time.perf_counter() - t
    print(f"\nmigration 0021 → 0023: {took:.1f} s")
    with engine.connect() as conn:
        print(f"partitions: {len(partitions.list_partitions(conn, 'case_event'))} per table (months + DEFAULT)")
        after = reads(conn, month, case_ids, seqs, args.repeat)
        conn.commit()
    print(f"\n{'read':<40} {'plain ms':>10} {'partitioned ms':>15} {'ratio':>7}")
    for k, v in before.items():
        print(f"{k:<40} {v:>10.2f} {after[k]:>15.2f} {after[k] / v:>7.2f}")
    print("\nretention (the oldest months; the baseline deletes the last of them from the plain tables):")
    for k, v in baseline.items():
        print(f"  plain table, {k}: {v / 1000:.2f} s (plus the VACUUM it leaves)")
    for k in range(args.archive_months):  # oldest first (the audit chain's anchors follow each other)
        month = partitions.add_months(oldest, k)
        for table in ("case_event", "audit_event"):
            t = time.perf_counter()
            with session_scope() as s:
                r = archive.archive_month(s, table, month, args.archive_dir)
            print(f"  partitioned, {table} {month:%Y-%m}: archive {r.rows:,} rows (write, verify, detach, drop) "
                  f"{time.perf_counter() - t:.2f} s → {r.file.stat().st_size / 1e6:.2f} MB")
            with session_scope() as s:
                t = time.perf_counter()
                check = archive.verify_archive(r.file.with_name(r.file.name.replace(".csv.gz", ".manifest.json")),
                                               archive.stored_anchor(s, table, month))
                print(f"    verify-archive: {'ok' if check.ok else check.problems[:2]} in "
                      f"{time.perf_counter() - t:.2f} s")
    with session_scope() as s:
        from zhili.core.audit import verify_chain

        t = time.perf_counter()
        res = verify_chain(s)
        print(f"  live chain after archiving: ok={res.ok}, {res.checked:,} checked, {res.archived:,} on anchors, "
              f"{time.perf_counter() - t:.1f} s")
    if args.case_table:
        with engine.connect() as conn:
            print(f"\n{'case read':<40} {'table ms':>10} {'partitioned ms':>15} {'ratio':>7}")
            for label, plain, part in case_table_experiment(conn, args.repeat):
                print(f"{label:<40} {plain:>10.3f} {part:>15.3f} {part / plain:>7.2f}")


if __name__ == "__main__":
    main()
