"""Which cases a principal may see, and the duplicate search that respects it.

:func:`visibility` is the SQL form every case list, search and count goes through; :func:`can_see` the single-object
form; :func:`can_see_values` the same rule for a case that exists only as planned values (a report of the same
intake batch, not yet written). :func:`nearby_open_cases` is the duplicate search (疑似重复件) shared by the case
detail page and intake.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, TextualSelect, bindparam, exists, false, or_, select, text
from sqlalchemy.orm import Session

from zhili.cases.models import OPEN_STATES, Case, SubTask
from zhili.core.jurisdiction import Principal, authorize, in_scope, path_predicate
from zhili.core.security import Perm, Role
from zhili.core.settings import get_settings
from zhili.core.validators import usable_point


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


# The duplicate query: the cases in the cells around each report, of that report's category — one seek per
# (category, cell) pair on ix_case_nearby, the pairs passed as one JSON array. Not "category IN (…) AND cell IN (…)":
# that is the cross product of a batch's categories and cells, and without statistics SQLite may answer it from
# another index (every case of those categories in the window, or every open case). Not a VALUES list of bound
# pairs either: its statement changes with the batch (compiled again) or its cache key grows with it (measured:
# 1.8–4 ms a batch of 16 against 0.36 ms for this).
_NEARBY_PAIRS = {
    "sqlite": "SELECT json_extract(value, '$[0]') AS cat, json_extract(value, '$[1]') AS cell FROM json_each(:pairs)",
    "postgresql": "SELECT e ->> 0 AS cat, CAST(e ->> 1 AS bigint) AS cell "
                  "FROM jsonb_array_elements(CAST(:pairs AS jsonb)) AS e",
}


@functools.lru_cache(maxsize=4)
def nearby_statement(dialect: str) -> TextualSelect:
    """The duplicate query on ``dialect``: bound ``pairs`` (a JSON array of [category, cell]), ``lo``, ``hi``."""
    t = cast(Table, Case.__table__)
    cols = (t.c.id, t.c.number, t.c.title, t.c.state, t.c.lon, t.c.lat, t.c.reported_at, t.c.category_code,
            t.c.path, t.c.assignee_path, t.c.assignee_department, t.c.reporter_user_id)
    states = ", ".join(f"'{s.value}'" for s in sorted(OPEN_STATES))
    return text(
        f"WITH near AS ({_NEARBY_PAIRS[dialect]}) "
        f"SELECT {', '.join(f'c.{c.name}' for c in cols)} FROM near JOIN \"case\" AS c "
        "ON c.category_code = near.cat AND c.geo_cell = near.cell "
        f"WHERE c.reported_at >= :lo AND c.reported_at <= :hi AND c.state IN ({states}) AND c.master_case_id IS NULL"
    ).bindparams(bindparam("lo", type_=t.c.reported_at.type), bindparam("hi", type_=t.c.reported_at.type)
                 ).columns(*cols)


def fetch_nearby(session: Session, *, reports: Sequence[tuple[str | None, float, float, dt.datetime]]
                 ) -> list[dict[str, Any]]:
    """The open, unmerged cases that may be duplicates of any of ``reports`` (category, lon, lat, time): those of the
    report's category in the lattice cells around it and within the time window of the earliest and latest report.
    A superset: :func:`duplicate_distance` decides, per report and viewer."""
    pairs: set[tuple[str | None, int]] = set()
    window = dt.timedelta(0)
    reports = [r for r in reports if usable_point(r[1], r[2])]  # a stored point off the globe has no neighbours
    for category, lon, lat, _ in reports:
        dlon, dlat, window, _ = duplicate_box(lon, lat)
        pairs.update((category, cell) for cell in cells_around(lon, lat, dlon, dlat))
    if not pairs:
        return []
    times = [at for *_, at in reports]
    conn = session.connection()
    return [r._asdict() for r in conn.execute(nearby_statement(conn.dialect.name), {
        "pairs": json.dumps(sorted(pairs, key=lambda p: (p[0] or "", p[1]))),
        "lo": min(times) - window, "hi": max(times) + window})]


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


def duplicate_distance(principal: Principal, *, lon: float, lat: float, at: dt.datetime,
                       candidate: Mapping[str, Any], co_departments: Collection[str] = ()) -> float | None:
    """The duplicate rule (疑似重复件) for one candidate case of the report's category, open and unmerged: its
    distance in metres if it lies within the duplicate radius and time window of a report at (lon, lat, at) and the
    principal may see it, else None."""
    from zhili.regions.geo import haversine_m

    _, _, window, radius = duplicate_box(lon, lat)
    if candidate["lon"] is None or candidate["lat"] is None or abs(candidate["reported_at"] - at) > window:
        return None
    if not can_see_values(principal, reporter_user_id=candidate["reporter_user_id"], path=candidate["path"],
                          assignee_path=candidate["assignee_path"],
                          assignee_department=candidate["assignee_department"], co_departments=co_departments):
        return None
    d = haversine_m(lon, lat, candidate["lon"], candidate["lat"])
    return d if d <= radius else None


def nearby_open_cases(session: Session, *, principal: Principal, category_code: str | None, lon: float, lat: float,
                      at: dt.datetime, exclude_id: uuid.UUID | None = None, limit: int = 10
                      ) -> list[tuple[Any, float]]:
    """The duplicate candidates of a case at (lon, lat, at) for this principal (the case page's 疑似重复件): rows
    with id, number, title, state, lon, lat, reported_at …, and their distance in metres, nearest first — the same
    query and rule as intake's."""
    authorize(principal, Perm.case_read)
    rows = fetch_nearby(session, reports=[(category_code, lon, lat, at)])
    co = co_departments_of(session, rows=rows, principals=[principal])
    out = []
    for r in rows:
        if r["id"] == exclude_id:
            continue
        d = duplicate_distance(principal, lon=lon, lat=lat, at=at, candidate=r, co_departments=co.get(r["id"], []))
        if d is not None:
            out.append((SimpleNamespace(**r), d))
    out.sort(key=lambda x: x[1])
    return out[:limit]
