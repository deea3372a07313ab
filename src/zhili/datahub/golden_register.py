"""Golden records and the register: the fields of each entity type, a register row read as standard values,
and the one place a golden record's surviving values are written to its register row (through
:mod:`zhili.registry.service`: created when the register has what it needs, else the golden record says why;
updated with the changed fields only; a refusal returned as the row's error)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy.orm import Session

from zhili.core.crypto import FieldCipher, get_cipher
from zhili.core.errors import DomainError, NotFound
from zhili.core.jurisdiction import Principal
from zhili.core.validators import validate_credit_code, validate_id_number
from zhili.datahub.models import EntityType, GoldenRecord, Target
from zhili.datahub.records import canonical
from zhili.datahub.rows import RowError
from zhili.registry import bulk as registry_bulk
from zhili.registry import service as registry
from zhili.registry.models import Building, BuildingType, Organisation, OrgType, Person, ResidentType

ENTITY_OF: dict[str, EntityType] = {Target.persons: EntityType.person,
                                    Target.organisations: EntityType.organisation,
                                    Target.buildings: EntityType.building}
TARGET_OF: dict[EntityType, Target] = {v: Target(k) for k, v in ENTITY_OF.items()}
KEY_FIELD: dict[EntityType, str] = {EntityType.person: "id_number", EntityType.organisation: "credit_code",
                                    EntityType.building: "code"}
MODEL_OF: dict[EntityType, Any] = {EntityType.person: Person, EntityType.organisation: Organisation,
                                   EntityType.building: Building}

# The fields of a golden record (the register's own plus what other systems carry), in display order.
FIELDS_OF: dict[EntityType, tuple[str, ...]] = {
    EntityType.person: ("name", "id_number", "gender", "birth_date", "phone", "address", "household_id", "grid_id",
                        "ethnicity", "relation", "resident_type", "care_tags", "note"),
    EntityType.organisation: ("name", "credit_code", "org_type", "industry", "address", "legal_rep", "contact_name",
                              "contact_phone", "employees", "building_id", "grid_id", "lon", "lat"),
    EntityType.building: ("name", "code", "address", "compound", "building_type", "floors", "grid_id", "lon",
                          "lat", "note"),
}
# Fields the register row takes on update (keys and places of creation are fixed once the row exists).
_UPDATABLE: dict[EntityType, tuple[str, ...]] = {
    EntityType.person: ("name", "phone", "household_id", "ethnicity", "relation", "resident_type", "care_tags",
                        "note"),
    EntityType.organisation: ("name", "org_type", "industry", "address", "legal_rep", "contact_name",
                              "contact_phone", "employees", "building_id", "lon", "lat"),
    EntityType.building: ("name", "address", "compound", "building_type", "floors", "lon", "lat", "note"),
}
_CREATE_EXTRA: dict[EntityType, tuple[str, ...]] = {
    EntityType.person: ("id_number", "grid_id"), EntityType.organisation: ("credit_code", "grid_id"),
    EntityType.building: ("code", "grid_id"),
}
# The register's own defaults (as its API schemas) for required choices a source may not carry.
_DEFAULTS: dict[EntityType, dict[str, Any]] = {
    EntityType.person: {"resident_type": "registered"}, EntityType.organisation: {"org_type": "enterprise"},
    EntityType.building: {"building_type": "residential"},
}
_UUID_FIELDS = frozenset({"household_id", "grid_id", "building_id", "entrance_id"})
VALUE_PURPOSE = "hub.golden.value"



# -- register rows as plain values -------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """A value as it reads back from a source record (JSON types: enums as values, dates ISO, uuids str)."""
    return json.loads(canonical({"v": value}))["v"]


def register_values(entity: EntityType, obj: Any) -> dict[str, Any]:
    """A register row's current values as standard fields (ID and phone decrypted: callers mask what they show)."""
    cipher = get_cipher()
    out: dict[str, Any] = {}
    for f in FIELDS_OF[entity]:
        if entity is EntityType.person and f == "id_number":
            out[f] = cipher.decrypt(obj.id_number_enc, table="person", column="id_number", row_id=obj.id)
        elif entity is EntityType.person and f == "phone":
            out[f] = (cipher.decrypt(obj.phone_enc, table="person", column="phone", row_id=obj.id)
                      if obj.phone_enc else None)
        elif entity is EntityType.organisation and f == "contact_phone":
            out[f] = (cipher.decrypt(obj.contact_phone_enc, table="organisation", column="contact_phone",
                                     row_id=obj.id) if obj.contact_phone_enc else None)
        elif entity is EntityType.person and f == "address":
            continue
        else:
            out[f] = _plain(getattr(obj, f, None))
    return out


