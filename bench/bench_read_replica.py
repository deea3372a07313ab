"""The read replica's cost and its fallback, on a primary and a streaming replica started here (two throw-away
PostgreSQL clusters on loopback ports, ``tests/pgcluster.py``; needs Debian's server binaries, run as root or as a
user that may run them):

    PYTHONPATH=src .venv/bin/python bench/bench_read_replica.py [--n 200]

In one process (FastAPI's TestClient, no network between client and app), for the same small seeded district:
p50 of a routed read (``/api/v1/dashboard/kpis``, a grid's case points) without a replica configured and served by
the replica (the extra statement on the replica, the sampled primary position), of an intake POST without and with
the read-your-writes cookie (one more statement on the primary), the trivial ``/api/v1/health`` as the baseline;
then the replica is stopped (immediate) and the first read and the p50 of the next reads are timed (the fallback
to the primary, the breaker open), and the time until it is read again after a restart.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("ZHILI_ENV", "test")


def _p50(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()

    from fastapi.testclient import TestClient
    from sqlalchemy.orm import Session

    import conftest as root
    import pgcluster
    from testmodules import TESTS, load
    from zhili.app import create_app
    from zhili.core import migrate, replica
    from zhili.core.db import make_engine, set_engine, set_read_engine
    from zhili.core.settings import get_settings

    kit = load("zhili_bench_dashboard_kit", TESTS / "dashboard" / "conftest.py")
    out: dict[str, Any] = {"n": args.n}
    with pgcluster.primary_and_replica() as (primary, standby):
        primary.sql("CREATE DATABASE zhili")
        engine = make_engine(primary.url("zhili"))
        with engine.begin() as conn:
            migrate.upgrade(connection=conn)
        with Session(engine) as s:
            kit.add_taxonomy(s)
            world = root.build_world(s, only={"zhihui", "lingdao"})
            grid = world.units["ga"].id
            s.commit()
        standby.wait_replayed(primary)
        os.environ.update({"ZHILI_DATABASE_URL": primary.url("zhili"), "ZHILI_READ_RETRY_S": "1",
                           "ZHILI_READ_DATABASE_URL": standby.url("zhili")})
        get_settings.cache_clear()
        set_engine(engine)
        app = create_app()
        with TestClient(app) as client:
            viewer = {"Authorization": f"Bearer {world.tokens['lingdao']}"}
            writer = {"Authorization": f"Bearer {world.tokens['zhihui']}"}

            def timed(method: str, path: str, headers: dict[str, str], **kw: Any) -> list[float]:
                samples = []
                for _ in range(args.n):
                    client.cookies.clear()
                    start = time.perf_counter()
                    r = client.request(method, path, headers=headers, **kw)
                    samples.append(time.perf_counter() - start)
                    assert r.status_code < 300, (path, r.status_code, r.text)
                return samples

            report = {"category_code": "TA-0101", "channel": "hotline", "lon": 119.1, "lat": 31.1,
                      "description": "小区门口垃圾桶满了没人清运"}
            for label, with_replica in (("primary_only", False), ("replica", True)):
                set_read_engine(None, configured=not with_replica)  # configured=False: from the settings
                replica.reset_router()
                timed("GET", "/api/v1/dashboard/kpis", viewer)  # warm
                out[label] = {
                    "health": _p50(timed("GET", "/api/v1/health", viewer)),
                    "kpis": _p50(timed("GET", "/api/v1/dashboard/kpis", viewer)),
                    "grid_cases": _p50(timed("GET", f"/api/v1/dashboard/grids/{grid}/cases", viewer)),
                    "intake": _p50(timed("POST", "/api/v1/cases", writer, json=report)),
                }
            standby.wait_replayed(primary)
            client.cookies.clear()
            standby.stop("immediate")
            start = time.perf_counter()
            assert client.get("/api/v1/dashboard/kpis", headers=viewer).status_code == 200
            first = time.perf_counter() - start
            out["replica_stopped"] = {"first_read_ms": round(first * 1000, 1),
                                      "next_reads_p50": _p50(timed("GET", "/api/v1/dashboard/kpis", viewer))}
            standby.start()
            back = time.perf_counter()
            while True:
                client.get("/api/v1/dashboard/kpis", headers=viewer)
                last = replica.router().last()
                if last is not None and last.up:
                    break
                time.sleep(0.05)
            out["replica_restarted"] = {"read_again_after_s": round(time.perf_counter() - back, 2)}
        set_engine(None)
        engine.dispose()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
