"""Equity measures (公平) over the units of a level — pure functions, no database.

Each unit ``i`` has a value ``x_i ≥ 0`` (an indicator's value: response hours, visits per 1,000 residents …) and an
optional weight ``w_i ≥ 0`` (its population, so that every resident counts once; without weights every unit counts
once). ``W = Σ w_i`` and ``μ = Σ w_i x_i / W`` is the weighted mean.

* **Gini coefficient** — half the mean absolute difference between two people (units) drawn at random, relative to
  the mean::

      G = Σ_i Σ_j w_i w_j |x_i − x_j| / (2 W² μ)

  Unweighted (``w_i = 1``) this is ``Σ_i Σ_j |x_i − x_j| / (2 n² μ)``: 0 when all values are equal, ``(n − 1)/n``
  when one of ``n`` units holds everything. With integer weights it equals the unweighted Gini of the data with
  each unit repeated ``w_i`` times. Computed in ``O(n log n)`` from the sorted values: the double sum is
  ``2 Σ_i w_i (x_i · W_<i − S_<i)`` with ``W_<i``, ``S_<i`` the weight and weighted value below ``x_i``.
* **Lorenz curve** — the units sorted by value ascending; point ``k`` is (share of the population in the first
  ``k`` units, share of the total value they hold), from (0, 0) to (1, 1). The Gini is twice the area between the
  curve and the diagonal.
* **Theil T index** — the entropy of value shares against population shares::

      T = (1/W) Σ_i w_i (x_i/μ) ln(x_i/μ) = Σ_i s_i ln(x_i/μ),   s_i = w_i x_i / (W μ)

  0 under equality, ``ln n`` when one of ``n`` equal-weight units holds everything; a unit with ``x_i = 0``
  contributes 0 (the limit of ``x ln x``).
* **Between/within decomposition** of Theil T over groups ``g`` (the communities of the grids): with the group's
  value share ``s_g = W_g μ_g / (W μ)``, its mean ``μ_g`` and its own Theil ``T_g`` over its units::

      T = Σ_g s_g T_g  +  Σ_g s_g ln(μ_g / μ)
          (within)        (between)

  exactly (not an approximation): the within part is the inequality inside communities, the between part the
  inequality that would remain if every grid had its community's mean.
* **Decile gap** — the mean of the worst tenth of units (``ceil(n/10)``, at least one) against the median: for a
  "lower is better" indicator the worst are the highest values and the ratio is ``worst_mean / median``; for
  "higher is better" the lowest and ``median / worst_mean``. A ratio of 1 means the worst decile is no worse than
  the median; 2 means twice as bad.
* **Lagging units** — the bottom share of units by total score, each with its gap to the median total and the
  indicators that drive it: ``weight × (peer median score − unit score)``, the points of total score the unit
  loses against a median peer on that indicator.

All measures are defined for non-negative values; they return ``None`` where undefined (no units, a zero total,
a negative value).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


# -- input -----------------------------------------------------------------------------------------------------

def _arrays(values: Sequence[float], weights: Sequence[float] | None) -> tuple[Floats, Floats] | None:
    """Values and weights as arrays, units of zero weight dropped; ``None`` when nothing remains, a value is
    negative or the total is zero (the measures are undefined). Non-finite input or mismatched lengths raise
    :class:`ValueError` (a caller's bug, not data)."""
    x = np.asarray(values, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if x.ndim != 1 or w.shape != x.shape:
        raise ValueError("values and weights must be flat sequences of the same length")
    if not (np.isfinite(x).all() and np.isfinite(w).all()):
        raise ValueError("values and weights must be finite numbers")
    if (w < 0).any():
        raise ValueError("weights must not be negative")
    keep = w > 0
    x, w = x[keep], w[keep]
    if x.size == 0 or (x < 0).any() or float(np.dot(w, x)) <= 0:
        return None
    return x, w


# -- Gini and Lorenz ---------------------------------------------------------------------------------------------

def gini(values: Sequence[float], weights: Sequence[float] | None = None) -> float | None:
    """The (population-weighted when ``weights`` are given) Gini coefficient: ``Σ Σ w_i w_j |x_i − x_j| / (2 W² μ)``.

    ``None`` for no units, an all-zero total or a negative value; 0 for equal values; ``(n − 1)/n`` when one of
    ``n`` equal-weight units holds everything."""
    arrays = _arrays(values, weights)
    if arrays is None:
        return None
    x, w = arrays
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    below_w = np.cumsum(w) - w  # weight of the units below each one
    below_s = np.cumsum(w * x) - w * x  # their weighted value
    pair_sum = 2.0 * float(np.sum(w * (x * below_w - below_s)))  # Σ_i Σ_j w_i w_j |x_i − x_j|
    total_w = float(w.sum())
    mean = float(np.dot(w, x)) / total_w
    return max(0.0, pair_sum / (2.0 * total_w * total_w * mean))


def lorenz(values: Sequence[float], weights: Sequence[float] | None = None) -> list[tuple[float, float]]:
    """The Lorenz curve: ``(cumulative population share, cumulative value share)`` over the units sorted by value
    ascending, from ``(0, 0)`` to ``(1, 1)`` — one point per unit after the origin. Empty where the Gini is
    undefined (no units, zero total, a negative value)."""
    arrays = _arrays(values, weights)
    if arrays is None:
        return []
    x, w = arrays
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    pop = np.cumsum(w) / w.sum()
    val = np.cumsum(w * x) / np.dot(w, x)
    points = [(0.0, 0.0)] + [(float(p), float(v)) for p, v in zip(pop, val, strict=True)]
    points[-1] = (1.0, 1.0)  # exactly, whatever the rounding of the sums
    return points


# -- Theil and its decomposition ----------------------------------------------------------------------------------

def _theil(x: Floats, w: Floats) -> float:
    """Theil T of positive-total, non-negative ``x`` with weights ``w`` (zeros contribute 0)."""
    mean = float(np.dot(w, x)) / float(w.sum())
    r = x / mean
    pos = r > 0
    terms = w[pos] * r[pos] * np.log(r[pos])
    return max(0.0, float(terms.sum()) / float(w.sum()))


def theil(values: Sequence[float], weights: Sequence[float] | None = None) -> float | None:
    """Theil's T index ``(1/W) Σ w_i (x_i/μ) ln(x_i/μ)``; zeros contribute 0. ``None`` where undefined (no units,
    zero total, a negative value); 0 for equal values; ``ln n`` when one of ``n`` equal-weight units holds all."""
    arrays = _arrays(values, weights)
    return None if arrays is None else _theil(*arrays)


@dataclass(frozen=True)
class GroupTheil:
    """One group in a Theil decomposition.

    ``share`` is the group's share of the total value (``s_g``, its weight in the within term),
    ``population_share`` its share of the weight, ``theil`` the Theil T inside it (``None`` when its total is 0),
    ``contribution`` its part of the within term (``s_g T_g``) and ``between`` its part of the between term
    (``s_g ln(μ_g/μ)``, negative for a group below the overall mean)."""

    group: Hashable
    units: int
    population_share: float
    share: float
    mean: float
    theil: float | None
    contribution: float
    between: float


@dataclass(frozen=True)
class TheilDecomposition:
    """Theil T split into the inequality between group means and within groups: ``total = between + within``."""

    total: float
    between: float
    within: float
    groups: list[GroupTheil] = field(default_factory=list)

    @property
    def between_share(self) -> float | None:
        """The part of the inequality that lies between groups (``None`` under perfect equality)."""
        return self.between / self.total if self.total > 0 else None


def theil_decomposition(values: Sequence[float], groups: Sequence[Hashable],
                        weights: Sequence[float] | None = None) -> TheilDecomposition | None:
    """Theil T of ``values`` decomposed over ``groups`` (one group key per value): ``total = between + within``
    with ``within = Σ_g s_g T_g`` and ``between = Σ_g s_g ln(μ_g/μ)``. ``None`` where Theil is undefined. Groups
    come out in order of first appearance."""
    if len(groups) != len(values):
        raise ValueError("one group per value")
    arrays = _arrays(values, weights)  # validates the lengths and drops units of zero weight
    if arrays is None:
        return None
    x, w = arrays
    given = [1.0] * len(values) if weights is None else [float(v) for v in weights]
    keys = [g for g, wi in zip(groups, given, strict=True) if wi > 0]
    total_w, total_s = float(w.sum()), float(np.dot(w, x))
    mean = total_s / total_w
    index: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        index.setdefault(key, []).append(i)
    parts: list[GroupTheil] = []
    for key, members in index.items():
        gx, gw = x[members], w[members]
        g_w, g_s = float(gw.sum()), float(np.dot(gw, gx))
        g_mean, share = g_s / g_w, g_s / total_s
        g_theil = _theil(gx, gw) if g_s > 0 else None
        parts.append(GroupTheil(group=key, units=len(members), population_share=g_w / total_w, share=share,
                                mean=g_mean, theil=g_theil, contribution=share * (g_theil or 0.0),
                                between=share * math.log(g_mean / mean) if g_s > 0 else 0.0))
    within = math.fsum(p.contribution for p in parts)
    between = math.fsum(p.between for p in parts)
    # the identity holds algebraically; report the total as computed directly (they agree to rounding)
    return TheilDecomposition(total=_theil(x, w), between=between, within=within, groups=parts)


# -- decile gap -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DecileGap:
    """The worst decile against the median. ``ratio`` ≥ 1 means the worst decile is worse (``None`` when the
    denominator is 0); ``difference`` is ``|worst_mean − median|`` in the indicator's unit."""

    direction: str
    units: int
    worst_units: int
    worst_mean: float
    median: float
    ratio: float | None
    difference: float


def decile_gap(values: Sequence[float], direction: str) -> DecileGap | None:
    """The mean of the worst ``ceil(n/10)`` values against the median: for ``direction == "lower"`` (lower is
    better) the worst are the highest and ``ratio = worst_mean / median``; for ``"higher"`` the lowest and
    ``ratio = median / worst_mean``. ``None`` with fewer than two values."""
    if direction not in ("higher", "lower"):
        raise ValueError(f"direction must be 'higher' or 'lower', not {direction!r}")
    xs = sorted(float(v) for v in values)
    if len(xs) < 2:
        return None
    k = -(-len(xs) // 10)  # ceil(n / 10)
    worst = xs[-k:] if direction == "lower" else xs[:k]
    worst_mean = math.fsum(worst) / k
    median = float(statistics.median(xs))
    num, den = (worst_mean, median) if direction == "lower" else (median, worst_mean)
    ratio = num / den if den > 0 else None
    return DecileGap(direction=direction, units=len(xs), worst_units=k, worst_mean=worst_mean, median=median,
                     ratio=ratio, difference=abs(worst_mean - median))


# -- lagging units ----------------------------------------------------------------------------------------------------

def _median(xs: list[float]) -> float | None:
    return float(statistics.median(xs)) if xs else None


def lagging_units(units: Sequence[Mapping[str, Any]], weights: Mapping[str, float], *, share: float = 0.1,
                  top: int = 3) -> list[dict[str, Any]]:
    """The bottom ``share`` of ``units`` by total score (at least one), lowest first, each with its gap to the
    median total and its ``top`` drivers.

    ``units``: ``{"code", "name", "total", "scores": {indicator: score | None}}`` (units without a total are left
    out); ``weights``: the effective global weight of each indicator (summing to 1, so ``Σ weight × score`` is the
    total). A driver is an indicator where ``weight × (peer median score − unit score)`` is positive — the points
    of total the unit loses against a median peer there — ranked by that amount; indicators without a score for
    the unit are not drivers."""
    if not 0 < share <= 1:
        raise ValueError("share must lie in (0, 1]")
    scored = [u for u in units if u.get("total") is not None]
    if not scored:
        return []
    median_total = _median([float(u["total"]) for u in scored])
    assert median_total is not None
    peer_median = {code: _median([float(s) for u in scored
                                  if (s := (u.get("scores") or {}).get(code)) is not None])
                   for code in weights}
    k = max(1, math.ceil(share * len(scored) - 1e-9))
    bottom = sorted(scored, key=lambda u: (float(u["total"]), str(u.get("code", ""))))[:k]
    out = []
    for u in bottom:
        scores = u.get("scores") or {}
        drivers: list[dict[str, Any]] = []
        for code, weight in weights.items():
            mine, med = scores.get(code), peer_median[code]
            if mine is None or med is None:
                continue
            effect = float(weight) * (med - float(mine))
            if effect > 0:
                drivers.append({"indicator": code, "weight": float(weight), "score": float(mine),
                                "peer_median": med, "effect": effect})
        drivers.sort(key=lambda d: (-d["effect"], d["indicator"]))
        out.append({"code": u.get("code"), "name": u.get("name"), "total": float(u["total"]),
                    "median_total": median_total, "gap": float(u["total"]) - median_total,
                    "drivers": drivers[:top]})
    return out
