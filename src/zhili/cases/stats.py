"""The statistics read model: case figures for a unit path over a range of local days — by unit, by day, by
category — for the screen (``zhili.dashboard``), the monthly disclosure (``zhili.participation``) and the coming
evaluation, none of which reads the statistics tables itself.

The figures (:data:`FIGURES`) are kept by the case loop in the same transaction as each intake and transition, keyed
by the day a case was *reported*: "closed / on time / rating over the last 30 days" means "of the cases reported in
those 30 days". Two tables hold them:

- ``case_stat``: one row per grid path × day × category. Read for anything by category
  (:func:`by_category`) and for the sums below an arbitrary path (:func:`subtree_totals`).
- ``case_stat_unit`` (:mod:`zhili.cases.rollup`): one row per unit path × day with the unit's whole subtree summed
  over categories — a unit's figures are its own rows. Read by :func:`unit_totals`, :func:`totals_by_unit` and
  :func:`daily`; the path must be a unit's.

The statements are the screen's tuned ones (docs/architecture.md, docs/benchmarks.md): a unit's rows are one
primary-key range (``path = :unit`` and the days), a breakdown or ranking ``path IN (…)``; the category
distribution reads the covering index ``ix_case_stat_day``. ``figures`` arguments select which sums a statement
computes (the others stay 0), so a caller that needs two columns does not read seven.

:func:`live_open` is not statistics: how many cases are open (and overdue) *now* under a path, counted over
``case`` by its indexes, because the statistics rows cannot say it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session

from zhili.cases import flows
from zhili.cases.models import OPEN_STATES, Case, CaseStat, CaseStatUnit
from zhili.cases.rollup import FIGURES
from zhili.core.jurisdiction import path_predicate

__all__ = ["FIGURES", "Figures", "LiveCounts", "by_category", "daily", "live_open", "rate", "subtree_totals",
           "totals_by_unit", "unit_totals"]


def rate(num: int, den: int) -> float | None:
    """``num / den`` rounded to 4 places; None without a denominator."""
    return round(num / den, 4) if den else None


@dataclass
class Figures:
    """Summed statistics of one scope (a unit, a day, a category …)."""

    reported: int = 0
    accepted: int = 0
    closed: int = 0
    closed_on_time: int = 0
    overdue: int = 0
    rating_sum: int = 0
    rating_count: int = 0

    def add(self, row: Iterable[Any], names: Sequence[str] = FIGURES) -> None:
        """Add the values of ``row``, in the order of ``names``."""
        for name, value in zip(names, row, strict=True):
            setattr(self, name, getattr(self, name) + int(value or 0))

    @property
    def on_time_rate(self) -> float | None:
        """Closed on time / closed."""
        return rate(self.closed_on_time, self.closed)

    @property
    def overdue_rate(self) -> float | None:
        """Overdue / reported."""
        return rate(self.overdue, self.reported)

    @property
    def satisfaction(self) -> float | None:
        """The average rating (2 places)."""
        return round(self.rating_sum / self.rating_count, 2) if self.rating_count else None

    def as_dict(self) -> dict[str, Any]:
        """The figures as the screen shows them."""
        return {"reported": self.reported, "closed": self.closed, "closed_on_time": self.closed_on_time,
                "overdue": self.overdue, "on_time_rate": self.on_time_rate, "overdue_rate": self.overdue_rate,
                "satisfaction": self.satisfaction}


def _check(figures: Sequence[str]) -> Sequence[str]:
    unknown = set(figures) - set(FIGURES)
    if unknown or not figures:
        raise ValueError(f"unknown statistics figures: {sorted(unknown)}")
    return figures


def _sums(table: Any, figures: Sequence[str]) -> list[Any]:
    return [func.coalesce(func.sum(getattr(table, f)), 0) for f in _check(figures)]


def _days(table: Any, since: dt.date, until: dt.date) -> ColumnElement[bool]:
    return and_(table.day >= since, table.day <= until)


def _one(session: Session, stmt: Select[Any], figures: Sequence[str]) -> Figures:
    f = Figures()
    f.add(session.execute(stmt).one(), figures)
    return f


# -- per unit (case_stat_unit) ------------------------------------------------------------------------------

def unit_totals(session: Session, *, path: str, since: dt.date, until: dt.date,
                figures: Sequence[str] = FIGURES) -> Figures:
    """A unit's figures over the days ``since`` … ``until`` (its own rollup rows: its whole subtree)."""
    days = CaseStatUnit.day == since if since == until else _days(CaseStatUnit, since, until)
    return _one(session, select(*_sums(CaseStatUnit, figures)).where(CaseStatUnit.path == path, days), figures)


