"""Dashboard figures for the command-centre screen.

Every figure comes from the case loop's statistics read model, :mod:`zhili.cases.stats` — raw cases are never
counted for them: the per-unit rollup (every unit of the tree × local day, its whole subtree summed over
categories) for the KPIs, breakdowns, trend and rankings, and the grid × day × category rows for the category
distribution. Rows are keyed by the day a case was *reported*, so "closed / on time / rating over the last 30 days"
means: of the cases reported in those 30 days.

Two exceptions, documented as such: ``open`` (在办) and ``overdue_now`` (当前超期) in :func:`kpis` are live
counts over the cases (:func:`zhili.cases.stats.live_open`, indexed), because the statistics cannot say how many
cases are open right now; and the open cases of a grid as map points (:func:`zhili.cases.reads.open_case_points`).

A unit's figures are its own rollup rows (the district over 30 days: 30 rows, where the grid rows need ≈ 77,000
on the large demo); a breakdown reads its children's rows, a ranking the rows of the ranked units (one per unit
and day, a primary-key range per unit) — the same plan on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from zhili.cases import reads, stats
from zhili.cases.stats import Figures
from zhili.core.clock import today
from zhili.core.errors import Forbidden, NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, ensure_in_scope, not_found, path_predicate
from zhili.core.security import Perm
from zhili.regions.models import Unit, UnitBoundary, UnitLevel
from zhili.regions.service import approx_area_m2, child_level, valid_on

WINDOW_DAYS = 30


def require_dashboard(principal: Principal) -> None:
    """Who holds the dashboard permission (the command centre, leaders, administrators and street / community
    staff), for their own area."""
    authorize(principal, Perm.dashboard_read, "当前角色无权查看指挥大屏", code="dashboard_forbidden")
    if not principal.scope_paths:
        raise Forbidden("当前角色无权查看指挥大屏", code="dashboard_forbidden")


def local_today() -> dt.date:
    """Today in the configured time zone (the ``day`` of the statistics rows)."""
    return today()


def _window(since: dt.date | None, until: dt.date | None) -> tuple[dt.date, dt.date]:
    until = until or local_today()
    since = since or until - dt.timedelta(days=WINDOW_DAYS - 1)
    if since > until:
        raise ValidationFailed("起始日期不能晚于截止日期", code="bad_range")
    if (until - since).days > 731:
        raise ValidationFailed("统计区间不能超过两年", code="range_too_long")
    return since, until


# -- the unit being looked at -------------------------------------------------------------------------------

def root_unit(session: Session, principal: Principal) -> Unit:
    """The principal's top unit (the shortest of its scope paths)."""
    require_dashboard(principal)
    path = min(principal.scope_paths, key=lambda p: (p.count("/"), p))
    unit = session.scalar(select(Unit).where(Unit.path == path, valid_on(Unit, local_today())))
    if unit is None:
        raise NotFound("单位不存在")
    return unit


def resolve_unit(session: Session, principal: Principal, unit_id: uuid.UUID | None) -> Unit:
    """``unit_id`` if it lies in the jurisdiction (404 otherwise), else the principal's top unit."""
    require_dashboard(principal)
    if unit_id is None:
        return root_unit(session, principal)
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise not_found("单位")
    ensure_in_scope(principal, unit.path, "单位")
    return unit


def unit_ref(u: Any) -> dict[str, Any]:
    return {"id": str(u.id), "code": u.code, "name": u.name, "level": u.level.value}


def breadcrumb(session: Session, principal: Principal, unit: Unit) -> list[dict[str, Any]]:
    """The unit and its ancestors inside the jurisdiction, top first."""
    require_dashboard(principal)
    codes = unit.path.split("/")
    paths = ["/".join(codes[: i + 1]) for i in range(len(codes))]
    rows = session.scalars(select(Unit).where(Unit.path.in_(paths), valid_on(Unit, local_today()))).all()
    by_path = {u.path: u for u in rows}
    out = []
    for p in paths:
        u = by_path.get(p)
        if u is not None and any(p == s or p.startswith(s + "/") for s in principal.scope_paths):
            out.append(unit_ref(u))
    return out


