"""Sizing past one machine (docs/scale.md): measure a seeded PostgreSQL database and scale it to a city.

Three parts, the last two optional:

1. **Static** (read-only on ``--url``): per table its rows, heap, TOAST and index bytes and bytes per row; the
   indexes of the large tables one by one; timeline events and statistics rows per case of the seeded history;
   the seeded history's hour-of-day and day profile (the peak-hour factor). Nothing is written.
2. **Per-case writes** (``--lifecycle N``): a scratch copy of a seeded database (``CREATE DATABASE … TEMPLATE``,
   the source named by ``--copy-from``, default ``--url``; it must have no other connections while it is copied)
   where N reports are filed through the intake service (``cases.intake.file_cases``, in batches like the
   group-commit writer's) and each case is then taken through its life with the workflow engine, one transaction
   per step as staff would: 签收, 处置完成, 核查, 回访评价, 结案 (accept + dispatch by the command centre first when
   the responsibility list did not dispatch it), after a warm-up cycle that is not counted. For each phase it
   records the rows inserted and updated per table (``pg_stat_xact_user_tables`` at the start of each transaction
   and just before its commit, subtracted), the statements sent (SQLAlchemy's cursor events), the WAL written by
   each transaction only (``pg_walinspect`` over the transaction's LSN window, read right after its commit,
   records of its own transaction id: the server may be shared, so a bare ``pg_current_wal_lsn()`` difference
   would count other databases' writes too), split into record bytes and full-page images (``--checkpoint``:
   a CHECKPOINT before each phase, the worst case), the client's CPU and, when the server runs on this machine,
   the server backend's CPU (``/proc/<pid>/stat``), and how much each table grew per inserted row. The copy is
   dropped at the end (``--keep`` keeps it). The database given by ``--url`` is never written to.
3. **Analytics copy** (``--parquet DIR``): the cases exported as docs/scale.md §4 describes (read only), their
   bytes per case, and one grouping timed on PostgreSQL and on DuckDB over the files.

Then it prints the table docs/scale.md uses, scaled to ``--cases-per-year`` (default 20,000,000) over ``--years``
(default 5), and writes everything as JSON with ``--json FILE``.

Run it with the settings of the seeded database (its key material: ``ZHILI_VAR_DIR`` or ``ZHILI_KEYS``) — filing a
report encrypts the reporter's phone with the active key::

    ZHILI_VAR_DIR=/tmp/zhili_scale PYTHONPATH=src nice -n 10 .venv/bin/python bench/scale_sizing.py \\
        --url postgresql+psycopg://postgres@127.0.0.1:5432/zhili_scale --lifecycle 192 --json /tmp/sizing.json

The superuser (or ``pg_read_server_files``) is needed for ``pg_walinspect`` and for copying the database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import resource
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

# the tables whose rows grow with the cases (the rest is configuration, the register, or per grid and day)
CASE_TABLES = ("case", "case_event", "audit_event", "notification", "case_stat", "case_stat_unit", "case_counter",
               "idempotency_record", "attachment", "case_subtask", "supervision", "case_support")
INDEX_DETAIL = ("case", "case_event", "audit_event", "notification", "case_stat", "case_stat_unit", "person")


# -- part 1: what the seeded database holds ----------------------------------------------------------------------

SIZES = text("""
SELECT c.relname AS name, c.oid AS oid,
       pg_relation_size(c.oid, 'main') AS heap,
       pg_relation_size(c.oid, 'fsm') + pg_relation_size(c.oid, 'vm') AS maps,
       COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0) AS toast,
       pg_indexes_size(c.oid) AS indexes,
       pg_total_relation_size(c.oid) AS total
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
ORDER BY pg_total_relation_size(c.oid) DESC
""")

INDEXES = text("""
SELECT i.relname AS index, pg_relation_size(i.oid) AS bytes, pg_get_indexdef(i.oid) AS def
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = 'public' AND t.relname = :t ORDER BY pg_relation_size(i.oid) DESC
""")


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def static_part(engine: Engine, tz: str) -> dict[str, Any]:
    """Rows and bytes per table, the large tables' indexes, per-case ratios and the reporting profile."""
    out: dict[str, Any] = {"tables": {}, "indexes": {}}
    with engine.connect() as conn:
        conn.execute(text("SET TRANSACTION READ ONLY"))
        out["server"] = conn.execute(text("SELECT version()")).scalar_one()
        out["database"] = conn.execute(text("SELECT current_database()")).scalar_one()
        out["database_bytes"] = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        for r in conn.execute(SIZES).mappings():
            rows = conn.execute(text(f"SELECT count(*) FROM {ident(r['name'])}")).scalar_one()
            out["tables"][r["name"]] = {"rows": rows, "heap": r["heap"], "maps": r["maps"], "toast": r["toast"],
                                        "indexes": r["indexes"], "total": r["total"]}
        for t in INDEX_DETAIL:
            if t in out["tables"]:
                out["indexes"][t] = [dict(r) for r in conn.execute(INDEXES, {"t": t}).mappings()]
        tables = out["tables"]
        cases = tables.get("case", {}).get("rows", 0)
        if cases:
            live = conn.execute(text("SELECT count(*) FILTER (WHERE NOT is_history) AS live, "
                                     "min(reported_day) FILTER (WHERE NOT is_history) AS first, "
                                     "max(reported_day) FILTER (WHERE NOT is_history) AS last, "
                                     "count(*) FILTER (WHERE lon IS NOT NULL) AS with_point FROM \"case\"")
                                ).mappings().one()
            out["history"] = {"cases": cases, "live_cases": live["live"], "first_day": str(live["first"]), "last_day": str(live["last"]),
                              "days": (live["last"] - live["first"]).days + 1, "with_point": live["with_point"],
                              "events_per_case": tables["case_event"]["rows"] / cases,
                              "case_stat_rows_per_case": tables["case_stat"]["rows"] / cases,
                              "case_stat_unit_rows_per_case": tables["case_stat_unit"]["rows"] / cases,
                              "grids": conn.execute(text("SELECT count(*) FROM unit WHERE level = 'grid' "
                                                         "AND valid_to IS NULL OR level = 'grid' AND "
                                                         "valid_to > now()")).scalar_one(),
                              "units": conn.execute(text("SELECT count(*) FROM unit")).scalar_one()}
            out["profile"] = profile(conn, tz)
            out["category_counts"] = dict(conn.execute(text(
                "SELECT COALESCE(category_code, ''), count(*) FROM \"case\" WHERE NOT is_history GROUP BY 1")).all())
    return out


