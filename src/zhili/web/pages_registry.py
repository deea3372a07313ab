"""Register management in the staff console (基础数据): the region tree with breadcrumbs and counts, lists of
buildings, households, persons and organisations with search, filters and Excel export, their pages, create and
edit forms, and Excel import with its results.

Every page reads through the register services, so everything is scoped to the caller's jurisdiction (a record
outside it is a 404) and personal data is masked; full ID and phone numbers only through the audited reveal.
Forms read typed text with :mod:`zhili.registry.fields` and the API's request schemas, and on refusal come back
with what was typed and a Chinese message next to each field concerned.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from zhili.core.db import roll_back_refused, utcnow
from zhili.core.errors import DomainError, Forbidden, NotFound, ValidationFailed
from zhili.core.jurisdiction import authorize
from zhili.core.schemas import MAX_PAGE
from zhili.core.security import Perm, Role
from zhili.core.validators import personal_number_kind
from zhili.datahub import register_import
from zhili.http.bodylimit import MARGIN, body_limit
from zhili.http.deps import Db, ReplicaDb, reads_only
from zhili.regions import service as regions
from zhili.regions.models import UnitLevel
from zhili.registry import excel, overview
from zhili.registry import service as registry
from zhili.registry.excel import MAX_IMPORT_BYTES
from zhili.registry.fields import (
    BUILDING_TYPES,
    HOUSEHOLD_USES,
    ORG_TYPES,
    PERSON_STATUSES,
    RESIDENT_TYPES,
    Field,
    FieldError,
    check_schema,
    coerce,
    column,
    error_field,
)
from zhili.registry.models import CARE_TAGS, RELATIONS, RegisterKind
from zhili.registry.schemas import (
    BuildingIn,
    BuildingPatch,
    HouseholdIn,
    HouseholdPatch,
    OrganisationIn,
    OrganisationPatch,
    PersonIn,
    PersonPatch,
)
from zhili.web import casepages as cp
from zhili.web import messages_registry  # noqa: F401  (registers this module's messages)
from zhili.web.deps import CurrentPageUser, PageUser
from zhili.web.render import redirect, render, tr

router = APIRouter(prefix="/console/registry")
BASE = "/console/registry"
REGISTRY_ROLES = frozenset({Role.community_staff, Role.street_staff, Role.command_centre, Role.leader, Role.admin})
PAGE_SIZE = cp.PAGE_SIZE
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Text = Annotated[str | None, Query(max_length=100)]
SINGULAR = {RegisterKind.buildings: "building", RegisterKind.households: "household", RegisterKind.persons: "person",
            RegisterKind.organisations: "organisation"}


def _gate(request: Request, pu: CurrentPageUser) -> PageUser:
    if pu.principal.role not in REGISTRY_ROLES:
        raise Forbidden(tr(request, "registry.forbidden"), code="wrong_portal")
    authorize(pu.principal, Perm.registry_read)
    return pu


Staff = Annotated[PageUser, Depends(_gate)]


def _can(pu: PageUser) -> dict[str, bool]:
    return {"can_write": pu.principal.can(Perm.registry_write), "can_reveal": pu.principal.can(Perm.pii_reveal)}


def _page(request: Request, pu: PageUser, template: str, context: Mapping[str, Any], *, status: int = 200
          ) -> Response:
    return render(request, template, {**_can(pu), "base": BASE, **context}, status=status)


# -- form inputs -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Input:
    """One input of a register form: its field, widget and (for choices) the label kind and values."""

    key: str
    widget: str = "text"  # text | textarea | number | select | tags | grid | entrance
    required: bool = False
    msg: str = ""  # catalogue key of the label (default registry.field.<key>)
    label_kind: str = ""
    options: tuple[str, ...] = ()
    maxlength: int = 255
    hint: str = ""

    @property
    def label_key(self) -> str:
        return self.msg or f"registry.field.{self.key}"


def _choice(key: str, label_kind: str, options: Mapping[str, str], **kw: Any) -> Input:
    return Input(key, "select", label_kind=label_kind, options=tuple(options), **kw)


_NOTE = Input("note", "textarea", maxlength=2000)
_LONLAT = (Input("lon", "number", hint="registry.hint.lonlat"), Input("lat", "number"))
FORMS: dict[tuple[RegisterKind, str], tuple[Input, ...]] = {
    (RegisterKind.buildings, "new"): (
        Input("grid_id", "grid", hint="registry.hint.grid_or_point"),
        Input("name", required=True, msg="registry.field.building_name", maxlength=100),
        Input("address", required=True), Input("compound", maxlength=100), Input("code", maxlength=64),
        _choice("building_type", "registry.building_type", BUILDING_TYPES),
        Input("floors", "number"), *_LONLAT, _NOTE),
    (RegisterKind.buildings, "edit"): (
        Input("name", required=True, msg="registry.field.building_name", maxlength=100),
        Input("address", required=True), Input("compound", maxlength=100),
        _choice("building_type", "registry.building_type", BUILDING_TYPES, required=True),
        Input("floors", "number"), *_LONLAT, _NOTE),
    (RegisterKind.households, "new"): (
        Input("entrance_id", "entrance"), Input("room", required=True, maxlength=32),
        Input("address", hint="registry.hint.household_address"),
        _choice("use", "use", HOUSEHOLD_USES), Input("area_m2", "number"), _NOTE),
    (RegisterKind.households, "edit"): (
        Input("room", required=True, maxlength=32), Input("address", required=True),
        _choice("use", "use", HOUSEHOLD_USES, required=True), Input("area_m2", "number"), _NOTE),
    (RegisterKind.persons, "new"): (
        Input("name", required=True, msg="registry.field.person_name", maxlength=64),
        Input("id_number", required=True, maxlength=18), Input("phone", maxlength=20),
        Input("grid_id", "grid", hint="registry.hint.person_grid"),
        _choice("relation", "relation", RELATIONS), Input("ethnicity", maxlength=32),
        _choice("resident_type", "resident_type", RESIDENT_TYPES),
        Input("care_tags", "tags", label_kind="care", options=tuple(CARE_TAGS)), _NOTE),
    (RegisterKind.persons, "edit"): (
        Input("name", required=True, msg="registry.field.person_name", maxlength=64),
        Input("phone", maxlength=20, hint="registry.hint.keep_phone"),
        _choice("relation", "relation", RELATIONS), Input("ethnicity", maxlength=32),
        _choice("resident_type", "resident_type", RESIDENT_TYPES, required=True),
        Input("care_tags", "tags", label_kind="care", options=tuple(CARE_TAGS)),
        _choice("status", "registry.person_status", PERSON_STATUSES, required=True), _NOTE),
    (RegisterKind.organisations, "new"): (
        Input("name", required=True, msg="registry.field.org_name", maxlength=200),
        Input("credit_code", maxlength=18), _choice("org_type", "registry.org_type", ORG_TYPES),
        Input("industry", maxlength=64), Input("address", required=True),
        Input("grid_id", "grid", hint="registry.hint.grid_or_point"), Input("legal_rep", maxlength=64),
        Input("contact_name", maxlength=64), Input("contact_phone", maxlength=20),
        Input("employees", "number"), *_LONLAT),
    (RegisterKind.organisations, "edit"): (
        Input("name", required=True, msg="registry.field.org_name", maxlength=200),
        _choice("org_type", "registry.org_type", ORG_TYPES, required=True), Input("industry", maxlength=64),
        Input("address", required=True), Input("legal_rep", maxlength=64), Input("contact_name", maxlength=64),
        Input("contact_phone", maxlength=20, hint="registry.hint.keep_phone"),
        Input("employees", "number"), *_LONLAT),
}
MODELS: dict[tuple[RegisterKind, str], type[BaseModel]] = {
    (RegisterKind.buildings, "new"): BuildingIn, (RegisterKind.buildings, "edit"): BuildingPatch,
    (RegisterKind.households, "new"): HouseholdIn, (RegisterKind.households, "edit"): HouseholdPatch,
    (RegisterKind.persons, "new"): PersonIn, (RegisterKind.persons, "edit"): PersonPatch,
    (RegisterKind.organisations, "new"): OrganisationIn, (RegisterKind.organisations, "edit"): OrganisationPatch,
}
# Masked personal data is never put back into a form: left empty, it stays as it is.
KEEP_WHEN_EMPTY = frozenset({"phone", "contact_phone"})


def _field(kind: RegisterKind, key: str) -> Field:
    if key.endswith("_id"):
        return Field(key, key, "uuid")
    if key == "status":
        return Field(key, "状态", "choice", choices=PERSON_STATUSES)
    return column(kind, key)


def _typed(form: FormData, inputs: Sequence[Input]) -> dict[str, Any]:
    """What was typed, as the form shows it again."""
    return {i.key: [v for v in form.getlist(i.key) if isinstance(v, str)] if i.widget == "tags"
            else cp.text(form, i.key, i.maxlength) for i in inputs}


def _read(request: Request, kind: RegisterKind, inputs: Sequence[Input], typed: Mapping[str, Any]
          ) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed text as the service's values, and the Chinese error of every field that cannot be read."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for i in inputs:
        try:
            data[i.key] = coerce(_field(kind, i.key), typed[i.key])
        except FieldError as exc:
            errors[i.key] = exc.message
            continue
        if i.required and data[i.key] in (None, []):
            errors[i.key] = tr(request, "registry.required")
    return data, errors


@dataclass
class FormPage:
    """A create or edit form as rendered: where it posts, what it shows, what went wrong."""

    kind: RegisterKind
    mode: str
    action: str
    back: str
    values: dict[str, Any]
    errors: dict[str, str]
    error: str | None = None
    hidden: dict[str, str] | None = None
    context: dict[str, Any] | None = None


def _render_form(request: Request, session: Any, pu: PageUser, fp: FormPage, *, status: int = 200) -> Response:
    inputs = FORMS[(fp.kind, fp.mode)]
    ctx: dict[str, Any] = {"kind": fp.kind.value, "mode": fp.mode, "inputs": inputs, "values": fp.values,
                           "errors": fp.errors, "error": fp.error, "action": fp.action, "back": fp.back,
                           "hidden": fp.hidden or {}, "grids": [], "entrances": [], **(fp.context or {})}
    if any(i.widget == "grid" for i in inputs):
        ctx["grids"], _ = regions.list_units(session, principal=pu.principal, level=UnitLevel.grid, page_size=2000)
    return _page(request, pu, "console/registry/form.html", ctx, status=status)


def _submit(request: Request, session: Any, pu: PageUser, fp: FormPage, form: FormData,
            save: Callable[[dict[str, Any]], Any], detail: Callable[[Any], str]) -> Response:
    """Read, validate (field rules, then the API's schema, then the service) and save; or show the form again."""
    _writer(pu)
    inputs = FORMS[(fp.kind, fp.mode)]
    fp.values = _typed(form, inputs)
    data, errors = _read(request, fp.kind, inputs, fp.values)
    if fp.mode == "edit":
        data = {k: v for k, v in data.items() if not (k in KEEP_WHEN_EMPTY and v is None)}
    else:
        data = {k: v for k, v in data.items() if v is not None} | dict(fp.context or {}).get("fixed", {})
    if not errors:
        parsed, errors = check_schema(MODELS[(fp.kind, fp.mode)], data, patch=fp.mode == "edit")
    status = 422
    if not errors:
        try:
            saved = save(parsed)
        except DomainError as exc:
            roll_back_refused(session)
            status = exc.status
            key = error_field(fp.kind, exc)
            if key and any(i.key == key for i in inputs):
                errors[key] = exc.message
            else:
                fp.error = exc.message
        else:
            return redirect(detail(saved) + "?msg=registry_saved")
    fp.errors = errors
    fp.error = fp.error or tr(request, "registry.form_invalid")
    return _render_form(request, session, pu, fp, status=status)


def _writer(pu: PageUser) -> None:
    authorize(pu.principal, Perm.registry_write)


def _version(form: FormData) -> int | None:
    raw = cp.text(form, "version", 12)
    return int(raw) if raw.isdigit() else None


def _value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, list):
        return list(v)
    return str(getattr(v, "value", v))


