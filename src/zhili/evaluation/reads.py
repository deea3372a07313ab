"""Reading the 4E scores: the periods scored, a unit's scorecard, an indicator's drill-down and the rankings — what
the pages, the JSON API and the reports show. Everything is read from the stored runs (:class:`Run`,
:class:`Result`): a run carries the framework it was scored with, so a later edit of an indicator or a weight never
changes how an earlier period reads.

Each function checks ``eval:read`` first; a unit outside the caller's jurisdiction reads as not found (leaders and
staff see their own subtree only). Ranks are among all units of the same level in the district (as scored)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core.clock import today
from zhili.core.errors import NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, ensure_in_scope, in_scope, path_predicate, scoped
from zhili.core.security import Perm
from zhili.evaluation import labels as lb
from zhili.evaluation.models import Result, Run

KIND_ORDER = {"month": 0, "quarter": 1, "year": 2}
TREND_PERIODS = 12
FLAT = 1e-9  # a rank tie
SCORE_FLAT = 0.05  # a score shows one decimal: a change that rounds to 0.0 shows →


# -- runs and results ---------------------------------------------------------------------------------------------

def periods(session: Session, *, principal: Principal) -> list[dict[str, Any]]:
    """The periods with a current run, newest first (a month before its quarter and year): period, kind, names,
    first and last day."""
    authorize(principal, Perm.eval_read)
    runs = session.execute(select(Run.period, Run.period_kind, Run.start_day, Run.end_day)
                           .where(Run.is_current.is_(True))).all()
    seen: dict[str, dict[str, Any]] = {}
    for period, kind, start, end in runs:
        seen.setdefault(period, {"period": period, "kind": kind, "kind_name": lb.PERIOD_KINDS.get(kind, kind),
                                 "label": lb.period_label(period), "start_day": start, "end_day": end})
    return sorted(seen.values(), key=lambda p: (-p["end_day"].toordinal(), KIND_ORDER.get(p["kind"], 9)))


def _run(session: Session, principal: Principal, period: str | None) -> Run:
    if not period:
        listed = periods(session, principal=principal)
        months = [p for p in listed if p["kind"] == "month"] or listed
        if not months:
            raise NotFound("尚无评估结果：请先计算评估周期", code="eval_no_run")
        # the newest month that has ended: the month in progress lacks its data sets and half its cases
        closed = [p for p in months if p["end_day"] < today()]
        period = (closed or months)[0]["period"]
    run = session.scalar(select(Run).where(Run.period == period, Run.is_current.is_(True))
                         .order_by(Run.computed_at.desc()).limit(1))
    if run is None:
        raise NotFound(f"{lb.period_label(period)}尚无评估结果", code="eval_no_run")
    return run


def _current_run(session: Session, period: str | None) -> Run | None:
    if not period:
        return None
    return session.scalar(select(Run).where(Run.period == period, Run.is_current.is_(True))
                          .order_by(Run.computed_at.desc()).limit(1))


def _result(session: Session, principal: Principal, run: Run, unit_code: str | None) -> Result:
    """The unit's result in the run: ``unit_code``'s, or (none given) the caller's own top unit's."""
    if unit_code:
        row = session.scalar(select(Result).where(Result.run_id == run.id, Result.unit_code == unit_code))
        if row is None:
            raise NotFound("评估单位不存在或不在您的管辖范围内")
        ensure_in_scope(principal, row.path, "评估单位")
        return row
    own = scoped(select(Result).where(Result.run_id == run.id), principal, Result.path)
    rows = list(session.scalars(own.order_by(Result.path).limit(50)))
    if not rows:
        raise NotFound("您的管辖范围内没有参评单位")
    return min(rows, key=lambda r: (r.path.count("/"), r.path))


def _framework(run: Run) -> dict[str, Any]:
    fw = run.framework or {}
    return {"indicators": list(fw.get("indicators") or []), "weights": dict(fw.get("weights") or {}),
            "effective_weights": dict(fw.get("effective_weights") or {}),
            "dimensions": dict(fw.get("dimensions") or {}), "sub_dimensions": dict(fw.get("sub_dimensions") or {})}


def _run_info(run: Run) -> dict[str, Any]:
    return {"period": run.period, "kind": run.period_kind, "kind_name": lb.PERIOD_KINDS.get(run.period_kind, ""),
            "label": lb.period_label(run.period), "start_day": run.start_day, "end_day": run.end_day,
            "computed_at": run.computed_at, "weight_version": run.weight_version}


def _unit_info(r: Result) -> dict[str, Any]:
    return {"code": r.unit_code, "name": r.unit_name, "level": r.level, "level_name": lb.LEVEL_NAMES.get(r.level, ""),
            "population": r.population, "unit_id": str(r.unit_id)}


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


def _rank(mine: float | None, others: list[float]) -> int | None:
    """Competition rank (1 = best) of ``mine`` among ``others`` (which include it)."""
    if mine is None:
        return None
    return 1 + sum(1 for o in others if o > mine + FLAT)


def _change(now: float | None, before: float | None, direction: str, *, flat: float = 0.005) -> dict[str, Any]:
    """The arrow of a change and whether it is good news for an indicator of ``direction``; a change smaller than
    ``flat`` (below what the page shows) is →."""
    if now is None or before is None:
        return {"arrow": "", "delta": None, "tone": "none"}
    delta = now - before
    if abs(delta) < flat:
        return {"arrow": "→", "delta": 0.0, "tone": "flat"}
    up = delta > 0
    good = up if direction != "lower" else not up
    return {"arrow": "↑" if up else "↓", "delta": delta, "tone": "good" if good else "bad"}


def _level_scores(session: Session, run: Run, level: str) -> list[tuple[str, dict[str, Any]]]:
    rows = session.execute(select(Result.unit_code, Result.scores).where(Result.run_id == run.id,
                                                                          Result.level == level)).all()
    return [(code, scores or {}) for code, scores in rows]


def _trend(session: Session, run: Run, unit_code: str, dims: dict[str, Any]) -> list[dict[str, Any]]:
    runs = list(session.scalars(select(Run).where(Run.is_current.is_(True), Run.period_kind == run.period_kind,
                                                  Run.end_day <= run.end_day)
                                .order_by(Run.end_day.desc()).limit(TREND_PERIODS)))
    by_run = {rid: (total, scores or {}, values or {}) for rid, total, scores, values in session.execute(
        select(Result.run_id, Result.total, Result.scores, Result.values)
        .where(Result.run_id.in_([r.id for r in runs]), Result.unit_code == unit_code)).all()}
    out = []
    for r in sorted(runs, key=lambda r: r.end_day):
        total, scores, values = by_run.get(r.id, (None, {}, {}))
        out.append({"period": r.period, "label": lb.period_label(r.period), "total": _num(total),
                    "dimensions": {d: _num(scores.get(d)) for d in dims}, "scores": scores, "values": values})
    return out


# -- the scorecard ------------------------------------------------------------------------------------------------

def scorecard(session: Session, *, principal: Principal, unit_code: str | None, period: str | None) -> dict[str, Any]:
    """A unit's scorecard for a period: total and ranks, the four dimensions (for a radar), the sub-dimensions, the
    indicator table grouped by dimension and sub-dimension (value, target, score, rank among the same level, the
    change against the previous period of the same kind), the next level's units and a 12-period trend."""
    authorize(principal, Perm.eval_read)
    run = _run(session, principal, period)
    res = _result(session, principal, run, unit_code)
    fw = _framework(run)
    scores = res.scores or {}
    values = res.values or {}
    prev_run = _current_run(session, lb.previous_period(run.period))
    prev = None
    if prev_run is not None:
        prev = session.scalar(select(Result).where(Result.run_id == prev_run.id, Result.unit_code == res.unit_code))
    prev_scores = (prev.scores or {}) if prev else {}
    prev_values = (prev.values or {}) if prev else {}
    peers = _level_scores(session, run, res.level)

    dimensions = [{"code": d, "name": name, "score": _num(scores.get(d)),
                   "change": _change(_num(scores.get(d)), _num(prev_scores.get(d)), "higher", flat=SCORE_FLAT)}
                  for d, name in fw["dimensions"].items()]
    subs = [{"code": s, "name": info.get("name", ""), "dimension": info.get("dimension", ""),
             "score": _num(scores.get(s)), "weight": fw["weights"].get(s)}
            for s, info in fw["sub_dimensions"].items()]
    rows = []
    for ind in fw["indicators"]:
        code, unit = ind["code"], ind.get("unit") or ""
        mine = _num(scores.get(code))
        others = [float(s[code]) for _, s in peers if s.get(code) is not None]
        value = _num(values.get(code))
        rows.append({
            "code": code, "name": ind.get("name", ""), "unit": unit,
            "dimension": ind.get("dimension", ""), "sub_dimension": ind.get("sub_dimension", ""),
            "direction": ind.get("direction", "higher"),
            "direction_name": lb.DIRECTIONS.get(ind.get("direction", "higher"), ""),
            "value": value, "value_text": lb.format_value(value, unit),
            "target": _num(ind.get("target")),
            "target_text": "—" if ind.get("target") is None else lb.format_value(ind.get("target"), unit),
            "score": mine, "rank": _rank(mine, others), "peers": len(others),
            "weight": _num(fw["effective_weights"].get(code)),
            "prev_value": _num(prev_values.get(code)),
            "change": _change(value, _num(prev_values.get(code)), ind.get("direction", "higher")),
        })
    groups = []
    for d in dimensions:
        sub_groups = []
        for s in subs:
            if s["dimension"] != d["code"]:
                continue
            sub_groups.append({**s, "indicators": [r for r in rows if r["sub_dimension"] == s["code"]]})
        groups.append({**d, "subs": sub_groups})

    children = list(session.scalars(select(Result).where(Result.run_id == run.id, Result.parent_path == res.path)))
    children.sort(key=lambda c: (c.total is None, -(c.total or 0.0), c.unit_name))
    parent = None
    if res.parent_path and in_scope(principal, res.parent_path):
        p = session.scalar(select(Result).where(Result.run_id == run.id, Result.path == res.parent_path))
        if p is not None:
            parent = _unit_info(p)
    siblings = None
    if res.parent_path:
        siblings = len(session.scalars(select(Result.id).where(Result.run_id == run.id,
                                                               Result.parent_path == res.parent_path)).all())
    return {
        "run": _run_info(run), "unit": _unit_info(res), "parent": parent,
        "total": _num(res.total), "rank": res.rank, "peers": res.peers, "rank_siblings": res.rank_siblings,
        "siblings": siblings,
        "total_change": _change(_num(res.total), _num(prev.total) if prev else None, "higher", flat=SCORE_FLAT),
        "previous_period": prev_run.period if prev_run else None,
        "previous_label": lb.period_label(prev_run.period) if prev_run else None,
        "dimensions": dimensions, "sub_dimensions": subs, "groups": groups, "indicators": rows,
        "children": [{**_unit_info(c), "total": _num(c.total), "rank_siblings": c.rank_siblings,
                      "dimensions": {d: _num((c.scores or {}).get(d)) for d in fw["dimensions"]}}
                     for c in children],
        "child_level_name": lb.LEVEL_NAMES.get(children[0].level, "") if children else "",
        "trend": [{k: v for k, v in t.items() if k not in ("scores", "values")}
                  for t in _trend(session, run, res.unit_code, fw["dimensions"])],
        "dimension_names": fw["dimensions"],
    }


