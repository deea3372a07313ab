"""The supervision list (督办单) for department handlers, community and street staff, the command centre and
leaders: open orders on the cases they may see (their jurisdiction, or their department's cases), filtered and
most urgent first, each linking to the case page; the command centre and leaders issue a manual 督办 here
through the workflow's ``supervise`` action."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from zhili.cases import supervision
from zhili.cases.workflow import TRANSITIONS
from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError
from zhili.core.schemas import MAX_PAGE
from zhili.http.deps import Db
from zhili.org import service as org
from zhili.regions import picker as unit_picker
from zhili.users.names import display_names
from zhili.web.adminkit import SupervisionUser, form_values, picker, required
from zhili.web.casepages import PAGE_SIZE, PostedForm, pages
from zhili.web.deps import PageUser
from zhili.web.render import redirect, render, tr

router = APIRouter()

SUPERVISE_ROLES = frozenset(r for t in TRANSITIONS if t.action == "supervise" for r in t.roles)


def _uuid(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


def _page(request: Request, session: Any, pu: PageUser, *, filters: dict[str, str], page: int,
          values: dict[str, str] | None = None, error: str | None = None, status: int = 200) -> Response:
    unit = _uuid(filters["unit_id"])
    rows, total = supervision.list_open_supervisions(session, principal=pu.principal, page=page,
                                                     page_size=PAGE_SIZE, filters=supervision.SupervisionFilter(
        kind=filters["kind"] or None, unit_id=unit, department=filters["department"] or None,
        overdue_only=filters["overdue"] == "1", addressed_to_me=filters["mine"] == "1"))
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(request, "console/admin/supervisions.html", {
        "rows": rows, "total": total, "page": page, "pages": pages(total), "pager_query": query + "&" if query else "",
        "filters": filters, "kinds": supervision.KINDS, "departments": org.list_departments(session),
        "names": org.department_names(session),
        "people": display_names(session, usernames=[r.supervision.issued_by for r in rows]),
        "unit_names": unit_picker.names_by_code(session, codes=[c for r in rows for c in
                                                                (r.supervision.target, r.supervision.superior)]),
        "unit_picker": picker("unit_id", tr(request, "admin.sup.unit"),
                              units=unit_picker.units_named(session, ids=[unit]) if unit else [],
                              chosen_values=[filters["unit_id"]], empty_label=tr(request, "admin.rule.filter_any"),
                              offered=unit_picker.pick_units(session, principal=pu.principal)),
        "can_supervise": pu.principal.role in SUPERVISE_ROLES,
        "values": values or {"number": "", "message": ""}, "error": error,
    }, status=status)


@router.get("/supervisions")
def supervisions(request: Request, session: Db, pu: SupervisionUser,
                 kind: Annotated[str | None, Query(pattern="^(yellow|red|escalation|manual)?$")] = None,
                 unit_id: Annotated[str | None, Query(max_length=40)] = None,
                 department: Annotated[str | None, Query(max_length=32)] = None,
                 overdue: Annotated[str | None, Query(pattern="^1?$")] = None,
                 mine: Annotated[str | None, Query(pattern="^1?$")] = None,
                 page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1) -> Response:
    unit = _uuid(unit_id)
    filters = {"kind": kind or "", "unit_id": str(unit) if unit else "", "department": (department or "").strip(),
               "overdue": overdue or "", "mine": mine or ""}
    return _page(request, session, pu, filters=filters, page=page)


@router.post("/supervisions")
def supervise(request: Request, session: Db, pu: SupervisionUser, form: PostedForm) -> Response:
    """A manual 督办 on a case by its number (refused by the workflow for roles that may not)."""
    values = form_values(form, ("number", "message"), 2000)
    try:
        supervision.supervise_case(session, principal=pu.principal,
                                   number=required(request, values["number"], "admin.sup.number", 32),
                                   message=required(request, values["message"], "admin.sup.message", 2000))
    except DomainError as exc:
        roll_back_refused(session)
        filters = dict.fromkeys(("kind", "unit_id", "department", "overdue", "mine"), "")
        return _page(request, session, pu, filters=filters, page=1, values=values, error=exc.message,
                     status=exc.status)
    return redirect("/console/supervisions?msg=admin_supervised")
