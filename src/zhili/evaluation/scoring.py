"""From metrics to scores: indicator values, normalisation, weighting, roll-up and ranks — pure functions, no
database, so a run, a what-if on new weights and the tests all go through the same code.

**Values.** Each indicator's formula (:mod:`zhili.core.expr`, with ``pct``/``ratio``/``per1000``) is evaluated on
each unit's metrics. A formula that meets missing figures gives ``None`` (无数据); one that fails on the values
(division by zero written out by hand, a type mismatch) gives ``None`` too, and the failure is reported with the
run rather than stopping it.

**Normalisation to 0–100**, per indicator, direction-aware:

* ``minmax`` — across peers: the grids of the district (scope ``grid``) or its communities (scope ``community``).
  Higher-is-better: 100·(v − min)/(max − min); lower-is-better: 100·(max − v)/(max − min). When every peer has the
  same value there is no spread to rank on and every peer scores 100.
* ``target`` — against the indicator's own threshold (0 points) and target (100 points), linear between and clamped
  outside; works for both directions (for lower-is-better the threshold is above the target).

**Weighting.** Weights count among siblings only: indicators within a sub-dimension, sub-dimensions within a
dimension, the four dimensions in the total. Each node's score is the weighted mean of its children's scores over
the children that have one — a missing indicator does not count as 0, its weight is shared among the others.

**Roll-up.** Scores are computed for grids. Every node's score of a unit above the grids (community, street,
district) is the population-weighted mean of that node's score over the unit's grids (grids without the score left
out; if none of them has residents on record, the plain mean). A community-scope indicator has one value per
community, which each of its grids carries.

**Ranks** are competition ranks ("1, 2, 2, 4") by total among all units of the same level in the district and among
the same parent's children.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from zhili.core.expr import EvalError, Expr, compile_expr
from zhili.evaluation.catalog import DIMENSIONS, FORMULA_FUNCTIONS, SUB_DIMENSIONS

GRID = "grid"
COMMUNITY = "community"


@dataclass(frozen=True)
class IndicatorDef:
    code: str
    name: str
    dimension: str
    sub_dimension: str
    unit: str
    direction: str
    formula: str
    scope: str
    normalisation: str
    target: float | None
    threshold: float | None
    source: str
    definition: str
    metrics: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["metrics"] = list(self.metrics)
        return d


class UnitLike(Protocol):
    @property
    def level(self) -> str: ...

    @property
    def parent_path(self) -> str | None: ...


def compile_formula(formula: str, names: Iterable[str] | None = None) -> Expr:
    """The formula compiled with the indicator functions; ``names`` (if given) the only metrics it may read."""
    return compile_expr(formula, names=None if names is None else set(names), functions=FORMULA_FUNCTIONS)


@dataclass
class Values:
    by_unit: dict[str, dict[str, float | None]]
    errors: dict[str, str] = field(default_factory=dict)  # indicator → the first failure's message


def indicator_values(defs: Sequence[IndicatorDef], metrics: Mapping[str, Mapping[str, float | None]],
                     units: Mapping[str, UnitLike] | None = None, *,
                     reported: Iterable[str] = ()) -> Values:
    """Every indicator's value for every unit (rounded to 4 places; None = 无数据).

    With ``units`` (the tree), a grid carries its community's value of every community-scope indicator, as it
    carries its score: the formula on the grid's own figures would mix the community's manual figures with the
    grid's population (``it_spent`` of the community over the grid's residents). Above the communities, an
    indicator reading ``reported`` figures (the data sets' fields) is its formula over the communities that
    reported (:func:`_over_reporting_communities`): the reporting communities' figures over the whole population
    would understate it."""
    compiled = [(d, compile_formula(d.formula)) for d in defs]
    out: dict[str, dict[str, float | None]] = {}
    errors: dict[str, str] = {}
    for path, row in metrics.items():
        vals: dict[str, float | None] = {}
        for d, expr in compiled:
            try:
                v = expr.evaluate(row)
            except EvalError as exc:
                errors.setdefault(d.code, exc.message)
                v = None
            vals[d.code] = _clean(v)
        out[path] = vals
    if units is not None:
        shared = [d.code for d in defs if d.scope == COMMUNITY]
        for path, unit in units.items():
            if unit.level != GRID or path not in out:
                continue
            community = _up_to(units, path, COMMUNITY)
            own = out.get(community, {}) if community else {}
            for code in shared:
                out[path][code] = own.get(code)
        manual = set(reported)
        by_report = [(d, e) for d, e in compiled if manual & set(d.metrics)]
        if by_report:
            _over_reporting_communities(units, metrics, out, by_report, manual)
    return Values(out, errors)


def _over_reporting_communities(units: Mapping[str, UnitLike], metrics: Mapping[str, Mapping[str, float | None]],
                                out: dict[str, dict[str, float | None]], compiled: Sequence[tuple[IndicatorDef, Expr]],
                                manual: set[str]) -> None:
    """Above the communities, an indicator on manual figures is its formula over the communities that reported:
    their manual figures (summed, or population-weighted for scores, as ``metrics`` already combined them for
    the reporting ones) with their own platform figures summed — not over the whole population."""
    communities_of: dict[str, list[str]] = defaultdict(list)
    for path, unit in units.items():
        if unit.level != COMMUNITY:
            continue
        p: str | None = unit.parent_path
        while p is not None and p in units:
            communities_of[p].append(path)
            p = units[p].parent_path
    for path, communities in communities_of.items():
        if path not in out:
            continue
        for d, expr in compiled:
            used = set(d.metrics)
            fields = used & manual
            reporting = [c for c in communities if all(metrics.get(c, {}).get(f) is not None for f in fields)]
            row: dict[str, float | None] = dict(metrics.get(path, {}))
            for name in used - manual:
                if name.endswith("_p50") or name.startswith(("gini_", "theil_", "gap_")):
                    continue  # not a sum: the unit's own value
                values = [metrics.get(c, {}).get(name) for c in reporting]
                known = [v for v in values if v is not None]
                row[name] = float(sum(known)) if known and len(known) == len(values) else None
            if not reporting:
                out[path][d.code] = None
                continue
            try:
                out[path][d.code] = _clean(expr.evaluate(row))
            except EvalError:
                out[path][d.code] = None


def _clean(v: Any) -> float | None:
    if v is None or isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return round(f, 4) if math.isfinite(f) else None


def normalise(d: IndicatorDef, value: float | None, peers: Sequence[float]) -> float | None:
    """``value`` on 0–100 by the indicator's method (see the module's docstring)."""
    if value is None:
        return None
    if d.normalisation == "target":
        if d.target is None or d.threshold is None or d.target == d.threshold:
            return None
        x = (value - d.threshold) / (d.target - d.threshold)
        return round(100.0 * min(1.0, max(0.0, x)), 2)
    if not peers:
        return None
    lo, hi = min(peers), max(peers)
    if hi == lo:
        return 100.0
    x = (value - lo) / (hi - lo)
    return round(100.0 * (x if d.direction == "higher" else 1.0 - x), 2)


def sibling_weights(defs: Sequence[IndicatorDef], weights: Mapping[str, Any]) -> dict[str, float]:
    """Every node's weight (missing → 1, negatives and non-numbers → 0)."""
    out: dict[str, float] = {}
    for key in [*DIMENSIONS, *SUB_DIMENSIONS, *(d.code for d in defs)]:
        w = weights.get(key, 1.0)
        out[key] = float(w) if isinstance(w, int | float) and not isinstance(w, bool) and w > 0 else 0.0
    return out


