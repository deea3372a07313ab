"""The IoT administrators' pages (iot:admin): the alert-rule editor (告警规则) with "用样例数据测试" — the rule as
typed, tried on a sample payload pre-filled from its device type's schema, answered by htmx with whether it fires
and why, or the expression's error with its position — the device types with their payload schemas as tables,
and the device Excel import. Thin routes over :mod:`zhili.iot.rules`, :mod:`zhili.iot.types` and the import
service; every form carries the CSRF token, a refused form comes back with what was typed and the Chinese reason."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from zhili.cases import taxonomy
from zhili.cases.models import Urgency
from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError, ValidationFailed
from zhili.http.bodylimit import MARGIN, body_limit
from zhili.http.deps import Db
from zhili.iot import devices as iot_devices
from zhili.iot import rules as iot_rules
from zhili.iot import types as iot_types
from zhili.iot.models import GroupBy, Severity, Window
from zhili.web import casepages as cp
from zhili.web import iotview as iv
from zhili.web.adminkit import form_values, invalid, number, query_text
from zhili.web.deps import PageUser
from zhili.web.render import redirect, render, tr

router = APIRouter(prefix="/console/iot")

RULE_FIELDS = ("name", "type_code", "kind", "condition", "window", "window_count", "window_s", "severity",
               "raises_case", "category_code", "urgency", "group_by", "close_on_recovery", "quiet_close_s",
               "enabled", "note")
SAMPLE_MAX = 20_000


def _types(session: Any, pu: PageUser) -> list[Any]:
    return sorted(iot_types.list_types(session, principal=pu.principal), key=lambda t: t.name)


def _sample_for(types: list[Any], type_code: str, kind: str) -> tuple[str, list[iv.SchemaField]]:
    dtype = next((t for t in types if t.code == type_code), None)
    if dtype is None:
        return "{}", []
    schema = iv.schema_for(dtype.schemas, kind)
    return iv.sample_payload(schema), iv.schema_fields(schema)


def _raw(rule: Any) -> dict[str, str]:
    def s(v: Any) -> str:
        return "" if v is None else str(getattr(v, "value", v))

    return {"name": rule.name, "type_code": rule.type_code, "kind": rule.kind or "any", "condition": rule.condition,
            "window": s(rule.window), "window_count": s(rule.window_count), "window_s": s(rule.window_s),
            "severity": s(rule.severity), "raises_case": "1" if rule.raises_case else "",
            "category_code": rule.category_code or "", "urgency": rule.urgency or "normal",
            "group_by": s(rule.group_by), "close_on_recovery": "1" if rule.close_on_recovery else "",
            "quiet_close_s": s(rule.quiet_close_s), "enabled": "1" if rule.enabled else "", "note": rule.note or ""}


def _spec(request: Request, raw: dict[str, str]) -> dict[str, Any]:
    """The rule as the service takes it, from the typed strings (numbers checked here, the rest by the service)."""
    def integer(key: str, label: str) -> int | None:
        v = number(request, raw[key], label, integer=True)
        return None if v is None else int(v)

    if raw["kind"] not in iv.RULE_KINDS:
        raise invalid(request, "admin.err.choice", field=tr(request, "iot.rule.kind"))
    return {"name": raw["name"], "type_code": raw["type_code"],
            "kind": None if raw["kind"] == "any" else raw["kind"], "condition": raw["condition"],
            "window": raw["window"] or "none", "window_count": integer("window_count", "iot.rule.window_count"),
            "window_s": integer("window_s", "iot.rule.window_s"), "severity": raw["severity"] or "warning",
            "raises_case": raw["raises_case"] == "1", "category_code": raw["category_code"] or None,
            "urgency": raw["urgency"] or "normal", "group_by": raw["group_by"] or "device",
            "close_on_recovery": raw["close_on_recovery"] == "1",
            "quiet_close_s": integer("quiet_close_s", "iot.rule.quiet_close_s"),
            "enabled": raw["enabled"] == "1", "note": raw["note"] or None}


def _rule_page(request: Request, session: Any, pu: PageUser, *, values: dict[str, str], sample: str | None = None,
               rule_id: uuid.UUID | None = None, saved_name: str = "", error: str | None = None,
               trial: iv.Trial | None = None, status: int = 200) -> Response:
    types = _types(session, pu)
    default_sample, fields = _sample_for(types, values.get("type_code", ""), values.get("kind", "any"))
    return render(request, "iot/rule_form.html", {
        "can_admin": True, "values": values, "rule_id": rule_id, "saved_name": saved_name, "error": error,
        "types": types, "rule_kinds": iv.RULE_KINDS, "windows": [w.value for w in Window],
        "severities": [s.value for s in Severity], "group_bys": [g.value for g in GroupBy],
        "urgencies": [u.value for u in Urgency], "category_groups": cp.category_groups(session),
        "sample": default_sample if sample is None else sample, "sample_fields": fields, "trial": trial,
    }, status=status)


@router.get("/rules")
def rules(request: Request, session: Db, pu: iv.AdminUser,
          type: Annotated[str | None, Query(max_length=32)] = None) -> Response:
    type_code = query_text(type, 32)
    listed = iot_rules.list_rules(session, principal=pu.principal, type_code=type_code or None)
    return render(request, "iot/rules.html", {
        "can_admin": True, "rules": listed, "types": _types(session, pu), "filters": {"type": type_code},
        "type_names": iot_types.type_names(session),
        "category_names": {c.code: c.name for c in taxonomy.list_categories(session, include_inactive=True)}})


@router.get("/rules/new")
def rule_new(request: Request, session: Db, pu: iv.AdminUser,
             type: Annotated[str | None, Query(max_length=32)] = None) -> Response:
    values = dict.fromkeys(RULE_FIELDS, "")
    values.update(type_code=query_text(type, 32), kind="any", window="none", severity="warning", urgency="normal",
                  group_by="device", close_on_recovery="1", enabled="1")
    return _rule_page(request, session, pu, values=values)


@router.get("/rules/sample")
def rule_sample(request: Request, session: Db, pu: iv.AdminUser,
                type_code: Annotated[str, Query(max_length=32)] = "",
                kind: Annotated[str, Query(max_length=16)] = "any") -> Response:
    """The sample box pre-filled for the chosen type and message kind (htmx, on changing either)."""
    sample, fields = _sample_for(_types(session, pu), type_code, kind if kind in iv.RULE_KINDS else "any")
    return render(request, "iot/_sample.html", {"sample": sample, "sample_fields": fields})


def _try(request: Request, session: Any, pu: PageUser, raw: dict[str, str], sample: str) -> iv.Trial:
    try:
        payload = json.loads(sample or "{}")
    except ValueError as exc:
        return iv.Trial(error=tr(request, "iot.test.bad_json", error=str(exc)), error_kind="payload")
    if not isinstance(payload, dict):
        return iv.Trial(error=tr(request, "iot.test.bad_json", error=type(payload).__name__), error_kind="payload")
    spec = {"type_code": raw["type_code"], "kind": None if raw["kind"] in ("", "any") else raw["kind"],
            "condition": raw["condition"], "window": raw["window"] or "none",
            "window_count": raw["window_count"], "window_s": raw["window_s"],
            "raises_case": raw["raises_case"] == "1"}
    answer = iot_rules.test_rule(session, principal=pu.principal, spec=spec, payload=payload)
    return iv.trial_of(answer, condition=raw["condition"], payload=payload)


@router.post("/rules/test")
def rule_test(request: Request, session: Db, pu: iv.AdminUser, form: cp.PostedForm,
              rule_id: Annotated[uuid.UUID | None, Query()] = None) -> Response:
    """"用样例数据测试": the fragment (htmx), or the whole editor with the answer (without JavaScript)."""
    raw = form_values(form, RULE_FIELDS, 2000)
    sample = cp.text(form, "sample", SAMPLE_MAX)
    trial = _try(request, session, pu, raw, sample)
    if request.headers.get("hx-request"):
        return render(request, "iot/_rule_test.html", {"trial": trial})
    saved = iot_rules.get_rule(session, principal=pu.principal, rule_id=rule_id).name if rule_id else ""
    return _rule_page(request, session, pu, values=raw, sample=sample, rule_id=rule_id, saved_name=saved,
                      trial=trial)


def _save(request: Request, session: Any, pu: PageUser, rule_id: uuid.UUID | None, form: FormData) -> Response:
    raw = form_values(form, RULE_FIELDS, 2000)
    try:
        spec = _spec(request, raw)
        if rule_id is None:
            rule = iot_rules.create_rule(session, principal=pu.principal, spec=spec)
        else:
            rule = iot_rules.update_rule(session, principal=pu.principal, rule_id=rule_id, changes=spec)
    except DomainError as exc:
        roll_back_refused(session)
        saved = iot_rules.get_rule(session, principal=pu.principal, rule_id=rule_id).name if rule_id else ""
        trial = None
        if exc.code == "expr_invalid":  # the condition's error with its place, in the test box as well
            trial = iv.trial_of({"error": exc.message, "error_at": exc.details}, condition=raw["condition"],
                                payload=None)
        return _rule_page(request, session, pu, values=raw, sample=cp.text(form, "sample", SAMPLE_MAX),
                          rule_id=rule_id, saved_name=saved, error=exc.message, trial=trial, status=exc.status)
    return redirect(f"/console/iot/rules/{rule.id}?msg=admin_saved")


@router.post("/rules")
def rule_create(request: Request, session: Db, pu: iv.AdminUser, form: cp.PostedForm) -> Response:
    return _save(request, session, pu, None, form)


@router.get("/rules/{rule_id}")
def rule_edit(request: Request, session: Db, pu: iv.AdminUser, rule_id: uuid.UUID) -> Response:
    rule = iot_rules.get_rule(session, principal=pu.principal, rule_id=rule_id)
    return _rule_page(request, session, pu, values=_raw(rule), rule_id=rule.id, saved_name=rule.name)


@router.post("/rules/{rule_id}")
def rule_save(request: Request, session: Db, pu: iv.AdminUser, rule_id: uuid.UUID, form: cp.PostedForm) -> Response:
    return _save(request, session, pu, rule_id, form)


@router.post("/rules/{rule_id}/enabled")
def rule_enable(request: Request, session: Db, pu: iv.AdminUser, rule_id: uuid.UUID,
                form: cp.PostedForm) -> Response:
    """停用 / 启用 a rule from the list."""
    iot_rules.update_rule(session, principal=pu.principal, rule_id=rule_id,
                          changes={"enabled": cp.text(form, "enabled", 1) == "1"})
    return redirect("/console/iot/rules?msg=admin_saved")


# -- device types -------------------------------------------------------------------------------------------

@router.get("/types")
def types_page(request: Request, session: Db, pu: iv.AdminUser) -> Response:
    per_type = iot_devices.device_figures(session, principal=pu.principal).by_type
    shown = [{"name": t.name, "code": t.code, "builtin": t.builtin, "heartbeat_s": t.heartbeat_s,
              "devices": per_type.get(t.id, 0), "kinds": iv.type_kinds(t.schemas),
              "topic": f"zhili/{{区县}}/{t.code}/{{设备编号}}/{{events|telemetry|heartbeat}}"}
             for t in _types(session, pu)]
    return render(request, "iot/types.html", {"can_admin": True, "types": shown})


# -- the device import --------------------------------------------------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _import_page(request: Request, *, result: Any = None, filename: str = "", error: str | None = None,
                 status: int = 200) -> Response:
    return render(request, "iot/import.html", {
        "can_admin": True, "result": result, "filename": filename, "error": error,
        "max_rows": iot_devices.IMPORT_MAX_ROWS, "max_mb": iot_devices.IMPORT_MAX_BYTES // 1024 // 1024},
        status=status)


@router.get("/import")
def import_form(request: Request, pu: iv.AdminUser) -> Response:
    return _import_page(request)


@router.get("/import/template.xlsx")
def import_template(session: Db, pu: iv.AdminUser) -> Response:
    data = iv.import_template(_types(session, pu))
    return Response(data, media_type=XLSX, headers={
        "Content-Disposition": "attachment; filename=\"iot-devices-template.xlsx\"", "Cache-Control": "no-store"})


@router.post("/import")
@body_limit(iot_devices.IMPORT_MAX_BYTES + MARGIN)
def import_upload(request: Request, session: Db, pu: iv.AdminUser, form: cp.PostedForm) -> Response:
    """Register the devices of an uploaded workbook and show the result on the spot: how many were registered,
    and every refused row with its reason (a file refused as a whole comes back with the reason)."""
    upload = form.get("file")
    filename = upload.filename if isinstance(upload, UploadFile) and upload.filename else ""
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed(tr(request, "iot.import.choose_file"), code="import_file_required")
        result = iot_devices.import_devices(session, principal=pu.principal,
                                            content=upload.file.read(iot_devices.IMPORT_MAX_BYTES + 1),
                                            filename=filename)
    except DomainError as exc:
        roll_back_refused(session)
        return _import_page(request, error=exc.message, status=exc.status)
    return _import_page(request, result=result, filename=filename[:100])
