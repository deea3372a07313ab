"""The case list (案件查询, ``/console/cases``): every case-reading staff role finds cases in its jurisdiction by
number, text, category, unit, state, source, dates, deadline lights, supervision and department — sorted, paged,
exported to Excel — and keeps named views of the filters (常用视图). The command centre also finds the cases a
reporter's phone reported: that search is posted (``POST /console/cases``), so the number never travels in a URL,
and no link of its answer carries it.

Everything reads through :func:`zhili.cases.service.list_cases` (jurisdiction, the reporter-search permission and
its audit entry are the service's) and :mod:`zhili.cases.export`; the filters are read and written back by
:mod:`zhili.web.casefilters`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from starlette.responses import Response

from zhili.cases import export, saved_views, service, taxonomy, views
from zhili.cases.models import CaseState, Category, Channel
from zhili.core.db import roll_back_refused, utcnow
from zhili.core.errors import DomainError
from zhili.core.masking import mask_phone
from zhili.core.schemas import MAX_PAGE
from zhili.core.security import Perm, Role
from zhili.core.validators import personal_number_kind
from zhili.http.deps import Db, ReplicaDb, reads_only
from zhili.org import service as org
from zhili.regions import picker as unit_picker
from zhili.web import casepages as cp
from zhili.web import messages_cases  # noqa: F401  (registers this page's messages)
from zhili.web.adminkit import perm_gate
from zhili.web.casefilters import SORT_KEYS, CaseQuery, check, today_query
from zhili.web.deps import PageUser
from zhili.web.pages_console import CASE_ROLES
from zhili.web.render import redirect, render, tr

router = APIRouter(prefix="/console/cases")
BASE = "/console/cases"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_LIMIT = 10_000  # rows in one Excel export (the page says so when the filter matches more)
PHONE_LIMIT = 100  # rows shown for a reporter's phone (one page: its links cannot carry the number)
UNIT_ROLES = frozenset({Role.community_staff, Role.street_staff})  # the list opens on their unit's open cases

CaseReader = Annotated[PageUser, Depends(perm_gate(lambda pu: pu.principal.role in CASE_ROLES, "cases.forbidden"))]
PhoneSearcher = Annotated[PageUser, Depends(perm_gate(
    lambda pu: pu.principal.role in CASE_ROLES and pu.principal.can(Perm.case_reveal_reporter),
    "cases.phone_forbidden"))]
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]


# -- the views at the top ---------------------------------------------------------------------------------------

def predefined_views(role: Role) -> list[tuple[str, str]]:
    """(message id, query string) of the views offered to a role above the filters."""
    out: list[tuple[str, str]] = []
    if role in UNIT_ROLES:
        out += [("cases.view.unit_open", "open=1"), ("cases.view.unit_all", "open=0")]
    elif role == Role.department_handler:
        out += [("cases.view.mine_open", "open=1")]
    if role != Role.department_handler:
        out += [("cases.view.to_accept", "state=reported"), ("cases.view.today", today_query())]
    return [*out, ("cases.view.overdue", "overdue=1&open=1"), ("cases.view.due_soon", "warning=yellow&open=1"),
            ("cases.view.supervised", "supervised=1&open=1")]


def _canonical(query_string: str) -> str:
    return CaseQuery.read(parse_qsl(query_string)).encoded(sort=False)


def _views(session: Any, pu: PageUser, current: str) -> dict[str, Any]:
    preset = [{"label_key": key, "href": f"{BASE}?{q}", "current": _canonical(q) == current}
              for key, q in predefined_views(pu.principal.role)]
    saved = [{"id": v.id, "name": v.name, "href": f"{BASE}?{v.query}" if v.query else BASE,
              "current": _canonical(v.query) == current}
             for v in saved_views.list_views(session, principal=pu.principal)]
    return {"preset_views": preset, "saved_views": saved}


# -- the list -----------------------------------------------------------------------------------------------------

def _options(session: Any, pu: PageUser) -> dict[str, Any]:
    return {"groups": cp.category_groups(session), "departments": org.list_departments(session),
            "units": unit_picker.filter_units(session, principal=pu.principal) if pu.principal.scope_paths else [],
            "states": [s.value for s in CaseState], "channels": [c.value for c in Channel]}


def _rows(session: Any, cases: list[Any]) -> list[dict[str, Any]]:
    """The page's rows: the case as the API shows it, with the names of its place and of who handles it."""
    departments = org.department_names(session)
    ids = {c.category_id for c in cases if c.category_id}
    categories: dict[Any, str] = {}
    if ids:
        categories.update((i, name) for i, name in session.execute(
            select(Category.id, Category.name).where(Category.id.in_(ids))))
    units = unit_picker.units_named(session, paths=[c.path for c in cases],
                                    ids=[c.assignee_unit_id for c in cases])
    by_path = {u.path: u.name for u in units}
    by_id = {u.id: u.name for u in units}
    out = []
    for c in cases:
        row = views.case_view(session, c, departments=departments, category_names=categories)
        row["unit_name"] = by_path.get(c.path)
        row["handler_name"] = row["assignee_department_name"] or by_id.get(c.assignee_unit_id)
        out.append(row)
    return out


def _codes(session: Any) -> tuple[list[str], list[str]]:
    """Every category code and department code a filter may name (retired ones too: old cases carry them)."""
    categories = [c.code for c in taxonomy.list_categories(session, include_inactive=True)]
    departments = [d.code for d in org.list_departments(session, include_inactive=True)]
    return categories, departments


