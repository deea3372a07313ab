"""``zhili ml eval``: every model of the platform measured on what is in the database now, each next to its naive
baseline measured in the same run.

* routing (``category``, ``department``): a time-ordered split of the cases with a known outcome — train on the
  oldest 80 %, test on the newest 20 % — top-1, top-3 and macro-F1 against the majority class and TF-IDF +
  logistic regression (:mod:`zhili.intel.routing`);
* duplicates: precision and recall of the suggestions on the merged cases, against distance only
  (:mod:`zhili.intel.duplicates`);
* early warning: the surge detector's alarm rate against its nominal rate (:mod:`zhili.intel.warnings`);
* risk: rolling-origin backtest of the grid ranking, precision@10 % and rank correlation against last week's count
  and the 4-week mean (:mod:`zhili.intel.risk`);
* hotspots: what the spatial statistics find on the database (:mod:`zhili.intel.hotspots`).

Each part returns rows ``{model, metric, value, baseline_name, baseline_value, n, note}``; a part with too little
data says so in ``note`` instead of failing the others.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from sqlalchemy.orm import Session

from zhili.cases.actors import SYSTEM_PRINCIPAL
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.intel import routing

log = logging.getLogger(__name__)

PARTS = ("duplicates", "warnings", "risk_eval")  # risk_eval: the risk backtest and the hotspots hold-out


def routing_rows(session: Session) -> list[dict[str, Any]]:
    from zhili.intel import textmodel

    out: list[dict[str, Any]] = []
    for target in routing.TARGETS:
        rows = routing.training_rows(session, target)
        if len(rows.texts) < routing.MIN_ROWS or len(set(rows.labels)) < 2:
            out.append({"model": target, "metric": "top1", "value": None, "baseline_name": None,
                        "baseline_value": None, "n": len(rows.texts),
                        "note": f"已知结果的事件仅 {len(rows.texts)} 件，不足以评估"})
            continue
        m = textmodel.time_split(rows.texts, rows.labels, rows.times, test_fraction=0.2)
        base = m.get("baselines") or {}
        for metric in ("top1", "top3", "macro_f1"):
            for bname in ("tfidf_lr", "majority"):
                if bname in base:
                    out.append({"model": target, "metric": metric, "value": m.get(metric), "baseline_name": bname,
                                "baseline_value": base[bname].get(metric), "n": m.get("n_test", m.get("n")),
                                "note": f"按时间切分：{str(m.get('train_until', ''))[:10]} 及以前训练，之后检验"})
    return out


def evaluate_all(session: Session, *, principal: Principal) -> list[dict[str, Any]]:
    """Every model's evaluation rows (see the module's docstring)."""
    authorize(principal, Perm.intel_admin)
    if principal.user_id == SYSTEM_PRINCIPAL.user_id and not principal.scope_paths:
        # the system actor (a job, the CLI) is bound to no unit: it evaluates over the whole district
        from zhili.intel.risk import system_principal

        principal = system_principal(session)
    rows = routing_rows(session)
    for part in PARTS:
        try:
            module = importlib.import_module(f"zhili.intel.{part}")
        except ImportError:
            continue
        evaluate = getattr(module, "evaluate", None)
        if evaluate is None:
            continue
        try:
            rows.extend(evaluate(session, principal=principal))
        except Exception as exc:
            log.exception("evaluation of %s failed", part)
            rows.append({"model": part, "metric": "-", "value": None, "baseline_name": None,
                         "baseline_value": None, "n": 0, "note": f"评估失败：{exc}"})
    return rows
