"""The register written in batches (the data hub's imports): many persons at once with the same checks and the
same row as :func:`zhili.registry.service.create_person`, but one uniqueness query, one place lookup per distinct
grid or household and one column-wise insert per batch — and no audit row per person (the caller audits the batch:
the hub records every import as ``hub.import``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core.bulk import insert_objects
from zhili.core.crypto import get_cipher
from zhili.core.errors import Conflict, DomainError
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.core.validators import validate_id_number
from zhili.registry.models import Person
from zhili.registry.service import ID_PURPOSE, _person_place, person_row


def create_persons(session: Session, *, principal: Principal, items: list[dict[str, Any]]
                   ) -> list[Person | DomainError]:
    """Register many persons at once (the data hub's import): for each item of ``items`` (``create_person``'s
    ``data``) the new row or the refusal ``create_person`` would have raised — the same checks (ID number, its
    uniqueness register-wide and within ``items``, household or grid in the caller's jurisdiction, tags,
    relation, phone), the same row (``person_row``), but one uniqueness query, one lookup per distinct grid or
    household, and one insert for the whole batch. Not audited per person: the caller audits the batch (the hub
    records each import as ``hub.import``)."""
    authorize(principal, Perm.registry_write)
    cipher = get_cipher()
    out: list[Person | DomainError] = []
    bidx: list[str | None] = []
    for data in items:
        try:
            bidx.append(cipher.blind_index(validate_id_number(data["id_number"]), purpose=ID_PURPOSE))
        except DomainError:
            bidx.append(None)
    wanted = {b for b in bidx if b}
    taken = set(session.scalars(select(Person.id_number_bidx).where(Person.id_number_bidx.in_(wanted)))) \
        if wanted else set()
    places: dict[tuple[Any, Any], tuple[uuid.UUID | None, uuid.UUID, str] | DomainError] = {}
    rows: list[Person] = []
    for data, b in zip(items, bidx, strict=True):
        data = dict(data)
        try:
            if b is None:
                validate_id_number(data["id_number"])  # raises the service's own refusal
            if b in taken:
                raise Conflict("该身份证号码已登记", code="id_number_taken")
            key = (data.pop("household_id", None), data.pop("grid_id", None))
            place = places.get(key)
            if place is None:
                try:
                    place = _person_place(session, principal, key[0], key[1])
                except DomainError as exc:
                    place = exc
                places[key] = place
            if isinstance(place, DomainError):
                raise place
            p = person_row(cipher, data, household_id=place[0], grid_id=place[1], path=place[2])
        except DomainError as exc:
            out.append(exc)
            continue
        taken.add(p.id_number_bidx)
        rows.append(p)
        out.append(p)
    insert_objects(session, Person, rows)
    return out
