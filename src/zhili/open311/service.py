"""Open311 GeoReport v2 on top of the case loop: services from the taxonomy, requests from cases, API keys.

``service_request_id`` is the human case number. ``status`` stays binary (open/closed); the detailed state,
status notes, the deadline (``expected_datetime``) and the handling department (``agency_responsible``) are
in the standard fields, and ``extensions=true`` adds ``extended_attributes`` with the detailed state and the
public notes history. No reporter identity ever appears in a response.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases import public
from zhili.cases import service as cases
from zhili.cases.attributes import validate_attributes
from zhili.cases.flows import SERVICE_KIND
from zhili.cases.limits import DESCRIPTION_MAX
from zhili.cases.models import (
    OPEN_STATES,
    STATE_LABELS,
    ApiKey,
    Attachment,
    Case,
    CaseEvent,
    CaseState,
    Category,
    Channel,
)
from zhili.cases.taxonomy import list_categories
from zhili.cases.timeline import readable_comment
from zhili.cases.workflow import ACTIONS
from zhili.core import audit
from zhili.core.clock import district_tz, from_local
from zhili.core.db import utcnow
from zhili.core.errors import DomainError, Forbidden, NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm, new_token, token_digest
from zhili.core.settings import get_settings
from zhili.core.validators import validate_mobile
from zhili.org.service import department_names

MAX_ROWS = 1000
DEFAULT_DAYS = 90
DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}


def iso(moment: dt.datetime | None) -> str | None:
    """ISO 8601 with the local offset, as the spec requires."""
    if moment is None:
        return None
    return moment.astimezone(district_tz()).isoformat(timespec="seconds")


# -- API keys ---------------------------------------------------------------------------------------------

def _key_manager(principal: Principal | None) -> audit.Actor:
    """Who may manage API keys: configuration managers (``principal=None``: the operator at the CLI)."""
    if principal is None:
        return audit.SYSTEM
    authorize(principal, Perm.config_write)
    return principal.actor


def create_api_key(session: Session, *, principal: Principal | None, name: str) -> tuple[ApiKey, str]:
    """Issue a key (returned once in plain text; only its hash is stored)."""
    actor = _key_manager(principal)
    token = new_token("o311")
    key = ApiKey(name=name, prefix=token[:9], key_hash=token_digest(token))
    session.add(key)
    session.flush()
    audit.record(session, actor=actor, action="apikey.create", object_type="api_key", object_id=key.id,
                 after={"name": name, "prefix": key.prefix})
    return key, token


def revoke_api_key(session: Session, *, principal: Principal | None, prefix: str) -> ApiKey:
    """Revoke a key by its printed prefix."""
    actor = _key_manager(principal)
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None)))
    if key is None:
        raise NotFound("API 密钥不存在或已吊销")
    key.revoked_at = utcnow()
    audit.record(session, actor=actor, action="apikey.revoke", object_type="api_key", object_id=key.id)
    session.flush()
    return key


def list_api_keys(session: Session, *, principal: Principal | None) -> list[ApiKey]:
    """All keys (hashes never leave the database)."""
    _key_manager(principal)
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def check_api_key(session: Session, *, token: str | None) -> ApiKey:
    """The live key for ``token`` or 403."""
    if not token:
        raise Forbidden("api_key is required", code="api_key_required")
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == token_digest(token)))
    if key is None or key.revoked_at is not None:
        raise Forbidden("api_key is invalid or revoked", code="api_key_invalid")
    key.last_used_at = utcnow()
    return key


# Parameters a client may put in the URL's query string of a POST (the rest of the request is the form body).
QUERY_PARAMETERS = ("api_key", "jurisdiction_id")


def request_parameters(body: Iterable[tuple[str, Any]], query: Iterable[tuple[str, str]] = ()
                       ) -> list[tuple[str, str]]:
    """The parameters of a GeoReport request as (name, value) pairs: the body's text fields, then ``api_key`` and
    ``jurisdiction_id`` from the query string when the body has none (real clients send them in the URL). A
    parameter sent empty counts as not sent (GeoReport v2: optional parameters may be sent without a value)."""
    pairs = [(k, v.strip()) for k, v in body if isinstance(v, str) and v.strip()]
    present = {k for k, _ in pairs}
    pairs += [(k, v.strip()) for k, v in query if k in QUERY_PARAMETERS and k not in present and v.strip()]
    return pairs


def check_jurisdiction(jurisdiction_id: str | None) -> None:
    """Refuse a jurisdiction other than this deployment's district."""
    if jurisdiction_id and jurisdiction_id != get_settings().district_code:
        raise NotFound(f"jurisdiction_id {jurisdiction_id} is not served here", code="jurisdiction_not_found")