def value_digest(value: Any, cipher: FieldCipher | None = None) -> str:
    """A keyed digest of a surviving value: equal digests, equal values, and no dictionary attack on ID numbers.
    The digest of ``canonical({"v": value})``; text (most values) is encoded directly, the same JSON."""
    text = '{"v":' + json.dumps(value, ensure_ascii=False) + "}" if isinstance(value, str) else canonical({"v": value})
    return (cipher or get_cipher()).blind_index(text, purpose=VALUE_PURPOSE)


BLOCK_PURPOSE = "hub.golden.block"


def birth_of(values: dict[str, Any]) -> dt.date | None:
    """A person's birth date: their own, else the one their ID number's digits spell (even a mistyped number
    keeps them more often than not)."""
    raw = str(values.get("birth_date") or "")[:10]
    idn = str(values.get("id_number") or "")
    if not raw and len(idn) == 18 and idn[6:14].isdigit():
        raw = f"{idn[6:10]}-{idn[10:12]}-{idn[12:14]}"
    with contextlib.suppress(ValueError):
        return dt.date.fromisoformat(raw) if raw else None
    return None


def block_keys(entity: EntityType, values: dict[str, Any], cipher: FieldCipher | None = None
               ) -> tuple[str | None, str | None]:
    """The two blocking keys of a record's values (blind indexes): persons — name with birth date, and phone;
    organisations and buildings — name, and address. A golden record without a register row keeps its own
    (:attr:`GoldenRecord.block_a` / ``block_b``); a record being resolved is looked up by the same two."""
    cipher = cipher or get_cipher()
    name = str(values.get("name") or "").strip()
    if entity is EntityType.person:
        born = birth_of(values)
        a = f"{name}|{born.isoformat()}" if name and born else None
        b = str(values.get("phone") or "").strip() or None
    else:
        a = name or None
        b = str(values.get("address") or "").strip() or None
    return (cipher.blind_index(f"a:{a}", purpose=BLOCK_PURPOSE) if a else None,
            cipher.blind_index(f"b:{b}", purpose=BLOCK_PURPOSE) if b else None)


_ENUMS: dict[str, Any] = {"resident_type": ResidentType, "org_type": OrgType, "building_type": BuildingType}


def _typed(f: str, v: Any) -> Any:
    """A stored (JSON) value as the register service takes it: uuids and enum members."""
    if v is None:
        return v
    if f in _UUID_FIELDS and not isinstance(v, uuid.UUID):
        return uuid.UUID(str(v))
    if f in _ENUMS:
        return _ENUMS[f](v)
    return v


