"""What the resident portal and the grid-worker pages share: the report form, the category picker, the grid map
data and the case detail with its action forms — all on top of :mod:`zhili.cases.service`."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import JSONResponse, Response

from zhili.cases import attachments, engine, files, service, taxonomy, views
from zhili.cases.attributes import STRING_MAX, TEXT_MAX
from zhili.cases.flows import SERVICE_KIND
from zhili.cases.limits import ADDRESS_MAX, DESCRIPTION_MAX, REPORTER_NAME_MAX, REPORTER_PHONE_MAX
from zhili.cases.models import Channel
from zhili.cases.workflow import candidates
from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm, Role
from zhili.core.settings import get_settings
from zhili.regions import service as regions
from zhili.regions.models import UnitLevel
from zhili.web import formkit as fk
from zhili.web import messages_timeline  # noqa: F401  (registers the timeline and reveal messages)
from zhili.web.csrf import MAX_FIELDS, MAX_FILES
from zhili.web.deps import PageUser
from zhili.web.render import redirect, render, tr

PHOTO_LIMIT = 3
PAGE_SIZE = 20
# Said when an ID number or phone arrives in a page's URL: such searches are posted from the search box instead.
NUMBER_IN_URL = "身份证号、手机号不能放在网址中（网址会被记入访问日志），请在搜索框中输入后点击“搜索”"
# payload fields a page form can carry
ACTION_FIELDS = ("reason", "result", "hours", "rating", "message", "reply", "finding", "permit_no")
ACTION_ORDER = ("answer_supervision", "start", "resolve", "verify", "rate", "reopen", "send_back", "request_extension",
                "return_case", "escalate")  # the usual next step first (an order waiting for an answer before all)


async def _form(request: Request) -> FormData:
    return await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)  # usually already parsed by the CSRF check


PostedForm = Annotated[FormData, Depends(_form)]


def text(form: FormData, name: str, limit: int = 4000) -> str:
    """A stripped text field of a posted form ('' when absent or a file)."""
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def pages(total: int, page_size: int = PAGE_SIZE) -> int:
    return max(1, math.ceil(total / page_size))


# -- the category picker ------------------------------------------------------------------------------------

def category_groups(session: Any, *, q: str | None = None, selected: str | None = None) -> list[dict[str, Any]]:
    """Reportable (leaf) categories grouped under their major class, optionally searched by keyword — not the
    service categories of the other case flows (居住证申领 has its own form)."""
    current = [c for c in taxonomy.list_categories(session) if c.kind != SERVICE_KIND]
    names = {c.code: c.name for c in current if not c.is_leaf}
    leaves = [c for c in taxonomy.list_categories(session, leaves_only=True, q=q) if c.kind != SERVICE_KIND] if q \
        else [c for c in current if c.is_leaf]
    groups: dict[str, list[Any]] = {}
    for c in leaves:
        groups.setdefault(c.parent_code or "", []).append(c)
    return [{"code": code, "name": names.get(code) or code, "items": items,
             "has_selected": any(c.code == selected for c in items)} for code, items in groups.items()]


# -- a category's own questions (its declared attributes) ---------------------------------------------------

LIST_TYPES = ("singlevaluelist", "multivaluelist")
ATTRIBUTE_LIMITS = {"string": STRING_MAX, "text": TEXT_MAX}
# Intake's refusals about the attributes (zhili.cases.attributes): shown beside the questions.
ATTRIBUTE_REFUSALS = ("attribute_required", "attribute_bad_type", "attribute_too_long", "attribute_not_in_values",
                      "attribute_unknown")


def read_attributes(request: Request, session: Any, form: FormData, category_code: str
                    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The chosen category's attributes as a form posted them (fields ``attr.<category>.<attribute>``): (the
    attributes for intake, the values to show again by field name, the message beside each required one that is
    missing). An unknown category has none here (intake refuses the category itself)."""
    try:
        declared = taxonomy.reportable_category(session, code=category_code).attributes if category_code else []
    except DomainError:
        declared = []
    attributes: dict[str, Any] = {}
    shown: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for spec in declared:
        code, dtype = str(spec.get("code")), str(spec.get("datatype") or "string")
        name = f"attr.{category_code}.{code}"
        value: Any = ([v for v in form.getlist(name) if isinstance(v, str) and v] if dtype == "multivaluelist"
                      else fk.form_text(form, name))
        shown[name] = value
        if value:
            attributes[code] = value
        elif spec.get("required"):
            label = str(spec.get("description") or code)
            errors[name] = tr(request, "formcheck.choose" if dtype in LIST_TYPES else "formcheck.required", label=label)
    return attributes, shown, errors


