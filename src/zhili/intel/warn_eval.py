"""How good the surge detector is, as numbers (``zhili ml eval``):

* on simulated pure noise (Poisson with a weekday pattern, no anomaly) the share of series-days flagged at a nominal
  α, next to α — for the model and for the robust seasonal baseline (median / MAD of the same weekday);
* on the same noise with one injected spike per series, the share of spikes found, for both;
* on the database's own history, a backtest over the last year (each day forecast from the days before it): the
  share of series-days with ``P(X ≥ x) ≤ 0.01`` among those expecting at least one case (≈ 0.01 when the baseline
  fits; more where real surges are), and the alarms a day the production settings would have raised.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import numpy as np
from scipy import stats
from sqlalchemy.orm import Session

from zhili.intel import baselines as bl
from zhili.intel import warn_surge
from zhili.intel.warn_common import UnitTree
from zhili.worktime.service import load_calendar


def noise_rows(*, alpha: float = 0.01, series: int = 2000, days: int = 240, seed: int = 17) -> list[dict[str, Any]]:
    """False alarms on noise and spikes found, model vs robust baseline (same data, same nominal α)."""
    rng = np.random.default_rng(seed)
    counts, day_list, classes = bl.simulate_noise(rng, series=series, days=days, start=dt.date(2024, 1, 1))
    params = bl.SurgeParams(alpha=alpha, min_expected=0.0, min_count=0)
    asof = days // 2
    t = np.arange(asof, days, dtype=np.int64)
    group = np.zeros(series, dtype=np.int64)
    fitted = bl.fit(counts, group, counts.sum(axis=0)[None, :], classes, day_list, params, asof=asof)
    _, size, p = fitted.day_predictive(t)
    model_fa = float((bl.upper_tail(counts[:, t], size, p) <= alpha).mean())
    z = float(stats.norm.isf(alpha))
    robust_fa = float(bl.robust_flags(counts, t, z=z, min_count=0).mean())
    # one spike per series on a random test day: +max(4, 4·sqrt(level)) cases
    spike_day = rng.integers(asof, days, size=series)
    level = counts[:, :asof].mean(axis=1)
    bump = np.maximum(4, np.round(4 * np.sqrt(level)))
    spiked = counts.copy()
    spiked[np.arange(series), spike_day] += bump
    fitted2 = bl.fit(spiked, group, spiked.sum(axis=0)[None, :], classes, day_list, params, asof=asof)
    _, size2, p2 = fitted2.day_predictive(spike_day[:, None].astype(np.int64)[:, 0])
    rows = np.arange(series)
    pv = bl.upper_tail(spiked[rows, spike_day], size2[rows, rows], p2[rows, rows])
    model_hit = float((pv <= alpha).mean())
    robust_spike = np.array([bl.robust_score(spiked[i:i + 1], np.array([spike_day[i]]))[0, 0] for i in range(series)])
    robust_hit = float((robust_spike > z).mean())
    # the robust baseline at a threshold matched to the model's own false-alarm rate on the noise (fair comparison)
    z_matched = float(np.quantile(bl.robust_score(counts, t), 1 - model_fa))
    robust_hit_matched = float((robust_spike > z_matched).mean())
    n = int(series * t.size)
    note = f"模拟：{series} 条序列、{days} 天，泊松噪声含周内规律（日均 2–15 件），后 {days - asof} 天检验"
    return [
        {"model": "warn.surge", "metric": "false_alarm_rate", "value": model_fa, "baseline_name": "nominal_alpha",
         "baseline_value": alpha, "n": n, "note": note},
        {"model": "warn.surge.robust_mad", "metric": "false_alarm_rate", "value": robust_fa,
         "baseline_name": "nominal_alpha", "baseline_value": alpha, "n": n,
         "note": "对照：同周几近 8 周中位数 + z·1.4826·MAD"},
        {"model": "warn.surge", "metric": "spike_detection_rate", "value": model_hit,
         "baseline_name": "robust_mad", "baseline_value": robust_hit, "n": series,
         "note": "每条序列某一天注入 max(4, 4√日均) 件；对照为名义阈值下的中位数/MAD（其误报率见上）"},
        {"model": "warn.surge", "metric": "spike_detection_rate_matched", "value": model_hit,
         "baseline_name": "robust_mad_same_false_alarms", "baseline_value": robust_hit_matched, "n": series,
         "note": f"对照阈值调到与本模型相同的误报率（z={z_matched:.2f}）后的检出率"},
    ]


def history_rows(session: Session, *, params: bl.SurgeParams, history_days: int, today: dt.date,
                 test_days: int = 365) -> list[dict[str, Any]]:
    """The detector run over the last ``test_days`` days of the database's own cases (one-step-ahead)."""
    last = today - dt.timedelta(days=1)
    first = last - dt.timedelta(days=history_days - 1)
    cd = warn_surge.load_case_days(session, first, last)
    test_days = min(test_days, cd.n_days - params.window)
    if cd.day.size == 0 or test_days <= 0:
        return [{"model": "warn.surge", "metric": "history_p01_rate", "value": None, "baseline_name": "nominal_alpha",
                 "baseline_value": 0.01, "n": 0, "note": "库内事件不足，无法回测"}]
    top, _ = warn_surge.category_groups(session)
    groups = warn_surge.group_list(top)
    series = warn_surge.build_series(cd, UnitTree(session), top, groups)
    pooled = warn_surge.load_pooled(session, first, last, top, groups)
    days = [first + dt.timedelta(days=i) for i in range(cd.n_days)]
    classes = bl.classes_for(days, load_calendar(session))
    asof = cd.n_days - test_days
    t = np.arange(asof, cd.n_days, dtype=np.int64)
    loose = replace(params, min_expected=0.0)
    fitted = bl.fit(series.counts, series.group_of, pooled, classes, days, loose, asof=asof)
    mean, size, p = fitted.day_predictive(t)
    x = series.counts[:, t]
    busy = mean >= 1.0
    pv = np.ones_like(mean)
    pv[busy] = bl.upper_tail(x[busy], size[busy], p[busy])
    calib = float((pv[busy] <= 0.01).mean()) if busy.any() else None
    prod = replace(params)
    fitted_p = bl.fit(series.counts, series.group_of, pooled, classes, days, prod, asof=asof)
    flags = warn_surge.detect(series, fitted_p, t, np.zeros(0, dtype=np.int64))
    note = (f"回测：{first:%Y-%m-%d} 起 {cd.day.size} 件事件，{len(series.units)} 个单位 × "
            f"{len(series.groups)} 个类别组，最近 {test_days} 天逐日按此前数据预测")
    return [
        {"model": "warn.surge", "metric": "history_p01_rate", "value": calib, "baseline_name": "nominal_alpha",
         "baseline_value": 0.01, "n": int(busy.sum()), "note": note + "（预计≥1件的序列日）"},
        {"model": "warn.surge", "metric": "history_alarms_per_day", "value": len(flags) / test_days,
         "baseline_name": "series_days_x_alpha", "baseline_value": float(series.counts.shape[0] * params.alpha),
         "n": len(flags), "note": f"按当前设置（α={params.alpha}，最少 {params.min_count} 件）去重后的日预警数"},
    ]


def evaluate(session: Session, *, params: bl.SurgeParams, history_days: int, today: dt.date) -> list[dict[str, Any]]:
    """Every row: simulation, then the history backtest (read first: the database is what may refuse)."""
    history = history_rows(session, params=params, history_days=history_days, today=today)
    return noise_rows() + history
