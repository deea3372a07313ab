"""Hot issues from text (热点问题): many reports about the same place and the same subject are one issue, even
without coordinates.

:func:`hot_issues` is a pure function over :class:`HotDoc` (the platform's cases through
:func:`zhili.intel.hot_cases.hot_issues_for`, a CSV file through ``zhili intel hot-issues``: the same code).

Method (measured and explained in docs/intel.md, "热点问题"):

1. **Places** — :func:`zhili.intel.places.extract_places` on the title and the first :data:`PLACE_CHARS`
   characters of the text; then the names seen anywhere in the corpus are looked for bare in every report
   (:class:`~zhili.intel.places.Gazetteer`), and a key that merely extends a shorter key of the corpus
   (``现任凤鹤山村`` → ``凤鹤山村``) is folded into it. Regions (市/区/县/镇…) are kept aside: never a link.
2. **Subjects** — TF-IDF over character bigrams of the title (twice) and the start of the text, the report's
   places and regions removed (:func:`zhili.intel.hot_text.subject_vectors`).
3. **Links** — two reports are linked when they are at most ``window_days`` apart and either name the same place
   (blocked by place: only reports sharing a place are compared) with subject cosine ≥ :data:`PLACE_SIM`, or are
   near-identical (cosine ≥ :data:`DUPLICATE_SIM`) with no place in common (candidates: reports sharing one of
   their :data:`PREFIX_FEATURES` heaviest bigrams).
4. **Clusters** — links are taken strongest first and join two clusters only when the clusters' centroids are
   still similar (cosine ≥ :data:`MERGE_SIM`, average-linkage in spirit): a chain A–B–C whose ends share nothing
   stays two issues.
5. **Heat** — see :func:`heat`. **Terms** — :func:`zhili.intel.hot_text.subject_terms`. **Representative** — the
   member closest to its cluster's centroid.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from zhili.intel.hot_text import cosine_to, subject_terms, subject_text, subject_vectors
from zhili.intel.places import Gazetteer, Places, extract_places

PLACE_CHARS = 400  # characters of the text searched for places (the title is searched whole)
PLACE_SIM = 0.3  # subject cosine that links two reports naming the same place
DUPLICATE_SIM = 0.60  # subject cosine that links two reports without a place in common
MERGE_SIM = 0.3  # centroid cosine two clusters must keep to be merged (no chaining)
MAX_BLOCK = 400  # a place named by more reports than this is too broad to block on (a whole road, 人民医院)
PREFIX_FEATURES = 6  # heaviest bigrams of a report used to find near-identical candidates
MAX_POSTING = 60  # … a bigram shared by more reports than this is no evidence of near-identity
HALF_LIFE_DAYS = 30.0  # recency: a cluster's heat halves for every this many days since its last report
REPEAT_WEIGHT = 0.5  # a further report by a reporter already counted
VOTE_WEIGHT = 2.0  # weight of ln(1 + supports)
SPAN_WEIGHT = 0.1  # weight of ln(1 + days between the first and last report)


@dataclass(frozen=True)
class HotDoc:
    id: str
    text: str
    time: dt.datetime
    votes: int = 0
    reporter: str | None = None
    title: str | None = None


@dataclass
class HotIssue:
    rank: int
    heat: float
    places: list[str]
    terms: list[str]
    first: dt.datetime
    last: dt.datetime
    ids: list[str]
    representative_id: str
    representative_text: str
    reporters: int
    votes: int
    numbers: list[str] = field(default_factory=list)  # the platform's case numbers of ``ids`` (same order)

    @property
    def size(self) -> int:
        return len(self.ids)


def heat(*, size: int, reporters: int, votes: int, span_days: float, age_days: float,
         half_life_days: float = HALF_LIFE_DAYS) -> float:
    """A cluster's heat::

        (reporters + 0.5 · (size − reporters) + 2 · ln(1 + votes)) · (1 + 0.1 · ln(1 + span_days))
            · 2^(−age_days / half_life_days)

    distinct reporters count fully, repeated reports by one of them half; supports (附议 / likes) are log-damped
    (a hundred likes weigh like ≈ 9 reports, not a hundred); an issue that has lasted longer weighs a little
    more; and the whole decays with the age of the cluster's last report (half-life 30 days)."""
    base = reporters + REPEAT_WEIGHT * max(size - reporters, 0) + VOTE_WEIGHT * math.log1p(max(votes, 0))
    persist = 1.0 + SPAN_WEIGHT * math.log1p(max(span_days, 0.0))
    return base * persist * 2.0 ** (-max(age_days, 0.0) / half_life_days)


