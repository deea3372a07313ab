"""How good a text classifier is: stratified cross-validation and the time-ordered split, each next to the naive
baselines measured on the same folds (the majority label, and a character TF-IDF + logistic regression).

Metrics: ``top1`` (accuracy), ``top3`` (the true label among the three most likely), ``macro_f1`` (F1 averaged
over labels, so small labels count as much as large ones), ``brier`` (multi-class Brier score: mean squared error of
the probability vector, 0 is perfect) and ``ece`` (expected calibration error of the top label, 10 bins: how far
the stated confidence is from the observed accuracy).

Leakage: when an unlabelled corpus is given, texts identical (after whitespace is removed) to a test text are left
out of it for that fold — a historical corpus often contains the very reports being tested.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from zhili.intel.textfeatures import Doc, Featurizer
from zhili.intel.textmodel import fit_docs

BASELINE_LR_C = 10.0


def _key(text: str) -> str:
    return re.sub(r"\s+", "", text or "")


def metrics(y_true: Sequence[str], proba: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    """top-1, top-3, macro-F1, Brier score and top-label ECE of probabilities ``proba`` (columns = ``labels``)."""
    from sklearn.metrics import f1_score

    labels = list(labels)
    n = len(y_true)
    if n == 0:
        return {"top1": 0.0, "top3": 0.0, "macro_f1": 0.0, "brier": 0.0, "ece": 0.0, "n": 0}
    index = {lab: i for i, lab in enumerate(labels)}
    truth = np.array([index.get(str(v), -1) for v in y_true])
    order = np.argsort(-proba, axis=1, kind="stable")
    pred = order[:, 0]
    top1 = float(np.mean(pred == truth))
    top3 = float(np.mean([truth[i] in order[i, :3] for i in range(n)]))
    onehot = np.zeros_like(proba)
    for i, t in enumerate(truth):
        if t >= 0:
            onehot[i, t] = 1.0
    brier = float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    conf = proba[np.arange(n), pred]
    correct = (pred == truth).astype(float)
    bins = np.minimum((conf * 10).astype(int), 9)
    ece = float(sum(abs(conf[bins == b].mean() - correct[bins == b].mean()) * np.sum(bins == b) / n
                    for b in range(10) if np.any(bins == b)))
    pred_labels = [labels[i] for i in pred]
    macro = float(f1_score([str(v) for v in y_true], pred_labels, average="macro", zero_division=0))
    return {"top1": round(top1, 4), "top3": round(top3, 4), "macro_f1": round(macro, 4), "brier": round(brier, 4),
            "ece": round(ece, 4), "n": n}


def _majority(train_y: Sequence[str], n_test: int, labels: list[str]) -> np.ndarray:
    counts = Counter(str(v) for v in train_y)
    p = np.array([counts.get(lab, 0) for lab in labels], dtype=float)
    p = p / p.sum() if p.sum() else np.full(len(labels), 1 / len(labels))
    return np.tile(p, (n_test, 1))


def _tfidf_lr(train_x: list[str], train_y: list[str], test_x: list[str], labels: list[str]) -> np.ndarray:
    """The obvious strong baseline: character 1–3-gram sublinear TF-IDF + logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    out = np.zeros((len(test_x), len(labels)))
    if len(set(train_y)) < 2:
        out[:, labels.index(train_y[0])] = 1.0
        return out
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, dtype=np.float32)
    X = vec.fit_transform(train_x)
    lr = LogisticRegression(C=BASELINE_LR_C, max_iter=3000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lr.fit(X, train_y)
    p = lr.predict_proba(vec.transform(test_x))
    for j, lab in enumerate(lr.classes_):
        out[:, labels.index(str(lab))] = p[:, j]
    return out


def _model_proba(docs: list[Doc], y: list[str], test_docs: list[Doc], corpus: list[Doc], labels: list[str],
                 seed: int, weights: list[float] | None, subjects: Any = None) -> np.ndarray:
    model = fit_docs(docs, y, corpus=corpus, seed=seed, weights=weights, featurizer=Featurizer(subjects))
    p = model._proba_docs(test_docs)
    out = np.zeros((len(test_docs), len(labels)))
    for j, lab in enumerate(model.labels):
        out[:, labels.index(lab)] = p[:, j]
    return out


def _evaluate(splits: list[tuple[np.ndarray, np.ndarray]], texts: list[str], y: list[str], docs: list[Doc],
              corpus: list[tuple[str, Doc]], seed: int, weights: list[float] | None,
              progress: Callable[[int, int], None] | None, subjects: Any = None) -> dict[str, Any]:
    labels = sorted(set(y))
    n = len(y)
    probs = {name: np.zeros((n, len(labels))) for name in ("model", "majority", "tfidf_lr")}
    tested = np.zeros(n, dtype=bool)
    for k, (tr, te) in enumerate(splits):
        test_keys = {_key(texts[i]) for i in te}
        fold_corpus = [d for t, d in corpus if _key(t) not in test_keys]
        tr_y = [y[i] for i in tr]
        probs["model"][te] = _model_proba([docs[i] for i in tr], tr_y, [docs[i] for i in te], fold_corpus, labels,
                                          seed, None if weights is None else [weights[i] for i in tr], subjects)
        probs["majority"][te] = _majority(tr_y, len(te), labels)
        probs["tfidf_lr"][te] = _tfidf_lr([texts[i] for i in tr], tr_y, [texts[i] for i in te], labels)
        tested[te] = True
        if progress:
            progress(k + 1, len(splits))
    y_t = [y[i] for i in np.where(tested)[0]]
    out: dict[str, Any] = metrics(y_t, probs["model"][tested], labels)
    out["baselines"] = {name: metrics(y_t, probs[name][tested], labels) for name in ("majority", "tfidf_lr")}
    out["labels"] = len(labels)
    return out


def _prepare(texts: Sequence[str], labels: Sequence[str], unlabelled: Sequence[str],
             extras: Sequence[Sequence[str]] | None, subjects: Any = None
             ) -> tuple[list[str], list[str], list[Doc], list[tuple[str, Doc]]]:
    if len(texts) != len(labels):
        raise ValueError("texts and labels differ in length")
    f = Featurizer(subjects)
    texts = [str(t or "") for t in texts]
    docs = f.analyse_many(texts, extras)
    corpus = [(t, f.analyse(t)) for t in unlabelled]
    return texts, [str(v) for v in labels], docs, corpus


def usable_folds(labels: Sequence[str], folds: int) -> int:
    """The number of stratified folds the labels allow: at most ``folds``, at most the smallest label's count,
    at least 2."""
    smallest = min(Counter(str(v) for v in labels).values()) if len(labels) else 0
    return max(2, min(folds, smallest))


def cross_validate(texts: Sequence[str], labels: Sequence[str], *, folds: int = 5, seed: int = 0,
                   unlabelled: Sequence[str] = (), extras: Sequence[Sequence[str]] | None = None,
                   weights: Sequence[float] | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   subjects: dict[str, tuple[str, tuple[str, ...]]] | None = None) -> dict[str, Any]:
    """Stratified ``folds``-fold cross-validation of :func:`~zhili.intel.textmodel.fit` and the baselines:
    ``{"top1", "top3", "macro_f1", "brier", "ece", "n", "folds", "labels", "baselines": {"majority": {...},
    "tfidf_lr": {...}}}``. Fewer folds are used when the smallest label has fewer rows than ``folds`` (then
    ``"folds_requested"`` says how many were asked for). ``subjects`` replaces the governance lexicon (``{}``:
    none — to measure what it brings)."""
    from sklearn.model_selection import StratifiedKFold

    texts, y, docs, corpus = _prepare(texts, labels, unlabelled, extras, subjects)
    if len(set(y)) < 2:
        raise ValueError("cross-validation needs at least two labels")
    k = usable_folds(y, folds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a label with fewer rows than folds
        splits = list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    out = _evaluate(splits, texts, y, docs, corpus, seed, None if weights is None else list(weights), progress,
                    subjects)
    out["split"] = f"cv{k}"
    out["folds"] = k
    if k != folds:
        out["folds_requested"] = folds
    out["unlabelled"] = len(corpus)
    return out


def time_split(texts: Sequence[str], labels: Sequence[str], times: Sequence[dt.datetime | None], *,
               test_fraction: float = 0.2, unlabelled: Sequence[str] = (),
               extras: Sequence[Sequence[str]] | None = None, seed: int = 0) -> dict[str, Any]:
    """Train on the oldest ``1 - test_fraction`` of the rows (by ``times``; rows without a time are left out), test
    on the newest — the way a model meets the future. Same shape as :func:`cross_validate`, plus
    ``"train_until"`` (the last training time, ISO) and ``"test_from"``; test rows whose label never occurs in the
    past still count (as misses)."""
    texts, y, docs, corpus = _prepare(texts, labels, unlabelled, extras)
    timed = sorted((t, i) for i, t in enumerate(times) if t is not None)
    if len(timed) < 4:
        raise ValueError("time split needs at least four rows with a time")
    cut = min(len(timed) - 1, max(1, round(len(timed) * (1 - test_fraction))))
    tr = np.array([i for _, i in timed[:cut]])
    te = np.array([i for _, i in timed[cut:]])
    if len({y[i] for i in tr}) < 2:
        raise ValueError("the training period has fewer than two labels")
    out = _evaluate([(tr, te)], texts, y, docs, corpus, seed, None, None)
    out["split"] = "time"
    out["folds"] = 1
    out["train_until"] = timed[cut - 1][0].isoformat()
    out["test_from"] = timed[cut][0].isoformat()
    out["n_train"] = len(tr)
    out["unlabelled"] = len(corpus)
    return out
