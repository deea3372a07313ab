"""Resident participation pages: registration and password reset by SMS code (before login), problems nearby with
附议, notices, the monthly disclosure and suggestions (resident H5, 375 px first); and the staff pages for notices
and the suggestions inbox under ``/console/participation``. Every page calls :mod:`zhili.participation.service`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from zhili.core.clock import district_tz, from_local
from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError, Forbidden, ValidationFailed
from zhili.core.masking import mask_phone
from zhili.core.schemas import MAX_PAGE
from zhili.core.security import Perm
from zhili.core.validators import validate_mobile
from zhili.http.deps import SESSION_COOKIE, Db, client_ip, cookie_secure
from zhili.participation import service
from zhili.participation.settings import participation_settings
from zhili.web import csrf
from zhili.web import messages_participation as _messages  # noqa: F401  (registers the UI text)
from zhili.web.casepages import PostedForm, pages, text
from zhili.web.deps import CurrentPageUser, PageUser, Resident
from zhili.web.render import redirect, render, safe_next, tr

router = APIRouter()
PAGE_SIZE = 20
RADII = (500, 1000, 2000)


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _is_htmx(request: Request) -> bool:
    return bool(request.headers.get("hx-request"))


# -- registration and password reset (no login needed) ------------------------------------------------------

_FLOWS = {
    "register": {"template": "h5/register.html", "action": "/h5/register"},
    "reset": {"template": "h5/password_reset.html", "action": "/h5/password-reset"},
}


def _flow_page(request: Request, session: Any, purpose: str, values: dict[str, str], *, error: str | None = None,
               info: str | None = None, status: int = 200) -> Response:
    flow = _FLOWS[purpose]
    ctx: dict[str, Any] = {"values": values, "error": error, "info": info, "action_url": flow["action"],
           "code_url": flow["action"] + "/code"}
    if purpose == "register":
        ctx["communities"] = service.list_communities(session)
    return render(request, flow["template"], ctx, status=status)


def _flow_values(form: FormData | None) -> dict[str, str]:
    if form is None:
        return {"phone": "", "display_name": "", "community_id": ""}
    return {"phone": text(form, "phone", 20), "display_name": text(form, "display_name", 32),
            "community_id": text(form, "community_id", 40)}


def _send_code(request: Request, session: Any, form: FormData, purpose: str) -> Response:
    values = _flow_values(form)
    try:
        service.request_code(session, phone=values["phone"], purpose=purpose, ip=client_ip(request))
    except DomainError as exc:
        roll_back_refused(session)  # the refusal's audit record stays
        return _flow_page(request, session, purpose, values, error=exc.message, status=exc.status)
    minutes = max(1, participation_settings().sms_code_ttl_s // 60)
    info = tr(request, "pt.code_sent", phone=mask_phone(validate_mobile(values["phone"])), minutes=minutes)
    return _flow_page(request, session, purpose, values, info=info)


@router.get("/h5/register")
def register_page(request: Request, session: Db) -> Response:
    return _flow_page(request, session, "register", _flow_values(None))


@router.post("/h5/register/code")
def register_code(request: Request, session: Db, form: PostedForm) -> Response:
    return _send_code(request, session, form, "register")


@router.post("/h5/register")
def register_submit(request: Request, session: Db, form: PostedForm) -> Response:
    values = _flow_values(form)
    try:
        token, auth, _ = service.register_resident(
            session, phone=values["phone"], code=text(form, "code", 12), password=text(form, "password", 256),
            confirm=text(form, "confirm_password", 256), display_name=values["display_name"] or None,
            community_id=_uuid(values["community_id"]), ip=client_ip(request),
            user_agent=request.headers.get("user-agent"))
    except DomainError as exc:
        roll_back_refused(session)  # the attempt counter and the audit record stay
        return _flow_page(request, session, "register", values, error=exc.message, status=exc.status)
    response = redirect("/h5/?msg=registered")
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=cookie_secure(request),
                        expires=auth.expires_at)
    response.delete_cookie(csrf.ANON_COOKIE)
    return response


@router.get("/h5/password-reset")
def reset_page(request: Request, session: Db) -> Response:
    return _flow_page(request, session, "reset", _flow_values(None))


@router.post("/h5/password-reset/code")
def reset_code(request: Request, session: Db, form: PostedForm) -> Response:
    return _send_code(request, session, form, "reset")


@router.post("/h5/password-reset")
def reset_submit(request: Request, session: Db, form: PostedForm) -> Response:
    values = _flow_values(form)
    try:
        service.reset_password_with_code(session, phone=values["phone"], code=text(form, "code", 12),
                                         password=text(form, "password", 256),
                                         confirm=text(form, "confirm_password", 256), ip=client_ip(request))
    except DomainError as exc:
        roll_back_refused(session)
        return _flow_page(request, session, "reset", values, error=exc.message, status=exc.status)
    return redirect("/login?msg=password_reset")


# -- problems nearby and 附议 --------------------------------------------------------------------------------

def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


@router.get("/h5/nearby")
def nearby(request: Request, session: Db, pu: Resident,
           lon: Annotated[str | None, Query(max_length=32)] = None,
           lat: Annotated[str | None, Query(max_length=32)] = None,
           community: Annotated[str | None, Query(max_length=40)] = None,
           category: Annotated[str | None, Query(max_length=32)] = None,
           radius: Annotated[int | None, Query(ge=100, le=5000)] = None) -> Response:
    x, y = _float(lon), _float(lat)
    community_id = _uuid(community)
    home = service.resident_community(session, principal=pu.principal)
    if (x is None or y is None) and community_id is None and home is not None:
        community_id = home.id
    radius = radius or int(participation_settings().nearby_radius_m)
    cases, error = [], None
    origin = "point" if x is not None and y is not None else "community" if community_id else None
    if origin:
        try:
            cases = service.nearby_cases(session, principal=pu.principal, lon=x, lat=y, radius_m=radius,
                                         community_id=None if origin == "point" else community_id,
                                         category=category or None)
        except DomainError as exc:
            error, origin = exc.message, None
    return render(request, "h5/nearby.html", {
        "cases": cases, "error": error, "origin": origin, "radius": radius, "radii": RADII,
        "lon": lon or "", "lat": lat or "", "community_id": str(community_id or ""), "category": category or "",
        "communities": service.list_communities(session),
        "classes": service.public_category_classes(session),
    }, status=422 if error else 200)


@router.get("/h5/nearby/suggest")
def suggest(request: Request, session: Db, pu: Resident,
            category_code: Annotated[str | None, Query(max_length=32)] = None,
            lon: Annotated[str | None, Query(max_length=32)] = None,
            lat: Annotated[str | None, Query(max_length=32)] = None,
            crs: Annotated[str | None, Query(max_length=8)] = None) -> Response:
    x, y = _float(lon), _float(lat)
    cases = []
    if category_code and x is not None and y is not None:
        try:
            cases = service.similar_open_cases(session, principal=pu.principal, category_code=category_code,
                                               lon=x, lat=y, crs=crs or "wgs84")
        except DomainError:
            cases = []
    return render(request, "h5/_suggest.html", {"cases": cases})


@router.get("/h5/nearby/{case_id}")
def public_case(request: Request, session: Db, pu: Resident, case_id: uuid.UUID) -> Response:
    case = service.get_public_case(session, principal=pu.principal, case_id=case_id)
    return render(request, "h5/public_case.html", {"c": case, "error": None})


@router.post("/h5/nearby/{case_id}/support")
def support(request: Request, session: Db, pu: Resident, case_id: uuid.UUID, form: PostedForm) -> Response:
    try:
        case = service.support_case(session, principal=pu.principal, case_id=case_id)
    except DomainError as exc:
        roll_back_refused(session)
        if exc.status == 404:
            raise
        case = service.get_public_case(session, principal=pu.principal, case_id=case_id)
        if _is_htmx(request):  # htmx swaps only 2xx answers: the message goes inside the fragment
            return render(request, "h5/_support.html", {"c": case, "support_error": exc.message})
        return render(request, "h5/public_case.html", {"c": case, "error": exc.message}, status=exc.status)
    if _is_htmx(request):
        return render(request, "h5/_support.html", {"c": case, "support_error": None})
    target = safe_next(text(form, "next", 2000)) or f"/h5/nearby/{case_id}"
    return redirect(target + ("&" if "?" in target else "?") + "msg=supported")


# -- notices and disclosure ---------------------------------------------------------------------------------

@router.get("/h5/notices")
def notices(request: Request, session: Db, pu: Resident) -> Response:
    home = service.resident_community(session, principal=pu.principal)
    rows = service.notices_for(session, principal=pu.principal)
    publishers = service.unit_names(session, paths={n.path for n in rows})
    return render(request, "h5/notices.html", {"notices": rows, "home": home, "publishers": publishers,
                                                "communities": service.list_communities(session)})


@router.post("/h5/community")
def set_community(request: Request, session: Db, pu: Resident, form: PostedForm) -> Response:
    target = safe_next(text(form, "next", 2000)) or "/h5/notices"
    try:
        community_id = _uuid(text(form, "community_id", 40))
        if community_id is None:
            raise ValidationFailed(tr(request, "pt.notices.choose"), code="community_required")
        service.set_resident_community(session, principal=pu.principal, community_id=community_id)
    except DomainError as exc:
        roll_back_refused(session)
        return render(request, "error.html", {"status": exc.status, "title": tr(request, "common.error_title"),
                                              "message": exc.message, "detail": None, "incident": None},
                      status=exc.status)
    return redirect(target + ("&" if "?" in target else "?") + "msg=community_set")


@router.get("/h5/notices/{notice_id}")
def notice(request: Request, session: Db, pu: Resident, notice_id: uuid.UUID) -> Response:
    n = service.read_notice(session, principal=pu.principal, notice_id=notice_id)
    return render(request, "h5/notice.html", {"n": n, "publisher": service.unit_names(session, paths={n.path})
                                              .get(n.path, "")})


@router.get("/h5/disclosure")
def disclosure(request: Request, session: Db, pu: Resident,
               community: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    d = service.disclosure(session, principal=pu.principal, community_id=_uuid(community))
    return render(request, "h5/disclosure.html", {"d": d, "communities": service.list_communities(session)})


# -- suggestions (resident) ---------------------------------------------------------------------------------

@router.get("/h5/suggestions")
def my_suggestions(request: Request, session: Db, pu: Resident,
                   page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1) -> Response:
    rows, total = service.my_suggestions(session, principal=pu.principal, page=page, page_size=PAGE_SIZE)
    return render(request, "h5/suggestions.html", {"rows": rows, "total": total, "page": page,
                                                    "pages": pages(total, PAGE_SIZE), "pager_query": ""})


def _suggestion_form(request: Request, session: Any, pu: PageUser, values: dict[str, str], *,
                     error: str | None = None, status: int = 200) -> Response:
    units = service.suggestion_units(session, principal=pu.principal)
    return render(request, "h5/suggestion_new.html", {"values": values, "error": error, **units}, status=status)


@router.get("/h5/suggestions/new")
def new_suggestion(request: Request, session: Db, pu: Resident) -> Response:
    return _suggestion_form(request, session, pu, {"title": "", "body": "", "unit_id": ""})


@router.post("/h5/suggestions")
def submit_suggestion(request: Request, session: Db, pu: Resident, form: PostedForm) -> Response:
    values = {"title": text(form, "title", 200), "body": text(form, "body", 8000), "unit_id": text(form, "unit_id", 40)}
    try:
        s = service.submit_suggestion(session, principal=pu.principal, title=values["title"], body=values["body"],
                                      unit_id=_uuid(values["unit_id"]))
    except DomainError as exc:
        roll_back_refused(session)
        return _suggestion_form(request, session, pu, values, error=exc.message, status=exc.status)
    return redirect(f"/h5/suggestions/{s.id}?msg=suggestion_sent")


@router.get("/h5/suggestions/{suggestion_id}")
def suggestion(request: Request, session: Db, pu: Resident, suggestion_id: uuid.UUID) -> Response:
    thread = service.get_suggestion(session, principal=pu.principal, suggestion_id=suggestion_id)
    return render(request, "h5/suggestion.html", {"th": thread})


# -- staff: notices editor and suggestions inbox ------------------------------------------------------------

def _staff_gate() -> Callable[[Request, PageUser], PageUser]:
    def gate(request: Request, pu: CurrentPageUser) -> PageUser:
        staff = pu.principal.can(Perm.notice_publish) or pu.principal.can(Perm.suggestion_reply)
        if not staff or not pu.principal.scope_paths:
            raise Forbidden(tr(request, "pt.staff.forbidden"), code="wrong_portal")
        return pu

    return gate


Staff = Annotated[PageUser, Depends(_staff_gate())]
STAFF = "/console/participation"


def _local_input(value: str) -> dt.datetime | None:
    """A ``datetime-local`` value (local time, minutes) as UTC; '' → None."""
    if not value:
        return None
    try:
        local = dt.datetime.strptime(value[:16], "%Y-%m-%dT%H:%M")
    except ValueError as exc:
        raise ValidationFailed("时间格式不正确，请按“年-月-日 时:分”填写", code="bad_time") from exc
    return from_local(local).astimezone(dt.UTC)


def _local_output(value: dt.datetime | None) -> str:
    """A UTC moment as a ``datetime-local`` value in local time."""
    if value is None:
        return ""
    return value.astimezone(district_tz()).strftime("%Y-%m-%dT%H:%M")


def _notice_values(form: FormData) -> dict[str, str]:
    return {"unit_id": text(form, "unit_id", 40), "title": text(form, "title", 400), "body": text(form, "body", 20_000),
            "publish_at": text(form, "publish_at", 20), "expire_at": text(form, "expire_at", 20),
            "pinned": "1" if text(form, "pinned", 4) else ""}


def _notice_data(values: dict[str, str]) -> dict[str, Any]:
    return {"unit_id": _uuid(values["unit_id"]), "title": values["title"], "body": values["body"],
            "publish_at": _local_input(values["publish_at"]), "expire_at": _local_input(values["expire_at"]),
            "pinned": bool(values["pinned"])}


def _notice_form(request: Request, session: Any, pu: PageUser, values: dict[str, str], *, notice: Any = None,
                 error: str | None = None, status: int = 200) -> Response:
    return render(request, "console/participation/notice_form.html", {
        "values": values, "notice": notice, "error": error,
        "units": service.publishable_units(session, principal=pu.principal),
        "action_url": f"{STAFF}/notices/{notice.id}" if notice else f"{STAFF}/notices"}, status=status)


@router.get(f"{STAFF}/notices")
def staff_notices(request: Request, session: Db, pu: Staff,
                  page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1) -> Response:
    rows, total = service.list_notices(session, principal=pu.principal, page=page, page_size=PAGE_SIZE)
    return render(request, "console/participation/notices.html", {
        "rows": rows, "total": total, "page": page, "pages": pages(total, PAGE_SIZE), "pager_query": "",
        "publishers": service.unit_names(session, paths={n.path for n in rows}), "now": dt.datetime.now(dt.UTC)})


@router.get(f"{STAFF}/notices/new")
def staff_new_notice(request: Request, session: Db, pu: Staff) -> Response:
    return _notice_form(request, session, pu, {"unit_id": "", "title": "", "body": "", "publish_at": "",
                                               "expire_at": "", "pinned": ""})


@router.post(f"{STAFF}/notices")
def staff_create_notice(request: Request, session: Db, pu: Staff, form: PostedForm) -> Response:
    values = _notice_values(form)
    try:
        service.create_notice(session, principal=pu.principal, data=_notice_data(values))
    except DomainError as exc:
        roll_back_refused(session)
        return _notice_form(request, session, pu, values, error=exc.message, status=exc.status)
    return redirect(f"{STAFF}/notices?msg=notice_saved")


@router.get(f"{STAFF}/notices/{{notice_id}}")
def staff_edit_notice(request: Request, session: Db, pu: Staff, notice_id: uuid.UUID) -> Response:
    n = service.get_notice(session, principal=pu.principal, notice_id=notice_id)
    return _notice_form(request, session, pu, {
        "unit_id": str(n.unit_id), "title": n.title, "body": n.body, "publish_at": _local_output(n.publish_at),
        "expire_at": _local_output(n.expire_at), "pinned": "1" if n.pinned else ""}, notice=n)


@router.post(f"{STAFF}/notices/{{notice_id}}")
def staff_update_notice(request: Request, session: Db, pu: Staff, notice_id: uuid.UUID,
                        form: PostedForm) -> Response:
    values = _notice_values(form)
    try:
        service.update_notice(session, principal=pu.principal, notice_id=notice_id, changes=_notice_data(values))
    except DomainError as exc:
        roll_back_refused(session)
        n = service.get_notice(session, principal=pu.principal, notice_id=notice_id)
        return _notice_form(request, session, pu, values, notice=n, error=exc.message, status=exc.status)
    return redirect(f"{STAFF}/notices?msg=notice_saved")


@router.post(f"{STAFF}/notices/{{notice_id}}/withdraw")
def staff_withdraw_notice(request: Request, session: Db, pu: Staff, notice_id: uuid.UUID) -> Response:
    service.withdraw_notice(session, principal=pu.principal, notice_id=notice_id)
    return redirect(f"{STAFF}/notices?msg=notice_withdrawn")


@router.get(f"{STAFF}/suggestions")
def staff_suggestions(request: Request, session: Db, pu: Staff,
                      status: Annotated[str | None, Query(pattern="^(open|replied)?$")] = None,
                      page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1) -> Response:
    rows, total = service.list_suggestions(session, principal=pu.principal, status=status or None, page=page,
                                           page_size=PAGE_SIZE)
    return render(request, "console/participation/suggestions.html", {
        "rows": rows, "total": total, "page": page, "pages": pages(total, PAGE_SIZE), "status": status or "",
        "pager_query": f"status={status}&" if status else "",
        "unit_of": service.unit_names(session, paths={s.path for s in rows})})


def _staff_thread(request: Request, session: Any, pu: PageUser, suggestion_id: uuid.UUID, *,
                  error: str | None = None, body: str = "", status: int = 200) -> Response:
    thread = service.get_suggestion(session, principal=pu.principal, suggestion_id=suggestion_id)
    return render(request, "console/participation/suggestion.html", {"th": thread, "error": error, "body": body},
                  status=status)


@router.get(f"{STAFF}/suggestions/{{suggestion_id}}")
def staff_suggestion(request: Request, session: Db, pu: Staff, suggestion_id: uuid.UUID) -> Response:
    return _staff_thread(request, session, pu, suggestion_id)


@router.post(f"{STAFF}/suggestions/{{suggestion_id}}/reply")
def staff_reply(request: Request, session: Db, pu: Staff, suggestion_id: uuid.UUID, form: PostedForm) -> Response:
    body = text(form, "body", 8000)
    try:
        service.reply_suggestion(session, principal=pu.principal, suggestion_id=suggestion_id, body=body)
    except DomainError as exc:
        roll_back_refused(session)
        if exc.status == 404:
            raise
        return _staff_thread(request, session, pu, suggestion_id, error=exc.message, body=body, status=exc.status)
    return redirect(f"{STAFF}/suggestions/{suggestion_id}?msg=reply_sent")
