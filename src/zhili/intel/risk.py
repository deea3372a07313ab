"""Grid risk ranking (风险研判): the expected number of cases of every grid in the coming week, with the features
that raised it, evaluated by a rolling-origin backtest against naive baselines.

**Model.** A regularised Poisson regression (scikit-learn ``PoissonRegressor``, L2 ``alpha`` = :data:`ALPHA`) on
standardised features (:mod:`zhili.intel.risk_features`; counts enter as ``log1p``), trained on every grid × week
of the last :data:`TRAIN_WEEKS` complete weeks (each week's features read only the weeks before it). A log-linear
count model: the score is an expected count, each feature multiplies it by a readable factor, and it trains in a
fraction of a second on 1,500 grids × 26 weeks. ``method="hgb"`` swaps in a gradient-boosted Poisson model
(``HistGradientBoostingRegressor(loss="poisson")``) — measured side by side by ``bench/bench_intel_analytics.py``.

**Drivers.** For each grid, each feature in turn is set to its median over the grids and the prediction recomputed;
the ratio (this grid's score ÷ the score with that feature typical) is the factor the feature contributes. The
three largest factors above 1.05 are the drivers, named in Chinese.

**Backtest** (:func:`backtest`): for each of the last ``weeks`` complete weeks, train on the weeks before it,
predict it, compare with what happened: precision@10 % (the share of the predicted top 10 % of grids that were in
the actual top 10 %, ties in either ranking counted at their expected value under random tie-breaking) and
Spearman's rank correlation — next to the naive predictors "last week's count" and "the 4-week mean" on the same
weeks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from zhili.cases.models import Category
from zhili.core import audit
from zhili.core.clock import today, utcnow
from zhili.core.db import write_after_read
from zhili.core.errors import Forbidden, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, path_predicate
from zhili.core.security import Perm
from zhili.intel.caseframe import load_cases, load_grids
from zhili.intel.models import RiskScore
from zhili.intel.risk_features import (
    HISTORY_WEEKS,
    Panel,
    build_panel,
    feature_label,
    feature_names,
    features_at,
    load_static,
    load_visits,
)
from zhili.regions.models import Unit

TRAIN_WEEKS = 26
ALPHA = 1e-3
TOP_SHARE = 0.10
METHODS = {"glm": "泊松回归（L2 正则）", "hgb": "梯度提升（泊松损失）"}
NAIVE = "近4周均值（历史不足5周，模型未训练）"
MIN_TRAIN_WEEK = 4  # a training target week needs at least 4 weeks before it
_LOG_FEATURES = ("last_1w", "mean_2w", "mean_4w", "mean_12w", "population", "households", "buildings",
                 "organisations")


# -- the model ------------------------------------------------------------------------------------------------

def _transform(x: pd.DataFrame) -> np.ndarray:
    out = x.copy()
    for col in _LOG_FEATURES:
        if col in out.columns:
            out[col] = np.log1p(out[col])
    return out.to_numpy(dtype=np.float64)


class RiskModel:
    """Fit on stacked (features, next-week count) rows; predict expected counts."""

    def __init__(self, method: str = "glm") -> None:
        if method not in METHODS:
            raise ValidationFailed("风险模型只能是 glm 或 hgb", code="bad_method")
        self.method = method
        self.model: Any = None

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> RiskModel:
        from sklearn.ensemble import HistGradientBoostingRegressor
        from sklearn.linear_model import PoissonRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if self.method == "glm":
            self.model = make_pipeline(StandardScaler(), PoissonRegressor(alpha=ALPHA, max_iter=300))
        else:
            self.model = HistGradientBoostingRegressor(loss="poisson", max_iter=150, learning_rate=0.08,
                                                       max_leaf_nodes=15, min_samples_leaf=40,
                                                       l2_regularization=1.0, random_state=0)
        with _one_thread():
            self.model.fit(_transform(x), y)
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        with _one_thread():
            return np.asarray(self.model.predict(_transform(x)), dtype=np.float64)


def _one_thread() -> Any:
    """scikit-learn's OpenMP loops on one thread: on these problem sizes (≤ 50,000 rows) a second thread saves
    little, and on a busy two-core machine spinning OpenMP threads made one fit 5–10× slower (measured)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


FeatureCache = dict[int, pd.DataFrame]


def _features(panel: Panel, t: int, cache: FeatureCache | None) -> pd.DataFrame:
    if cache is None:
        return features_at(panel, t)
    if t not in cache:
        cache[t] = features_at(panel, t)
    return cache[t]


