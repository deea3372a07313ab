"""What the IoT pages share: their permission gates (the 403 page for the wrong role), and the reading of the
data the services hand them — a type's payload schema as rows of fields, a sample payload made from it for the
rule tester, the tester's answer as the page shows it, a message's payload as one line of text. No queries here:
everything comes from :mod:`zhili.iot`'s services."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends

from zhili.core.security import Perm
from zhili.web import messages_iot  # noqa: F401  (registers the UI text)
from zhili.web.adminkit import perm_gate
from zhili.web.deps import PageUser

ReadUser = Annotated[PageUser, Depends(perm_gate(lambda pu: pu.principal.can(Perm.iot_read), "iot.forbidden"))]
AdminUser = Annotated[PageUser, Depends(perm_gate(lambda pu: pu.principal.can(Perm.iot_admin),
                                                  "iot.admin_forbidden"))]

STATUSES = ("active", "offline", "alarm", "disabled")  # as shown: 告警 is a device with an open alert
SEVERITIES = ("critical", "warning", "info")
ALERT_STATES = ("open", "closed")
ALERT_KINDS = ("rule", "offline")  # alert kinds with a catalogue name; others show their rule's name
MESSAGE_KINDS = ("events", "telemetry", "heartbeat")
RULE_KINDS = ("any", "events", "telemetry", "heartbeat")  # "any": events and telemetry (the rule's kind None)
FIELD_TYPES = ("number", "integer", "string", "boolean", "object", "array")
ENVELOPE = ("mid", "ts")  # every payload's message id and time: not a field a person fills in
PAYLOAD_SHOWN = 600  # characters of a message's payload shown in a table


def can_admin(pu: PageUser) -> bool:
    return pu.principal.can(Perm.iot_admin)


# -- a type's schema ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SchemaField:
    """One declared field of a payload, as the types page and the rule editor show it."""

    name: str
    type: str  # a key of FIELD_TYPES, or "any"
    title: str
    required: bool
    range: str


def _field_type(spec: dict[str, Any]) -> str:
    t = spec.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None) if len(t) <= 2 else None
    return t if t in FIELD_TYPES else "any"


def _range(spec: dict[str, Any]) -> str:
    if isinstance(spec.get("enum"), list):
        return "、".join(str(v) for v in spec["enum"][:30])
    lo, hi = spec.get("minimum"), spec.get("maximum")
    if lo is not None and hi is not None:
        return f"{lo} – {hi}"
    if lo is not None:
        return f"≥ {lo}"
    if hi is not None:
        return f"≤ {hi}"
    if spec.get("maxLength") is not None:
        return f"≤ {spec['maxLength']} 字"
    return ""


def schema_fields(schema: Any) -> list[SchemaField]:
    """The fields a payload schema declares (the envelope's ``mid``/``ts`` left out), required ones first."""
    if not isinstance(schema, dict):
        return []
    props = schema.get("properties")
    if not isinstance(props, dict):
        return []
    required = set(schema.get("required") or []) if isinstance(schema.get("required"), list) else set()
    out = [SchemaField(name=str(name), type=_field_type(spec), title=str(spec.get("description") or ""),
                       required=name in required, range=_range(spec))
           for name, spec in props.items() if isinstance(spec, dict) and name not in ENVELOPE]
    return sorted(out, key=lambda f: not f.required)


def type_kinds(schemas: Any) -> list[tuple[str, list[SchemaField]]]:
    """A type's message kinds with their fields, in the topic tree's order."""
    schemas = schemas if isinstance(schemas, dict) else {}
    return [(k, schema_fields(schemas.get(k))) for k in MESSAGE_KINDS if k in schemas] or \
        [(k, []) for k in MESSAGE_KINDS]


def _sample_value(spec: dict[str, Any]) -> Any:
    if isinstance(spec.get("enum"), list) and spec["enum"]:
        return spec["enum"][0]
    t = _field_type(spec)
    lo, hi = spec.get("minimum"), spec.get("maximum")
    if t in ("number", "integer"):
        if isinstance(lo, int | float) and isinstance(hi, int | float):
            v = lo + (hi - lo) / 10
        else:
            v = lo if isinstance(lo, int | float) else (hi if isinstance(hi, int | float) else 0)
        return int(v) if t == "integer" else round(float(v), 2)
    return {"boolean": False, "string": "", "object": {}, "array": []}.get(t)


def sample_payload(schema: Any) -> str:
    """A sample payload for the rule tester, made from the schema (every declared field with a plausible value),
    as indented JSON."""
    sample = {f.name: _sample_value((schema.get("properties") or {}).get(f.name) or {})
              for f in schema_fields(schema)} if isinstance(schema, dict) else {}
    return json.dumps(sample, ensure_ascii=False, indent=2)


def schema_for(schemas: Any, kind: str) -> Any:
    """The schema a rule on ``kind`` messages reads its sample against (events when it reads both)."""
    schemas = schemas if isinstance(schemas, dict) else {}
    return schemas.get("events" if kind == "any" else kind) or schemas.get("telemetry")


# -- the rule tester's answer -------------------------------------------------------------------------------

@dataclass
class Trial:
    """What the "用样例数据测试" box shows: fires or not and why, or an error (in the condition, with its column
    and the line it is on, or in the sample)."""

    fires: bool = False
    reasons: list[str] = field(default_factory=list)
    values: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    error_kind: str = "condition"  # or "payload"
    column: int | None = None
    condition: str | None = None  # the condition's line the error is on (to point at the column)


def shown(value: Any) -> str:
    """A payload value as the tester lists it."""
    if value is None:
        return "（无此字段）"
    if isinstance(value, bool):
        return "是（true）" if value else "否（false）"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list | str) else str(value)


