"""Mapping-template pages (映射模板, ``/console/hub/templates``): the list, a template as a readable table with its
versions, the editor (one form row per field mapping; HTMX adds rows), JSON export and import, and the preview of a
sample file — nothing written. Everything goes through :mod:`zhili.datahub.templates`."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from zhili.core.db import roll_back_refused
from zhili.core.errors import Conflict, DomainError, Forbidden, ValidationFailed
from zhili.core.security import Perm
from zhili.datahub import templates
from zhili.datahub.convert import EXCEL_SERIAL
from zhili.datahub.mapping import ATTRIBUTE_KINDS, TemplateSpec, describe_spec
from zhili.datahub.models import Source, Target
from zhili.datahub.standard import ATTRIBUTE_PREFIX, FIELDS, KINDS, fields
from zhili.http.bodylimit import MARGIN, body_limit
from zhili.http.deps import Db
from zhili.web import casepages as cp
from zhili.web import messages_hub_templates  # noqa: F401  (registers the UI text)
from zhili.web.deps import PageUser
from zhili.web.pages_hub import HubReader
from zhili.web.render import redirect, render, tr

router = APIRouter()
BASE = "/console/hub/templates"
ATTR = "__attr__"
ORIGINS = ("column", "columns", "coalesce", "constant")
IMPORT_MAX_BYTES = 512 * 1024
SERIAL_SHOWN = "Excel序列号"  # how the editor writes the ``excel_serial`` date format


def _admin(request: Request, pu: PageUser) -> None:
    if not pu.principal.can(Perm.hub_admin):
        raise Forbidden(tr(request, "hub_templates.edit_forbidden"), code="hub_admin_only")


def _source_titles(session: Any, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return {s.id: s.title for s in session.scalars(select(Source).where(Source.id.in_(ids)))}


# -- editor rows: a spec's field mappings as form rows and back ---------------------------------------------------


def _row_of(fm: dict[str, Any], key: set[str]) -> dict[str, Any]:
    field = fm.get("field", "")
    is_attr = field.startswith(ATTRIBUTE_PREFIX)
    if fm.get("constant") is not None:
        origin, source = "constant", str(fm["constant"])
    elif fm.get("columns"):
        origin, source = ("coalesce" if fm.get("coalesce") else "columns"), "|".join(fm["columns"])
    else:
        origin, source = "column", fm.get("column") or ""
    split = fm.get("split") or {}
    index = split.get("index", 0)
    keep = {k: fm[k] for k in ("strip", "normalise") if k in fm}
    return {
        "idx": uuid.uuid4().hex[:8], "field": ATTR if is_attr else field,
        "attr": field.removeprefix(ATTRIBUTE_PREFIX) if is_attr else "", "origin": origin, "source": source,
        "join": fm.get("join", " ") if origin == "columns" else "", "split_sep": split.get("sep", ""),
        "split_index": "" if not split else str(index + 1 if index >= 0 else index),
        "vmap": "\n".join(f"{k}={'' if v is None else v}" for k, v in (fm.get("value_map") or {}).items()),
        "vmap_default": fm.get("value_map_default", "keep"), "dates": "|".join(SERIAL_SHOWN if p == EXCEL_SERIAL else p
                                                            for p in fm.get("date_formats") or []),
        "required": "" if fm.get("required") is None else ("yes" if fm["required"] else "no"),
        "default": "" if fm.get("default") is None else str(fm["default"]), "kind": fm.get("kind") or "",
        "key": field in key, "keep": json.dumps(keep) if keep else "",
    }


def _blank_row() -> dict[str, Any]:
    return _row_of({}, set())


def _mapping_from_form(request: Request, form: FormData) -> tuple[dict[str, Any], dict[str, Any], bool, list[str]]:
    """One editor row as posted (to show again on an error) and as a field mapping, whether it is a key field,
    and the problems found before the spec is checked."""
    def get(name: str, limit: int = 4000) -> str:
        return cp.text(form, name, limit)

    row: dict[str, str] = {
           "idx": "edit", "field": get("field", 100), "attr": get("attr", 60), "origin": get("origin", 10),
           "source": get("source"), "join": str(form.get("join") or "")[:20], "split_sep": get("split_sep", 20),
           "split_index": get("split_index", 6), "vmap": get("vmap", 20000), "vmap_default": get("vmap_default", 6),
           "dates": get("dates", 1000), "required": get("required", 3), "default": get("default", 200),
           "kind": get("kind", 10), "key": "1" if form.get("key") else "", "keep": get("keep", 200)}
    problems: list[str] = []
    if not row["field"]:
        problems.append(tr(request, "hub_templates.choose_field_error"))
    if row["field"] == ATTR and not row["attr"]:
        problems.append(tr(request, "hub_templates.no_attr"))
    field = ATTRIBUTE_PREFIX + row["attr"] if row["field"] == ATTR else row["field"]
    fm: dict[str, Any] = {"field": field}
    origin = row["origin"] if row["origin"] in ORIGINS else "column"
    if origin == "constant":
        fm["constant"] = row["source"]
    elif origin == "column":
        fm["column"] = row["source"]
    else:
        fm["columns"] = [c.strip() for c in row["source"].split("|") if c.strip()]
        if origin == "coalesce":
            fm["coalesce"] = True
        else:
            fm["join"] = str(row["join"]).replace("\\n", "\n")
    if row["split_sep"]:
        try:
            index = int(row["split_index"] or "1")
            if index == 0:
                raise ValueError
            fm["split"] = {"sep": row["split_sep"], "index": index - 1 if index > 0 else index}
        except ValueError:
            problems.append(tr(request, "hub_templates.bad_index"))
    vmap: dict[str, Any] = {}
    for line in str(row["vmap"]).splitlines():
        if "=" in line:
            src, _, std = line.rpartition("=")
            vmap[src.strip()] = std.strip() or None
    if vmap:
        fm["value_map"] = vmap
        if row["vmap_default"] in ("null", "error"):
            fm["value_map_default"] = row["vmap_default"]
    if row["dates"]:
        fm["date_formats"] = [EXCEL_SERIAL if p.strip().casefold() in (SERIAL_SHOWN.casefold(), EXCEL_SERIAL)
                              else p.strip() for p in row["dates"].split("|") if p.strip()]
    if row["required"] in ("yes", "no"):
        fm["required"] = row["required"] == "yes"
    if row["default"]:
        fm["default"] = row["default"]
    if row["kind"] and row["field"] == ATTR:
        fm["kind"] = row["kind"]
    if row["keep"]:
        try:
            kept = json.loads(row["keep"])
            fm.update({k: kept[k] for k in ("strip", "normalise") if isinstance(kept, dict) and k in kept})
        except ValueError:
            pass
    return {**row, "key": bool(row["key"])}, fm, bool(row["key"]), problems


# -- pages -------------------------------------------------------------------------------------------------------


def _list(request: Request, session: Any, pu: PageUser, *, errors: dict[str, str] | None = None,
          values: dict[str, Any] | None = None, status: int = 200) -> Response:
    rows = templates.list_templates(session, principal=pu.principal)
    titles = _source_titles(session, {r.source_id for r in rows if r.source_id})
    return render(request, "hub/templates.html", {
        "templates": rows, "source_titles": titles, "can_admin": pu.principal.can(Perm.hub_admin),
        "targets": [t.value for t in Target], "errors": errors or {},
        "values": values or {"target": "cases"},
    }, status=status)


@router.get(BASE)
def template_list(request: Request, session: Db, pu: HubReader) -> Response:
    return _list(request, session, pu)


def _starter_spec(target: Target) -> dict[str, Any]:
    """A spec mapping the target's required fields from columns named by their Chinese labels."""
    req = [f for f in FIELDS[target] if f.required]
    return {"target": target.value, "fields": [{"field": f.key, "column": f.label} for f in req]}