def effective_weights(defs: Sequence[IndicatorDef], weights: Mapping[str, Any]) -> dict[str, float]:
    """Each indicator's share of the total (the product of its normalised weights down the tree; sums to 1)."""
    w = sibling_weights(defs, weights)
    subs_of: dict[str, list[str]] = defaultdict(list)
    for sub, (dim, _name) in SUB_DIMENSIONS.items():
        subs_of[dim].append(sub)
    inds_of: dict[str, list[IndicatorDef]] = defaultdict(list)
    for d in defs:
        inds_of[d.sub_dimension].append(d)
    dims = [k for k in DIMENSIONS if inds_of_any(k, subs_of, inds_of)]
    dim_total = sum(w[k] for k in dims) or 1.0
    out: dict[str, float] = {}
    for dim in dims:
        subs = [s for s in subs_of[dim] if inds_of[s]]
        sub_total = sum(w[s] for s in subs) or 1.0
        for sub in subs:
            ind_total = sum(w[d.code] for d in inds_of[sub]) or 1.0
            for d in inds_of[sub]:
                out[d.code] = round(w[dim] / dim_total * w[sub] / sub_total * w[d.code] / ind_total, 6)
    return out


def inds_of_any(dim: str, subs_of: Mapping[str, list[str]], inds_of: Mapping[str, list[Any]]) -> bool:
    return any(inds_of.get(s) for s in subs_of.get(dim, []))


def _wmean(pairs: Iterable[tuple[float | None, float]]) -> float | None:
    known = [(v, w) for v, w in pairs if v is not None and w > 0]
    total = sum(w for _, w in known)
    if not known or total <= 0:
        return None
    return round(sum(v * w for v, w in known) / total, 2)


def aggregate(defs: Sequence[IndicatorDef], weights: Mapping[str, float], scores: dict[str, float | None]) -> None:
    """Add sub-dimension, dimension and ``total`` scores to one unit's indicator ``scores`` (in place)."""
    by_sub: dict[str, list[IndicatorDef]] = defaultdict(list)
    for d in defs:
        by_sub[d.sub_dimension].append(d)
    for sub in SUB_DIMENSIONS:
        scores[sub] = _wmean((scores.get(d.code), weights[d.code]) for d in by_sub.get(sub, []))
    for dim in DIMENSIONS:
        scores[dim] = _wmean((scores.get(sub), weights[sub]) for sub, (dd, _n) in SUB_DIMENSIONS.items() if dd == dim)
    scores["total"] = _wmean((scores.get(dim), weights[dim]) for dim in DIMENSIONS)