def attributes_context(values: dict[str, Any]) -> dict[str, Any]:
    """What ``partials/category_attributes.html`` needs besides the category groups."""
    return {"attr_values": values, "attr_limits": ATTRIBUTE_LIMITS}


def categories_fragment(request: Request, session: Any, q: str | None) -> Response:
    q = (q or "").strip()[:50] or None
    return render(request, "partials/category_list.html",
                  {"groups": category_groups(session, q=q), "open_all": bool(q), "selected": None})


def suggest_fragment(request: Request, session: Any, pu: PageUser, form: FormData) -> Response:
    """The report form's 智能推荐类别 while the description is typed (empty without an active model)."""
    from zhili.intel import routing
    from zhili.web import messages_intel  # noqa: F401  (registers the UI text)

    items = routing.suggest_text(session, principal=pu.principal, title=None,
                                 description=text(form, "description", DESCRIPTION_MAX))
    return render(request, "intel/_form_suggestions.html", {"items": items})


# -- grid outlines for the map ------------------------------------------------------------------------------

def map_principal(session: Any, pu: PageUser) -> Principal:
    """Whose jurisdiction the map shows: staff their own; a resident (who has none) every grid of the district,
    whose outlines are public information needed to pick a place (read under the district, with the regions
    read permission for this one purpose)."""
    p = pu.principal
    if p.role != Role.resident:
        return p
    district = service.district_unit(session)
    return Principal(user_id=p.user_id, username=p.username, display_name=p.display_name, role=p.role,
                     scope_paths=(district.path,), extra_perms=frozenset({Perm.region_read}))


def grids_geojson(session: Any, pu: PageUser) -> JSONResponse:
    data = regions.list_boundaries(session, principal=map_principal(session, pu), level=UnitLevel.grid)
    return JSONResponse(data, headers={"Cache-Control": "private, max-age=300"})


# -- reporting ----------------------------------------------------------------------------------------------

@dataclass
class ReportPage:
    """Where one portal's report form lives."""

    prefix: str  # /h5 or /gw
    channel: Channel
    template: str
    title_key: str


# The report form's free-text fields and their limits (the same constants the API and intake check).
REPORT_TEXTS = (fk.TextField("description", "report.description", DESCRIPTION_MAX, required=True),
                fk.TextField("address", "report.address", ADDRESS_MAX),
                fk.TextField("reporter_name", "report.name", REPORTER_NAME_MAX),
                fk.TextField("reporter_phone", "report.phone", REPORTER_PHONE_MAX))
# Which field of the report form a refusal is about, by its code (photo refusals: see formkit).
REPORT_REFUSALS = {
    "category_required": "category_code", "category_not_found": "category_code", "category_inactive": "category_code",
    "category_not_leaf": "category_code", "description_required": "description",
    "description_too_long": "description", "bad_coordinates": "location", "point_outside_grids": "location",
    "location_required": "location", "mobile_format": "reporter_phone",
    **{code: "attributes" for code in ATTRIBUTE_REFUSALS},
}


def _blank_values() -> dict[str, str]:
    return {"category_code": "", "description": "", "lon": "", "lat": "", "crs": "wgs84", "address": "",
            "reporter_name": "", "reporter_phone": "", "idem": uuid.uuid4().hex}


def photo_picker() -> dict[str, str]:
    """What a photo picker accepts and its hint names: the server's own list (``zhili.cases.files``)."""
    return {"photo_accept": ",".join(files.IMAGE_TYPES), "photo_types": files.type_names(files.IMAGE_TYPES)}


def report_form(request: Request, session: Any, page: ReportPage, *, values: dict[str, str] | None = None,
                attr_values: dict[str, Any] | None = None, error: str | None = None,
                errors: dict[str, str] | None = None, status: int = 200) -> Response:
    values = values or _blank_values()
    return render(request, page.template, {
        **attributes_context(attr_values or {}),
        "values": values, "error": error, "errors": errors or {}, "title_key": page.title_key,
        "action_url": f"{page.prefix}/report", "categories_url": f"{page.prefix}/categories",
        "category_suggest_url": f"{page.prefix}/suggest-category",
        "boundaries_url": f"{page.prefix}/map/grids.geojson",
        "groups": category_groups(session, selected=values.get("category_code")), "open_all": False,
        "selected": values.get("category_code"), "photo_limit": PHOTO_LIMIT, **photo_picker(),
        "limits": {f.name: f.max for f in REPORT_TEXTS}, "show_contact": page.channel == Channel.resident,
    }, status=status)


