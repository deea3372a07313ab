"""Benchmark the demo's case history (``zhili.seed.history.seed_cases``) at one or more scales.

The district of each scale is seeded once (registers, taxonomy, departments, dispatch rules) into a SQLite file
that is cached under ``--cache`` (default: a directory in the system temporary directory), then copied to a fresh
file for every timed run, so only the history is timed. Reported per run: seconds, cases, timeline events, and
(when the seeder reports them) the planted structures' sizes.

Usage::

    .venv/bin/python bench/bench_history.py [--scale small|medium|large ...] [--count N] [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import importlib.util
import inspect
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("ZHILI_KEYS", json.dumps({
    "active": "k1", "keys": {"k1": base64.b64encode(b"\x05" * 32).decode()},
    "index_key": base64.b64encode(b"\x06" * 32).decode(), "session_secret": base64.b64encode(b"\x07" * 32).decode()}))

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases.dispatch import default_rules_from_taxonomy
from zhili.cases.taxonomy import load_defaults
from zhili.core.crypto import get_cipher
from zhili.core.db import make_engine
from zhili.core.migrate import upgrade
from zhili.regions.models import OPEN_END, Unit, UnitLevel
from zhili.seed.demo import seed_demo
from zhili.seed.history import seed_cases

NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)


def district(scale: str, cache: Path) -> Path:
    """The cached seeded district of ``scale`` (built on first use)."""
    path = cache / f"district-{scale}.db"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    url = f"sqlite:///{tmp.as_posix()}"
    upgrade(url=url)
    engine = make_engine(url)
    seed_demo(engine, scale=scale, cipher=get_cipher())  # type: ignore[arg-type]
    with Session(engine) as s:
        load_defaults(s)
        unit = s.scalar(select(Unit).where(Unit.level == UnitLevel.district, Unit.valid_to == OPEN_END))
        assert unit is not None
        default_rules_from_taxonomy(s, district_path=unit.path)
        s.commit()
    engine.dispose()
    tmp.rename(path)
    return path


def load_version(path: Path) -> Any:
    """``seed_cases`` of another version of :mod:`zhili.seed.history` (a file, e.g. from ``git show``)."""
    spec = importlib.util.spec_from_file_location("history_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.seed_cases


def run(scale: str, source: Path, count: int | None, seeder: Any = seed_cases, label: str = "this") -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="zhili-bench-history-"))
    try:
        db = work / "h.db"
        shutil.copy(source, db)
        engine = make_engine(f"sqlite:///{db.as_posix()}")
        kwargs: dict[str, Any] = {"scale": scale, "count": count, "now": NOW}
        started = time.perf_counter()
        cpu = time.process_time()
        out = seeder(engine, **kwargs)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        engine.dispose()
        planted = out.get("planted") if isinstance(out, dict) else None
        return {"version": label, "scale": scale, "seconds": round(seconds, 2), "cpu": round(cpu, 2), "case": out["case"],
                "case_event": out["case_event"], "size_mb": round(db.stat().st_size / 2**20, 1),
                "planted": {k: (v.get("cases") if isinstance(v, dict) else len(v)) for k, v in (planted or {}).items()
                            if isinstance(v, (dict, list))}}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", action="append", choices=["small", "medium", "large"])
    parser.add_argument("--count", type=int, default=None, help="cases (default: the scale's size)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "zhili-bench-history")
    parser.add_argument("--against", type=Path, default=None,
                        help="another history.py (e.g. `git show main:src/zhili/seed/history.py > /tmp/h.py`): its "
                             "runs alternate with this version's, so both see the same machine load")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    versions: list[tuple[str, Any]] = [("this", seed_cases)]
    if args.against:
        versions.insert(0, ("against", load_version(args.against)))
    args.cache.mkdir(parents=True, exist_ok=True)
    print(f"# seed_cases({', '.join(inspect.signature(seed_cases).parameters)})")
    results = []
    for scale in args.scale or ["small", "medium"]:
        source = district(scale, args.cache)
        for _ in range(args.repeat):
            for label, seeder in versions:
                r = run(scale, source, args.count, seeder, label)
                results.append(r)
                print(f"{label:<8} {r['scale']:<7} {r['case']:>9,} cases {r['case_event']:>10,} events  "
                      f"{r['seconds']:7.2f} s (cpu {r['cpu']:.2f} s)  {r['size_mb']} MB  planted={r['planted']}",
                      flush=True)
    for scale in args.scale or ["small", "medium"]:
        for label, _ in versions:
            mine = [r for r in results if r["scale"] == scale and r["version"] == label]
            if mine:
                wall = sorted(r["seconds"] for r in mine)[len(mine) // 2]
                cpu = sorted(r["cpu"] for r in mine)[len(mine) // 2]
                print(f"median  {label:<8} {scale:<7} wall {wall:.2f} s  cpu {cpu:.2f} s  ({len(mine)} runs)")
    if args.json:
        print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
