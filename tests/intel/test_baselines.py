"""The surge detector's statistics on generated data with known structure: pure noise raises alarms at about the
nominal rate, an injected spike (a day, or a raised week) is found, a holiday's lower level is learnt from the
calendar, and a sparse series does not alarm on 0 → 2."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from zhili.intel import baselines as bl

ALPHA = 0.01


def _fit(counts: np.ndarray, days: list[dt.date], classes: np.ndarray, params: bl.SurgeParams, asof: int
         ) -> bl.Fitted:
    group = np.zeros(counts.shape[0], dtype=np.int64)
    return bl.fit(counts, group, counts.sum(axis=0)[None, :], classes, days, params, asof=asof)


@pytest.fixture(scope="module")
def noise() -> tuple[np.ndarray, list[dt.date], np.ndarray]:
    return bl.simulate_noise(np.random.default_rng(2024), series=1500, days=260, start=dt.date(2024, 3, 4))


def test_pure_noise_raises_day_alarms_at_about_the_nominal_rate(noise: tuple) -> None:
    counts, days, classes = noise
    params = bl.SurgeParams(alpha=ALPHA, min_expected=0.0, min_count=0)
    fitted = _fit(counts, days, classes, params, asof=130)
    t = np.arange(130, 260, dtype=np.int64)
    _, size, p = fitted.day_predictive(t)
    rate = float((bl.upper_tail(counts[:, t], size, p) <= ALPHA).mean())
    assert 0.003 <= rate <= 0.02, rate  # 195,000 series-days: a miscalibrated tail lands far outside
    assert fitted.phi[0] == pytest.approx(1.0, abs=0.05)  # no extra-Poisson spread found in Poisson noise
    assert fitted.factors[0, :7] == pytest.approx(bl.WEEKDAY_PATTERN / bl.WEEKDAY_PATTERN.mean(), rel=0.03)


def test_pure_noise_raises_week_alarms_at_about_the_nominal_rate(noise: tuple) -> None:
    counts, days, classes = noise
    fitted = _fit(counts, days, classes, bl.SurgeParams(alpha=ALPHA, min_expected_week=0.0, min_count=0), asof=130)
    starts = np.array([i for i in range(130, 253) if days[i].weekday() == 0], dtype=np.int64)
    _, size, p = fitted.week_predictive(starts)
    weekly = np.stack([counts[:, s:s + 7].sum(axis=1) for s in starts], axis=1)
    rate = float((bl.upper_tail(weekly, size, p) <= ALPHA).mean())
    assert 0.003 <= rate <= 0.02, rate


def test_the_robust_median_baseline_alarms_far_more_often_on_the_same_noise(noise: tuple) -> None:
    counts, _, _ = noise
    t = np.arange(130, 260, dtype=np.int64)
    rate = float(bl.robust_flags(counts, t, z=2.326, min_count=0).mean())
    assert rate > 3 * ALPHA  # why the count model was chosen (docs/intel.md)


def test_an_injected_spike_is_found_on_its_day_and_nowhere_else() -> None:
    rng = np.random.default_rng(7)
    counts, days, classes = bl.simulate_noise(rng, series=200, days=160, start=dt.date(2024, 1, 1), low=3, high=8)
    spike_day = 150
    counts[17, spike_day] += 15
    params = bl.SurgeParams(alpha=0.001)
    fitted = _fit(counts, days, classes, params, asof=140)
    t = np.arange(140, 160, dtype=np.int64)
    _, size, p = fitted.day_predictive(t)
    flagged = (bl.p_value(counts[:, t], size, p, params.min_expected) <= params.alpha) \
        & (counts[:, t] >= params.min_count)
    assert flagged[17, spike_day - 140]
    assert flagged.sum() <= 1 + 4  # the spike, and at most the noise α would allow (4,000 cells × 0.001)


def test_a_week_raised_by_half_is_found_by_the_week_test() -> None:
    rng = np.random.default_rng(11)
    counts, days, classes = bl.simulate_noise(rng, series=50, days=161, start=dt.date(2024, 1, 1), low=20, high=20)
    monday = next(i for i in range(140, 150) if days[i].weekday() == 0)
    counts[3, monday:monday + 7] = rng.poisson(20 * 1.5 * bl.WEEKDAY_PATTERN[[d.weekday() for d in
                                                                           days[monday:monday + 7]]])
    fitted = _fit(counts, days, classes, bl.SurgeParams(alpha=0.001), asof=monday)
    _, size, p = fitted.week_predictive(np.array([monday], dtype=np.int64))
    week = counts[:, monday:monday + 7].sum(axis=1)[:, None]
    pv = bl.upper_tail(week, size, p)
    assert pv[3, 0] <= 0.001
    assert (pv <= 0.001).sum() <= 2


def test_holidays_have_their_own_factor_from_the_calendar() -> None:
    rng = np.random.default_rng(3)
    start = dt.date(2024, 1, 1)
    days = [start + dt.timedelta(days=i) for i in range(366)]

    class Calendar:  # a holiday on the 1st and 2nd of every month
        def describe(self, d: dt.date) -> object:
            rest = d.day in (1, 2) or d.weekday() >= 5
            return type("Info", (), {"is_workday": not rest, "name": "节" if d.day in (1, 2) else None})()

    classes = bl.classes_for(days, Calendar())
    lam = np.where(classes == bl.HOLIDAY, 2.0, 8.0)
    counts = rng.poisson(np.tile(lam, (80, 1))).astype(float)
    fitted = _fit(counts, days, classes, bl.SurgeParams(), asof=366)
    assert fitted.factors[0, bl.HOLIDAY] == pytest.approx(0.25, rel=0.1)
    t = np.array([i for i in range(300, 366) if classes[i] == bl.HOLIDAY], dtype=np.int64)
    mean, _, _ = fitted.day_predictive(t)
    assert float(mean.mean()) == pytest.approx(2.0, rel=0.15)  # a holiday expects the holiday's level


def test_a_sparse_series_does_not_alarm_on_two_cases_but_a_real_burst_does() -> None:
    start = dt.date(2024, 1, 1)
    days = [start + dt.timedelta(days=i) for i in range(120)]
    classes = np.array([d.weekday() for d in days], dtype=np.int8)
    counts = np.zeros((3, 120))
    counts[:, 30] = 1  # one case in the window before
    counts[0, 119] = 2  # 0 → 2
    counts[1, 119] = 9  # 0 → 9
    params = bl.SurgeParams(alpha=0.001)
    fitted = _fit(counts, days, classes, params, asof=119)
    _, size, p = fitted.day_predictive(np.array([119], dtype=np.int64))
    pv = bl.p_value(counts[:, [119]], size, p, params.min_expected)[:, 0]
    fired = (pv <= params.alpha) & (counts[:, 119] >= params.min_count)
    assert fired.tolist() == [False, True, False]
