"""The evaluations of the spatial models for ``zhili ml eval``: the risk ranking's backtest and a hold-out check of
the hotspots, each next to its naive baselines, as rows ``{model, metric, value, baseline_name, baseline_value, n,
note}``.

* **risk** — the rolling-origin backtest (:func:`zhili.intel.risk.backtest_panel`, last 8 weeks): precision@10 %
  and Spearman against "last week's count" and "the 4-week mean".
* **hotspots** — Gi* has no forecast to score, so the check is whether its hot cells *keep* their cases: hot cells
  are found on the 62 days before the last 28, and the row reports the share of the last 28 days' cases that fell
  in them (the hit rate), next to the share of the study area they cover (what cells picked at random would catch;
  their ratio is the prediction accuracy index, PAI) and next to the same number of cells with the most cases in
  the 62 days (the naive "count and sort" map).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from zhili.core.clock import today
from zhili.core.errors import Forbidden, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.intel.caseframe import day_numbers, load_cases
from zhili.intel.hotspots import hotspots, prepare_layer
from zhili.intel.risk import evaluate_risk

HOLDOUT_DAYS = 28
FIT_DAYS = 62


def hotspot_holdout(session: Session, *, paths: tuple[str, ...], until: dt.date, resolution: int = 8
                    ) -> list[dict[str, Any]]:
    """The hold-out rows of the hotspots (see the module's docstring)."""
    split = until - dt.timedelta(days=HOLDOUT_DAYS)
    since = split - dt.timedelta(days=FIT_DAYS - 1)
    frame = load_cases(session, since=since, until=until, path_prefix=paths,
                       columns=("reported_day", "category_code", "grid_id", "lon", "lat"))
    layer = prepare_layer(frame, level="h3", resolution=resolution)
    result = hotspots(frame, level="h3", resolution=resolution, since=since, until=split, layer=layer)
    n_cells = len(layer.keys)
    days = day_numbers(frame["reported_day"].to_numpy())
    split_n = (split - dt.date(1970, 1, 1)).days
    later = (days > split_n) & (layer.case_cell >= 0)
    earlier = (days <= split_n) & (layer.case_cell >= 0)
    later_counts = np.bincount(layer.case_cell[later], minlength=n_cells)
    earlier_counts = np.bincount(layer.case_cell[earlier], minlength=n_cells)
    pos = {k: i for i, k in enumerate(layer.keys)}
    hot = [pos[c["cell"]] for c in result.cells if c["significant"] and c["z"] > 0]
    total = int(later_counts.sum())
    k = len(hot)
    note_base = (f"训练 {since.isoformat()}～{split.isoformat()}，检验其后 {HOLDOUT_DAYS} 天；H3 分辨率 {resolution}，"
                 f"共 {n_cells} 个格子")
    if total == 0 or n_cells == 0:
        return [{"model": "hotspots", "metric": "hit_rate_28d", "value": None, "baseline_name": "area_share",
                 "baseline_value": None, "n": 0, "note": note_base + "；检验期无事件"}]
    hit = float(later_counts[hot].sum() / total) if k else 0.0
    area = k / n_cells
    top = np.argsort(-earlier_counts, kind="stable")[:k]
    top_hit = float(later_counts[top].sum() / total) if k else 0.0
    pai = hit / area if area else None
    return [
        {"model": "hotspots", "metric": "hit_rate_28d", "value": round(hit, 4), "baseline_name": "area_share",
         "baseline_value": round(area, 4), "n": k,
         "note": note_base + (f"；热点格 {k} 个，PAI = {pai:.2f}" if pai is not None else "；无显著热点")},
        {"model": "hotspots", "metric": "hit_rate_28d", "value": round(hit, 4), "baseline_name": "top_count_cells",
         "baseline_value": round(top_hit, 4), "n": k, "note": note_base + "；基线：前期事件数最多的同样数量格子"},
    ]


def evaluate(session: Session, *, principal: Principal, until: dt.date | None = None, weeks: int = 8
             ) -> list[dict[str, Any]]:
    """Evaluation rows of the hotspots and the risk ranking over the principal's jurisdiction (``intel:admin``)."""
    authorize(principal, Perm.intel_admin, "当前角色无权评估研判模型", code="intel_forbidden")
    if not principal.scope_paths:
        raise Forbidden("当前账号未绑定管辖单位，无法评估研判模型", code="intel_forbidden")
    until = until or today()
    rows = hotspot_holdout(session, paths=principal.scope_paths, until=until)
    try:
        bt = evaluate_risk(session, paths=principal.scope_paths, weeks=weeks, until=until)
    except ValidationFailed as exc:
        rows.append({"model": "risk", "metric": "p_at_10", "value": None, "baseline_name": "last_week",
                     "baseline_value": None, "n": 0, "note": exc.message})
        return rows
    note = f"滚动回测最近 {bt['weeks']} 周，{bt['grids']} 个网格；训练窗口 {bt['train_weeks']} 周"
    for metric in ("p_at_10", "spearman"):
        for baseline in ("last_week", "mean_4w"):
            rows.append({"model": "risk", "metric": metric, "value": bt["model"][metric], "baseline_name": baseline,
                         "baseline_value": bt[baseline][metric], "n": bt["weeks"], "note": note})
    return rows
