"""The 4E framework and its runs: indicators and weight sets as data, scoring a period for a district, what-if.

* :func:`install_defaults` puts the shipped indicators (:mod:`zhili.evaluation.catalog`) and weight set in place.
* :func:`list_indicators`, :func:`update_indicator`, :func:`create_indicator` — the framework, edited by
  ``eval:admin``; a formula is compiled against the known metric names before it is saved (an unknown name, an
  attribute access, a call of anything but the listed functions is refused with the position).
* :func:`save_weights` makes a new weight-set version and activates it; :func:`what_if` scores a period's stored
  values with other weights and returns the ranking before and after, without saving anything.
* :func:`run_period` computes a period: metrics (:mod:`zhili.evaluation.metrics`), values and scores
  (:mod:`zhili.evaluation.scoring`), one :class:`Result` per unit. The inputs' hash is kept with the run: scoring a
  closed period again returns the stored run unchanged unless its inputs changed, in which case a new run becomes
  current and the old one stays as history.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.clock import today
from zhili.core.db import utcnow
from zhili.core.errors import Conflict, NotFound, ValidationFailed
from zhili.core.expr import ExprError
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.evaluation import catalog, forms_status, metrics, periods, scoring
from zhili.evaluation.models import DataSet, Indicator, Result, Run, WeightSet
from zhili.regions.models import Unit, UnitLevel
from zhili.worktime.service import load_calendar

_EDITABLE = ("name", "definition", "unit", "direction", "formula", "scope", "normalisation", "target", "threshold",
             "source", "rationale", "sub_dimension", "is_active", "sort")


# -- framework -----------------------------------------------------------------------------------------------------

def install_defaults(session: Session) -> tuple[int, bool]:
    """Add the shipped indicators that are missing (by code) and a first weight set if there is none; (indicators
    added, weight set added). A district's edits to a shipped indicator are left alone."""
    have = set(session.scalars(select(Indicator.code)))
    added = 0
    for i, spec in enumerate(catalog.INDICATORS):
        if spec.code in have:
            continue
        session.add(Indicator(code=spec.code, name=spec.name, dimension=spec.dimension,
                              sub_dimension=spec.sub_dimension, definition=spec.definition, unit=spec.unit,
                              direction=spec.direction, formula=spec.formula, scope=spec.scope,
                              normalisation=spec.normalisation, target=spec.target, threshold=spec.threshold,
                              source=spec.source, rationale=spec.rationale, sort=i * 10, builtin=True))
        added += 1
    made = False
    if session.execute(select(func.count()).select_from(WeightSet)).scalar_one() == 0:
        session.add(WeightSet(version=1, name="默认权重",
                              note="随平台发布的默认权重（维度、子维度、指标各在同级内归一）",
                              weights=catalog.default_weights(), is_active=True, created_by="system"))
        made = True
    session.flush()
    if added or made:
        audit.record(session, actor=audit.SYSTEM, action="eval.install_defaults", object_type="eval_indicator",
                     after={"indicators": added, "weight_set": made})
    return added, made


def known_metrics(session: Session) -> set[str]:
    """Every name a formula may read: the platform's metrics and the active data sets' field codes."""
    names = set(metrics.PLATFORM_METRICS)
    for fields in session.scalars(select(DataSet.fields).where(DataSet.is_active.is_(True))):
        names.update(f["code"] for f in fields if isinstance(f, dict) and isinstance(f.get("code"), str))
    return names


def definitions(session: Session) -> list[scoring.IndicatorDef]:
    """The active indicators as the scorer reads them (in display order)."""
    rows = session.scalars(select(Indicator).where(Indicator.is_active.is_(True))
                           .order_by(Indicator.sort, Indicator.code)).all()
    return [_def(r) for r in rows]


def _def(r: Indicator) -> scoring.IndicatorDef:
    expr = scoring.compile_formula(r.formula)
    return scoring.IndicatorDef(
        code=r.code, name=r.name, dimension=r.dimension, sub_dimension=r.sub_dimension, unit=r.unit,
        direction=r.direction, formula=r.formula, scope=r.scope, normalisation=r.normalisation, target=r.target,
        threshold=r.threshold, source=r.source, definition=r.definition, metrics=tuple(sorted(expr.names)))


