"""Household-visit pages (入户走访): the grid worker's "记录走访" form from a household page (mobile first), the
household's visit history, "我的走访" with the coverage of the grid, a visit with its "转为事件" form; and the
read-only list of visits under their units for community / street staff and the command centre
(``/console/visits``). Everything goes through :mod:`zhili.visits.service`; forms carry the CSRF token."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from zhili.cases.limits import DESCRIPTION_MAX
from zhili.core.clock import local_now
from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError, Forbidden, ValidationFailed
from zhili.core.ids import new_id
from zhili.core.jurisdiction import authorize
from zhili.core.schemas import MAX_PAGE
from zhili.core.security import Perm, Role
from zhili.core.settings import get_settings
from zhili.http.bodylimit import MARGIN, body_limit
from zhili.http.deps import Db
from zhili.visits import service
from zhili.visits.models import FINDINGS_MAX, SUMMARY_MAX, VisitKind
from zhili.visits.service import PHOTO_LIMIT
from zhili.web import casepages as cp
from zhili.web import formkit as fk
from zhili.web import messages_visits  # noqa: F401  (registers the UI text)
from zhili.web.deps import CurrentPageUser, GridWorker, PageUser
from zhili.web.render import redirect, render, tr

router = APIRouter()

READER_ROLES = frozenset({Role.community_staff, Role.street_staff, Role.command_centre, Role.leader})
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def _reader_gate(request: Request, pu: CurrentPageUser) -> PageUser:
    if pu.principal.role not in READER_ROLES:
        raise Forbidden(tr(request, "visit.console_forbidden"), code="wrong_portal")
    return pu


VisitReader = Annotated[PageUser, Depends(_reader_gate)]


def _period(value: str | None, default: str) -> str:
    return value if value is not None and value in service.PERIODS else default  # unknown: the default


def _kind(value: str | None) -> str:
    return value if value is not None and value in VisitKind.__members__ else ""


# -- the record form ----------------------------------------------------------------------------------------

def _now_local() -> str:
    return local_now().strftime("%Y-%m-%dT%H:%M")


def _blank() -> dict[str, Any]:
    return {"kind": "", "visited_at": _now_local(), "summary": "", "findings": "", "person_ids": [],
            "to_case": False, "category_code": "", "case_description": "", "idem": str(new_id())}


# The visit form's free-text fields and their limits (the ones the service checks).
VISIT_TEXTS = (fk.TextField("summary", "visit.summary", SUMMARY_MAX, required=True),
               fk.TextField("findings", "visit.findings", FINDINGS_MAX),
               fk.TextField("case_description", "visit.case_description", DESCRIPTION_MAX))
LIMITS = {f.name: f.max for f in VISIT_TEXTS}
# Which field of the visit form a refusal is about, by its code (photo refusals: see formkit).
VISIT_REFUSALS = {
    "bad_visit_kind": "kind", "summary_required": "summary", "summary_too_long": "summary",
    "findings_too_long": "findings", "visit_in_future": "visited_at", "visit_too_old": "visited_at",
    "bad_visit_time": "visited_at", "person_not_in_household": "person_ids", "bad_person": "person_ids",
    "category_required": "category_code", "category_not_found": "category_code", "category_inactive": "category_code",
    "category_not_leaf": "category_code", "description_required": "case_description",
    "description_too_long": "case_description", **{code: "attributes" for code in cp.ATTRIBUTE_REFUSALS},
}


def _form_page(request: Request, session: Any, pu: PageUser, household_id: uuid.UUID, *,
               values: dict[str, Any] | None = None, attr_values: dict[str, Any] | None = None,
               error: str | None = None, errors: dict[str, str] | None = None, status: int = 200) -> Response:
    authorize(pu.principal, Perm.registry_write)
    household, persons = service.household_form(session, principal=pu.principal, household_id=household_id)
    values = values or _blank()
    return render(request, "gw/visit_form.html", {
        **cp.attributes_context(attr_values or {}), "selected": values["category_code"],
        "household": household, "persons": persons, "values": values, "error": error,
        "errors": errors or {}, "kinds": [k.value for k in VisitKind], "groups": cp.category_groups(session),
        "photo_limit": service.PHOTO_LIMIT, **cp.photo_picker(), "limits": LIMITS, "max_time": _now_local(),
        "action_url": f"/gw/households/{household.id}/visits"}, status=status)


@router.get("/gw/households/{household_id}/visits/new")
def visit_form(request: Request, session: Db, pu: GridWorker, household_id: uuid.UUID) -> Response:
    return _form_page(request, session, pu, household_id)


def _parse_time(request: Request, raw: str) -> dt.datetime | None:
    if not raw:
        return None
    try:
        return dt.datetime.fromisoformat(raw)  # datetime-local: wall-clock time, no zone (the service adds it)
    except ValueError as exc:
        raise ValidationFailed(tr(request, "visit.bad_time"), code="bad_visit_time") from exc


def _parse_ids(request: Request, raw: list[str]) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(v) for v in raw]
    except ValueError as exc:
        raise ValidationFailed(tr(request, "visit.bad_person"), code="bad_person") from exc


def _visit_errors(request: Request, values: dict[str, Any], photos: list[UploadFile]) -> dict[str, str]:
    """What the form itself shows is missing or too long, every field at once (the service checks it all again)."""
    errors = fk.check_texts(request, values, VISIT_TEXTS)
    if values["kind"] not in VisitKind.__members__:
        errors["kind"] = tr(request, "visit.choose_kind")
    if values["to_case"] and not values["category_code"]:
        errors["category_code"] = tr(request, "visit.choose_category")
    if len(photos) > service.PHOTO_LIMIT:
        errors["photos"] = tr(request, "error.too_many_photos", n=service.PHOTO_LIMIT)
    return errors


@router.post("/gw/households/{household_id}/visits")
@body_limit(lambda: PHOTO_LIMIT * get_settings().max_upload_bytes + MARGIN)
def visit_submit(request: Request, session: Db, pu: GridWorker, household_id: uuid.UUID,
                 form: cp.PostedForm) -> Response:
    """Record the visit through ``submit_visit``; on refusal show the form again with everything typed and each
    message beside its field. The form's token (``idem``) makes it one visit however often the form is sent (Back
    and send, a reload, a double click): the same form again goes to the visit it recorded."""
    values: dict[str, Any] = {
        "kind": cp.text(form, "kind", 32), "visited_at": cp.text(form, "visited_at", 32),
        "summary": fk.form_text(form, "summary"), "findings": fk.form_text(form, "findings"),
        "person_ids": [v for v in form.getlist("person_ids") if isinstance(v, str)][:50],
        "to_case": cp.text(form, "to_case", 4) == "1", "category_code": cp.text(form, "category_code", 32),
        "case_description": fk.form_text(form, "case_description"),
        "idem": cp.text(form, "idem", 64) or str(new_id()),
    }
    photos = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and f.filename]
    attr_values: dict[str, Any] = {}
    try:
        authorize(pu.principal, Perm.registry_write)
        attributes, attr_values, errors = cp.read_attributes(request, session, form, values["category_code"])
        if not values["to_case"]:
            errors = {}  # the follow-up's questions are asked only with it
        errors.update(_visit_errors(request, values, photos))
        if errors:
            return _form_page(request, session, pu, household_id, values=values, attr_values=attr_values,
                              errors=errors, status=422)
        limit = get_settings().max_upload_bytes
        follow_up = None
        if values["to_case"]:
            authorize(pu.principal, Perm.case_report)
            follow_up = service.FollowUp(category_code=values["category_code"], attributes=attributes,
                                         description=values["case_description"] or values["findings"])
        visit, created = service.submit_visit(
            session, principal=pu.principal, household_id=household_id, submission=values["idem"],
            kind=values["kind"], summary=values["summary"], findings=values["findings"],
            visited_at=_parse_time(request, values["visited_at"]),
            person_ids=_parse_ids(request, values["person_ids"]),
            photos=[service.Photo(data=f.file.read(limit + 1), filename=f.filename or "") for f in photos],
            follow_up=follow_up)
    except DomainError as exc:
        roll_back_refused(session)
        if exc.status == 404:
            raise
        if exc.code == "visit_resent_changed":  # sent before with other content: sent again, it is a new visit
            values["idem"] = str(new_id())
        errors, message, status = fk.placed(exc, VISIT_REFUSALS)
        return _form_page(request, session, pu, household_id, values=values, attr_values=attr_values,
                          error=message, errors=errors, status=status)
    msg = "visit_already_recorded" if not created else "visit_to_case" if follow_up else "visit_recorded"
    return redirect(f"/gw/visits/{visit.id}?msg={msg}")


# -- history, "我的走访", one visit -------------------------------------------------------------------------

@router.get("/gw/households/{household_id}/visits")
def household_visits(request: Request, session: Db, pu: GridWorker, household_id: uuid.UUID,
                     page: Page = 1) -> Response:
    """The household's visits: the whole page, or (for htmx on the household page) the latest few."""
    fragment = bool(request.headers.get("hx-request"))
    ctx = service.household_history(session, principal=pu.principal, household_id=household_id,
                                    page=1 if fragment else page, page_size=5 if fragment else cp.PAGE_SIZE)
    ctx.update(page=page, pages=cp.pages(ctx["total"]), pager_query="")
    return render(request, "gw/_visit_list.html" if fragment else "gw/household_visits.html", ctx)


