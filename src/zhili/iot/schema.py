"""Payload schemas: the small JSON-Schema subset a device type declares for each message kind, checked here.

A schema is JSON data (kept on :class:`~zhili.iot.models.DeviceType`), for example::

    {"type": "object",
     "properties": {"event": {"type": "string", "enum": ["alarm", "clear"]},
                    "smoke": {"type": "number", "minimum": 0, "maximum": 100}},
     "required": ["event"], "additionalProperties": true}

Keywords understood: ``type`` (``object``, ``string``, ``number``, ``integer``, ``boolean``, ``array``, ``null``, or
a list of them), ``properties``, ``required``, ``additionalProperties`` (true/false), ``enum``, ``minimum``,
``maximum``, ``minLength``, ``maxLength``, ``items``, ``maxItems``, ``description``, ``title``. Anything else in a
schema is refused when the type is saved (:func:`check_schema`), so a schema never silently means less than its
author thinks.

Every payload may carry the envelope fields ``mid`` (the message id, the idempotency key) and ``ts`` (when the
device sent it: epoch seconds or ISO 8601) whatever its schema says. :func:`validate` answers the first problem
in Chinese (``None`` when the payload is valid) — the reason kept on a rejected message.
"""

from __future__ import annotations

import math
from typing import Any

from zhili.core.errors import ValidationFailed

ENVELOPE = ("mid", "ts")
TYPES = ("object", "string", "number", "integer", "boolean", "array", "null")
_KEYWORDS = {"type", "properties", "required", "additionalProperties", "enum", "minimum", "maximum", "minLength",
             "maxLength", "items", "maxItems", "description", "title"}
TYPE_NAMES = {"object": "对象", "string": "文本", "number": "数值", "integer": "整数", "boolean": "布尔值",
              "array": "列表", "null": "空值"}
MAX_SCHEMA_DEPTH = 6


def check_schema(schema: Any, *, where: str = "载荷格式", depth: int = 0) -> None:
    """Refuse (``ValidationFailed``, code ``bad_schema``) a schema outside the subset."""
    def bad(msg: str) -> ValidationFailed:
        return ValidationFailed(f"{where}：{msg}", code="bad_schema")

    if depth > MAX_SCHEMA_DEPTH:
        raise bad("嵌套过深")
    if not isinstance(schema, dict):
        raise bad("应为对象")
    extra = set(schema) - _KEYWORDS
    if extra:
        raise bad(f"不支持的关键字 {'、'.join(sorted(extra))}")
    t = schema.get("type")
    if t is not None:
        ts = t if isinstance(t, list) else [t]
        if not ts or any(x not in TYPES for x in ts):
            raise bad(f"type 只能是 {'、'.join(TYPES)}")
    props = schema.get("properties")
    if props is not None:
        if not isinstance(props, dict):
            raise bad("properties 应为对象")
        for name, sub in props.items():
            if not isinstance(name, str) or not name or len(name) > 64:
                raise bad("字段名应为 1–64 个字符")
            check_schema(sub, where=f"{where}.{name}", depth=depth + 1)
    req = schema.get("required")
    if req is not None and (not isinstance(req, list) or not all(isinstance(r, str) for r in req)):
        raise bad("required 应为字段名列表")
    if "additionalProperties" in schema and not isinstance(schema["additionalProperties"], bool):
        raise bad("additionalProperties 只能是 true 或 false")
    enum = schema.get("enum")
    if enum is not None and (not isinstance(enum, list) or not enum or len(enum) > 200
                             or not all(isinstance(e, str | int | float | bool) or e is None for e in enum)):
        raise bad("enum 应为 1–200 个常量")
    for k in ("minimum", "maximum"):
        v = schema.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)):
            raise bad(f"{k} 应为数值")
    for k in ("minLength", "maxLength", "maxItems"):
        v = schema.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise bad(f"{k} 应为非负整数")
    if "items" in schema:
        check_schema(schema["items"], where=f"{where}[]", depth=depth + 1)


def _type_ok(t: str, v: Any) -> bool:
    if t == "object":
        return isinstance(v, dict)
    if t == "string":
        return isinstance(v, str)
    if t == "number":
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    if t == "integer":
        return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    if t == "boolean":
        return isinstance(v, bool)
    if t == "array":
        return isinstance(v, list)
    return v is None


def validate(schema: dict[str, Any] | None, payload: Any, *, path: str = "", top: bool = True) -> str | None:
    """The first way ``payload`` breaks ``schema`` (Chinese), or None. An empty/absent schema accepts any object."""
    where = f"字段 {path} " if path else ""
    if top and not isinstance(payload, dict):
        return "载荷应为 JSON 对象"
    if not schema:
        return None
    t = schema.get("type")
    if t is not None:
        ts = t if isinstance(t, list) else [t]
        if not any(_type_ok(x, payload) for x in ts):
            return f"{where}应为{'或'.join(str(TYPE_NAMES.get(x, x)) for x in ts)}"
    enum = schema.get("enum")
    if enum is not None and not any(payload == e and isinstance(payload, bool) == isinstance(e, bool)
                                    for e in enum):
        shown = "、".join(str(e) for e in enum[:10])
        return f"{where}取值不在允许范围（{shown}）"
    if isinstance(payload, int | float) and not isinstance(payload, bool):
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if lo is not None and payload < lo:
            return f"{where}不能小于 {lo}"
        if hi is not None and payload > hi:
            return f"{where}不能大于 {hi}"
    if isinstance(payload, str):
        if schema.get("maxLength") is not None and len(payload) > schema["maxLength"]:
            return f"{where}不能超过 {schema['maxLength']} 个字符"
        if schema.get("minLength") is not None and len(payload) < schema["minLength"]:
            return f"{where}不能少于 {schema['minLength']} 个字符"
    if isinstance(payload, list):
        if schema.get("maxItems") is not None and len(payload) > schema["maxItems"]:
            return f"{where}不能超过 {schema['maxItems']} 项"
        items = schema.get("items")
        if items:
            for i, v in enumerate(payload):
                why = validate(items, v, path=f"{path}[{i}]", top=False)
                if why:
                    return why
    if isinstance(payload, dict):
        props: dict[str, Any] = schema.get("properties") or {}
        for r in schema.get("required") or []:
            if payload.get(r) is None:
                return f"缺少必填字段 {path + '.' if path else ''}{r}"
        for k, v in payload.items():
            sub = props.get(k)
            if sub is None:
                if schema.get("additionalProperties") is False and not (top and k in ENVELOPE):
                    return f"不允许的字段 {path + '.' if path else ''}{k}"
                continue
            why = validate(sub, v, path=f"{path}.{k}" if path else k, top=False)
            if why:
                return why
    return None
