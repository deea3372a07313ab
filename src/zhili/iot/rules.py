"""Alert rules (告警规则) as data: create, change, list, and "test this rule on a sample payload".

A rule reads one device type's messages (of one kind, or events and telemetry both) and holds a condition in the
safe expression language (:mod:`zhili.core.expr`). The condition sees:

* the payload's fields by name (``event``, ``level_m`` …; nested ones through ``get("a.b")``);
* the context: ``kind`` (events/telemetry/heartbeat), ``device_type``, ``device_id`` (the external id),
  ``device_name``, ``has_room``;
* for a door lock bound to a rental room, the rental register's verdict on the event
  (:func:`zhili.rental.locks.on_lock_event`): ``credential_known``, ``holder_kind`` (tenant / landlord / …),
  ``stay_active`` (the room has a registered stay), ``unknown_recent`` (unknown-credential unlocks lately).

Names outside these (the type's declared fields and the context) are refused when the rule is saved, so a typo
does not make a rule that silently never fires. Windows: ``none`` (every matching message), ``count`` (N matches
within S seconds), ``duration`` (the condition held for S seconds). Reading needs ``iot:read``, writing
``iot:admin``; every change is audited and bumps the rule's version.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases.models import Urgency
from zhili.cases.taxonomy import reportable_category
from zhili.core import audit
from zhili.core.db import utcnow
from zhili.core.errors import Conflict, NotFound, ValidationFailed
from zhili.core.expr import EvalError, Expr, ExprError, compile_expr
from zhili.core.jsonbounds import check_free_json
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.iot.models import MESSAGE_KINDS, DeviceType, GroupBy, Rule, Severity, Window
from zhili.iot.schema import validate

CONTEXT_NAMES = ("kind", "device_type", "device_id", "device_name", "has_room", "ts")
LOCK_NAMES = ("credential_known", "holder_kind", "stay_active", "unknown_recent")
SEVERITY_NAMES = {Severity.info: "提示", Severity.warning: "预警", Severity.critical: "严重"}
WINDOW_NAMES = {Window.none: "逐条", Window.counted: "计数窗口", Window.duration: "持续时长"}
GROUP_NAMES = {GroupBy.device: "按设备", GroupBy.building: "按楼栋"}
WINDOW_S_MAX = 30 * 86400
COUNT_MAX = 10_000
FIELDS = ("name", "type_code", "kind", "condition", "window", "window_count", "window_s", "severity",
          "raises_case", "category_code", "urgency", "case_attributes", "group_by", "close_on_recovery",
          "quiet_close_s", "enabled", "note")

_compiled: dict[tuple[uuid.UUID, int], Expr] = {}


def allowed_names(dtype: DeviceType | None, kind: str | None) -> set[str] | None:
    """The names a condition on ``dtype``'s ``kind`` messages may read; None when the type declares no fields."""
    if dtype is None:
        return None
    kinds = [kind] if kind else ["events", "telemetry"]
    names = set(CONTEXT_NAMES)
    if dtype.code == "door_lock":
        names.update(LOCK_NAMES)
    declared = False
    for k in kinds:
        sch = (dtype.schemas or {}).get(k)
        if sch:
            declared = True
            names.update((sch.get("properties") or {}).keys())
            if sch.get("additionalProperties", True) is not False and not sch.get("properties"):
                return None
    return names if declared else None


def compiled(rule: Rule) -> Expr:
    """The rule's condition compiled once per version (per process)."""
    key = (rule.id, rule.version)
    got = _compiled.get(key)
    if got is None:
        got = _compiled[key] = compile_expr(rule.condition)
        if len(_compiled) > 5000:
            _compiled.clear()
    return got


def _int(data: dict[str, Any], key: str, lo: int, hi: int, label: str) -> int | None:
    v = data.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValidationFailed(f"{label}应为 {lo}–{hi} 的整数", code="bad_rule")
    return v


