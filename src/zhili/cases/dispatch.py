"""Dispatch by the responsibility list (权责清单): rules are versioned rows; matching is a pure function.

"Which department would this case go to?" (:func:`explain`) runs the same :func:`match` as real dispatch.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from zhili.cases.models import DispatchRule
from zhili.core import audit, names
from zhili.core.clock import district_tz
from zhili.core.errors import NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.org.service import department_names, get_department

RULE_FIELDS = ("name", "priority", "category_code", "region_path", "keywords", "hour_from", "hour_to",
               "target_department", "target_unit_id", "co_departments", "confidence", "handle_hours", "enabled",
               "note")


@dataclass(frozen=True)
class CaseFacts:
    """What matching looks at."""

    category_code: str | None
    path: str
    description: str
    reported_at: dt.datetime


@dataclass
class Match:
    """The outcome of matching: the winning rule (if any), its confidence and why."""

    rule: DispatchRule | None
    confidence: float
    reasons: list[str] = field(default_factory=list)
    considered: int = 0
    keywords_found: list[str] = field(default_factory=list)  # the winning rule's keywords in the description


def reasons_for(rule: DispatchRule, found: list[str], *, category: str | None = None, region: str | None = None
                ) -> list[str]:
    """Why ``rule`` matched: its category and region (by the names given, else their codes) and the keywords
    found."""
    out = [f"类别匹配 {category or rule.category_code or '（任意）'}",
           f"区域匹配 {region or rule.region_path or '（全区）'}"]
    if found:
        out.append(f"关键词：{'、'.join(found)}")
    return out


def _category_matches(rule_code: str | None, code: str | None) -> bool:
    return rule_code is None or (code is not None and (code == rule_code or code.startswith(rule_code)))


def _region_matches(rule_path: str | None, path: str) -> bool:
    return rule_path is None or path == rule_path or path.startswith(rule_path + "/")


def _hour_matches(rule: DispatchRule, at: dt.datetime) -> bool:
    if rule.hour_from is None or rule.hour_to is None:
        return True
    hour = at.astimezone(district_tz()).hour
    if rule.hour_from <= rule.hour_to:
        return rule.hour_from <= hour < rule.hour_to
    return hour >= rule.hour_from or hour < rule.hour_to  # window over midnight


def _specificity(rule: DispatchRule) -> tuple[int, int, int]:
    return (len(rule.category_code or ""), (rule.region_path or "").count("/") + (1 if rule.region_path else 0),
            len(rule.keywords or []))


class RuleSet(list[DispatchRule]):
    """The current rules in order, indexed by their category code so matching a case looks only at the rules whose
    category is a prefix of the case's (or that have none) — hundreds of rules cost a handful of lookups."""

    def __init__(self, rules: list[DispatchRule]) -> None:
        super().__init__(rules)
        self.by_code: dict[str | None, list[int]] = {}
        for i, r in enumerate(rules):
            self.by_code.setdefault(r.category_code, []).append(i)

    def candidates(self, code: str | None) -> list[DispatchRule]:
        """The rules whose category could match ``code``, in rule order."""
        idx = list(self.by_code.get(None, ()))
        if code:
            for k in range(1, len(code) + 1):
                idx.extend(self.by_code.get(code[:k], ()))
        return [self[i] for i in sorted(idx)]


def match(facts: CaseFacts, rules: list[DispatchRule]) -> Match:
    """The best rule for a case: lowest priority number, then the most specific (category, region, keywords)."""
    hits: list[tuple[DispatchRule, list[str]]] = []  # (rule, the keywords found)
    pool = rules.candidates(facts.category_code) if isinstance(rules, RuleSet) else rules
    for r in pool:
        if not r.enabled:
            continue
        if not _category_matches(r.category_code, facts.category_code):
            continue
        if not _region_matches(r.region_path, facts.path):
            continue
        if not _hour_matches(r, facts.reported_at):
            continue
        found: list[str] = []
        if r.keywords:
            found = [k for k in r.keywords if k and k in facts.description]
            if not found:
                continue
        hits.append((r, found))
    if not hits:
        return Match(rule=None, confidence=0.0, reasons=["没有匹配的派单规则，进入指挥中心人工派遣队列"],
                     considered=len(rules))
    hits.sort(key=lambda h: (h[0].priority, tuple(-x for x in _specificity(h[0]))))
    best, found = hits[0]
    return Match(rule=best, confidence=float(best.confidence), reasons=reasons_for(best, found),
                 considered=len(rules), keywords_found=found)


_rule_cache: dict[tuple[Any, ...], RuleSet] = {}


def current_rules(session: Session) -> RuleSet:
    """The current version of every rule — cached per process, keyed on the rule table's version stamp.

    Rules are never updated in place (an edit writes a new row and flips ``is_current``), so (row count, newest
    creation time) changes whenever the current set does; the stamp costs one indexed aggregate query.
    """
    stamp = session.execute(select(func.count(), func.max(DispatchRule.created_at),
                                   func.count().filter(DispatchRule.is_current.is_(True)))).one()
    key = (str(session.get_bind().engine.url), *stamp)
    rules = _rule_cache.get(key)
    if rules is None:
        rows = list(session.scalars(select(DispatchRule).where(DispatchRule.is_current.is_(True))
                                    .order_by(DispatchRule.priority, DispatchRule.name)))
        for r in rows:
            session.expunge(r)
        if len(_rule_cache) > 16:
            _rule_cache.clear()
        _rule_cache[key] = rules = RuleSet(rows)
    return rules


