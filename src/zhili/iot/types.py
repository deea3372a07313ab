"""Device types (设备类型) as data: their payload schemas per message kind and default heartbeat.

Reading them needs ``iot:read``; creating and changing them ``iot:admin`` (types are district-wide: no
jurisdiction). :func:`install_defaults` installs the shipped types and rules (:mod:`zhili.iot.catalog`) — the
demo seed and ``zhili iot install`` call it; it never overwrites one a district has changed.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.db import utcnow
from zhili.core.errors import Conflict, NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.iot import catalog
from zhili.iot.models import MESSAGE_KINDS, DeviceType, Rule
from zhili.iot.schema import check_schema

CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
KIND_NAMES = {"events": "事件", "telemetry": "遥测", "heartbeat": "心跳"}
HEARTBEAT_MIN, HEARTBEAT_MAX = 10, 7 * 86400


def list_types(session: Session, *, principal: Principal) -> list[DeviceType]:
    """Every device type, by code."""
    authorize(principal, Perm.iot_read)
    return list(session.scalars(select(DeviceType).order_by(DeviceType.code)))


def get_type(session: Session, *, principal: Principal, code: str) -> DeviceType:
    authorize(principal, Perm.iot_read)
    t = session.scalar(select(DeviceType).where(DeviceType.code == code))
    if t is None:
        raise NotFound("设备类型不存在")
    return t


def type_names(session: Session) -> dict[str, str]:
    """code → name of every type (for lists and pages)."""
    return dict(session.execute(select(DeviceType.code, DeviceType.name)).all())


def _check(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "name" in data:
        name = str(data["name"] or "").strip()
        if not 1 <= len(name) <= 100:
            raise ValidationFailed("类型名称应为 1–100 个字符", code="bad_name")
        out["name"] = name
    if "heartbeat_s" in data:
        hb = data["heartbeat_s"]
        if isinstance(hb, bool) or not isinstance(hb, int) or not HEARTBEAT_MIN <= hb <= HEARTBEAT_MAX:
            raise ValidationFailed(f"心跳间隔应为 {HEARTBEAT_MIN}–{HEARTBEAT_MAX} 秒", code="bad_heartbeat")
        out["heartbeat_s"] = hb
    if "schemas" in data:
        schemas = data["schemas"] or {}
        if not isinstance(schemas, dict) or set(schemas) - set(MESSAGE_KINDS):
            raise ValidationFailed("载荷格式只能按 events / telemetry / heartbeat 分别声明", code="bad_schema")
        for kind, sch in schemas.items():
            check_schema(sch, where=f"{KIND_NAMES[kind]}载荷格式")
        out["schemas"] = schemas
    return out


def create_type(session: Session, *, principal: Principal, code: str, name: str,
                schemas: dict[str, Any] | None = None, heartbeat_s: int = 300) -> DeviceType:
    """A new device type; ``code`` (lower-case letters, digits, ``_``) is also its topic segment."""
    authorize(principal, Perm.iot_admin)
    if not CODE_RE.match(code or ""):
        raise ValidationFailed("类型代码应为 2–32 位小写字母、数字或下划线，以字母开头", code="bad_code")
    if session.scalar(select(DeviceType.id).where(DeviceType.code == code)) is not None:
        raise Conflict("该类型代码已存在", code="type_exists")
    vals = _check({"name": name, "schemas": schemas or {}, "heartbeat_s": heartbeat_s})
    t = DeviceType(code=code, **vals)
    session.add(t)
    session.flush()
    audit.record(session, actor=principal.actor, action="iot.type_create", object_type="iot_device_type",
                 object_id=t.id, after={"code": code})
    return t


def update_type(session: Session, *, principal: Principal, code: str, changes: dict[str, Any],
                expected_version: int | None = None) -> DeviceType:
    """Change a type's name, schemas or heartbeat (``expected_version``: refuse a stale edit)."""
    authorize(principal, Perm.iot_admin)
    t = get_type(session, principal=principal, code=code)
    if expected_version is not None and expected_version != t.version:
        raise Conflict("设备类型已被他人修改，请刷新后重试", code="version_conflict")
    vals = _check(changes)
    before = {k: getattr(t, k) for k in vals}
    for k, v in vals.items():
        setattr(t, k, v)
    t.updated_at = utcnow()
    session.flush()
    audit.record(session, actor=principal.actor, action="iot.type_update", object_type="iot_device_type",
                 object_id=t.id, before={k: v for k, v in before.items() if k != "schemas"},
                 after={k: v for k, v in vals.items() if k != "schemas"})
    return t


def install_defaults(session: Session) -> tuple[int, int]:
    """Install the shipped types and rules that are missing (by code); (types added, rules added). Run by the
    system (seed, CLI): an existing type or rule — changed by the district or not — is left alone."""
    have = set(session.scalars(select(DeviceType.code)))
    nt = 0
    for spec in catalog.DEVICE_TYPES:
        if spec["code"] in have:
            continue
        session.add(DeviceType(code=spec["code"], name=spec["name"], schemas=spec["schemas"],
                               heartbeat_s=spec["heartbeat_s"], builtin=True))
        nt += 1
    rules = set(session.scalars(select(Rule.code).where(Rule.code.is_not(None))))
    nr = 0
    for r in catalog.DEFAULT_RULES:
        if r["code"] in rules:
            continue
        session.add(Rule(created_by="system", **r))
        nr += 1
    session.flush()
    if nt or nr:
        audit.record(session, actor=audit.SYSTEM, action="iot.install_defaults", object_type="iot_device_type",
                     after={"types": nt, "rules": nr})
    return nt, nr