def _check(session: Session, data: dict[str, Any]) -> dict[str, Any]:
    """A full rule spec checked and normalised (Chinese refusals)."""
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise ValidationFailed(f"未知的规则字段：{'、'.join(sorted(unknown))}", code="bad_rule")
    out: dict[str, Any] = {}
    name = str(data.get("name") or "").strip()
    if not 1 <= len(name) <= 100:
        raise ValidationFailed("规则名称应为 1–100 个字符", code="bad_rule")
    out["name"] = name
    dtype = session.scalar(select(DeviceType).where(DeviceType.code == data.get("type_code")))
    if dtype is None:
        raise ValidationFailed("请选择存在的设备类型", code="bad_rule")
    out["type_code"] = dtype.code
    kind = data.get("kind") or None
    if kind is not None and kind not in MESSAGE_KINDS:
        raise ValidationFailed("消息类型只能是 events、telemetry 或 heartbeat", code="bad_rule")
    out["kind"] = kind
    cond = data.get("condition")
    if not isinstance(cond, str):
        raise ValidationFailed("请填写触发条件", code="bad_rule")
    compile_expr(cond, names=allowed_names(dtype, kind))  # ExprError (a ValidationFailed) with the position
    out["condition"] = cond.strip()
    try:
        window = Window(data.get("window") or "none")
        severity = Severity(data.get("severity") or "warning")
        group_by = GroupBy(data.get("group_by") or "device")
        urgency = Urgency(data.get("urgency") or "normal")
    except ValueError as exc:
        raise ValidationFailed("窗口、级别、合并方式或紧急程度的取值无效", code="bad_rule") from exc
    out.update(window=window, severity=severity, group_by=group_by, urgency=urgency.value)
    out["window_count"] = _int(data, "window_count", 2, COUNT_MAX, "计数窗口的次数")
    out["window_s"] = _int(data, "window_s", 1, WINDOW_S_MAX, "窗口时长（秒）")
    if window == Window.counted and (out["window_count"] is None or out["window_s"] is None):
        raise ValidationFailed("计数窗口需要次数和时长（如 24 小时内 3 次）", code="bad_rule")
    if window == Window.duration and out["window_s"] is None:
        raise ValidationFailed("持续时长窗口需要时长（秒）", code="bad_rule")
    if window == Window.none:
        out["window_count"] = out["window_s"] = None
    elif window == Window.duration:
        out["window_count"] = None
    out["quiet_close_s"] = _int(data, "quiet_close_s", 60, WINDOW_S_MAX, "无新告警自动关闭的时长（秒）")
    out["raises_case"] = bool(data.get("raises_case", False))
    out["close_on_recovery"] = bool(data.get("close_on_recovery", True))
    out["enabled"] = bool(data.get("enabled", True))
    code = data.get("category_code") or None
    if out["raises_case"] and not code:
        raise ValidationFailed("转为事件的规则需要选择事件类别", code="bad_rule")
    if code:
        try:
            reportable_category(session, code=str(code))
        except NotFound as exc:
            raise ValidationFailed("所选事件类别不存在或已停用", code="bad_rule") from exc
    out["category_code"] = code
    out["case_attributes"] = check_free_json(dict(data.get("case_attributes") or {}), name="事件属性")
    note = data.get("note")
    out["note"] = str(note)[:2000] if note else None
    return out


def list_rules(session: Session, *, principal: Principal, type_code: str | None = None) -> list[Rule]:
    """Every rule (of one device type), by type and name."""
    authorize(principal, Perm.iot_read)
    stmt = select(Rule).order_by(Rule.type_code, Rule.name)
    if type_code:
        stmt = stmt.where(Rule.type_code == type_code)
    return list(session.scalars(stmt))


def get_rule(session: Session, *, principal: Principal, rule_id: uuid.UUID) -> Rule:
    authorize(principal, Perm.iot_read)
    r = session.get(Rule, rule_id)
    if r is None:
        raise NotFound("告警规则不存在")
    return r


def _spec(r: Rule) -> dict[str, Any]:
    return {k: getattr(r, k) for k in FIELDS}


def create_rule(session: Session, *, principal: Principal, spec: dict[str, Any]) -> Rule:
    """A new rule from its spec (the fields of :data:`FIELDS`)."""
    authorize(principal, Perm.iot_admin)
    vals = _check(session, spec)
    r = Rule(created_by=principal.username, **vals)
    session.add(r)
    session.flush()
    audit.record(session, actor=principal.actor, action="iot.rule_create", object_type="iot_rule", object_id=r.id,
                 after={"name": r.name, "type": r.type_code, "condition": r.condition})
    return r