def explain(session: Session, *, facts: CaseFacts) -> Match:
    """Which rule (and department) a case with these facts would be dispatched by."""
    return match(facts, current_rules(session))


def _validate(session: Session, data: dict[str, Any]) -> None:
    if not data.get("target_department") and not data.get("target_unit_id"):
        raise ValidationFailed("规则必须指定处置部门或处置单位", code="rule_target_required")
    if data.get("target_department"):
        get_department(session, code=data["target_department"])
    for code in data.get("co_departments") or []:
        get_department(session, code=code)
    for key in ("hour_from", "hour_to"):
        v = data.get(key)
        if v is not None and not 0 <= v <= 24:
            raise ValidationFailed("时段应在0–24之间", code="bad_hours")
    if (data.get("hour_from") is None) != (data.get("hour_to") is None):
        raise ValidationFailed("时段的开始和结束须同时填写", code="bad_hours")
    c = data.get("confidence")
    if c is not None and not 0 <= c <= 1:
        raise ValidationFailed("置信度应在0到1之间", code="bad_confidence")


def create_rule(session: Session, *, principal: Principal, data: dict[str, Any]) -> DispatchRule:
    """Add a responsibility-list rule."""
    authorize(principal, Perm.config_write)
    _validate(session, data)
    rule = DispatchRule(**{k: v for k, v in data.items() if k in RULE_FIELDS}, created_by=principal.username)
    session.add(rule)
    session.flush()
    audit.record(session, actor=principal.actor, action="dispatch_rule.create", object_type="dispatch_rule",
                 object_id=rule.rule_key, after=data)
    return rule


def get_rule(session: Session, *, rule_key: uuid.UUID) -> DispatchRule:
    """The current version of a rule."""
    rule = session.scalar(select(DispatchRule).where(DispatchRule.rule_key == rule_key,
                                                     DispatchRule.is_current.is_(True)))
    if rule is None:
        raise NotFound("派单规则不存在", code="rule_not_found")
    return rule


def update_rule(session: Session, *, principal: Principal, rule_key: uuid.UUID, changes: dict[str, Any]
                ) -> DispatchRule:
    """Change a rule by writing its next version (cases keep the rule version that dispatched them)."""
    authorize(principal, Perm.config_write)
    old = get_rule(session, rule_key=rule_key)
    values = {k: getattr(old, k) for k in RULE_FIELDS}
    values.update({k: v for k, v in changes.items() if k in RULE_FIELDS})
    _validate(session, values)
    session.execute(update(DispatchRule).where(DispatchRule.id == old.id).values(is_current=False))
    new = DispatchRule(**values, rule_key=old.rule_key, version=old.version + 1, is_current=True,
                       created_by=principal.username)
    session.add(new)
    session.flush()
    audit.record(session, actor=principal.actor, action="dispatch_rule.update", object_type="dispatch_rule",
                 object_id=rule_key, before={k: getattr(old, k) for k in changes if k in RULE_FIELDS},
                 after=changes)
    return new


def rule_history(session: Session, *, rule_key: uuid.UUID) -> list[DispatchRule]:
    """All versions of a rule, newest first."""
    return list(session.scalars(select(DispatchRule).where(DispatchRule.rule_key == rule_key)
                                .order_by(DispatchRule.version.desc())))


def default_rules_from_taxonomy(session: Session, *, district_path: str) -> int:
    """Create one rule per major class routing to its usual department (used by the demo seed)."""
    from zhili.cases.models import Category

    if current_rules(session):
        return 0
    leaves = session.scalars(select(Category).where(Category.is_current.is_(True), Category.is_leaf.is_(True))).all()
    departments = department_names(session)
    n = 0
    for c in leaves:
        if not c.default_department:
            continue
        target = departments.get(c.default_department, c.default_department)
        session.add(DispatchRule(name=f"{c.name} → {target}", priority=100, category_code=c.code,
                                 region_path=district_path, keywords=[], target_department=c.default_department,
                                 confidence=0.9, created_by=names.SYSTEM_USERNAME))
        n += 1
    session.flush()
    return n


def preview(session: Session, *, category_code: str | None, description: str, lon: float | None, lat: float | None,
            unit_path: str | None, reported_at: dt.datetime) -> tuple[Match, str | None]:
    """Dry-run dispatch for "test this rule": locate the point (or take the unit) and match the current rules."""
    path = unit_path
    if lon is not None and lat is not None:
        from zhili.regions.models import Unit
        from zhili.regions.service import get_locator

        gid = get_locator(session).locate(lon, lat)
        unit = session.get(Unit, gid) if gid else None
        path = unit.path if unit else None
    if path is None:
        return Match(rule=None, confidence=0.0, reasons=["无法确定区域：请给出网格内的坐标或选择单位"]), None
    return explain(session, facts=CaseFacts(category_code, path, description, reported_at)), path