def _initial(obj: Any, inputs: Sequence[Input]) -> dict[str, Any]:
    return {i.key: "" if i.key in KEEP_WHEN_EMPTY else _value(getattr(obj, i.key, None)) for i in inputs}


# -- the region tree -------------------------------------------------------------------------------------------

@router.get("/")
def home(request: Request, session: Db, pu: Staff) -> Response:
    roots = overview.root_units(session, principal=pu.principal)
    if len(roots) == 1:
        return redirect(f"{BASE}/units/{roots[0].id}")
    return _page(request, pu, "console/registry/units.html", {"roots": roots})


@router.get("/units/{unit_id}")
def unit_page(request: Request, session: Db, pu: Staff, unit_id: uuid.UUID) -> Response:
    data = overview.unit_overview(session, principal=pu.principal, unit_id=unit_id)
    return _page(request, pu, "console/registry/unit.html", data)


# -- Excel: template, export, import ------------------------------------------------------------------------------
# Declared before the register pages, so that "/buildings/export.xlsx" is never taken for a building id.

def _xlsx(data: bytes, name: str) -> Response:
    return Response(data, media_type=excel.XLSX, headers={
        "Content-Disposition": f"attachment; filename=\"{name}\"", "Cache-Control": "no-store"})


@router.get("/{kind}/template.xlsx")
def template(session: Db, pu: Staff, kind: RegisterKind) -> Response:
    _writer(pu)
    return _xlsx(excel.template_workbook(session, principal=pu.principal, kind=kind), f"{kind.value}-template.xlsx")


