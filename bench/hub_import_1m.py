"""The data hub end to end at scale: a synthetic multi-source person import, validated and resolved.

Builds a fresh migrated database (SQLite file, or a scratch schema of ``--postgres URL``), seeds the small demo
district (``zhili.seed.demo``, 30 grids), registers three person sources through :mod:`zhili.datahub.sources`,
saves one mapping template per source (the specs below) and writes three CSV files from ``bench/hub_synth.py``
(``--n`` rows in total, about 10 % of them a second, noisy copy of a person of another source; a 网格 column with
a grid code of the demo district is added so every person can be placed). Then, in the same run:

1. **baseline** — each file read through its connector and every row mapped by its template, nothing else;
2. **import <source>** — :func:`zhili.datahub.imports.import_file` per file, the real pipeline: mapping,
   validation (ID checksum, grid reference), source records (encrypted values), entity resolution into golden
   records (deterministic by ID number, probabilistic against the register neighbourhood), survivorship,
   register rows, change events, quarantine — one commit per batch;
3. **resolve** — :func:`zhili.datahub.golden.resolve` over whatever the imports left without a golden record
   (nothing, when the handler resolved every row inline);

and prints per stage rows, seconds, rows/s, the peak RSS so far and the time against the baseline, then
pair-level precision and recall of the golden records against the generator's truth (two source records linked
to one golden record = one predicted pair; a row quarantined is a record never linked).

    PYTHONPATH=src .venv/bin/python bench/hub_import_1m.py [--n 1000000] [--batch 2000] [--postgres URL]
        [--profile out.prof]   # cProfile of the import stages

The generator runs in a child process, so its memory is not in the reported peak RSS.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

TMP = Path(tempfile.mkdtemp(prefix="zhili-hub-1m-"))
os.environ.setdefault("ZHILI_VAR_DIR", str(TMP))
os.environ.setdefault("ZHILI_KEY_FILE", str(TMP / "keys.json"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

ORDER = ("gongan", "minzheng", "weijian")  # the health source (40 % without ID number) last
TRUST = {"gongan": 90, "minzheng": 80, "weijian": 50}
TITLES = {"gongan": "公安人口库（模拟）", "minzheng": "民政救助对象（模拟）", "weijian": "卫健就诊人员（模拟）"}
GRID_COLUMN = "网格"


def spec_of(source: str) -> dict[str, Any]:
    """The mapping template of a synthetic source (hub_synth's column sets)."""
    name, idn, birth, address, phone = {
        "gongan": ("姓名", "公民身份号码", "出生日期", "户籍地址", "联系电话"),
        "minzheng": ("姓名", "身份证号", "出生年月日", "现住址", "手机"),
        "weijian": ("患者姓名", "证件号码", "出生日期", "居住地址", "联系方式"),
    }[source]
    formats = {"gongan": ["%Y-%m-%d"], "minzheng": ["%Y年%m月%d日"], "weijian": ["%Y%m%d"]}[source]
    gender: dict[str, Any] = {"field": "gender", "column": "性别"}
    if source == "weijian":
        gender["value_map"] = {"1": "男", "2": "女"}
    return {
        "target": "persons", "title": TITLES[source], "key": ["attributes.row_no"],
        "source_columns": ["编号", name, GRID_COLUMN],
        "fields": [
            {"field": "attributes.row_no", "column": "编号", "kind": "text"},
            {"field": "name", "column": name, "required": True},
            # the health system lacks the number for many patients: optional there (they resolve by name,
            # birth date and phone); a number present must still pass GB 11643
            {"field": "id_number", "column": idn, **({"required": False} if source == "weijian" else {})},
            gender,
            {"field": "birth_date", "column": birth, "date_formats": formats},
            {"field": "address", "column": address},
            {"field": "phone", "column": phone},
            {"field": "grid", "column": GRID_COLUMN},
        ],
    }


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the generator (child process) -------------------------------------------------------------------------------

def generate_files(n: int, seed: int, out: Path, grids: list[str]) -> None:
    from hub_synth import COLUMNS, ENCODINGS, SOURCES, generate

    rows, truth = generate(n, seed)
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    for source in SOURCES:
        with (out / f"{source}.csv").open("w", encoding=ENCODINGS[source], newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow((*COLUMNS[source], GRID_COLUMN))
            for row in rows[source]:
                writer.writerow((*(row[c] for c in COLUMNS[source]), rng.choice(grids)))
    with (out / "truth.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("left", "right"))
        writer.writerows(truth)


# -- the run -----------------------------------------------------------------------------------------------------

def setup(engine: Any) -> tuple[Any, list[str]]:
    """The small demo district and an admin of it; returns (principal, grid codes)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from zhili.core.jurisdiction import Principal
    from zhili.core.security import Role
    from zhili.regions.models import Unit, UnitLevel
    from zhili.seed.demo import seed_demo
    from zhili.users.models import User

    seed_demo(engine, scale="small", workers=0)
    with Session(engine) as s:
        district = s.scalars(select(Unit).where(Unit.depth == 0)).first()
        assert district is not None
        grids = sorted(s.scalars(select(Unit.code).where(Unit.level == UnitLevel.grid)))
        u = User(id=uuid.uuid4(), username="bench-hub", display_name="压测", role=Role.admin, password_hash="!")
        s.add(u)
        s.commit()
        p = Principal(user_id=u.id, username=u.username, display_name="压测", role=Role.admin,
                      scope_paths=(district.path,), unit_ids=(district.id,))
        return p, grids


def register_sources(engine: Any, principal: Any) -> dict[str, uuid.UUID]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from zhili.datahub import sources, templates
    from zhili.regions.models import Unit

    out: dict[str, uuid.UUID] = {}
    with Session(engine) as s:
        district = s.scalars(select(Unit).where(Unit.depth == 0)).first()
        assert district is not None
        for name in ORDER:
            src = sources.create_source(s, principal=principal, data={
                "name": f"synth-{name}", "title": TITLES[name], "target": "persons", "security_level": "internal",
                "unit_id": district.id, "trust": TRUST[name]})
            templates.save_template(s, principal=principal, name=f"synth-{name}", title=TITLES[name],
                                    spec=spec_of(name), source_id=src.id, new=True)
            out[name] = src.id
        s.commit()
    return out


def baseline(engine: Any, principal: Any, files: dict[str, Path]) -> tuple[int, float]:
    """Connector + mapper alone over the three files."""
    from sqlalchemy.orm import Session

    from zhili.datahub import templates
    from zhili.datahub.imports import open_stream

    rows, t0 = 0, time.perf_counter()
    with Session(engine) as s:
        for name in ORDER:
            _, mapper = templates.compiled(s, principal=principal, name=f"synth-{name}")
            stream = open_stream(files[name])
            mapper = mapper.bind(list(stream.columns)) if hasattr(mapper, "bind") else mapper
            for _, raw in stream:
                mapper.map(raw)
                rows += 1
    return rows, time.perf_counter() - t0


def quality(engine: Any, truth_path: Path) -> dict[str, Any]:
    """Pair-level precision and recall of the golden records against the truth."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from zhili.datahub.models import GoldenLink, GoldenRecord, SourceRecord

    members: dict[uuid.UUID, list[str]] = defaultdict(list)
    with Session(engine) as s:
        survivor = dict(s.execute(select(GoldenRecord.id, GoldenRecord.merged_into)).all())

        def final(g: uuid.UUID) -> uuid.UUID:
            while survivor.get(g) is not None:
                g = survivor[g]
            return g

        q = (select(SourceRecord.natural_key, GoldenLink.golden_id)
             .join(GoldenLink, GoldenLink.source_record_id == SourceRecord.id)
             .where(GoldenLink.unlinked_at.is_(None)))
        linked = 0
        for key, gid in s.execute(q):
            members[final(gid)].append(key)
            linked += 1
        goldens = len(members)
    predicted: set[tuple[str, str]] = set()
    for keys in members.values():
        keys.sort()
        predicted.update((a, b) for i, a in enumerate(keys) for b in keys[i + 1:])
    with truth_path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        truth = {(a, b) for a, b in reader}
    tp = len(predicted & truth)
    return {"linked": linked, "goldens": goldens, "predicted": len(predicted), "true": len(truth), "tp": tp,
            "precision": tp / len(predicted) if predicted else 1.0, "recall": tp / len(truth) if truth else 1.0}


def main() -> None:
    ap = argparse.ArgumentParser(description="1M-person multi-source import, end to end")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=2016)
    ap.add_argument("--postgres", default="")
    ap.add_argument("--profile", default="")
    ap.add_argument("--generate-only", default="", help=argparse.SUPPRESS)  # child: out dir
    ap.add_argument("--grids", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate_only:
        generate_files(args.n, args.seed, Path(args.generate_only), args.grids.split(","))
        return

    from sqlalchemy import func, select, text
    from sqlalchemy.orm import Session

    from zhili.core import migrate
    from zhili.core.db import make_engine, set_engine
    from zhili.datahub import golden
    from zhili.datahub.imports import import_file
    from zhili.datahub.models import EntityType, GoldenLink, MatchCandidate, Source, SourceRecord

    load0 = os.getloadavg()
    t = time.perf_counter()
    schema = ""
    if args.postgres:
        schema = f"hub1m_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.postgres)
        with admin.begin() as c:
            c.execute(text(f"CREATE SCHEMA {schema}"))
        engine = make_engine(args.postgres, connect_args={"options": f"-csearch_path={schema}"})
    else:
        engine = make_engine(f"sqlite:///{TMP / 'hub.db'}")
    with engine.begin() as conn:
        migrate.upgrade(connection=conn)
    set_engine(engine)
    principal, grids = setup(engine)
    source_ids = register_sources(engine, principal)
    t_setup = time.perf_counter() - t
    t = time.perf_counter()
    out = TMP / "synth"
    subprocess.run([sys.executable, __file__, "--n", str(args.n), "--seed", str(args.seed),
                    "--generate-only", str(out), "--grids", ",".join(grids)], check=True)
    t_gen = time.perf_counter() - t
    files = {name: out / f"{name}.csv" for name in ORDER}
    print(f"setup (migrate, demo district, sources, templates) {t_setup:.1f}s; generated {args.n:,} rows in "
          f"{t_gen:.1f}s (child process); load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}",
          file=sys.stderr)

    stages: list[tuple[str, int, float, float, str]] = []
    rows, secs = baseline(engine, principal, files)
    stages.append(("baseline: connector + mapper", rows, secs, peak_mb(), ""))
    base_rate = rows / secs

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    loads = [load0[0]]
    total_rows, total_secs = 0, 0.0
    for name in ORDER:
        with Session(engine, expire_on_commit=False) as s:
            src = s.get(Source, source_ids[name])
            t0 = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            imp = import_file(s, principal=principal, source=src, path=files[name], template=f"synth-{name}",
                              batch_size=args.batch)
            if profiler is not None:
                profiler.disable()
            secs = time.perf_counter() - t0
        loads.append(os.getloadavg()[0])
        total_rows += imp.rows_read
        total_secs += secs
        stages.append((f"import {name}", imp.rows_read, secs, peak_mb(),
                       f"{imp.status.value}; new {imp.rows_imported:,} upd {imp.rows_updated:,} "
                       f"quar {imp.rows_quarantined:,}" + (f" ({imp.error})" if imp.error else "")))
        print(f"  {stages[-1][0]}: {imp.rows_read:,} rows in {secs:.1f}s, peak RSS {peak_mb():.0f} MB, "
              f"load {loads[-1]:.2f}", file=sys.stderr, flush=True)
    with Session(engine, expire_on_commit=False) as s:
        linked = select(GoldenLink.source_record_id).where(GoldenLink.unlinked_at.is_(None))
        left = s.scalar(select(func.count()).select_from(SourceRecord).where(SourceRecord.id.not_in(linked))) or 0
        t0 = time.perf_counter()
        if left:
            golden.resolve(s, principal=principal, entity=EntityType.person, batch=args.batch)
            s.commit()
        secs = time.perf_counter() - t0
        candidates = s.scalar(select(func.count()).select_from(MatchCandidate)) or 0
    stages.append(("resolve (left unresolved)", left, secs, peak_mb(), ""))
    total_secs += secs
    stages.append(("total: import + validate + resolve", total_rows, total_secs, peak_mb(), ""))
    if profiler is not None:
        profiler.dump_stats(args.profile)

    print(f"\n{'stage':38} {'rows':>10} {'seconds':>9} {'rows/s':>9} {'peak RSS MB':>12} {'× baseline':>10}  notes")
    for label, n, secs, rss, note in stages:
        rate = n / secs if secs else 0.0
        ratio = (secs / (n / base_rate)) if n and base_rate else 0.0
        print(f"{label:38} {n:>10,} {secs:>9.1f} {rate:>9,.0f} {rss:>12,.0f} {ratio:>10.1f}  {note}")
    q = quality(engine, out / "truth.csv")
    print(f"\ngolden records {q['goldens']:,} over {q['linked']:,} linked records; review candidates {candidates:,}")
    print(f"pairs: precision {q['precision']:.4f}, recall {q['recall']:.4f} (tp {q['tp']:,}, predicted "
          f"{q['predicted']:,}, true {q['true']:,})")
    print(f"database {'PostgreSQL' if args.postgres else 'SQLite'}; batch {args.batch}; load average (1 min) "
          f"at start and after each import: {' '.join(f'{x:.2f}' for x in loads)}; 2 cores")
    if args.postgres:
        engine.dispose()
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))


if __name__ == "__main__":
    main()
