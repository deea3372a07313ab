"""Features of a report's text for :mod:`zhili.intel.textmodel`: what a linear model reads.

A report is analysed once into a :class:`Doc`: its words (jieba, with the governance lexicon's words added to the
segmenter, a small stop-word list, only words of two or more Chinese characters or letters), the words of its title
(the first line: the platform joins title and description with a line break, and the CLI joins a file's text
columns the same way, so the first column is the title), the lexicon subjects its words name, in the whole text and
in the title, and optional extra tokens (channel, place …). The :class:`Featurizer` turns docs into six blocks,
each sublinear TF-IDF and L2-normalised on its own, so every block has the same say whatever its size:

==========  ====================================================================================================
``words``   words of the whole text (title included)
``title``   words of the title again: the title is the resident's own summary
``chars``   character 1–3-grams (typos, words the segmenter splits oddly, masked names like "A3区")
``subj``    lexicon subjects named anywhere (the subject once per occurrence of one of its words)
``tsubj``   lexicon subjects named in the title
``extra``   the caller's extra tokens (``渠道:热线``), empty unless given
==========  ====================================================================================================

The vocabulary is what the labelled training texts contain (a feature no training text has gets no weight, so
keeping it would only grow the model); the document frequencies (IDF) are counted over the training texts *and*
an optional unlabelled corpus — the platform's historical case texts — so a word common in this district's reports
weighs less even when few labelled reports have it.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from zhili.intel.textlexicon import STOP_WORDS, SUBJECTS

BLOCKS = ("words", "title", "chars", "subj", "tsubj", "extra")
# A report is read up to here (title included): the subject is stated early, and the cost of segmenting grows with
# the length — on the 问政 messages reading 1,000 instead of 4,000 characters changed no cross-validated figure and
# bounds one report's inference at a few milliseconds.
MAX_CHARS = 1000
FAST_ROWS = 16  # up to this many rows are vectorised by the lean path (intake: one report at a time)
_SPACES = re.compile(r"\s\s+")
_WORD = re.compile(r"^[\u4e00-\u9fffA-Za-z][\u4e00-\u9fffA-Za-z0-9]+$")

_tokenizers: dict[str, Any] = {}
_tokenizer_lock = threading.Lock()


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def _char_grams(text: str) -> list[str]:
    """Character 1–3-grams exactly as scikit-learn's ``analyzer="char"`` makes them (runs of white space are one
    space; :meth:`Featurizer.analyse` has collapsed them already)."""
    text = _SPACES.sub(" ", text)
    n = len(text)
    return [text[i:i + k] for k in (1, 2, 3) for i in range(n - k + 1)]


def lexicon_key(subjects: dict[str, tuple[str, tuple[str, ...]]]) -> str:
    """A short digest of a lexicon (which segmenter a model was trained with)."""
    body = json.dumps({k: [v[0], list(v[1])] for k, v in sorted(subjects.items())}, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def tokenizer(subjects: dict[str, tuple[str, tuple[str, ...]]]) -> Any:
    """A jieba segmenter with the lexicon's words added (one per lexicon, built once per process; jieba's own
    dictionary is loaded from its packaged cache, nothing is downloaded)."""
    key = lexicon_key(subjects)
    with _tokenizer_lock:
        tok = _tokenizers.get(key)
        if tok is None:
            import logging

            import jieba

            jieba.setLogLevel(logging.WARNING)
            tok = jieba.Tokenizer()
            tok.initialize()
            for _name, words in subjects.values():
                for w in words:
                    tok.add_word(w, freq=2000)
            _tokenizers[key] = tok
        return tok


@dataclass
class Doc:
    """One analysed report."""

    raw: str
    words: list[str]
    title: list[str]
    subj: list[str]
    tsubj: list[str]
    extra: list[str] = field(default_factory=list)
    subject_words: dict[str, list[str]] = field(default_factory=dict)  # subject -> the words of this text naming it

    def block(self, name: str) -> Any:
        return self.raw if name == "chars" else getattr(self, name)


class Featurizer:
    """Analyses texts into :class:`Doc` and docs into one sparse matrix of the six blocks."""

    def __init__(self, subjects: dict[str, tuple[str, tuple[str, ...]]] | None = None,
                 stop_words: frozenset[str] | None = None) -> None:
        self.subjects = dict(subjects if subjects is not None else SUBJECTS)
        self.stop_words = frozenset(stop_words if stop_words is not None else STOP_WORDS)
        self.word_subjects: dict[str, tuple[str, ...]] = {}
        for key, (_name, words) in self.subjects.items():
            for w in words:
                self.word_subjects[w] = (*self.word_subjects.get(w, ()), key)
        # longest first, so "养老保险" is one match rather than "养老" + "保险"
        terms = sorted(self.word_subjects, key=lambda w: (-len(w), w))
        self.subject_pattern = re.compile("|".join(map(re.escape, terms))) if terms else None
        self.vectorizers: dict[str, TfidfVectorizer] = {}
        self.offsets: dict[str, tuple[int, int]] = {}
        self.n_features = 0

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_idf", None)
        return state

    def subject_name(self, key: str) -> str:
        return self.subjects[key][0] if key in self.subjects else key

    # -- analysis ---------------------------------------------------------------------------------------------
    def analyse(self, text: str, extra: Sequence[str] = ()) -> Doc:
        text = (text or "")[:MAX_CHARS]
        title_text, _, body = text.strip().partition("\n")
        tok = tokenizer(self.subjects)
        # HMM=False: no guessing of unknown words (a third faster; the character n-grams cover what it would find)
        title = [w for w in tok.lcut(title_text, HMM=False) if w not in self.stop_words and _WORD.match(w)]
        words = title + [w for w in tok.lcut(body, HMM=False) if w not in self.stop_words and _WORD.match(w)]
        subj: list[str] = []
        subject_words: dict[str, list[str]] = {}
        tsubj: list[str] = []
        if self.subject_pattern is not None:
            for m in self.subject_pattern.finditer(text):
                for s in self.word_subjects[m.group()]:
                    subj.append(s)
                    subject_words.setdefault(s, []).append(m.group())
            tsubj = [s for m in self.subject_pattern.finditer(title_text) for s in self.word_subjects[m.group()]]
        return Doc(raw=re.sub(r"\s+", " ", text), words=words, title=title, subj=subj, tsubj=tsubj,
                   extra=[str(e) for e in extra if str(e).strip()], subject_words=subject_words)

    def analyse_many(self, texts: Sequence[str], extras: Sequence[Sequence[str]] | None = None) -> list[Doc]:
        if extras is not None and len(extras) != len(texts):
            raise ValueError("extras must have one entry per text")
        return [self.analyse(t, extras[i] if extras is not None else ()) for i, t in enumerate(texts)]

    # -- vectorising ------------------------------------------------------------------------------------------
    @staticmethod
    def _vectorizer(name: str, vocabulary: Any = None) -> TfidfVectorizer:
        if name == "chars":
            return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, vocabulary=vocabulary,
                                   lowercase=False, dtype=np.float32)
        return TfidfVectorizer(analyzer=_identity, sublinear_tf=True, vocabulary=vocabulary, lowercase=False,
                               dtype=np.float32)

    def fit(self, docs: Sequence[Doc], corpus: Sequence[Doc] = ()) -> Featurizer:
        """Vocabulary from ``docs`` (the labelled training texts), document frequencies over ``docs`` and
        ``corpus`` (unlabelled texts)."""
        self.__dict__.pop("_idf", None)
        self.vectorizers, self.offsets, start = {}, {}, 0
        for name in BLOCKS:
            values = [d.block(name) for d in docs]
            if name != "chars" and not any(values):
                continue
            first = self._vectorizer(name)
            if name == "chars" and len(docs) > 20000:
                first.set_params(min_df=2)  # large training sets: drop n-grams seen once (size, not accuracy)
            try:
                first.fit(values)
            except ValueError:  # nothing in this block (e.g. no title words at all)
                continue
            vec = first
            if corpus:
                vec = self._vectorizer(name, vocabulary=first.vocabulary_)
                vec.fit(values + [d.block(name) for d in corpus])
            self.vectorizers[name] = vec
            width = len(vec.vocabulary_)
            self.offsets[name] = (start, start + width)
            start += width
        self.n_features = start
        return self

    def transform(self, docs: Sequence[Doc]) -> sp.csr_matrix:
        if len(docs) <= FAST_ROWS:
            return self._transform_small(docs)
        parts = [vec.transform([d.block(name) for d in docs]) for name, vec in self.vectorizers.items()]
        if not parts:
            return sp.csr_matrix((len(docs), 0), dtype=np.float32)
        return sp.hstack(parts, format="csr", dtype=np.float32)

    def _transform_small(self, docs: Sequence[Doc]) -> sp.csr_matrix:
        """The same rows as the vectorizers' ``transform`` (sublinear TF × IDF, L2 per block), without their
        per-call overhead (≈0.3 ms per block): one report at intake costs a few dictionary lookups."""
        idf = self.__dict__.get("_idf")
        if idf is None:
            idf = self.__dict__["_idf"] = {name: np.asarray(vec.idf_, dtype=np.float64)
                                           for name, vec in self.vectorizers.items()}
        indptr, indices, data = [0], [], []
        for d in docs:
            n = 0
            for name, vec in self.vectorizers.items():
                vocab = vec.vocabulary_
                counts: dict[int, int] = {}
                for g in (_char_grams(d.raw) if name == "chars" else d.block(name)):
                    j = vocab.get(g)
                    if j is not None:
                        counts[j] = counts.get(j, 0) + 1
                if not counts:
                    continue
                cols = np.fromiter(counts, dtype=np.int64, count=len(counts))
                tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
                vals = (1.0 + np.log(tf)) * idf[name][cols]
                vals /= float(np.sqrt(vals @ vals)) or 1.0
                order = np.argsort(cols)
                indices.append(cols[order] + self.offsets[name][0])
                data.append(vals[order])
                n += len(cols)
            indptr.append(indptr[-1] + n)
        if not indices:
            return sp.csr_matrix((len(docs), self.n_features), dtype=np.float32)
        return sp.csr_matrix((np.concatenate(data).astype(np.float32), np.concatenate(indices), np.array(indptr)),
                             shape=(len(docs), self.n_features))

    def feature_names(self) -> list[tuple[str, str]]:
        """(block, feature) for every column, in order."""
        out: list[tuple[str, str]] = []
        for name, vec in self.vectorizers.items():
            out.extend((name, str(f)) for f in vec.get_feature_names_out())
        return out