@dataclass
class ListQuery:
    """A list page's search and filters, as typed (strings) and as the list service takes them."""

    q: str = ""
    unit_id: str = ""
    building_id: str = ""
    household_id: str = ""
    building_type: str = ""
    use: str = ""
    resident_type: str = ""
    care_tag: str = ""
    status: str = ""
    org_type: str = ""

    def typed(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}

    def holds_personal_number(self, kind: RegisterKind) -> bool:
        """True when the search box holds an ID number or phone: posted, never put in a URL (access logs)."""
        return kind == RegisterKind.persons and personal_number_kind(self.q.strip()) is not None

    def filters(self, kind: RegisterKind) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("unit_id", "building_id", "household_id"):
            value = getattr(self, key)
            if value:
                try:
                    out[key] = uuid.UUID(value)
                except ValueError:
                    raise ValidationFailed("筛选的单位或楼栋无效", code="bad_filter") from None
        choices = {"building_type": BUILDING_TYPES, "use": HOUSEHOLD_USES, "resident_type": RESIDENT_TYPES,
                   "care_tag": CARE_TAGS, "status": PERSON_STATUSES, "org_type": ORG_TYPES}
        for key, allowed in choices.items():
            value = getattr(self, key)
            if value and value in allowed:
                out[key] = value
        q = self.q.strip()
        if q and kind == RegisterKind.persons:
            out[personal_number_kind(q) or "name"] = q
        elif q and kind == RegisterKind.organisations and re.fullmatch(r"[0-9A-Za-z]{18}", q):
            out["credit_code"] = q
        elif q:
            out["q"] = q
        return {k: v for k, v in out.items() if k in excel.EXPORT_FILTERS[kind]}