def profile(conn: Any, tz: str) -> dict[str, Any]:
    """The seeded history's reporting profile: share of a day's reports per local hour, the busiest hour's factor
    over the day's mean hour, the busiest day's factor over the mean day, and per weekday."""
    hours = dict(conn.execute(text("SELECT extract(hour FROM reported_at AT TIME ZONE :tz)::int AS h, count(*) "
                                   "FROM \"case\" WHERE NOT is_history GROUP BY 1"), {"tz": tz}).all())
    days = [n for (n,) in conn.execute(text("SELECT count(*) FROM \"case\" WHERE NOT is_history "
                                            "GROUP BY reported_day ORDER BY reported_day"))]
    weekdays = dict(conn.execute(text("SELECT extract(isodow FROM reported_day)::int, count(*) FROM \"case\" "
                                      "WHERE NOT is_history GROUP BY 1")).all())
    total = sum(hours.values()) or 1
    share = {h: hours.get(h, 0) / total for h in range(24)}
    # the first and last days of a seeded history are partial: leave them out of the day factor
    full = days[1:-1] if len(days) > 2 else days
    mean_day = sum(full) / len(full) if full else 0
    return {"hour_share": share, "peak_hour": max(share, key=lambda h: share[h]),
            "peak_hour_factor": max(share.values()) * 24,
            "peak_day_factor": (max(full) / mean_day) if mean_day else 0,
            "p99_day_factor": (sorted(full)[int(0.99 * (len(full) - 1))] / mean_day) if mean_day else 0,
            "weekday_share": {d: weekdays.get(d, 0) / total for d in range(1, 8)}}


# -- part 2: what filing and handling one case writes ------------------------------------------------------------

WAL_SUM = text("""
SELECT count(*) AS records, COALESCE(sum(record_length), 0) AS bytes, COALESCE(sum(fpi_length), 0) AS fpi,
       count(*) FILTER (WHERE fpi_length > 0) AS fpi_records
FROM pg_get_wal_records_info(CAST(:a AS pg_lsn), CAST(:b AS pg_lsn))
WHERE xid = ANY(CAST(:xids AS xid[]))
""")
WAL_BY_RMGR = text("""
SELECT resource_manager AS rmgr, count(*) AS records, sum(record_length) AS bytes, sum(fpi_length) AS fpi
FROM pg_get_wal_records_info(CAST(:a AS pg_lsn), CAST(:b AS pg_lsn))
WHERE xid = ANY(CAST(:xids AS xid[])) GROUP BY 1 ORDER BY 3 DESC
""")
XACT_ROWS = text("SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_xact_user_tables "
                 "WHERE n_tup_ins + n_tup_upd + n_tup_del > 0")


def proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a local process (None when it is not on this machine or not readable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Phase:
    """What one kind of transaction (intake, one workflow step) wrote, summed over its transactions."""

    name: str
    transactions: int = 0
    cases: int = 0
    inserted: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    hot: Counter[str] = field(default_factory=Counter)
    statements: int = 0  # round trips: execute() calls, each executemany counted once
    statement_rows: int = 0  # parameter sets sent (an executemany of 16 rows counts 16)
    writes: int = 0  # INSERT / UPDATE / DELETE parameter sets
    wal_bytes: int = 0
    wal_fpi: int = 0
    wal_records: int = 0
    wal_fpi_records: int = 0
    wal_by_rmgr: dict[str, list[int]] = field(default_factory=dict)
    client_cpu: float = 0.0
    server_cpu: float | None = 0.0
    wall: float = 0.0
    lock_hold: float = 0.0  # seconds from taking the audit chain's lock to the end of the commit

    def per_case(self, value: float) -> float:
        return value / self.cases if self.cases else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "transactions": self.transactions, "cases": self.cases,
                "inserted": dict(self.inserted), "updated": dict(self.updated), "hot_updated": dict(self.hot),
                "statements": self.statements, "statement_rows": self.statement_rows, "writes": self.writes,
                "wal_bytes": self.wal_bytes, "wal_fpi": self.wal_fpi, "wal_records": self.wal_records,
                "wal_fpi_records": self.wal_fpi_records, "wal_by_rmgr": self.wal_by_rmgr,
                "client_cpu_s": self.client_cpu, "server_cpu_s": self.server_cpu, "wall_s": self.wall,
                "audit_lock_hold_s": self.lock_hold}


class Counting:
    """Counts the statements an engine sends (SQLAlchemy cursor events)."""

    def __init__(self, engine: Engine) -> None:
        self.calls = self.rows = self.writes = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        n = len(parameters) if executemany and parameters is not None else 1
        self.calls += 1
        self.rows += n
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.writes += n


@contextmanager
def scratch_copy(admin: Engine, source: str, name: str, keep: bool) -> Iterator[None]:
    """A copy of ``source`` named ``name`` for the duration (dropped afterwards unless ``keep``)."""
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {ident(name)} TEMPLATE {ident(source)}"))
    try:
        yield
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {ident(name)} WITH (FORCE)"))