@router.get("/gw/visits")
def my_visits(request: Request, session: Db, pu: GridWorker, period: str = "week", page: Page = 1) -> Response:
    period = _period(period, "week")
    ctx = service.worker_overview(session, principal=pu.principal, period=period, page=page,
                                  page_size=cp.PAGE_SIZE)
    ctx.update(page=page, pages=cp.pages(ctx["total"]), periods=service.PERIODS, pager_query=f"period={period}&")
    return render(request, "gw/visits.html", ctx)


def _visit_page(request: Request, session: Any, pu: PageUser, visit_id: uuid.UUID, *,
                values: dict[str, str] | None = None, attr_values: dict[str, Any] | None = None,
                error: str | None = None, errors: dict[str, str] | None = None, status: int = 200) -> Response:
    visit = service.visit_view(session, service.get_visit(session, principal=pu.principal, visit_id=visit_id))
    values = values or {"category_code": "", "case_description": visit["findings"] or ""}
    return render(request, "gw/visit.html", {
        **cp.attributes_context(attr_values or {}), "selected": values["category_code"],
        "visit": visit, "groups": cp.category_groups(session) if visit["case_id"] is None else [],
        "values": values, "error": error, "errors": errors or {}, "limits": LIMITS}, status=status)


@router.get("/gw/visits/{visit_id}")
def visit_detail(request: Request, session: Db, pu: GridWorker, visit_id: uuid.UUID) -> Response:
    return _visit_page(request, session, pu, visit_id)