def training_rows(panel: Panel, t: int, train_weeks: int = TRAIN_WEEKS, cache: FeatureCache | None = None
                  ) -> tuple[pd.DataFrame, np.ndarray]:
    """(features, counts) of the target weeks ``t − train_weeks`` … ``t − 1`` (each with at least 4 weeks of
    history before it), stacked."""
    start = max(MIN_TRAIN_WEEK, t - train_weeks)
    xs = [_features(panel, s, cache) for s in range(start, t)]
    ys = [panel.counts[:, s] for s in range(start, t)]
    if not xs:
        raise ValidationFailed("历史数据不足，无法训练风险模型（至少需要 5 周）", code="risk_no_history")
    return pd.concat(xs, ignore_index=True), np.concatenate(ys)


def fit_for(panel: Panel, t: int, *, method: str = "glm", train_weeks: int = TRAIN_WEEKS,
            cache: FeatureCache | None = None) -> RiskModel:
    x, y = training_rows(panel, t, train_weeks, cache)
    return RiskModel(method).fit(x, y)


def drivers(model: RiskModel, x: pd.DataFrame, *, top: int = 3, labels: dict[str, str] | None = None
            ) -> list[list[dict[str, Any]]]:
    """Per grid, the features that raised its score most (factor = score ÷ score with that feature at its
    median over the grids), at most ``top`` with a factor above 1.05."""
    base = model.predict(x)
    typical = x.median(axis=0)
    factors = np.ones((len(x), x.shape[1]))
    for j, col in enumerate(x.columns):
        alt = x.copy()
        alt[col] = typical[col]
        factors[:, j] = base / np.maximum(model.predict(alt), 1e-9)
    out: list[list[dict[str, Any]]] = []
    cols = list(x.columns)
    values = x.to_numpy()
    for i in range(len(x)):
        order = np.argsort(-factors[i])[:top]
        out.append([{"key": cols[j], "name": (labels or {}).get(cols[j], cols[j]),
                     "value": round(float(values[i, j]), 3), "typical": round(float(typical.iloc[j]), 3),
                     "factor": round(float(factors[i, j]), 3)} for j in order if factors[i, j] > 1.05])
    return out


# -- evaluation -----------------------------------------------------------------------------------------------

def precision_at(pred: np.ndarray, actual: np.ndarray, share: float = TOP_SHARE) -> float:
    """Expected share of the predicted top ``k`` (= ⌈share · n⌉) that lie in the actual top ``k``; ties at either
    boundary are resolved by their expectation under random tie-breaking."""
    n = len(pred)
    k = max(1, math.ceil(share * n))
    weight_actual = _top_weights(actual, k)  # probability each grid is in the actual top k
    weight_pred = _top_weights(pred, k)
    return float((weight_pred * weight_actual).sum() / k)


def _top_weights(v: np.ndarray, k: int) -> np.ndarray:
    order = np.sort(v)[::-1]
    threshold = order[k - 1]
    above = v > threshold
    tied = v == threshold
    w = above.astype(np.float64)
    need = k - int(above.sum())
    if tied.any():
        w[tied] = need / int(tied.sum())
    return w


def spearman(pred: np.ndarray, actual: np.ndarray) -> float:
    if np.all(pred == pred[0]) or np.all(actual == actual[0]):
        return 0.0
    return float(stats.spearmanr(pred, actual).statistic)


def backtest_panel(panel: Panel, *, weeks: int = 8, method: str = "glm", train_weeks: int = TRAIN_WEEKS
                   ) -> dict[str, Any]:
    """Rolling origin over the last ``weeks`` complete weeks of ``panel`` (see the module's docstring)."""
    last_complete = panel.weeks - (1 if panel.last_fraction < 1.0 else 0)
    first = last_complete - weeks
    if first < 5:
        raise ValidationFailed("历史数据不足，无法回测风险模型", code="risk_no_history")
    per_week: list[dict[str, Any]] = []
    cache: FeatureCache = {}
    for t in range(first, last_complete):
        model = fit_for(panel, t, method=method, train_weeks=train_weeks, cache=cache)
        x = _features(panel, t, cache)
        actual = panel.counts[:, t]
        preds = {"model": model.predict(x), "last_week": x["last_1w"].to_numpy(), "mean_4w": x["mean_4w"].to_numpy()}
        per_week.append({"week": panel.monday(t).isoformat(), "cases": int(actual.sum()),
                         **{name: {"p_at_10": precision_at(p, actual), "spearman": spearman(p, actual)}
                            for name, p in preds.items()}})
    out: dict[str, Any] = {"weeks": len(per_week), "grids": len(panel.grids), "method": method,
                           "train_weeks": train_weeks, "per_week": per_week}
    for name in ("model", "last_week", "mean_4w"):
        out[name] = {m: round(float(np.mean([w[name][m] for w in per_week])), 4) for m in ("p_at_10", "spearman")}
    return out