def _write_register(session: Session, principal: Principal, entity: EntityType, g: GoldenRecord,
                    values: dict[str, Any], obj: Any) -> RowError | None:
    """Create or update the golden record's register row; the register's refusal as a row error."""
    try:
        if obj is not None:
            have = register_values(entity, obj)
            delta = {f: _typed(f, values[f]) for f in _UPDATABLE[entity]
                     if f in values and _plain(values[f]) != have.get(f)}
            if not delta:
                return None
            try:
                if entity is EntityType.person:
                    registry.update_person(session, principal=principal, person_id=obj.id, changes=delta)
                elif entity is EntityType.organisation:
                    registry.update_organisation(session, principal=principal, organisation_id=obj.id,
                                                 changes=delta)
                else:
                    registry.update_building(session, principal=principal, building_id=obj.id, changes=delta)
            except NotFound:  # a register row of another area: linked, not written from here
                g.register_note = "登记记录不在当前导入人的管辖范围内，未从本次导入更新"
            g.path = obj.path
            return None
        reason = _cannot_register(entity, values)
        if reason:
            g.register_note = reason
            return None
        data = _create_data(entity, values)
        if entity is EntityType.person:
            created: Any = registry.create_person(session, principal=principal, data=data)
        elif entity is EntityType.organisation:
            created = registry.create_organisation(session, principal=principal, data=data)
        else:
            created = registry.create_building(session, principal=principal, data=data)
        g.register_id, g.path, g.register_note = created.id, created.path, None
        return None
    except DomainError as exc:
        g.register_note = "登记系统拒绝：" + str(getattr(exc, "message", "") or exc)[:180]
        return RowError(None, "register_refused", g.register_note)


def _create_data(entity: EntityType, values: dict[str, Any]) -> dict[str, Any]:
    """The register service's ``data`` for a new row of a golden record's values."""
    data = {f: _typed(f, values[f]) for f in (*_UPDATABLE[entity], *_CREATE_EXTRA[entity]) if f in values}
    for k, v in _DEFAULTS[entity].items():
        data.setdefault(k, _typed(k, v))
    if entity is EntityType.person and data.get("household_id"):
        data.pop("grid_id", None)
    return data


def _write_registers(session: Session, principal: Principal, entity: EntityType,
                    items: list[tuple[GoldenRecord, dict[str, Any], Any]]) -> dict[uuid.UUID, RowError]:
    """:func:`_write_register` for a batch of (golden record, surviving values, register row or None): new
    persons are created together by :func:`zhili.registry.bulk.create_persons` (the same checks and row as
    ``create_person``, one flush, no audit row per person: the import is audited); everything else one by one.
    The register's refusals by golden record id."""
    errors: dict[uuid.UUID, RowError] = {}
    batch: list[tuple[GoldenRecord, dict[str, Any]]] = []
    for g, values, obj in items:
        if entity is EntityType.person and obj is None:
            reason = _cannot_register(entity, values)
            if reason:
                g.register_note = reason
                continue
            batch.append((g, _create_data(entity, values)))
            continue
        err = _write_register(session, principal, entity, g, values, obj)
        if err is not None:
            errors[g.id] = err
    if batch:
        for (g, _), created in zip(batch, registry_bulk.create_persons(session, principal=principal,
                                                                  items=[d for _, d in batch]), strict=True):
            if isinstance(created, DomainError):
                g.register_note = "登记系统拒绝：" + str(getattr(created, "message", "") or created)[:180]
                errors[g.id] = RowError(None, "register_refused", g.register_note)
            else:
                g.register_id, g.path, g.register_note = created.id, created.path, None
    return errors


def _cannot_register(entity: EntityType, values: dict[str, Any]) -> str | None:
    """Why the golden record cannot have a register row yet (Chinese), or None."""
    if not values.get("name"):
        return "缺少名称，暂不建立登记记录"
    if entity is EntityType.person:
        try:
            validate_id_number(str(values.get("id_number") or ""))
        except DomainError:
            return "没有有效的身份证号，暂不建立人口登记"
        if not values.get("household_id") and not values.get("grid_id"):
            return "没有可定位的房屋或网格，暂不建立人口登记"
        return None
    if not values.get("address"):
        return "缺少地址，暂不建立登记记录"
    if not values.get("grid_id") and (values.get("lon") is None or values.get("lat") is None):
        return "没有可定位的网格或坐标，暂不建立登记记录"
    if entity is EntityType.organisation and values.get("credit_code"):
        try:
            validate_credit_code(str(values["credit_code"]))
        except DomainError:
            return "统一社会信用代码无效，暂不建立组织登记"
    return None