# -- the drill-down -----------------------------------------------------------------------------------------------

def cases_link(unit_id: str, start: dt.date, end: dt.date) -> str:
    """The console case list filtered to a unit's subtree and the days cases were reported in."""
    return "/console/cases?" + urlencode([("unit_id", unit_id), ("since", start.isoformat()),
                                          ("until", end.isoformat())])


def indicator_detail(session: Session, *, principal: Principal, unit_code: str | None, period: str | None,
                     indicator: str) -> dict[str, Any]:
    """One indicator of one unit: its definition, formula, source and scoring explained, the figures behind the
    value (with their names), the next level's values, a trend, and a link to the cases behind it."""
    authorize(principal, Perm.eval_read)
    run = _run(session, principal, period)
    res = _result(session, principal, run, unit_code)
    fw = _framework(run)
    ind = next((i for i in fw["indicators"] if i.get("code") == indicator), None)
    if ind is None:
        raise NotFound("评估指标不存在", code="eval_indicator_not_found")
    unit = ind.get("unit") or ""
    formula = ind.get("formula") or ""
    metrics = res.metrics or {}
    names = list(ind.get("metrics") or [])
    if "cases" in names:  # the reports by channel behind a count of cases (上报渠道)
        names += [f"cases_{c}" for c in lb.CHANNEL_NAMES if f"cases_{c}" not in names and f"cases_{c}" in metrics]
    figures = [{"name": lb.metric_label(m, formula), "value": _num(metrics.get(m)),
                "value_text": lb.format_number(metrics.get(m))} for m in names]
    children = list(session.scalars(select(Result).where(Result.run_id == run.id, Result.parent_path == res.path)))
    kids = [{**_unit_info(c), "value": _num((c.values or {}).get(indicator)),
             "value_text": lb.format_value((c.values or {}).get(indicator), unit),
             "score": _num((c.scores or {}).get(indicator))} for c in children]
    kids.sort(key=lambda k: (k["score"] is None, -(k["score"] or 0.0), k["name"]))
    peers = _level_scores(session, run, res.level)
    mine = _num((res.scores or {}).get(indicator))
    others = [float(s[indicator]) for _, s in peers if s.get(indicator) is not None]
    trend = [{"period": t["period"], "label": t["label"], "value": _num(t["values"].get(indicator)),
              "score": _num(t["scores"].get(indicator))}
             for t in _trend(session, run, res.unit_code, fw["dimensions"])]
    source = ind.get("source") or ""
    sub = fw["sub_dimensions"].get(ind.get("sub_dimension", ""), {})
    return {
        "run": _run_info(run), "unit": _unit_info(res),
        "indicator": {
            "code": indicator, "name": ind.get("name", ""), "unit": unit, "definition": ind.get("definition") or "",
            "formula": formula, "source": source, "direction_name": lb.DIRECTIONS.get(ind.get("direction", ""), ""),
            "dimension_name": fw["dimensions"].get(ind.get("dimension", ""), ""), "sub_dimension_name":
                sub.get("name", "") if isinstance(sub, dict) else "",
            "normalisation_text": lb.normalisation_text(ind), "scope_text": lb.scope_text(ind.get("scope")),
            "target_text": "—" if ind.get("target") is None else lb.format_value(ind.get("target"), unit),
            "threshold_text": "—" if ind.get("threshold") is None else lb.format_value(ind.get("threshold"), unit),
            "weight": _num(fw["effective_weights"].get(indicator)),
        },
        "value": _num((res.values or {}).get(indicator)),
        "value_text": lb.format_value((res.values or {}).get(indicator), unit),
        "score": mine, "rank": _rank(mine, others), "peers": len(others),
        "figures": figures, "children": kids, "trend": trend,
        "cases_url": cases_link(str(res.unit_id), run.start_day, run.end_day) if "事件" in source else None,
    }