def backtest(frame: pd.DataFrame, features: pd.DataFrame, *, weeks: int = 8, until: dt.date | None = None,
             visits: pd.DataFrame | None = None, method: str = "glm", train_weeks: int = TRAIN_WEEKS
             ) -> dict[str, Any]:
    """Rolling-origin backtest of the risk model on ``frame``'s cases (``reported_day``, ``grid_id``,
    ``category_code``, ``overdue``) over the grids of ``features`` (indexed by grid id; the register columns of
    :func:`zhili.intel.risk_features.load_static`, any missing ones read as 0): ``{"model": {"p_at_10", "spearman"},
    "last_week": {…}, "mean_4w": {…}, "weeks": n, "grids": m, "per_week": [...]}``. ``until`` (default: the frame's
    last day) ends the data; a partial last week is not tested."""
    if until is None:
        until = pd.Timestamp(frame["reported_day"].max()).date() if len(frame) else today()
    panel = build_panel(frame, features.index, until=until, static=features, visits=visits)
    return backtest_panel(panel, weeks=weeks, method=method, train_weeks=train_weeks)


# -- services -------------------------------------------------------------------------------------------------

def next_monday(day: dt.date) -> dt.date:
    """``day`` if it is a Monday, else the Monday after it: the week a ranking made on ``day`` is for."""
    return day + dt.timedelta(days=(7 - day.weekday()) % 7)


def _require_scope(principal: Principal) -> None:
    if not principal.scope_paths:
        raise Forbidden("当前账号未绑定管辖单位，无法查看智能研判", code="intel_forbidden")


def load_panel(session: Session, *, paths: tuple[str, ...], until: dt.date, weeks: int) -> Panel:
    """The panel of the grids under ``paths`` over ``weeks`` weeks up to ``until`` (from the database)."""
    since = until - dt.timedelta(days=7 * weeks + until.weekday())
    frame = load_cases(session, since=since, until=until, path_prefix=paths,
                       columns=("reported_day", "grid_id", "category_code", "overdue"))
    grids = load_grids(session, path_prefix=paths)
    static = load_static(session, path_prefix=paths)
    visits = load_visits(session, since=since, until=until, path_prefix=paths)
    return build_panel(frame, grids.index, until=until, static=static, visits=visits)


def _labels(session: Session, panel: Panel) -> dict[str, str]:
    codes = panel.categories
    names = dict(session.execute(select(Category.code, Category.name).where(
        Category.code.in_(codes), Category.is_current.is_(True))).all()) if codes else {}
    return {k: feature_label(None, k, names) for k in feature_names(panel)}


def score_grids(session: Session, *, paths: tuple[str, ...], week_start: dt.date, method: str = "glm"
                ) -> list[RiskScore]:
    """Score every grid under ``paths`` for the week starting ``week_start``: new, unsaved :class:`RiskScore` rows,
    highest risk first (reads only). The caller has authorized the computation."""
    until = min(today(), week_start - dt.timedelta(days=1))
    panel = load_panel(session, paths=paths, until=until, weeks=TRAIN_WEEKS + HISTORY_WEEKS + 2)
    if not len(panel.grids):
        return []
    t = panel.weeks  # the week after the data (a later ``week_start`` is still scored one week ahead)
    last_complete = panel.weeks - (1 if panel.last_fraction < 1.0 else 0)
    x = features_at(panel, t)
    if last_complete > MIN_TRAIN_WEEK:
        model = fit_for(panel, last_complete, method=method)
        score = model.predict(x)
        why = drivers(model, x, labels=_labels(session, panel))
        label = f"{method}:{METHODS[method]}"
    else:  # a cold start (under 5 weeks of cases): the naive 4-week mean until the model can be trained
        score = x["mean_4w"].to_numpy()
        why = [[] for _ in range(len(score))]
        label = f"naive:{NAIVE}"
    order = np.argsort(-score, kind="stable")
    grid_paths = dict(session.execute(select(Unit.id, Unit.path).where(
        Unit.id.in_([_uuid(g) for g in panel.grids]))).all())
    now = utcnow()
    rows: list[RiskScore] = []
    for rank, i in enumerate(order, start=1):
        gid = _uuid(panel.grids[i])
        rows.append(RiskScore(week_start=week_start, grid_id=gid, path=grid_paths.get(gid, ""),
                              score=round(float(score[i]), 4), rank=rank, method=label[:64], computed_at=now,
                              drivers={"items": why[i], "expected": round(float(score[i]), 3),
                                       "data_until": until.isoformat()}))
    return rows


