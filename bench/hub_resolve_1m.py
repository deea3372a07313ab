"""Entity resolution at scale: the hub's person Matcher on synthetic multi-source persons (``hub_synth``).

Run::

    PYTHONPATH=src .venv/bin/python bench/hub_resolve_1m.py            # 1,000,000 rows over three sources
    PYTHONPATH=src .venv/bin/python bench/hub_resolve_1m.py --n 100000

Phases timed separately: generating the rows (not part of resolution), mapping them to standard values, fitting
the model without labels (a seeded sample of at most ``train_sample`` records), and finding the pairs
(features, blocking, scoring). Reported: pairs compared after blocking against all n(n-1)/2 pairs, pair-level
precision / recall / F1 against the generator's truth at the three bands (p ≥ 0.5, review ≥ 0.60, auto-merge
≥ 0.95), and the peak resident memory of the process (Python + DuckDB).

The resolution here is the engine alone, in memory; the import pipeline (reading the CSVs, validating,
storing encrypted records) is measured by the import benchmarks.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hub_synth import generate, standard_records

from zhili.datahub.matching import AUTO_MERGE, REVIEW, Matcher
from zhili.datahub.models import EntityType


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description="Entity resolution on synthetic multi-source persons")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2016)
    args = parser.parse_args()

    t0 = time.perf_counter()
    rows, truth = generate(args.n, args.seed)
    t_gen = time.perf_counter() - t0
    truth_set = set(truth)

    c0 = time.process_time()
    t0 = time.perf_counter()
    records = list(standard_records(rows))
    t_map = time.perf_counter() - t0
    rss_data = peak_rss_mb()

    t0 = time.perf_counter()
    matcher = Matcher(EntityType.person)
    matcher.fit(records)
    t_fit = time.perf_counter() - t0
    rss_fit = peak_rss_mb()

    t0 = time.perf_counter()
    pairs = matcher.pairs(records, threshold=0.5)
    t_pairs = time.perf_counter() - t0
    stats = matcher.last_stats
    n = len(records)

    print(f"records {n:,} ({', '.join(f'{s} {len(r):,}' for s, r in rows.items())}), true pairs {len(truth):,}")
    print(
        f"model: {'trained without labels' if matcher.trained else 'default weights'} "
        f"(train sample ≤ {matcher.settings.train_sample:,})"
    )
    all_pairs = stats["all_pairs"]
    print(
        f"pairs compared after blocking {stats['compared']:,} of {all_pairs:,} "
        f"({stats['compared'] / all_pairs:.5%}; {stats['compared'] / n:.1f} per record)"
    )
    print(f"{'band':22} {'pairs':>9} {'precision':>9} {'recall':>7} {'F1':>7}")
    for label, cut in (("p >= 0.5", 0.5), (f"review+ p >= {REVIEW}", REVIEW), (f"auto p >= {AUTO_MERGE}", AUTO_MERGE)):
        predicted = {(min(p.left, p.right), max(p.left, p.right)) for p in pairs if p.probability >= cut}
        tp = len(predicted & truth_set)
        precision = tp / len(predicted) if predicted else 0.0
        recall = tp / len(truth_set) if truth_set else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        print(f"{label:22} {len(predicted):>9,} {precision:9.4f} {recall:7.4f} {f1:7.4f}")
    resolve = t_map + t_fit + t_pairs
    print(f"{'phase':34} {'seconds':>8} {'share':>6}")
    phases = (
        ("generate rows (not resolution)", t_gen),
        ("map rows to standard values", t_map),
        ("fit (u sampling + 2 EM passes)", t_fit),
        ("pairs: features", stats["seconds_features"]),
        ("pairs: blocking", stats["seconds_blocking"]),
        ("pairs: scoring + evidence", stats["seconds_scoring"]),
    )
    for label, seconds in phases:
        share = f"{seconds / resolve:6.1%}" if label != phases[0][0] else "     -"
        print(f"{label:34} {seconds:8.1f} {share}")
    print(f"{'resolution total (map+fit+pairs)':34} {resolve:8.1f}")
    cpu = time.process_time() - c0
    print(f"CPU seconds of the resolution (all threads): {cpu:.1f} — {cpu / resolve:.2f} cores busy on average")
    print(f"peak RSS: after data {rss_data:,.0f} MB, after fit {rss_fit:,.0f} MB, end {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