# -- rankings -----------------------------------------------------------------------------------------------------

def node_choices(framework: dict[str, Any]) -> list[tuple[str, str]]:
    """What a ranking can be by: the total, each dimension, sub-dimension and indicator (code, Chinese name)."""
    fw = framework
    out = [("total", "综合得分")]
    out += [(d, f"{name}维度") for d, name in (fw.get("dimensions") or {}).items()]
    out += [(s, f"{info.get('name', '')}") for s, info in (fw.get("sub_dimensions") or {}).items()]
    out += [(i["code"], i.get("name", "")) for i in (fw.get("indicators") or [])]
    return out


SCORE_COLOURS = ("#b3261e", "#f29e4c", "#f6d55c", "#8cc084", "#1a7f37")  # worst → best
NO_DATA_COLOUR = "#d0d0d0"


def legend(scores: list[float]) -> list[dict[str, Any]]:
    """Five equal bins between the lowest and the highest score shown (a map of near-equal units still tells them
    apart): lower and upper bound and colour, worst first; one bin when every score is the same."""
    if not scores:
        return []
    lo, hi = min(scores), max(scores)
    if hi - lo < SCORE_FLAT:
        return [{"lower": lo, "upper": hi, "colour": SCORE_COLOURS[-1]}]
    step = (hi - lo) / len(SCORE_COLOURS)
    return [{"lower": lo + i * step, "upper": lo + (i + 1) * step, "colour": c} for i, c in enumerate(SCORE_COLOURS)]