@dataclass
class Scored:
    scores: dict[str, dict[str, float | None]]  # unit path → node → score (indicators, E1.1…, E1…, "total")
    rank: dict[str, int | None]
    peers: dict[str, int]
    rank_siblings: dict[str, int | None]


def score_units(defs: Sequence[IndicatorDef], weights: Mapping[str, Any], units: Mapping[str, UnitLike],
                values: Mapping[str, Mapping[str, float | None]], population: Mapping[str, float]) -> Scored:
    """Scores of every unit (see the module's docstring)."""
    w = sibling_weights(defs, weights)
    grids = [p for p, u in units.items() if u.level == GRID]
    communities = [p for p, u in units.items() if u.level == COMMUNITY]
    community_of = {g: _up_to(units, g, COMMUNITY) for g in grids}
    scores: dict[str, dict[str, float | None]] = {g: {} for g in grids}
    for d in defs:
        if d.scope == COMMUNITY:
            peer_paths = communities
        else:
            peer_paths = grids
        peers = [v for p in peer_paths if (v := values.get(p, {}).get(d.code)) is not None]
        if d.scope == COMMUNITY:
            own = {c: normalise(d, values.get(c, {}).get(d.code), peers) for c in communities}
            for g in grids:
                c = community_of[g]
                scores[g][d.code] = own.get(c) if c else None
        else:
            for g in grids:
                scores[g][d.code] = normalise(d, values.get(g, {}).get(d.code), peers)
    for g in grids:
        aggregate(defs, w, scores[g])
    # roll-up: population-weighted means over each unit's grids
    grids_of: dict[str, list[str]] = defaultdict(list)
    for g in grids:
        p: str | None = units[g].parent_path
        while p is not None and p in units:
            grids_of[p].append(g)
            p = units[p].parent_path
    nodes = [*(d.code for d in defs), *SUB_DIMENSIONS, *DIMENSIONS, "total"]
    for path, mine in grids_of.items():
        pops = [float(population.get(g, 0) or 0) for g in mine]
        use_plain = sum(pops) <= 0
        scores[path] = {node: _wmean((scores[g].get(node), 1.0 if use_plain else pop)
                                     for g, pop in zip(mine, pops, strict=True)) for node in nodes}
    for path in units:
        scores.setdefault(path, dict.fromkeys(nodes))
    rank, peers_n, rank_sib = _ranks(units, {p: s.get("total") for p, s in scores.items()})
    return Scored(scores, rank, peers_n, rank_sib)


def _up_to(units: Mapping[str, UnitLike], path: str, level: str) -> str | None:
    p: str | None = path
    while p is not None and p in units:
        if units[p].level == level:
            return p
        p = units[p].parent_path
    return None


def competition_ranks(items: Mapping[str, float | None]) -> dict[str, int | None]:
    """1, 2, 2, 4 … by value, highest first; None for no value."""
    known = sorted(((v, k) for k, v in items.items() if v is not None), key=lambda t: -t[0])
    out: dict[str, int | None] = dict.fromkeys(items)
    prev: float | None = None
    rank = 0
    for i, (v, k) in enumerate(known, start=1):
        if v != prev:
            rank, prev = i, v
        out[k] = rank
    return out


def _ranks(units: Mapping[str, UnitLike], totals: Mapping[str, float | None]
           ) -> tuple[dict[str, int | None], dict[str, int], dict[str, int | None]]:
    by_level: dict[str, dict[str, float | None]] = defaultdict(dict)
    by_parent: dict[str | None, dict[str, float | None]] = defaultdict(dict)
    for p, u in units.items():
        by_level[u.level][p] = totals.get(p)
        by_parent[u.parent_path][p] = totals.get(p)
    rank: dict[str, int | None] = {}
    peers: dict[str, int] = {}
    for group in by_level.values():
        rank.update(competition_ranks(group))
        n = sum(1 for v in group.values() if v is not None)
        peers.update(dict.fromkeys(group, n))
    sib: dict[str, int | None] = {}
    for group in by_parent.values():
        sib.update(competition_ranks(group))
    return rank, peers, sib


def inputs_hash(metrics: Mapping[str, Mapping[str, Any]], defs: Sequence[IndicatorDef], weights: Mapping[str, Any],
                units: Mapping[str, UnitLike]) -> str:
    """SHA-256 over everything a run's numbers depend on: metrics of every unit, the definitions, the weights and
    the tree's shape. Equal hashes mean equal numbers."""
    doc = {
        "metrics": {p: {k: metrics[p][k] for k in sorted(metrics[p])} for p in sorted(metrics)},
        "defs": [d.as_dict() for d in sorted(defs, key=lambda d: d.code)],
        "weights": {k: weights[k] for k in sorted(weights)},
        "units": sorted((p, u.level, u.parent_path or "") for p, u in units.items()),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
