"""The names behind audit events, for people to read: who acted (display name and role) and what the event is about
(a case number, an account, a unit, a person, a category, a rule …) — looked up for one page of events at a time.

Personal data never comes out in clear: a person's name and a resident's name are masked (王**), and every name
passes through :func:`zhili.core.masking.mask_text`, so no ID number or phone number can slip through."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases.models import ApiKey, Case, Category, DispatchRule
from zhili.core.audit import AuditEvent
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.masking import mask_name, mask_text
from zhili.core.security import Perm, Role
from zhili.org import service as org
from zhili.participation.models import Notice, Suggestion
from zhili.regions.models import Unit
from zhili.registry.models import Building, Entrance, Household, ImportBatch, Organisation, Person
from zhili.users.models import User
from zhili.visits.models import Visit


@dataclass(frozen=True)
class ActorName:
    """Who acted, as a person reads it."""

    name: str  # display name (a resident's masked)
    username: str | None  # staff accounts only (what the log's actor filter takes)
    role: str | None


@dataclass(frozen=True)
class Names:
    """The names a page of audit events refers to."""

    targets: dict[tuple[str, str], str]  # (object type, object id) → name
    actors: dict[uuid.UUID, ActorName]
    departments: dict[str, str]  # department code → name (for values that hold a department)


def masked_person(name: str | None) -> str:
    """A private person's name as the auditor sees it: 王芳 → 王*; an already masked one (138****5678) stays."""
    text = mask_text(name or "")
    return text if "*" in text else (mask_name(text) or "")


def _ids(values: Iterable[str]) -> list[uuid.UUID]:
    out = []
    for v in values:
        try:
            out.append(uuid.UUID(v))
        except (ValueError, TypeError):
            continue
    return out


def _user_name(u: Any) -> str:
    return masked_person(u.display_name) if u.role == Role.resident else mask_text(u.display_name)


# object type → (how its ids are read, the query giving (id, name) rows for those ids)
_Lookup = Callable[[Session, list[Any]], Iterable[tuple[Any, str]]]


def _rows(stmt: Any) -> _Lookup:
    return lambda session, ids: session.execute(stmt(ids)).all()


_BY_UUID: dict[str, _Lookup] = {
    "case": _rows(lambda ids: select(Case.id, Case.number).where(Case.id.in_(ids))),
    "unit": _rows(lambda ids: select(Unit.id, Unit.name).where(Unit.id.in_(ids))),
    "building": _rows(lambda ids: select(Building.id, Building.name).where(Building.id.in_(ids))),
    "entrance": _rows(lambda ids: select(Entrance.id, Entrance.name).where(Entrance.id.in_(ids))),
    "organisation": _rows(lambda ids: select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))),
    "notice": _rows(lambda ids: select(Notice.id, Notice.title).where(Notice.id.in_(ids))),
    "suggestion": _rows(lambda ids: select(Suggestion.id, Suggestion.title).where(Suggestion.id.in_(ids))),
    "import_batch": _rows(lambda ids: select(ImportBatch.id, ImportBatch.filename).where(ImportBatch.id.in_(ids))),
    "api_key": _rows(lambda ids: select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(ids))),
    "dispatch_rule": _rows(lambda ids: select(DispatchRule.rule_key, DispatchRule.name).where(
        DispatchRule.rule_key.in_(ids), DispatchRule.is_current.is_(True))),
    "household": _rows(lambda ids: select(Household.id, Household.address).where(Household.id.in_(ids))),
    "visit": _rows(lambda ids: select(Visit.id, Household.address).join(Household, Household.id == Visit.household_id)
                   .where(Visit.id.in_(ids))),
    "person": lambda session, ids: ((i, masked_person(n)) for i, n in session.execute(
        select(Person.id, Person.name).where(Person.id.in_(ids)))),
    "user": lambda session, ids: ((u.id, _user_name(u)) for u in session.scalars(
        select(User).where(User.id.in_(ids)))),
}


def describe(session: Session, *, principal: Principal, events: Sequence[AuditEvent]) -> Names:
    """The names of the actors and targets of ``events`` (one page of the log: one query per kind of object)."""
    authorize(principal, Perm.audit_read)
    wanted: dict[str, set[str]] = {}
    for ev in events:
        if ev.object_id:
            wanted.setdefault(ev.object_type, set()).add(ev.object_id)
    targets: dict[tuple[str, str], str] = {}
    for kind, lookup in _BY_UUID.items():
        ids = _ids(wanted.get(kind, ()))
        if ids:
            targets.update({(kind, str(i)): mask_text(str(n)) for i, n in lookup(session, ids)})
    codes = sorted(wanted.get("category", ()))
    if codes:
        rows = session.execute(select(Category.code, Category.name).where(Category.code.in_(codes),
                                                                         Category.is_current.is_(True)))
        targets.update({("category", c): n for c, n in rows})
    actor_ids = {ev.actor_id for ev in events if ev.actor_id}
    actors = {u.id: ActorName(name=_user_name(u), username=None if u.role == Role.resident else u.username,
                              role=u.role.value)
              for u in (session.scalars(select(User).where(User.id.in_(actor_ids))) if actor_ids else [])}
    return Names(targets=targets, actors=actors, departments=org.department_names(session))