def colour_of(score: float | None, bins: list[dict[str, Any]]) -> str:
    if score is None or not bins:
        return NO_DATA_COLOUR
    for b in bins:
        if score < b["upper"]:
            return str(b["colour"])
    return str(bins[-1]["colour"])


def ranking(session: Session, *, principal: Principal, period: str | None, level: str,
            parent_code: str | None = None, node: str = "total", geo: bool = True) -> dict[str, Any]:
    """The units of ``level`` in the caller's jurisdiction (under ``parent_code``, when given) sorted by the score of
    ``node`` (``total``, a dimension, sub-dimension or indicator code), ranked among themselves, with the units'
    boundaries as GeoJSON for the map (each feature carrying its unit's score, rank and colour from the
    :func:`legend` of the scores shown; ``geo=False``: none)."""
    authorize(principal, Perm.eval_read)
    if level not in lb.LEVEL_ORDER:
        raise ValidationFailed("层级只能是区县、街道、社区或网格", code="eval_bad_level")
    run = _run(session, principal, period)
    fw = _framework(run)
    nodes = dict(node_choices(fw))
    if node not in nodes:
        raise ValidationFailed("未知的评估项", code="eval_bad_node")
    stmt = scoped(select(Result).where(Result.run_id == run.id, Result.level == level), principal, Result.path)
    parent = None
    if parent_code:
        parent = _result(session, principal, run, parent_code)
        stmt = stmt.where(path_predicate(Result.path, (parent.path,)))
    results = list(session.scalars(stmt))
    ind = next((i for i in fw["indicators"] if i.get("code") == node), None)

    def score_of(r: Result) -> float | None:
        return _num(r.total) if node == "total" else _num((r.scores or {}).get(node))

    scored = [(r, score_of(r)) for r in results]
    scored.sort(key=lambda rs: (rs[1] is None, -(rs[1] or 0.0), rs[0].unit_name))
    present = [s for _, s in scored if s is not None]
    bins = legend(present)
    rows = []
    for r, s in scored:
        value = _num((r.values or {}).get(node)) if ind else None
        rows.append({**_unit_info(r), "score": s, "rank": _rank(s, present), "district_rank": r.rank,
                     "colour": colour_of(s, bins),
                     "peers": r.peers, "value": value,
                     "value_text": lb.format_value(value, ind.get("unit") or "") if ind else ""})
    return {"run": _run_info(run), "level": level, "level_name": lb.LEVEL_NAMES.get(level, ""), "node": node,
            "node_name": nodes[node], "parent": _unit_info(parent) if parent else None, "rows": rows,
            "indicator_unit": (ind.get("unit") or "") if ind else None, "nodes": node_choices(fw), "legend": bins,
            "geojson": _geojson(session, principal, run, level, rows) if geo else None}


