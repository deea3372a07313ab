"""Intake end to end over HTTP: validation, locate, dispatch rule, persist, audit, response.

Starts `zhili serve` on loopback against a fresh seeded SQLite (or the given) database, then drives it with
`wrk` (installed by `make install` from deploy/apt-packages.txt): first the trivial `/api/v1/health` endpoint
(the baseline of the same server in the same run), then `POST /api/v1/cases` with varied categories and points.
Prints cases/s, latency percentiles and the ratio to the baseline.

    .venv/bin/python bench/bench_intake.py [--seconds 20] [--connections 32] [--workers 2] [--json]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test] [--both] [--rounds N] [--compare SRC]

With ``--postgres`` the server runs on a scratch PostgreSQL database created next to the given one (and dropped
afterwards) instead of SQLite; with ``--both`` on SQLite and PostgreSQL in the same run. Each database is seeded
once and every run serves a fresh copy of it. ``--rounds N`` repeats every configuration N times, interleaved
(round 1 of each, then round 2 …), because this host is shared and its speed drifts; ``--compare SRC`` adds the
code of another source tree (a worktree of an earlier commit, e.g. ``/work/wt-base/src``) to every round, served
by the same script on the same seeded copies. Per run: health req/s, intake cases/s, their ratio, p50/p99, the
server's CPU per request, and on PostgreSQL the CPU of the database's own backends per intake request (they share
the cores); then the mean ratio per code and database.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
ZHILI = ROOT / ".venv" / "bin" / "zhili"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(workdir: Path, env: dict[str, str]) -> tuple[str, list[str], list[tuple[float, float]]]:
    """Seed a small district (no history) and return (token, category codes, points inside grids)."""
    subprocess.run([str(ZHILI), "seed", "--scale", "small", "--no-cases"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    logins = json.loads((Path(env["ZHILI_VAR_DIR"]) / "demo_logins.json").read_text(encoding="utf-8"))
    worker = next(u for u in logins if u["role"] == "zhihui" or u["username"] == "zhihui")
    code = """
import json, random
from sqlalchemy import select
from shapely import contains_xy
from shapely.geometry import shape
from zhili.core.db import session_scope
from zhili.cases.models import Category
from zhili.regions.models import Unit, UnitBoundary, UnitLevel, OPEN_END
random.seed(1)
with session_scope() as s:
    # reportable without extra answers, as bench_mixed.py: not a service (居住证), no required attribute — a report
    # of such a category without its answer is refused (422 attribute_required), which was most of the non-2xx here
    cats = [c for (c, kind, attrs) in s.execute(select(Category.code, Category.kind, Category.attributes).where(
                Category.is_leaf.is_(True), Category.is_current.is_(True), Category.is_active.is_(True)))
            if kind != "service" and not any(a.get("required") for a in attrs or [])]
    pts = []
    for (gj,) in s.execute(select(UnitBoundary.geojson).join(Unit, Unit.id == UnitBoundary.unit_id)
                           .where(Unit.level == UnitLevel.grid, UnitBoundary.valid_to == OPEN_END)):
        g = shape(json.loads(gj))
        minx, miny, maxx, maxy = g.bounds
        got = 0
        while got < 20:
            x, y = random.uniform(minx, maxx), random.uniform(miny, maxy)
            if contains_xy(g, x, y):
                pts.append((x, y))
                got += 1