def _coordinates(request: Request, values: dict[str, str]) -> tuple[float | None, float | None]:
    lon, lat = values["lon"], values["lat"]
    if not lon and not lat:
        return None, None
    try:
        x, y = float(lon), float(lat)
    except ValueError as exc:
        raise ValidationFailed(tr(request, "error.bad_coordinates"), code="bad_coordinates") from exc
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValidationFailed(tr(request, "error.bad_coordinates"), code="bad_coordinates")
    return x, y


def _report_errors(request: Request, values: dict[str, str], photos: list[UploadFile], *,
                   contact: bool) -> dict[str, str]:
    """What the form itself shows is missing or too long, every field at once (intake checks it all again)."""
    errors = fk.check_texts(request, values, [f for f in REPORT_TEXTS if contact or not f.name.startswith("reporter")])
    if not values["category_code"]:
        errors["category_code"] = tr(request, "report.category_required")
    if not (values["lon"] or values["lat"] or values["address"]):
        errors["location"] = tr(request, "report.location_required")
    if len(photos) > PHOTO_LIMIT:
        errors["photos"] = tr(request, "error.too_many_photos", n=PHOTO_LIMIT)
    return errors


def _store_photos(session: Any, principal: Principal, photos: list[UploadFile]) -> list[uuid.UUID]:
    limit = get_settings().max_upload_bytes
    ids = []
    for f in photos:
        data = f.file.read(limit + 1)
        files.require_image(files.check_upload(data)[0], "现场照片")
        ids.append(attachments.set_attachment(session, principal=principal, data=data, filename=f.filename or "").id)
    return ids


def submit_report(request: Request, session: Any, pu: PageUser, page: ReportPage, form: FormData) -> Response:
    """Store the photos, file the case through ``report_case`` and go to its page; on refusal show the form again
    with what was typed and each message beside its field (nothing of the refused attempt is kept). The form's
    token (``idem``) is intake's Idempotency-Key: the same form sent again — Back and send, a reload, a double
    click — goes to the case it filed, with a note that nothing was filed twice."""
    values = {k: fk.form_text(form, k) for k in _blank_values()}
    values["crs"] = values["crs"] if values["crs"] in ("wgs84", "gcj02") else "wgs84"
    values["idem"] = values["idem"][:64] or uuid.uuid4().hex
    photos = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and f.filename]
    contact = page.channel == Channel.resident
    attr_values: dict[str, Any] = {}
    try:
        authorize(pu.principal, Perm.case_report)
        attributes, attr_values, errors = read_attributes(request, session, form, values["category_code"])
        errors.update(_report_errors(request, values, photos, contact=contact))
        if errors:
            return report_form(request, session, page, values=values, attr_values=attr_values, errors=errors,
                               status=422)
        lon, lat = _coordinates(request, values)
        data: dict[str, Any] = {
            "category_code": values["category_code"], "description": values["description"], "lon": lon, "lat": lat,
            "crs": values["crs"], "address": values["address"] or None,
            "attachment_ids": _store_photos(session, pu.principal, photos),
        }
        if attributes:  # absent rather than empty: what the form's token stands for (intake.fingerprint) is as before
            data["attributes"] = attributes
        if contact:
            data.update(reporter_name=values["reporter_name"] or None, reporter_phone=values["reporter_phone"] or None)
        case, created = service.report_case(session, principal=pu.principal, channel=page.channel, data=data,
                                            idempotency_key=values["idem"])
    except DomainError as exc:
        roll_back_refused(session)
        if exc.code == "idempotency_key_reused":  # sent before with other content: sent again, it is a new report
            values["idem"] = uuid.uuid4().hex
            return report_form(request, session, page, values=values, attr_values=attr_values,
                               error=tr(request, "error.report_resent_changed"), status=exc.status)
        errors, message, status = fk.placed(exc, REPORT_REFUSALS)
        return report_form(request, session, page, values=values, attr_values=attr_values, error=message,
                           errors=errors, status=status)
    return redirect(f"{page.prefix}/cases/{case.id}?msg={'reported' if created else 'already_reported'}")