def store_scores(session: Session, *, rows: list[RiskScore], paths: tuple[str, ...], week_start: dt.date) -> None:
    """Replace the stored ranking of ``week_start`` for the grids under ``paths`` with ``rows`` (idempotent)."""
    session.execute(delete(RiskScore).where(RiskScore.week_start == week_start, path_predicate(RiskScore.path, paths)))
    session.add_all(rows)
    session.flush()


def rank_grids(session: Session, *, principal: Principal, week_start: dt.date | None = None, method: str = "glm"
               ) -> list[RiskScore]:
    """Compute and store the risk ranking of the grids in the principal's jurisdiction for the week starting
    ``week_start`` (a Monday; default: the coming one) — ``intel:admin`` (the command centre, or the system's
    scheduled job acting as it). Computing a week again replaces its ranking. In a read session the rows are
    written after the read, in a short write transaction of their own (:func:`zhili.core.db.write_after_read`)."""
    authorize(principal, Perm.intel_admin, "当前角色无权计算风险研判", code="intel_forbidden")
    _require_scope(principal)
    week_start = week_start or next_monday(today())
    if week_start.weekday() != 0:
        raise ValidationFailed("研判周须从周一开始", code="bad_week")
    paths = principal.scope_paths
    rows = score_grids(session, paths=paths, week_start=week_start, method=method)

    def write(s: Session) -> None:
        store_scores(s, rows=rows, paths=paths, week_start=week_start)
        audit.record(s, actor=principal.actor, action="intel.risk.rank", object_type="intel_risk",
                     object_id=week_start.isoformat(), after={"grids": len(rows), "method": method})
        s.flush()

    write_after_read(session, write)
    return rows


def risk_for(session: Session, *, principal: Principal, week_start: dt.date | None = None, limit: int = 50
             ) -> list[dict[str, Any]]:
    """The stored ranking of the principal's grids for ``week_start`` (default: the latest ranked week), highest
    risk first, with grid and community names and the drivers in Chinese."""
    authorize(principal, Perm.intel_read, "当前角色无权查看智能研判", code="intel_forbidden")
    _require_scope(principal)
    if not 1 <= limit <= 5000:
        raise ValidationFailed("条数须在 1 到 5000 之间", code="bad_limit")
    in_scope = path_predicate(RiskScore.path, principal.scope_paths)
    if week_start is None:
        week_start = session.scalar(select(func.max(RiskScore.week_start)).where(in_scope))
        if week_start is None:
            return []
    rows = session.scalars(select(RiskScore).where(RiskScore.week_start == week_start, in_scope)
                           .order_by(RiskScore.rank).limit(limit)).all()
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_([r.grid_id for r in rows])))}
    parents = {u.id: u.name for u in session.scalars(select(Unit).where(
        Unit.id.in_({u.parent_id for u in units.values() if u.parent_id})))}
    out = []
    for local_rank, r in enumerate(rows, start=1):
        u = units.get(r.grid_id)
        out.append({"rank": r.rank, "local_rank": local_rank, "grid_id": str(r.grid_id),
                    "grid_name": u.name if u else "", "community": parents.get(u.parent_id, "") if u and
                    u.parent_id else "", "score": r.score, "week_start": r.week_start.isoformat(),
                    "drivers": [{"name": d.get("name"), "value": d.get("value"), "typical": d.get("typical"),
                                 "factor": d.get("factor")} for d in (r.drivers or {}).get("items", [])],
                    "method": r.method, "computed_at": r.computed_at.isoformat()})
    return out


def evaluate_risk(session: Session, *, paths: tuple[str, ...], weeks: int = 8, until: dt.date | None = None,
                  method: str = "glm") -> dict[str, Any]:
    """The backtest over the grids under ``paths`` (data up to ``until``, default today)."""
    until = until or today()
    panel = load_panel(session, paths=paths, until=until, weeks=TRAIN_WEEKS + HISTORY_WEEKS + weeks + 2)
    return backtest_panel(panel, weeks=weeks, method=method)


def _uuid(text: str) -> Any:
    import uuid

    return uuid.UUID(str(text))


def system_principal(session: Session) -> Principal:
    """The system actor with the whole district as its jurisdiction (for the CLI and scheduled jobs)."""
    from zhili.cases.actors import SYSTEM_PRINCIPAL
    from zhili.regions.models import OPEN_END, UnitLevel

    path = session.scalar(select(Unit.path).where(Unit.level == UnitLevel.district, Unit.valid_to == OPEN_END)
                          .order_by(Unit.path).limit(1))
    return dataclasses.replace(SYSTEM_PRINCIPAL, scope_paths=(path,) if path else ())