print(json.dumps({"cats": cats, "pts": pts}))
"""
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", code], env=env, check=True,
                         capture_output=True, text=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return worker["password"], data["cats"], [tuple(p) for p in data["pts"]]


def login(base: str, username: str, password: str) -> str:
    r = httpx.post(f"{base}/api/v1/auth/login", json={"username": username, "password": password}, timeout=60)
    r.raise_for_status()
    return str(r.json()["access_token"])


def server_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by the server process and its descendants (the workers)."""
    stats: dict[int, tuple[int, int]] = {}  # pid → (parent, ticks)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    family, total = {pid}, 0
    changed = True
    while changed:
        changed = False
        for p, (parent, _) in stats.items():
            if parent in family and p not in family:
                family.add(p)
                changed = True
    total = sum(stats[p][1] for p in family if p in stats)
    return total / os.sysconf("SC_CLK_TCK")


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> dict[str, Any]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    summary_file = None
    if script:
        summary_file = script.with_suffix(".json")
        summary_file.unlink(missing_ok=True)
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url] + (["--", str(summary_file)] if summary_file else []), check=True,
                         capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {}
    for p in ("50", "90", "99"):
        m = re.search(rf"\s{p}(?:\.000)?%\s+([\d.]+)(us|ms|s)", out)
        if m:
            v = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            lat[f"p{p}_ms"] = v
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    got: dict[str, Any] = {"rate": rate, **lat, "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
                           "requests": float(total.group(1)) if total else 0.0}
    if summary_file is not None and summary_file.exists():  # the answers by status and the first failed bodies
        written = json.loads(summary_file.read_text(encoding="utf-8"))
        got["statuses"] = written.get("statuses", {})
        got["failures"] = written.get("failures", [])
    return got