@router.post("/gw/visits/{visit_id}/case")
def visit_to_case(request: Request, session: Db, pu: GridWorker, visit_id: uuid.UUID,
                  form: cp.PostedForm) -> Response:
    """转为事件 from the visit page, through ``escalate_visit``."""
    values = {"category_code": cp.text(form, "category_code", 32),
              "case_description": fk.form_text(form, "case_description")}  # too long: refused by intake, not cut
    attr_values: dict[str, Any] = {}
    try:
        authorize(pu.principal, Perm.case_report)
        attributes, attr_values, errors = cp.read_attributes(request, session, form, values["category_code"])
        if errors:
            return _visit_page(request, session, pu, visit_id, values=values, attr_values=attr_values,
                               errors=errors, status=422)
        service.escalate_visit(session, principal=pu.principal, visit_id=visit_id, follow_up=service.FollowUp(
            category_code=values["category_code"], description=values["case_description"], attributes=attributes))
    except DomainError as exc:
        roll_back_refused(session)
        if exc.status == 404:
            raise
        errors, message, status = fk.placed(exc, VISIT_REFUSALS)
        return _visit_page(request, session, pu, visit_id, values=values, attr_values=attr_values, error=message,
                           errors=errors, status=status)
    return redirect(f"/gw/visits/{visit_id}?msg=visit_to_case")


def _photo(session: Any, pu: PageUser, visit_id: uuid.UUID, attachment_id: uuid.UUID) -> Response:
    att, data = service.read_photo(session, principal=pu.principal, visit_id=visit_id, attachment_id=attachment_id)
    return Response(data, media_type=att.content_type)  # no-store: the caching rule in app.py


@router.get("/gw/visits/{visit_id}/photos/{attachment_id}")
def gw_photo(session: Db, pu: GridWorker, visit_id: uuid.UUID, attachment_id: uuid.UUID) -> Response:
    return _photo(session, pu, visit_id, attachment_id)


# -- the console's read-only list ---------------------------------------------------------------------------

@router.get("/console/visits")
def console_visits(request: Request, session: Db, pu: VisitReader, kind: str | None = None,
                   period: str = "month", page: Page = 1) -> Response:
    period, kind = _period(period, "month"), _kind(kind)
    ctx = service.browse_visits(session, principal=pu.principal, kind=kind or None, period=period, page=page,
                                page_size=cp.PAGE_SIZE)
    ctx.update(page=page, pages=cp.pages(ctx["total"]), periods=service.PERIODS, kind=kind,
               kinds=[k.value for k in VisitKind], pager_query=f"period={period}&kind={kind}&")
    return render(request, "console/visits.html", ctx)


@router.get("/console/visits/{visit_id}/photos/{attachment_id}")
def console_photo(session: Db, pu: VisitReader, visit_id: uuid.UUID, attachment_id: uuid.UUID) -> Response:
    return _photo(session, pu, visit_id, attachment_id)

