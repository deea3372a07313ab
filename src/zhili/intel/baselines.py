"""Expected daily counts and their tail probabilities for the early-warning surge detector (预警 · 数量异常).

The model, for series ``s`` (a unit × a category group) on local day ``t``::

    X[s, t] | λ  ~  Poisson(λ[s] · M[g, t])          M = day-class factor × season factor of the series' group g
    λ[s]          ~  Gamma(a + C[s, t], E[g, t])      C = the series' count over the trailing window (W days before t)
                                                     E = Σ M over that window (the window's "exposure")

so the predictive count is negative binomial with size ``r = a + C`` and mean ``μ = M[g, t] · (a + C) / E``
(the Poisson–gamma mixture): the trailing level's own uncertainty is in the tail, which is what keeps a sparse
series from alarming on noise. Extra-Poisson variation (real complaints come in clusters) is a dispersion ``φ``
per group, estimated on the history's own one-step-ahead residuals and folded in by matching the variance
``φ·μ + μ²/r``. ``P(X ≥ x)`` under that negative binomial is the surge p-value.

* **Day classes** — Monday … Sunday on ordinary days, a statutory holiday's rest day (节假日) and a make-up working
  day on a weekend (调休上班), from the platform's working calendar (:mod:`zhili.worktime`: overrides, then the
  ``chinesecalendar`` package).
* **Day-class factors** are pooled per category group over the whole district and fitted as the Poisson maximum
  likelihood of ``Z[g, t] ~ Poisson(A[g, week] · F[g, class])`` by iterative proportional fitting (the MLE of a
  log-linear main-effects model equates its margins; a few sweeps converge) — no GLM per series.
* **Season** — the trailing level follows slow changes; what it misses (it lags the season by half a window) is
  learnt from the history: the ratio observed / expected by calendar month in earlier years, pooled per group and
  shrunk towards 1, applied as a factor. Without a year of history the factor is 1.

Everything is numpy over a ``series × days`` matrix: cumulative sums give every trailing window at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

N_CLASSES = 9  # Monday..Sunday (0–6), statutory holiday rest day (7), make-up working day on a weekend (8)
HOLIDAY, MAKEUP = 7, 8
CLASS_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日", "节假日", "调休上班日")

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True)
class SurgeParams:
    """The detector's settings (see ``zhili.core.settings``: ``ZHILI_WARN_SURGE_*``)."""

    alpha: float = 0.001  # a day (or week) is flagged when P(X ≥ x) ≤ alpha
    window: int = 56  # trailing days behind the level
    min_expected: float = 0.5  # a day must also be extreme under Poisson(this) (sparse series: see p_value)
    min_expected_week: float = 2.0  # … and a week under Poisson(this)
    min_count: int = 3  # and fewer cases than this never alarm
    prior_a: float = 0.5  # the level's gamma prior shape (pseudo-cases)
    season_shrink: float = 20.0  # pseudo-cases pulling a month's season factor towards 1


def day_class(day: dt.date, *, is_workday: bool, holiday_name: str | None) -> int:
    """The class of a local day: its weekday, or a holiday rest day, or a make-up working day on a weekend."""
    wd = day.weekday()
    if not is_workday and (wd < 5 or holiday_name):
        return HOLIDAY
    if is_workday and wd >= 5:
        return MAKEUP
    return wd


def classes_for(days: Sequence[dt.date], calendar: object) -> NDArray[np.int8]:
    """Day classes of ``days`` from a :class:`zhili.worktime.service.WorkCalendar` (or anything with ``describe``)."""
    out = np.empty(len(days), dtype=np.int8)
    for i, d in enumerate(days):
        info = calendar.describe(d)  # type: ignore[attr-defined]
        out[i] = day_class(d, is_workday=info.is_workday, holiday_name=info.name)
    return out


