"""Landlords and tenants are persons of the register (实有人口), never a table of the rental package's own.

:func:`resolve_person` finds the person by the ID number's blind index — the register's unique key, and the key the
data hub's golden records of persons are matched on (``zhili.datahub.golden_register.KEY_FIELD``) — or creates them
through :func:`zhili.registry.service.create_person`. The data hub offers no function that resolves one new register
person on its own (its resolution runs over the source records of an import, and links an existing register row by
the same ID number when a source carries it), so the register's key is the match here; a hub import that later
carries the person finds this row by that key.

Real-name check: a person found by ID number must carry the name given (the register's name is the one on the ID
card); a different name is refused, in Chinese, naming the field.

Where the person lives, for a tenant (``as_tenant``):

* a new person is registered in the room's household as **floating** (流动人口), relation ``tenant``;
* a floating or foreign person already in the register moves to the room's household (they live where they rent);
* a person of the registered (户籍) population keeps their household registration — renting a room elsewhere does
  not change 户籍 — and the stay records where they live;
* a person marked moved out is active again, as floating, in the room's household.

Every register write goes through the registry service as the caller with :func:`zhili.rental.common.delegate`
(register permissions confined to the room's place and the person's old place), so the register's own audit rows
name the landlord, tenant or grid worker who made the change.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core.crypto import get_cipher
from zhili.core.errors import ValidationFailed
from zhili.core.jurisdiction import Principal
from zhili.registry import service as registry
from zhili.registry.models import Household, Person, PersonStatus, ResidentType
from zhili.rental.common import delegate, field_errors

_NAME = re.compile(r"^[\u3400-\u9fffA-Za-z][\u3400-\u9fffA-Za-z·• .'-]{0,29}$")


def check_name(name: str | None) -> str | None:
    """Why ``name`` is not a person's name (Chinese), or None. Names of 2–30 characters: Chinese characters,
    letters, the middle dot of minority and foreign names."""
    text = (name or "").strip()
    if not text:
        return "请填写姓名"
    if len(text) < 2 or len(text) > 30 or not _NAME.match(text):
        return "姓名应为2至30个汉字或字母（少数民族和外籍姓名可用“·”）"
    return None


def find_person(session: Session, id_number: str) -> Person | None:
    """The register person with this (valid) ID number, wherever they are registered."""
    bidx = get_cipher().blind_index(id_number, purpose=registry.ID_PURPOSE)
    return session.scalar(select(Person).where(Person.id_number_bidx == bidx))


def resolve_person(session: Session, *, principal: Principal, name: str, id_number: str, phone: str | None,
                   household: Household, as_tenant: bool) -> Person:
    """The register person with ``id_number`` (already validated), checked against ``name``; created in
    ``household`` when new (a tenant, floating) or in its grid (a landlord, registered population). See the module
    docstring."""
    found = find_person(session, id_number)
    if found is not None:
        if found.name != name.strip():
            raise ValidationFailed("姓名与身份证号码的登记信息不一致，请核对后重新填写", code="name_mismatch",
                                   details=field_errors({"name": "姓名与该身份证号码登记的姓名不一致"}))
        if as_tenant:
            _settle_tenant(session, principal, found, phone, household)
        elif phone and not found.phone_bidx:
            registry.update_person(session, principal=delegate(principal, found.path), person_id=found.id,
                                   changes={"phone": phone})
        return found
    data: dict[str, Any] = {"name": name.strip(), "id_number": id_number, "phone": phone}
    if as_tenant:
        data.update(household_id=household.id, resident_type=ResidentType.floating, relation="tenant")
    else:  # a landlord does not live in the room let: registered in its grid, household unknown
        data.update(grid_id=household.grid_id, resident_type=ResidentType.registered)
    return registry.create_person(session, principal=delegate(principal, household.path), data=data)


def _settle_tenant(session: Session, principal: Principal, p: Person, phone: str | None,
                   household: Household) -> None:
    changes: dict[str, Any] = {}
    if phone and not p.phone_bidx:
        changes["phone"] = phone
    moved_out = p.status != PersonStatus.active
    if moved_out:
        changes["status"] = PersonStatus.active
    if moved_out or p.resident_type in (ResidentType.floating, ResidentType.foreign):
        if p.household_id != household.id:
            changes["household_id"] = household.id
            changes["relation"] = "tenant"
        if moved_out and p.resident_type == ResidentType.registered:
            changes["resident_type"] = ResidentType.floating
    if changes:
        registry.update_person(session, principal=delegate(principal, household.path, p.path), person_id=p.id,
                               changes=changes)


def release_tenant(session: Session, *, principal: Principal, person: Person, household_id: Any,
                   still_staying: bool) -> None:
    """At check-out: a floating or foreign tenant registered in the room's household who has no other active stay
    is marked moved out in the register (where they went is not known); anyone else is left as they are."""
    if still_staying or person.household_id != household_id or person.status != PersonStatus.active:
        return
    if person.resident_type not in (ResidentType.floating, ResidentType.foreign):
        return
    registry.update_person(session, principal=delegate(principal, person.path), person_id=person.id,
                           changes={"status": PersonStatus.moved_out})