def list_query(q: Text = None, unit_id: Text = None, building_id: Text = None, household_id: Text = None,
               building_type: Text = None, use: Text = None, resident_type: Text = None, care_tag: Text = None,
               status: Text = None, org_type: Text = None) -> ListQuery:
    return ListQuery(**{k: (v or "").strip() for k, v in locals().items()})


Filters = Annotated[ListQuery, Depends(list_query)]
_LISTS: dict[RegisterKind, Callable[..., tuple[list[Any], int]]] = {
    RegisterKind.buildings: registry.list_buildings, RegisterKind.households: registry.list_households,
    RegisterKind.persons: registry.list_persons, RegisterKind.organisations: registry.list_organisations,
}


def _list_page(request: Request, session: Any, pu: PageUser, kind: RegisterKind, query: ListQuery, page: int, *,
               error: str | None = None, status: int = 200, posted: bool = False) -> Response:
    personal = query.holds_personal_number(kind)
    if personal and not posted:  # an ID number or phone arrived in the URL: refuse rather than search (or echo)
        query = replace(query, q="")
        rows: list[Any] = []
        total, error, status, personal = 0, cp.NUMBER_IN_URL, 422, False
    else:
        try:
            rows, total = _LISTS[kind](session, principal=pu.principal, page=page, page_size=PAGE_SIZE,
                                       **query.filters(kind))
        except ValidationFailed as exc:  # a malformed phone number or filter: say so above an empty list
            rows, total, error, status = [], 0, error or exc.message, exc.status
    if kind == RegisterKind.persons:
        items = [registry.person_view(p) for p in rows]
    elif kind == RegisterKind.organisations:
        items = [registry.organisation_view(o) for o in rows]
    else:
        items = rows
    typed = query.typed()
    if personal:  # links carry the filters in their URL: not the posted number (an exact match is one page)
        typed.pop("q", None)
    return _page(request, pu, "console/registry/list.html", {
        "kind": kind.value, "rows": items, "total": total, "page": page, "pages": cp.pages(total, PAGE_SIZE),
        "query": query, "pager_query": (urlencode(typed) + "&") if typed else "",
        "export_url": None if personal else (f"{BASE}/{kind.value}/export.xlsx"
                                             + (f"?{urlencode(typed)}" if typed else "")),
        "search_method": "post" if kind == RegisterKind.persons else "get",
        "units": overview.unit_options(session, principal=pu.principal),
        "grid_names": overview.unit_names(session, principal=pu.principal, unit_ids=[r.grid_id for r in rows]),
        "error": error, "max_export": excel.MAX_EXPORT_ROWS, "care_tags": list(CARE_TAGS),
    }, status=status)


