"""Which cases a principal may see, and the duplicate search that respects it.

:func:`visibility` is the SQL form every case list, search and count goes through; :func:`can_see` the single-object
form; :func:`can_see_values` the same rule for a case that exists only as planned values (a report of the same
intake batch, not yet written). :func:`nearby_open_cases` is the duplicate search (疑似重复件) shared by the case
detail page and intake.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, exists, false, or_, select
from sqlalchemy.orm import Session

from zhili.cases.models import OPEN_STATES, Case, SubTask
from zhili.core.jurisdiction import Principal, in_scope, path_predicate
from zhili.core.security import Role
from zhili.core.settings import get_settings


def visibility(principal: Principal) -> ColumnElement[bool]:
    """Which cases a principal may see: residents their own; departments what was sent to them; staff their area."""
    if principal.role == Role.resident:
        return Case.reporter_user_id == principal.user_id
    if principal.role == Role.department_handler:
        if not principal.department:
            return false()
        return or_(Case.assignee_department == principal.department,
                   exists().where(SubTask.case_id == Case.id, SubTask.department == principal.department))
    if principal.role == Role.auditor:
        return false()
    return or_(path_predicate(Case.path, principal.scope_paths),
               path_predicate(Case.assignee_path, principal.scope_paths))


def can_see_values(principal: Principal, *, reporter_user_id: uuid.UUID | None, path: str | None,
                   assignee_path: str | None, assignee_department: str | None,
                   co_departments: Collection[str] = ()) -> bool:
    """:func:`visibility` for one case given as values (``co_departments``: the departments of its sub-tasks)."""
    if principal.role == Role.resident:
        return reporter_user_id == principal.user_id
    if principal.role == Role.department_handler:
        return bool(principal.department) and (assignee_department == principal.department
                                               or principal.department in co_departments)
    if principal.role == Role.auditor:
        return False
    return in_scope(principal, path) or in_scope(principal, assignee_path)


def can_see(session: Session, principal: Principal, case: Case) -> bool:
    """The single-object form of :func:`visibility`."""
    co: list[str] = []
    if principal.role == Role.department_handler and principal.department \
            and case.assignee_department != principal.department:
        co = list(session.scalars(select(SubTask.department).where(SubTask.case_id == case.id,
                                                                   SubTask.department == principal.department)))
    return can_see_values(principal, reporter_user_id=case.reporter_user_id, path=case.path,
                          assignee_path=case.assignee_path, assignee_department=case.assignee_department,
                          co_departments=co)


# Cases carry the cell of a fixed lattice (0.005° ≈ 550 m of latitude) their point lies in; the duplicate search
# reads the cells around a point from the index (category, cell, reported time) instead of every case of the category
# in the time window.
CELL_DEG = 0.005
_CELL_STRIDE = 100_000  # > 360 / CELL_DEG: (latitude row, longitude column) → one integer


def geo_cell(lon: float | None, lat: float | None) -> int | None:
    """The lattice cell of a point (None without one)."""
    if lon is None or lat is None:
        return None
    return math.floor(lat / CELL_DEG) * _CELL_STRIDE + math.floor(lon / CELL_DEG)


def cells_around(lon: float, lat: float, dlon: float, dlat: float) -> list[int]:
    """Every cell the box (lon ± dlon, lat ± dlat) touches."""
    rows = range(math.floor((lat - dlat) / CELL_DEG), math.floor((lat + dlat) / CELL_DEG) + 1)
    cols = range(math.floor((lon - dlon) / CELL_DEG), math.floor((lon + dlon) / CELL_DEG) + 1)
    return [r * _CELL_STRIDE + c for r in rows for c in cols]


def duplicate_box(lon: float, lat: float) -> tuple[float, float, dt.timedelta, float]:
    """(degrees of longitude, degrees of latitude, time window, radius in metres) of the duplicate search."""
    s = get_settings()
    dlat = s.duplicate_radius_m / 111_000
    dlon = dlat / max(0.1, math.cos(math.radians(lat)))
    return dlon, dlat, dt.timedelta(hours=s.duplicate_window_hours), s.duplicate_radius_m


def nearby_open_cases(session: Session, *, principal: Principal, category_code: str | None, lon: float, lat: float,
                      at: dt.datetime, exclude_id: uuid.UUID | None = None, limit: int = 10
                      ) -> list[tuple[Any, float]]:
    """Open, unmerged cases of a category that the principal may see, within the duplicate radius of a point and
    the time window around ``at``: (row with id, number, title, state, lon, lat, reported_at; metres), nearest
    first — index seeks on (category, cell, reported time) for the few lattice cells around the point."""
    from zhili.regions.geo import haversine_m

    dlon, dlat, window, radius = duplicate_box(lon, lat)
    stmt = (select(Case.id, Case.number, Case.title, Case.state, Case.lon, Case.lat, Case.reported_at)
            .where(Case.category_code == category_code, Case.geo_cell.in_(cells_around(lon, lat, dlon, dlat)),
                   Case.reported_at >= at - window, Case.reported_at <= at + window,
                   Case.lat.between(lat - dlat, lat + dlat), Case.lon.between(lon - dlon, lon + dlon),
                   Case.state.in_(OPEN_STATES), Case.master_case_id.is_(None), visibility(principal))
            .limit(200))  # no ORDER BY: it would steer the planner to the (category, time) index; sorted by distance
    out = [(r, haversine_m(lon, lat, r.lon, r.lat)) for r in session.connection().execute(stmt) if r.id != exclude_id]
    out = [(r, d) for r, d in out if d <= radius]
    out.sort(key=lambda x: x[1])
    return out[:limit]
