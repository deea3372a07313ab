"""Command-centre screen data endpoints against a seeded database: p50/p95 per endpoint over HTTP.

Point it at a database seeded with `zhili seed --scale large` (cases included) and the demo logins file:

    ZHILI_DATABASE_URL=sqlite:///var/large.db ZHILI_VAR_DIR=var .venv/bin/python bench/bench_screen.py [--n 40]

It starts `zhili serve` on a free loopback port, logs in as the command centre (zhihui), and requests each
endpoint the screen calls (district level, a street, a community, a grid's case points) sequentially `--n`
times, with the trivial `/api/v1/health` of the same server as the baseline. Target: p95 ≤ 200 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    var = Path(os.environ.get("ZHILI_VAR_DIR", "var"))
    logins = json.loads((var / "demo_logins.json").read_text(encoding="utf-8"))
    password = next(u["password"] for u in logins if u["username"] == "zhihui")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "ZHILI_SWEEP_INTERVAL_S": "0", "ZHILI_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([str(ROOT / ".venv/bin/zhili"), "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.25)
        c = httpx.Client(base_url=base, timeout=30)
        token = c.post("/api/v1/auth/login", json={"username": "zhihui", "password": password}).json()["access_token"]
        c.headers["Authorization"] = f"Bearer {token}"
        streets = c.get("/api/v1/regions/units", params={"level": "street", "page_size": 1}).json()["items"]
        communities = c.get("/api/v1/regions/units", params={"level": "community", "page_size": 1}).json()["items"]
        grids = c.get("/api/v1/regions/units", params={"level": "grid", "page_size": 1}).json()["items"]
        street, community, grid = streets[0]["id"], communities[0]["id"], grids[0]["id"]
        endpoints = {
            "health (baseline)": ("/api/v1/health", {}),
            "kpis district": ("/api/v1/dashboard/kpis", {}),
            "breakdown district": ("/api/v1/dashboard/breakdown", {}),
            "breakdown street": ("/api/v1/dashboard/breakdown", {"unit_id": street}),
            "breakdown community": ("/api/v1/dashboard/breakdown", {"unit_id": community}),
            "trend 30 days": ("/api/v1/dashboard/trend", {}),
            "categories": ("/api/v1/dashboard/categories", {}),
            "ranking streets": ("/api/v1/dashboard/ranking", {"level": "street"}),
            "ranking grids": ("/api/v1/dashboard/ranking", {"level": "grid"}),
            "boundaries of streets": ("/api/v1/regions/boundaries", {"level": "street"}),
            "grid case points": (f"/api/v1/dashboard/grids/{grid}/cases", {}),
        }
        rows = []
        for name, (path, params) in endpoints.items():
            c.get(path, params=params).raise_for_status()  # warm
            times = []
            for _ in range(args.n):
                t = time.perf_counter()
                c.get(path, params=params).raise_for_status()
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            rows.append({"endpoint": name, "p50_ms": round(statistics.median(times), 1),
                         "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1)})
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
    if args.json:
        print(json.dumps(rows))
        return
    print("| endpoint | p50 ms | p95 ms |")
    print("|---|---:|---:|")
    for r in rows:
        print(f"| {r['endpoint']} | {r['p50_ms']} | {r['p95_ms']} |")


if __name__ == "__main__":
    main()