def _ensure_framework(session: Session) -> None:
    """A district that has never had the framework gets the shipped one on first use."""
    if session.scalar(select(Indicator.id).limit(1)) is None:
        install_defaults(session)


def list_indicators(session: Session, *, principal: Principal) -> list[Indicator]:
    authorize(principal, Perm.eval_read)
    _ensure_framework(session)
    return list(session.scalars(select(Indicator).order_by(Indicator.sort, Indicator.code)))


def get_indicator(session: Session, *, principal: Principal, code: str) -> Indicator:
    authorize(principal, Perm.eval_read)
    _ensure_framework(session)
    row = session.scalar(select(Indicator).where(Indicator.code == code))
    if row is None:
        raise NotFound("指标不存在")
    return row


def _check(session: Session, data: Mapping[str, Any], current: Indicator | None = None) -> dict[str, Any]:
    vals = {k: v for k, v in data.items() if k in _EDITABLE}
    merged = {k: getattr(current, k) for k in _EDITABLE} if current is not None else {}
    merged.update(vals)
    name = (merged.get("name") or "").strip()
    if not name:
        raise ValidationFailed("指标名称不能为空", details={"field": "name"})
    if merged.get("sub_dimension") not in catalog.SUB_DIMENSIONS:
        raise ValidationFailed("请选择指标所属的子维度", details={"field": "sub_dimension"})
    if merged.get("direction") not in ("higher", "lower"):
        raise ValidationFailed("指标方向只能是“越高越好”或“越低越好”", details={"field": "direction"})
    if merged.get("scope") not in ("grid", "community"):
        raise ValidationFailed("计算范围只能是“网格”或“社区”", details={"field": "scope"})
    if merged.get("normalisation") not in ("minmax", "target"):
        raise ValidationFailed("标准化方法只能是“同级极差”或“对标目标值”", details={"field": "normalisation"})
    for key in ("target", "threshold"):
        v = merged.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise ValidationFailed("目标值和阈值必须是数字", details={"field": key})
    if merged["normalisation"] == "target":
        t, th = merged.get("target"), merged.get("threshold")
        if t is None or th is None:
            raise ValidationFailed("“对标目标值”需要同时填写目标值（100 分）和阈值（0 分）",
                                   details={"field": "target"})
        if t == th:
            raise ValidationFailed("目标值与阈值不能相同", details={"field": "threshold"})
        if (merged["direction"] == "higher") != (t > th):
            raise ValidationFailed("“越高越好”的指标目标值应高于阈值，“越低越好”的应低于阈值",
                                   details={"field": "threshold"})
    formula = merged.get("formula")
    if not isinstance(formula, str):
        raise ValidationFailed("请填写计算公式", details={"field": "formula"})
    try:
        scoring.compile_formula(formula, known_metrics(session))
    except ExprError as exc:
        raise ValidationFailed(f"计算公式有误：{exc.message}", code="formula_invalid",
                               details={"field": "formula", **(exc.details or {})}) from exc
    vals["name"] = name
    return vals


def update_indicator(session: Session, *, principal: Principal, code: str, changes: Mapping[str, Any],
                     expected_version: int | None = None) -> Indicator:
    """Change an indicator (eval:admin); the next run uses it, earlier runs keep the definition they used."""
    authorize(principal, Perm.eval_admin)
    row = get_indicator(session, principal=principal, code=code)
    if expected_version is not None and expected_version != row.version:
        raise Conflict("指标已被他人修改，请刷新后重试", code="version_conflict")
    vals = _check(session, changes, row)
    before = {k: getattr(row, k) for k in vals}
    for k, v in vals.items():
        setattr(row, k, v)
    if "sub_dimension" in vals:
        row.dimension = catalog.SUB_DIMENSIONS[row.sub_dimension][0]
    session.flush()
    audit.record(session, actor=principal.actor, action="eval.indicator_update", object_type="eval_indicator",
                 object_id=row.id, before=before, after=vals)
    return row


