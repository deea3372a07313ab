"""The case list's filters as the page reads and writes them: typed strings from a URL or a posted form, checked
into a :class:`zhili.cases.service.CaseFilter` (each bad value a Chinese message, never a 500), and written back
as the canonical query string the page's links, exports and saved views carry — never a reporter's phone."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from zhili.cases.models import CaseState, Channel
from zhili.cases.service import SORTABLE, CaseFilter
from zhili.core.clock import local_midnight, today
from zhili.core.validators import personal_number_kind
from zhili.web.render import tr

SORT_KEYS = ("reported_at", "handle_due_at", "number", "state")  # the sortable columns of the page
WARNINGS = ("yellow", "red")
# live cases or imported history (历史导入); no value: both — the list hides nothing by default, and the work
# filters (open, overdue, states in progress) never match history, which is always closed
HISTORY = {"live": False, "history": True}
assert set(SORT_KEYS) <= set(SORTABLE)


@dataclass(frozen=True)
class CaseQuery:
    """The case list's filters as typed (strings; ``state`` repeatable), in the order links carry them."""

    number: str = ""
    q: str = ""
    category: str = ""
    unit_id: str = ""
    state: tuple[str, ...] = ()
    channel: str = ""
    since: str = ""
    until: str = ""
    overdue: str = ""
    warning: str = ""
    department: str = ""
    open: str = ""
    supervised: str = ""
    history: str = ""  # "" all (default: nothing hidden), "live" 实时工单, "history" 历史导入
    sort: str = ""
    reporter_phone: str = field(default="", repr=False)  # posted only; never written into a link

    @classmethod
    def read(cls, items: Iterable[tuple[str, Any]]) -> CaseQuery:
        """From a query string's or a form's (key, value) pairs; unknown keys are ignored."""
        limits = {"q": 100, "reporter_phone": 20}
        values: dict[str, Any] = {}
        states: list[str] = []
        names = {f.name for f in fields(cls)}
        for key, raw in items:
            if key not in names or not isinstance(raw, str):
                continue
            value = raw.strip()[:limits.get(key, 40)]
            if key == "state":
                if value and value not in states and len(states) < len(CaseState):
                    states.append(value)
            elif value:
                values[key] = value
        return cls(state=tuple(states), **values)

    def pairs(self, *, sort: bool = True) -> list[tuple[str, str]]:
        """The filters as query pairs (empty ones left out; never the reporter's phone)."""
        out: list[tuple[str, str]] = []
        for f in fields(self):
            if f.name == "reporter_phone" or (f.name == "sort" and not sort):
                continue
            value = getattr(self, f.name)
            out += [(f.name, v) for v in value] if isinstance(value, tuple) else [(f.name, value)] if value else []
        return out

    def encoded(self, *, sort: bool = True) -> str:
        """The canonical query string (what links, exports and saved views carry)."""
        return urlencode(self.pairs(sort=sort))

    def personal_number(self) -> bool:
        """True when any value is an ID or phone number (such a search is never put in a URL)."""
        return bool(self.reporter_phone) or any(personal_number_kind(v) for _, v in self.pairs())

    def sorted_by(self, key: str) -> str:
        """The query string of this list sorted by column ``key`` (again: the other direction)."""
        return urlencode([*self.pairs(sort=False), ("sort", f"-{key}" if self.sort == key else key)])

    def without_phone(self) -> CaseQuery:
        return replace(self, reporter_phone="")


@dataclass
class Checked:
    """A query checked against the known values: the service's filter and the messages of what was refused."""

    filters: CaseFilter
    sort: str | None
    errors: list[str]


def _day(request: Request, raw: str, errors: list[str]) -> dt.date | None:
    if not raw:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        day = None
    if day is None or not 1900 <= day.year <= 2999:
        errors.append(tr(request, "cases.err.date", value=raw))
        return None
    return day


def check(request: Request, query: CaseQuery, *, categories: Iterable[str], departments: Iterable[str]
          ) -> Checked:
    """The service filter of ``query``; every value that is not one the page offers is named in ``errors``."""
    errors: list[str] = []
    f = CaseFilter(keyword=query.q or None, number=query.number or None, open_only=query.open == "1",
                   supervised=query.supervised == "1", overdue=True if query.overdue == "1" else None,
                   reporter_phone=query.reporter_phone or None)
    if query.category:
        if query.category in set(categories):
            f.category = query.category
        else:
            errors.append(tr(request, "cases.err.category"))
    if query.department:
        if query.department in set(departments):
            f.department = query.department
        else:
            errors.append(tr(request, "cases.err.department"))
    if query.unit_id:
        try:
            f.unit_id = uuid.UUID(query.unit_id)
        except ValueError:
            errors.append(tr(request, "cases.err.unit"))
    states = [s for s in query.state if s in CaseState.__members__]
    if len(states) < len(query.state):
        errors.append(tr(request, "cases.err.state"))
    f.state = [CaseState(s) for s in states] or None
    if query.channel:
        if query.channel in Channel.__members__:
            f.channel = Channel(query.channel)
        else:
            errors.append(tr(request, "cases.err.channel"))
    if query.history:
        if query.history in HISTORY:
            f.history = HISTORY[query.history]
        else:
            errors.append(tr(request, "cases.err.history"))
    if query.warning:
        if query.warning in WARNINGS:
            f.warning = query.warning
        else:
            errors.append(tr(request, "cases.err.warning"))
    since, until = _day(request, query.since, errors), _day(request, query.until, errors)
    if since and until and since > until:
        errors.append(tr(request, "cases.err.dates"))
    f.since = local_midnight(since) if since else None
    f.until = local_midnight(until + dt.timedelta(days=1)) if until else None  # the whole last day
    sort = query.sort or None
    if sort and sort.lstrip("-") not in SORT_KEYS:
        errors.append(tr(request, "cases.err.sort"))
        sort = None
    return Checked(filters=f, sort=sort, errors=errors)


def today_query() -> str:
    """Reported today (local day)."""
    day = today().isoformat()
    return urlencode([("since", day), ("until", day)])
