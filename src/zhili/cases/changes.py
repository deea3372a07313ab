"""What a workflow step changes, as data: the change-set an effect returns, and what effects may read.

An effect never writes. It reads the case (a loaded ORM case, or a draft over a planned row), the principal, the
payload and the context (:class:`Ctx`: the time, the working calendar and configuration lookups), and returns a
:class:`ChangeSet`. :mod:`zhili.cases.engine` applies change-sets — to one loaded case in a request, or to planned
rows in the batched intake writer — so both paths write the same rows by construction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from sqlalchemy.orm import Session

from zhili.cases.models import Category
from zhili.regions.models import UnitLevel
from zhili.worktime.service import WorkCalendar

REPORTER = "reporter"  # the recipient of a :class:`Notice` meaning "whoever reported the case"


class UnitRef(NamedTuple):
    """A current unit as effects see it."""

    id: uuid.UUID
    path: str
    level: UnitLevel
    code: str


@dataclass(frozen=True)
class Notice:
    """A message a step sends: to the reporter (:data:`REPORTER`, and the reporters of cases merged into this one)
    or to a recipient queue — a department code, a unit code or ``command_centre``."""

    to: str
    title: str
    body: str


@dataclass(frozen=True)
class StatDelta:
    """Deltas for one statistics row (grid path × local day × category) — and its per-unit rollup."""

    path: str
    day: dt.date
    category_code: str
    deltas: dict[str, int]


@dataclass
class ChangeSet:
    """Everything one step changes besides its state (the row's target) and its timeline/audit entries, which the
    engine derives from the row, the payload and :attr:`extra`."""

    values: dict[str, Any] = field(default_factory=dict)  # case columns
    extra: dict[str, Any] = field(default_factory=dict)  # facts of the step for the timeline payload and the audit
    stats: list[StatDelta] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    subtasks: list[tuple[str, str]] | None = None  # replaces the case's sub-tasks: (department, "lead" | "co")
    # Changes to other rows (supervision orders, the master of a merge): only steps taken on a loaded case have them.
    other_rows: list[Callable[[Session], None]] = field(default_factory=list)

    def set(self, **values: Any) -> ChangeSet:
        self.values.update(values)
        return self


class Lookups(Protocol):
    """Configuration an effect may read — from the session on the request path, from the per-process snapshot in
    intake — so effects stay free of how it is loaded."""

    def category(self, category_id: uuid.UUID | None) -> Category | None: ...

    def reportable_category(self, code: str) -> Category: ...

    def department_kind(self, code: str) -> str:
        """The department's kind (``department``, ``police``, ``street``, ``community`` …); refuses an unknown code."""
        ...

    def unit(self, unit_id: uuid.UUID) -> UnitRef | None: ...

    def ancestor(self, path: str, level: UnitLevel) -> UnitRef | None:
        """The current unit of ``level`` on ``path`` (the unit itself when it has that level)."""
        ...


@dataclass
class Ctx:
    """What guards and effects read besides the case: the session (reads only), now, the lookups, and the working
    calendar — given (intake's snapshot) or read on first use (guards never need it: the buttons of a queue page of
    fifty cases must not read it fifty times)."""

    session: Session
    now: dt.datetime
    look: Lookups
    calendar: WorkCalendar | None = None

    @property
    def cal(self) -> WorkCalendar:
        if self.calendar is None:
            from zhili.worktime.service import load_calendar

            self.calendar = load_calendar(self.session)
        return self.calendar