def trial_of(answer: dict[str, Any], *, condition: str, payload: dict[str, Any] | None) -> Trial:
    """The tester's answer (:func:`zhili.iot.rules.test_rule`) as the page shows it."""
    if answer.get("error"):
        where = answer.get("error_at") or {}
        column = where.get("column") if isinstance(where, dict) else None
        line_no = where.get("line") if isinstance(where, dict) else None
        lines = condition.split("\n")
        line = lines[line_no - 1] if isinstance(line_no, int) and 1 <= line_no <= len(lines) else None
        return Trial(error=str(answer["error"]), column=column if isinstance(column, int) and column > 0 else None,
                     condition=line if isinstance(column, int) and line is not None else None)
    if answer.get("schema_error") and not answer.get("ok", True):
        return Trial(error=str(answer["schema_error"]), error_kind="payload")
    reasons = [str(answer.get("explain") or "")] if answer.get("explain") else []
    if answer.get("schema_error"):
        reasons.append(str(answer["schema_error"]))
    values = [(n, shown((payload or {}).get(n))) for n in answer.get("names") or [] if payload and n in payload]
    return Trial(fires=bool(answer.get("matched")), reasons=reasons, values=values)


def payload_text(payload: Any, raw: str | None) -> str:
    """A message's payload as one line (the received text when it was not JSON), cut for the table."""
    if payload is not None:
        text = json.dumps(payload, ensure_ascii=False, separators=(", ", ": "), default=str)
    else:
        text = raw or "—"
    return text if len(text) <= PAYLOAD_SHOWN else text[:PAYLOAD_SHOWN] + "…"


# -- the device import's template ---------------------------------------------------------------------------

TEMPLATE_COLUMNS = (("设备编号", "设备上报时使用的唯一编号（主题中的设备编号），字母、数字或 _ . : -"),
                    ("设备类型", "填写类型名称，如：烟感、智能门锁、井盖"),
                    ("设备名称", "如：金陵小区3幢1单元烟感"),
                    ("所属网格", "网格代码；不填时按经纬度自动定位"),
                    ("经度", "WGS-84 经度"), ("纬度", "WGS-84 纬度"), ("地址", "安装地址"),
                    ("产权单位", "产权或运维单位"), ("心跳间隔（秒）", "不填时取设备类型的默认值"), ("备注", ""))


def import_template(types: list[Any]) -> bytes:
    """The device import's workbook: the header row the import reads, a note under each column, and a second
    sheet listing the device types by name."""
    import io

    from openpyxl import Workbook
    from openpyxl.comments import Comment

    from zhili.core.xlsx import row_values

    wb = Workbook()
    ws = wb.active
    ws.title = "设备"
    ws.append(row_values(c for c, _ in TEMPLATE_COLUMNS))
    for i, (_, note) in enumerate(TEMPLATE_COLUMNS, start=1):
        cell = ws.cell(row=1, column=i)
        if note:
            cell.comment = Comment(note, "智理")
        ws.column_dimensions[cell.column_letter].width = 18
    sheet = wb.create_sheet("设备类型")
    sheet.append(row_values(("设备类型", "默认心跳间隔（秒）")))
    for t in types:
        sheet.append(row_values((t.name, t.heartbeat_s)))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