def fit_day_factors(z: F64, classes: NDArray[np.int8], weeks: I64, *, iters: int = 12, kappa: float = 5.0) -> F64:
    """Per-group day-class factors ``F[g, class]`` (ordinary weekdays averaging 1) from pooled daily counts
    ``z[g, t]``: the Poisson MLE of ``z ~ A[g, week] · F[g, class]`` by iterative proportional fitting, each
    class shrunk towards 1 by ``kappa`` pseudo-cases (a group with few cases keeps flat factors)."""
    g_n, t_n = z.shape
    n_weeks = int(weeks.max()) + 1 if t_n else 0
    f = np.ones((g_n, N_CLASSES))
    class_tot = np.stack([np.bincount(classes, weights=row, minlength=N_CLASSES) for row in z]) if g_n else \
        np.zeros((0, N_CLASSES))
    week_tot = np.stack([np.bincount(weeks, weights=row, minlength=n_weeks) for row in z]) if g_n else \
        np.zeros((0, n_weeks))
    for _ in range(iters):
        week_exp = np.stack([np.bincount(weeks, weights=f[g, classes], minlength=n_weeks) for g in range(g_n)])
        a = np.divide(week_tot, week_exp, out=np.zeros_like(week_tot), where=week_exp > 0)
        class_exp = np.stack([np.bincount(classes, weights=a[g, weeks], minlength=N_CLASSES) for g in range(g_n)])
        f = (class_tot + kappa) / (class_exp + kappa)
        f /= f[:, :7].mean(axis=1, keepdims=True)
    return f


def trailing(cum: F64, t: I64, window: int) -> F64:
    """Sums over the ``window`` days before each day ``t`` (column indexes), from a cumulative sum along the last
    axis with a leading zero column (``cum[..., k]`` = sum of the first k days)."""
    lo = np.maximum(t - window, 0)
    return cum[..., t] - cum[..., lo]


def cumulative(x: NDArray[np.floating] | NDArray[np.integer]) -> F64:
    """Cumulative sum along the last axis with a leading zero column."""
    out = np.zeros((*x.shape[:-1], x.shape[-1] + 1))
    np.cumsum(x, axis=-1, out=out[..., 1:])
    return out


def negbin_params(mean: F64, size: F64, phi: F64 | float) -> tuple[F64, F64, F64]:
    """(mean, size, p) of the predictive negative binomial: the Poisson–gamma ``(mean, size)`` with the
    variance widened to ``φ·mean + mean²/size``."""
    phi_arr = np.maximum(np.asarray(phi, dtype=float), 1.0)
    extra = (phi_arr - 1.0) * mean + mean * mean / size
    size = np.where(extra > 0, mean * mean / np.maximum(extra, 1e-300), size)
    return mean, size, size / (size + mean)


def upper_tail(x: F64 | I64, size: F64, p: F64) -> F64:
    """``P(X ≥ x)`` for ``X ~ NB(size, p)`` (scipy's parameterisation: mean ``size (1-p) / p``)."""
    x = np.asarray(x, dtype=float)
    return np.where(x <= 0, 1.0, stats.nbinom.sf(x - 1, size, p))


def p_value(x: F64 | I64, size: F64, p: F64, floor: float) -> F64:
    """The surge p-value: ``P(X ≥ x)`` under the predictive negative binomial, but never below the same tail under
    Poisson(``floor``) — a series expecting almost nothing must still show a count that would be extreme at the
    minimum level (at floor 0.5 and alpha 0.001: five cases in a day)."""
    x = np.asarray(x, dtype=float)
    tail = upper_tail(x, size, p)
    if floor > 0:
        tail = np.maximum(tail, np.where(x <= 0, 1.0, stats.poisson.sf(x - 1, floor)))
    return tail


def upper_bound(alpha: float, size: F64, p: F64, floor: float) -> F64:
    """The ``1 − alpha`` quantile of the predictive count (with the same floor): the top of the normal range."""
    q = stats.nbinom.ppf(1 - alpha, size, p)
    return np.maximum(q, stats.poisson.ppf(1 - alpha, floor)) if floor > 0 else q


