"""What the register pages show about the region tree: a unit with its breadcrumbs, its children and the number of
buildings, households, persons and organisations under each, and the grid workers who look after it.

Everything is read inside the caller's jurisdiction: the unit itself through ``get_unit`` (404 outside it), the
counts with the same path predicate as the lists.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.core.jurisdiction import Principal, authorize, in_scope, path_predicate
from zhili.core.masking import mask_phone
from zhili.core.security import Perm, Role
from zhili.regions.models import Unit
from zhili.regions.picker import filter_units
from zhili.regions.service import get_unit, list_units, today, unit_ancestors, valid_on
from zhili.registry import counts
from zhili.users.models import User, UserUnit

COUNTED: dict[str, Any] = counts.KINDS
MAX_OPTIONS = 400  # units offered in a list filter before grids are left out
MAX_WORKERS = 50


def _counts_under(session: Session, path: str) -> dict[str, int]:
    """The unit's totals from the maintained per-grid counts (``registry.counts``), not a count of the rows."""
    return counts.totals_under(session, (path,))


def _counts_by_child(session: Session, unit: Unit, children: list[Unit]) -> dict[str, dict[str, int]]:
    """{child path: {register: count}}: the grid rows of the counts table under the unit, grouped by the prefix
    that is each child's path (records carry their grid's path, a child's path is a prefix of its grids')."""
    by_prefix = counts.totals_by_prefix(session, unit.path, {len(c.path) for c in children})
    return {c.path: by_prefix.get(c.path, dict.fromkeys(COUNTED, 0)) for c in children}


def _grid_workers(session: Session, unit: Unit) -> tuple[list[dict[str, Any]], int]:
    from zhili.users.service import user_phone

    bound = (select(UserUnit.user_id, Unit.name.label("unit_name"))
             .join(Unit, Unit.id == UserUnit.unit_id).where(path_predicate(Unit.path, (unit.path,))).subquery())
    stmt = (select(User, bound.c.unit_name).join(bound, bound.c.user_id == User.id)
            .where(User.role == Role.grid_worker, User.is_active.is_(True)))
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = session.execute(stmt.order_by(bound.c.unit_name, User.display_name).limit(MAX_WORKERS)).all()
    return [{"display_name": u.display_name, "username": u.username, "unit_name": name,
             "phone": mask_phone(user_phone(u))} for u, name in rows], total


def unit_overview(session: Session, *, principal: Principal, unit_id: uuid.UUID) -> dict[str, Any]:
    """A unit in jurisdiction: breadcrumbs (ancestors outside the jurisdiction are named but not linked), its
    current children with their record counts, the counts under it, and its grid workers (phones masked)."""
    authorize(principal, Perm.registry_read)
    unit = get_unit(session, principal=principal, unit_id=unit_id)
    crumbs = [{"unit": a, "linked": in_scope(principal, a.path)} for a in unit_ancestors(session, unit=unit)]
    children, _ = list_units(session, principal=principal, parent_id=unit.id, page_size=500)
    by_child = _counts_by_child(session, unit, children) if children else {}
    workers, worker_total = _grid_workers(session, unit)
    return {
        "unit": unit, "crumbs": crumbs, "counts": _counts_under(session, unit.path),
        "children": [{"unit": c, "counts": by_child.get(c.path, {})} for c in children],
        "workers": workers, "worker_total": worker_total,
        "current": unit.valid_from <= today() < unit.valid_to,
    }


def root_units(session: Session, *, principal: Principal) -> list[Unit]:
    """The units the caller is bound to that are valid today (where browsing the tree starts)."""
    authorize(principal, Perm.registry_read)
    if not principal.unit_ids:
        return []
    return list(session.scalars(select(Unit).where(Unit.id.in_(principal.unit_ids), valid_on(Unit, today()))
                                .order_by(Unit.path)))


def unit_options(session: Session, *, principal: Principal) -> list[Unit]:
    """Units in jurisdiction to filter a register list by (``regions.picker.filter_units``)."""
    authorize(principal, Perm.registry_read)
    return filter_units(session, principal=principal, limit=MAX_OPTIONS)


def unit_names(session: Session, *, principal: Principal, unit_ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    """Names of the given units that lie in the caller's jurisdiction (for showing a record's grid)."""
    authorize(principal, Perm.registry_read)
    wanted = {i for i in unit_ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(Unit.id, Unit.name, Unit.path).where(Unit.id.in_(wanted))).all()
    return {i: name for i, name, path in rows if in_scope(principal, path)}