def totals_by_unit(session: Session, *, paths: Sequence[str] | Select[Any], since: dt.date, until: dt.date,
                   figures: Sequence[str] = FIGURES) -> dict[str, Figures]:
    """Figures per unit path over the days, for the units listed in ``paths`` — a list, or a statement selecting
    unit paths (a ranking's units, without bringing them into Python first). Units without rows are absent."""
    out: dict[str, Figures] = {}
    for row in session.execute(select(CaseStatUnit.path, *_sums(CaseStatUnit, figures))
                               .where(CaseStatUnit.path.in_(paths), _days(CaseStatUnit, since, until))
                               .group_by(CaseStatUnit.path)):
        f = out[row[0]] = Figures()
        f.add(row[1:], figures)
    return out


def daily(session: Session, *, path: str, since: dt.date, until: dt.date,
          figures: Sequence[str] = FIGURES) -> dict[dt.date, Figures]:
    """A unit's figures per local day over the days (days without rows are absent)."""
    out: dict[dt.date, Figures] = {}
    for row in session.execute(select(CaseStatUnit.day, *[func.sum(getattr(CaseStatUnit, f))
                                                          for f in _check(figures)])
                               .where(CaseStatUnit.path == path, _days(CaseStatUnit, since, until))
                               .group_by(CaseStatUnit.day)):
        f = out[row[0]] = Figures()
        f.add(row[1:], figures)
    return out


# -- per category and below any path (case_stat) -----------------------------------------------------------

def by_category(session: Session, *, path: str, since: dt.date, until: dt.date,
                figures: Sequence[str] = FIGURES) -> dict[str, Figures]:
    """Figures per category code (``""``: uncategorised) of the cases at or below ``path`` over the days."""
    out: dict[str, Figures] = {}
    for row in session.execute(select(CaseStat.category_code, *[func.sum(getattr(CaseStat, f))
                                                                for f in _check(figures)])
                               .where(path_predicate(CaseStat.path, (path,)), _days(CaseStat, since, until))
                               .group_by(CaseStat.category_code)):
        out.setdefault(row[0] or "", Figures()).add(row[1:], figures)
    return out


def subtree_totals(session: Session, *, path: str, since: dt.date, until: dt.date,
                   figures: Sequence[str] = FIGURES) -> Figures:
    """The figures of the cases at or below any path over the days, summed from the grid rows (the same numbers
    as :func:`unit_totals` for a unit's path, read without the rollup)."""
    return _one(session, select(*_sums(CaseStat, figures))
                .where(path_predicate(CaseStat.path, (path,)), CaseStat.day >= since, CaseStat.day <= until),
                figures)


# -- live counts (case) -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LiveCounts:
    """Cases open now, and of them overdue now, under a path."""

    open: int
    overdue: int


def live_open(session: Session, *, path: str) -> LiveCounts:
    """How many cases under ``path`` are open now and how many of them are overdue (indexed counts over ``case``:
    ``ix_case_state`` / ``ix_case_handle_due`` and the path prefix)."""
    live = and_(path_predicate(Case.path, (path,)), Case.flow.in_(flows.counted_flows()))  # events, not permits
    open_now = int(session.scalar(select(func.count()).select_from(Case)
                                  .where(Case.state.in_(OPEN_STATES), live)) or 0)
    overdue_now = int(session.scalar(select(func.count()).select_from(Case)
                                     .where(Case.state.in_(OPEN_STATES), Case.overdue.is_(True), live)) or 0)
    return LiveCounts(open=open_now, overdue=overdue_now)
