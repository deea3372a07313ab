"""The staff console (PC): the command-centre intake queue (accept / reject / dispatch / merge), the department
inbox (start / resolve / return / extension) and the case page with its timeline, actions and map point.
Every action goes through :func:`zhili.cases.engine.transition`; forms carry the CSRF token."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from zhili.cases import engine, service, tasks, views
from zhili.cases.models import OPEN_STATES, CaseState
from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError, Forbidden, ValidationFailed
from zhili.core.jurisdiction import authorize
from zhili.core.schemas import MAX_PAGE
from zhili.core.security import Perm, Role
from zhili.http.deps import Db
from zhili.org import service as org
from zhili.regions import picker as unit_picker
from zhili.regions import service as regions
from zhili.regions.models import UnitLevel
from zhili.web import casepages as cp
from zhili.web import messages_cases  # noqa: F401  (registers the duplicates' messages)
from zhili.web.adminkit import picker
from zhili.web.deps import CurrentPageUser, PageUser
from zhili.web.render import redirect, render, safe_next, tr

router = APIRouter(prefix="/console")

QUEUE_ROLES = frozenset({Role.command_centre, Role.street_staff, Role.community_staff, Role.leader, Role.admin})
CASE_ROLES = QUEUE_ROLES | {Role.department_handler}
QUEUE_STATES = (CaseState.reported, CaseState.returned, CaseState.escalated)
CONSOLE_ACTIONS = ("accept", "dispatch", "reject", "merge", "approve_extension", "deny_extension", "start",
                   "resolve", "request_extension", "return_case", "escalate", "complete_subtask", "verify",
                   "send_back", "rate", "close", "supervise", "answer_supervision", "locate",
                   # the residence-permit flow (居住证申领): the desk, the check, the police window
                   "request_correction", "resubmit", "verify_residence", "deny", "approve", "issue", "deliver")
EXTRA_FIELDS = {"dispatch": ["department"], "merge": ["master_number"], "locate": ["location"],
                "deliver": ["delivery_method", "tracking_no"]}


def _gate(roles: frozenset[Role], message_key: str) -> Callable[[Request, PageUser], PageUser]:
    def gate(request: Request, pu: CurrentPageUser) -> PageUser:
        if pu.principal.role not in roles:
            raise Forbidden(tr(request, message_key), code="wrong_portal")
        return pu

    return gate


QueueUser = Annotated[PageUser, Depends(_gate(QUEUE_ROLES, "console.forbidden"))]
CaseUser = Annotated[PageUser, Depends(_gate(CASE_ROLES, "console.forbidden"))]
InboxUser = Annotated[PageUser, Depends(_gate(frozenset({Role.department_handler}), "console.inbox_forbidden"))]


def _row_actions(session: Any, pu: PageUser, case: Any) -> list[str]:
    """Queue shortcuts for one case: accept / dispatch (accepting first when still reported) / reject / merge."""
    names = [a["action"] for a in engine.available_actions(session, principal=pu.principal, case=case)]
    out: list[str] = [a for a in ("accept", "dispatch", "reject", "merge") if a in names]
    if case.state == CaseState.reported and "accept" in names and pu.principal.role == Role.command_centre:
        out.insert(1, "dispatch")  # accepted and dispatched in one step
    return out


@router.get("/")
def queue(request: Request, session: Db, pu: QueueUser,
          state: Annotated[CaseState | None, Query()] = None,
          page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1) -> Response:
    states = [state] if state in QUEUE_STATES else list(QUEUE_STATES)
    rows, total, exact = service.list_cases(session, principal=pu.principal,
                                            filters=service.CaseFilter(state=states), page=page,
                                            page_size=cp.PAGE_SIZE, sort="reported_at")
    names = org.department_names(session)
    cases = [{**views.case_view(session, c, departments=names), "row_actions": _row_actions(session, pu, c)}
             for c in rows]
    return render(request, "console/queue.html", {
        "cases": cases, "total": total, "total_exact": exact, "page": page, "pages": cp.pages(total),
        "state": state.value if state else "",
        "queue_states": [s.value for s in QUEUE_STATES], "departments": org.list_departments(session),
        "pager_query": f"state={state.value}&" if state else ""})


@router.get("/inbox")
def inbox(request: Request, session: Db, pu: InboxUser,
          page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1) -> Response:
    """What the department must act on now (not what it resolved and others verify or rate)."""
    rows, total = tasks.department_tasks(session, principal=pu.principal, page=page, page_size=cp.PAGE_SIZE)
    names = org.department_names(session)
    return render(request, "console/inbox.html", {
        "cases": [views.case_view(session, c, departments=names) for c in rows], "total": total, "page": page,
        "pages": cp.pages(total), "pager_query": ""})


def _actions(request: Request, session: Any, pu: PageUser, case: Any) -> list[cp.ActionForm]:
    out = cp.action_forms(session, pu.principal, case, CONSOLE_ACTIONS, extra_fields=EXTRA_FIELDS)
    if case.state == CaseState.reported and pu.principal.role == Role.command_centre \
            and any(f.action == "accept" for f in out):
        out.insert(1, cp.ActionForm(action="dispatch", label=tr(request, "console.accept_dispatch"),
                                    fields=["department"]))
    return out


def case_page(request: Request, session: Any, pu: PageUser, case_id: uuid.UUID, *, error: str | None = None,
               error_action: str | None = None, kept: dict[str, str] | None = None,
               reporter: dict[str, Any] | None = None, reveal_error: str | None = None,
               status: int = 200) -> Response:
    case = service.get_case(session, principal=pu.principal, case_id=case_id)
    events = service.timeline(session, principal=pu.principal, case_id=case.id)
    back = "/console/inbox" if pu.principal.role == Role.department_handler else "/console/"
    view = views.case_view(session, case)
    if not view["assignee_department_name"] and case.assignee_unit_id:  # held by a community or street itself
        view["assignee_department_name"] = next(
            (u.name for u in unit_picker.units_named(session, paths=[], ids=[case.assignee_unit_id])), None)
    actions = _actions(request, session, pu, case)
    return render(request, "console/case.html", {
        "case": view, "events": events,
        "duplicates": [s for s, _ in service.find_duplicates(session, principal=pu.principal, case=case, limit=5)]
        if case.state in OPEN_STATES and case.master_case_id is None else [],
        "can_merge": any(a.action == "merge" for a in actions),
        "photos": [aid for ev in events for aid in (ev.attachment_ids or [])],
        "actions": actions, "departments": org.list_departments(session),
        "act_url": f"/console/cases/{case.id}/act", "staff": True, "error": error, "error_action": error_action,
        "kept": kept or {},
        "back_url": back, "boundary": regions.boundary_geometry(session, unit_id=case.grid_id),
        "grid_picker": picker("grid_id", tr(request, "console.locate_grid"), units=[], chosen_values=[],
                              offered=[u for u in unit_picker.pick_units(session, principal=pu.principal)
                                       if u.level == UnitLevel.grid]),
        "point": [view["lon"], view["lat"]] if view["lon"] is not None else None,  # none when off the globe
        "can_reveal": pu.principal.can(Perm.case_reveal_reporter), "reporter": reporter, "reveal_error": reveal_error,
        # 智能分拨建议 (loaded by HTMX) while the case waits to be accepted or dispatched, for intake staff
        "intel_slot": pu.principal.role in (Role.command_centre, Role.street_staff, Role.community_staff)
        and case.state in (CaseState.reported, CaseState.accepted, CaseState.returned),
    }, status=status)


@router.get("/cases/{case_id}")
def case_detail(request: Request, session: Db, pu: CaseUser, case_id: uuid.UUID) -> Response:
    return case_page(request, session, pu, case_id)


@router.post("/cases/{case_id}/reporter")
def reveal_reporter(request: Request, session: Db, pu: CaseUser, case_id: uuid.UUID, form: cp.PostedForm
                    ) -> Response:
    """The reporter's name and phone for a call-back (回访): the service lets the command centre alone, with a
    reason, and audits it; anyone else gets the refusal (audited too). A missing reason comes back on the page."""
    try:
        data = service.reveal_reporter(session, principal=pu.principal, case_id=case_id,
                                       reason=cp.text(form, "reason", 500))
    except ValidationFailed as exc:
        roll_back_refused(session)
        return case_page(request, session, pu, case_id, reveal_error=exc.message, status=exc.status)
    return case_page(request, session, pu, case_id, reporter=data)


def _payload(request: Request, session: Any, pu: PageUser, action: str, form: FormData) -> dict[str, Any]:
    payload = cp._payload(request, form)
    if action == "dispatch":
        dept = cp.text(form, "department", 32)
        if not dept:
            raise ValidationFailed(tr(request, "console.department_required"), code="dispatch_target_required")
        payload["department"] = dept
    if action == "locate":
        payload.update(_location(request, form))
    if action == "merge":
        number = cp.text(form, "master_number", 32)
        try:
            master = service.get_case_by_number(session, principal=pu.principal, number=number)
        except DomainError as exc:
            raise ValidationFailed(tr(request, "console.unknown_master"), code="master_not_found") from exc
        payload["master_id"] = str(master.id)
    return payload


def _location(request: Request, form: FormData) -> dict[str, Any]:
    """定位 from the console: a point typed or taken from the map (WGS-84), else the grid chosen in the picker."""
    out: dict[str, Any] = {}
    lon, lat = cp.text(form, "lon", 20), cp.text(form, "lat", 20)
    if lon or lat:
        try:
            out["lon"], out["lat"] = float(lon), float(lat)
        except ValueError as exc:
            raise ValidationFailed(tr(request, "error.bad_number"), code="bad_number") from exc
    grid = cp.text(form, "grid_id", 40)
    if grid and not out:
        out["grid_id"] = grid
    return out


@router.post("/cases/{case_id}/act")
def case_act(request: Request, session: Db, pu: CaseUser, case_id: uuid.UUID, form: cp.PostedForm) -> Response:
    """One workflow action from a console form; dispatching a case still *reported* accepts it first."""
    action = cp.text(form, "action", 32)
    try:
        authorize(pu.principal, Perm.case_read)
        if action not in CONSOLE_ACTIONS:
            raise ValidationFailed(tr(request, "error.unknown_action"), code="unknown_action")
        payload = _payload(request, session, pu, action, form)
        version_raw = cp.text(form, "version", 12)
        version = int(version_raw) if version_raw.isdigit() else None
        case = service.get_case(session, principal=pu.principal, case_id=case_id)
        steps: list[tuple[str, dict[str, Any]]] = [(action, payload)]
        if action == "dispatch" and case.state == CaseState.reported:
            steps.insert(0, ("accept", {}))  # one go through the engine: both steps or neither, one message
        engine.take_steps(session, principal=pu.principal, case_id=case_id, steps=steps, expected_version=version)
    except DomainError as exc:
        roll_back_refused(session)
        return case_page(request, session, pu, case_id, error=exc.message, error_action=action,
                          kept=cp.kept_fields(form), status=exc.status)
    target = safe_next(cp.text(form, "next", 300))
    return redirect((target or f"/console/cases/{case_id}") + ("&" if target and "?" in target else "?")
                    + "msg=action_done")