@router.post(BASE)
def template_create(request: Request, session: Db, pu: HubReader, form: cp.PostedForm) -> Response:
    _admin(request, pu)
    values = {"name": cp.text(form, "name", 63).strip(), "title": cp.text(form, "title", 100).strip(),
              "target": cp.text(form, "target", 16), "based_on": cp.text(form, "based_on", 63)}
    try:
        if values["based_on"]:
            spec = templates.get_template(session, principal=pu.principal, name=values["based_on"]).spec
        elif values["target"] in Target.__members__:
            spec = _starter_spec(Target(values["target"]))
        else:
            raise ValidationFailed(tr(request, "hub.source_target"), code="hub_template_target")
        tmpl = templates.save_template(session, principal=pu.principal, name=values["name"], title=values["title"],
                                       spec=spec, new=True)
    except DomainError as exc:
        roll_back_refused(session)
        if isinstance(exc, Forbidden):
            raise
        return _list(request, session, pu, errors={"form": exc.message}, values=values, status=exc.status)
    return redirect(f"{BASE}/{tmpl.name}?msg=hub_template_created")


@router.post(f"{BASE}/import")
@body_limit(IMPORT_MAX_BYTES + MARGIN)
def template_import(request: Request, session: Db, pu: HubReader, form: cp.PostedForm) -> Response:
    _admin(request, pu)
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed(tr(request, "hub_templates.choose_file"), code="hub_template_file_required")
        try:
            data = json.loads(upload.file.read(IMPORT_MAX_BYTES + 1).decode("utf-8-sig"))
        except ValueError:
            raise ValidationFailed(tr(request, "hub_templates.import_bad"), code="hub_template_import_invalid") \
                from None
        tmpl = templates.import_template(session, principal=pu.principal, data=data)
    except DomainError as exc:
        roll_back_refused(session)
        if isinstance(exc, Forbidden):
            raise
        return _list(request, session, pu, errors={"import": exc.message}, status=exc.status)
    return redirect(f"{BASE}/{tmpl.name}?msg=hub_template_imported")