# -- services ---------------------------------------------------------------------------------------------

def list_services(session: Session) -> list[dict[str, Any]]:
    """Every reportable leaf category as a GeoReport service (group = first level of the taxonomy) — not the
    service categories of the other case flows (居住证申领 is applied for from a rental stay, not reported)."""
    cats = [c for c in list_categories(session) if c.kind != SERVICE_KIND]
    by_code = {c.code: c for c in cats}

    def top(c: Category) -> Category:
        while c.parent_code and c.parent_code in by_code:
            c = by_code[c.parent_code]
        return c

    out = []
    for c in cats:
        if not c.is_leaf:
            continue
        out.append({
            "service_code": c.code, "service_name": c.name, "description": c.description or c.name,
            "metadata": bool(c.attributes), "type": "realtime", "keywords": ",".join(c.keywords or []),
            "group": top(c).name,
        })
    return out


def service_definition(session: Session, *, service_code: str) -> dict[str, Any]:
    """A service's attributes with their datatypes."""
    c = session.scalar(select(Category).where(Category.code == service_code, Category.is_current.is_(True),
                                              Category.is_leaf.is_(True), Category.is_active.is_(True)))
    if c is None:
        raise NotFound(f"service_code {service_code} not found", code="service_not_found")
    attrs = []
    for i, a in enumerate(c.attributes or [], start=1):
        item: dict[str, Any] = {
            "variable": True, "code": a["code"], "datatype": a.get("datatype", "string"),
            "required": bool(a.get("required")), "datatype_description": a.get("datatype_description", ""),
            "order": a.get("order", i), "description": a.get("description", a["code"]),
        }
        if a.get("values"):
            item["values"] = [{"key": str(v["key"]) if isinstance(v, dict) else str(v),
                               "name": v.get("name", v.get("key")) if isinstance(v, dict) else str(v)}
                              for v in a["values"]]
        attrs.append(item)
    return {"service_code": c.code, "attributes": attrs}


# -- requests ---------------------------------------------------------------------------------------------

_ATTR_RE = re.compile(r"^attribute\[([^\]]+)\](\[\])?$")


def parse_attributes(form: list[tuple[str, str]]) -> dict[str, Any]:
    """``attribute[code]=v`` and ``attribute[code][]=v1&attribute[code][]=v2`` → {code: v | [v1, v2]}."""
    out: dict[str, Any] = {}
    for k, v in form:
        m = _ATTR_RE.match(k)
        if not m:
            continue
        code, multi = m.group(1), m.group(2)
        if multi:
            out.setdefault(code, [])
            if isinstance(out[code], list):
                out[code].append(v)
        else:
            out[code] = v
    return out


def _check_attributes(cat: Category, values: dict[str, Any]) -> dict[str, Any]:
    """The attributes against the service definition: the one check intake applies to every channel."""
    return validate_attributes(cat.attributes, values, category=cat.name)