@dataclass
class Fitted:
    """The fitted pieces for a set of series over a run of days (see the module docstring)."""

    params: SurgeParams
    mult: F64  # M[g, t]: day-class × season factor per group and day
    exposure_cum: F64  # cumulative M along days (leading zero column)
    count_cum: F64  # cumulative X per series (leading zero column)
    group: I64  # the group of each series
    phi: F64  # dispersion per group (≥ 1)
    factors: F64  # F[g, class]
    season: F64  # S[g, month-1]

    def day_predictive(self, t: I64) -> tuple[F64, F64, F64]:
        """(mean, size, p) for every series on each day index in ``t``: arrays ``series × len(t)``."""
        a = self.params.prior_a
        counts = trailing(self.count_cum, t, self.params.window) + a
        expo = trailing(self.exposure_cum, t, self.params.window)[self.group]
        mean = self.mult[self.group][:, t] * counts / np.maximum(expo, 1e-9)
        return negbin_params(mean, counts, self.phi[self.group][:, None])

    def week_predictive(self, start: I64) -> tuple[F64, F64, F64]:
        """(mean, size, p) of the 7-day sums starting at each day index in ``start`` (the level from the window
        before the week)."""
        a = self.params.prior_a
        counts = trailing(self.count_cum, start, self.params.window) + a
        expo = trailing(self.exposure_cum, start, self.params.window)[self.group]
        week_mult = (self.exposure_cum[:, start + 7] - self.exposure_cum[:, start])[self.group]
        mean = week_mult * counts / np.maximum(expo, 1e-9)
        return negbin_params(mean, counts, self.phi[self.group][:, None])


def fit(counts: F64 | NDArray[np.integer], group: I64, pooled: F64, classes: NDArray[np.int8], days: Sequence[dt.date],
        params: SurgeParams, *, asof: int | None = None, season: bool = True, dispersion_span: int = 182) -> Fitted:
    """Fit the day-class factors, the season and the dispersion for ``counts[s, t]`` (series × days), each series
    in group ``group[s]`` whose district-wide daily totals are ``pooled[g, t]``. ``asof``: the first day index under
    test — the season and the dispersion are learnt only from days before it."""
    t_n = counts.shape[1]
    asof = t_n if asof is None else asof
    ordinals = np.array([d.toordinal() for d in days], dtype=np.int64)
    weeks = (ordinals - ordinals[0] + days[0].weekday()) // 7 if t_n else ordinals
    months = np.array([d.month - 1 for d in days], dtype=np.int64)
    past = slice(0, asof) if asof > 0 else slice(None)
    factors = fit_day_factors(pooled[:, past], classes[past], weeks[past])
    base = factors[:, classes]
    s_fac = np.ones((pooled.shape[0], 12))
    if season:
        s_fac = season_factors(pooled, base, months, ordinals, asof, params)
    mult = base * s_fac[:, months]
    cnt = np.asarray(counts, dtype=float)
    fitted = Fitted(params=params, mult=mult, exposure_cum=cumulative(mult), count_cum=cumulative(cnt), group=group,
                    phi=np.ones(pooled.shape[0]), factors=factors, season=s_fac)
    fitted.phi = dispersion(fitted, cnt, asof, span=dispersion_span)
    return fitted


def season_factors(pooled: F64, base: F64, months: I64, ordinals: I64, asof: int, params: SurgeParams) -> F64:
    """Per group and calendar month, observed / expected of the pooled series (trailing level × day factors, no
    season) over days at least 300 days before ``asof`` (earlier years), shrunk towards 1."""
    g_n, t_n = pooled.shape
    out = np.ones((g_n, 12))
    if asof <= 0 or t_n == 0:
        return out
    limit = ordinals[min(asof, t_n) - 1] - 300
    t = np.arange(params.window, t_n, dtype=np.int64)
    t = t[ordinals[t] <= limit]
    if t.size == 0:
        return out
    level = trailing(cumulative(pooled), t, params.window) / np.maximum(trailing(cumulative(base), t, params.window),
                                                                        1e-9)
    expected = level * base[:, t]
    k = params.season_shrink
    for g in range(g_n):
        obs = np.bincount(months[t], weights=pooled[g, t], minlength=12)
        exp = np.bincount(months[t], weights=expected[g], minlength=12)
        out[g] = (obs + k) / (exp + k)
    return out