def _skip_texts(request: Request, spec: TemplateSpec) -> list[str]:
    out = []
    for cond in spec.skip_if:
        if cond.row:
            out.append(tr(request, "hub_templates.skip_row"))
        elif cond.empty:
            out.append(tr(request, "hub_templates.skip_empty", column=cond.column))
        elif cond.equals is not None:
            out.append(tr(request, "hub_templates.skip_equals", column=cond.column, value=cond.equals))
        else:
            out.append(tr(request, "hub_templates.skip_in", column=cond.column, values="、".join(cond.in_ or [])))
    return out


def _detail(request: Request, session: Any, pu: PageUser, name: str, *, version: int | None = None,
            posted: dict[str, Any] | None = None, posted_pos: str = "", settings: dict[str, Any] | None = None,
            errors: list[str] | None = None, preview: dict[str, Any] | None = None,
            preview_error: str | None = None, status: int = 200) -> Response:
    tmpl = templates.get_template(session, principal=pu.principal, name=name, version=version)
    spec = templates.stored_spec(tmpl)
    std = fields(spec.target)
    key = set(spec.key_fields())
    versions = templates.template_versions(session, principal=pu.principal, name=tmpl.name)
    rows = [_row_of(fm, key) for fm in tmpl.spec.get("fields", [])]
    new_row = _blank_row()
    if posted is not None:  # a refused edit: show what was posted where it was posted
        if posted_pos.isdigit() and int(posted_pos) < len(rows):
            rows[int(posted_pos)] = posted
        else:
            new_row = posted
    return render(request, "hub/template.html", {
        "tmpl": tmpl, "spec": spec, "readable": describe_spec(spec), "versions": versions,
        "source_title": _source_titles(session, {tmpl.source_id}).get(tmpl.source_id) if tmpl.source_id else None,
        "skip_texts": _skip_texts(request, spec), "std": list(std.values()),
        "can_edit": pu.principal.can(Perm.hub_admin) and tmpl.is_current, "rows": rows, "new_row": new_row,
        "field_options": [(f.key, f.label) for f in std.values()], "attr": ATTR, "attr_kinds": ATTRIBUTE_KINDS,
        "settings": settings or {"title": tmpl.title, "description": spec.description or "",
                                 "timezone": spec.timezone or "", "source_columns": "\n".join(spec.source_columns)},
        "errors": errors or [], "error_pos": posted_pos if posted is not None else None,
        "preview": preview, "preview_error": preview_error, "labels": {f.key: f.label for f in std.values()},
        **_option_labels(request),
    }, status=status)