def create_indicator(session: Session, *, principal: Principal, code: str, data: Mapping[str, Any]) -> Indicator:
    authorize(principal, Perm.eval_admin)
    code = (code or "").strip().upper()
    if not code or len(code) > 40 or not all(c.isalnum() or c == "_" for c in code) or not code[0].isalpha():
        raise ValidationFailed("指标编码只能由字母、数字和下划线组成，以字母开头，最长 40 个字符",
                               details={"field": "code"})
    if session.scalar(select(Indicator.id).where(Indicator.code == code)) is not None:
        raise Conflict("指标编码已存在", code="indicator_exists")
    vals = _check(session, {"scope": "grid", "normalisation": "minmax", "direction": "higher", "unit": "",
                            "source": "", "definition": "", **data})
    row = Indicator(code=code, dimension=catalog.SUB_DIMENSIONS[vals["sub_dimension"]][0],
                    sort=int(vals.pop("sort", 1000) or 1000), **{k: v for k, v in vals.items() if k != "sort"})
    row.definition = row.definition or ""
    row.source = row.source or ""
    session.add(row)
    session.flush()
    audit.record(session, actor=principal.actor, action="eval.indicator_create", object_type="eval_indicator",
                 object_id=row.id, after={"code": code, **vals})
    return row


# -- weights -------------------------------------------------------------------------------------------------------

def active_weight_set(session: Session) -> WeightSet | None:
    _ensure_framework(session)
    return session.scalar(select(WeightSet).where(WeightSet.is_active.is_(True))
                          .order_by(WeightSet.version.desc()).limit(1))


def list_weight_sets(session: Session, *, principal: Principal) -> list[WeightSet]:
    authorize(principal, Perm.eval_read)
    _ensure_framework(session)
    return list(session.scalars(select(WeightSet).order_by(WeightSet.version.desc())))


def check_weights(session: Session, weights: Mapping[str, Any]) -> dict[str, float]:
    """Weights as numbers ≥ 0 for known nodes; refused in Chinese otherwise (every sibling group keeps one > 0)."""
    known = set(catalog.DIMENSIONS) | set(catalog.SUB_DIMENSIONS) | set(session.scalars(select(Indicator.code)))
    out: dict[str, float] = {}
    for key, raw in weights.items():
        if key not in known:
            raise ValidationFailed(f"未知的权重项“{key}”", code="weight_invalid")
        try:
            w = float(raw)
        except (TypeError, ValueError) as exc:
            raise ValidationFailed(f"权重必须是数字（{_node_name(session, key)}）", code="weight_invalid") from exc
        if not 0 <= w <= 1000 or w != w:
            raise ValidationFailed(f"权重必须在 0 到 1000 之间（{_node_name(session, key)}）", code="weight_invalid")
        out[key] = w
    if all(out.get(d, 1.0) == 0 for d in catalog.DIMENSIONS):
        raise ValidationFailed("四个维度的权重不能全为 0", code="weight_invalid")
    return out


def _node_name(session: Session, key: str) -> str:
    if key in catalog.DIMENSIONS:
        return catalog.DIMENSIONS[key]
    if key in catalog.SUB_DIMENSIONS:
        return catalog.SUB_DIMENSIONS[key][1]
    return session.scalar(select(Indicator.name).where(Indicator.code == key)) or key


