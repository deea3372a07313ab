"""Sources (数据源): register, list, read and change the systems that feed the hub.

A source belongs to a unit (whose data it holds: the district for the 12345 archive, a street for a street's own
list); its path is the jurisdiction of everything imported from it. Staff see and import into the sources of
their own area; registering or changing a source needs ``hub:admin`` in that area. Every change is audited.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.core import audit, names
from zhili.core.errors import Conflict, ValidationFailed
from zhili.core.ids import new_id
from zhili.core.jurisdiction import Principal, authorize, ensure_in_scope, not_found, scoped
from zhili.core.security import Perm
from zhili.datahub.models import SecurityLevel, Source, Target
from zhili.regions.service import get_unit

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
EDITABLE = ("title", "department", "system_name", "contact", "refresh_days", "security_level", "trust", "active",
            "note", "default_template_id")
REQUIRED = frozenset({"title", "security_level", "trust", "active"})


def _view(src: Source) -> dict[str, Any]:
    return {k: getattr(src, k) for k in ("id", "name", "title", "department", "system_name", "contact",
                                           "refresh_days", "security_level", "target", "trust", "unit_id", "active",
                                           "note", "default_template_id")}


def _choice(kind: Any, value: Any, what: str, names_table: str) -> Any:
    """``value`` as a member of the enumeration ``kind``, or a Chinese refusal naming the allowed choices (the API's
    schema checks this already; the CLI and other callers reach the service directly)."""
    try:
        return kind(value)
    except ValueError:
        allowed = "、".join(names.name(names_table, m) or m.value for m in kind)
        raise ValidationFailed(f"{what}只能是：{allowed}", code="hub_source_choice_invalid") from None


def create_source(session: Session, *, principal: Principal, data: dict[str, Any]) -> Source:
    """Register a source. ``data``: name (lower-case letters, digits, ``.-_``), title, target, security_level,
    unit_id, and optionally department, system_name, contact, refresh_days, trust, note."""
    authorize(principal, Perm.hub_admin, "只有指挥中心或系统管理员可以登记数据源", code="hub_admin_only")
    name = str(data.get("name") or "").strip()
    if not NAME_RE.match(name):
        raise ValidationFailed("数据源标识须为2–63位小写字母、数字、点、横线或下划线，且以字母或数字开头",
                               code="hub_source_name_invalid")
    if name.startswith("register-"):  # imports.REGISTER_SOURCE_PREFIX: the register's upload creates its own
        raise ValidationFailed("以“register-”开头的数据源标识保留给登记簿Excel导入，请换一个标识",
                               code="hub_source_name_reserved")
    if session.scalar(select(func.count()).select_from(Source).where(Source.name == name)):
        raise Conflict(f"数据源标识“{name}”已被使用", code="hub_source_exists")
    target = _choice(Target, data.get("target"), "标准模型", "hub_target")
    level = _choice(SecurityLevel, data.get("security_level") or SecurityLevel.internal, "安全等级", "hub_security")
    unit = get_unit(session, principal=principal, unit_id=data["unit_id"])
    ensure_in_scope(principal, unit.path, "单位")
    src = Source(id=new_id(), name=name, title=str(data["title"]).strip(), target=target, security_level=level,
                 unit_id=unit.id, path=unit.path, created_by=principal.username,
                 **{k: data[k] for k in EDITABLE if k in data and k not in ("title", "security_level")})
    session.add(src)
    session.flush()
    audit.record(session, actor=principal.actor, action="hub.source.create", object_type="hub_source",
                 object_id=src.id, after=_view(src))
    return src


def get_source(session: Session, *, principal: Principal, source_id: uuid.UUID) -> Source:
    """One source of the caller's area (404 otherwise)."""
    authorize(principal, Perm.hub_read)
    src = session.get(Source, source_id)
    if src is None:
        raise not_found("数据源")
    ensure_in_scope(principal, src.path, "数据源")
    return src


def source_by_name(session: Session, *, principal: Principal, name: str) -> Source:
    """One source of the caller's area by its name (the CLI's ``--source``)."""
    authorize(principal, Perm.hub_read)
    src = session.scalar(select(Source).where(Source.name == name))
    if src is None:
        raise not_found("数据源")
    ensure_in_scope(principal, src.path, "数据源")
    return src


def list_sources(session: Session, *, principal: Principal, target: Target | None = None,
                 active: bool | None = None) -> list[Source]:
    """The sources of the caller's area, by name."""
    authorize(principal, Perm.hub_read)
    stmt = scoped(select(Source), principal, Source.path).order_by(Source.name)
    if target is not None:
        stmt = stmt.where(Source.target == target)
    if active is not None:
        stmt = stmt.where(Source.active.is_(active))
    return list(session.scalars(stmt))


def update_source(session: Session, *, principal: Principal, source_id: uuid.UUID, changes: dict[str, Any]) -> Source:
    """Change a source's description, schedule, security level, trust or activity (not its name, target or unit:
    imports already point at them)."""
    authorize(principal, Perm.hub_admin, "只有指挥中心或系统管理员可以修改数据源", code="hub_admin_only")
    src = get_source(session, principal=principal, source_id=source_id)
    before = _view(src)
    for key, value in changes.items():
        if key not in EDITABLE:
            raise ValidationFailed(f"数据源的字段“{key}”不能修改", code="hub_source_field_fixed")
        if value is None and key in REQUIRED:  # an explicit null in a PATCH clears nothing that must have a value
            raise ValidationFailed("数据源的名称、安全等级、可信度和启用状态不能为空", code="hub_source_required",
                                   details={"field": key})
        setattr(src, key, value)
    session.flush()
    audit.record(session, actor=principal.actor, action="hub.source.update", object_type="hub_source",
                 object_id=src.id, before=before, after=_view(src))
    return src