# -- figures ------------------------------------------------------------------------------------------------

def kpis(session: Session, *, principal: Principal, unit_id: uuid.UUID | None = None,
         day: dt.date | None = None) -> dict[str, Any]:
    """Headline figures: reported today; open and overdue now (live indexed counts); on-time rate and
    satisfaction of the last 30 days (statistics rows)."""
    unit = resolve_unit(session, principal, unit_id)
    day = day or local_today()
    today_reported = stats.unit_totals(session, path=unit.path, since=day, until=day, figures=("reported",)).reported
    f = stats.unit_totals(session, path=unit.path, since=day - dt.timedelta(days=WINDOW_DAYS - 1), until=day)
    live = stats.live_open(session, path=unit.path)
    return {"unit": unit_ref(unit), "day": day.isoformat(), "reported_today": today_reported, "open": live.open,
            "overdue_now": live.overdue, "reported_30d": f.reported, "closed_30d": f.closed,
            "on_time_rate": f.on_time_rate, "satisfaction": f.satisfaction}


def _areas(session: Session, units: list[Unit], day: dt.date) -> dict[uuid.UUID, float | None]:
    if not units:
        return {}
    rows = session.execute(select(UnitBoundary.unit_id, UnitBoundary.area_m2, UnitBoundary.geojson).where(
        UnitBoundary.unit_id.in_([u.id for u in units]), valid_on(UnitBoundary, day))).all()
    out: dict[uuid.UUID, float | None] = {}
    for unit_id, area, geojson in rows:
        if area is None:
            from shapely.geometry import shape

            try:
                area = approx_area_m2(shape(json.loads(geojson)))
            except (ValueError, TypeError, KeyError):
                area = None
        out[unit_id] = area
    return out


def breakdown_by_child(session: Session, *, principal: Principal, unit_id: uuid.UUID | None,
                       since: dt.date | None = None, until: dt.date | None = None) -> dict[str, Any]:
    """Per direct child of the unit: reported, closed, on-time rate, overdue, overdue rate, density (per km²)."""
    unit = resolve_unit(session, principal, unit_id)
    since, until = _window(since, until)
    today = local_today()
    children = list(session.scalars(select(Unit).where(Unit.parent_id == unit.id, valid_on(Unit, today))
                                    .order_by(Unit.path)))
    figures = stats.totals_by_unit(session, paths=[c.path for c in children], since=since, until=until) \
        if children else {}
    areas = _areas(session, children, today)
    items = []
    for c in children:
        f = figures.get(c.path) or Figures()
        area = areas.get(c.id)
        km2 = area / 1e6 if area else None
        items.append({**unit_ref(c), **f.as_dict(), "area_km2": round(km2, 3) if km2 else None,
                      "density": round(f.reported / km2, 6) if km2 else None})
    lvl = child_level(unit.level)
    return {"unit": unit_ref(unit), "child_level": lvl.value if lvl else None, "since": since.isoformat(),
            "until": until.isoformat(), "breadcrumb": breadcrumb(session, principal, unit), "children": items}


def trend(session: Session, *, principal: Principal, unit_id: uuid.UUID | None, days: int = WINDOW_DAYS,
          by: str = "day", until: dt.date | None = None) -> dict[str, Any]:
    """Reported and closed per day (or per ISO week, Monday first) over the last ``days`` days."""
    if by not in ("day", "week"):
        raise ValidationFailed("by 只能是 day 或 week", code="bad_bucket")
    if not 1 <= days <= 366:
        raise ValidationFailed("天数应在1到366之间", code="bad_days")
    unit = resolve_unit(session, principal, unit_id)
    until = until or local_today()
    since = until - dt.timedelta(days=days - 1)
    per_day = {d: (f.reported, f.closed) for d, f in stats.daily(session, path=unit.path, since=since, until=until,
                                                                 figures=("reported", "closed")).items()}
    buckets: dict[dt.date, list[int]] = {}
    d = since
    while d <= until:
        key = d if by == "day" else d - dt.timedelta(days=d.weekday())
        b = buckets.setdefault(key, [0, 0])
        rep, clo = per_day.get(d, (0, 0))
        b[0] += rep
        b[1] += clo
        d += dt.timedelta(days=1)
    return {"unit": unit_ref(unit), "by": by,
            "points": [{"date": k.isoformat(), "reported": v[0], "closed": v[1]} for k, v in sorted(buckets.items())]}