LUA = """
-- the answers by status and the first few failed bodies (bench/wrk/common.lua): written by done() to the file
-- named after "--"
local common = dofile("%(common)s")
local common_setup = setup
function init(args) out = args[1] end
function response(status, headers, body) common.record(status, body) end
local cats = {%(cats)s}
local pts = {%(pts)s}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local n = 0
local threads = 0
-- each wrk thread runs its own copy of this script: number them, so their keys differ
function setup(thread)
  common_setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local prefix = tostring(os.time())
request = function()
  n = n + 1
  local p = pts[math.random(#pts)]
  local c = cats[math.random(#cats)]
  local body = string.format('{"category_code":"%%s","description":"压测上报 %%d：路面有积水，影响通行","lon":%%.6f,"lat":%%.6f}', c, n, p[1], p[2])
  local headers = {}  -- wrk.format takes these instead of wrk.headers, so copy them
  for k, v in pairs(wrk.headers) do headers[k] = v end
  headers["Idempotency-Key"] = prefix .. "-" .. tostring(tid) .. "-" .. n  -- as a phone sends it: a retry never files twice
  return wrk.format(nil, nil, headers, body)
end
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--postgres", metavar="URL", help="run on a scratch database on this PostgreSQL server")
    ap.add_argument("--both", action="store_true",
                    help="SQLite and PostgreSQL (--postgres, default the local server's `test`) in the same run")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of every configuration, interleaved")
    ap.add_argument("--compare", metavar="SRC", action="append", default=[],
                    help="also serve this source tree (e.g. a worktree of the base commit's src/), interleaved")
    ap.add_argument("--server-log", metavar="FILE", help="write the server's output here (default: discarded)")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: run `make install` (deploy/apt-packages.txt lists it)")
    if args.both and not args.postgres:
        args.postgres = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    databases = (["sqlite", "postgresql"] if args.both else ["postgresql" if args.postgres else "sqlite"])
    sources = [("this", str(ROOT / "src")), *((f"compare{i + 1}" if len(args.compare) > 1 else "compare", src)
                                              for i, src in enumerate(args.compare))]
    workdir = Path(tempfile.mkdtemp(prefix="zhili-bench-"))
    made: list[str] = []
    try:
        # one seeded district per database, copied fresh for every run (PostgreSQL: CREATE DATABASE … TEMPLATE)
        seeded: dict[str, tuple[Path, str, tuple[str, list[str], list[tuple[float, float]]]]] = {}
        for db in databases:
            var = workdir / f"seed-{db}"
            url = f"sqlite:///{var / 'bench.db'}"
            if db == "postgresql":
                name = f"zhili_bench_{os.getpid()}_seed"
                made.append(name)
                url = pg_database(args.postgres, name, create=True)
            env = {**os.environ, "ZHILI_VAR_DIR": str(var), "ZHILI_DATABASE_URL": url, "ZHILI_LOG_LEVEL": "WARNING",
                   "PYTHONPATH": str(ROOT / "src")}
            seeded[db] = (var, url, prepare(var, env))
        results = []
        n = 0
        for rnd in range(1, args.rounds + 1):
            for label, src in sources:
                for db in databases:
                    n += 1
                    var, seed_url, data = seeded[db]
                    run_var = workdir / f"run-{n}"
                    shutil.copytree(var, run_var)
                    url = f"sqlite:///{run_var / 'bench.db'}"
                    if db == "postgresql":
                        name = f"zhili_bench_{os.getpid()}_{n}"
                        made.append(name)
                        url = pg_database(args.postgres, name, create=True, template=seed_url)
                    env = {**os.environ, "ZHILI_VAR_DIR": str(run_var), "ZHILI_DATABASE_URL": url,
                           "ZHILI_LOG_LEVEL": "WARNING", "ZHILI_SWEEP_INTERVAL_S": "0", "PYTHONPATH": src}
                    try:
                        result = run(args, run_var, env, data, pg_name=name if db == "postgresql" else None)
                    finally:
                        if db == "postgresql":
                            pg_database(args.postgres, name, create=False)
                        shutil.rmtree(run_var, ignore_errors=True)
                    result.update({"round": rnd, "code": label, "src": src})
                    results.append(result)
                    show(result, args, header=n == 1)
        if args.json:
            print(json.dumps(results))
        elif args.rounds > 1 or len(results) > 1:
            summary(results)
    finally:
        for name in made:
            pg_database(args.postgres, name, create=False)
        shutil.rmtree(workdir, ignore_errors=True)


def pg_database(server_url: str, name: str, *, create: bool, template: str | None = None) -> str:
    """Create (or drop) database ``name`` on the server of ``server_url`` (a copy of ``template``'s database when
    given); the new database's URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(server_url)
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if create:
            copy = f' TEMPLATE "{make_url(template).database}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        else:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def postgres_cpu_s(database: str) -> float:
    """CPU seconds (user + system) used so far by the PostgreSQL backends connected to ``database`` (the server's
    pooled connections: they share the machine's cores with the server). The cluster's shared background processes
    (WAL writer, checkpointer) are not counted: other databases on the server use them too."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not cmd.startswith("postgres: ") or f" {database} " not in cmd:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run(args: argparse.Namespace, workdir: Path, env: dict[str, str],
        data: tuple[str, list[str], list[tuple[float, float]]], *, pg_name: str | None) -> dict[str, Any]:
    """Serve a seeded copy, load the baseline and the intake endpoint; the run's figures."""
    password, cats, pts = data
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out = open(args.server_log, "ab") if args.server_log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    server = subprocess.Popen([str(ZHILI), "serve", "--port", str(port), "--workers", str(args.workers)], env=env,
                              stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def pg_cpu() -> float:
        return postgres_cpu_s(pg_name) if pg_name else 0.0

    try:
        deadline = time.monotonic() + 120  # a busy shared host can take long to start two workers
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        token = login(base, "zhihui", password)
        script = workdir / "intake.lua"
        script.write_text(LUA % {"cats": ",".join(f'"{c}"' for c in cats),
                                 "pts": ",".join(f"{{{x:.6f},{y:.6f}}}" for x, y in pts), "token": token,
                                 "common": str(ROOT / "bench" / "wrk" / "common.lua")},
                          encoding="utf-8")
        wrk(f"{base}/api/v1/health", 3, args.connections)  # warm-up
        cpu0, pg0 = server_cpu_s(server.pid), pg_cpu()
        baseline = wrk(f"{base}/api/v1/health", args.seconds, args.connections)
        cpu1, pg1 = server_cpu_s(server.pid), pg_cpu()
        wrk(f"{base}/api/v1/cases", 3, args.connections, script)  # warm-up (locator, caches)
        cpu2, pg2 = server_cpu_s(server.pid), pg_cpu()
        intake = wrk(f"{base}/api/v1/cases", args.seconds, args.connections, script)
        cpu3, pg3 = server_cpu_s(server.pid), pg_cpu()
        baseline["cpu_ms"] = (cpu1 - cpu0) * 1000 / max(1.0, baseline["requests"])
        intake["cpu_ms"] = (cpu3 - cpu2) * 1000 / max(1.0, intake["requests"])
        intake["pg_cpu_ms"] = (pg3 - pg2) * 1000 / max(1.0, intake["requests"])
        baseline["pg_cpu_ms"] = (pg1 - pg0) * 1000 / max(1.0, baseline["requests"])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        if args.server_log:
            out.close()  # type: ignore[union-attr]
    # cases/s counts filed cases only: a refused report (422) is a cheap answer and must not raise the rate
    intake["rate"] *= (intake["requests"] - intake["non_2xx"]) / max(1.0, intake["requests"])
    ratio = intake["rate"] / baseline["rate"]
    return {"database": "postgresql" if pg_name else "sqlite", "workers": args.workers,
            "connections": args.connections, "seconds": args.seconds,
            "baseline_rps": round(baseline["rate"], 1), "intake_rps": round(intake["rate"], 1),
            "ratio": round(ratio, 3), "intake_p50_ms": intake.get("p50_ms"), "intake_p99_ms": intake.get("p99_ms"),
            "intake_non_2xx": intake["non_2xx"], "intake_statuses": intake.get("statuses", {}),
            "intake_failures": intake.get("failures", [])[:3], "baseline_p99_ms": baseline.get("p99_ms"),
            "baseline_cpu_ms_per_request": round(baseline["cpu_ms"], 3),
            "intake_cpu_ms_per_request": round(intake["cpu_ms"], 3),
            "intake_postgres_cpu_ms_per_request": round(intake["pg_cpu_ms"], 3) if pg_name else None,
            "load_average": os.getloadavg()[0]}


def show(r: dict[str, Any], args: argparse.Namespace, *, header: bool) -> None:
    """Print one run as a Markdown table row (the header first)."""
    if args.json:
        return
    if header:
        print("| round | code | db | workers | conns | health req/s | intake cases/s | ratio | intake p50 ms "
              "| intake p99 ms | non-2xx | server CPU ms/req health | server CPU ms/req intake "
              "| PostgreSQL CPU ms/intake | load |")
        print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    pg = r["intake_postgres_cpu_ms_per_request"]
    print(f"| {r['round']} | {r['code']} | {'PostgreSQL' if r['database'] == 'postgresql' else 'SQLite'} "
          f"| {r['workers']} | {r['connections']} | {r['baseline_rps']:,} | {r['intake_rps']:,} | {r['ratio']:.1%} "
          f"| {r['intake_p50_ms']} | {r['intake_p99_ms']} | {int(r['intake_non_2xx'])} "
          f"| {r['baseline_cpu_ms_per_request']} | {r['intake_cpu_ms_per_request']} "
          f"| {'–' if pg is None else pg} | {r['load_average']:.1f} |", flush=True)
    if r.get("intake_failures"):  # beside the table (stderr): what the failed answers were
        print(f"  round {r['round']} {r['database']}: intake answers by status {r['intake_statuses']}; first failed: "
              f"{r['intake_failures'][0][:300]}", file=sys.stderr, flush=True)


def summary(results: list[dict[str, Any]]) -> None:
    """Mean ratio (and its range) per code and database over the rounds."""
    print()
    print("| code | db | runs | ratio mean | ratio min–max | cases/s mean | server + PostgreSQL CPU ms/intake mean |")
    print("|---|---|---:|---:|---:|---:|---:|")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["code"], r["database"]), []).append(r)
    for (code, db), rs in groups.items():
        ratios = [r["ratio"] for r in rs]
        cpu = [r["intake_cpu_ms_per_request"] + (r["intake_postgres_cpu_ms_per_request"] or 0) for r in rs]
        print(f"| {code} | {'PostgreSQL' if db == 'postgresql' else 'SQLite'} | {len(rs)} "
              f"| {sum(ratios) / len(rs):.1%} | {min(ratios):.1%}–{max(ratios):.1%} "
              f"| {sum(r['intake_rps'] for r in rs) / len(rs):,.1f} | {sum(cpu) / len(cpu):.3f} |")


if __name__ == "__main__":
    main()
