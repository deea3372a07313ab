"""The data hub's import pipeline on a large historical-case (hotline) file: rows/s of each stage.

Builds a scratch SQLite database (migrated; a district with two grids and one category), writes a CSV of N hotline
records (default 100,000; 5 % with an unreadable time, so quarantine is exercised; 60 % with a point inside the
grids, the rest with an address only, left unplaced), then measures in the same run:

1. **read + map** — the CSV read and every row mapped, nothing else (the baseline);
2. **dry run** — read, map, validate, compare with the stored records (writes only the import row);
3. **import** — the full pipeline: source records (encrypted values), historical cases with their timeline event,
   case numbers and statistics, quarantined rows, one commit per batch;
4. **re-import** — the same file again: every row unchanged, nothing written but the counts.

    PYTHONPATH=src .venv/bin/python bench/hub_import.py [--rows 100000] [--batch 1000] [--postgres URL]

Prints rows/s per stage, the ratio to the baseline and the peak RSS.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TMP = Path(tempfile.mkdtemp(prefix="zhili-hub-bench-"))
os.environ.setdefault("ZHILI_VAR_DIR", str(TMP))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from zhili.core.db import make_engine, set_engine  # noqa: E402
from zhili.datahub.rows import Mapped, RawRow, RowError  # noqa: E402

COLUMNS = ["编号", "标题", "内容", "分类", "时间", "经度", "纬度", "地址", "答复"]


class CsvStream:
    """A plain csv.DictReader stream (the baseline's reader; the connectors module may be used instead)."""

    def __init__(self, path: Path) -> None:
        self.path, self.encoding = path, "utf-8"
        with path.open(encoding="utf-8", newline="") as f:
            self.columns = next(csv.reader(f))
        self.size, self.done = path.stat().st_size, 0

    def __iter__(self) -> Iterator[tuple[int, RawRow]]:
        with self.path.open(encoding="utf-8", newline="") as f:
            for i, row in enumerate(csv.DictReader(f), start=1):
                self.done = f.buffer.tell() if i % 1000 == 0 else self.done
                yield i, row

    @property
    def progress(self) -> tuple[int, int | None]:
        return self.done, self.size


class HotlineMapper:
    target = "cases"
    source_columns = COLUMNS

    def map(self, raw: RawRow) -> Mapped:
        errors: list[RowError] = []
        v: dict[str, Any] = {"external_id": raw["编号"], "title": raw["标题"], "description": raw["内容"],
                             "category_code": raw["分类"] or None, "address": raw["地址"] or None,
                             "reply": raw["答复"] or None}
        try:
            v["reported_at"] = dt.datetime.strptime(raw["时间"], "%Y-%m-%d %H:%M:%S")
        except ValueError:
            errors.append(RowError("reported_at", "mapping", "上报时间不是可识别的日期时间"))
        if raw["经度"]:
            v["lon"], v["lat"] = float(raw["经度"]), float(raw["纬度"])
        return Mapped(values=v, errors=errors, natural_key=raw["编号"])


def write_csv(path: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    start = dt.datetime(2023, 1, 1)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for i in range(n):
            t = start + dt.timedelta(minutes=rng.randint(0, 60 * 24 * 900))
            when = t.strftime("%Y-%m-%d %H:%M:%S") if rng.random() > 0.05 else "某天"
            point = rng.random() < 0.6
            w.writerow([f"M{i:08d}", f"反映{i % 97}号路段问题", f"市民反映第{i % 997}号楼附近路灯不亮，已持续多日。",
                        "HB01" if rng.random() < 0.5 else "", when,
                        f"{119.0 + rng.random() * 0.5:.5f}" if point else "",
                        f"{31.0 + rng.random() * 0.25:.5f}" if point else "",
                        "" if point else f"A市A{i % 9}区某路{i % 300}号", "已转相关部门处理" if i % 3 else ""])


def setup(engine: Any) -> tuple[Any, Any]:
    """A district, two grids with boundaries, a category, an admin; returns (principal, source)."""
    from zhili.cases.models import Category
    from zhili.core.jurisdiction import Principal
    from zhili.core.security import Role
    from zhili.datahub.models import Source, Target
    from zhili.regions.models import GeoVersion, Unit, UnitBoundary, UnitLevel
    from zhili.users.models import User

    def square(x: float, y: float, size: float) -> str:
        ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
        return json.dumps({"type": "Polygon", "coordinates": [ring]})

    with Session(engine) as s:
        d = Unit(id=uuid.uuid4(), level=UnitLevel.district, code="330522", name="长兴县", path="330522", depth=0,
                 valid_from=dt.date(2020, 1, 1))
        s.add(d)
        s.flush()
        for k, x in ((1, 119.0), (2, 119.25)):
            code = f"33052200100100{k}"
            g = Unit(id=uuid.uuid4(), parent_id=d.id, level=UnitLevel.grid, code=code, name=f"第{k}网格",
                     path=f"330522/{code}", depth=1, valid_from=dt.date(2020, 1, 1))
            s.add(g)
            s.flush()
            s.add(UnitBoundary(unit_id=g.id, geojson=square(x, 31.0, 0.25), min_lon=x, min_lat=31.0,
                               max_lon=x + 0.25, max_lat=31.25, valid_from=dt.date(2020, 1, 1)))
        s.add(Category(code="HB01", name="路灯不亮", kind="component", is_current=True, is_leaf=True))
        u = User(id=uuid.uuid4(), username="bench", display_name="压测", role=Role.admin, password_hash="!")
        s.add(u)
        src = Source(id=uuid.uuid4(), name="bench-12345", title="12345热线历史", target=Target.cases,
                     security_level="internal", unit_id=d.id, path=d.path)
        s.add(src)
        gv = s.get(GeoVersion, 1)
        if gv is not None:
            gv.version += 1
        s.commit()
        p = Principal(user_id=u.id, username="bench", display_name="压测", role=Role.admin, scope_paths=(d.path,),
                      unit_ids=(d.id,))
        return p, src.id


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--postgres", default="")
    args = ap.parse_args()
    from zhili.core import migrate
    from zhili.datahub.models import Source
    from zhili.datahub.pipeline import run_import

    if args.postgres:
        schema = f"hubbench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.postgres)
        with admin.begin() as c:
            c.execute(text(f"CREATE SCHEMA {schema}"))
        engine = make_engine(args.postgres, connect_args={"options": f"-csearch_path={schema}"})
    else:
        engine = make_engine(f"sqlite:///{TMP / 'hub.db'}")
    with engine.begin() as conn:
        migrate.upgrade(connection=conn)
    set_engine(engine)
    principal, source_id = setup(engine)
    path = TMP / "hotline.csv"
    t = time.perf_counter()
    write_csv(path, args.rows)
    print(f"wrote {args.rows:,} rows ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t:.1f}s",
          file=sys.stderr)
    results: list[tuple[str, float, Any]] = []

    t = time.perf_counter()
    mapper = HotlineMapper()
    n = sum(1 for _, raw in CsvStream(path) if mapper.map(raw) is not None)
    results.append(("read + map (baseline)", time.perf_counter() - t, n))

    def run(label: str, **kw: Any) -> None:
        with Session(engine, expire_on_commit=False) as s:
            src = s.get(Source, source_id)
            t0 = time.perf_counter()
            imp = run_import(s, principal=principal, source=src, stream=CsvStream(path), mapper=HotlineMapper(),
                             filename=path.name, file_hash=uuid.uuid4().hex, batch_size=args.batch,
                             resolver=False, **kw)
            results.append((label, time.perf_counter() - t0, imp))

    run("dry run (map, validate, compare)", dry_run=True)
    run("import (records, cases, quarantine)")
    run("re-import (all unchanged)")
    base = results[0][1]
    print(f"\n{'stage':38} {'rows':>9} {'seconds':>8} {'rows/s':>9} {'× baseline':>10}  counts")
    for label, secs, imp in results:
        rows = imp if isinstance(imp, int) else imp.rows_read
        counts = "" if isinstance(imp, int) else (f"new {imp.rows_imported:,} upd {imp.rows_updated:,} "
                                                  f"same {imp.rows_unchanged:,} quar {imp.rows_quarantined:,}")
        print(f"{label:38} {rows:>9,} {secs:>8.1f} {rows / secs:>9,.0f} {secs / base:>10.1f}  {counts}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {peak:.0f} MB; database {'PostgreSQL' if args.postgres else 'SQLite'}; batch {args.batch}")
    if args.postgres:
        engine.dispose()
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))


if __name__ == "__main__":
    main()