def create_request(session: Session, *, key: ApiKey, form: list[tuple[str, str]],
                   idempotency_key: str | None = None) -> list[dict[str, Any]]:
    """POST requests: validate like the spec says and file a case through the normal intake."""
    f: dict[str, str] = {}
    for k, v in form:
        f.setdefault(k, v)
    code = f.get("service_code")
    if not code:
        raise ValidationFailed("service_code is required", code="service_code_required")
    cat = session.scalar(select(Category).where(Category.code == code, Category.is_current.is_(True)))
    if cat is None or not cat.is_leaf or not cat.is_active:
        raise NotFound(f"service_code {code} not found", code="service_not_found")
    lat, lon = f.get("lat"), f.get("long")
    if not ((lat and lon) or f.get("address_string") or f.get("address_id")):
        raise ValidationFailed("a location is required: lat and long, address_string or address_id",
                               code="location_required")
    description = (f.get("description") or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise ValidationFailed(f"description must be at most {DESCRIPTION_MAX:,} characters",
                               code="description_too_long")
    data: dict[str, Any] = {"category_code": code, "description": description or cat.name,
                            "attributes": _check_attributes(cat, parse_attributes(form))}
    if lat and lon:
        try:
            data["lat"], data["lon"] = float(lat), float(lon)
        except ValueError as exc:
            raise ValidationFailed("lat and long must be numbers", code="bad_coordinates") from exc
    if f.get("address_string"):
        data["address"] = f["address_string"][:255]
    if f.get("address_id") and not (lat and lon):
        try:
            data["building_id"] = uuid.UUID(f["address_id"])
        except ValueError as exc:
            raise ValidationFailed("address_id is not a known address", code="bad_address_id") from exc
    name = " ".join(x for x in (f.get("last_name"), f.get("first_name")) if x).strip()
    if name:
        data["reporter_name"] = name
    if f.get("phone"):
        # The spec's phone is free-form; only mainland mobiles are kept as a phone (SMS-capable). Anything else
        # is kept with the name, which is encrypted the same way and shown only to the command centre.
        try:
            data["reporter_phone"] = validate_mobile(f["phone"])
        except ValidationFailed:
            data["reporter_name"] = f"{name}（电话：{f['phone'][:32]}）".lstrip()
    if f.get("media_url"):
        data["system_attributes"] = {"_media_url": f["media_url"][:1000]}
    data["external_id"] = (f.get("device_id") or f.get("account_id") or None)
    case, _ = cases.report_case(session, principal=None, channel=Channel.open311, data=data,
                                idempotency_key=idempotency_key, client=f"apikey:{key.id}", api_client_id=key.id)
    notice = f"已收到，事件编号 {case.number}"
    return [{"service_request_id": case.number, "service_notice": notice, "account_id": f.get("account_id")}]


def _status_notes(case: Case) -> str:
    label = STATE_LABELS[case.state]
    if case.state == CaseState.rejected and case.reject_reason:
        return public.public_text(f"{label}：{case.reject_reason}")
    if case.state in (CaseState.resolved, CaseState.verified, CaseState.rated, CaseState.closed) and case.resolution:
        return public.public_text(f"{label}：{case.resolution}")
    return label


def request_view(session: Session, case: Case, *, base_url: str, depts: dict[str, str], extensions: bool
                 ) -> dict[str, Any]:
    """One case as a GeoReport service request — public fields only, as :mod:`zhili.cases.public` shows them."""
    lat, lon = public.public_point(case)
    cat = session.get(Category, case.category_id) if case.category_id else None
    media = session.scalar(select(Attachment.id).where(Attachment.case_id == case.id,
                                                       Attachment.content_type.startswith("image/")).limit(1))
    media_url = f"{base_url}/open311/v2/media/{media}" if media else (case.attributes or {}).get("_media_url")
    item: dict[str, Any] = {
        "service_request_id": case.number,
        "status": "open" if case.state in OPEN_STATES else "closed",
        "status_notes": _status_notes(case),
        "service_name": cat.name if cat else None,
        "service_code": case.category_code,
        "description": public.public_text(case.description),
        "agency_responsible": depts.get(case.assignee_department or "") or case.assignee_department,
        "service_notice": None,
        "requested_datetime": iso(case.reported_at),
        "updated_datetime": iso(case.updated_at),
        "expected_datetime": iso(case.handle_due_at),
        "address": public.public_address(case),
        "address_id": None,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": media_url,
    }
    if extensions:
        events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.public.is_(True))
                                 .order_by(CaseEvent.seq)).all()
        item["extended_attributes"] = {
            "detailed_status": case.state.value.upper(),
            "detailed_status_label": STATE_LABELS[case.state],
            "notes": [{"datetime": iso(e.at), "summary": ACTIONS.get(e.action, e.action),
                       "description": public.public_text(readable_comment(e.comment, depts))} for e in events],
        }
    return item


