"""What other domains may read of cases, without the case tables: the resident portal's public cases, case numbers
for the visits, category names, and the open cases of a grid as map points for the screen.

Figures (reported, closed, on time, …) are not read here but from the statistics read model, :mod:`zhili.cases.stats`.
Callers keep their own rules about *who* may call (the portal's resident-only actions, the screen's roles and
jurisdiction); *which* cases are public is the one rule of :mod:`zhili.cases.public` (category allow-list included).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from zhili.cases import public
from zhili.cases.flows import state_label
from zhili.cases.models import OPEN_STATES, Case, CaseState, CaseSupport, Category
from zhili.core.errors import NotFound
from zhili.core.jurisdiction import path_predicate
from zhili.core.query import starts_with_text


@dataclass(frozen=True)
class PublicCaseRow:
    """What the public portal may know of a public case: no reporter, no address, no number, no handling details.

    ``title`` is the raw title (the portal masks and shortens it), ``lon`` / ``lat`` only serve to measure a
    distance and ``path`` to name the community — none of the three is shown as such.
    """

    id: uuid.UUID
    category_code: str | None
    category_name: str
    title: str
    state: CaseState
    state_label: str
    reported_at: dt.datetime
    path: str
    lon: float | None
    lat: float | None
    support_count: int
    supported: bool  # by the viewer
    own: bool  # reported by the viewer


def _public() -> ColumnElement[bool]:
    """Cases the portal may list: the public rule (:mod:`zhili.cases.public`), open ones only."""
    return public.public_filter(open_only=True)


def _rows(session: Session, viewer_id: uuid.UUID, cases: list[Case]) -> list[PublicCaseRow]:
    if not cases:
        return []
    cat_ids = {c.category_id for c in cases if c.category_id}
    names = {i: n for i, n in session.execute(select(Category.id, Category.name).where(Category.id.in_(cat_ids)))}
    supported = set(session.scalars(select(CaseSupport.case_id).where(
        CaseSupport.user_id == viewer_id, CaseSupport.case_id.in_([c.id for c in cases]))))
    return [PublicCaseRow(
        id=c.id, category_code=c.category_code, category_name=names.get(c.category_id, "") if c.category_id else "",
        title=c.title, state=c.state, state_label=state_label(c.flow, c.state), reported_at=c.reported_at, path=c.path,
        lon=c.lon, lat=c.lat, support_count=c.support_count or 0, supported=c.id in supported,
        own=c.reporter_user_id == viewer_id) for c in cases]


def public_cases(
    session: Session, *, viewer_id: uuid.UUID, under: str, within: str | None = None,
    category: str | None = None, box: tuple[float, float, float, float] | None = None, limit: int = 50,
) -> list[PublicCaseRow]:
    """Public open cases under the unit path ``under`` (and ``within`` a unit below it), newest first; optionally of
    one category (code prefix) and inside a ``(min_lon, min_lat, max_lon, max_lat)`` box."""
    stmt = select(Case).where(_public(), path_predicate(Case.path, (under,)))
    if category:
        stmt = stmt.where(starts_with_text(Case.category_code, category))
    if box is not None:
        stmt = stmt.where(Case.lon.between(box[0], box[2]), Case.lat.between(box[1], box[3]))
    if within is not None:
        stmt = stmt.where(path_predicate(Case.path, (within,)))
    return _rows(session, viewer_id, list(session.scalars(stmt.order_by(Case.reported_at.desc()).limit(limit))))


def _public_case(session: Session, case_id: uuid.UUID) -> Case:
    case = session.scalar(select(Case).where(Case.id == case_id, _public()))
    if case is None:
        raise NotFound("事件不存在或未公开")
    return case


def public_case(session: Session, *, viewer_id: uuid.UUID, case_id: uuid.UUID) -> PublicCaseRow:
    """One public open case (404 if it is not public, not open, merged, or of a category off the allow-list)."""
    return _rows(session, viewer_id, [_public_case(session, case_id)])[0]


def case_numbers(session: Session, *, case_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Case id → case number (for showing which case another record led to)."""
    if not case_ids:
        return {}
    return dict(session.execute(select(Case.id, Case.number).where(Case.id.in_(case_ids))).all())


def category_names(session: Session, *, codes: Iterable[str]) -> dict[str, str]:
    """Category code → name of the current version of each category."""
    return dict(session.execute(select(Category.code, Category.name).where(
        Category.code.in_(list(codes) or [""]), Category.is_current.is_(True))).all())


@dataclass(frozen=True)
class CasePoint:
    """An open case as a point on a staff map."""

    id: uuid.UUID
    number: str
    title: str
    lon: float
    lat: float
    state: CaseState
    overdue: bool


def open_case_points(session: Session, *, path: str, limit: int) -> list[CasePoint]:
    """The located open cases at or below a unit path, newest first (the screen's last drill level)."""
    rows = session.execute(select(Case.id, Case.number, Case.title, Case.lon, Case.lat, Case.state, Case.overdue)
                           .where(path_predicate(Case.path, (path,)), Case.state.in_(OPEN_STATES),
                                  Case.lon.is_not(None), Case.lat.is_not(None))
                           .order_by(Case.reported_at.desc()).limit(limit)).all()
    return [CasePoint(id=r.id, number=r.number, title=r.title, lon=r.lon, lat=r.lat, state=r.state,
                      overdue=bool(r.overdue)) for r in rows]