def _option_labels(request: Request) -> dict[str, dict[str, str]]:
    """The names of the editor's choices (kinds, origins, what an unmapped value becomes), by code."""
    return {"kind_labels": {k: tr(request, f"hub_templates.kind_{k}") for k in KINDS},
            "option_labels": {**{o: tr(request, f"hub_templates.origin_{o}") for o in ORIGINS},
                              **{f"unmapped_{o}": tr(request, f"hub_templates.unmapped_{o}")
                                 for o in ("keep", "null", "error")}}}


@router.get(BASE + "/{name}")
def template_page(request: Request, session: Db, pu: HubReader, name: str,
                  version: Annotated[int | None, Query(ge=1, le=templates.MAX_VERSION)] = None) -> Response:
    return _detail(request, session, pu, name, version=version)


def _editable(request: Request, session: Any, pu: PageUser, name: str, form: FormData) -> Any:
    """The current version the posted editor was showing (a stale page is refused, not silently overwritten)."""
    _admin(request, pu)
    current = templates.get_template(session, principal=pu.principal, name=name)
    if cp.text(form, "version", 10) != str(current.version):
        raise Conflict(tr(request, "hub_templates.stale"), code="hub_template_stale")
    return current


def _save(request: Request, session: Any, pu: PageUser, current: Any, spec: dict[str, Any], title: str,
          on_error: dict[str, Any]) -> Response:
    try:
        saved = templates.save_template(session, principal=pu.principal, name=current.name, title=title, spec=spec,
                                        source_id=current.source_id)
    except DomainError as exc:
        roll_back_refused(session)
        if isinstance(exc, Forbidden):
            raise
        details = exc.details if isinstance(exc.details, list) else [exc.message]
        return _detail(request, session, pu, current.name, errors=[str(d) for d in details], status=exc.status,
                       **on_error)
    msg = "hub_template_saved" if saved.id != current.id else "hub_template_unchanged"
    return redirect(f"{BASE}/{saved.name}?msg={msg}")


@router.post(BASE + "/{name}")
def template_settings(request: Request, session: Db, pu: HubReader, name: str, form: cp.PostedForm) -> Response:
    """Save the template's title, purpose, time zone and expected columns (a new version)."""
    current = _editable(request, session, pu, name, form)
    settings = {"title": cp.text(form, "title", 100), "description": cp.text(form, "description", 2000),
                "timezone": cp.text(form, "timezone", 64), "source_columns": cp.text(form, "source_columns")}
    spec = dict(current.spec)
    for k in ("description", "timezone"):
        spec.pop(k, None)
        if settings[k]:
            spec[k] = settings[k]
    cols = [c.strip() for c in settings["source_columns"].splitlines() if c.strip()]
    spec.pop("source_columns", None)
    if cols:
        spec["source_columns"] = cols
    return _save(request, session, pu, current, spec, settings["title"] or current.title,
                 {"settings": settings})