def list_requests(session: Session, *, params: dict[str, str], base_url: str) -> list[dict[str, Any]]:
    """GET requests with the spec's filters (ids override the rest; default 90 days; at most 1,000)."""
    stmt = select(Case).where(public.public_filter(open_only=False))
    ids = [x.strip() for x in (params.get("service_request_id") or "").split(",") if x.strip()]
    if ids:
        stmt = stmt.where(Case.number.in_(ids[:MAX_ROWS]))
    else:
        end = _parse_date(params.get("end_date"), "end_date") or utcnow()
        start = _parse_date(params.get("start_date"), "start_date") or end - dt.timedelta(days=DEFAULT_DAYS)
        if start > end:
            raise ValidationFailed("start_date must be before end_date", code="bad_date_range")
        if end - start > dt.timedelta(days=DEFAULT_DAYS):
            raise ValidationFailed("the date range may not span more than 90 days", code="bad_date_range")
        stmt = stmt.where(Case.reported_at >= start, Case.reported_at <= end)
        if params.get("service_code"):
            stmt = stmt.where(Case.category_code.in_(params["service_code"].split(",")))
        status = params.get("status")
        if status:
            wanted = set(status.split(","))
            if not wanted <= {"open", "closed"}:
                raise ValidationFailed("status must be open or closed", code="bad_status")
            if wanted == {"open"}:
                stmt = stmt.where(Case.state.in_(OPEN_STATES))
            elif wanted == {"closed"}:
                stmt = stmt.where(Case.state.not_in(OPEN_STATES))
    rows = session.scalars(stmt.order_by(Case.reported_at.desc()).limit(MAX_ROWS)).all()
    depts = department_names(session)
    ext = params.get("extensions") == "true"
    return [request_view(session, c, base_url=base_url, depts=depts, extensions=ext) for c in rows]


def get_request(session: Session, *, number: str, base_url: str, extensions: bool) -> list[dict[str, Any]]:
    """GET requests/{id}: one public case (:mod:`zhili.cases.public`)."""
    case = session.scalar(select(Case).where(Case.number == number, public.public_filter(open_only=False)))
    if case is None:
        raise NotFound(f"service_request_id {number} not found", code="request_not_found")
    return [request_view(session, case, base_url=base_url, depts=department_names(session), extensions=extensions)]


def token_lookup(session: Session, *, token: str) -> list[dict[str, Any]]:
    """GET tokens/{token}: requests are created synchronously, so the token is the request id itself."""
    case = session.scalar(select(Case).where(Case.number == token, public.public_filter(open_only=False)))
    if case is None:
        raise NotFound(f"token {token} not found", code="token_not_found")
    return [{"service_request_id": case.number, "token": token}]


def public_media(session: Session, *, attachment_id: uuid.UUID) -> Attachment:
    """An image attached to a public case (for media_url)."""
    att = session.get(Attachment, attachment_id)
    if att is None or att.case_id is None or not att.content_type.startswith("image/"):
        raise NotFound("media not found")
    case = session.get(Case, att.case_id)
    if case is None or not public.is_public_case(case, open_only=False):
        raise NotFound("media not found")
    return att


def _parse_date(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        d = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(f"{name} must be an ISO 8601 date", code="bad_date") from exc
    return from_local(d)


def status_for(exc: DomainError) -> int:
    """Open311 only knows 400, 403 and 404."""
    return exc.status if exc.status in (400, 403, 404) else 400