def dispersion(fitted: Fitted, counts: F64, asof: int, *, span: int = 182) -> F64:
    """φ per group: Σ (x − μ)² / Σ predictive variance over the one-step-ahead forecasts of the ``span`` days
    before ``asof`` (Pearson residuals capped at ±5 so past surges do not widen the band), at least 1."""
    w = fitted.params.window
    t = np.arange(max(w, asof - span), asof, dtype=np.int64)
    g_n = fitted.mult.shape[0]
    if t.size == 0:
        return np.ones(g_n)
    a = fitted.params.prior_a
    size = trailing(fitted.count_cum, t, w) + a
    expo = trailing(fitted.exposure_cum, t, w)[fitted.group]
    mean = fitted.mult[fitted.group][:, t] * size / np.maximum(expo, 1e-9)
    var = mean + mean * mean / size
    resid = np.clip((counts[:, t] - mean) / np.sqrt(np.maximum(var, 1e-12)), -5.0, 5.0)
    keep = mean >= 0.2  # the near-empty cells say nothing about spread
    num = np.bincount(fitted.group, weights=np.where(keep, resid * resid * var, 0.0).sum(axis=1), minlength=g_n)
    den = np.bincount(fitted.group, weights=np.where(keep, var, 0.0).sum(axis=1), minlength=g_n)
    phi = np.divide(num, den, out=np.ones(g_n), where=den > 0)
    return np.clip(phi, 1.0, 20.0)


# -- the robust alternative, kept as the comparison in the evaluation ------------------------------------------

def robust_score(counts: F64, t: I64, *, weeks: int = 8) -> F64:
    """The robust seasonal baseline measured against the model: ``(x − median) / (1.4826 · MAD)`` over the same
    weekday of the last ``weeks`` weeks (MAD at least 0.5 so a flat series has some band)."""
    lags = np.stack([counts[:, t - 7 * k] for k in range(1, weeks + 1)], axis=0)
    med = np.median(lags, axis=0)
    mad = np.maximum(np.median(np.abs(lags - med), axis=0), 0.5)
    return np.asarray((counts[:, t] - med) / (1.4826 * mad), dtype=float)


def robust_flags(counts: F64, t: I64, *, weeks: int = 8, z: float, min_count: int) -> NDArray[np.bool_]:
    """Flags of the robust baseline: score above ``z`` and at least ``min_count`` cases."""
    return (robust_score(counts, t, weeks=weeks) > z) & (counts[:, t] >= min_count)


# -- simulation (tests and the evaluation) -------------------------------------------------------------------

WEEKDAY_PATTERN = np.array([1.15, 1.1, 1.05, 1.05, 1.1, 0.8, 0.75])


def simulate_noise(rng: np.random.Generator, *, series: int, days: int, start: dt.date,
                   low: float = 2.0, high: float = 15.0) -> tuple[F64, list[dt.date], NDArray[np.int8]]:
    """Pure noise: Poisson counts with a weekday pattern and a per-series level drawn from [low, high] a day; no
    anomaly, no holiday. (counts, days, classes)."""
    day_list = [start + dt.timedelta(days=i) for i in range(days)]
    classes = np.array([d.weekday() for d in day_list], dtype=np.int8)
    level = rng.uniform(low, high, size=series)
    lam = level[:, None] * WEEKDAY_PATTERN[classes][None, :]
    return rng.poisson(lam).astype(float), day_list, classes