def _geojson(session: Session, principal: Principal, run: Run, level: str, rows: list[dict[str, Any]]
             ) -> dict[str, Any]:
    """The boundaries of the ranked units (the regions' map read, as of the period's last day), each feature with
    its unit's name, score and rank."""
    from zhili.regions.models import UnitLevel
    from zhili.regions.service import list_boundaries

    if not principal.can(Perm.region_read):
        return {"type": "FeatureCollection", "features": []}
    by_code = {r["code"]: r for r in rows}
    data = list_boundaries(session, principal=principal, level=UnitLevel(level), as_of=run.end_day, limit=10000)
    features = []
    for f in data["features"]:
        row = by_code.get(f["properties"].get("code"))
        if row is None:
            continue
        f["properties"].update({"score": row["score"], "rank": row["rank"], "name": row["name"],
                                "colour": row["colour"],
                                "popup": f"{row['name']}：" + (lb.format_score(row["score"]) + " 分"
                                                               if row["score"] is not None else "无数据")})
        features.append(f)
    return {"type": "FeatureCollection", "features": features}


def unit_choices(session: Session, *, principal: Principal, period: str | None) -> list[dict[str, Any]]:
    """The units the caller may pick on the scorecard: the scored district, streets and communities in the
    caller's jurisdiction (grids are reached from their community's scorecard), tree order."""
    authorize(principal, Perm.eval_read)
    run = _run(session, principal, period)
    stmt = scoped(select(Result.unit_code, Result.unit_name, Result.level, Result.path)
                  .where(Result.run_id == run.id, Result.level.in_(("district", "street", "community"))),
                  principal, Result.path).order_by(Result.path)
    out: list[dict[str, Any]] = []
    for code, name, level, path in session.execute(stmt).all():
        depth = path.count("/")
        out.append({"code": code, "name": name, "level": level, "level_name": lb.LEVEL_NAMES.get(level, ""),
                    "depth": depth})
    if out:
        top = min(o["depth"] for o in out)
        for o in out:
            o["indent"] = o["depth"] - top
    return out