@router.get("/{kind}/export.xlsx")
def export(request: Request, session: ReplicaDb, pu: Staff, kind: RegisterKind, query: Filters) -> Response:
    if query.holds_personal_number(kind):
        return _list_page(request, session, pu, kind, query, 1)  # refused: a personal number in the URL
    try:
        data, _ = excel.export_workbook(session, principal=pu.principal, kind=kind, filters=query.filters(kind))
    except ValidationFailed as exc:
        roll_back_refused(session)
        return _list_page(request, session, pu, kind, query, 1, error=exc.message, status=exc.status)
    return _xlsx(data, f"{kind.value}-{utcnow():%Y%m%d%H%M}.xlsx")


def _import_page(request: Request, session: Any, pu: PageUser, *, kind: str = "", error: str | None = None,
                 status: int = 200) -> Response:
    batches = [register_import.register_import_view(session, imp=i, limit=0)
               for i in register_import.list_register_imports(session, principal=pu.principal)]
    return _page(request, pu, "console/registry/import.html", {
        "kinds": [k.value for k in RegisterKind], "kind": kind, "error": error, "batches": batches,
        "max_rows": excel.MAX_IMPORT_ROWS, "max_mb": excel.MAX_IMPORT_BYTES // 1024 // 1024}, status=status)


@router.get("/import")
def import_form(request: Request, session: Db, pu: Staff,
                kind: Annotated[str, Query(max_length=20)] = "") -> Response:
    _writer(pu)
    return _import_page(request, session, pu, kind=kind if kind in RegisterKind.__members__ else "")


@router.post("/import")
@body_limit(MAX_IMPORT_BYTES + MARGIN)
def import_upload(request: Request, session: Db, pu: Staff, form: cp.PostedForm) -> Response:
    """Import an uploaded workbook through the data hub (committed) and show its result; a file refused as a whole
    comes back with the reason."""
    _writer(pu)
    kind = cp.text(form, "kind", 20)
    upload = form.get("file")
    try:
        if kind not in RegisterKind.__members__:
            raise ValidationFailed(tr(request, "registry.import_choose_kind"), code="import_kind_required")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed(tr(request, "registry.import_choose_file"), code="import_file_required")
        imp = register_import.import_register_workbook(
            session, principal=pu.principal, kind=RegisterKind(kind),
            data=upload.file.read(excel.MAX_IMPORT_BYTES + 1), filename=upload.filename)
    except DomainError as exc:
        roll_back_refused(session)
        return _import_page(request, session, pu, kind=kind, error=exc.message, status=exc.status)
    return redirect(f"{BASE}/imports/{imp.id}")


@router.get("/imports/{batch_id}")
def import_result(request: Request, session: Db, pu: Staff, batch_id: uuid.UUID) -> Response:
    _writer(pu)
    imp = register_import.get_register_import(session, principal=pu.principal, import_id=batch_id)
    view = register_import.register_import_view(session, imp=imp)
    hub = pu.principal.can(Perm.hub_read)
    return _page(request, pu, "console/registry/batch.html", {
        "batch": view, "shown": register_import.SHOWN_QUARANTINED,
        "hub_quarantine": f"/console/hub/quarantine?{urlencode({'import': str(imp.id)})}" if hub else None,
        "hub_import": f"/console/hub/imports/{imp.id}" if hub else None})


@router.get("/imports/{batch_id}/rejected.xlsx")
def import_rejected(session: Db, pu: Staff, batch_id: uuid.UUID) -> Response:
    _writer(pu)
    data = register_import.quarantined_workbook(session, principal=pu.principal, import_id=batch_id)
    return _xlsx(data, f"rejected-{batch_id.hex[:8]}.xlsx")


# -- lists ----------------------------------------------------------------------------------------------------------

@router.get("/buildings")
def buildings(request: Request, session: Db, pu: Staff, query: Filters, page: Page = 1) -> Response:
    return _list_page(request, session, pu, RegisterKind.buildings, query, page)


@router.get("/households")
def households(request: Request, session: Db, pu: Staff, query: Filters, page: Page = 1) -> Response:
    return _list_page(request, session, pu, RegisterKind.households, query, page)


@router.get("/persons")
def persons(request: Request, session: Db, pu: Staff, query: Filters, page: Page = 1) -> Response:
    return _list_page(request, session, pu, RegisterKind.persons, query, page)


@router.post("/persons")
@reads_only
def persons_search(request: Request, session: Db, pu: Staff, form: cp.PostedForm) -> Response:
    """The person search posted from the list's search box, so an ID number or phone stays out of the URL."""
    query = ListQuery(**{k: cp.text(form, k, 100) for k in ListQuery.__dataclass_fields__})
    return _list_page(request, session, pu, RegisterKind.persons, query, 1, posted=True)


@router.get("/organisations")
def organisations(request: Request, session: Db, pu: Staff, query: Filters, page: Page = 1) -> Response:
    return _list_page(request, session, pu, RegisterKind.organisations, query, page)


# -- buildings ------------------------------------------------------------------------------------------------------

def _building_form(pu: PageUser, grid_id: str = "") -> FormPage:
    return FormPage(RegisterKind.buildings, "new", f"{BASE}/buildings/new", f"{BASE}/buildings",
                    values={"grid_id": grid_id, "building_type": "residential"}, errors={})


@router.get("/buildings/new")
def building_new(request: Request, session: Db, pu: Staff, grid_id: Text = None) -> Response:
    _writer(pu)
    return _render_form(request, session, pu, _building_form(pu, grid_id or ""))


@router.post("/buildings/new")
def building_create(request: Request, session: Db, pu: Staff, form: cp.PostedForm) -> Response:
    return _submit(request, session, pu, _building_form(pu), form,
                   lambda data: registry.create_building(session, principal=pu.principal, data=data),
                   lambda b: f"{BASE}/buildings/{b.id}")


@router.get("/buildings/{building_id}")
def building(request: Request, session: Db, pu: Staff, building_id: uuid.UUID) -> Response:
    b = registry.get_building(session, principal=pu.principal, building_id=building_id)
    rows, total = registry.list_households(session, principal=pu.principal, building_id=b.id, page_size=500)
    return _page(request, pu, "console/registry/building.html", {
        "b": b, "households": rows, "households_total": total,
        "entrances": registry.list_entrances(session, principal=pu.principal, building_id=b.id),
        "grid_name": overview.unit_names(session, principal=pu.principal, unit_ids=[b.grid_id]).get(b.grid_id)})


# The masked phone number an edit form shows beside its empty phone field (the stored one is never echoed back).
_MASKED_PHONE: dict[RegisterKind, Callable[[Any], str | None]] = {
    RegisterKind.persons: lambda p: registry.person_view(p)["phone"],
    RegisterKind.organisations: lambda o: registry.organisation_view(o)["contact_phone"],
}


def _entry(kind: RegisterKind, session: Any, pu: PageUser, obj_id: uuid.UUID) -> Any:
    """One register entry of ``kind`` in the viewer's jurisdiction (404 otherwise), through its service getter."""
    getter: Callable[..., Any] = getattr(registry, f"get_{SINGULAR[kind]}")
    return getter(session, principal=pu.principal, **{f"{SINGULAR[kind]}_id": obj_id})


def _edit_form(kind: RegisterKind, obj: Any, *, values: dict[str, Any] | None = None) -> FormPage:
    path = f"{BASE}/{kind.value}/{obj.id}"
    fp = FormPage(kind, "edit", f"{path}/edit", path, values=values or _initial(obj, FORMS[(kind, "edit")]),
                  errors={}, hidden={"version": str(obj.version)})
    if kind in _MASKED_PHONE:
        fp.context = {"masked_phone": _MASKED_PHONE[kind](obj)}
    return fp


def _update(kind: RegisterKind, session: Any, pu: PageUser, obj_id: uuid.UUID, form: FormData
            ) -> Callable[[dict[str, Any]], Any]:
    version = _version(form)
    fn: Callable[..., Any] = getattr(registry, f"update_{SINGULAR[kind]}")
    return lambda changes: fn(session, principal=pu.principal, changes={**changes, "version": version},
                              **{f"{SINGULAR[kind]}_id": obj_id})


@router.get("/{kind}/{obj_id}/edit")
def edit(request: Request, session: Db, pu: Staff, kind: RegisterKind, obj_id: uuid.UUID) -> Response:
    """The edit form of a building, household, person or organisation."""
    _writer(pu)
    return _render_form(request, session, pu, _edit_form(kind, _entry(kind, session, pu, obj_id)))


@router.post("/{kind}/{obj_id}/edit")
def update(request: Request, session: Db, pu: Staff, kind: RegisterKind, obj_id: uuid.UUID, form: cp.PostedForm
           ) -> Response:
    """Save an edit form (optimistic locking by the version the form was shown with)."""
    _writer(pu)  # before the lookup, as the form's page does: a refusal must not tell whether the record exists
    obj = _entry(kind, session, pu, obj_id)
    fp = _edit_form(kind, obj)
    fp.hidden = {"version": cp.text(form, "version", 12)}
    return _submit(request, session, pu, fp, form, _update(kind, session, pu, obj.id, form),
                   lambda saved: f"{BASE}/{kind.value}/{saved.id}")


# -- households -----------------------------------------------------------------------------------------------------

def _household_form(session: Any, pu: PageUser, building_id: uuid.UUID) -> FormPage:
    b = registry.get_building(session, principal=pu.principal, building_id=building_id)
    return FormPage(RegisterKind.households, "new", f"{BASE}/households/new?building_id={b.id}",
                    f"{BASE}/buildings/{b.id}", values={"use": "owner_occupied"}, errors={},
                    context={"building": b, "fixed": {"building_id": b.id},
                             "entrances": registry.list_entrances(session, principal=pu.principal,
                                                                  building_id=b.id)})


@router.get("/households/new")
def household_new(request: Request, session: Db, pu: Staff, building_id: uuid.UUID) -> Response:
    _writer(pu)
    return _render_form(request, session, pu, _household_form(session, pu, building_id))


@router.post("/households/new")
def household_create(request: Request, session: Db, pu: Staff, building_id: uuid.UUID, form: cp.PostedForm
                     ) -> Response:
    return _submit(request, session, pu, _household_form(session, pu, building_id), form,
                   lambda data: registry.create_household(session, principal=pu.principal, data=data),
                   lambda h: f"{BASE}/households/{h.id}")


def _household_page(request: Request, session: Any, pu: PageUser, household_id: uuid.UUID, *,
                    revealed: dict[uuid.UUID, dict[str, Any]] | None = None, error: str | None = None,
                    error_for: uuid.UUID | None = None, status: int = 200) -> Response:
    h = registry.get_household(session, principal=pu.principal, household_id=household_id)
    members, _ = registry.list_persons(session, principal=pu.principal, household_id=h.id, page_size=500)
    return _page(request, pu, "console/registry/household.html", {
        "h": h, "persons": [registry.person_view(p) for p in members], "revealed": revealed or {},
        "error": error, "error_for": error_for,
        "building": registry.get_building(session, principal=pu.principal, building_id=h.building_id),
        "grid_name": overview.unit_names(session, principal=pu.principal, unit_ids=[h.grid_id]).get(h.grid_id),
    }, status=status)


@router.get("/households/{household_id}")
def household(request: Request, session: Db, pu: Staff, household_id: uuid.UUID) -> Response:
    return _household_page(request, session, pu, household_id)


# -- persons ---------------------------------------------------------------------------------------------------------

def _person_form(session: Any, pu: PageUser, household_id: uuid.UUID | None) -> FormPage:
    context: dict[str, Any] = {}
    action, back = f"{BASE}/persons/new", f"{BASE}/persons"
    if household_id is not None:
        h = registry.get_household(session, principal=pu.principal, household_id=household_id)
        context = {"household": h, "fixed": {"household_id": h.id}, "no_grid": True}
        action, back = f"{action}?household_id={h.id}", f"{BASE}/households/{h.id}"
    return FormPage(RegisterKind.persons, "new", action, back, values={"resident_type": "registered"}, errors={},
                    context=context)


@router.get("/persons/new")
def person_new(request: Request, session: Db, pu: Staff, household_id: uuid.UUID | None = None) -> Response:
    _writer(pu)
    return _render_form(request, session, pu, _person_form(session, pu, household_id))


@router.post("/persons/new")
def person_create(request: Request, session: Db, pu: Staff, form: cp.PostedForm,
                  household_id: uuid.UUID | None = None) -> Response:
    return _submit(request, session, pu, _person_form(session, pu, household_id), form,
                   lambda data: registry.create_person(session, principal=pu.principal, data=data),
                   lambda p: f"{BASE}/persons/{p.id}")


def _person_page(request: Request, session: Any, pu: PageUser, person_id: uuid.UUID, *,
                 revealed: dict[str, Any] | None = None, error: str | None = None, status: int = 200) -> Response:
    p = registry.get_person(session, principal=pu.principal, person_id=person_id)
    home = registry.get_household(session, principal=pu.principal, household_id=p.household_id) \
        if p.household_id else None
    return _page(request, pu, "console/registry/person.html", {
        "p": registry.person_view(p), "home": home, "data": revealed, "reveal_error": error,
        "grid_name": overview.unit_names(session, principal=pu.principal, unit_ids=[p.grid_id]).get(p.grid_id),
    }, status=status)


@router.get("/persons/{person_id}")
def person(request: Request, session: Db, pu: Staff, person_id: uuid.UUID) -> Response:
    return _person_page(request, session, pu, person_id)


@router.post("/persons/{person_id}/reveal")
def reveal(request: Request, session: Db, pu: Staff, person_id: uuid.UUID, form: cp.PostedForm) -> Response:
    """One person's full ID and phone number; the service checks permission, jurisdiction and reason — the
    permission first, so a refused role learns nothing of whether the person exists."""
    back_to = cp.text(form, "from", 20)
    reason = cp.text(form, "reason", 500)
    htmx = bool(request.headers.get("hx-request"))
    try:
        data = registry.reveal_person(session, principal=pu.principal, person_id=person_id, reason=reason)
    except DomainError as exc:
        roll_back_refused(session)
        if isinstance(exc, Forbidden | NotFound):
            raise  # the error page, the same whether or not the person exists (the refusal stays recorded)
        household_id = registry.get_person(session, principal=pu.principal, person_id=person_id).household_id
        if htmx:
            return _page(request, pu, "partials/person_reveal.html",
                         {"p": {"id": person_id}, "data": None, "reveal_error": exc.message, "from": back_to},
                         status=exc.status)
        if back_to == "household" and household_id is not None:
            return _household_page(request, session, pu, household_id, error=exc.message, error_for=person_id,
                                   status=exc.status)
        return _person_page(request, session, pu, person_id, error=exc.message, status=exc.status)
    if htmx:
        return _page(request, pu, "partials/person_reveal.html",
                     {"p": {"id": person_id}, "data": data, "reveal_error": None, "from": back_to})
    household_id = registry.get_person(session, principal=pu.principal, person_id=person_id).household_id
    if back_to == "household" and household_id is not None:
        return _household_page(request, session, pu, household_id, revealed={person_id: data})
    return _person_page(request, session, pu, person_id, revealed=data)


# -- organisations ---------------------------------------------------------------------------------------------------

def _organisation_form() -> FormPage:
    return FormPage(RegisterKind.organisations, "new", f"{BASE}/organisations/new", f"{BASE}/organisations",
                    values={"org_type": "enterprise"}, errors={})


@router.get("/organisations/new")
def organisation_new(request: Request, session: Db, pu: Staff) -> Response:
    _writer(pu)
    return _render_form(request, session, pu, _organisation_form())


@router.post("/organisations/new")
def organisation_create(request: Request, session: Db, pu: Staff, form: cp.PostedForm) -> Response:
    return _submit(request, session, pu, _organisation_form(), form,
                   lambda data: registry.create_organisation(session, principal=pu.principal, data=data),
                   lambda o: f"{BASE}/organisations/{o.id}")


@router.get("/organisations/{organisation_id}")
def organisation(request: Request, session: Db, pu: Staff, organisation_id: uuid.UUID) -> Response:
    o = registry.get_organisation(session, principal=pu.principal, organisation_id=organisation_id)
    b = registry.get_building(session, principal=pu.principal, building_id=o.building_id) if o.building_id else None
    return _page(request, pu, "console/registry/organisation.html", {
        "o": registry.organisation_view(o), "building": b,
        "grid_name": overview.unit_names(session, principal=pu.principal, unit_ids=[o.grid_id]).get(o.grid_id)})