def _seconds(t: dt.datetime) -> float:
    return t.timestamp()


def doc_places(docs: Sequence[HotDoc], *, known_regions: Sequence[str] = ()) -> list[Places]:
    """The places and regions of each report, after the corpus passes (bare mentions, folded variants)."""
    found = [extract_places(f"{d.title or ''}。{(d.text or '')[:PLACE_CHARS]}", known_regions=known_regions)
             for d in docs]
    keys = {k for p in found for k in p.places}
    fold = _folding(keys)
    gazetteer = Gazetteer(fold.get(k, k) for k in keys)
    out: list[Places] = []
    for d, p in zip(docs, found, strict=True):
        extra = gazetteer.find(f"{d.title or ''}。{(d.text or '')[:PLACE_CHARS]}") if len(gazetteer) else []
        merged: list[str] = []
        for k in [*p.places, *extra]:
            k = fold.get(k, k)
            if k not in merged and k not in p.regions:
                merged.append(k)
        out.append(Places(tuple(merged), p.regions))
    return out


def _folding(keys: set[str]) -> dict[str, str]:
    """key → the longest other key (≥ 3 characters) it ends with: 现任凤鹤山村 → 凤鹤山村."""
    fold: dict[str, str] = {}
    for k in keys:
        for i in range(1, len(k) - 2):
            if k[i:] in keys:
                fold[k] = k[i:]
                break
    return fold


