"""Duplicate suggestions (重复件识别, issue 17) on generated history: precision and recall of the scored suggestions
against the distance-only rule, in the same run; the tokenisers compared; what scoring costs.

    .venv/bin/python bench/bench_duplicates.py [--days 120] [--seeds 17,29,41] [--compare] [--json]

The threshold and weights were chosen on seed 5 (``--seeds 5``); the other seeds are held out. ``--compare`` also
scores with jieba words and with IDF-weighted bigrams instead of plain bigrams (seed of the first of ``--seeds``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from typing import Any

from zhili.cases import similarity
from zhili.intel import duplicates, duplicates_synth


def run(seed: int, days: int, k: int) -> dict[str, Any]:
    reports = duplicates_synth.generate(seed=seed, days=days)
    t0 = time.perf_counter()
    got = duplicates.evaluate_pairs(reports, k=k)
    return {"seed": seed, "k": k, "reports": len(reports), "seconds": round(time.perf_counter() - t0, 1), **got}


def compare(seed: int, days: int) -> list[dict[str, Any]]:
    """The same run with other text features: jieba words, and bigrams weighted by IDF over the history."""
    reports = duplicates_synth.generate(seed=seed, days=days)
    out = [{"features": "bigrams", **duplicates.evaluate_pairs(reports, k=3)["scored"]}]
    original_profile, original_bigrams = similarity.profile, similarity.bigrams
    vocab = similarity.Vocabulary.from_texts(f"{r.title}，{r.description}" for r in reports)
    try:
        similarity.profile = lambda *a, **kw: original_profile(*a, vocabulary=vocab, **kw)  # type: ignore[assignment]
        duplicates.dup._PROFILE_CACHE.clear()
        out.append({"features": "bigrams, IDF-weighted", **duplicates.evaluate_pairs(reports, k=3)["scored"]})
    finally:
        similarity.profile = original_profile  # type: ignore[assignment]
    try:
        import jieba

        jieba.setLogLevel(60)

        def words(text: str) -> set[str]:
            return {w for run in similarity._SPLIT.split(text) if run for w in jieba.lcut(run)}

        similarity.bigrams = words  # type: ignore[assignment]
        duplicates.dup._PROFILE_CACHE.clear()
        out.append({"features": "jieba words", **duplicates.evaluate_pairs(reports, k=3)["scored"]})
    finally:
        similarity.bigrams = original_bigrams  # type: ignore[assignment]
        duplicates.dup._PROFILE_CACHE.clear()
    return out


def costs() -> dict[str, float]:
    """µs per report: preparing its text with bigrams, with jieba (after its dictionary is loaded), and scoring a
    pair; jieba's first-use load in seconds."""
    texts = [f"{r.title}，{r.description}" for r in duplicates_synth.generate(seed=7, days=10)][:2000]
    t0 = time.perf_counter()
    profiles = [similarity.profile(None, t, None) for t in texts]
    bigram_us = (time.perf_counter() - t0) / len(texts) * 1e6
    t0 = time.perf_counter()
    for a, b in itertools.pairwise(profiles):
        similarity.score(a, b, distance_m=50.0, hours=10.0)
    pair_us = (time.perf_counter() - t0) / (len(profiles) - 1) * 1e6
    import jieba

    jieba.setLogLevel(60)
    t0 = time.perf_counter()
    jieba.lcut("金色家园")
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t in texts:
        jieba.lcut(t)
    jieba_us = (time.perf_counter() - t0) / len(texts) * 1e6
    return {"profile_bigrams_us": round(bigram_us, 1), "score_pair_us": round(pair_us, 1),
            "jieba_lcut_us": round(jieba_us, 1), "jieba_load_s": round(load_s, 2),
            "mean_chars": round(statistics.mean(len(t) for t in texts), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--seeds", default="17,29,41")
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    results = [run(s, args.days, k) for s in seeds for k in (1, 3)]
    out: dict[str, Any] = {"runs": results, "costs": costs()}
    if args.compare:
        out["features"] = compare(seeds[0], args.days)
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return
    print("| seed | reports | k | scored P | scored R | distance-only P | distance-only R | suggestions (scored / old) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        s, d = r["scored"], r["distance_only"]
        print(f"| {r['seed']} | {r['reports']:,} | {r['k']} | {s['precision']:.3f} | {s['recall']:.3f} | "
              f"{d['precision']:.3f} | {d['recall']:.3f} | {s['suggested']:,} / {d['suggested']:,} |")
    if args.compare:
        print("\n| text features | P@3 | R@3 |\n|---|---:|---:|")
        for f in out["features"]:
            print(f"| {f['features']} | {f['precision']:.3f} | {f['recall']:.3f} |")
    print("\n" + json.dumps(out["costs"]))


if __name__ == "__main__":
    main()
