"""Survivorship (存活规则): which linked source record's value a golden record keeps, field by field.

Three rules, chosen per entity type and field (:class:`~zhili.datahub.models.SurvivorshipRule` rows, editable by
``hub:admin``; the defaults below when a field has no row):

* ``most_trusted`` — the value of the most trusted source (``Source.trust``), ties to the most recent;
* ``most_recent`` — the value last changed (``SourceRecord.changed_at``), ties to the most trusted;
* ``most_complete`` — the value of the record that fills the most fields, ties to the most recent.

Only records that have a non-empty value for a field take part: a source that leaves the phone number empty never
erases the number another source gave. :func:`survive` is pure (no database), so the rules are tested on lists.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.errors import ValidationFailed
from zhili.core.ids import new_id
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.datahub.models import EntityType, SurvivorshipRule

RULES: dict[str, str] = {"most_trusted": "来源最可信", "most_recent": "最近更新", "most_complete": "信息最完整"}

# Defaults: keys and names from the most trusted source, contact details and places from the latest, the rest
# from the most complete record.
DEFAULT_RULES: dict[str, str] = {
    "id_number": "most_trusted", "credit_code": "most_trusted", "code": "most_trusted", "name": "most_trusted",
    "phone": "most_recent", "contact_phone": "most_recent", "address": "most_recent",
    "household_id": "most_recent", "grid_id": "most_recent", "building_id": "most_recent",
    "entrance_id": "most_recent", "lon": "most_recent", "lat": "most_recent",
}
FALLBACK_RULE = "most_complete"

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Member:
    """One linked source record as survivorship sees it."""

    record_id: uuid.UUID
    import_id: uuid.UUID
    row_number: int
    values: dict[str, Any]
    trust: int
    changed_at: dt.datetime | None


@dataclass(frozen=True)
class Choice:
    """The surviving value of one field and where it came from."""

    value: Any
    member: Member
    rule: str


def empty(value: Any) -> bool:
    """True for values that say nothing (None, blank text, empty lists)."""
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, list | dict | tuple) and not value)


def _when(m: Member) -> dt.datetime:
    at = m.changed_at or _EPOCH
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def _filled(m: Member) -> int:
    return sum(1 for v in m.values.values() if not empty(v))


def _sort_key(rule: str, m: Member) -> tuple[Any, ...]:
    # record_id last: a deterministic choice whatever order the members came in
    if rule == "most_trusted":
        return (m.trust, _when(m), str(m.record_id))
    if rule == "most_recent":
        return (_when(m), m.trust, str(m.record_id))
    return (_filled(m), _when(m), m.trust, str(m.record_id))


def survive(members: Iterable[Member], rules: dict[str, str]) -> dict[str, Choice]:
    """The surviving value of every field any member fills, by each field's rule (``rules``, else the default)."""
    members = list(members)
    filled = [(m, {k for k, v in m.values.items() if not empty(v)}) for m in members]  # each member's once
    out: dict[str, Choice] = {}
    for f in sorted(set().union(*(have for _, have in filled))):
        rule = rules.get(f) or DEFAULT_RULES.get(f, FALLBACK_RULE)
        having = [m for m, have in filled if f in have]
        best = having[0] if len(having) == 1 else max(having, key=lambda m, r=rule: _sort_key(r, m))  # type: ignore[misc]
        out[f] = Choice(best.values[f], best, rule)
    return out


# -- the editable rules ---------------------------------------------------------------------------------------

def rules_for(session: Session, entity: EntityType) -> dict[str, str]:
    """The edited rules of an entity type (field → rule); fields without a row take the default."""
    rows = session.execute(select(SurvivorshipRule.field, SurvivorshipRule.rule)
                           .where(SurvivorshipRule.entity_type == entity))
    return {f: r for f, r in rows}


def rule_of(rules: dict[str, str], field: str) -> str:
    """The rule a field follows given the edited ``rules``."""
    return rules.get(field) or DEFAULT_RULES.get(field, FALLBACK_RULE)


def list_rules(session: Session, *, principal: Principal, entity: EntityType) -> list[dict[str, Any]]:
    """Every field's rule of an entity type: the standard fields and any field with an edited rule."""
    authorize(principal, Perm.hub_read)
    from zhili.datahub.golden_register import FIELDS_OF

    edited = rules_for(session, entity)
    fields = list(dict.fromkeys([*FIELDS_OF[entity], *edited]))
    return [{"field": f, "rule": rule_of(edited, f), "edited": f in edited,
             "default": DEFAULT_RULES.get(f, FALLBACK_RULE)} for f in fields]


def set_rule(session: Session, *, principal: Principal, entity: EntityType, field: str, rule: str
             ) -> SurvivorshipRule:
    """Change the survivorship rule of one field (takes effect the next time a golden record is resolved or
    re-survived). ``hub:admin``; audited."""
    authorize(principal, Perm.hub_admin, "只有指挥中心或系统管理员可以修改存活规则", code="hub_admin_only")
    if rule not in RULES:
        raise ValidationFailed("存活规则只能是：" + "、".join(RULES.values()), code="hub_rule_invalid")
    from zhili.datahub.golden_register import FIELDS_OF

    if field not in FIELDS_OF[entity]:
        raise ValidationFailed("该实体类型没有这个字段", code="hub_rule_field_unknown")
    row = session.scalar(select(SurvivorshipRule).where(SurvivorshipRule.entity_type == entity,
                                                        SurvivorshipRule.field == field))
    before = row.rule if row else rule_of({}, field)
    if row is None:
        row = SurvivorshipRule(id=new_id(), entity_type=entity, field=field, rule=rule,
                               updated_by=principal.username)
        session.add(row)
    else:
        row.rule, row.updated_by = rule, principal.username
    session.flush()
    audit.record(session, actor=principal.actor, action="hub.survivorship.set", object_type="hub_survivorship",
                 object_id=row.id, before={"entity": entity.value, "field": field, "rule": before},
                 after={"entity": entity.value, "field": field, "rule": rule})
    return row
