"""Benchmark address parsing and placement (``zhili.datahub.address``) on the generated address table.

Seeds a demo district into a temporary SQLite database — by default a "bench" scale of 6 streets (the four 街道
and two towns, so rural villages and their 自然村 houses are in it), 16 communities, 60 grids, 20,000 persons —
generates the address table from it (``tests/datahub/hub_address_cases.py``: households, buildings and
organisations written with realistic noise, plus other districts and masked names), and reports, in the same run:

* precision and recall of placement at the street, community, building and household levels;
* the administrative levels (province, city, district, street) named by our parser+resolver and by the ``cpca``
  package alone (its national division table; it has no street level) as the baseline;
* per-noise-kind recall at the building level, and the misses;
* time: the resolver's loading, per address for ours (warm) and for cpca (one call per address and batched).

Precision = correct placements / placements made; recall = correct placements / placeable addresses.

Usage::

    PYTHONPATH=src .venv/bin/python bench/hub_address.py [--n 300] [--seed 16] [--scale bench|small|medium] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "datahub"))

from hub_address_cases import LEVELS, AddressCase, address_cases, placed_levels, score
from sqlalchemy.orm import Session

from zhili.core.crypto import FieldCipher
from zhili.core.db import make_engine
from zhili.core.migrate import upgrade
from zhili.core.settings import new_key_material
from zhili.datahub.address import Resolver
from zhili.seed.demo import SCALES, ScaleSpec, seed_demo

BENCH_SCALE = ScaleSpec(streets=6, communities=16, grids=60, persons=20_000)
ADMIN = ("province", "city", "district", "street")


def _admin_score(cases: list[AddressCase], named: list[tuple[str | None, ...]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for i, level in enumerate(ADMIN):
        truth = [c.admin[i] for c in cases]
        made = sum(n[i] is not None for n in named)
        correct = sum(n[i] is not None and n[i] == t for n, t in zip(named, truth, strict=True))
        known = sum(t is not None for t in truth)
        out[level] = {"precision": correct / made if made else float("nan"),
                      "recall": correct / known if known else float("nan"), "made": made, "correct": correct,
                      "known": known}
    return out


def _ours_admin(r: Resolver, text: str) -> tuple[str | None, ...]:
    parts = r.parse(text)
    pl = r.place_parts(parts)
    names = {u["level"]: u["name"] for u in r.describe(pl)["units"]} if pl.unit_id else {}
    return (names.get("province") or parts.province, names.get("city") or parts.city,
            names.get("district") or parts.district, names.get("street") or parts.street)


def _cpca_admin(texts: list[str]) -> list[tuple[str | None, ...]]:
    import cpca

    df = cpca.transform(texts)
    out = []
    for rec in df.to_dict("records"):
        city = rec.get("市")
        if city == "市辖区":
            city = rec.get("省")
        out.append((rec.get("省") or None, city or None, rec.get("区") or None, None))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--scale", default="bench", choices=["bench", *SCALES])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    if args.scale == "bench":
        SCALES["bench"] = BENCH_SCALE  # a bench-only size between small and medium, with towns
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        upgrade(url=url)
        engine = make_engine(url)
        t0 = time.perf_counter()
        seed_demo(engine, scale=args.scale, cipher=FieldCipher.from_material(new_key_material()), workers=0)
        seed_s = time.perf_counter() - t0
        with Session(engine) as s:
            cases = address_cases(s, n=args.n, seed=args.seed)
            t0 = time.perf_counter()
            r = Resolver(s)
            load_s = time.perf_counter() - t0
            r.place("浙江省湖州市长兴县雉城街道")  # warm up cpca (its import loads pandas and the national table)
            r.place("北京市朝阳区建国路1号")
            t0 = time.perf_counter()
            placements = [r.place(c.text) for c in cases]
            ours_s = time.perf_counter() - t0
            ours_admin = [_ours_admin(r, c.text) for c in cases]
            counts = {"buildings": len(r.buildings), "households": sum(len(v) for v in r.households_of.values()),
                      "streets": len(r.by_level["street"]), "communities": len(r.by_level["community"])}
        engine.dispose()
    import cpca

    t0 = time.perf_counter()
    for c in cases:
        cpca.transform([c.text])
    cpca_one_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    cpca_admin = _cpca_admin([c.text for c in cases])
    cpca_batch_s = time.perf_counter() - t0

    placed = [placed_levels(p) for p in placements]
    got = score(cases, placed)
    admin_ours, admin_cpca = _admin_score(cases, ours_admin), _admin_score(cases, cpca_admin)
    kinds: dict[str, Counter[str]] = {}
    misses: list[tuple[str, str, str | None]] = []
    for c, p, pl in zip(cases, placed, placements, strict=True):
        k = kinds.setdefault(c.kind, Counter())
        k["n"] += 1
        if c.building_id is not None:
            k["placeable"] += 1
            k["right"] += p["building_id"] == c.building_id
            if p["building_id"] != c.building_id:
                misses.append((c.kind, c.text, pl.reason))
        else:
            k["kept_out"] += p["street_path"] is None
    report = {
        "scale": args.scale, "seed": args.seed, "cases": len(cases), "world": counts,
        "seed_s": round(seed_s, 2), "resolver_load_s": round(load_s, 3),
        "ours_ms_per_address": round(ours_s / len(cases) * 1e3, 3),
        "cpca_ms_per_address_single": round(cpca_one_s / len(cases) * 1e3, 3),
        "cpca_ms_per_address_batch": round(cpca_batch_s / len(cases) * 1e3, 3),
        "placement": got, "admin_ours": admin_ours, "admin_cpca": admin_cpca,
        "kinds": {k: dict(v) for k, v in sorted(kinds.items())}, "misses": misses,
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2, default=str))
        return
    print(f"address table: {len(cases)} addresses from the '{args.scale}' demo (seed {args.seed}); world {counts}")
    print(f"seed {seed_s:.1f} s; resolver load {load_s * 1e3:.0f} ms")
    print("\nplacement (ours)                 precision   recall   made/correct/placeable")
    for level in LEVELS:
        g = got[level]
        print(f"  {level:<30} {g['precision']:>9.3f} {g['recall']:>8.3f}   {g['made']}/{g['correct']}/{g['placeable']}")
    print("\nadministrative names             ours P   ours R   cpca P   cpca R")
    for level in ADMIN:
        o, c = admin_ours[level], admin_cpca[level]
        print(f"  {level:<30} {o['precision']:>6.3f} {o['recall']:>8.3f} {c['precision']:>8.3f} {c['recall']:>8.3f}")
    print("\nbuilding-level recall by noise kind (unplaceable kinds: share kept out)")
    for k, v in sorted(kinds.items()):
        if v["placeable"]:
            print(f"  {k:<16} {v['right']}/{v['placeable']}")
        else:
            print(f"  {k:<16} kept out {v['kept_out']}/{v['n']}")
    print("\ntime per address: ours {:.3f} ms (warm) | cpca {:.3f} ms one call each, {:.3f} ms batched "
          "(ratio ours/cpca-single {:.2f})".format(report["ours_ms_per_address"], report["cpca_ms_per_address_single"],
                                                   report["cpca_ms_per_address_batch"],
                                                   ours_s / cpca_one_s if cpca_one_s else float("nan")))
    if misses:
        print(f"\nbuilding misses ({len(misses)}):")
        for kind, text, reason in misses[:20]:
            print(f"  [{kind}] {text} → {reason}")


if __name__ == "__main__":
    main()