@router.post(BASE + "/{name}/fields")
def template_field_save(request: Request, session: Db, pu: HubReader, name: str, form: cp.PostedForm) -> Response:
    """Save one field mapping (``pos``: the mapping it replaces; empty: a new one) as a new version."""
    current = _editable(request, session, pu, name, form)
    pos = cp.text(form, "pos", 4)
    row, fm, is_key, problems = _mapping_from_form(request, form)
    if problems:
        return _detail(request, session, pu, name, posted=row, posted_pos=pos, errors=problems, status=422)
    spec = json.loads(json.dumps(current.spec))
    mappings = spec["fields"]
    old_field = None
    if pos.isdigit() and int(pos) < len(mappings):
        old_field = mappings[int(pos)]["field"]
        mappings[int(pos)] = fm
    else:
        mappings.append(fm)
    key = list(templates.stored_spec(current).key_fields())
    key = [fm["field"] if k == old_field else k for k in key]
    if is_key and fm["field"] not in key:
        key.append(fm["field"])
    if not is_key and fm["field"] in key:
        key.remove(fm["field"])
    spec["key"] = key or None
    if "key" not in current.spec and key == TemplateSpec.model_validate({**current.spec, "key": None}).key_fields():
        spec.pop("key")
    if spec.get("key_optional"):
        spec["key_optional"] = [k for k in spec["key_optional"] if k in key]
    return _save(request, session, pu, current, spec, current.title, {"posted": row, "posted_pos": pos})


@router.post(BASE + "/{name}/fields/delete")
def template_field_delete(request: Request, session: Db, pu: HubReader, name: str, form: cp.PostedForm) -> Response:
    """Remove one field mapping (``pos``) as a new version."""
    current = _editable(request, session, pu, name, form)
    pos = cp.text(form, "pos", 4)
    spec = json.loads(json.dumps(current.spec))
    if not pos.isdigit() or int(pos) >= len(spec["fields"]):
        raise ValidationFailed(tr(request, "hub_templates.no_such_row"), code="hub_template_row")
    removed = spec["fields"].pop(int(pos))["field"]
    if spec.get("key") and removed in spec["key"]:
        spec["key"] = [k for k in spec["key"] if k != removed] or None
    if spec.get("key_optional"):
        spec["key_optional"] = [k for k in spec["key_optional"] if k != removed]
    return _save(request, session, pu, current, spec, current.title, {})


@router.get(BASE + "/{name}/export.json")
def template_export(session: Db, pu: HubReader, name: str,
                    version: Annotated[int | None, Query(ge=1, le=templates.MAX_VERSION)] = None) -> Response:
    data = templates.export_template(session, principal=pu.principal, name=name, version=version)
    body = json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="{data["name"]}-v{data["version"]}.json"'})


@router.post(BASE + "/{name}/preview")
@body_limit(templates.PREVIEW_MAX_BYTES + MARGIN)
def template_preview(request: Request, session: Db, pu: HubReader, name: str, form: cp.PostedForm,
                     version: Annotated[int | None, Query(ge=1, le=templates.MAX_VERSION)] = None) -> Response:
    """The first 20 rows of a sample file as they would be imported (nothing written); an HTMX request gets the
    result alone, a plain form post the whole page with the result."""
    tmpl, mapper = templates.compiled(session, principal=pu.principal, name=name, version=version)
    upload = form.get("file")
    result: dict[str, Any] | None = None
    error: str | None = None
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed(tr(request, "hub_templates.choose_file"), code="hub_preview_file_required")
        result = templates.preview_file(mapper, upload.file.read(templates.PREVIEW_MAX_BYTES + 1), upload.filename)
    except DomainError as exc:
        error = exc.message
    if request.headers.get("HX-Request"):
        std = fields(tmpl.target)
        return render(request, "hub/_template_preview.html", {
            "preview": result, "preview_error": error, "spec": templates.stored_spec(tmpl),
            "labels": {f.key: f.label for f in std.values()}})  # 200: htmx swaps the error in too
    return _detail(request, session, pu, name, version=version, preview=result, preview_error=error,
                   status=200 if result else 422)