def save_weights(session: Session, *, principal: Principal, weights: Mapping[str, Any], name: str,
                 note: str | None = None, derivation: Mapping[str, Any] | None = None) -> WeightSet:
    """A new weight-set version, made active (eval:admin). Earlier versions stay; runs name the one they used."""
    authorize(principal, Perm.eval_admin)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("请为这组权重命名", details={"field": "name"})
    current = active_weight_set(session)
    merged = dict(current.weights) if current else catalog.default_weights()
    merged.update(check_weights(session, weights))
    version = (session.execute(select(func.max(WeightSet.version))).scalar_one() or 0) + 1
    session.execute(update(WeightSet).where(WeightSet.is_active.is_(True)).values(is_active=False))
    row = WeightSet(version=version, name=name[:100], note=note, weights=merged, derivation=dict(derivation or {}),
                    is_active=True, created_by=principal.username)
    session.add(row)
    session.flush()
    audit.record(session, actor=principal.actor, action="eval.weights_save", object_type="eval_weight_set",
                 object_id=row.id, after={"version": version, "name": row.name, "weights": merged})
    return row


# -- runs ----------------------------------------------------------------------------------------------------------

@dataclass
class RunOutcome:
    run: Run
    created: bool  # False: the stored run already had these inputs
    seconds: float
    errors: dict[str, str]  # indicator → a formula failure met on some unit


def district_path(session: Session, principal: Principal) -> str:
    """The district a principal scores: the district unit at or above its first scope path."""
    if not principal.scope_paths:
        raise NotFound("未设置管辖范围，无法确定要评估的区县")
    first = principal.scope_paths[0]
    code = first.split("/")
    for i in range(len(code), 0, -1):
        p = "/".join(code[:i])
        level = session.scalar(select(Unit.level).where(Unit.path == p).limit(1))
        if level == UnitLevel.district:
            return p
    return first


def run_period(session: Session, *, principal: Principal, period: str, force: bool = False,
               root_path: str | None = None) -> RunOutcome:
    """Score every unit of the district for ``period`` (eval:admin; see the module's docstring)."""
    authorize(principal, Perm.eval_admin)
    root = root_path or district_path(session, principal)
    if not any(root == s or root.startswith(s + "/") for s in principal.scope_paths):
        raise NotFound("评估范围不在您的管辖范围内")
    p = periods.parse(period)
    if p.start > today():
        raise ValidationFailed(f"{p.label}尚未开始，无法评估", code="period_future")
    started = time.perf_counter()
    install_defaults(session)
    defs = definitions(session)
    ws = active_weight_set(session)
    weights = dict(ws.weights) if ws else catalog.default_weights()
    as_of = min(p.end, today())
    tree = metrics.load_tree(session, root, as_of)
    if not tree.units:
        raise NotFound("评估范围内没有区划单位")
    form_values = forms_status.form_metrics(session, root_path=root, period_kind=p.kind, start_day=p.start,
                                     end_day=p.end)
    fields = [f for fs in session.scalars(select(DataSet.fields).where(DataSet.is_active.is_(True))) for f in fs
              if isinstance(f, dict)]
    figures = metrics.compute(session, tree, start=p.start, end=min(p.end, today()),
                              calendar=load_calendar(session), forms=form_values, form_fields=fields)
    digest = scoring.inputs_hash(figures, defs, weights, tree.units)
    current = session.scalar(select(Run).where(Run.period == p.key, Run.root_path == root,
                                                Run.is_current.is_(True)))
    if current is not None and current.inputs_hash == digest and not force:
        return RunOutcome(current, False, time.perf_counter() - started, {})
    values = scoring.indicator_values(defs, figures, tree.units,
                                      reported={f["code"] for f in fields if isinstance(f.get("code"), str)})
    population = {path: float(m.get("population") or 0) for path, m in figures.items()}
    scored = scoring.score_units(defs, weights, tree.units, values.by_unit, population)
    framework = {
        "indicators": [d.as_dict() for d in defs], "weights": weights,
        "effective_weights": scoring.effective_weights(defs, weights),
        "dimensions": catalog.DIMENSIONS,
        "sub_dimensions": {k: {"name": n, "dimension": d} for k, (d, n) in catalog.SUB_DIMENSIONS.items()},
        "errors": values.errors,
    }
    if current is not None:
        current.is_current = False
    run = Run(period=p.key, period_kind=p.kind, start_day=p.start, end_day=p.end, root_path=root,
              weight_set_id=ws.id if ws else None, weight_version=ws.version if ws else None, inputs_hash=digest,
              framework=framework, units=len(tree.units), is_current=True, computed_by=principal.display_name,
              computed_at=utcnow())
    session.add(run)
    session.flush()
    rows = []
    for path, unit in tree.units.items():
        s = scored.scores.get(path, {})
        rows.append({
            "id": uuid.uuid4(), "run_id": run.id, "unit_id": unit.id, "unit_code": unit.code, "unit_name": unit.name,
            "level": unit.level, "path": path, "parent_path": unit.parent_path,
            "population": int(population.get(path, 0)), "metrics": figures[path],
            "values": values.by_unit.get(path, {}), "scores": {k: v for k, v in s.items() if k != "total"},
            "total": s.get("total"), "rank": scored.rank.get(path), "peers": scored.peers.get(path, 0),
            "rank_siblings": scored.rank_siblings.get(path),
        })
    for i in range(0, len(rows), 500):
        session.execute(insert(Result), rows[i:i + 500])
    run.seconds = round(time.perf_counter() - started, 3)
    session.flush()
    audit.record(session, actor=principal.actor, action="eval.run", object_type="eval_run", object_id=run.id,
                 after={"period": p.key, "units": len(rows), "inputs_hash": digest,
                        "replaced": str(current.id) if current else None})
    return RunOutcome(run, True, run.seconds, values.errors)


