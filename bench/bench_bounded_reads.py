"""Two reads that grew with the history, before and after, on PostgreSQL in one run:

1. **The case list's total** for the command centre over a whole district's history (``--cases`` rows): the exact
   count every page made (baseline) against the count up to ``core.query.COUNT_CAP`` (``cases.service.list_cases``
   now), both through the list's own visibility predicate, plus the page itself (newest 50) for scale;
2. **The audit chain head**, read under the lock on every audited write, on a log partitioned by month
   (``--months`` partitions, ``--events`` rows): the newest event (``ORDER BY seq DESC LIMIT 1``, the read before
   migration 0025, baseline) against the head row (``audit_head``, one key read).

It builds its own scratch database (``--database``, dropped and made again; migrated to head) with synthetic rows
written by SQL — no hashes are checked here, only read times. Medians of ``--repeat`` runs, caches warm.

    .venv/bin/python bench/bench_bounded_reads.py --cases 1000000 --events 2000000 --months 36
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
import uuid
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

import zhili.models  # noqa: F401
from zhili.cases.models import Case
from zhili.cases.scope import visibility
from zhili.core import audit, migrate, partitions
from zhili.core.jurisdiction import Principal
from zhili.core.query import COUNT_CAP, count_rows
from zhili.core.security import Role

DISTRICT = "330522"


def ms(fn: Any, repeat: int) -> float:
    fn()
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000)
    return statistics.median(runs)


def build(url: str, database: str, cases: int, events: int, months: int) -> str:
    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{database}"'))
        c.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    target = url.rsplit("/", 1)[0] + f"/{database}"
    eng = create_engine(target)
    with eng.begin() as conn:
        migrate.upgrade(connection=conn)
    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(days=31 * months)
    t = time.perf_counter()
    with eng.begin() as conn:
        partitions.ensure_range(conn, start, now + dt.timedelta(days=62))
        # cases over the district's 8 streets × 10 communities, spread over the months
        conn.execute(text(
            """INSERT INTO "case" (id, number, channel, flow, state, title, description, urgency, path, attributes,
                   anonymous, is_public, is_joint, reported_at, reported_day, warning_level, overdue, reopen_count,
                   support_count, merged_count, is_history, created_at, updated_at, version, category_code)
               SELECT gen_random_uuid(), 'B' || g, 'resident', 'event',
                      CASE WHEN g % 50 = 0 THEN 'dispatched' ELSE 'closed' END, '路灯不亮', '路灯整夜不亮',
                      'normal', :d || '/' || (g % 8) || '/' || (g % 80), '{}', false, true, false,
                      :start + (g::bigint * :span / :n) * interval '1 second', (:start + (g::bigint * :span / :n) * interval
                      '1 second')::date, 'none', false, 0, 0, 0, false, now(), now(), 1,
                      'T0' || (g % 9 + 1) || '01'
               FROM generate_series(1, :n) AS g"""),
            {"d": DISTRICT, "start": start, "span": int((now - start).total_seconds()), "n": cases})
        conn.execute(text(
            """INSERT INTO audit_event (seq, at, action, object_type, prev_hash, hash)
               SELECT g, :start + (g::bigint * :span / :n) * interval '1 second', 'case.report', 'case',
                      md5((g - 1)::text) || md5((g - 1)::text), md5(g::text) || md5(g::text)
               FROM generate_series(1, :n) AS g"""),
            {"start": start, "span": int((now - start).total_seconds()), "n": events})
        conn.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, :n, md5(CAST(:n AS text)) || md5(CAST(:n AS text))) "
                          "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash"), {"n": events})
    with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    print(f"built {cases:,} cases and {events:,} audit events over {months} months in "
          f"{time.perf_counter() - t:.0f} s")
    eng.dispose()
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--database", default="zhili_bench_bounded")
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--months", type=int, default=36)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--keep", action="store_true", help="keep the scratch database")
    a = ap.parse_args()
    target = build(a.url, a.database, a.cases, a.events, a.months)
    eng = create_engine(target)
    centre = Principal(user_id=uuid.uuid4(), username="zhihui", display_name="指挥中心", role=Role.command_centre,
                       scope_paths=(DISTRICT,))
    listed = select(Case).where(visibility(centre))
    with Session(eng) as s:
        exact = ms(lambda: count_rows(s, listed), a.repeat)
        capped = ms(lambda: count_rows(s, listed, cap=COUNT_CAP), a.repeat)
        page = ms(lambda: s.scalars(listed.order_by(Case.reported_at.desc(), Case.id).limit(50)).all(), a.repeat)
        n, _ = count_rows(s, listed)
        newest = ms(lambda: s.execute(audit._NEWEST).all(), a.repeat * 3)
        head = ms(lambda: s.execute(audit._HEAD).all(), a.repeat * 3)
        parts = len(partitions.list_partitions(s.connection(), "audit_event"))
    print(f"case list, command centre, {n:,} visible cases:")
    print(f"  exact count (before)      {exact:9.1f} ms")
    print(f"  count to {COUNT_CAP:,} (after) {capped:9.1f} ms   ×{exact / capped:.0f} faster")
    print(f"  the page itself (50 rows) {page:9.1f} ms")
    print(f"audit chain head, {a.events:,} events in {parts} partitions:")
    print(f"  newest event (before)     {newest:9.2f} ms")
    print(f"  head row (after)          {head:9.2f} ms   ×{newest / head:.1f} faster")
    eng.dispose()
    if not a.keep:
        admin = create_engine(a.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{a.database}"'))
        admin.dispose()


if __name__ == "__main__":
    main()
