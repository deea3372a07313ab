"""What the configuration pages need on top of :mod:`taxonomy` and :mod:`dispatch`: the category tree, saving a
form as a new version only when something changed, filtered rule lists and the "test this rule" dry run
(the same :func:`dispatch.preview` the API's test endpoint runs)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases import dispatch, taxonomy
from zhili.cases.models import Category, DispatchRule
from zhili.core.errors import ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, in_scope
from zhili.core.security import Perm
from zhili.core.settings import get_settings
from zhili.org import service as org
from zhili.regions.models import Unit
from zhili.regions.service import get_unit, today, valid_on


@dataclass
class CategoryNode:
    """A category with its children (the first level are the groups, 大类)."""

    category: Category
    children: list[CategoryNode] = field(default_factory=list)
    matched: bool = True


def category_tree(session: Session, *, q: str | None = None, include_retired: bool = True) -> list[CategoryNode]:
    """Current categories as a tree; with ``q`` only the branches holding a match (name or code prefix)."""
    cats = taxonomy.list_categories(session, include_inactive=True)
    hits = {c.code for c in taxonomy.list_categories(session, q=q, include_inactive=True)} if q else None
    nodes = {c.code: CategoryNode(c, matched=hits is None or c.code in hits) for c in cats}
    roots: list[CategoryNode] = []
    for c in cats:
        node = nodes[c.code]
        parent = nodes.get(c.parent_code or "")
        (parent.children if parent else roots).append(node)

    def keep(node: CategoryNode, ancestor_hit: bool) -> CategoryNode | None:
        if not include_retired and not node.category.is_active:
            return None
        hit = ancestor_hit or node.matched
        node.children = [k for k in (keep(ch, hit) for ch in node.children) if k is not None]
        return node if hit or node.children else None

    return [k for k in (keep(r, False) for r in roots) if k is not None]


def edit_category(session: Session, *, principal: Principal, code: str, values: dict[str, Any]
                  ) -> tuple[Category, bool]:
    """Save an edited category as its next version, if anything differs from the current one."""
    authorize(principal, Perm.config_write)
    current = taxonomy.get_current_category(session, code=code)
    # update_category keeps a field left empty (None), except the description, so only real values count
    changes = {k: v for k, v in values.items() if k in taxonomy.EDITABLE and (v is not None or k == "description")
               and getattr(current, k) != v}
    if not changes:
        return current, False
    return taxonomy.update_category(session, principal=principal, code=code, changes=changes), True


# -- the responsibility list --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RuleFilter:
    """Filters of the rule list."""

    category: str | None = None  # rules that apply to this code (or lie under this group)
    region_path: str | None = None  # rules that apply in this subtree (or lie inside it)
    department: str | None = None  # rules sending to (or co-sending to) this department
    enabled: bool | None = None


def _related_codes(a: str | None, b: str) -> bool:
    return a is None or a.startswith(b) or b.startswith(a)


def _related_paths(a: str | None, b: str) -> bool:
    return a is None or a == b or a.startswith(b + "/") or b.startswith(a + "/")


def list_rules(session: Session, *, filters: RuleFilter) -> list[DispatchRule]:
    """Current rules (enabled or retired), in matching order, filtered."""
    stmt = select(DispatchRule).where(DispatchRule.is_current.is_(True))
    if filters.enabled is not None:
        stmt = stmt.where(DispatchRule.enabled.is_(filters.enabled))
    rules = list(session.scalars(stmt.order_by(DispatchRule.priority, DispatchRule.name)))
    if filters.category:
        rules = [r for r in rules if _related_codes(r.category_code, filters.category)]
    if filters.region_path:
        rules = [r for r in rules if _related_paths(r.region_path, filters.region_path)]
    if filters.department:
        rules = [r for r in rules if filters.department in (r.target_department, *(r.co_departments or []))]
    return rules


def _check_references(session: Session, principal: Principal, data: dict[str, Any]) -> None:
    code = data.get("category_code")
    if code and session.scalar(select(Category.id).where(Category.code == code).limit(1)) is None:
        raise ValidationFailed(f"事件类别 {code} 不存在", code="category_not_found")
    path = data.get("region_path")
    if path:
        unit = session.scalar(select(Unit.id).where(Unit.path == path, valid_on(Unit, today())).limit(1))
        if unit is None or not in_scope(principal, path):
            raise ValidationFailed("所选区域不存在或不在您的管辖范围内", code="bad_region")
    if data.get("target_unit_id"):
        get_unit(session, principal=principal, unit_id=data["target_unit_id"])


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, list) and isinstance(new, list) and old and all(isinstance(x, str) for x in old + new):
        return sorted(old) == sorted(new)  # co-departments and keywords: the order carries no meaning
    return bool(old == new)


def save_rule(session: Session, *, principal: Principal, rule_key: uuid.UUID | None, values: dict[str, Any]
              ) -> tuple[DispatchRule, bool]:
    """Create a rule, or save an edited one as its next version if anything differs from the current one."""
    authorize(principal, Perm.config_write)
    _check_references(session, principal, values)
    if rule_key is None:
        return dispatch.create_rule(session, principal=principal, data=values), True
    current = dispatch.get_rule(session, rule_key=rule_key)
    changes = {k: v for k, v in values.items() if k in dispatch.RULE_FIELDS and not _same(getattr(current, k), v)}
    if not changes:
        return current, False
    return dispatch.update_rule(session, principal=principal, rule_key=rule_key, changes=changes), True


@dataclass
class RuleTrial:
    """The answer to "which department would this case go to?"."""

    match: dispatch.Match
    path: str | None
    unit: Unit | None  # where the case would lie
    target_unit: Unit | None
    department: str | None
    department_name: str | None
    auto_dispatch: bool


def try_rules(session: Session, *, principal: Principal, category_code: str | None, description: str,
              lon: float | None, lat: float | None, unit_id: uuid.UUID | None,
              reported_at: dt.datetime | None = None) -> RuleTrial:
    """Dry-run dispatch with the current rules, exactly as the API's "test this rule" endpoint does."""
    authorize(principal, Perm.config_write)
    unit_path = get_unit(session, principal=principal, unit_id=unit_id).path if unit_id else None
    m, path = dispatch.preview(session, category_code=category_code or None, description=description, lon=lon,
                               lat=lat, unit_path=unit_path, reported_at=reported_at or dt.datetime.now(dt.UTC))
    place = session.scalar(select(Unit).where(Unit.path == path).order_by(Unit.valid_from.desc()).limit(1)) \
        if path else None
    rule = m.rule
    if rule is not None:  # why, by names: the category and the region as people call them
        category = session.scalar(select(Category.name).where(Category.code == rule.category_code,
                                                              Category.is_current.is_(True))) \
            if rule.category_code else None
        region = session.scalar(select(Unit.name).where(Unit.path == rule.region_path, valid_on(Unit, today()))
                                .limit(1)) if rule.region_path else None
        m.reasons = dispatch.reasons_for(rule, m.keywords_found, category=category, region=region)
    dept = rule.target_department if rule else None
    return RuleTrial(
        match=m, path=path, unit=place,
        target_unit=session.get(Unit, rule.target_unit_id) if rule and rule.target_unit_id else None,
        department=dept, department_name=org.department_names(session).get(dept) if dept else None,
        auto_dispatch=rule is not None and m.confidence >= get_settings().auto_dispatch_confidence)


def recent_versions(session: Session, *, principal: Principal, limit: int = 10) -> list[Category | DispatchRule]:
    """The latest category and rule versions written by people (not the shipped defaults, written by ``system``),
    newest first — the administrator's "recent configuration changes"."""
    authorize(principal, Perm.config_write)
    by_person: list[Category | DispatchRule] = []
    for model in (Category, DispatchRule):
        stmt = select(model).where(model.created_by.is_not(None), model.created_by != "system")
        by_person.extend(session.scalars(stmt.order_by(model.created_at.desc()).limit(limit)))
    by_person.sort(key=lambda v: v.created_at, reverse=True)
    return by_person[:limit]
