"""The resident H5 portal (mobile first): home, report a problem, my reports, one report with verify / rate."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from zhili.cases import service, views
from zhili.cases.models import Channel
from zhili.core.schemas import MAX_PAGE
from zhili.core.settings import get_settings
from zhili.http.bodylimit import MARGIN, body_limit
from zhili.http.deps import Db
from zhili.org import service as org
from zhili.web import casepages as cp
from zhili.web.deps import Resident
from zhili.web.render import render

router = APIRouter(prefix="/h5")

REPORT = cp.ReportPage(prefix="/h5", channel=Channel.resident, template="h5/report.html", title_key="report.title")
# resubmit: a residence-permit application sent back for 补正
RESIDENT_ACTIONS = ("verify", "send_back", "rate", "reopen", "resubmit")


@router.get("/")
def home(request: Request, session: Db, pu: Resident) -> Response:
    open_count = service.list_cases(session, principal=pu.principal, filters=service.CaseFilter(open_only=True),
                                    page=1, page_size=1).total
    return render(request, "h5/home.html", {"open_count": open_count})


@router.get("/report")
def report_page(request: Request, session: Db, pu: Resident) -> Response:
    return cp.report_form(request, session, REPORT)


@router.post("/report")
@body_limit(lambda: cp.PHOTO_LIMIT * get_settings().max_upload_bytes + MARGIN)
def report_submit(request: Request, session: Db, pu: Resident, form: cp.PostedForm) -> Response:
    return cp.submit_report(request, session, pu, REPORT, form)


@router.post("/suggest-category")
def suggest_category(request: Request, session: Db, pu: Resident, form: cp.PostedForm) -> Response:
    return cp.suggest_fragment(request, session, pu, form)


@router.get("/categories")
def categories(request: Request, session: Db, pu: Resident,
               q: Annotated[str | None, Query(max_length=50)] = None) -> Response:
    return cp.categories_fragment(request, session, q)


@router.get("/map/grids.geojson")
def grids(session: Db, pu: Resident) -> Response:
    return cp.grids_geojson(session, pu)


@router.get("/mine")
def mine(request: Request, session: Db, pu: Resident, page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1) -> Response:
    rows, total, exact = service.list_cases(session, principal=pu.principal, filters=service.CaseFilter(),
                                            page=page, page_size=cp.PAGE_SIZE)
    names = org.department_names(session)
    return render(request, "h5/mine.html", {
        "cases": [views.case_view(session, c, departments=names) for c in rows], "total": total,
        "total_exact": exact, "page": page,
        "pages": cp.pages(total)})


@router.get("/cases/{case_id}")
def case_detail(request: Request, session: Db, pu: Resident, case_id: uuid.UUID) -> Response:
    return cp.case_page(request, session, pu, case_id, prefix="/h5", template="h5/case.html",
                        allowed=RESIDENT_ACTIONS)


@router.post("/cases/{case_id}/act")
def case_act(request: Request, session: Db, pu: Resident, case_id: uuid.UUID, form: cp.PostedForm) -> Response:
    return cp.act(request, session, pu, case_id, form, prefix="/h5", template="h5/case.html",
                  allowed=RESIDENT_ACTIONS)
