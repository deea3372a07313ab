"""Manual indicators (填报): reading typed values and validating a form — each field by its kind, requiredness and
range, then the data set's rules (:mod:`zhili.core.expr` expressions over the fields, ``prev_<field>`` and
``period_month``). Pure functions over a :class:`DataSet`; the workflow is :mod:`zhili.evaluation.forms`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zhili.core.errors import ValidationFailed
from zhili.core.expr import EvalError, Expr, ExprError, compile_expr
from zhili.evaluation.models import DataSet
from zhili.evaluation.periods import Period

MAX_TEXT = 40  # a typed value longer than this is not a number

def fields_of(ds: DataSet) -> list[dict[str, Any]]:
    return [f for f in ds.fields if isinstance(f, dict) and f.get("code")]


# -- values and validation -----------------------------------------------------------------------------------------

def fmt(x: float | int | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def range_text(spec: Mapping[str, Any]) -> str:
    """“，0–200人” for a field with a range; empty without one."""
    lo, hi, unit = spec.get("min"), spec.get("max"), spec.get("unit") or ""
    if lo is not None and hi is not None:
        return f"，{fmt(lo)}–{fmt(hi)}{unit}"
    if lo is not None:
        return f"，不小于 {fmt(lo)}{unit}"
    if hi is not None:
        return f"，不大于 {fmt(hi)}{unit}"
    return ""


def _parse_one(spec: Mapping[str, Any], raw: Any) -> tuple[int | float | None, str | None]:
    """A typed value (None when blank) and the parse error, if any."""
    name, kind = spec.get("name") or spec["code"], spec.get("kind") or "float"
    if raw is None:
        return None, None
    if isinstance(raw, bool):
        return None, f"“{name}”应填写数字"
    if isinstance(raw, str):
        text = raw.strip().replace(",", "").replace("，", "")
        if not text:
            return None, None
        if len(text) > MAX_TEXT:
            return None, f"“{name}”应填写数字"
        try:
            num: float = float(text)
        except ValueError:
            return None, f"“{name}”应填写数字，“{raw.strip()[:20]}”不是数字"
    elif isinstance(raw, int | float):
        num = float(raw)
    else:
        return None, f"“{name}”应填写数字"
    if not math.isfinite(num) or abs(num) > 1e12:
        return None, f"“{name}”的数值超出允许范围"
    if kind == "int":
        if not num.is_integer():
            return None, f"“{name}”应为整数"
        return int(num), None
    return num, None


def parse_values(ds: DataSet, raw: Mapping[str, Any]) -> tuple[dict[str, int | float | None], dict[str, str]]:
    """The values of ``raw`` (strings or numbers) by field kind: (values of every field, blank → None; errors by
    field code for what is not a number or not a field of the data set)."""
    if not isinstance(raw, Mapping):
        raise ValidationFailed("填报数据应为“填报项: 数值”的对象", code="bad_values")
    specs = {f["code"]: f for f in fields_of(ds)}
    values: dict[str, int | float | None] = {}
    errors: dict[str, str] = {}
    for key in raw:
        if key not in specs:
            errors[str(key)[:40]] = f"“{str(key)[:40]}”不是“{ds.name}”的填报项"
    for code, spec in specs.items():
        v, err = _parse_one(spec, raw.get(code))
        values[code] = v
        if err:
            errors[code] = err
    return values, errors


_COMPILED: dict[tuple[str, frozenset[str]], Expr | ExprError] = {}


def _rule_expr(source: str, names: frozenset[str]) -> Expr:
    """A rule compiled once per (text, names) and kept; a rule that does not compile raises its ExprError."""
    key = (source, names)
    got = _COMPILED.get(key)
    if got is None:
        try:
            got = compile_expr(source, names=names)
        except ExprError as exc:
            got = exc
        if len(_COMPILED) > 2000:
            _COMPILED.clear()
        _COMPILED[key] = got
    if isinstance(got, ExprError):
        raise got
    return got


def rule_names(ds: DataSet) -> frozenset[str]:
    codes = [f["code"] for f in fields_of(ds)]
    return frozenset([*codes, *(f"prev_{c}" for c in codes), "period_month"])


@dataclass
class Check:
    """What validating a form found: errors by field code and the failed rules' messages."""

    fields: dict[str, str] = field(default_factory=dict)
    rules: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.fields and not self.rules

    def details(self) -> dict[str, Any]:
        return {"fields": dict(self.fields), "rules": list(self.rules)}


def validate(ds: DataSet, values: Mapping[str, Any], prev: Mapping[str, Any] | None, period: Period) -> Check:
    """Required fields, ranges, then the data set's rules (a rule reading a blank field is left to that field's
    own message)."""
    out = Check()
    for spec in fields_of(ds):
        code, name, unit = spec["code"], spec.get("name") or spec["code"], spec.get("unit") or ""
        v = values.get(code)
        if v is None:
            if spec.get("required", True):
                out.fields[code] = f"“{name}”为必填项"
            continue
        lo, hi = spec.get("min"), spec.get("max")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            if lo is not None and hi is not None:
                out.fields[code] = f"“{name}”应在 {fmt(lo)}–{fmt(hi)}{unit} 之间，填写的是 {fmt(v)}"
            elif lo is not None:
                out.fields[code] = f"“{name}”不能小于 {fmt(lo)}{unit}，填写的是 {fmt(v)}"
            else:
                out.fields[code] = f"“{name}”不能大于 {fmt(hi)}{unit}，填写的是 {fmt(v)}"
    names = rule_names(ds)
    env: dict[str, Any] = {c: values.get(c) for c in (f["code"] for f in fields_of(ds))}
    env.update({f"prev_{c}": (prev or {}).get(c) for c in (f["code"] for f in fields_of(ds))})
    env["period_month"] = period.first_month
    for rule in ds.rules:
        if not isinstance(rule, dict) or not rule.get("expr"):
            continue
        message = str(rule.get("message") or f"校验规则“{rule.get('code', '')}”未通过")
        try:
            expr = _rule_expr(str(rule["expr"]), names)
        except ExprError as exc:
            out.rules.append(f"校验规则“{rule.get('code', '')}”有误：{exc.message}，请联系管理员")
            continue
        if any(env.get(n) is None for n in expr.names if n in env and not n.startswith("prev_")
               and n != "period_month"):
            continue  # a blank field it reads: that field's own message says so
        try:
            held = expr.test(env)
        except EvalError as exc:
            out.rules.append(f"{message}（无法计算：{exc.message}）")
            continue
        if not held:
            out.rules.append(message)
    return out


def refusal(check: Check, *, submit: bool) -> ValidationFailed:
    parts = [*check.fields.values(), *check.rules]
    head = "未能上报，请先改正以下问题：" if submit else "填报数据有误："
    more = f"等 {len(parts)} 处问题" if len(parts) > 3 else ""
    return ValidationFailed(head + "；".join(parts[:3]) + more, code="form_invalid", details=check.details())

