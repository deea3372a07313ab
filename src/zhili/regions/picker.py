"""Choosing units on forms (the region-subtree and unit pickers of the configuration pages)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from zhili.core.jurisdiction import Principal, authorize, scoped
from zhili.core.query import contains_text, starts_with_text
from zhili.core.security import Perm
from zhili.regions.models import LEVEL_ORDER, Unit, UnitLevel
from zhili.regions.service import list_units, today, valid_on

PICK_LIMIT = 30
FILTER_LIMIT = 400  # units offered in a list filter before grids are left out


def pick_units(session: Session, *, principal: Principal, q: str | None = None, limit: int = PICK_LIMIT
               ) -> list[Unit]:
    """Current units in the principal's jurisdiction matching ``q`` (name or code); without ``q`` the units the
    principal is bound to and their children."""
    authorize(principal, Perm.region_read)
    stmt = scoped(select(Unit), principal, Unit.path).where(valid_on(Unit, today()))
    q = (q or "").strip()
    if q:
        stmt = stmt.where(or_(contains_text(Unit.name, q), starts_with_text(Unit.code, q)))
    else:
        roots = [uuid.UUID(str(i)) for i in principal.unit_ids]
        stmt = stmt.where(or_(Unit.id.in_(roots), Unit.parent_id.in_(roots), Unit.path.in_(principal.scope_paths)))
    return list(session.scalars(stmt.order_by(Unit.path).limit(limit)))


def filter_units(session: Session, *, principal: Principal, limit: int = FILTER_LIMIT) -> list[Unit]:
    """Current units in the principal's jurisdiction to filter a list by, tree-ordered (a select's options); when
    there are more than ``limit``, the grids are left out."""
    authorize(principal, Perm.region_read)
    units, total = list_units(session, principal=principal, page_size=limit)
    if total > limit:
        above = [lvl for lvl, i in LEVEL_ORDER.items() if i < LEVEL_ORDER[UnitLevel.grid]]
        units = list(session.scalars(scoped(select(Unit), principal, Unit.path).where(
            valid_on(Unit, today()), Unit.level.in_(above)).order_by(Unit.path).limit(limit)))
    return units


def units_named(session: Session, *, ids: Iterable[uuid.UUID | None] = (), paths: Iterable[str | None] = ()
                ) -> list[Unit]:
    """The current units with these ids or paths (for showing what a form or a rule refers to)."""
    want_ids = {i for i in ids if i}
    want_paths = {p for p in paths if p}
    if not want_ids and not want_paths:
        return []
    stmt = select(Unit).where(or_(Unit.id.in_(want_ids), Unit.path.in_(want_paths) & valid_on(Unit, today())))
    return list(session.scalars(stmt.order_by(Unit.path)))


def names_by_code(session: Session, *, codes: Iterable[str | None]) -> dict[str, str]:
    """Unit code → the name of its current version (supervision orders address units by code)."""
    wanted = {c for c in codes if c}
    if not wanted:
        return {}
    rows = session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(wanted)).order_by(Unit.valid_from))
    return {code: name for code, name in rows}  # the newest version wins