def lifecycle_part(url: str, n: int, batch: int, seed: int, checkpoint: bool) -> dict[str, Any]:
    """File ``n`` reports through intake into the database at ``url`` and take each through its life; what each
    phase wrote."""
    os.environ["ZHILI_DATABASE_URL"] = url
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from zhili.cases import engine as wf
    from zhili.cases.intake import IntakeRequest, file_cases
    from zhili.cases.models import Case, CaseState, Category, Channel
    from zhili.core import audit
    from zhili.core.db import get_engine, set_engine
    from zhili.core.settings import get_settings
    from zhili.users.models import User
    from zhili.users.service import principal_for_user

    # when each transaction takes the audit chain's head lock (pg_advisory_xact_lock): held until its commit
    lock_head = audit._lock_head

    def timed_lock_head(session: Session) -> None:
        lock_head(session)
        session.info.setdefault("sizing_lock_at", time.perf_counter())

    audit._lock_head = timed_lock_head
    get_settings.cache_clear()
    set_engine(None)
    engine = get_engine()
    counting = Counting(engine)
    rng = random.Random(seed)
    with engine.connect() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_walinspect"))
        conn.commit()

    with Session(engine) as s:
        users = {u.username: u for u in s.scalars(select(User).where(User.username.in_(("zhihui", "bumen"))))}
        if set(users) != {"zhihui", "bumen"}:
            raise SystemExit("the demo accounts zhihui and bumen are missing: seed the database with `zhili seed`")
        centre = principal_for_user(s, user=users["zhihui"])
        handler = principal_for_user(s, user=users["bumen"])
        department = handler.department
        cats = [c.code for c in s.scalars(select(Category).where(
            Category.is_current, Category.is_leaf, Category.is_active, Category.default_department == department,
            Category.kind != "service")) if not any(a.get("required") for a in c.attributes or [])]
        points = s.execute(select(Case.lon, Case.lat).where(Case.lon.is_not(None))
                           .order_by(text("random()")).limit(n + batch)).all()
    if not cats or len(points) < n + batch:
        raise SystemExit("the seeded database has no categories of the demo handler's department or too few points")

    phases: dict[str, Phase] = {}

    def xact_rows(conn: Any) -> dict[str, tuple[int, int, int]]:
        # PostgreSQL 15 keeps a backend's counts pending until it reports them (when idle, at most once a second),
        # so "the current transaction" may include earlier ones: read at the start and at the end, and subtract
        return {r[0]: (r[1], r[2], r[3]) for r in conn.execute(XACT_ROWS)}

    def run(name: str, cases: int, work: Callable[[Session], None]) -> None:
        """One transaction of phase ``name``: run ``work``, read what it wrote, commit; WAL counted afterwards."""
        ph = phases.setdefault(name, Phase(name))
        start = lsn()
        with Session(engine, expire_on_commit=False) as s:
            conn = s.connection()
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            before = xact_rows(conn)
            c0, k0, w0 = counting.calls, counting.rows, counting.writes
            cpu0, srv0, t0 = time.process_time(), proc_cpu(pid), time.perf_counter()
            work(s)
            s.flush()
            c1, k1, w1 = counting.calls, counting.rows, counting.writes
            after = xact_rows(s.connection())
            xid = s.connection().execute(text("SELECT pg_current_xact_id_if_assigned()::text")).scalar_one()
            locked_at = s.info.get("sizing_lock_at")
            s.commit()
            done = time.perf_counter()
            ph.wall += done - t0
            if locked_at is not None:
                ph.lock_hold += done - locked_at
            ph.client_cpu += time.process_time() - cpu0
            srv1 = proc_cpu(pid)
            if srv0 is None or srv1 is None or ph.server_cpu is None:
                ph.server_cpu = None
            else:
                ph.server_cpu += srv1 - srv0
        ph.statements += c1 - c0
        ph.statement_rows += k1 - k0
        ph.writes += w1 - w0
        ph.transactions += 1
        ph.cases += cases
        for rel, (ins, upd, hot) in after.items():
            b = before.get(rel, (0, 0, 0))
            ph.inserted[rel] += ins - b[0]
            ph.updated[rel] += upd - b[1]
            ph.hot[rel] += hot - b[2]
        if xid is not None:
            # read this transaction's WAL at once: on a busy shared server a phase's window can outlive its segments
            wal(ph, start, int(xid))

    def lsn() -> str:
        with engine.connect() as c:
            return str(c.execute(text("SELECT pg_current_wal_flush_lsn()")).scalar_one())

    def begin_phase() -> None:
        if checkpoint:  # every page's first change after it is logged as a full-page image
            with engine.connect() as c:
                c.execute(text("CHECKPOINT"))

    def wal(ph: Phase, start: str, xid: int) -> None:
        with engine.connect() as c:
            end = str(c.execute(text("SELECT pg_current_wal_flush_lsn()")).scalar_one())
            xids = "{" + str(xid % (1 << 32)) + "}"
            r = c.execute(WAL_SUM, {"a": start, "b": end, "xids": xids}).mappings().one()
            ph.wal_bytes += int(r["bytes"])
            ph.wal_fpi += int(r["fpi"])
            ph.wal_records += int(r["records"])
            ph.wal_fpi_records += int(r["fpi_records"])
            for g in c.execute(WAL_BY_RMGR, {"a": start, "b": end, "xids": xids}).mappings():
                prev = ph.wal_by_rmgr.get(g["rmgr"], [0, 0, 0])
                ph.wal_by_rmgr[g["rmgr"]] = [prev[0] + int(g["records"]), prev[1] + int(g["bytes"]),
                                             prev[2] + int(g["fpi"])]

    def step(who: Any, steps: list[tuple[str, dict[str, Any]]], case_id: uuid.UUID) -> Callable[[Session], None]:
        def work(s: Session) -> None:
            wf.take_steps(s, principal=who, case_id=case_id, steps=steps)
        return work

    def cycle(first: int, last: int) -> tuple[int, int]:
        """Reports ``first`` … ``last - 1`` filed and lived; (lived, auto-dispatched)."""
        case_ids: list[uuid.UUID] = []
        begin_phase()
        for lo in range(first, last, batch):
            reqs = []
            for k in range(lo, min(last, lo + batch)):
                lon, lat = points[k]
                reqs.append(IntakeRequest(
                    principal=centre, channel=Channel.hotline, idempotency_key=f"sizing-{seed}-{k}",
                    data={"category_code": rng.choice(cats), "lon": lon, "lat": lat,
                          "description": f"市民来电反映：小区门口问题第{k}号，已持续三天，请尽快处理。",
                          "reporter_name": "张先生", "reporter_phone": f"1380000{k % 10000:04d}",
                          "external_id": f"12345-{seed}-{k}"}))

            def file(s: Session, reqs: list[IntakeRequest] = reqs) -> None:
                for out in file_cases(s, requests=reqs):
                    if out.error is not None:
                        raise SystemExit(f"intake refused a report: {out.error.code} {out.error.message}")
                    assert out.case_id is not None
                    case_ids.append(out.case_id)

            run("intake", len(reqs), file)
        with Session(engine) as s:
            rows = s.execute(select(Case.id, Case.state, Case.assignee_department).where(Case.id.in_(case_ids))).all()
        states = {r[0]: r[1] for r in rows}
        depts = {r[0]: r[2] for r in rows}
        not_dispatched = [c for c in case_ids if states[c] == CaseState.reported]
        if not_dispatched:
            begin_phase()
            for c in not_dispatched:
                run("accept_dispatch", 1, step(centre, [("accept", {}), ("dispatch", {"department": department})], c))
        ours = [c for c in case_ids if states[c] == CaseState.reported or depts[c] == department]
        life: list[tuple[str, Any, list[tuple[str, dict[str, Any]]]]] = [
                ("start", handler, [("start", {})]),
                ("resolve", handler, [("resolve", {"result": "已到现场清理完毕，恢复正常。"})]),
                ("verify", centre, [("verify", {})]),
                ("rate", centre, [("rate", {"rating": rng.choice((4, 5))})]),
                ("close", centre, [("close", {})])]
        for name, who, steps in life:
            begin_phase()
            for c in ours:
                run(name, 1, step(who, steps, c))
        return len(ours), len(case_ids) - len(not_dispatched)

    # a warm-up cycle (imports, the configuration snapshot, the locator, statement caches), not counted
    warm = min(batch, n)
    cycle(0, warm)
    phases.clear()
    with engine.connect() as c:
        sizes0 = {r["name"]: dict(r) for r in c.execute(SIZES).mappings()}
    lived, auto = cycle(warm, warm + n)
    with engine.connect() as c:
        sizes1 = {r["name"]: dict(r) for r in c.execute(SIZES).mappings()}
    inserted: Counter[str] = Counter()
    for ph in phases.values():
        inserted.update(ph.inserted)
    growth = {t: {k: sizes1[t][k] - sizes0.get(t, {}).get(k, 0) for k in ("heap", "maps", "toast", "indexes", "total")}
              | {"rows": inserted[t]} for t in sizes1 if inserted[t]}
    return {"reports": n, "batch": batch, "lived": lived, "auto_dispatched": auto, "checkpoint": checkpoint,
            "phases": {k: v.as_dict() for k, v in phases.items()}, "growth": growth}


