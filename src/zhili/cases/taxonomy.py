"""The category taxonomy: loading the shipped defaults (with the departments), reading, versioned editing."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zhili.cases.flows import SERVICE_CATEGORIES
from zhili.cases.models import Category, Urgency
from zhili.core import audit, names
from zhili.core.errors import Conflict, NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.query import contains_text, starts_with_text
from zhili.core.security import Perm
from zhili.org.service import get_department, load_default_departments

EDITABLE = ("name", "default_department", "accept_hours", "handle_hours", "verify_hours", "time_mode", "urgency",
            "keywords", "attributes", "description", "is_active")


def _fixture(name: str) -> Any:
    return json.loads(resources.files("zhili.fixtures").joinpath(name).read_text(encoding="utf-8"))


def load_defaults(session: Session) -> tuple[int, int]:
    """Insert the shipped departments and taxonomy where missing; returns (departments, categories) added."""
    departments = load_default_departments(session)
    data = _fixture("taxonomy.json")
    have_cats = set(session.scalars(select(Category.code).where(Category.is_current.is_(True))))
    nodes = [*data["categories"], *SERVICE_CATEGORIES]  # and the service nodes the other case flows are filed under
    parents = {n["parent"] for n in nodes if n.get("parent")}
    added = 0
    for n in nodes:
        if n["code"] in have_cats:
            continue
        leaf = n["code"] not in parents
        session.add(Category(
            code=n["code"], version=1, is_current=True, name=n["name"], kind=n["kind"], parent_code=n.get("parent"),
            is_leaf=leaf, default_department=n.get("default_department"), accept_hours=n.get("accept_hours"),
            handle_hours=n.get("handle_hours"), verify_hours=n.get("verify_hours"),
            time_mode=n.get("time_mode", "working"), urgency=Urgency(n.get("urgency", "normal")),
            keywords=n.get("keywords", []), attributes=n.get("attributes", []), description=n.get("description"),
            taxonomy_version=str(data.get("version")), created_by=names.SYSTEM_USERNAME,
        ))
        added += 1
    session.flush()
    return departments, added


def list_categories(session: Session, *, kind: str | None = None, parent: str | None = None,
                    leaves_only: bool = False, include_inactive: bool = False, q: str | None = None
                    ) -> list[Category]:
    """Current categories, filtered."""
    stmt = select(Category).where(Category.is_current.is_(True))
    if not include_inactive:
        stmt = stmt.where(Category.is_active.is_(True))
    if kind:
        stmt = stmt.where(Category.kind == kind)
    if parent:
        stmt = stmt.where(Category.parent_code == parent)
    if leaves_only:
        stmt = stmt.where(Category.is_leaf.is_(True))
    if q:
        stmt = stmt.where(contains_text(Category.name, q) | starts_with_text(Category.code, q))
    return list(session.scalars(stmt.order_by(Category.code)))


def get_current_category(session: Session, *, code: str) -> Category:
    """The current version of a category by code."""
    cat = session.scalar(select(Category).where(Category.code == code, Category.is_current.is_(True)))
    if cat is None:
        raise NotFound(f"事件类别 {code} 不存在", code="category_not_found")
    return cat


def reportable_category(session: Session, *, code: str) -> Category:
    """A category a case can be filed under: current, active, and a leaf."""
    cat = get_current_category(session, code=code)
    if not cat.is_active:
        raise ValidationFailed(f"事件类别“{cat.name}”已停用", code="category_inactive")
    if not cat.is_leaf:
        raise ValidationFailed(f"“{cat.name}”是大类，请选择具体小类", code="category_not_leaf")
    return cat


def update_category(session: Session, *, principal: Principal, code: str, changes: dict[str, Any]) -> Category:
    """Edit a category by writing a new version; cases filed earlier keep the version they were filed under."""
    authorize(principal, Perm.config_write)
    old = get_current_category(session, code=code)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(f"不可修改的字段：{', '.join(sorted(unknown))}", code="bad_field")
    if changes.get("default_department"):
        get_department(session, code=changes["default_department"])
    for key in ("accept_hours", "handle_hours", "verify_hours"):
        if changes.get(key) is not None and changes[key] <= 0:
            raise ValidationFailed("时限必须大于0", code="bad_limit")
    if changes.get("time_mode") not in (None, "working", "natural"):
        raise ValidationFailed("计时方式只能是 working 或 natural", code="bad_time_mode")
    values = {c: getattr(old, c) for c in ("code", "name", "kind", "parent_code", "is_leaf", "default_department",
                                          "accept_hours", "handle_hours", "verify_hours", "time_mode", "urgency",
                                          "keywords", "attributes", "description", "is_active", "taxonomy_version")}
    values.update({k: v for k, v in changes.items() if v is not None or k == "description"})
    session.execute(update(Category).where(Category.id == old.id).values(is_current=False))
    new = Category(**values, version=old.version + 1, is_current=True, created_by=principal.username)
    session.add(new)
    session.flush()
    audit.record(session, actor=principal.actor, action="category.update", object_type="category", object_id=code,
                 before={k: getattr(old, k) for k in changes}, after=changes)
    return new


def create_category(session: Session, *, principal: Principal, data: dict[str, Any]) -> Category:
    """Add a category under an existing parent (the parent stops being a leaf)."""
    authorize(principal, Perm.config_write)
    if session.scalar(select(Category.id).where(Category.code == data["code"])):
        raise Conflict(f"类别代码 {data['code']} 已存在", code="category_exists")
    parent = get_current_category(session, code=data["parent_code"]) if data.get("parent_code") else None
    if data.get("default_department"):
        get_department(session, code=data["default_department"])
    data = dict(data)
    kind = data.pop("kind", None) or (parent.kind if parent else "social")
    cat = Category(**data, kind=kind, version=1, is_current=True, is_leaf=True, created_by=principal.username)
    if parent is not None and parent.is_leaf:
        parent.is_leaf = False
    session.add(cat)
    session.flush()
    audit.record(session, actor=principal.actor, action="category.create", object_type="category",
                 object_id=cat.code, after=data)
    return cat


def category_history(session: Session, *, code: str) -> list[Category]:
    """All versions of a category, newest first."""
    return list(session.scalars(select(Category).where(Category.code == code).order_by(Category.version.desc())))
