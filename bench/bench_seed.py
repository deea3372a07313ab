"""Benchmark the demo seeder (``zhili.seed.demo.seed_demo``) at one or more scales.

Each scale is seeded into a fresh, migrated SQLite file in a temporary directory (deleted afterwards unless
``--keep``), or — with ``--database-url`` — into that database (e.g. PostgreSQL), which must be empty
unless ``--reset`` is given: ``--reset`` DOWNGRADES IT TO BASE (drops every table) before each run.

Reported per scale: wall-clock seconds, seconds per stage, rows and rows/s per table (rows over the whole
seed's wall time, since the tables are written interleaved), the SQLite file size; then one markdown table.
Target: ``large`` (1,000,000 persons) in under 300 s on a two-core machine with SQLite.

Usage::

    .venv/bin/python bench/bench_seed.py [--scale small|medium|large ...] [--database-url URL [--reset]]
                                         [--workers N] [--seed N] [--keep] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from zhili.core.crypto import FieldCipher
from zhili.core.db import make_engine
from zhili.core.migrate import downgrade, upgrade
from zhili.core.settings import new_key_material
from zhili.seed.demo import SCALES, SeedReport, seed_demo

TABLES = ["unit", "unit_boundary", "building", "entrance", "household", "person", "organisation", "app_user"]


def run_one(scale: str, url: str, *, seed: int, workers: int | None, reset: bool) -> tuple[SeedReport, float]:
    """Migrate ``url``, seed ``scale`` into it; returns the report and the CPU seconds of this process."""
    if reset:
        downgrade("base", url=url)
    upgrade(url=url)
    engine = make_engine(url)
    cipher = FieldCipher.from_material(new_key_material())
    last = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= 10 or done == total:
            last[0] = now
            print(f"  {scale:<6} {stage:<9} {done:>9,}/{total:,}", flush=True)

    cpu = time.process_time()
    try:
        report = seed_demo(engine, scale=scale, seed=seed, progress=progress, cipher=cipher,  # type: ignore[arg-type]
                           workers=workers)
    finally:
        engine.dispose()
    return report, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", action="append", choices=list(SCALES),
                        help="scale to run (repeatable; default: small, medium and large)")
    parser.add_argument("--database-url", help="seed into this (empty) database instead of a temporary SQLite file")
    parser.add_argument("--reset", action="store_true",
                        help="with --database-url: downgrade the database to base (DROPS ALL TABLES) before each run")
    parser.add_argument("--workers", type=int, default=None, help="generation processes (default: automatic)")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--keep", action="store_true", help="keep the temporary SQLite files")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()
    scales = args.scale or list(SCALES)
    if args.database_url and len(scales) > 1 and not args.reset:
        parser.error("several scales into one --database-url need --reset")

    print(f"# seed benchmark — {platform.python_implementation()} {platform.python_version()}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs")
    tmp = Path(tempfile.mkdtemp(prefix="zhili-bench-seed-"))
    results: list[dict[str, Any]] = []
    for scale in scales:
        if args.database_url:
            url, db_file = args.database_url, None
        else:
            db_file = tmp / f"{scale}.db"
            url = f"sqlite:///{db_file.as_posix()}"
        report, cpu = run_one(scale, url, seed=args.seed, workers=args.workers, reset=args.reset)
        size_mb = db_file.stat().st_size / 1e6 if db_file and db_file.exists() else None
        secs = report.elapsed_s
        print(f"\n## {scale}: {secs:.1f} s (workers: {report.workers}, main-process CPU: {cpu:.1f} s"
              + (f", file: {size_mb:,.0f} MB" if size_mb else "") + ")")
        print("stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.stage_seconds.items()))
        for t in TABLES:
            n = report.counts.get(t, 0)
            print(f"  {t:<14} {n:>10,} rows  {n / secs:>10,.0f} rows/s")
        results.append({"scale": scale, "seconds": secs, "workers": report.workers, "main_cpu_s": round(cpu, 1),
                        "stages": report.stage_seconds, "counts": report.counts, "db_mb": size_mb})
        if db_file and not args.keep:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    if not args.keep:
        with contextlib.suppress(OSError):
            tmp.rmdir()
    else:
        print(f"\nkept SQLite files in {tmp}")

    print("\n| scale | units | buildings | households | persons | organisations | seconds | persons/s | "
          "all rows/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        c = r["counts"]
        total_rows = sum(c.get(t, 0) for t in TABLES)
        print(f"| {r['scale']} | {c['unit']:,} | {c['building']:,} | {c['household']:,} | {c['person']:,} | "
              f"{c['organisation']:,} | {r['seconds']:.1f} | {c['person'] / r['seconds']:,.0f} | "
              f"{total_rows / r['seconds']:,.0f} |")
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