def update_rule(session: Session, *, principal: Principal, rule_id: uuid.UUID, changes: dict[str, Any],
                expected_version: int | None = None) -> Rule:
    """Change a rule (any of its fields); the whole rule is checked again. Open alerts keep running under it."""
    authorize(principal, Perm.iot_admin)
    r = get_rule(session, principal=principal, rule_id=rule_id)
    if expected_version is not None and expected_version != r.version:
        raise Conflict("规则已被他人修改，请刷新后重试", code="version_conflict")
    before = _spec(r)
    vals = _check(session, {**before, **changes})
    for k, v in vals.items():
        setattr(r, k, v)
    r.updated_at = utcnow()
    session.flush()
    changed = {k: str(v) for k, v in vals.items() if before.get(k) != v}
    audit.record(session, actor=principal.actor, action="iot.rule_update", object_type="iot_rule", object_id=r.id,
                 before={k: str(before.get(k)) for k in changed}, after=changed)
    return r


def delete_rule(session: Session, *, principal: Principal, rule_id: uuid.UUID) -> None:
    """Remove a rule; its alerts stay (without their rule)."""
    authorize(principal, Perm.iot_admin)
    r = get_rule(session, principal=principal, rule_id=rule_id)
    audit.record(session, actor=principal.actor, action="iot.rule_delete", object_type="iot_rule", object_id=r.id,
                 before={"name": r.name, "condition": r.condition})
    session.delete(r)
    session.flush()


def sample_context(kind: str | None, dtype: DeviceType | None) -> dict[str, Any]:
    """The context names a sample is evaluated with when the tester gives none."""
    ctx: dict[str, Any] = {"kind": kind or "events", "device_type": dtype.code if dtype else None,
                           "device_id": "SAMPLE-0001", "device_name": "样例设备", "has_room": False, "ts": None}
    if dtype is not None and dtype.code == "door_lock":
        ctx.update(has_room=True, credential_known=False, holder_kind=None, stay_active=True, unknown_recent=0)
    return ctx


def test_rule(session: Session, *, principal: Principal, spec: dict[str, Any], payload: Any,
              context: dict[str, Any] | None = None) -> dict[str, Any]:
    """试运行: the rule (saved or not) on a sample payload — whether the payload passes its type's schema, what the
    condition evaluates to, and what the window makes of it. Writes nothing. Answers rather than raises for a bad
    condition or payload, so the editor can show the reason beside the field."""
    authorize(principal, Perm.iot_read)
    out: dict[str, Any] = {"ok": True, "schema_error": None, "error": None, "error_at": None, "value": None,
                           "matched": False, "names": [], "explain": ""}
    dtype = session.scalar(select(DeviceType).where(DeviceType.code == spec.get("type_code")))
    kind = spec.get("kind") or None
    try:
        expr = compile_expr(str(spec.get("condition") or ""), names=allowed_names(dtype, kind))
    except ExprError as exc:
        out.update(ok=False, error=exc.message, error_at=exc.details)
        return out
    out["names"] = sorted(expr.names)
    if not isinstance(payload, dict):
        out.update(ok=False, schema_error="样例载荷应为 JSON 对象")
        return out
    if dtype is not None:
        sch = (dtype.schemas or {}).get(kind or "events")
        out["schema_error"] = validate(sch, payload)
    env = {**sample_context(kind, dtype), **(context or {}), **payload}
    try:
        value = expr.evaluate(env)
    except EvalError as exc:
        out.update(ok=False, error=exc.message)
        return out
    out["value"] = value if isinstance(value, str | int | float | bool) or value is None else str(value)
    out["matched"] = bool(value)
    window = spec.get("window") or "none"
    if not out["matched"]:
        out["explain"] = "条件不成立：这条消息不会触发告警"
    elif window == "count":
        out["explain"] = (f"条件成立：{spec.get('window_s')} 秒内累计 {spec.get('window_count')} 条这样的消息"
                          "时触发告警")
    elif window == "duration":
        out["explain"] = f"条件成立：持续 {spec.get('window_s')} 秒仍成立时触发告警"
    else:
        out["explain"] = "条件成立：这条消息会触发告警" + ("并转为事件" if spec.get("raises_case") else "")
    if out["schema_error"]:
        out["explain"] = f"注意：样例不符合该类型的载荷格式（{out['schema_error']}），实际接收时会被拒收"
    return out
