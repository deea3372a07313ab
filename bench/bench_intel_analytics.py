"""The spatial intelligence over the large demo: hotspots, early warnings and grid risk, in seconds per stage.

Target (issue 17): hotspots + early warning + risk over the large demo (1,000,000 cases, 1,500 grids, two years) in
≤ 60 s on a two-core machine. Point it at a database seeded with ``zhili seed --scale large`` (cases included):

    ZHILI_DATABASE_URL=sqlite:////tmp/large/zhili.db ZHILI_VAR_DIR=/tmp/large \\
        .venv/bin/python bench/bench_intel_analytics.py [--until YYYY-MM-DD] [--hgb] [--json]

Stages, all acting as the system (the command-centre role over the whole district) through the service functions:

* baseline — one ``SELECT grid_id, count(*) FROM case GROUP BY grid_id`` over every case (the cheapest way to
  touch them all), measured in the same run; each stage is also given as a multiple of it;
* hotspots — ``hotspots_for`` on H3 resolution 8 over 90 days, overall (loading included); then every top-level
  category (``SG-01`` …) on the same loaded cases and tessellation; then the grid level (boundaries, adjacency);
* early warning — ``zhili.intel.warnings.scan`` when that module exists (another part of issue 17), else
  "not yet available";
* risk — ``rank_grids`` for the coming week (loading the 40-week panel, register and visit features, fitting,
  scoring, drivers, storing 1,500 rows after the read), then the 8-week rolling backtest (``evaluate_risk``) with
  its precision@10 % and Spearman next to the naive baselines; ``--hgb`` adds the gradient-boosted model's backtest
  (not counted in the total).

The ranking it stores replaces the coming week's ranking in that database (idempotent); nothing else is written
except the warnings' own rows if the scan writes any.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import os
import platform
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from zhili.cases.models import Case, Category
from zhili.core.db import make_engine, read_session_factory, set_engine, unit_of_work
from zhili.intel.caseframe import load_cases, load_grids
from zhili.intel.hotspots import hotspots, hotspots_for, prepare_layer
from zhili.intel.risk import evaluate_risk, rank_grids, system_principal


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run_warnings(session: Any, principal: Any, until: dt.date) -> tuple[str, float | None]:
    """Call the early-warning scan if it exists, with what its signature asks for."""
    try:
        from zhili.intel import warnings as intel_warnings  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        return "not yet available（zhili.intel.warnings 尚不存在）", None
    scan = getattr(intel_warnings, "scan", None)
    if scan is None:
        return "not yet available（zhili.intel.warnings.scan 尚不存在）", None
    params = inspect.signature(scan).parameters
    kwargs: dict[str, Any] = {}
    if "principal" in params:
        kwargs["principal"] = principal
    for name in ("until", "day", "today", "as_of"):
        if name in params:
            kwargs[name] = until
    out, secs = timed(lambda: scan(session, **kwargs))
    size = len(out) if hasattr(out, "__len__") else out
    return f"{size} warnings", secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default=os.environ.get("ZHILI_DATABASE_URL"))
    ap.add_argument("--until", help="last day of data (default: the last day with cases)")
    ap.add_argument("--hgb", action="store_true", help="also backtest the gradient-boosted model")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.database_url:
        ap.error("give --database-url or ZHILI_DATABASE_URL")
    engine = make_engine(args.database_url)
    set_engine(engine)
    print(f"# intel analytics benchmark — {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {engine.dialect.name}")
    stages: dict[str, float] = {}
    info: dict[str, Any] = {}
    with unit_of_work(read_session_factory()) as s:
        principal = system_principal(s)
        n_cases = s.scalar(select(func.count()).select_from(Case))
        last_day = s.scalar(select(func.max(Case.reported_day)))
        until = dt.date.fromisoformat(args.until) if args.until else (
            last_day if isinstance(last_day, dt.date) else dt.date.fromisoformat(str(last_day)))
        info.update(cases=n_cases, until=until.isoformat())
        _, stages["baseline: GROUP BY grid over all cases"] = timed(
            lambda: s.execute(select(Case.grid_id, func.count()).group_by(Case.grid_id)).all())
        print(f"{n_cases:,} cases, data until {until}")

        result, stages["hotspots H3 overall (hotspots_for, incl. loading)"] = timed(
            lambda: hotspots_for(s, principal=principal, level="h3", resolution=8, days=90, until=until))
        info["hotspots_overall"] = result.summary
        since = until - dt.timedelta(days=89)

        def per_category() -> dict[str, Any]:
            frame = load_cases(s, since=since, until=until, path_prefix=principal.scope_paths,
                               columns=("reported_day", "category_code", "grid_id", "lon", "lat"))
            grids = load_grids(s, path_prefix=principal.scope_paths)
            layer = prepare_layer(frame, level="h3", resolution=8, grids=grids)
            tops = sorted(s.scalars(select(Category.code).where(Category.parent_code.is_(None),
                                                                Category.is_current.is_(True))))
            return {c: hotspots(frame, category=c, since=since, until=until, layer=layer).summary for c in tops}

        by_cat, stages["hotspots H3 per top-level category (load once + all categories)"] = timed(per_category)
        info["hotspots_categories"] = {c: {k: v for k, v in sm.items() if k in ("cases", "hot", "emerging")}
                                       for c, sm in by_cat.items()}
        grid_result, stages["hotspots grid level overall (incl. boundaries, adjacency)"] = timed(
            lambda: hotspots_for(s, principal=principal, level="grid", days=90, until=until))
        info["hotspots_grid"] = grid_result.summary

        warn_note, warn_secs = run_warnings(s, principal, until)
        info["warnings"] = warn_note
        if warn_secs is not None:
            stages["early warnings (zhili.intel.warnings.scan)"] = warn_secs

    week = until + dt.timedelta(days=(7 - until.weekday()) % 7 or 7)  # the Monday after the data

    def rank() -> list[Any]:
        with unit_of_work(read_session_factory()) as s:  # the rows are written when the read ends
            return rank_grids(s, principal=system_principal(s), week_start=week)

    rows, stages["risk: features + fit + rank + store (rank_grids)"] = timed(rank)
    info["risk_top5"] = [(str(r.grid_id), r.score, [d["name"] for d in r.drivers.get("items", [])]) for r in rows[:5]]
    with unit_of_work(read_session_factory()) as s:
        principal = system_principal(s)
        bt, stages["risk backtest, 8 weeks (evaluate_risk)"] = timed(
            lambda: evaluate_risk(s, paths=principal.scope_paths, weeks=8, until=until))
        info["backtest"] = {k: bt[k] for k in ("model", "last_week", "mean_4w", "weeks", "grids")}
        if args.hgb:
            bt_hgb, hgb_secs = timed(lambda: evaluate_risk(s, paths=principal.scope_paths, weeks=8, until=until,
                                                           method="hgb"))
            info["backtest_hgb"] = {k: bt_hgb[k] for k in ("model", "weeks", "grids")}
            info["backtest_hgb_seconds"] = round(hgb_secs, 2)

    base = stages["baseline: GROUP BY grid over all cases"]
    total = sum(v for k, v in stages.items() if not k.startswith("baseline"))
    print("\n| stage | seconds | × baseline |")
    print("|---|---:|---:|")
    for k, v in stages.items():
        print(f"| {k} | {v:.2f} | {v / base:.1f} |")
    print(f"| **total (hotspots + warnings + risk + backtest)** | **{total:.2f}** | {total / base:.1f} |")
    print(f"\nearly warnings: {info['warnings']}")
    b = info["backtest"]
    print(f"\nbacktest ({b['weeks']} weeks, {b['grids']} grids): | predictor | precision@10% | Spearman |")
    for key, name in (("model", "Poisson model"), ("last_week", "last week's count"), ("mean_4w", "4-week mean")):
        print(f"| {name} | {b[key]['p_at_10']:.3f} | {b[key]['spearman']:.3f} |")
    if "backtest_hgb" in info:
        h = info["backtest_hgb"]["model"]
        print(f"| gradient boosting (Poisson loss), {info['backtest_hgb_seconds']} s | {h['p_at_10']:.3f} | "
              f"{h['spearman']:.3f} |")
    print(f"\nhotspots overall: {info['hotspots_overall']}")
    print(f"hotspots grid level: {info['hotspots_grid']}")
    if args.json:
        print(json.dumps({"stages": stages, "total": total, **info}, ensure_ascii=False, indent=1, default=str))


if __name__ == "__main__":
    main()
