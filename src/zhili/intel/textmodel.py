"""The text classifier (智能分拨): from a report's Chinese text to a label — a category code, a department code, or
any label column of a district's file — with calibrated probabilities and the words that drove them.

Pure machine learning: no database, no domain objects. :func:`fit` trains, :class:`TextModel` predicts
(:meth:`~TextModel.proba`, :meth:`~TextModel.top`), explains (:meth:`~TextModel.explain`) and serialises itself
(:meth:`~TextModel.dumps` / :meth:`~TextModel.loads`). Evaluation (cross-validation, the time-ordered split and the
baselines) lives in :mod:`zhili.intel.texteval`.

**Model.** The features of :mod:`zhili.intel.textfeatures` (words, title words, character n-grams and the
governance lexicon's subjects, each block TF-IDF and L2-normalised) feed two linear models whose probabilities are
averaged: a multinomial logistic regression (its probabilities are calibrated by construction of the loss) and a
linear SVM whose margins are turned into probabilities by Platt scaling fitted on held-out folds
(``CalibratedClassifierCV``, sigmoid). Averaging two calibrated models keeps the probabilities calibrated and was
more accurate than either alone (docs/benchmarks.md, "智能分拨"). The choices are fixed, not searched on the data:
the SVM's default ``C=1``; the logistic regression's ``C=10``, the usual strength for L2-normalised TF-IDF rows.

**Serialisation.** The model is a Python object graph (scikit-learn estimators, vocabularies), so it is pickled —
and unpickling runs code chosen by whoever wrote the bytes. :meth:`TextModel.dumps` therefore signs the bytes:
``MAGIC ‖ HMAC ‖ pickle``, where the HMAC (HMAC-SHA256, or HMAC-SM3 under the 国密 suite) is the platform's keyed
blind index (:meth:`zhili.core.crypto.FieldCipher.blind_index`, keyed by the ``index_key`` of the platform's key
material, which key rotation never changes) of the payload's SHA-256. :meth:`TextModel.loads` recomputes it and
refuses, with a Chinese error and before unpickling anything, bytes that were changed or made by another
installation. The database row additionally keeps the artifact's SHA-256 (:mod:`zhili.intel.store`).
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
import warnings
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from zhili.core.errors import DomainError
from zhili.intel.textfeatures import Doc, Featurizer

MAGIC = b"ZTM1"
_MAC_LEN = 64  # hex characters
FORMAT = 1
LR_C = 10.0
SVM_C = 1.0


class ModelIntegrityError(DomainError):
    status = 500
    code = "intel_model_integrity"
    default_message = "模型文件校验失败：内容被改动，或不是用本平台当前的密钥生成的，已拒绝加载"


def _mac(payload: bytes) -> str:
    from zhili.core.crypto import get_cipher

    return get_cipher().blind_index(hashlib.sha256(payload).hexdigest(), purpose="intel-text-model")


class LinearHead:
    """A fitted linear model reduced to what prediction needs (float32 weights, no scikit-learn object): a
    ``softmax`` (multinomial logistic regression) or an ``ovr_sigmoid`` head (one-vs-rest margins turned into
    probabilities by per-label Platt scaling, then normalised — what ``CalibratedClassifierCV(method="sigmoid")``
    computes). ``W`` has one column per label of the model; a binary model has the two columns spelled out."""

    def __init__(self, kind: str, W: np.ndarray, b: np.ndarray, a: np.ndarray | None = None,
                 c: np.ndarray | None = None) -> None:
        self.kind, self.W, self.b, self.a, self.c = kind, W.astype(np.float32), b.astype(np.float64), a, c

    def proba(self, X: Any) -> np.ndarray:
        Z = np.asarray(X @ self.W, dtype=np.float64) + self.b
        if self.kind == "softmax":
            Z -= Z.max(axis=1, keepdims=True)
            E = np.exp(Z)
            return np.asarray(E / E.sum(axis=1, keepdims=True))
        assert self.a is not None and self.c is not None
        if Z.shape[1] == 1:  # binary: the margin of the second label
            p1 = 1.0 / (1.0 + np.exp(self.a[0] * Z[:, 0] + self.c[0]))
            return np.column_stack([1.0 - p1, p1])
        P = 1.0 / (1.0 + np.exp(self.a * Z + self.c))
        total = P.sum(axis=1, keepdims=True)
        P = np.where(total > 0, P / np.where(total > 0, total, 1.0), 1.0 / P.shape[1])
        return np.asarray(np.clip(P, 0.0, 1.0))

    def centred(self) -> np.ndarray:
        """Weights (labels × features), centred over the labels and scaled to unit maximum: a weight above the
        mean pushes toward the label."""
        W = self.W.T.astype(np.float64)
        if W.shape[0] == 1:
            W = np.vstack([-W, W]) / 2
        W = W - W.mean(axis=0, keepdims=True)
        return np.asarray(W / (np.abs(W).max() or 1.0))


def _head(est: Any) -> LinearHead:
    """A fitted LogisticRegression or CalibratedClassifierCV(LinearSVC, sigmoid, ensemble=False) as a head."""
    if hasattr(est, "coef_"):
        coef, icpt = np.asarray(est.coef_), np.asarray(est.intercept_)
        if coef.shape[0] == 1:  # binary logistic regression: softmax over (0, z)
            return LinearHead("softmax", np.vstack([np.zeros_like(coef), coef]).T, np.array([0.0, icpt[0]]))
        return LinearHead("softmax", coef.T, icpt)
    (cal,) = est.calibrated_classifiers_
    svm = cal.estimator
    a = np.array([c.a_ for c in cal.calibrators], dtype=np.float64)
    c = np.array([c.b_ for c in cal.calibrators], dtype=np.float64)
    return LinearHead("ovr_sigmoid", np.asarray(svm.coef_).T, np.asarray(svm.intercept_), a, c)


class TextModel:
    """A trained classifier. ``labels`` are in the order of :meth:`proba`'s columns."""

    labels: list[str]

    def __init__(self, featurizer: Featurizer, labels: list[str], heads: list[LinearHead],
                 params: dict[str, Any]) -> None:
        self.featurizer = featurizer
        self.labels = labels
        self.heads = heads  # columns in the order of ``labels``; empty for a one-label model
        self.params = params
        self._coef: np.ndarray | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_coef"] = None
        return state

    # -- prediction -------------------------------------------------------------------------------------------
    def _proba_docs(self, docs: Sequence[Doc]) -> np.ndarray:
        if len(self.labels) == 1:
            return np.ones((len(docs), 1))
        X = self.featurizer.transform(docs)
        p = np.mean([h.proba(X) for h in self.heads], axis=0)
        return np.asarray(p / p.sum(axis=1, keepdims=True))

    def proba(self, texts: Sequence[str], extras: Sequence[Sequence[str]] | None = None) -> np.ndarray:
        """Calibrated probabilities, shape (len(texts), len(labels)); each row sums to 1."""
        if not len(texts):
            return np.zeros((0, len(self.labels)))
        return self._proba_docs(self.featurizer.analyse_many(texts, extras))

    def top(self, text: str, k: int = 3, extra: Sequence[str] = ()) -> list[tuple[str, float]]:
        """The ``k`` most likely labels with their probabilities, best first."""
        p = self.proba([text], [extra])[0]
        order = np.argsort(-p, kind="stable")[:k]
        return [(self.labels[i], float(p[i])) for i in order]

    # -- explanation ------------------------------------------------------------------------------------------
    def _coefficients(self) -> np.ndarray:
        """The heads' centred weights (:meth:`LinearHead.centred`), averaged."""
        if self._coef is None:
            mats = [h.centred() for h in self.heads]
            self._coef = np.mean(mats, axis=0) if mats else np.zeros((len(self.labels), 0))
        return self._coef

    def explain(self, text: str, label: str, k: int = 5, extra: Sequence[str] = ()) -> list[str]:
        """The words of this text that pushed the model toward ``label`` most, strongest first (at most ``k``).

        Each feature's push is its value in this text times its weight for ``label`` (relative to the other
        labels); pushes of character n-grams go to the words of the text containing them and pushes of a lexicon
        subject to the text's words of that subject, so the answer is words a person can read."""
        if label not in self.labels or len(self.labels) == 1:
            return []
        f = self.featurizer
        doc = f.analyse(text, extra)
        x = f.transform([doc]).tocoo()
        coef = self._coefficients()[self.labels.index(label)]
        names = _feature_names(f)
        score: dict[str, float] = defaultdict(float)
        holders: dict[str, list[str]] = defaultdict(list)  # character n-gram -> the text's words containing it
        for w in dict.fromkeys(doc.words):
            for g in dict.fromkeys(w[i:i + n] for n in (1, 2, 3) for i in range(len(w) - n + 1)):
                holders[g].append(w)
        for col, val in zip(x.col, x.data, strict=True):
            push = float(val) * float(coef[col])
            if push == 0.0:
                continue
            block, feat = names[col]
            if block in ("words", "title"):
                score[feat] += push
            elif block in ("subj", "tsubj"):
                hits = list(dict.fromkeys(doc.subject_words.get(feat, ())))
                for w in hits:
                    score[w] += push / len(hits)
            elif block == "chars":
                owners = holders.get(feat, ())
                for w in owners:
                    score[w] += push / len(owners)
            else:
                score[feat] += push
        return [w for w, s in sorted(score.items(), key=lambda kv: -kv[1]) if s > 0][:k]

    # -- serialisation ----------------------------------------------------------------------------------------
    def dumps(self) -> bytes:
        """The signed bytes of this model (see the module docstring)."""
        payload = pickle.dumps({"format": FORMAT, "model": self}, protocol=pickle.HIGHEST_PROTOCOL)
        return MAGIC + _mac(payload).encode() + payload

    @classmethod
    def loads(cls, data: bytes) -> TextModel:
        """A model from :meth:`dumps` bytes; refuses (:class:`ModelIntegrityError`) bytes whose HMAC fails."""
        data = bytes(data)
        head = len(MAGIC) + _MAC_LEN
        if len(data) <= head or not data.startswith(MAGIC):
            raise ModelIntegrityError("不是智理的模型文件（文件头不符），已拒绝加载")
        mac, payload = data[len(MAGIC):head].decode("ascii", "replace"), data[head:]
        if not hmac.compare_digest(mac, _mac(payload)):
            raise ModelIntegrityError()
        obj = pickle.loads(payload)
        model = obj.get("model") if isinstance(obj, dict) else None
        if not isinstance(model, cls) or obj.get("format") != FORMAT:
            raise ModelIntegrityError("模型文件的格式版本不受支持，请重新训练")
        return model


