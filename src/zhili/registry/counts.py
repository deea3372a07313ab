"""District-level register totals from the maintained per-grid counts (``register_count``).

Counting a district's persons row by row reads a million index entries; the counts table holds one row per grid
path and register, kept exact by triggers in every writing transaction (migration 0022), so a unit's totals are a
sum over an index range of a few thousand rows. :func:`recount` compares the table with a real count and repairs
it (``zhili registry recount [--check]``), audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from zhili.core.audit import SYSTEM, Actor, record
from zhili.core.jurisdiction import path_predicate
from zhili.registry.models import Building, Household, Organisation, Person, PersonStatus, RegisterCount

# the counted registers, in display order: kind → model (persons: active ones only, as the triggers count)
KINDS: dict[str, Any] = {"buildings": Building, "households": Household, "persons": Person,
                         "organisations": Organisation}


def counted(model: Any) -> list[ColumnElement[bool]]:
    """The condition a row meets to be counted (the triggers' ``WHEN``)."""
    return [model.status == PersonStatus.active] if model is Person else []


def totals_under(session: Session, paths: Iterable[str], kinds: Iterable[str] = KINDS) -> dict[str, int]:
    """{kind: rows under any of ``paths``} from the counts table (one index range per path)."""
    wanted = list(kinds)
    out = dict.fromkeys(wanted, 0)
    stmt = (select(RegisterCount.kind, func.sum(RegisterCount.n))
            .where(path_predicate(RegisterCount.path, tuple(paths)), RegisterCount.kind.in_(wanted))
            .group_by(RegisterCount.kind))
    for kind, n in session.execute(stmt):
        out[kind] = int(n or 0)
    return out


def totals_by_prefix(session: Session, root: str, lengths: Iterable[int], kinds: Iterable[str] = KINDS
                     ) -> dict[str, dict[str, int]]:
    """{path prefix: {kind: rows}} under ``root``, the grid rows grouped by their first ``length`` characters for
    each of ``lengths`` (a unit's children: their paths are prefixes of their grids')."""
    wanted = list(kinds)
    out: dict[str, dict[str, int]] = {}
    for length in set(lengths):
        prefix = func.substr(RegisterCount.path, 1, length)
        stmt = (select(prefix, RegisterCount.kind, func.sum(RegisterCount.n))
                .where(path_predicate(RegisterCount.path, (root,)), RegisterCount.kind.in_(wanted))
                .group_by(prefix, RegisterCount.kind))
        for p, kind, n in session.execute(stmt):
            out.setdefault(p, dict.fromkeys(wanted, 0))[kind] = int(n or 0)
    return out


def totals_by_path(session: Session, root: tuple[str, ...], kind: str) -> dict[str, int]:
    """{grid path: rows of ``kind``} under ``root`` (the 4E metrics' per-grid sums)."""
    stmt = (select(RegisterCount.path, RegisterCount.n)
            .where(path_predicate(RegisterCount.path, root), RegisterCount.kind == kind, RegisterCount.n != 0))
    return {p: int(n) for p, n in session.execute(stmt)}


def real_counts(session: Session) -> dict[tuple[str, str], int]:
    """{(path, kind): rows} counted from the registers themselves."""
    out: dict[tuple[str, str], int] = {}
    for kind, model in KINDS.items():
        stmt = select(model.path, func.count()).where(*counted(model)).group_by(model.path)
        for path, n in session.execute(stmt):
            out[(path, kind)] = int(n)
    return out


@dataclass(frozen=True)
class Drift:
    path: str
    kind: str
    kept: int  # what the counts table said
    real: int  # what the registers hold


def recount(session: Session, *, check_only: bool = False, actor: Actor = SYSTEM) -> list[Drift]:
    """Compare the counts table with a real count; unless ``check_only``, repair every difference (and drop rows
    of nothing) and record the repair in the audit chain. Returns the differences found."""
    real = real_counts(session)
    kept = {(r.path, r.kind): int(r.n) for r in session.scalars(select(RegisterCount))}
    drift = [Drift(p, k, kept.get((p, k), 0), real.get((p, k), 0)) for p, k in sorted(set(real) | set(kept))
             if kept.get((p, k), 0) != real.get((p, k), 0)]
    if check_only or not drift:
        return drift
    for d in drift:
        row = session.get(RegisterCount, (d.path, d.kind))
        if row is None:
            session.add(RegisterCount(path=d.path, kind=d.kind, n=d.real))
        else:
            row.n = d.real
    session.flush()
    session.execute(delete(RegisterCount).where(RegisterCount.n == 0))
    record(session, actor=actor, action="registry.recount", object_type="register_count",
           after={"repaired": len(drift), "examples": [vars(d) for d in drift[:20]]})
    session.flush()
    return drift