# -- case detail and actions --------------------------------------------------------------------------------

@dataclass
class ActionForm:
    """One workflow action offered on a page, with the fields its table row requires."""

    action: str
    label: str
    fields: list[str] = field(default_factory=list)


def action_forms(session: Any, principal: Principal, case: Any, allowed: Iterable[str],
                 extra_fields: dict[str, list[str]] | None = None) -> list[ActionForm]:
    """The workflow actions this principal can take on the case now, limited to ``allowed``, each with the fields
    its table row requires (plus the page's own ``extra_fields``), the usual next step first."""
    allowed = set(allowed)
    out = []
    for a in engine.available_actions(session, principal=principal, case=case):
        if a["action"] not in allowed:
            continue
        required: list[str] = []
        for t in candidates(a["action"], case.state, case.flow or "event"):
            if principal.role in t.roles:
                required += [f for f in t.requires if f in ACTION_FIELDS and f not in required]
        required += (extra_fields or {}).get(a["action"], [])
        out.append(ActionForm(action=a["action"], label=a["label"], fields=required))
    rank = {a: i for i, a in enumerate(ACTION_ORDER)}
    return sorted(out, key=lambda f: rank.get(f.action, len(rank)))


def case_context(session: Any, pu: PageUser, case_id: uuid.UUID, allowed: Iterable[str]) -> dict[str, Any]:
    """Everything a case page shows; 404 (not found or not visible) comes from ``get_case``."""
    case = service.get_case(session, principal=pu.principal, case_id=case_id)
    events = service.timeline(session, principal=pu.principal, case_id=case.id)
    photos = [aid for ev in events for aid in (ev.attachment_ids or [])]
    return {"case": views.case_view(session, case), "events": events, "photos": photos,
            "actions": action_forms(session, pu.principal, case, allowed)}


def case_page(request: Request, session: Any, pu: PageUser, case_id: uuid.UUID, *, prefix: str, template: str,
              allowed: Iterable[str], error: str | None = None, error_action: str | None = None,
              kept: dict[str, str] | None = None, status: int = 200) -> Response:
    ctx = case_context(session, pu, case_id, allowed)
    ctx.update(error=error, error_action=error_action, kept=kept or {}, act_url=f"{prefix}/cases/{case_id}/act",
               prefix=prefix, staff=pu.principal.role != Role.resident)
    return render(request, template, ctx, status=status)


def _payload(request: Request, form: FormData) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for name in ("reason", "result", "message", "reply", "comment", "finding"):
        value = text(form, name)
        if value:
            payload[name] = value
    for name, limit in (("permit_no", 32), ("tracking_no", 40), ("delivery_method", 16)):  # 居住证申领
        value = text(form, name, limit)
        if value:
            payload[name] = value
    for name, cast in (("hours", float), ("rating", int)):
        raw = text(form, name, 16)
        if raw:
            try:
                payload[name] = cast(raw)
            except ValueError as exc:
                raise ValidationFailed(tr(request, "error.bad_number"), code="bad_number") from exc
    return payload


def kept_fields(form: FormData) -> dict[str, str]:
    """What a refused action form carried, to show it again (nothing typed is lost)."""
    return {name: value for name in (*ACTION_FIELDS, "comment", "lon", "lat", "tracking_no", "delivery_method")
            if (value := text(form, name))}


def act(request: Request, session: Any, pu: PageUser, case_id: uuid.UUID, form: FormData, *, prefix: str,
        template: str, allowed: Iterable[str]) -> Response:
    """Apply one workflow action from a page form through ``engine.transition``."""
    allowed = tuple(allowed)
    try:
        authorize(pu.principal, Perm.case_read)
        action = text(form, "action", 32)
        if action not in allowed:
            raise ValidationFailed(tr(request, "error.unknown_action"), code="unknown_action")
        version_raw = text(form, "version", 12)
        version = int(version_raw) if version_raw.isdigit() else None
        engine.transition(session, principal=pu.principal, case_id=case_id, action=action,
                           payload=_payload(request, form), expected_version=version)
    except DomainError as exc:
        roll_back_refused(session)
        return case_page(request, session, pu, case_id, prefix=prefix, template=template, allowed=allowed,
                         error=exc.message, error_action=text(form, "action", 32), kept=kept_fields(form),
                         status=exc.status)
    return redirect(f"{prefix}/cases/{case_id}?msg=action_done")
