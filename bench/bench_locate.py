"""Benchmark batch point-in-grid lookup on a large-demo-like region tree.

Builds 长兴县 (≈1,430 km² around 119.91°E, 31.01°N) with ``zhili.seed.geometry``: district → 10 streets
→ 120 communities → N grids (default 1,500), then locates uniformly random points in the district's bbox.

Reported, all in the same run:

* ``locate_many`` (ids) and ``locate_many_index`` (int array) throughput, best of ``--repeat`` runs;
* a naive baseline — ``shapely.intersects_xy`` against every grid in turn — on a ``--naive-sample`` subset,
  extrapolated to points/s;
* a plain ``STRtree.query(points, predicate="intersects")`` baseline on a subset;
* correctness: batch vs the naive answers on the naive sample, and batch vs scalar ``locate`` on a sample.

Usage::

    .venv/bin/python bench/bench_locate.py [--points 1000000] [--grids 1500] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import shapely
from shapely import Polygon

from zhili.regions.locator import Locator
from zhili.seed.geometry import district_outline, partition

CENTER = (119.91, 31.01)
AREA_KM2 = 1430.0
STREETS = 10
COMMUNITIES = 120

T = TypeVar("T")


def spread(total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts`` near-equal positive counts."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def build_tree(n_grids: int, seed: int) -> tuple[Polygon, list[Polygon]]:
    """District outline and its grids (via streets and communities)."""
    district = district_outline(*CENTER, AREA_KM2, seed)
    n_communities = min(COMMUNITIES, n_grids)
    n_streets = min(STREETS, n_communities)
    streets = partition(district, n_streets, seed + 1)
    communities: list[Polygon] = []
    for i, (street, count) in enumerate(zip(streets, spread(n_communities, n_streets), strict=True)):
        communities.extend(partition(street, count, seed + 100 + i))
    grids: list[Polygon] = []
    for j, (community, count) in enumerate(zip(communities, spread(n_grids, n_communities), strict=True)):
        grids.extend(partition(community, count, seed + 10_000 + j))
    return district, grids


def best_of(repeat: int, fn: Callable[[], T]) -> tuple[float, T]:
    """Fastest wall time of ``repeat`` calls, and the last result."""
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def naive_locate(grids: list[Polygon], lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Reference: test every grid in turn (no index); lowest covering index, else -1."""
    result = np.full(len(lons), -1, dtype=np.int64)
    for index in reversed(range(len(grids))):
        result[shapely.intersects_xy(grids[index], lons, lats)] = index
    return result


def main() -> None:
    """Run the benchmark and print a markdown table (or JSON)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--grids", type=int, default=1_500)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--naive-sample", type=int, default=20_000)
    parser.add_argument("--strtree-sample", type=int, default=200_000)
    parser.add_argument("--scalar-sample", type=int, default=5_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()

    started = time.perf_counter()
    district, grids = build_tree(args.grids, args.seed)
    partition_s = time.perf_counter() - started
    units = [(uuid.UUID(int=i + 1), g) for i, g in enumerate(grids)]

    started = time.perf_counter()
    locator = Locator(units)
    locator_build_s = time.perf_counter() - started

    rng = np.random.default_rng(args.seed)
    minx, miny, maxx, maxy = district.bounds
    lons = rng.uniform(minx, maxx, args.points)
    lats = rng.uniform(miny, maxy, args.points)

    ids_s, ids = best_of(args.repeat, lambda: locator.locate_many(lons, lats))
    index_s, index = best_of(args.repeat, lambda: locator.locate_many_index(lons, lats))

    n_naive = min(args.naive_sample, args.points)
    fresh = [Polygon(g) for g in grids]  # unprepared copies: the naive approach does no preparation
    naive_s, naive = best_of(1, lambda: naive_locate(fresh, lons[:n_naive], lats[:n_naive]))

    n_tree = min(args.strtree_sample, args.points)
    tree = shapely.STRtree(np.array(grids, dtype=object))

    def strtree_locate() -> np.ndarray:
        point_i, unit_i = tree.query(shapely.points(lons[:n_tree], lats[:n_tree]), predicate="intersects")
        best = np.full(n_tree, len(grids), dtype=np.int64)
        np.minimum.at(best, point_i, unit_i)
        return np.where(best == len(grids), -1, best)

    tree_s, tree_result = best_of(args.repeat, strtree_locate)

    n_scalar = min(args.scalar_sample, args.points)
    scalar = np.array(
        [
            locator.locate_index(float(x), float(y))
            for x, y in zip(lons[:n_scalar], lats[:n_scalar], strict=True)
        ]
    )
    id_of = {u: i for i, (u, _) in enumerate(units)}
    ids_as_index = np.array([id_of[u] if u is not None else -1 for u in ids[:n_scalar]])
    mismatches = {
        "batch_vs_naive": int((index[:n_naive] != naive).sum()),
        "batch_vs_strtree": int((index[:n_tree] != tree_result).sum()),
        "batch_vs_scalar": int((index[:n_scalar] != scalar).sum()),
        "ids_vs_index": int((ids_as_index != index[:n_scalar]).sum()),
    }
    report = {
        "points": args.points,
        "grids": len(grids),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "shapely": shapely.__version__,
        "geos": ".".join(map(str, shapely.geos_version)),
        "partition_s": round(partition_s, 3),
        "locator_build_s": round(locator_build_s, 3),
        "locate_many_s": round(ids_s, 4),
        "locate_many_pps": round(args.points / ids_s),
        "locate_many_index_pps": round(args.points / index_s),
        "strtree_pps": round(n_tree / tree_s),
        "naive_pps": round(n_naive / naive_s),
        "speedup_vs_naive": round((args.points / ids_s) / (n_naive / naive_s), 1),
        "located_fraction": round(float((index >= 0).mean()), 4),
        "mismatches": mismatches,
        "correct": not any(mismatches.values()),
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return
    print(
        "| points | grids | build s (partition / locator) | locate_many pts/s | index pts/s "
        "| STRtree pts/s | naive pts/s | speedup vs naive | check |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|---|")
    check = "ok" if report["correct"] else f"MISMATCH {mismatches}"
    print(
        f"| {args.points:,} | {len(grids):,} | {partition_s:.2f} / {locator_build_s:.2f} "
        f"| {report['locate_many_pps']:,} | {report['locate_many_index_pps']:,} | {report['strtree_pps']:,} "
        f"| {report['naive_pps']:,} | {report['speedup_vs_naive']:,}x | {check} |"
    )


if __name__ == "__main__":
    main()