def current_run(session: Session, *, period: str, root_path: str | None = None) -> Run | None:
    """A period's current run (no permission check: callers have authorized)."""
    stmt = select(Run).where(Run.period == periods.parse(period).key, Run.is_current.is_(True))
    if root_path is not None:
        stmt = stmt.where(Run.root_path == root_path)
    return session.scalar(stmt.order_by(Run.computed_at.desc()).limit(1))


@dataclass
class _StoredUnit:
    level: str
    parent_path: str | None


def what_if(session: Session, *, principal: Principal, period: str, weights: Mapping[str, Any],
            level: str = "community") -> list[dict[str, Any]]:
    """The period's units of ``level`` ranked with the stored weights and with ``weights`` (nothing saved):
    name, total and rank before and after, and the change of rank (eval:admin)."""
    authorize(principal, Perm.eval_admin)
    run = current_run(session, period=period, root_path=district_path(session, principal))
    if run is None:
        raise NotFound("该周期尚未评估")
    new = dict(run.framework.get("weights") or {})
    new.update(check_weights(session, weights))
    defs = [scoring.IndicatorDef(**{**d, "metrics": tuple(d.get("metrics") or ())})
            for d in run.framework.get("indicators", [])]
    rows = session.execute(select(Result.path, Result.level, Result.parent_path, Result.values, Result.population,
                                  Result.unit_name, Result.total, Result.rank)
                           .where(Result.run_id == run.id)).all()
    units = {r.path: _StoredUnit(r.level, r.parent_path) for r in rows}
    scored = scoring.score_units(defs, new, units, {r.path: r.values for r in rows},
                                 {r.path: float(r.population or 0) for r in rows})
    out = []
    for r in rows:
        if r.level != level:
            continue
        after_rank = scored.rank.get(r.path)
        out.append({"path": r.path, "name": r.unit_name, "before_total": r.total, "before_rank": r.rank,
                    "after_total": scored.scores[r.path].get("total"), "after_rank": after_rank,
                    "change": (r.rank - after_rank) if r.rank is not None and after_rank is not None else None})
    out.sort(key=lambda x: (x["after_rank"] is None, x["after_rank"] or 0))
    return out


def due_periods(day: dt.date) -> list[str]:
    """The periods the scheduler scores on ``day``: the current month (so far) and the month, quarter and year that
    ended most recently (a closed period is scored again only when its inputs changed)."""
    month = periods.month_of(day)
    last = month.previous()
    keys = [month.key, last.key, periods.quarter_of(last.start).key]
    if last.start.month == 12:
        keys.append(periods.year_of(last.start).key)
    return keys
