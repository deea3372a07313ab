"""The staff workbench (工作台, ``/console/home``): the page every staff role except the auditor opens first — one
route rendering the signed-in role's own board (:mod:`zhili.workbench.service`). Every number links to the list
behind it: case figures to the case list (``/console/cases``) with the filter they counted, through
:func:`case_list_url`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from zhili.cases.service import CaseFilter
from zhili.core.clock import local_day, to_local
from zhili.core.errors import Forbidden
from zhili.core.security import Role
from zhili.http.deps import Db
from zhili.web import messages_workbench  # noqa: F401  (registers this feature's messages)
from zhili.web.deps import CurrentPageUser
from zhili.web.render import env, home_url_for, redirect, render, tr
from zhili.workbench import service as workbench
from zhili.workbench.health import Check

router = APIRouter()

CASE_LIST = "/console/cases"
OPEN_VALUES = [s.value for s in workbench.OPEN]


def case_list_url(f: CaseFilter) -> str:
    """The case list (``/console/cases``) showing exactly the cases ``f`` selects: its query parameters are the
    list's (state repeatable, ``since`` / ``until`` local dates, ``overdue=1``, ``q`` for the text)."""
    q: list[tuple[str, str]] = []
    if f.keyword:
        q.append(("q", f.keyword))
    if f.category:
        q.append(("category", f.category))
    if f.unit_id:
        q.append(("unit_id", str(f.unit_id)))
    states = [s.value for s in f.state] if f.state else (OPEN_VALUES if f.open_only else [])
    q += [("state", s) for s in states]
    if f.channel:
        q.append(("channel", f.channel.value))
    if f.since:
        q.append(("since", local_day(f.since).isoformat()))
    if f.until:  # the filter's bound is exclusive; the list's date is the last day included
        q.append(("until", local_day(f.until - dt.timedelta(microseconds=1)).isoformat()))
    if f.overdue is not None:
        q.append(("overdue", "1" if f.overdue else "0"))
    if f.warning:
        q.append(("warning", f.warning))
    if f.department:
        q.append(("department", f.department))
    return CASE_LIST + (f"?{urlencode(q)}" if q else "")


env.globals.update(case_list_url=case_list_url)


def _health(request: Request, checks: list[Check]) -> list[dict[str, str]]:
    out = []
    for c in checks:
        params = {k: to_local(v).strftime("%Y-%m-%d %H:%M") if isinstance(v, dt.datetime) else v
                  for k, v in c.params.items()}
        out.append({"name": tr(request, f"wb.health.{c.key}"), "status": c.status,
                    "detail": tr(request, f"wb.health.{c.detail}", **params)})
    return out


Board = Callable[[Request, Any, Any], tuple[str, dict[str, Any]]]


def _command_centre(request: Request, session: Any, pu: Any) -> tuple[str, dict[str, Any]]:
    return "command_centre", {"b": workbench.command_centre_board(session, principal=pu.principal)}


def _department(request: Request, session: Any, pu: Any) -> tuple[str, dict[str, Any]]:
    return "department", {"b": workbench.department_board(session, principal=pu.principal)}


def _unit(request: Request, session: Any, pu: Any) -> tuple[str, dict[str, Any]]:
    return "unit", {"b": workbench.unit_board(session, principal=pu.principal)}


def _leader(request: Request, session: Any, pu: Any) -> tuple[str, dict[str, Any]]:
    return "leader", {"b": workbench.leader_board(session, principal=pu.principal)}


def _admin(request: Request, session: Any, pu: Any) -> tuple[str, dict[str, Any]]:
    b = workbench.admin_board(session, principal=pu.principal)
    return "admin", {"b": b, "health": _health(request, b.health)}


BOARDS: dict[Role, Board] = {
    Role.command_centre: _command_centre, Role.department_handler: _department, Role.community_staff: _unit,
    Role.street_staff: _unit, Role.leader: _leader, Role.admin: _admin,
}


@router.get("/console/home")
def workbench_page(request: Request, session: Db, pu: CurrentPageUser) -> Response:
    """The signed-in role's workbench; the auditor is sent to the audit pages (his home), residents and grid workers
    are refused (their portals are /h5/ and /gw/)."""
    role = Role(pu.principal.role)
    if role == Role.auditor:
        return redirect(home_url_for(role))
    board = BOARDS.get(role)
    if board is None:
        raise Forbidden(tr(request, "wb.forbidden"), code="wrong_portal")
    name, context = board(request, session, pu)
    return render(request, f"console/workbench/{name}.html", context)
