"""Equity analysis of a scored period (公平性分析): how evenly one indicator is spread across the grids of a subtree.

Reads the period's current :class:`~zhili.evaluation.models.Run` and its grid-level
:class:`~zhili.evaluation.models.Result` rows inside the caller's jurisdiction and applies the measures of
:mod:`zhili.evaluation.equity`: the Lorenz curve, Gini and Theil T (population-weighted by default: every resident
counts once), Theil's split into inequality between communities and within them, the worst decile of grids
against the median, and the lagging grids by total score with the indicators that drive their gap. A grid whose
value is ``None`` has no data for the indicator (its source is absent that period): it is counted as 无数据 and
left out, never read as zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core.errors import NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, ensure_in_scope, not_found, path_predicate
from zhili.core.security import Perm
from zhili.evaluation import equity
from zhili.evaluation.models import Result, Run

WEIGHTINGS = ("population", "grid")  # each resident counts once | each grid counts once
LAGGING_SHARE = 0.1
LAGGING_DRIVERS = 3


def _under(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith(ancestor + "/")


def current_run(session: Session, principal: Principal, period: str) -> Run:
    """The period's current run covering the caller's jurisdiction (the latest, if several districts' runs are
    current); :class:`NotFound` when the period has not been scored."""
    authorize(principal, Perm.eval_read)
    runs = session.scalars(select(Run).where(Run.period == period, Run.is_current.is_(True))
                           .order_by(Run.computed_at.desc())).all()
    for run in runs:
        if any(_under(run.root_path, p) or _under(p, run.root_path) for p in principal.scope_paths):
            return run
    raise NotFound(f"{period} 期尚无评估结果", code="eval_period_not_found")


def indicator_entry(framework: Mapping[str, Any], code: str) -> dict[str, Any] | None:
    """The indicator ``code`` as the run scored it (``framework["indicators"]``: a mapping by code or a list of
    entries with a ``code``)."""
    entries = framework.get("indicators")
    entry: Any = None
    if isinstance(entries, Mapping):
        entry = entries.get(code)
    elif isinstance(entries, list):
        entry = next((e for e in entries if isinstance(e, Mapping) and e.get("code") == code), None)
    return dict(entry) if isinstance(entry, Mapping) else None


def _number(value: Any) -> float | None:
    """A stored value as a finite float; anything else (``None``, text, NaN) is "no data"."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _group_names(session: Session, run: Run, paths: set[str]) -> dict[str, str]:
    """Community names by path, from the run's community-level rows."""
    if not paths:
        return {}
    rows = session.execute(select(Result.path, Result.unit_name).where(
        Result.run_id == run.id, Result.level == "community", Result.path.in_(sorted(paths)))).all()
    return {path: name for path, name in rows}


def _subtree(session: Session, principal: Principal, run: Run, unit_code: str | None
             ) -> tuple[tuple[str, ...], dict[str, Any] | None]:
    """The paths to read under (the unit's, or the caller's jurisdiction) and the unit looked at, if known."""
    if unit_code is not None:
        row = session.execute(select(Result.unit_code, Result.unit_name, Result.level, Result.path)
                              .where(Result.run_id == run.id, Result.unit_code == unit_code)).first()
        if row is None:
            raise not_found("单位")
        ensure_in_scope(principal, row.path, "单位")
        return (row.path,), {"code": row.unit_code, "name": row.unit_name, "level": row.level}
    paths = principal.scope_paths
    top = min(paths, key=lambda p: (p.count("/"), p)) if paths else None
    unit = None
    if top is not None:
        found = session.execute(select(Result.unit_code, Result.unit_name, Result.level)
                                .where(Result.run_id == run.id, Result.path == top)).first()
        if found is not None:
            unit = {"code": found.unit_code, "name": found.unit_name, "level": found.level}
    return paths, unit


