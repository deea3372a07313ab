"""Data-quality report (数据质量) on a large source: what a page view costs, cold and cached.

Builds, in a scratch SQLite database (or ``--postgres URL``: a scratch schema there), one persons source with
``--records`` encrypted source records (names, phones, ID numbers, addresses with realistic gaps, a few shared
ID numbers) and a second source holding ``--overlap`` of the same people, linked pairwise into golden records
(a share of them with a different phone). Then measures, in the same run:

* ``decrypt all``   — the baseline: streaming and decrypting every record of the source once (what a report
  without a cache would pay on every view);
* ``refresh``       — :func:`zhili.datahub.quality.refresh`, the pipeline's one-off cost after an import
  (completeness, key uniqueness, cross-source consistency over the linked records only);
* ``report cold``   — ``source_quality`` after the cache was dropped (the first view after an import when the
  pipeline did not refresh);
* ``report cached`` — ``source_quality`` again (best of ``--repeat``), and ``overview`` of both sources;

and prints a table with each time's ratio to the baseline.

    PYTHONPATH=src .venv/bin/python bench/hub_quality.py [--records 200000] [--overlap 0.1] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def best_of(repeat: int, fn: Callable[[], T]) -> tuple[float, T]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result  # type: ignore[return-value]


def id_number(rng: random.Random) -> str:
    """A random ID number with a valid GB 11643 check digit."""
    body = f"330522{rng.randint(1940, 2010)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    return body + check


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--overlap", type=float, default=0.1, help="share of the records also in the second source")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--postgres", default="")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="hubq-"))
    os.environ["ZHILI_VAR_DIR"] = str(workdir)
    os.environ.pop("ZHILI_DATABASE_URL", None)

    from sqlalchemy import insert, text
    from sqlalchemy.orm import Session

    from zhili.core import migrate
    from zhili.core.crypto import get_cipher
    from zhili.core.db import make_engine, set_engine, utcnow
    from zhili.core.jurisdiction import Principal
    from zhili.core.security import Role
    from zhili.datahub import quality
    from zhili.datahub.models import (
        Connector,
        EntityType,
        GoldenLink,
        GoldenRecord,
        Import,
        ImportStatus,
        MatchType,
        SecurityLevel,
        Source,
        SourceRecord,
        Target,
    )
    from zhili.datahub.records import key_index, row_hash, seal_values
    from zhili.regions.models import Unit, UnitLevel

    schema = None
    if args.postgres:
        schema = f"hubq_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.postgres)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        engine = make_engine(args.postgres, connect_args={"options": f"-csearch_path={schema}"})
    else:
        engine = make_engine(f"sqlite:///{workdir / 'bench.db'}")
    with engine.begin() as conn:
        migrate.upgrade(connection=conn)
    set_engine(engine)
    cipher = get_cipher()
    rng = random.Random(16)
    import datetime as dt

    t0 = time.perf_counter()
    with Session(engine) as s:
        unit = Unit(level=UnitLevel.district, code="330522", name="长兴县", path="330522", depth=0,
                    valid_from=dt.date(2020, 1, 1))
        s.add(unit)
        s.flush()
        src_a = Source(name="bench-police", title="公安人口库", target=Target.persons, unit_id=unit.id, path=unit.path,
                       security_level=SecurityLevel.sensitive, refresh_days=7)
        src_b = Source(name="bench-civil", title="民政台账", target=Target.persons, unit_id=unit.id, path=unit.path,
                       security_level=SecurityLevel.internal, refresh_days=30)
        s.add_all([src_a, src_b])
        s.flush()
        imports = {}
        for src in (src_a, src_b):
            imp = Import(source_id=src.id, path=src.path, connector=Connector.csv, filename="bench.csv",
                         status=ImportStatus.done, finished_at=utcnow(), rows_read=args.records,
                         rows_imported=args.records, stats={})
            s.add(imp)
            s.flush()
            imports[src.id] = imp.id
        n_overlap = int(args.records * args.overlap)
        batch_a: list[dict[str, Any]] = []
        batch_b: list[dict[str, Any]] = []
        golden: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        people: list[str] = []

        def record(src: Source, key: str, values: dict[str, Any], strong: str | None) -> dict[str, Any]:
            rid = uuid.uuid4()
            return {"id": rid, "source_id": src.id, "natural_key": key, "target_type": Target.persons,
                    "path": src.path, "key_bidx": key_index("persons", strong, cipher) if strong else None,
                    "row_hash": row_hash(values), "values_enc": seal_values(values, rid, cipher),
                    "first_import_id": imports[src.id], "last_import_id": imports[src.id], "row_number": 1}

        def flush() -> None:
            for table, rows in ((SourceRecord, batch_a), (SourceRecord, batch_b), (GoldenRecord, golden),
                                (GoldenLink, links)):
                if rows:
                    s.execute(insert(table), rows)
                    rows.clear()

        for i in range(args.records):
            idn = id_number(rng) if rng.random() > 0.02 or not people else rng.choice(people)  # 2 % shared keys
            if len(people) < 1000:
                people.append(idn)
            phone = f"1{rng.choice('3589')}{rng.randint(0, 999_999_999):09d}"
            values = {"name": rng.choice("张李王赵陈刘杨黄") + rng.choice("伟芳娜敏静丽强磊"), "id_number": idn,
                      "phone": phone if rng.random() > 0.15 else "", "address": "金陵路8号" if rng.random() > 0.4
                      else None, "gender": rng.choice(["男", "女"])}
            a = record(src_a, f"A{i}", values, idn)
            batch_a.append(a)
            if i < n_overlap:
                other = dict(values)
                if rng.random() < 0.2:
                    other["phone"] = f"13{rng.randint(0, 999_999_999):09d}"
                b = record(src_b, f"B{i}", other, idn)
                batch_b.append(b)
                gid = uuid.uuid4()
                golden.append({"id": gid, "entity_type": EntityType.person, "path": unit.path})
                links += [{"id": uuid.uuid4(), "golden_id": gid, "source_record_id": a["id"],
                           "match_type": MatchType.seed},
                          {"id": uuid.uuid4(), "golden_id": gid, "source_record_id": b["id"],
                           "match_type": MatchType.deterministic}]
            if len(batch_a) >= 5000:
                flush()
        flush()
        s.commit()
        a_id = src_a.id
    build = time.perf_counter() - t0

    who = Principal(user_id=uuid.uuid4(), username="bench", display_name="bench", role=Role.admin,
                    scope_paths=("330522",))
    results: list[tuple[str, float]] = []
    with Session(engine) as s:
        def decrypt_all() -> int:
            return sum(1 for _ in quality._iter_values(s, SourceRecord.source_id == a_id))

        t_base, n = best_of(1, decrypt_all)
        results.append(("decrypt all (baseline)", t_base))
        t_refresh, _ = best_of(1, lambda: quality.refresh(s, a_id))
        s.commit()
        results.append(("refresh (after an import)", t_refresh))

        def cold() -> dict[str, Any]:
            latest = s.get(Import, imports[a_id])
            assert latest is not None
            latest.stats = {}
            s.flush()
            return quality.source_quality(s, principal=who, source_id=a_id)

        t_cold, rep = best_of(1, cold)
        s.commit()
        results.append(("report cold (no cache)", t_cold))
        t_warm, rep = best_of(args.repeat, lambda: quality.source_quality(s, principal=who, source_id=a_id))
        results.append(("report cached", t_warm))
        t_over, _ = best_of(args.repeat, lambda: quality.overview(s, principal=who))
        results.append(("overview cached (2 sources)", t_over))
    set_engine(None)
    engine.dispose()
    if schema:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    shutil.rmtree(workdir, ignore_errors=True)

    summary = {"records": args.records, "linked_pairs": n_overlap, "build_s": round(build, 1),
               "database": "postgresql" if args.postgres else "sqlite", "decrypted": n,
               "times_s": {k: round(v, 4) for k, v in results},
               "score": rep["score"], "consistency": rep["parts"]["consistency"],
               "completeness": rep["completeness"]["overall"], "uniqueness": rep["uniqueness"]["overall"],
               "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    print(f"records {args.records:,} (+{n_overlap:,} linked in a second source), {summary['database']}, "
          f"built in {build:.1f} s; python {sys.version.split()[0]}")
    print(f"{'measure':32} {'seconds':>10} {'× baseline':>12}")
    for name, secs in results:
        print(f"{name:32} {secs:10.4f} {secs / t_base:12.4f}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (whole run, build included)")
    print(f"score {rep['score']}, completeness {rep['completeness']['overall']}, uniqueness "
          f"{rep['uniqueness']['overall']}, consistency {rep['parts']['consistency']}")


if __name__ == "__main__":
    main()
