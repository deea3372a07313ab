"""4E scoring speed: one month for every unit of a district, and a year of months (issue 19's targets: ≤ 30 s for a
month and ≤ 5 min for twelve on the large demo — 1,500 grids, 1,000,000 cases — on the 2-core machine).

Baseline, measured in the same run on the same database: reading the month's cases once (the columns the scoring
reads, through the same column-wise loader) — the least any scoring of that month must do. Reported: seconds per
month (the full run: figures, values, scores, ranks and the stored results), the share spent computing the
figures, the rerun of an unchanged closed period (inputs' hash only), and the ratio to the baseline.

    ZHILI_DATABASE_URL=sqlite:////tmp/large/zhili.db ZHILI_VAR_DIR=/tmp/large/var \\
        .venv/bin/python bench/bench_eval.py --month 2026-10 --year-of-months 2026-11
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from sqlalchemy import func, select

from zhili.cases import flows
from zhili.core.db import session_factory, unit_of_work
from zhili.evaluation import metrics, periods, service
from zhili.evaluation.jobs import districts, system_principal
from zhili.intel.caseframe import load_cases
from zhili.regions.models import Unit, UnitLevel
from zhili.worktime.service import load_calendar

COLUMNS = ("id", "path", "channel", "state", "reported_at", "accepted_at", "dispatched_at", "resolved_at",
           "closed_on_time", "overdue", "reopen_count", "rating")


def _baseline(root: str, p: periods.Period) -> float:
    with unit_of_work(session_factory()) as s:
        t = time.perf_counter()
        frame = load_cases(s, since=p.start, until=p.end, path_prefix=root, flow=flows.EVENT, columns=COLUMNS)
        took = time.perf_counter() - t
    print(f"  baseline: {len(frame):,} cases of {p.label} read in {took:.2f} s")
    return took


def _figures_only(root: str, p: periods.Period) -> float:
    from zhili.evaluation import forms_status

    with unit_of_work(session_factory()) as s:
        t = time.perf_counter()
        tree = metrics.load_tree(s, root, p.end)
        fv = forms_status.form_metrics(s, root_path=root, period_kind=p.kind, start_day=p.start, end_day=p.end)
        metrics.compute(s, tree, start=p.start, end=p.end, calendar=load_calendar(s), forms=fv)
        return time.perf_counter() - t


def _run(root: str, key: str, *, force: bool) -> tuple[float, bool, int]:
    with unit_of_work(session_factory()) as s:
        t = time.perf_counter()
        out = service.run_period(s, principal=system_principal(root), period=key, root_path=root, force=force)
        took = time.perf_counter() - t
        return took, out.created, out.run.units


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--month", required=True, help="the month to score, e.g. 2026-10")
    ap.add_argument("--year-of-months", default=None, help="score the twelve months ending with this one")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with unit_of_work(session_factory()) as s:
        roots = districts(s)
        grids = s.scalar(select(func.count()).select_from(Unit).where(Unit.level == UnitLevel.grid))
        service.install_defaults(s)
    if not roots:
        print("no district in the database", file=sys.stderr)
        return 2
    root = roots[0]
    month = periods.parse(args.month)
    print(f"district {root}, {grids:,} grids")
    base = statistics.median(_baseline(root, month) for _ in range(args.repeat))
    figures = statistics.median(_figures_only(root, month) for _ in range(args.repeat))
    runs = [_run(root, month.key, force=True) for _ in range(args.repeat)]
    full = statistics.median(r[0] for r in runs)
    again, created, units = _run(root, month.key, force=False)
    print(f"  one month ({month.label}): {full:.2f} s for {units:,} units (median of {args.repeat}); figures "
          f"{figures:.2f} s ({figures / full:.0%}); ratio to the baseline {full / base:.1f}×")
    print(f"  the same month again, inputs unchanged: {again:.2f} s (new run stored: {created})")
    if args.year_of_months:
        end = periods.parse(args.year_of_months)
        months = periods.last_periods(end, 12)
        t = time.perf_counter()
        each = [_run(root, m.key, force=True)[0] for m in months]
        total = time.perf_counter() - t
        print(f"  twelve months {months[0].label}–{months[-1].label}: {total:.1f} s "
              f"(per month median {statistics.median(each):.2f} s, max {max(each):.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
