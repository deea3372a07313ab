"""Intake end to end over HTTP: validation, locate, dispatch rule, persist, audit, response.

Starts `zhili serve` on loopback against a fresh seeded SQLite (or the given) database, then drives it with
`wrk` (installed by `make install` from deploy/apt-packages.txt): first the trivial `/api/v1/health` endpoint
(the baseline of the same server in the same run), then `POST /api/v1/cases` with varied categories and points.
Prints cases/s, latency percentiles and the ratio to the baseline.

    .venv/bin/python bench/bench_intake.py [--seconds 20] [--connections 32] [--workers 2] [--json]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]

With ``--postgres`` the server runs on a scratch PostgreSQL database created next to the given one (and dropped
afterwards) instead of SQLite.
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
    logins = json.loads((workdir / "var" / "demo_logins.json").read_text(encoding="utf-8"))
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
    cats = [c for (c,) in s.execute(select(Category.code).where(Category.is_leaf.is_(True), Category.is_current.is_(True)))]
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
    r = httpx.post(f"{base}/api/v1/auth/login", json={"username": username, "password": password}, timeout=10)
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


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> dict[str, float]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {}
    for p in ("50", "90", "99"):
        m = re.search(rf"\s{p}(?:\.000)?%\s+([\d.]+)(us|ms|s)", out)
        if m:
            v = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            lat[f"p{p}_ms"] = v
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {"rate": rate, **lat, "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
            "requests": float(total.group(1)) if total else 0.0}


LUA = """
local cats = {%(cats)s}
local pts = {%(pts)s}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local n = 0
local threads = 0
-- each wrk thread runs its own copy of this script: number them, so their keys differ
function setup(thread)
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
    ap.add_argument("--server-log", metavar="FILE", help="write the server's output here (default: discarded)")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: run `make install` (deploy/apt-packages.txt lists it)")
    workdir = Path(tempfile.mkdtemp(prefix="zhili-bench-"))
    url = f"sqlite:///{workdir / 'var' / 'bench.db'}"
    scratch_db = None
    if args.postgres:
        scratch_db = f"zhili_bench_{os.getpid()}"
        url = pg_database(args.postgres, scratch_db, create=True)
    env = {**os.environ, "ZHILI_VAR_DIR": str(workdir / "var"), "ZHILI_DATABASE_URL": url,
           "ZHILI_LOG_LEVEL": "WARNING", "ZHILI_SWEEP_INTERVAL_S": "0"}
    try:
        run(args, workdir, env)
    finally:
        if scratch_db:
            pg_database(args.postgres, scratch_db, create=False)
        shutil.rmtree(workdir, ignore_errors=True)


def pg_database(server_url: str, name: str, *, create: bool) -> str:
    """Create (or drop) database ``name`` on the server of ``server_url``; the new database's URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(server_url)
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if create:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def run(args: argparse.Namespace, workdir: Path, env: dict[str, str]) -> None:
    """Seed, serve, load the baseline and the intake endpoint, print the result."""
    password, cats, pts = prepare(workdir, env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out = open(args.server_log, "wb") if args.server_log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    server = subprocess.Popen([str(ZHILI), "serve", "--port", str(port), "--workers", str(args.workers)], env=env,
                              stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        token = login(base, "zhihui", password)
        script = workdir / "intake.lua"
        script.write_text(LUA % {"cats": ",".join(f'"{c}"' for c in cats),
                                 "pts": ",".join(f"{{{x:.6f},{y:.6f}}}" for x, y in pts), "token": token},
                          encoding="utf-8")
        wrk(f"{base}/api/v1/health", 3, args.connections)  # warm-up
        cpu0 = server_cpu_s(server.pid)
        baseline = wrk(f"{base}/api/v1/health", args.seconds, args.connections)
        cpu1 = server_cpu_s(server.pid)
        wrk(f"{base}/api/v1/cases", 3, args.connections, script)  # warm-up (locator, caches)
        cpu2 = server_cpu_s(server.pid)
        intake = wrk(f"{base}/api/v1/cases", args.seconds, args.connections, script)
        cpu3 = server_cpu_s(server.pid)
        baseline["cpu_ms"] = (cpu1 - cpu0) * 1000 / max(1.0, baseline["requests"])
        intake["cpu_ms"] = (cpu3 - cpu2) * 1000 / max(1.0, intake["requests"])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        if args.server_log:
            out.close()  # type: ignore[union-attr]
    ratio = intake["rate"] / baseline["rate"]
    result = {"database": "postgresql" if args.postgres else "sqlite", "workers": args.workers, "connections": args.connections, "seconds": args.seconds,
              "baseline_rps": round(baseline["rate"], 1), "intake_rps": round(intake["rate"], 1),
              "ratio": round(ratio, 3), "intake_p50_ms": intake.get("p50_ms"), "intake_p99_ms": intake.get("p99_ms"),
              "intake_non_2xx": intake["non_2xx"], "baseline_p99_ms": baseline.get("p99_ms"),
              "baseline_cpu_ms_per_request": round(baseline["cpu_ms"], 3),
              "intake_cpu_ms_per_request": round(intake["cpu_ms"], 3),
              "load_average": os.getloadavg()[0]}
    if args.json:
        print(json.dumps(result))
        return
    print("| workers | conns | health req/s | intake cases/s | ratio | intake p50 ms | intake p99 ms | non-2xx "
          "| server CPU ms/req health | server CPU ms/req intake | load |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {args.workers} | {args.connections} | {result['baseline_rps']:,} | {result['intake_rps']:,} | "
          f"{ratio:.1%} | {result['intake_p50_ms']} | {result['intake_p99_ms']} | {int(intake['non_2xx'])} | "
          f"{result['baseline_cpu_ms_per_request']} | {result['intake_cpu_ms_per_request']} | "
          f"{result['load_average']:.1f} |")


if __name__ == "__main__":
    main()
