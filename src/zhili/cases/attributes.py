"""A report's attributes against its category's declaration (the Open311 service definition).

A category declares its attributes as ``{"code", "datatype", "required", "values", "description"}``; datatypes are
Open311's: ``string``, ``text``, ``number``, ``datetime``, ``singlevaluelist``, ``multivaluelist``. Intake checks
every report's attributes here, whatever its channel (API, pages, Open311, visits): unknown codes are refused,
values are typed, list values come from the declared values, required ones are present and texts are bounded.
Attributes the platform itself adds (``visit_id``, ``_media_url``) arrive separately and are not the reporter's.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

from zhili.core.errors import ValidationFailed
from zhili.core.jsonbounds import check_free_json

STRING_MAX = 255
TEXT_MAX = 1000
LIST_MAX = 32


def _label(spec: Mapping[str, Any]) -> str:
    code = str(spec.get("code"))
    desc = spec.get("description")
    return f"{desc}（{code}）" if desc and desc != code else code


def _allowed(spec: Mapping[str, Any]) -> set[str]:
    return {str(x["key"]) if isinstance(x, Mapping) else str(x) for x in spec.get("values") or []}


def _bad(spec: Mapping[str, Any], what: str) -> ValidationFailed:
    return ValidationFailed(f"属性“{_label(spec)}”{what}", code="attribute_bad_type")


def _number(spec: Mapping[str, Any], v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise _bad(spec, "必须是数字")
    try:
        f = float(v)
    except ValueError as exc:
        raise _bad(spec, "必须是数字") from exc
    if not math.isfinite(f) or (isinstance(v, str) and len(v) > 32):
        raise _bad(spec, "必须是数字")
    return v


def _one(spec: Mapping[str, Any], dtype: str, v: Any) -> Any:
    if dtype == "number":
        return _number(spec, v)
    if not isinstance(v, str):
        raise _bad(spec, "必须是文本")
    if dtype == "datetime":
        try:
            dt.datetime.fromisoformat(v)
        except ValueError as exc:
            raise _bad(spec, "必须是日期时间（如 2026-01-02T08:00）") from exc
        return v
    limit = TEXT_MAX if dtype == "text" else STRING_MAX
    if len(v) > limit:
        raise ValidationFailed(f"属性“{_label(spec)}”不能超过{limit}字", code="attribute_too_long")
    return v


def validate_attributes(declared: Sequence[Mapping[str, Any]] | None, values: Any, *,
                        category: str) -> dict[str, Any]:
    """The report's ``values`` checked against ``declared`` (a multivaluelist given one value becomes a one-item
    list); a :class:`ValidationFailed` naming the offending attribute otherwise."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ValidationFailed("属性（attributes）必须是对象", code="attribute_bad_type")
    check_free_json(dict(values), name="属性（attributes）")
    defs = {str(a.get("code")): a for a in declared or [] if isinstance(a, Mapping) and a.get("code")}
    out: dict[str, Any] = {}
    for code, v in values.items():
        spec = defs.get(code)
        if spec is None:
            raise ValidationFailed(f"属性“{code}”不是类别“{category}”声明的属性", code="attribute_unknown")
        if v is None or v == "" or v == []:
            continue  # sent empty: as not sent
        dtype = str(spec.get("datatype") or "string")
        if dtype in ("singlevaluelist", "multivaluelist"):
            if dtype == "singlevaluelist" and not isinstance(v, str | int):
                raise _bad(spec, "只能选一项")
            items = v if isinstance(v, list) else [v]
            if len(items) > LIST_MAX or not all(isinstance(x, str | int) and not isinstance(x, bool) for x in items):
                raise _bad(spec, "的取值无效")
            allowed = _allowed(spec)
            outside = [str(x) for x in items if str(x) not in allowed]
            if outside:
                raise ValidationFailed(f"属性“{_label(spec)}”的取值“{outside[0][:32]}”不在可选项中",
                                       code="attribute_not_in_values")
            out[code] = items if dtype == "multivaluelist" else v
        else:
            out[code] = _one(spec, dtype, v)
    for code, spec in defs.items():
        if spec.get("required") and code not in out:
            raise ValidationFailed(f"请填写属性“{_label(spec)}”", code="attribute_required")
    return out