def _pairs_in_blocks(blocks: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    for b in blocks:
        arr = np.asarray(sorted(set(b)), dtype=np.int64)
        if arr.size < 2:
            continue
        i, j = np.triu_indices(arr.size, k=1)
        left.append(arr[i])
        right.append(arr[j])
    if not left:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(left), np.concatenate(right)


def _similarities(m: sparse.csr_matrix, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    out = np.empty(i.size)
    step = 200_000
    for s in range(0, i.size, step):
        out[s:s + step] = np.asarray(m[i[s:s + step]].multiply(m[j[s:s + step]]).sum(axis=1)).ravel()
    return out


def _links(m: sparse.csr_matrix, places: list[Places], seconds: np.ndarray, window: float
           ) -> list[tuple[float, int, int]]:
    """(similarity, i, j) of every linked pair, strongest first."""
    by_place: dict[str, list[int]] = defaultdict(list)
    for idx, p in enumerate(places):
        for k in p.places:
            by_place[k].append(idx)
    pi, pj = _pairs_in_blocks([b for b in by_place.values() if 2 <= len(b) <= MAX_BLOCK and not _broad(b, places)])
    # near-identical candidates: reports sharing one of their heaviest bigrams
    postings: dict[int, list[int]] = defaultdict(list)
    for r in range(m.shape[0]):
        lo, hi = m.indptr[r], m.indptr[r + 1]
        if hi - lo:
            top = m.indices[lo:hi][np.argsort(-m.data[lo:hi])[:PREFIX_FEATURES]]
            for f in top.tolist():
                postings[f].append(r)
    di, dj = _pairs_in_blocks([b for b in postings.values() if 2 <= len(b) <= MAX_POSTING])
    i = np.concatenate([pi, di])
    j = np.concatenate([pj, dj])
    place_pair = np.concatenate([np.ones(pi.size, bool), np.zeros(di.size, bool)])
    if i.size == 0:
        return []
    key = i * m.shape[0] + j
    key, first = np.unique(key, return_index=True)
    i, j, place_pair = i[first], j[first], place_pair[first]
    near = np.abs(seconds[i] - seconds[j]) <= window
    i, j, place_pair = i[near], j[near], place_pair[near]
    sims = _similarities(m, i, j)
    keep = np.flatnonzero(np.where(place_pair, sims >= PLACE_SIM, sims >= DUPLICATE_SIM))
    keep = keep[np.asarray([_compatible(places[a], places[b], by_place=bool(p)) for a, b, p in
                            zip(i[keep].tolist(), j[keep].tolist(), place_pair[keep].tolist(), strict=True)],
                           dtype=bool)]
    order = np.argsort(-sims[keep], kind="stable")
    return list(zip(sims[keep][order].tolist(), i[keep][order].tolist(), j[keep][order].tolist(), strict=True))


_CODE = re.compile(r"([A-Z]+)(\d*)")


def _regions_meet(x: str, y: str) -> bool:
    """Whether two regions can be the same area: equal, or a masked city and one of its districts (K市 ⊃ K2区)."""
    if x == y:
        return True
    mx, my = _CODE.match(x), _CODE.match(y)
    if mx and my and mx.group(1) == my.group(1):
        return not mx.group(2) or not my.group(2)
    return False


def _compatible(a: Places, b: Places, *, by_place: bool) -> bool:
    """Whether two reports may be about one issue, beyond their subjects: never two counties' (the same complaint
    from L5县 and M12县 is two issues); and without a place in common, never two different places."""
    if not by_place and a.places and b.places and not set(a.places) & set(b.places):
        return False
    ra = [r for r in a.regions if not r.endswith(("省", "自治区"))]
    rb = [r for r in b.regions if not r.endswith(("省", "自治区"))]
    return not (ra and rb) or any(_regions_meet(x, y) for x in ra for y in rb)


def _broad(docs_of: list[int], places: list[Places]) -> bool:
    """A place key named from many unrelated regions is a generic phrase (商品房小区), not a place."""
    firsts = Counter(next((r for r in places[i].regions if not r.endswith("省")), None) for i in docs_of)
    firsts.pop(None, None)
    total = sum(firsts.values())
    return len(firsts) >= 3 and firsts.most_common(1)[0][1] < 0.5 * total


def _cluster(m: sparse.csr_matrix, links: list[tuple[float, int, int]], places: list[Places]) -> list[list[int]]:
    """Union of linked reports, strongest link first, refusing a merge whose centroids have drifted apart or whose
    clusters name different places (two reports without a place must not bridge two places' issues)."""
    parent = list(range(m.shape[0]))
    sums: dict[int, dict[int, float]] = {}  # a cluster's summed rows, as {column: weight} (scipy's per-call
    squares: dict[int, float] = {}  # overhead made this loop 20× slower); and their squared norms
    members: dict[int, list[int]] = {}
    named: dict[int, Places] = {}
    indptr, indices, data = m.indptr, m.indices, m.data

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def row(r: int) -> dict[int, float]:
        v = sums.get(r)
        if v is None:
            lo, hi = indptr[r], indptr[r + 1]
            v = sums[r] = dict(zip(indices[lo:hi].tolist(), data[lo:hi].tolist(), strict=True))
            squares[r] = 1.0  # rows are l2-normalised
        return v

    for _, a, b in links:
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        pa, pb = named.get(ra, places[ra]), named.get(rb, places[rb])
        if not _compatible(pa, pb, by_place=False):
            continue
        va, vb = row(ra), row(rb)
        if len(va) < len(vb):
            small, big = va, vb
        else:
            small, big = vb, va
        dot = sum(w * big.get(k, 0.0) for k, w in small.items())
        if dot < MERGE_SIM * math.sqrt(squares[ra] * squares[rb]):
            continue
        if len(members.get(ra, [ra])) < len(members.get(rb, [rb])):
            ra, rb, va, vb = rb, ra, vb, va
        parent[rb] = ra
        for k, w in vb.items():
            va[k] = va.get(k, 0.0) + w
        squares[ra] = squares[ra] + squares[rb] + 2.0 * dot
        named[ra] = Places(tuple(dict.fromkeys([*pa.places, *pb.places])), tuple(dict.fromkeys([*pa.regions,
                                                                                                 *pb.regions])))
        for d in (sums, squares, named):
            d.pop(rb, None)
        members[ra] = members.pop(ra, [ra]) + members.pop(rb, [rb])
    return list(members.values())


def hot_issues(docs: Sequence[HotDoc], *, top: int = 10, now: dt.datetime | None = None, window_days: int = 90,
               min_size: int = 2, half_life_days: float = HALF_LIFE_DAYS,
               known_regions: Sequence[str] = ()) -> list[HotIssue]:
    """The ``top`` hottest issues among ``docs``: clusters of at least ``min_size`` reports about the same
    place and subject, linked only within ``window_days`` of each other, ranked by :func:`heat` as of ``now``
    (default: the latest report). ``known_regions``: the deployment's administrative names (regions, never
    places)."""
    if not docs:
        return []
    places = doc_places(docs, known_regions=known_regions)
    texts = [subject_text(d.title, d.text, [*p.places, *p.regions]) for d, p in zip(docs, places, strict=True)]
    m = subject_vectors(texts)
    seconds = np.asarray([_seconds(d.time) for d in docs], dtype=float)
    clusters = [c for c in _cluster(m, _links(m, places, seconds, window_days * 86400.0), places) if len(c) >= min_size]
    now_s = _seconds(now) if now is not None else float(seconds.max())
    scored: list[tuple[float, list[int]]] = []
    for c in clusters:
        reporters = len({docs[i].reporter if docs[i].reporter is not None else f"#{i}" for i in c})
        span = (seconds[c].max() - seconds[c].min()) / 86400.0
        age = (now_s - seconds[c].max()) / 86400.0
        votes = sum(max(docs[i].votes or 0, 0) for i in c)
        scored.append((heat(size=len(c), reporters=reporters, votes=votes, span_days=span, age_days=age,
                            half_life_days=half_life_days), c))
    scored.sort(key=lambda s: (-s[0], -len(s[1]), min(docs[i].id for i in s[1])))
    return [_issue(rank, h, c, docs, places, m) for rank, (h, c) in enumerate(scored[:top], start=1)]


def _issue(rank: int, h: float, c: list[int], docs: Sequence[HotDoc], places: list[Places],
           m: sparse.csr_matrix) -> HotIssue:
    c = sorted(c, key=lambda i: (docs[i].time, docs[i].id))
    counts: Counter[str] = Counter(k for i in c for k in places[i].places)
    shared = [k for k, n in counts.most_common() if n >= max(2, math.ceil(0.3 * len(c)))]
    named = shared[:3] or [k for k, _ in counts.most_common(1)]
    regions: Counter[str] = Counter(r for i in c for r in places[i].regions)
    rep = c[int(np.argmax(cosine_to(m, c)))]
    exclude = [*counts, *regions]
    terms = subject_terms([(docs[i].title, docs[i].text) for i in c], exclude=exclude)
    reporters = len({docs[i].reporter if docs[i].reporter is not None else f"#{i}" for i in c})
    return HotIssue(rank=rank, heat=float(f"{h:.4g}"), places=named, terms=terms, first=docs[c[0]].time,
                    last=docs[c[-1]].time, ids=[docs[i].id for i in c], representative_id=docs[rep].id,
                    representative_text=_one_line(docs[rep]), reporters=reporters,
                    votes=sum(max(docs[i].votes or 0, 0) for i in c))


def _one_line(d: HotDoc) -> str:
    text = f"{d.title}：{d.text}" if d.title else d.text
    return " ".join((text or "").split())