def _measures(values: Sequence[float], weights: Sequence[float] | None, groups: Sequence[str],
              names: Mapping[str, str], direction: str) -> dict[str, Any]:
    """Lorenz, Gini, Theil with its community decomposition and the decile gap of the grids with data."""
    decomposition = equity.theil_decomposition(values, groups, weights)
    decomposed: dict[str, Any] | None = None
    if decomposition is not None:
        decomposed = {"total": decomposition.total, "between": decomposition.between,
                      "within": decomposition.within, "between_share": decomposition.between_share,
                      "groups": [{"path": g.group, "name": names.get(str(g.group), "未知社区"), "grids": g.units,
                                  "population_share": g.population_share, "share": g.share, "mean": g.mean,
                                  "theil": g.theil, "contribution": g.contribution, "between": g.between}
                                 for g in sorted(decomposition.groups, key=lambda g: -g.contribution)]}
    gap = equity.decile_gap(values, direction)
    return {"lorenz": [list(p) for p in equity.lorenz(values, weights)],
            "gini": equity.gini(values, weights), "theil": equity.theil(values, weights),
            "decomposition": decomposed, "decile_gap": asdict(gap) if gap is not None else None}


def _indicator_names(framework: Mapping[str, Any], codes: Sequence[str]) -> dict[str, str]:
    out = {}
    for code in codes:
        entry = indicator_entry(framework, code)
        out[code] = str(entry.get("name") or code) if entry else code
    return out


def _lagging(rows: Sequence[Any], framework: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The bottom tenth of the grids by total score with their drivers (named), weighted by the run's effective
    global weights."""
    effective = {str(k): float(w) for k, w in (framework.get("effective_weights") or {}).items()
                 if _number(w) is not None}
    lagging = equity.lagging_units(
        [{"code": r.unit_code, "name": r.unit_name, "total": r.total, "scores": r.scores or {}} for r in rows],
        effective, share=LAGGING_SHARE, top=LAGGING_DRIVERS)
    names = _indicator_names(framework, sorted({d["indicator"] for u in lagging for d in u["drivers"]}))
    for u in lagging:
        for d in u["drivers"]:
            d["name"] = names[d["indicator"]]
    return lagging


def equity_report(session: Session, principal: Principal, *, period: str, indicator: str,
                  unit_code: str | None = None, weighting: str = "population") -> dict[str, Any]:
    """The equity of ``indicator`` across the grids under ``unit_code`` (default: the caller's jurisdiction) in
    ``period``'s current run: Lorenz points, Gini, Theil T and its between/within-community decomposition, the
    decile gap (direction as scored), the lagging grids by total score with their drivers, and the grids'
    values. ``weighting``: ``population`` (each resident counts once; grids without residents carry no weight) or
    ``grid`` (each grid once). Unknown period or indicator, or a unit outside the jurisdiction: :class:`NotFound`."""
    authorize(principal, Perm.eval_read)
    if weighting not in WEIGHTINGS:
        raise ValidationFailed("加权方式只能是按人口或按网格", code="eval_bad_weighting")
    run = current_run(session, principal, period)
    entry = indicator_entry(run.framework or {}, indicator)
    if entry is None:
        raise NotFound("所选指标不存在或未参与该期评估", code="eval_indicator_not_found")
    direction = "lower" if entry.get("direction") == "lower" else "higher"
    paths, unit = _subtree(session, principal, run, unit_code)
    rows = session.execute(
        select(Result.unit_code, Result.unit_name, Result.parent_path, Result.population, Result.values,
               Result.scores, Result.total)
        .where(Result.run_id == run.id, Result.level == "grid", path_predicate(Result.path, paths))
        .order_by(Result.path)).all()
    names = _group_names(session, run, {r.parent_path for r in rows if r.parent_path})
    with_data = [(r, v) for r in rows if (v := _number((r.values or {}).get(indicator))) is not None]
    missing = [r.unit_name for r in rows if _number((r.values or {}).get(indicator)) is None]
    values = [v for _, v in with_data]
    groups = [r.parent_path or "" for r, _ in with_data]
    used = weighting
    weights: list[float] | None = [float(max(r.population or 0, 0)) for r, _ in with_data]
    if weighting == "grid" or not any(weights or []):
        used, weights = "grid", None
    return {
        "period": run.period, "run_id": str(run.id), "computed_at": run.computed_at.isoformat(), "unit": unit,
        "indicator": {"code": indicator, "name": entry.get("name") or indicator, "unit": entry.get("unit") or "",
                      "direction": direction},
        "weighting": used, "grids": len(rows), "with_data": len(with_data), "no_data": len(missing),
        "no_data_units": missing,
        **_measures(values, weights, groups, names, direction),
        "lagging": _lagging(rows, run.framework or {}),
        "grid_values": [{"code": r.unit_code, "name": r.unit_name, "community": names.get(r.parent_path or "", ""),
                         "value": v, "population": r.population} for r, v in sorted(with_data, key=lambda t: t[1])],
    }
