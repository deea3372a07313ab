"""One board per staff role: the figures of the workbench (工作台), each with the list behind it.

A case figure is a :class:`Count`: the number and the :class:`~zhili.cases.service.CaseFilter` it counted, so the
page links the number to the case list with exactly that filter. Single figures are counted by
:func:`zhili.cases.service.list_cases` itself (the list's own query and jurisdiction); breakdowns (by state, by
channel) and the short work lists come from :mod:`zhili.cases.worklists` (the same visibility rule) — like the other
domains, the workbench never queries the case tables itself.

Every board checks the permissions its figures need first, and every service it calls checks again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases import config, supervision, views, worklists
from zhili.cases import service as cases
from zhili.cases.models import OPEN_STATES, Case, CaseState, Category, Channel
from zhili.cases.service import CaseFilter
from zhili.cases.worklists import Worklist
from zhili.core.clock import local_midnight, today
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm, Role
from zhili.dashboard import service as dashboard
from zhili.org.service import department_names
from zhili.participation import service as participation
from zhili.users import admin as accounts
from zhili.users.models import User
from zhili.visits import service as visits
from zhili.workbench.health import Check, system_health
from zhili.worktime.models import CalendarOverride

OPEN = [s for s in CaseState if s in OPEN_STATES]  # workflow order
HANDLING = [CaseState.dispatched, CaseState.in_progress, CaseState.extension_requested]  # the handler must act
QUEUE = [CaseState.reported, CaseState.returned, CaseState.escalated, CaseState.extension_requested]
TO_CLOSE = [CaseState.verified, CaseState.rated]
LIST_ROWS = 5  # cases listed under a figure
LATEST_ROWS = 8
SYSTEM_NAME = "系统"


@dataclass(frozen=True)
class Count:
    """A case figure and the filter it counted (the list behind the number)."""

    n: int
    filters: CaseFilter
    exact: bool = True  # False: more than n (a list counted to its cap, core.query.COUNT_CAP)

    @property
    def text(self) -> str:
        """The figure as shown: ``10000+`` past the cap."""
        return str(self.n) if self.exact else f"{self.n}+"


@dataclass
class Listed:
    """A case figure with its first rows (case views, in the list's order)."""

    count: Count
    rows: list[dict[str, Any]] = field(default_factory=list)


# -- helpers ------------------------------------------------------------------------------------------------

def _views(session: Session, rows: list[Case]) -> list[dict[str, Any]]:
    names = department_names(session)
    return [views.case_view(session, c, departments=names) for c in rows]


def _count(session: Session, principal: Principal, f: CaseFilter) -> Count:
    listed = cases.list_cases(session, principal=principal, filters=f, page_size=1)
    return Count(listed.total, f, listed.exact)


def _listed(session: Session, principal: Principal, f: CaseFilter, *, sort: str | None = None,
            rows: int = LIST_ROWS) -> Listed:
    found, n, exact = cases.list_cases(session, principal=principal, filters=f, page_size=rows, sort=sort)
    return Listed(Count(n, f, exact), _views(session, found))


def _by_state(session: Session, principal: Principal, states: list[CaseState], *, all_shown: bool = True
              ) -> list[Count]:
    """Cases per state among ``states`` (in that order; states without cases left out unless ``all_shown``)."""
    counts = worklists.count_by_state(session, principal=principal, states=states)
    return [Count(counts.get(s, 0), CaseFilter(state=[s])) for s in states if all_shown or counts.get(s)]


def _worklist(session: Session, principal: Principal, worklist: Worklist, rows: int) -> list[dict[str, Any]]:
    return _views(session, worklists.by_deadline(session, principal=principal, worklist=worklist, limit=rows))


def _open_supervisions(session: Session, principal: Principal, *, mine: bool, rows: int = 0
                       ) -> tuple[int, list[supervision.SupervisionRow]]:
    found, n = supervision.list_open_supervisions(
        session, principal=principal, filters=supervision.SupervisionFilter(addressed_to_me=mine),
        page_size=max(rows, 1))
    return n, found[:rows]


def _supervision_views(session: Session, rows: list[supervision.SupervisionRow]) -> list[dict[str, Any]]:
    names = department_names(session)
    return [{"supervision": r.supervision, "case": views.case_view(session, r.case, departments=names)}
            for r in rows]


# -- command centre -----------------------------------------------------------------------------------------

@dataclass
class CommandCentreBoard:
    """指挥中心: today's intake, the queues waiting for it, warnings, supervision and the latest cases."""

    day: dt.date
    today: Count
    today_by_channel: list[tuple[Channel, Count]]
    queue: list[Count]
    to_close: Count
    overdue: Listed
    due_soon: Count
    supervisions_open: int
    supervisions_mine: int
    latest: Listed


def command_centre_board(session: Session, *, principal: Principal, day: dt.date | None = None
                         ) -> CommandCentreBoard:
    """The command centre's morning: what came in today (by channel), what waits in its queues (to accept, returned,
    escalated, extensions to decide, cases to close), overdue and about-to-be-overdue open cases, open supervision
    orders and the latest cases — all within its jurisdiction."""
    authorize(principal, Perm.case_read)
    day = day or today()
    since = local_midnight(day)
    by_channel = worklists.count_by_channel(session, principal=principal, since=since)
    n_open, n_mine = (_open_supervisions(session, principal, mine=m)[0] for m in (False, True))
    return CommandCentreBoard(
        day=day, today=_count(session, principal, CaseFilter(since=since)),
        today_by_channel=[(ch, Count(by_channel[ch], CaseFilter(since=since, channel=ch)))
                          for ch in Channel if by_channel.get(ch)],
        queue=_by_state(session, principal, QUEUE),
        to_close=_count(session, principal, CaseFilter(state=TO_CLOSE)),
        overdue=_listed(session, principal, CaseFilter(state=OPEN, overdue=True), sort="handle_due_at"),
        due_soon=_count(session, principal, CaseFilter(state=OPEN, warning="yellow")),
        supervisions_open=n_open, supervisions_mine=n_mine,
        latest=_listed(session, principal, CaseFilter(), rows=LATEST_ROWS))


# -- department handler -------------------------------------------------------------------------------------

@dataclass
class DepartmentBoard:
    """职能部门: my open tasks by deadline, cases sent back to redo, supervision orders to answer."""

    department: str | None
    department_name: str | None
    tasks: Count
    task_rows: list[dict[str, Any]]
    overdue: Count
    due_soon: Count
    sent_back: list[dict[str, Any]]
    supervisions: int
    supervision_rows: list[dict[str, Any]]


def department_board(session: Session, *, principal: Principal, rows: int = 10) -> DepartmentBoard:
    """The department's tasks (dispatched to it and not yet resolved), nearest deadline first; those overdue or
    about to be; cases whose result was sent back at verification (核查不通过, to handle again); and the open
    supervision orders addressed to it."""
    authorize(principal, Perm.case_read)
    dept = principal.department
    mine = CaseFilter(department=dept, state=HANDLING)
    if dept:
        task_rows = _worklist(session, principal, Worklist(HANDLING, department=dept), rows)
        sent_back = _worklist(session, principal, Worklist(HANDLING, department=dept, sent_back=True), rows)
    else:  # a handler without a department sees no case (the visibility rule); nothing to list
        task_rows, sent_back = [], []
    n_sup, sup_rows = _open_supervisions(session, principal, mine=True, rows=LIST_ROWS)
    return DepartmentBoard(
        department=dept, department_name=department_names(session).get(dept or ""),
        tasks=_count(session, principal, mine), task_rows=task_rows,
        overdue=_count(session, principal, CaseFilter(department=dept, state=HANDLING, overdue=True)),
        due_soon=_count(session, principal, CaseFilter(department=dept, state=HANDLING, warning="yellow")),
        sent_back=sent_back, supervisions=n_sup, supervision_rows=_supervision_views(session, sup_rows))


# -- community and street staff -----------------------------------------------------------------------------

@dataclass
class UnitBoard:
    """社区 / 街道: my unit's open cases by state, overdue ones, what waits for my unit, visits, notices."""

    unit: Any
    by_state: list[Count]
    open_cases: Count
    overdue: Listed
    escalated: list[dict[str, Any]]
    assigned: list[dict[str, Any]]
    visits: dict[str, Any]
    notices: list[Any]
    notice_total: int
    supervisions_mine: int


def unit_board(session: Session, *, principal: Principal, rows: int = LIST_ROWS) -> UnitBoard:
    """Community or street staff: their unit's open cases by state, and the overdue ones; cases escalated to the
    street and waiting for it to dispatch (吹哨报到) and cases dispatched to the unit to handle; households visited
    this month out of all in the unit; the unit's latest notices; supervision orders addressed to it."""
    for perm in (Perm.case_read, Perm.dashboard_read, Perm.registry_read, Perm.notice_publish):
        authorize(principal, perm)
    unit = dashboard.root_unit(session, principal)
    escalated = _worklist(session, principal, Worklist([CaseState.escalated], assigned_to_scope=True,
                                                       escalated_to_street=True), rows)
    assigned = _worklist(session, principal, Worklist(HANDLING, assigned_to_scope=True), rows)
    notices, notice_total = participation.list_notices(session, principal=principal, page_size=rows)
    return UnitBoard(
        unit=unit, by_state=_by_state(session, principal, OPEN, all_shown=False),
        open_cases=_count(session, principal, CaseFilter(state=OPEN)),
        overdue=_listed(session, principal, CaseFilter(state=OPEN, overdue=True), sort="handle_due_at", rows=rows),
        escalated=escalated, assigned=assigned,
        visits=visits.period_coverage(session, principal=principal, period="month", unit_id=unit.id),
        notices=notices, notice_total=notice_total,
        supervisions_mine=_open_supervisions(session, principal, mine=True)[0])


# -- leader -------------------------------------------------------------------------------------------------

@dataclass
class LeaderBoard:
    """领导: the headline figures of my whole area and of each unit below it, with the cases behind them."""

    kpis: dict[str, Any]
    reported_today: Count
    reported_window: Count
    closed_window: Count
    open_cases: Count
    overdue: Count
    since: dt.date
    children: list[dict[str, Any]]


def leader_board(session: Session, *, principal: Principal, day: dt.date | None = None) -> LeaderBoard:
    """The dashboard's KPIs of the leader's area (reported, closed, on-time rate and satisfaction over the last 30
    days, open and overdue now) and the same per unit one level down, each figure with the case list behind it."""
    authorize(principal, Perm.case_read)
    authorize(principal, Perm.dashboard_read)
    day = day or today()
    kpis = dashboard.kpis(session, principal=principal, day=day)
    since = day - dt.timedelta(days=dashboard.WINDOW_DAYS - 1)
    window = local_midnight(since)
    breakdown = dashboard.breakdown_by_child(session, principal=principal, unit_id=None, since=since, until=day)
    children = [{**c, "reported_filter": CaseFilter(unit_id=uuid.UUID(c["id"]), since=window),
                 "closed_filter": CaseFilter(unit_id=uuid.UUID(c["id"]), since=window, state=[CaseState.closed])}
                for c in breakdown["children"]]
    return LeaderBoard(
        kpis=kpis, since=since, children=children,
        reported_today=Count(kpis["reported_today"], CaseFilter(since=local_midnight(day))),
        reported_window=Count(kpis["reported_30d"], CaseFilter(since=window)),
        closed_window=Count(kpis["closed_30d"], CaseFilter(since=window, state=[CaseState.closed])),
        open_cases=Count(kpis["open"], CaseFilter(state=OPEN)),
        overdue=Count(kpis["overdue_now"], CaseFilter(state=OPEN, overdue=True)))


# -- administrator ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConfigChange:
    """One recent change of the configuration: a category or rule version, or a calendar day."""

    kind: str  # category | rule | calendar
    key: str  # the category code, the rule key or the day (ISO)
    name: str
    version: int | None
    at: dt.datetime
    by: str  # a person's display name, or 系统


@dataclass
class AdminBoard:
    """系统管理员: accounts, locked accounts, recent configuration changes and the system's health."""

    users: int
    locked: int
    inactive: int
    by_role: list[tuple[Role, int]]
    changes: list[ConfigChange]
    health: list[Check]


def _user_total(session: Session, principal: Principal, **filters: Any) -> int:
    _, n = accounts.search_users(session, principal=principal, filters=accounts.UserFilter(**filters), page_size=1)
    return n


def _display_names(session: Session, *, usernames: set[str], ids: set[uuid.UUID]) -> dict[Any, str]:
    out: dict[Any, str] = {}
    if usernames:
        out.update(session.execute(select(User.username, User.display_name)
                                   .where(User.username.in_(usernames))).all())
    if ids:
        out.update(session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all())
    return out


def _config_changes(session: Session, principal: Principal, rows: int) -> list[ConfigChange]:
    """Category and rule versions written by people, and calendar days, newest first, with who made them."""
    versions = config.recent_versions(session, principal=principal, limit=rows)
    days = session.scalars(select(CalendarOverride).order_by(CalendarOverride.updated_at.desc()).limit(rows)).all()
    names = _display_names(session, usernames={str(v.created_by) for v in versions},
                           ids={i for d in days for i in (d.updated_by or d.created_by,) if i})

    def who(key: Any) -> str:
        return names.get(key) or (SYSTEM_NAME if key in (None, "system") else str(key))

    out = [ConfigChange("category", v.code, v.name, v.version, v.created_at, who(v.created_by))
           if isinstance(v, Category) else
           ConfigChange("rule", str(v.rule_key), v.name, v.version, v.created_at, who(v.created_by))
           for v in versions]
    out += [ConfigChange("calendar", d.day.isoformat(), d.name, None, d.updated_at, who(d.updated_by or d.created_by))
            for d in days]
    out.sort(key=lambda c: c.at, reverse=True)
    return out[:rows]


def admin_board(session: Session, *, principal: Principal, rows: int = 10) -> AdminBoard:
    """The accounts (all, locked, deactivated, per role), the latest configuration changes with who made them, and
    the quick system checks (:mod:`zhili.workbench.health`)."""
    authorize(principal, Perm.user_write)
    authorize(principal, Perm.config_write)
    return AdminBoard(
        users=_user_total(session, principal), locked=_user_total(session, principal, status="locked"),
        inactive=_user_total(session, principal, status="inactive"),
        by_role=[(r, n) for r in Role if (n := _user_total(session, principal, role=r))],
        changes=_config_changes(session, principal, rows), health=system_health(session))
