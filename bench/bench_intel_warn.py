"""Early-warning scan over a large synthetic district: how long :func:`zhili.intel.warnings.scan` takes, how many
of the spikes injected into the last week it finds, and how many warnings it raises besides them.

Builds a migrated SQLite database in a temporary directory: the shipped taxonomy, one district → 10 streets →
120 communities → 1,500 grids, and ``--cases`` cases (default 1,000,000) over ``--days`` days (default 730) with a
weekday pattern, a holiday dip from the working calendar, a mild trend and per-grid and per-category weights
(multinomial, so the counts are Poisson-like); then ``--spikes`` (community, category group, day) spikes of
``4·√(expected)+4`` extra cases on days of the last week. Runs the scan twice (the second must raise nothing) and
prints the timings of each part.

    .venv/bin/python bench/bench_intel_warn.py [--cases 1000000] [--days 730] [--spikes 20] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def build(workdir: Path, *, cases: int, days: int, spikes: int, seed: int) -> tuple[object, list[dict[str, object]]]:
    os.environ.setdefault("ZHILI_VAR_DIR", str(workdir / "var"))
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from zhili.cases.models import Case, CaseState, Category, Channel, Urgency
    from zhili.cases.taxonomy import load_defaults
    from zhili.core import migrate
    from zhili.core.bulk import BulkWriter
    from zhili.core.clock import district_tz, local_day
    from zhili.core.db import make_engine, set_engine
    from zhili.regions.models import Unit, UnitLevel
    from zhili.worktime.service import WorkCalendar

    engine = make_engine(f"sqlite:///{workdir / 'warn.db'}")
    with engine.begin() as conn:
        migrate.upgrade(connection=conn)
    set_engine(engine)
    rng = np.random.default_rng(seed)
    now = dt.datetime.now(dt.UTC)
    today = local_day(now)
    with Session(engine) as s:
        load_defaults(s)
        d = Unit(level=UnitLevel.district, code="330522", name="长兴县", path="330522", depth=0)
        s.add(d)
        s.flush()
        grids = []
        for si in range(10):
            st = Unit(parent_id=d.id, level=UnitLevel.street, code=f"330522{si + 1:03d}", name=f"第{si + 1}街道",
                      path=f"330522/330522{si + 1:03d}", depth=1)
            s.add(st)
            s.flush()
            for ci in range(12):
                cc = f"{st.code}{ci + 1:03d}"
                co = Unit(parent_id=st.id, level=UnitLevel.community, code=cc, name=f"{st.name}第{ci + 1}社区",
                          path=f"{st.path}/{cc}", depth=2)
                s.add(co)
                s.flush()
                for gi in range(13 if ci < 6 else 12):
                    gc = f"{cc}{gi + 1:03d}"
                    g = Unit(parent_id=co.id, level=UnitLevel.grid, code=gc, name=f"{co.name}第{gi + 1}网格",
                             path=f"{co.path}/{gc}", depth=3)
                    s.add(g)
                    grids.append(g)
        s.flush()
        grid_rows = [(g.id, g.path) for g in grids]
        leaves = [(c.code, c.parent_code) for c in s.scalars(select(Category).where(
            Category.is_leaf.is_(True), Category.is_current.is_(True)))]
        s.commit()
    cal = WorkCalendar()
    first = today - dt.timedelta(days=days)
    day_list = [first + dt.timedelta(days=i) for i in range(days)]
    wd = np.array([1.15, 1.1, 1.05, 1.05, 1.1, 0.8, 0.75])
    day_w = np.array([(0.6 if (not cal.is_workday(x) and x.weekday() < 5) else wd[x.weekday()]) * (1 + i / days * 0.5)
                      for i, x in enumerate(day_list)])
    grid_w = rng.pareto(3.0, len(grid_rows)) + 0.5
    cat_w = rng.pareto(2.0, len(leaves)) + 0.2
    n = cases
    di = rng.choice(days, size=n, p=day_w / day_w.sum())
    gi = rng.choice(len(grid_rows), size=n, p=grid_w / grid_w.sum())
    ci = rng.choice(len(leaves), size=n, p=cat_w / cat_w.sum())
    injected: list[dict[str, object]] = []
    communities = sorted({p.rsplit("/", 1)[0] for _, p in grid_rows})
    groups = sorted({pc for _, pc in leaves if pc})
    extra_d, extra_g, extra_c = [], [], []
    for _ in range(spikes):
        com = communities[int(rng.integers(len(communities)))]
        grp = groups[int(rng.integers(len(groups)))]
        day_i = days - 1 - int(rng.integers(0, 6))
        g_idx = [i for i, (_, p) in enumerate(grid_rows) if p.startswith(com + "/")]
        c_idx = [i for i, (_, pc) in enumerate(leaves) if pc == grp]
        expected = n * day_w[day_i] / day_w.sum() * grid_w[g_idx].sum() / grid_w.sum() \
            * cat_w[c_idx].sum() / cat_w.sum()
        bump = int(4 * np.sqrt(max(expected, 1.0)) + 4)
        extra_d += [day_i] * bump
        extra_g += list(rng.choice(g_idx, size=bump))
        extra_c += list(rng.choice(c_idx, size=bump))
        injected.append({"community": com, "group": grp, "day": day_list[day_i].isoformat(), "extra": bump,
                         "expected": round(float(expected), 2)})
    di = np.concatenate([di, np.array(extra_d, dtype=int)])
    gi = np.concatenate([gi, np.array(extra_g, dtype=int)])
    ci = np.concatenate([ci, np.array(extra_c, dtype=int)])
    tz = district_tz()
    t0 = time.perf_counter()
    with engine.begin() as conn:
        writer = BulkWriter(conn)
        rows: list[dict[str, object]] = []
        minutes = rng.integers(8 * 60, 20 * 60, size=di.size)
        for i in range(di.size):
            day = day_list[int(di[i])]
            at = dt.datetime.combine(day, dt.time(0, 0), tz).astimezone(dt.UTC) + dt.timedelta(minutes=int(minutes[i]))
            gid, path = grid_rows[int(gi[i])]
            cid = uuid.uuid4()
            rows.append({"id": cid, "number": f"B{i:09d}", "channel": Channel.hotline, "flow": "event",
                         "state": CaseState.closed,
                         "category_code": leaves[int(ci[i])][0], "title": "测试", "description": "测试事件",
                         "urgency": Urgency.normal, "grid_id": gid, "path": path, "attributes": {}, "anonymous": True,
                         "is_public": False, "is_joint": False, "reported_at": at, "reported_day": day,
                         "handle_due_at": at + dt.timedelta(days=3), "warning_level": "none",
                         "overdue": bool(rng.random() < 0.05), "reopen_count": 0, "support_count": 0,
                         "merged_count": 0, "is_history": False, "created_at": at, "updated_at": at, "version": 1})
            if len(rows) >= 50_000:
                writer.insert(Case.__table__, rows)
                rows = []
        writer.insert(Case.__table__, rows)
    print(f"wrote {di.size:,} cases in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return engine, injected


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--spikes", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--workdir", type=Path, help="keep the database here and reuse it on the next run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if (work / "injected.json").exists():
            from zhili.core.db import make_engine, set_engine

            engine = make_engine(f"sqlite:///{work / 'warn.db'}")
            set_engine(engine)
            injected = json.loads((work / "injected.json").read_text())
            with engine.begin() as conn:
                conn.exec_driver_sql("DELETE FROM intel_warning")
                conn.exec_driver_sql("DELETE FROM notification WHERE kind = 'intel_warning'")
        else:
            engine, injected = build(work, cases=args.cases, days=args.days, spikes=args.spikes, seed=args.seed)
            (work / "injected.json").write_text(json.dumps(injected))
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        from zhili.intel.models import Warning
        from zhili.intel.warnings import scan

        with Session(engine) as s:
            first = scan(s)
            s.commit()
            t0 = time.perf_counter()
            second = scan(s)
            second_s = time.perf_counter() - t0
            surges = list(s.scalars(select(Warning).where(Warning.kind == "surge")))
        found = 0
        for inj in injected:
            inj["found"] = any(w.path == inj["community"] and w.category_code == inj["group"]
                   and w.period_start is not None and w.period_start.isoformat() <= str(inj["day"])
                   and w.period_end is not None and str(inj["day"]) <= w.period_end.isoformat() for w in surges)
            found += bool(inj["found"])
        out = {"cases": args.cases, "days": args.days, "scan_seconds": first.total_seconds,
               "parts": first.seconds, "raised": first.raised, "rescan_seconds": round(second_s, 3),
               "rescan_raised": second.total_raised, "spikes": len(injected), "spikes_found": found,
               "surge_warnings": len(surges), "other_surges": len(surges) - found,
               "missed": [i for i in injected if not i["found"]],
               "others": [(w.path, w.category_code, str(w.period_start), w.detail.get("days"), w.detail.get("observed"),
                           w.detail.get("expected"), w.detail.get("p_value")) for w in surges
                          if not any(w.path == i["community"] and w.category_code == i["group"] for i in injected)]}
        print(json.dumps(out, ensure_ascii=False) if args.json else "\n".join(f"{k}: {v}" for k, v in out.items()))
        engine.dispose()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
