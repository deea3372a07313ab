"""Grid-worker mobile pages: task list, patrol report, case handling / verification, household lookup with masked
personal data and the audited "show full details"."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from zhili.cases import service, views
from zhili.cases.models import CaseState, Channel
from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError
from zhili.core.schemas import MAX_PAGE
from zhili.core.security import Perm
from zhili.core.settings import get_settings
from zhili.core.validators import personal_number_kind
from zhili.http.bodylimit import MARGIN, body_limit
from zhili.http.deps import Db, reads_only
from zhili.org import service as org
from zhili.registry import service as registry
from zhili.web import casepages as cp
from zhili.web.deps import GridWorker, PageUser
from zhili.web.render import render

router = APIRouter(prefix="/gw")

REPORT = cp.ReportPage(prefix="/gw", channel=Channel.grid_worker, template="gw/report.html",
                       title_key="report.patrol_title")
GW_ACTIONS = ("start", "resolve", "verify", "send_back", "escalate", "return_case", "request_extension",
              "answer_supervision", "verify_residence")
TABS: dict[str, service.CaseFilter] = {
    "new": service.CaseFilter(state=[CaseState.dispatched]),
    "due_soon": service.CaseFilter(warning="yellow", open_only=True),
    "overdue": service.CaseFilter(overdue=True, open_only=True),
    "verify": service.CaseFilter(state=[CaseState.resolved]),
    "open": service.CaseFilter(open_only=True),
}


def _tasks_context(session: Any, pu: PageUser, tab: str, page: int) -> dict[str, Any]:
    tab = tab if tab in TABS else "new"
    counts = dict(service.pending_for(session, principal=pu.principal))
    for extra in ("verify", "open"):
        counts[extra] = service.list_cases(session, principal=pu.principal, filters=TABS[extra], page=1,
                                           page_size=1)[1]
    rows, total, exact = service.list_cases(session, principal=pu.principal, filters=TABS[tab], page=page,
                                            page_size=cp.PAGE_SIZE, sort="handle_due_at" if tab != "verify" else None)
    names = org.department_names(session)
    return {"tab": tab, "tabs": list(TABS), "counts": counts, "total": total, "total_exact": exact, "page": page,
            "pages": cp.pages(total), "cases": [views.case_view(session, c, departments=names) for c in rows]}


@router.get("/")
def home(request: Request, session: Db, pu: GridWorker, tab: str = "new",
         page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1) -> Response:
    return render(request, "gw/home.html", _tasks_context(session, pu, tab, page))


@router.get("/tasks")
def tasks_fragment(request: Request, session: Db, pu: GridWorker, tab: str = "new",
                   page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1) -> Response:
    return render(request, "gw/_tasks.html", _tasks_context(session, pu, tab, page))


@router.get("/report")
def report_page(request: Request, session: Db, pu: GridWorker) -> Response:
    return cp.report_form(request, session, REPORT)


@router.post("/report")
@body_limit(lambda: cp.PHOTO_LIMIT * get_settings().max_upload_bytes + MARGIN)
def report_submit(request: Request, session: Db, pu: GridWorker, form: cp.PostedForm) -> Response:
    return cp.submit_report(request, session, pu, REPORT, form)


@router.post("/suggest-category")
def suggest_category(request: Request, session: Db, pu: GridWorker, form: cp.PostedForm) -> Response:
    return cp.suggest_fragment(request, session, pu, form)


@router.get("/categories")
def categories(request: Request, session: Db, pu: GridWorker,
               q: Annotated[str | None, Query(max_length=50)] = None) -> Response:
    return cp.categories_fragment(request, session, q)


@router.get("/map/grids.geojson")
def grids(session: Db, pu: GridWorker) -> Response:
    return cp.grids_geojson(session, pu)


@router.get("/cases/{case_id}")
def case_detail(request: Request, session: Db, pu: GridWorker, case_id: uuid.UUID) -> Response:
    return cp.case_page(request, session, pu, case_id, prefix="/gw", template="gw/case.html", allowed=GW_ACTIONS)


@router.post("/cases/{case_id}/act")
def case_act(request: Request, session: Db, pu: GridWorker, case_id: uuid.UUID, form: cp.PostedForm) -> Response:
    return cp.act(request, session, pu, case_id, form, prefix="/gw", template="gw/case.html", allowed=GW_ACTIONS)


# -- households --------------------------------------------------------------------------------------------

@router.get("/households")
def households(request: Request, session: Db, pu: GridWorker,
               q: Annotated[str | None, Query(max_length=100)] = None,
               page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1) -> Response:
    return _households_page(request, session, pu, (q or "").strip(), page, posted=False)


@router.post("/households")
@reads_only
def households_search(request: Request, session: Db, pu: GridWorker, form: cp.PostedForm) -> Response:
    """The search posted from the search box: an address or room, or a member's ID number or phone (which so
    stays out of the URL)."""
    return _households_page(request, session, pu, cp.text(form, "q", 100).strip(), 1, posted=True)


def _households_page(request: Request, session: Any, pu: PageUser, q: str, page: int, *, posted: bool) -> Response:
    kind = personal_number_kind(q)
    error, status = None, 200
    rows: list[Any] = []
    total = 0
    if kind and not posted:  # a personal number arrived in the URL: neither searched nor echoed
        q, error, status = "", cp.NUMBER_IN_URL, 422
    else:
        search = {"member_" + kind: q} if kind else {"q": q or None}
        try:
            rows, total = registry.list_households(session, principal=pu.principal, page=page,
                                                   page_size=cp.PAGE_SIZE, **search)
        except DomainError as exc:  # a malformed phone number: said above an empty list
            error, status = exc.message, exc.status
    return render(request, "gw/households.html", {
        "households": rows, "q": q, "total": total, "page": page, "pages": cp.pages(total), "error": error,
        # the pager's links carry the search in their URL: never a personal number (an exact match is one page)
        "pager_q": "" if kind else q}, status=status)


def _household_page(request: Request, session: Any, pu: PageUser, household_id: uuid.UUID, *,
                    revealed: dict[uuid.UUID, dict[str, Any]] | None = None, error: str | None = None,
                    error_for: uuid.UUID | None = None, status: int = 200) -> Response:
    household = registry.get_household(session, principal=pu.principal, household_id=household_id)
    persons, _ = registry.list_persons(session, principal=pu.principal, household_id=household.id, page_size=500)
    return render(request, "gw/household.html", {
        "household": household, "persons": [registry.person_view(p) for p in persons],
        "revealed": revealed or {}, "error": error, "error_for": error_for,
        "can_reveal": pu.principal.can(Perm.pii_reveal)}, status=status)


@router.get("/households/{household_id}")
def household(request: Request, session: Db, pu: GridWorker, household_id: uuid.UUID) -> Response:
    return _household_page(request, session, pu, household_id)


@router.post("/persons/{person_id}/reveal")
def reveal(request: Request, session: Db, pu: GridWorker, person_id: uuid.UUID, form: cp.PostedForm) -> Response:
    """Show one person's full ID and phone number; the service checks permission, jurisdiction and reason."""
    person = registry.get_person(session, principal=pu.principal, person_id=person_id)
    household_id = person.household_id
    reason = cp.text(form, "reason", 500)
    htmx = bool(request.headers.get("hx-request"))
    try:
        data = registry.reveal_person(session, principal=pu.principal, person_id=person_id, reason=reason)
    except DomainError as exc:
        roll_back_refused(session)
        if htmx:
            return render(request, "partials/person_reveal.html",
                          {"p": {"id": person_id}, "data": None, "reveal_error": exc.message}, status=exc.status)
        if household_id is None:
            raise
        return _household_page(request, session, pu, household_id, error=exc.message, error_for=person_id,
                               status=exc.status)
    if htmx or household_id is None:
        return render(request, "partials/person_reveal.html",
                      {"p": {"id": person_id}, "data": data, "reveal_error": None})
    return _household_page(request, session, pu, household_id, revealed={person_id: data})
