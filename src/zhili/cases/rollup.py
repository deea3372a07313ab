"""The per-unit daily rollup of the case statistics (``case_stat_unit``).

``case_stat`` holds one row per grid path × local day × category — about 2,500 rows a day in the large demo, so a
30-day district figure reads ≈ 77,000 rows. ``case_stat_unit`` holds, for every unit of the tree (every prefix of
a statistics path), one row per day with the figures of its whole subtree summed over categories: the same
30-day district figure is 30 rows, a street ranking 300, a grid ranking one row per grid and day (≈ 36,000).

It is kept by the same code path as ``case_stat``: :func:`zhili.cases.tally.add` calls :func:`add` with the
same deltas in the same transaction (one multi-row upsert, one row per level of the path), and
:func:`rebuild` recomputes it from ``case_stat`` (``zhili cases rebuild-stats`` does both).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from functools import cache
from typing import Any

from sqlalchemy import Date, TextClause, bindparam, delete, func, insert, literal_column, select, text
from sqlalchemy.orm import Session

from zhili.cases.models import CaseStat, CaseStatUnit

FIGURES = ("reported", "accepted", "closed", "closed_on_time", "overdue", "rating_sum", "rating_count")


def prefixes(path: str) -> list[str]:
    """Every unit path a statistics path belongs to, top first (``a/b/c`` → ``a``, ``a/b``, ``a/b/c``)."""
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _upsert_sql(rows: int) -> str:
    values = ", ".join(f"(:p{i}, :day, :d{i}, " + ", ".join(f":{c}" for c in FIGURES) + ")" for i in range(rows))
    return ("INSERT INTO case_stat_unit (path, day, depth, " + ", ".join(FIGURES) + ") VALUES " + values
            + " ON CONFLICT (path, day) DO UPDATE SET "
            + ", ".join(f"{c} = case_stat_unit.{c} + excluded.{c}" for c in FIGURES))


@cache
def _upsert(rows: int) -> TextClause:
    """One static multi-row upsert per path length (a handful of statements, built once)."""
    return text(_upsert_sql(rows)).bindparams(bindparam("day", type_=Date()))


def add(session: Session, *, path: str, day: dt.date, deltas: dict[str, int]) -> None:
    """Add statistics deltas of one (path, day) to the rows of the path's unit and all its ancestors."""
    levels = prefixes(path)
    params: dict[str, Any] = {"day": day, **{c: int(deltas.get(c, 0)) for c in FIGURES}}
    for i, p in enumerate(levels):
        params[f"p{i}"], params[f"d{i}"] = p, i
    session.execute(_upsert(len(levels)), params)


def add_many(session: Session, *, rows: list[tuple[str, dt.date, dict[str, int]]]) -> None:
    """:func:`add` for many (path, day, deltas) at once: summed per (unit, day), one executemany (batched intake)."""
    acc: dict[tuple[str, dt.date], dict[str, int]] = {}
    for path, day, deltas in rows:
        for depth, p in enumerate(prefixes(path)):
            figures = acc.setdefault((p, day), {"depth": depth, **dict.fromkeys(FIGURES, 0)})
            for c in FIGURES:
                figures[c] += int(deltas.get(c, 0))
    if acc:
        # in key order: every writer locks the shared rows (a district's day) in the same order
        session.connection().execute(_ADD_ONE, [{"path": p, "day": d, **v} for (p, d), v in sorted(acc.items())])


_ADD_ONE = text(_upsert_sql(1).replace(":p0", ":path").replace(":d0", ":depth")).bindparams(
    bindparam("day", type_=Date()))


def rebuild(session: Session) -> int:
    """Recompute the rollup from ``case_stat``: the paths' own rows in one aggregate query, then each level folded
    onto its parent, deepest first (so every level is complete before it is summed upwards)."""
    session.execute(delete(CaseStatUnit))
    slashes = func.length(CaseStat.path) - func.length(func.replace(CaseStat.path, literal_column("'/'"),
                                                                     literal_column("''")))
    direct = select(CaseStat.path, CaseStat.day, slashes,
                    *[func.sum(getattr(CaseStat, c)) for c in FIGURES]).group_by(CaseStat.path, CaseStat.day)
    session.execute(insert(CaseStatUnit).from_select(["path", "day", "depth", *FIGURES], direct))
    deepest = session.scalar(select(func.max(CaseStatUnit.depth))) or 0
    for depth in range(deepest, 0, -1):  # every level, also those with no rows of their own yet
        parents: dict[tuple[str, dt.date], list[int]] = defaultdict(lambda: [0] * len(FIGURES))
        rows = session.execute(select(CaseStatUnit.path, CaseStatUnit.day, *[getattr(CaseStatUnit, c)
                                                                             for c in FIGURES])
                               .where(CaseStatUnit.depth == depth))
        for row in rows:
            acc = parents[(row[0].rsplit("/", 1)[0], row[1])]
            for i in range(len(FIGURES)):
                acc[i] += int(row[2 + i] or 0)
        batch = [{"path": p, "day": d, "depth": depth - 1, **dict(zip(FIGURES, v, strict=True))}
                 for (p, d), v in parents.items()]
        for start in range(0, len(batch), 5000):
            session.execute(_ADD_ONE, batch[start:start + 5000])
    session.flush()
    return int(session.scalar(select(func.count()).select_from(CaseStatUnit)) or 0)