# -- part 3: the analytics copy ------------------------------------------------------------------------------------

def parquet_part(url: str, out: Path) -> dict[str, Any]:
    """Export the cases of the database at ``url`` (read only) as the analytics copy would — the columns
    ``intel.caseframe.CASE_COLUMNS`` names, Hive-partitioned by local month and district, zstd — and time one
    aggregate on PostgreSQL against the same on DuckDB over the files."""
    import shutil

    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sqlalchemy.orm import Session

    from zhili.intel.caseframe import CASE_COLUMNS, load_cases

    engine = create_engine(url)
    t0 = time.perf_counter()
    with Session(engine) as s:
        s.connection().execute(text("SET TRANSACTION READ ONLY"))
        frame = load_cases(s, columns=CASE_COLUMNS, include_merged=True)
    load_s = time.perf_counter() - t0
    frame["month"] = frame["reported_day"].dt.strftime("%Y-%m")
    frame["district"] = frame["path"].astype(str).str.split("/").str[2]
    frame["path"] = frame["path"].astype(str)
    frame = frame.sort_values(["month", "district", "path", "reported_at"])
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    pq.write_to_dataset(pa.Table.from_pandas(frame, preserve_index=False), root_path=str(out),
                        partition_cols=["month", "district"], compression="zstd", row_group_size=128_000)
    write_s = time.perf_counter() - t0
    files = list(out.rglob("*.parquet"))
    size = sum(f.stat().st_size for f in files)
    q_pg = ("SELECT grid_id, category_code, count(*), avg(CASE WHEN closed_on_time THEN 1.0 ELSE 0 END) "
            "FROM \"case\" GROUP BY 1, 2")
    q_dd = ("SELECT grid_id, category_code, count(*), avg(CASE WHEN closed_on_time THEN 1.0 ELSE 0 END) "
            f"FROM read_parquet('{out}/*/*/*.parquet', hive_partitioning = true) GROUP BY 1, 2")
    timings: dict[str, list[float]] = {"postgresql": [], "duckdb": []}
    con = duckdb.connect(config={"threads": 1})
    with engine.connect() as conn:
        for _ in range(3):
            t0 = time.perf_counter()
            conn.execute(text(q_pg)).all()
            timings["postgresql"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            con.execute(q_dd).fetchall()
            timings["duckdb"].append(time.perf_counter() - t0)
    con.close()
    engine.dispose()
    return {"cases": len(frame), "files": len(files), "bytes": size, "bytes_per_case": size / max(len(frame), 1),
            "load_s": load_s, "write_s": write_s, "query": "grid × category: count, on-time share",
            "postgresql_s": min(timings["postgresql"]), "duckdb_1_thread_s": min(timings["duckdb"])}


# -- the table: scaled to a city ----------------------------------------------------------------------------------

def scale(static: dict[str, Any], life: dict[str, Any] | None, per_year: float, years: int,
          grids: int) -> dict[str, Any]:
    """Rows and bytes per year and over ``years`` for ``per_year`` cases, from the measured ratios."""
    tables = static["tables"]
    phases = (life or {}).get("phases", {})
    lived = (life or {}).get("lived") or 0
    reports = (life or {}).get("reports") or 0

    def per_case_rows(table: str) -> float | None:
        """Rows a case adds to ``table`` over its life (measured lifecycle), else None."""
        if not phases:
            return None
        ins = phases.get("intake", {}).get("inserted", {}).get(table, 0) / reports
        rest = sum(p["inserted"].get(table, 0) for k, p in phases.items() if k != "intake")
        return ins + (rest / lived if lived else 0)

    hist = static.get("history", {})
    rows_year: dict[str, tuple[float, str]] = {}
    rows_year["case"] = (per_year, "1 per case")
    for t in ("case_event", "audit_event", "notification", "idempotency_record"):
        r = per_case_rows(t)
        if r is not None:
            rows_year[t] = (per_year * r, f"{r:.2f} per case (measured lifecycle)")
    if "case_event" not in rows_year and hist:
        rows_year["case_event"] = (per_year * hist["events_per_case"], "seeded history")
    # statistics: one row per (grid, reported day, category) with cases. With λ cases per grid and day spread over
    # the categories in the seeded shares p_c, a grid-day has Σ_c (1 − e^(−λ p_c)) categories on average (Poisson).
    if hist:
        counts = static.get("category_counts") or {}
        total = sum(counts.values()) or 1

        def distinct(lam: float) -> float:
            return sum(1 - math.exp(-lam * n / total) for n in counts.values())

        lam = per_year / grids / 365
        seeded_lam = hist["live_cases"] / max(hist["grids"], 1) / max(hist["days"], 1)
        rows_year["case_stat"] = (grids * 365 * distinct(lam),
                                  f"{distinct(lam) / lam:.2f} per case at {lam:.1f} cases per grid-day (Poisson over "
                                  f"the seeded category shares; the model gives {distinct(seeded_lam) / seeded_lam:.2f}"
                                  f" per case for the seed, measured {hist['case_stat_rows_per_case']:.2f})")
        units_per_grid = hist["units"] / max(hist["grids"], 1)
        rows_year["case_stat_unit"] = (grids * units_per_grid * 365, f"units ({units_per_grid:.2f} per grid) × 365")
    growth = (life or {}).get("growth", {})

    def sizes(t: str) -> tuple[float, float, float, str] | None:
        """(heap, toast, index) bytes per row: the seeded table when it holds ≥ 10,000 rows (packed, as bulk-written),
        else what the lifecycle added per inserted row (with its updates' dead versions)."""
        m, g = tables.get(t), growth.get(t)
        if m and m["rows"] >= 10_000:
            return (m["heap"] + m["maps"]) / m["rows"], m["toast"] / m["rows"], m["indexes"] / m["rows"], "seeded"
        if g and g["rows"] >= 100:
            return (g["heap"] + g["maps"]) / g["rows"], g["toast"] / g["rows"], g["indexes"] / g["rows"], "lifecycle"
        if m and m["rows"]:
            return (m["heap"] + m["maps"]) / m["rows"], m["toast"] / m["rows"], m["indexes"] / m["rows"], "seeded (few)"
        return None

    out: dict[str, Any] = {"per_year": per_year, "years": years, "grids": grids, "tables": {}}
    for t, (rows, why) in rows_year.items():
        got = sizes(t)
        if got is None:
            continue
        heap, toast, idx, src = got
        year = rows * (heap + toast + idx)
        out["tables"][t] = {"rows_year": rows, "why": why, "heap_per_row": heap, "toast_per_row": toast,
                            "index_per_row": idx, "bytes_per_row": heap + toast + idx, "size_from": src,
                            "bytes_year": year, "bytes_total": year * years}
    if phases:
        tot = {k: sum(p[k] for p in phases.values()) for k in ("statements", "writes", "wal_bytes", "wal_fpi",
                                                                 "client_cpu_s", "transactions")}
        srv = [p["server_cpu_s"] for p in phases.values()]
        intake = phases["intake"]
        out["per_case"] = {
            "transactions": 1 / (life or {}).get("batch", 1) + (tot["transactions"] - intake["transactions"]) / lived,
            "statements": intake["statements"] / reports + sum(p["statements"] for k, p in phases.items()
                                                               if k != "intake") / lived,
            "writes": intake["writes"] / reports + sum(p["writes"] for k, p in phases.items() if k != "intake") / lived,
            "wal_bytes": intake["wal_bytes"] / reports + sum(p["wal_bytes"] for k, p in phases.items()
                                                             if k != "intake") / lived,
            "wal_fpi": intake["wal_fpi"] / reports + sum(p["wal_fpi"] for k, p in phases.items()
                                                         if k != "intake") / lived,
            "client_cpu_ms": 1000 * (intake["client_cpu_s"] / reports + sum(
                p["client_cpu_s"] for k, p in phases.items() if k != "intake") / lived),
            "server_cpu_ms": None if any(x is None for x in srv) else 1000 * (
                intake["server_cpu_s"] / reports + sum(p["server_cpu_s"] for k, p in phases.items()
                                                       if k != "intake") / lived),
        }
    return out


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1024 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def report(static: dict[str, Any], life: dict[str, Any] | None, scaled: dict[str, Any], peak_hour: float,
           peak_day: float) -> None:
    p = print
    p(f"# database {static['database']}: {human(static['database_bytes'])}; {static['server'].split(',')[0]}")
    p("\n## Tables (measured): rows, bytes per row (heap incl. FSM/VM, TOAST, indexes)\n")
    p("| table | rows | heap B/row | toast B/row | index B/row | total B/row | total |")
    p("|---|---:|---:|---:|---:|---:|---:|")
    for name, m in sorted(static["tables"].items(), key=lambda kv: -kv[1]["total"])[:25]:
        r = m["rows"] or 0
        if not r:
            continue
        p(f"| {name} | {r:,} | {(m['heap'] + m['maps']) / r:,.0f} | {m['toast'] / r:,.0f} | "
          f"{m['indexes'] / r:,.0f} | {m['total'] / r:,.0f} | {human(m['total'])} |")
    p("\n## Indexes of the large tables (bytes per row)\n")
    for t, idx in static["indexes"].items():
        r = static["tables"][t]["rows"] or 1
        p(f"- {t}: " + "; ".join(f"{i['index']} {i['bytes'] / r:,.0f}" for i in idx))
    h = static.get("history")
    if h:
        prof = static["profile"]
        p(f"\n## Seeded history: {h['cases']:,} cases ({h['live_cases']:,} filed live, the rest imported history) over "
          f"{h['days']} days, {h['grids']:,} grids, "
          f"{h['units']:,} units")
        p(f"- events per case {h['events_per_case']:.2f}; case_stat rows per case {h['case_stat_rows_per_case']:.3f};"
          f" case_stat_unit rows per case {h['case_stat_unit_rows_per_case']:.3f}")
        p(f"- busiest local hour {prof['peak_hour']}:00 with {prof['hour_share'][prof['peak_hour']]:.1%} of a day's "
          f"reports (factor {prof['peak_hour_factor']:.2f} over the mean hour); busiest day "
          f"{prof['peak_day_factor']:.2f}× the mean day (99th percentile day {prof['p99_day_factor']:.2f}×)")
        p("- hour shares: " + " ".join(f"{hr}:{s:.3f}" for hr, s in prof["hour_share"].items()))
    if life:
        p(f"\n## Per-case writes (scratch copy): {life['reports']} reports in batches of {life['batch']}, "
          f"{life['auto_dispatched']} dispatched at intake, {life['lived']} taken to 结案\n")
        p("| phase | txns | cases | rows inserted | rows updated | statements | writes | WAL B | of which FPI B | "
          "client CPU ms | server CPU ms | audit lock held ms/txn |")
        p("|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for ph in life["phases"].values():
            c = ph["cases"] or 1
            ins = ", ".join(f"{k} {v / c:.2f}" for k, v in sorted(ph["inserted"].items()))
            upd = ", ".join(f"{k} {v / c:.2f}" for k, v in sorted(ph["updated"].items()))
            srv = "—" if ph["server_cpu_s"] is None else f"{1000 * ph['server_cpu_s'] / c:.2f}"
            p(f"| {ph['name']} | {ph['transactions']} | {ph['cases']} | {ins} | {upd} | {ph['statements'] / c:.1f} | "
              f"{ph['writes'] / c:.1f} | {ph['wal_bytes'] / c:,.0f} | {ph['wal_fpi'] / c:,.0f} | "
              f"{1000 * ph['client_cpu_s'] / c:.2f} | {srv} | "
              f"{1000 * ph['audit_lock_hold_s'] / max(ph['transactions'], 1):.1f} |")
        p("\nWhat the measured cycle added (bytes per inserted row, dead row versions of its updates included):")
        for t, g in sorted(life["growth"].items(), key=lambda kv: -kv[1]["total"]):
            r = g["rows"] or 1
            p(f"- {t}: {g['rows']:,} rows, heap {(g['heap'] + g['maps']) / r:,.0f}, TOAST {g['toast'] / r:,.0f}, "
              f"indexes {g['indexes'] / r:,.0f}, total {g['total'] / r:,.0f} B/row")
        p("\nWAL by resource manager (all phases, per lived case):")
        by: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for ph in life["phases"].values():
            for k, v in ph["wal_by_rmgr"].items():
                by[k] = [a + b for a, b in zip(by[k], v, strict=True)]
        lived = life["lived"] or 1
        p("- " + "; ".join(f"{k} {v[1] / lived:,.0f} B ({v[2] / lived:,.0f} FPI)" for k, v in
                           sorted(by.items(), key=lambda kv: -kv[1][1])))
    y = scaled["years"]
    p(f"\n## Scaled: {scaled['per_year']:,.0f} cases a year, {scaled['grids']:,} grids, {y} years\n")
    p(f"| table | rows / year | basis | bytes / row (heap + TOAST + indexes; from) | per year | {y} years |")
    p("|---|---:|---|---:|---:|---:|")
    tot_y = 0.0
    for t, m in scaled["tables"].items():
        tot_y += m["bytes_year"]
        p(f"| {t} | {m['rows_year']:,.0f} | {m['why']} | {m['heap_per_row']:,.0f} + {m['toast_per_row']:,.0f} + "
          f"{m['index_per_row']:,.0f} = {m['bytes_per_row']:,.0f} ({m['size_from']}) | {human(m['bytes_year'])} | "
          f"{human(m['bytes_total'])} |")
    p(f"| **sum** | | | | **{human(tot_y)}** | **{human(tot_y * y)}** |")
    pc = scaled.get("per_case")
    if pc:
        per_s = scaled["per_year"] / 365 / 86400
        peak = per_s * peak_day * peak_hour
        p(f"\nPer case over its life: {pc['transactions']:.2f} transactions, {pc['statements']:.1f} statements, "
          f"{pc['writes']:.1f} row writes, WAL {pc['wal_bytes']:,.0f} B ({pc['wal_fpi']:,.0f} B full-page images), "
          f"client CPU {pc['client_cpu_ms']:.2f} ms"
          + ("" if pc["server_cpu_ms"] is None else f", server backend CPU {pc['server_cpu_ms']:.2f} ms"))
        p(f"Rates: mean {per_s:.2f} cases/s; peak {peak:.1f} cases/s (busiest day × {peak_day:.2f}, busiest hour "
          f"× {peak_hour:.2f}) → {peak * pc['statements']:,.0f} statements/s, {peak * pc['writes']:,.0f} row "
          f"writes/s, {peak * pc['transactions']:,.1f} commits/s, WAL {human(peak * pc['wal_bytes'])}/s at peak, "
          f"{human(scaled['per_year'] * pc['wal_bytes'])} a year")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="SQLAlchemy URL of a seeded PostgreSQL database (read only)")
    ap.add_argument("--lifecycle", type=int, default=0, metavar="N",
                    help="file N reports and take them to 结案 in a scratch copy (0: skip)")
    ap.add_argument("--copy-from", help="database name to copy for the lifecycle (default: the --url database)")
    ap.add_argument("--batch", type=int, default=16, help="reports per intake transaction (the writer's batch)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch copy")
    ap.add_argument("--checkpoint", action="store_true",
                    help="CHECKPOINT before each phase: every page's first change writes a full-page image (worst case)")
    ap.add_argument("--cases-per-year", type=float, default=20_000_000)
    ap.add_argument("--years", type=int, default=5)
    ap.add_argument("--grids", type=int, default=10_000, help="grids of the city (≈ 1,000 residents each)")
    ap.add_argument("--peak-hour", type=float, help="peak-hour factor (default: the seeded history's)")
    ap.add_argument("--peak-day", type=float, help="peak-day factor (default: the seeded history's)")
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--parquet", type=Path, metavar="DIR",
                    help="export the cases as the analytics copy would into DIR (emptied first) and time DuckDB")
    ap.add_argument("--json", type=Path, help="write every measurement here")
    args = ap.parse_args(argv)

    url = make_url(args.url)
    if url.get_backend_name() != "postgresql":
        raise SystemExit("a PostgreSQL URL is needed")
    tz = os.environ.get("ZHILI_TIMEZONE", "Asia/Shanghai")
    engine = create_engine(url, pool_pre_ping=True)
    t0 = time.perf_counter()
    static = static_part(engine, tz)
    engine.dispose()
    print(f"(static part: {time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    life = None
    if args.lifecycle:
        source = str(args.copy_from or url.database)
        name = f"zhili_sizing_{os.getpid()}"
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        t0 = time.perf_counter()
        with scratch_copy(admin, source, name, args.keep):
            print(f"(copied {source} → {name} in {time.perf_counter() - t0:.1f} s)", file=sys.stderr)
            life = lifecycle_part(url.set(database=name).render_as_string(hide_password=False), args.lifecycle,
                                  args.batch, args.seed, args.checkpoint)
            from zhili.core.db import get_engine

            get_engine().dispose()
        admin.dispose()
        life["copied_from"] = source
        life["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    parquet = None
    if args.parquet:
        parquet = parquet_part(args.url, args.parquet)
    prof = static.get("profile", {})
    peak_hour = args.peak_hour or prof.get("peak_hour_factor") or 1.0
    peak_day = args.peak_day or prof.get("peak_day_factor") or 1.0
    scaled = scale(static, life, args.cases_per_year, args.years, args.grids)
    report(static, life, scaled, peak_hour, peak_day)
    if parquet:
        print(f"\n## Analytics copy: {parquet['cases']:,} cases → {parquet['files']} Parquet files, "
              f"{human(parquet['bytes'])} ({parquet['bytes_per_case']:.0f} B per case; "
              f"{human(parquet['bytes_per_case'] * args.cases_per_year)} a year at the scaled rate); loaded in "
              f"{parquet['load_s']:.1f} s, written in {parquet['write_s']:.1f} s; {parquet['query']}: PostgreSQL "
              f"{parquet['postgresql_s']:.2f} s, DuckDB (1 thread) {parquet['duckdb_1_thread_s']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps({"measured_at": dt.datetime.now(dt.UTC).isoformat(), "static": static,
                                         "lifecycle": life, "scaled": scaled, "parquet": parquet, "peak_hour": peak_hour,
                                         "peak_day": peak_day}, default=str, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