_NAMES: dict[int, list[tuple[str, str]]] = {}


def _feature_names(f: Featurizer) -> list[tuple[str, str]]:
    key = id(f)
    names = _NAMES.get(key)
    if names is None or len(names) != f.n_features:
        names = _NAMES[key] = f.feature_names()
    return names


def _estimators(y: np.ndarray, n_labels: int, seed: int) -> list[Any]:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    ests: list[Any] = [LogisticRegression(C=LR_C, max_iter=3000, random_state=seed)]
    smallest = int(np.bincount(y, minlength=n_labels).min())
    if smallest >= 2:  # Platt scaling needs every label in every calibration fold
        ests.append(CalibratedClassifierCV(LinearSVC(C=SVM_C, random_state=seed), method="sigmoid",
                                           cv=min(3, smallest), ensemble=False))
    return ests


def fit_docs(docs: Sequence[Doc], labels: Sequence[str], *, weights: Sequence[float] | None = None,
             corpus: Sequence[Doc] = (), seed: int = 0, featurizer: Featurizer | None = None,
             params: dict[str, Any] | None = None) -> TextModel:
    """:func:`fit` over texts already analysed (cross-validation analyses each text once)."""
    if len(docs) != len(labels):
        raise ValueError("texts and labels differ in length")
    if not len(docs):
        raise ValueError("no training texts")
    names = sorted({str(v) for v in labels})
    index = {n: i for i, n in enumerate(names)}
    y = np.array([index[str(v)] for v in labels])
    f = featurizer or Featurizer()
    info = {"n_train": len(docs), "n_corpus": len(corpus), "lr_c": LR_C, "svm_c": SVM_C, **(params or {})}
    if len(names) == 1:
        f.fit(docs, corpus)
        return TextModel(f, names, [], {**info, "heads": []})
    f.fit(docs, corpus)
    X = f.transform(docs)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    ests = _estimators(y, len(names), seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on tiny sets; the evaluation says how good it is
        for est in ests:
            est.fit(X, y, sample_weight=w)
    heads = [_head(e) for e in ests]
    info["heads"] = [h.kind for h in heads]
    return TextModel(f, names, heads, info)


def fit(texts: Sequence[str], labels: Sequence[str], *, weights: Sequence[float] | None = None,
        unlabelled: Sequence[str] = (), seed: int = 0, extras: Sequence[Sequence[str]] | None = None) -> TextModel:
    """Train on ``texts`` (title on the first line, then the description) and their ``labels``.

    ``weights`` weigh training rows (a staff correction more than an unreviewed label); ``unlabelled`` texts (the
    platform's historical case texts, a district's unlabelled hotline export) only count in the document
    frequencies; ``extras`` are extra categorical tokens per text (channel, street …), one list per text."""
    f = Featurizer()
    docs = f.analyse_many(texts, extras)
    corpus = f.analyse_many(list(unlabelled)) if len(unlabelled) else []
    return fit_docs(docs, labels, weights=weights, corpus=corpus, seed=seed, featurizer=f)


def cross_validate(texts: Sequence[str], labels: Sequence[str], *, folds: int = 5, seed: int = 0,
                   unlabelled: Sequence[str] = (), **options: Any) -> dict[str, Any]:
    """Stratified cross-validation next to the baselines: see :func:`zhili.intel.texteval.cross_validate`."""
    from zhili.intel import texteval

    return texteval.cross_validate(texts, labels, folds=folds, seed=seed, unlabelled=unlabelled, **options)


def time_split(texts: Sequence[str], labels: Sequence[str], times: Sequence[Any], *, test_fraction: float = 0.2,
               unlabelled: Sequence[str] = (), **options: Any) -> dict[str, Any]:
    """Train on the past, test on the future: see :func:`zhili.intel.texteval.time_split`."""
    from zhili.intel import texteval

    return texteval.time_split(texts, labels, times, test_fraction=test_fraction, unlabelled=unlabelled, **options)