def major_class(code: str) -> str:
    """The major class of a category code (``SJ-0102`` → ``SJ-01``)."""
    return code[:5] if len(code) > 5 else code


def categories(session: Session, *, principal: Principal, unit_id: uuid.UUID | None, since: dt.date | None = None,
               until: dt.date | None = None, top: int = 10) -> dict[str, Any]:
    """Reported cases per major category class, largest first."""
    unit = resolve_unit(session, principal, unit_id)
    since, until = _window(since, until)
    totals: dict[str, int] = {}
    for code, f in stats.by_category(session, path=unit.path, since=since, until=until,
                                     figures=("reported",)).items():
        if f.reported:
            key = major_class(code)
            totals[key] = totals.get(key, 0) + f.reported
    names = reads.category_names(session, codes=totals)
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[: max(1, min(top, 50))]
    return {"unit": unit_ref(unit), "since": since.isoformat(), "until": until.isoformat(),
            "items": [{"code": c or "", "name": names.get(c) or (c or "未分类"), "reported": n} for c, n in ranked]}


def ranking(session: Session, *, principal: Principal, level: UnitLevel, since: dt.date | None = None,
            until: dt.date | None = None, limit: int = 50) -> dict[str, Any]:
    """Units of one level in the jurisdiction ranked by on-time rate (then by closed cases)."""
    require_dashboard(principal)
    if level not in (UnitLevel.street, UnitLevel.community, UnitLevel.grid):
        raise ValidationFailed("排名层级须为街道、社区或网格", code="bad_level")
    since, until = _window(since, until)
    ranked_units = and_(Unit.level == level, valid_on(Unit, local_today()),
                        path_predicate(Unit.path, principal.scope_paths))
    # Plain rows, not ORM objects: up to 1,500 grids per request; their rollup rows by one seek per unit.
    units = session.execute(select(Unit.id, Unit.code, Unit.name, Unit.level, Unit.path).where(ranked_units)).all()
    sums = stats.totals_by_unit(session, paths=select(Unit.path).where(ranked_units), since=since, until=until)
    rows = [(u, sums.get(u.path) or Figures()) for u in units]

    def order(row: tuple[Any, Figures]) -> tuple[Any, ...]:
        rate = row[1].on_time_rate  # the rounded rate the item shows, as before
        return (rate is None, -(rate or 0), -row[1].closed, row[0].code)

    rows.sort(key=order)
    items = [{**unit_ref(u), **f.as_dict(), "rank": i} for i, (u, f) in enumerate(rows[:limit], 1)]
    return {"level": level.value, "since": since.isoformat(), "until": until.isoformat(), "items": items}


def cases_in_grid(session: Session, *, principal: Principal, grid_id: uuid.UUID,
                  limit: int = 2000) -> dict[str, Any]:
    """The open cases of one grid as map points (the last drill level)."""
    grid = resolve_unit(session, principal, grid_id)
    if grid.level != UnitLevel.grid:
        raise ValidationFailed("只能查看网格内的事件点位", code="not_a_grid")
    points = reads.open_case_points(session, path=grid.path, limit=max(1, min(limit, 5000)))
    return {"unit": unit_ref(grid), "breadcrumb": breadcrumb(session, principal, grid),
            "points": [{"id": str(p.id), "number": p.number, "title": p.title, "lon": p.lon, "lat": p.lat,
                        "state": p.state.value, "overdue": p.overdue} for p in points]}
