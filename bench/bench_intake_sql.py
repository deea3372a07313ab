"""What one intake batch costs the database: statements, round trips, time in the write transaction, lock hold.

Seeds a small district (no history) on SQLite and/or a scratch PostgreSQL database, then files batches of
``--batch`` reports (varied categories, points inside grids, an ``Idempotency-Key`` each) through the server's
group-commit writer in this process — planning and writing exactly as under HTTP load, without HTTP — and counts,
per batch, with SQLAlchemy's cursor events and psycopg's own hooks:

- statements executed (an ``executemany`` counts its parameter sets), and calls to the driver;
- round trips to the server (PostgreSQL: every operation outside a pipeline — BEGIN, a statement, an
  ``executemany`` (psycopg pipelines it), COMMIT — and, inside one, every wait for the results sent so far); on SQLite the calls into the
  library, for comparison;
- the write transaction's time, and how long its serialising locks are held (PostgreSQL: from the first statement
  that takes a row or advisory lock every writer needs — the case counter, the statistics rows, the audit chain's
  advisory lock — to the end of the commit; SQLite: the cross-process write lock).

    .venv/bin/python bench/bench_intake_sql.py [--batches 200] [--batch 16] [--sqlite] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_intake import pg_database, prepare


def proc_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) of one process so far (0 for None)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(url: str, workdir: Path, batches: int, size: int) -> dict[str, Any]:
    env = {**os.environ, "ZHILI_VAR_DIR": str(workdir / "var"), "ZHILI_DATABASE_URL": url,
           "ZHILI_LOG_LEVEL": "WARNING"}
    password, cats, pts = prepare(workdir, env)
    os.environ.update(env)
    from sqlalchemy import event, select
    from sqlalchemy.orm import Session

    from zhili.cases import writer as writer_mod
    from zhili.cases.intake import IntakeRequest
    from zhili.core.db import make_engine
    from zhili.users.models import User
    from zhili.users.service import principal_for_user

    engine = make_engine(url)
    with Session(engine) as s:
        user = s.scalars(select(User).where(User.username == "zhihui")).one()
        principal = principal_for_user(s, user=user)
    counts = {"statements": 0, "calls": 0, "trips": 0}
    marks: dict[str, float] = {}

    def seen(statement: str, n: int) -> None:
        counts["calls"] += 1
        counts["statements"] += n
        if "locks" not in marks and (statement.startswith("INSERT INTO case_counter")
                                     or "pg_advisory_xact_lock" in statement):
            marks["locks"] = time.perf_counter()

    if engine.dialect.name == "postgresql":
        # psycopg's own calls: SQLAlchemy's and the driver cursors the pipelined writer reads with; a round trip is
        # every time the client waits for the server (Connection.wait: a result, a pipeline's sync, BEGIN, COMMIT)
        import psycopg

        execute, executemany, wait = psycopg.Cursor.execute, psycopg.Cursor.executemany, psycopg.Connection.wait

        def _execute(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
            seen(str(query), 1)
            return execute(self, query, params, **kw)

        def _executemany(self: Any, query: Any, params_seq: Any, **kw: Any) -> Any:
            params_seq = list(params_seq)
            seen(str(query), len(params_seq))
            return executemany(self, query, params_seq, **kw)

        from psycopg._pipeline_base import BasePipeline

        fetch = BasePipeline._fetch_gen

        def _wait(self: Any, gen: Any, *a: Any, **kw: Any) -> Any:
            counts["trips"] += self._pipeline is None  # outside a pipeline every operation waits for the server
            return wait(self, gen, *a, **kw)

        def _fetch(self: Any, *, flush: bool) -> Any:
            counts["trips"] += bool(self.result_queue)  # in a pipeline: waiting for the results sent so far
            return fetch(self, flush=flush)

        psycopg.Cursor.execute, psycopg.Cursor.executemany = _execute, _executemany  # type: ignore[method-assign]
        psycopg.Connection.wait = _wait  # type: ignore[method-assign]
        BasePipeline._fetch_gen = _fetch  # type: ignore[method-assign]
    else:
        @event.listens_for(engine, "before_cursor_execute")
        def _count(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
            seen(statement, len(params) if executemany and params else 1)

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            counts["trips"] += 2  # BEGIN and COMMIT (sqlite: calls into the library, no server)

    @event.listens_for(engine, "commit")
    def _commit(conn: Any) -> None:
        marks["commit"] = time.perf_counter()

    w = writer_mod.GroupCommitWriter(engine=engine, linger_s=0)
    rnd = random.Random(1)
    prefix = str(time.time_ns())
    n = 0

    def items() -> list[Any]:
        nonlocal n
        out = []
        for _ in range(size):
            n += 1
            x, y = rnd.choice(pts)
            req = IntakeRequest(principal=principal, channel=None, idempotency_key=f"{prefix}-{n}", data={
                "category_code": rnd.choice(cats), "description": f"压测上报 {n}：路面有积水，影响通行",
                "lon": x, "lat": y})
            out.append((req, lambda _o: None, lambda e: (_ for _ in ()).throw(e)))
        return out

    for _ in range(10):  # warm-up: caches, compiled statements
        w._handle(items())
    per: list[dict[str, float]] = []
    orig_write = w._write

    def timed_write(its: list[Any]) -> Any:
        marks.clear()
        counts["statements"] = counts["calls"] = counts["trips"] = 0
        t0 = time.perf_counter()
        out = orig_write(its)
        t1 = time.perf_counter()
        per.append({"statements": counts["statements"], "calls": counts["calls"],
                    "trips": counts["trips"] + (counts["calls"] if engine.dialect.name == "sqlite" else 0), "ms": (t1 - t0) * 1000,
                    "hold_ms": (marks.get("commit", t1) - marks.get("locks", t1)) * 1000})
        return out

    w._write = timed_write  # type: ignore[method-assign]
    backend = None
    if engine.dialect.name == "postgresql":
        assert w._conn is not None
        backend = w._conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        w._conn.rollback()
    orig_plan = w._plan
    planning = {"backend": 0.0, "client": 0.0}

    def timed_plan(conn: Any, its: list[Any]) -> Any:
        b0, c0 = proc_cpu_s(backend), time.thread_time()
        try:
            return orig_plan(conn, its)
        finally:
            planning["backend"] += proc_cpu_s(backend) - b0
            planning["client"] += time.thread_time() - c0

    w._plan = timed_plan  # type: ignore[method-assign]
    cpu0, own0 = proc_cpu_s(backend), time.process_time()
    t0 = time.perf_counter()
    for _ in range(batches):
        w._handle(items())
    wall = time.perf_counter() - t0
    cpu1, own1 = proc_cpu_s(backend), time.process_time()
    w.stop()
    engine.dispose()
    del password
    return {"database": engine.dialect.name, "batch": size, "batches": batches,
            "statements_per_batch": statistics.median(p["statements"] for p in per),
            "driver_calls_per_batch": statistics.median(p["calls"] for p in per),
            "round_trips_per_batch": statistics.median(p["trips"] for p in per),
            "batch_ms_p50": round(statistics.median(p["ms"] for p in per), 2),
            "lock_hold_ms_p50": round(statistics.median(p["hold_ms"] for p in per), 2),
            "ms_per_case": round(wall * 1000 / (batches * size), 3),
            "client_cpu_ms_per_case": round((own1 - own0) * 1000 / (batches * size), 3),
            "postgres_backend_cpu_ms_per_case": round((cpu1 - cpu0) * 1000 / (batches * size), 3),
            "of_which_planning_client_ms": round(planning["client"] * 1000 / (batches * size), 3),
            "of_which_planning_backend_ms": round(planning["backend"] * 1000 / (batches * size), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--postgres", metavar="URL")
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="zhili-bench-sql-"))
    scratch = None
    try:
        if args.postgres:
            scratch = f"zhili_bench_sql_{os.getpid()}"
            url = pg_database(args.postgres, scratch, create=True)
        else:
            url = f"sqlite:///{workdir / 'var' / 'bench.db'}"
        print(measure(url, workdir, args.batches, args.batch))
    finally:
        if scratch:
            pg_database(args.postgres, scratch, create=False)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