def list_page(request: Request, session: Any, pu: PageUser, query: CaseQuery, page: int, *, posted: bool = False,
              errors: Iterable[str] = (), status: int = 200) -> Response:
    """The list for ``query``; a refused filter is said above an empty list (never a 500)."""
    messages = list(errors)
    if query.personal_number() and not posted:  # an ID or phone number arrived in the URL: not searched, not echoed
        query, status = CaseQuery(), 422
        messages.append(cp.NUMBER_IN_URL)
    phone = query.reporter_phone if posted else ""
    categories, departments = _codes(session)
    checked = check(request, query, categories=categories, departments=departments)
    messages += checked.errors
    cases: list[Any] = []
    total, exact = 0, True
    if not messages:
        try:
            cases, total, exact = service.list_cases(session, principal=pu.principal, filters=checked.filters,
                                                     page=1 if phone else page, page_size=PHONE_LIMIT if phone
                                                     else cp.PAGE_SIZE, sort=checked.sort)
        except DomainError as exc:  # a unit outside the jurisdiction, a malformed phone number
            roll_back_refused(session)
            messages.append(exc.message)
            status = exc.status
    if messages and status == 200:
        status = 422
    current = query.encoded(sort=False)
    links = query.without_phone()
    return render(request, "console/cases.html", {
        "query": links, "cases": _rows(session, cases), "total": total, "total_exact": exact,
        "page": 1 if phone else page,
        "pages": 1 if phone else cp.pages(total), "errors": messages, "phone_masked": mask_phone(phone) or "",
        "phone_limit": PHONE_LIMIT, "pager_query": f"{links.encoded()}&" if links.encoded() else "",
        "sort": query.sort, "sort_keys": SORT_KEYS, "sort_links": {k: f"?{links.sorted_by(k)}" for k in SORT_KEYS},
        "export_url": f"{BASE}/export.xlsx" + (f"?{current}" if current else ""), "export_limit": EXPORT_LIMIT,
        "can_search_phone": pu.principal.can(Perm.case_reveal_reporter), "hidden": links.pairs(),
        "saved_query": links.encoded(), "name_max": saved_views.NAME_MAX, "number_in_url": cp.NUMBER_IN_URL,
        "clear_url": f"{BASE}?open=0" if pu.principal.role in UNIT_ROLES else BASE,
        **_views(session, pu, current), **_options(session, pu),
    }, status=status)


def _query_of(request: Request, pu: PageUser) -> CaseQuery:
    """The URL's filters; a community or street user opening the bare list gets their unit's open cases."""
    query = CaseQuery.read(request.query_params.multi_items())
    named = {k for k in request.query_params if k not in ("page", "msg")}
    if not named and pu.principal.role in UNIT_ROLES:
        return CaseQuery(open="1")
    return query


@router.get("")
def case_list(request: Request, session: Db, pu: CaseReader, page: Page = 1) -> Response:
    return list_page(request, session, pu, _query_of(request, pu), page)


@router.post("")
@reads_only
def case_search(request: Request, session: Db, pu: PhoneSearcher, form: cp.PostedForm) -> Response:
    """The search posted from the reporter-phone box with the list's other filters: one page, and no link of
    the answer carries the phone (a phone typed into the text box is taken as the reporter's)."""
    query = CaseQuery.read(form.multi_items())
    if personal_number_kind(query.q) == "phone" and not query.reporter_phone:
        query = CaseQuery.read([(k, v) for k, v in query.pairs() if k != "q"] + [("reporter_phone", query.q)])
    if query.without_phone().personal_number():  # an ID number (or a second phone) would end up in the links
        return list_page(request, session, pu, CaseQuery(), 1, errors=[tr(request, "cases.err.personal")])
    if not query.reporter_phone:
        return redirect(f"{BASE}?{query.encoded()}" if query.encoded() else BASE)
    return list_page(request, session, pu, query, 1, posted=True)


@router.get("/export.xlsx")
def export_xlsx(request: Request, session: ReplicaDb, pu: CaseReader) -> Response:
    """The filtered cases as Excel (at most ``EXPORT_LIMIT`` rows, newest first), audited by the export service;
    refused filters come back as the list with their message."""
    query = CaseQuery.read(request.query_params.multi_items())
    categories, departments = _codes(session)
    checked = check(request, query, categories=categories, departments=departments)
    if query.personal_number() or checked.errors:
        return list_page(request, session, pu, query, 1)
    try:
        data = export.export_cases_xlsx(session, principal=pu.principal, filters=checked.filters,
                                        limit=EXPORT_LIMIT)
    except DomainError as exc:
        roll_back_refused(session)
        return list_page(request, session, pu, query, 1, errors=[exc.message], status=exc.status)
    return Response(data, media_type=XLSX, headers={
        "Content-Disposition": f'attachment; filename="cases-{utcnow():%Y%m%d%H%M}.xlsx"', "Cache-Control": "no-store"})


# -- saved views ------------------------------------------------------------------------------------------------

@router.post("/views")
def save_view(request: Request, session: Db, pu: CaseReader, form: cp.PostedForm) -> Response:
    """保存当前筛选: the list's filters (canonical, never a phone) under a name of the user's."""
    query = CaseQuery.read(parse_qsl(cp.text(form, "query", 2000)))
    try:
        saved_views.save_view(session, principal=pu.principal, name=cp.text(form, "name", 100),
                              query=query.encoded())
    except DomainError as exc:
        roll_back_refused(session)
        safe = CaseQuery() if query.personal_number() else query
        return list_page(request, session, pu, safe, 1, errors=[exc.message], status=exc.status)
    return redirect(f"{BASE}?{query.encoded()}&msg=view_saved" if query.encoded() else f"{BASE}?msg=view_saved")


@router.post("/views/{view_id}/delete")
def delete_view(request: Request, session: Db, pu: CaseReader, view_id: uuid.UUID) -> Response:
    saved_views.delete_view(session, principal=pu.principal, view_id=view_id)
    return redirect(f"{BASE}?msg=view_deleted")
