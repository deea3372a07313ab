"""Which cases a principal may see, and the duplicate search that respects it.

:func:`visibility` is the SQL form every case list, search and count goes through; :func:`can_see` the single-object
form; :func:`can_see_values` the same rule for a case that exists only as planned values (a report of the same
intake batch, not yet written). The lattice cells and the box of the duplicate search (疑似重复件) are here too; the
search itself is :mod:`zhili.cases.duplicates`.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, exists, false, or_, select
from sqlalchemy.orm import Session

from zhili.cases.models import Case, SubTask
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


def co_departments_of(session: Session, *, rows: Sequence[Mapping[str, Any]], principals: Iterable[Principal]
                      ) -> dict[uuid.UUID, list[str]]:
    """For the department handlers among ``principals``: which of their departments co-handle each of ``rows``
    (sub-tasks) — what :func:`can_see_values` needs beyond the row itself."""
    departments = {p.department for p in principals if p.role == Role.department_handler and p.department}
    co: dict[uuid.UUID, list[str]] = {}
    if rows and departments:
        for case_id, dept in session.connection().execute(select(SubTask.case_id, SubTask.department).where(
                SubTask.case_id.in_([r["id"] for r in rows]), SubTask.department.in_(departments))):
            co.setdefault(case_id, []).append(dept)
    return co
