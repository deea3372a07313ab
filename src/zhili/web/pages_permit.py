"""Residence-permit pages (居住证申领, :mod:`zhili.rental.permits`).

* the resident (H5, 375 px): ``/h5/permit`` — their rental registrations and applications; ``/h5/permit/new?
  stay_id=…`` — the form (the stay's evidence, how to receive the permit; the rental pages' "my stay" links here);
  ``/h5/permit/cases/{id}`` — the progress (申请 → 受理 → 居住核查 → 审批 → 制证 → 送达) with the resubmission form
  when the desk asked for more material;
* staff: ``/console/permits`` — the figures (counted apart from the event KPIs) and the open applications, each
  acted on through the ordinary case page (``/console/cases/{id}``, whose actions come from the flow's own rows),
  and the audited reveal of a mailing address.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from zhili.cases import flows, service, views
from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError, Forbidden
from zhili.core.security import Perm, Role
from zhili.http.deps import Db
from zhili.rental import permits
from zhili.web import casepages as cp
from zhili.web import messages_permit  # noqa: F401  (registers the UI text)
from zhili.web.deps import CurrentPageUser, PageUser, Resident
from zhili.web.render import env, redirect, render, tr

router = APIRouter()

APPLICANT_ACTIONS = ("resubmit",)
PREFIX = "/h5/permit"
# the steps the resident follows (h5/permit_case.html), each done once its action is in the timeline
STEPS = (("apply", "report"), ("accept", "accept"), ("check", "verify_residence"), ("approve", "approve"),
         ("issue", "issue"), ("deliver", "deliver"))
env.globals["permit_steps"] = STEPS


def _staff(request: Request, pu: CurrentPageUser) -> PageUser:
    if pu.principal.role == Role.resident or not pu.principal.can(Perm.rental_read):
        raise Forbidden(tr(request, "console.forbidden"), code="wrong_portal")
    return pu


PermitStaff = Annotated[PageUser, Depends(_staff)]


# -- the resident ------------------------------------------------------------------------------------------------

@router.get("/h5/permit")
def mine(request: Request, session: Db, pu: Resident) -> Response:
    return render(request, "h5/permit_list.html", {
        "stays": permits.my_stays(session, principal=pu.principal),
        "applications": permits.my_applications(session, principal=pu.principal)})


def _form(request: Request, session: Any, pu: PageUser, stay_id: uuid.UUID, *, error: str | None = None,
          kept: dict[str, str] | None = None, status: int = 200) -> Response:
    pv = permits.preview(session, principal=pu.principal, stay_id=stay_id)
    return render(request, "h5/permit_new.html", {"pv": pv, "error": error, "kept": kept or {},
                                                  "methods": ("mail", "e_permit", "collect")}, status=status)


@router.get("/h5/permit/new")
def new(request: Request, session: Db, pu: Resident,
        stay_id: Annotated[uuid.UUID | None, Query()] = None) -> Response:
    if stay_id is None:
        return redirect(PREFIX)  # the application starts from a registration
    return _form(request, session, pu, stay_id)


@router.post("/h5/permit/new")
def submit(request: Request, session: Db, pu: Resident, form: cp.PostedForm) -> Response:
    kept = {k: cp.text(form, k, 1000) for k in ("delivery", "address", "note", "idem")}
    try:
        stay_id = uuid.UUID(cp.text(form, "stay_id", 40))
    except ValueError:
        return redirect(PREFIX)
    try:
        case = permits.apply(session, principal=pu.principal, stay_id=stay_id,
                             delivery=permits.Delivery(kept["delivery"], kept["address"] or None),
                             note=kept["note"] or None, idempotency_key=kept["idem"][:64] or None)
    except DomainError as exc:
        roll_back_refused(session)
        if exc.status == 404:
            raise
        return _form(request, session, pu, stay_id, error=exc.message, kept=kept, status=exc.status)
    return redirect(f"{PREFIX}/cases/{case.id}?msg=permit_applied")


@router.get("/h5/permit/cases/{case_id}")
def progress(request: Request, session: Db, pu: Resident, case_id: uuid.UUID) -> Response:
    case = service.get_case(session, principal=pu.principal, case_id=case_id)
    if case.flow != flows.RESIDENCE_PERMIT:
        return redirect(f"/h5/cases/{case_id}")  # an event has its own page
    return cp.case_page(request, session, pu, case_id, prefix=PREFIX, template="h5/permit_case.html",
                        allowed=APPLICANT_ACTIONS)


@router.post("/h5/permit/cases/{case_id}/act")
def progress_act(request: Request, session: Db, pu: Resident, case_id: uuid.UUID, form: cp.PostedForm
                 ) -> Response:
    return cp.act(request, session, pu, case_id, form, prefix=PREFIX, template="h5/permit_case.html",
                  allowed=APPLICANT_ACTIONS)


# -- staff -------------------------------------------------------------------------------------------------------

@router.get("/console/permits")
def desk(request: Request, session: Db, pu: PermitStaff) -> Response:
    rows = permits.list_applications(session, principal=pu.principal)
    return render(request, "console/permits.html", {
        "summary": permits.summary(session, principal=pu.principal),
        "cases": [views.case_view(session, c) for c in rows]})


@router.post("/console/permits/{case_id}/address")
def reveal_address(request: Request, session: Db, pu: PermitStaff, case_id: uuid.UUID, form: cp.PostedForm
                   ) -> Response:
    case = service.get_case(session, principal=pu.principal, case_id=case_id)
    address = permits.reveal_address(session, principal=pu.principal, case_id=case_id,
                                     reason=cp.text(form, "reason", 500))
    return render(request, "console/permit_address.html", {"case": views.case_view(session, case),
                                                           "address": address})
