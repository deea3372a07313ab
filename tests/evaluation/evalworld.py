"""A small 4E world for the pages and reports: three consecutive monthly runs (2026-08 … 2026-10) over the root
conftest's tree (district → 2 streets → 2 communities → 3 grids), stored exactly as the scoring engine stores them
(framework from the default catalogue, one result per unit), with numbers simple enough to check by hand:

* every score of a unit in month ``m`` (0, 1, 2) is ``QUALITY[unit] + 2·m`` — except the dimensions, which are
  E1 = base − 5, E2 = base, E3 = base + 5, E4 = base + 10 (base = QUALITY + 2·m), and the total is base;
* indicator values: 受理用时 ``10 − m`` 工作小时 (falling: good news), 按期办结率 ``90 − m`` % (falling: bad
  news), 群众满意度 4.5 every month (flat), 多源数据融合率 no data; every other indicator ``QUALITY + m``;
* metrics: population ``POPULATION[unit]``, closed 50, closed_on_time ``50·(90 − m)/100``, cases 40 (12 by
  residents), rated 20, rating_sum 90.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from zhili.evaluation import catalog
from zhili.evaluation.models import Result, Run

MONTHS = (("2026-08", dt.date(2026, 8, 1), dt.date(2026, 8, 31)),
          ("2026-09", dt.date(2026, 9, 1), dt.date(2026, 9, 30)),
          ("2026-10", dt.date(2026, 10, 1), dt.date(2026, 10, 31)))
QUALITY = {"district": 55.0, "s1": 70.0, "s2": 40.0, "c1": 70.0, "c2": 40.0, "ga": 80.0, "gb": 60.0, "gc": 40.0}
POPULATION = {"district": 3000, "s1": 2000, "s2": 1000, "c1": 2000, "c2": 1000, "ga": 1200, "gb": 800, "gc": 1000}
FUNCTIONS = set(catalog.FORMULA_FUNCTIONS) | {"abs", "max", "min"}


def metric_names(formula: str) -> list[str]:
    out: list[str] = []
    for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", formula):
        if name not in FUNCTIONS and name not in out:
            out.append(name)
    return out


def framework() -> dict[str, Any]:
    weights = catalog.default_weights()
    inds = [{"code": s.code, "name": s.name, "dimension": s.dimension, "sub_dimension": s.sub_dimension,
             "unit": s.unit, "direction": s.direction, "formula": s.formula, "scope": s.scope,
             "normalisation": s.normalisation, "target": s.target, "threshold": s.threshold, "source": s.source,
             "definition": s.definition, "metrics": metric_names(s.formula)} for s in catalog.INDICATORS]
    eff: dict[str, float] = {}
    for s in catalog.INDICATORS:
        siblings = [t for t in catalog.INDICATORS if t.sub_dimension == s.sub_dimension]
        eff[s.code] = (weights[s.dimension] * weights[s.sub_dimension] * s.weight
                       / sum(t.weight for t in siblings))
    total = sum(eff.values())
    eff = {k: v / total for k, v in eff.items()}
    return {"indicators": inds, "weights": weights, "effective_weights": eff, "dimensions": dict(catalog.DIMENSIONS),
            "sub_dimensions": {k: {"name": n, "dimension": d} for k, (d, n) in catalog.SUB_DIMENSIONS.items()}}


def values_for(key: str, m: int) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for s in catalog.INDICATORS:
        out[s.code] = QUALITY[key] + m
    out["E2_ACCEPT_TIME"] = 10.0 - m
    out["E2_ON_TIME"] = 90.0 - m
    out["E3_SATISFACTION"] = 4.5
    out["E1_GOLDEN_FUSION"] = None
    return out


def scores_for(key: str, m: int) -> dict[str, float | None]:
    base = QUALITY[key] + 2 * m
    out: dict[str, float | None] = {s.code: base for s in catalog.INDICATORS}
    out["E1_GOLDEN_FUSION"] = None
    out.update({sub: base for sub in catalog.SUB_DIMENSIONS})
    out.update({"E1": base - 5, "E2": base, "E3": base + 5, "E4": base + 10})
    return out


def metrics_for(key: str, m: int) -> dict[str, float | None]:
    return {"population": POPULATION[key], "closed": 50, "closed_on_time": 50 * (90 - m) / 100, "cases": 40,
            "cases_resident": 12, "rated": 20, "rating_sum": 90, "golden_persons": None}


@dataclass
class EvalWorld:
    runs: list[Run] = field(default_factory=list)
    results: dict[tuple[str, str], Result] = field(default_factory=dict)  # (period, unit key) → result


def build_eval(db: Session, units: dict[str, Any]) -> EvalWorld:
    """The three runs over ``units`` (the root conftest's ``world.units``)."""
    ew = EvalWorld()
    fw = framework()
    levels = {"district": ["district"], "street": ["s1", "s2"], "community": ["c1", "c2"], "grid": ["ga", "gb", "gc"]}
    parent_of = {"s1": "district", "s2": "district", "c1": "s1", "c2": "s2", "ga": "c1", "gb": "c1", "gc": "c2"}
    for m, (period, start, end) in enumerate(MONTHS):
        run = Run(period=period, period_kind="month", start_day=start, end_day=end, root_path=units["district"].path,
                  weight_version=1, inputs_hash=f"test-{period}", framework=fw, units=8, is_current=True,
                  computed_by="test")
        db.add(run)
        db.flush()
        ew.runs.append(run)
        for level, keys in levels.items():
            ranked = sorted(keys, key=lambda k: -QUALITY[k])
            for key in keys:
                u = units[key]
                parent = parent_of.get(key)
                siblings = [k for k in QUALITY if parent_of.get(k) == parent and parent]
                r = Result(run_id=run.id, unit_id=u.id, unit_code=u.code, unit_name=u.name, level=level,
                           path=u.path, parent_path=units[parent].path if parent else None,
                           population=POPULATION[key], metrics=metrics_for(key, m), values=values_for(key, m),
                           scores=scores_for(key, m), total=QUALITY[key] + 2 * m, rank=ranked.index(key) + 1,
                           peers=len(keys),
                           rank_siblings=(sorted(siblings, key=lambda k: -QUALITY[k]).index(key) + 1)
                           if parent else None)
                db.add(r)
                ew.results[(period, key)] = r
        db.flush()
    # an older, superseded run of the last month: history the reads must ignore
    old = Run(period="2026-10", period_kind="month", start_day=MONTHS[2][1], end_day=MONTHS[2][2],
              root_path=units["district"].path, weight_version=1, inputs_hash="old", framework=fw, units=0,
              is_current=False, computed_by="test")
    db.add(old)
    db.flush()
    return ew
