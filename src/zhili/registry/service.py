"""Base registers: buildings, entrances, households, persons, organisations — scoped, validated, audited.

ID and phone numbers are encrypted per row and searchable only by exact match through blind indexes; they
leave this module masked unless :func:`reveal_person` is called (permission + reason, audited).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, TypeVar

from sqlalchemy import Select, Text, cast, func, select
from sqlalchemy.orm import Session

from zhili.core import audit, clock
from zhili.core.crypto import FieldCipher, get_cipher
from zhili.core.errors import Conflict, NotFound, ValidationFailed
from zhili.core.ids import new_id
from zhili.core.jurisdiction import Principal, authorize, ensure_in_scope, path_predicate, scoped
from zhili.core.masking import mask_id_number, mask_phone
from zhili.core.query import contains_text, paginate, starts_with_text
from zhili.core.reveal import authorize_reveal
from zhili.core.security import Perm
from zhili.core.validators import (
    birth_date_from_id,
    gender_from_id,
    validate_credit_code,
    validate_id_number,
    validate_mobile,
)
from zhili.regions.models import Unit, UnitLevel
from zhili.regions.service import get_unit, locate
from zhili.registry.models import (
    CARE_TAGS,
    RELATIONS,
    Building,
    Entrance,
    Gender,
    Household,
    Organisation,
    Person,
    PersonStatus,
    ResidentType,
)

M = TypeVar("M", Building, Entrance, Household, Person, Organisation)

ID_PURPOSE = "person.id_number"
PHONE_PURPOSE = "person.phone"
ORG_PHONE_PURPOSE = "organisation.contact_phone"
_LABELS = {Building: "楼栋", Entrance: "单元", Household: "房屋/户", Person: "人员", Organisation: "组织"}


# -- shared helpers ----------------------------------------------------------------------------------------

def _load(session: Session, principal: Principal, model: type[M], obj_id: uuid.UUID) -> M:
    obj = session.get(model, obj_id)
    label = _LABELS[model]
    if obj is None:
        raise NotFound(f"{label}不存在或不在您的管辖范围内")
    ensure_in_scope(principal, obj.path, label)
    return obj


def _resolve_grid(
    session: Session, principal: Principal, grid_id: uuid.UUID | None, lon: float | None, lat: float | None
) -> Unit:
    if grid_id is None:
        if lon is None or lat is None:
            raise ValidationFailed("请指定所属网格，或提供坐标以自动定位", code="grid_required")
        _, _, grid = locate(session, lon=lon, lat=lat)
        if grid is None:
            raise ValidationFailed("该坐标不在任何网格内，请手动指定网格", code="point_outside_grids")
        grid_id = grid.id
    grid = get_unit(session, principal=principal, unit_id=grid_id)
    if grid.level != UnitLevel.grid:
        raise ValidationFailed(f"“{grid.name}”不是网格，请选择网格级单位", code="not_a_grid")
    if grid.valid_to <= clock.today():
        raise ValidationFailed(f"网格“{grid.name}”已撤销，请选择当前有效的网格", code="grid_retired")
    return grid


def _check_version(obj: Any, expected: int | None) -> None:
    if expected is not None and expected != obj.version:
        raise Conflict("记录已被他人修改，请刷新后重试", code="version_conflict",
                       details={"current_version": obj.version})


def _apply(obj: Any, changes: dict[str, Any]) -> dict[str, Any]:
    columns = type(obj).__table__.c
    for key, value in changes.items():
        if value is None and key in columns and not columns[key].nullable:
            raise ValidationFailed(f"“{key}”为必填项，不能清空", code="required_field", details={"field": key})
    before = {}
    for key, value in changes.items():
        before[key] = getattr(obj, key)
        setattr(obj, key, value)
    return before


def _under(stmt: Select[Any], session: Session, principal: Principal, model: Any, unit_id: uuid.UUID | None
           ) -> Select[Any]:
    """Scope ``stmt`` to the principal's jurisdiction and, optionally, to one unit's subtree."""
    stmt = scoped(stmt, principal, model.path)
    if unit_id:
        root = get_unit(session, principal=principal, unit_id=unit_id)
        stmt = stmt.where(path_predicate(model.path, (root.path,)))
    return stmt


# -- buildings --------------------------------------------------------------------------------------------

def create_building(session: Session, *, principal: Principal, data: dict[str, Any]) -> Building:
    """Register a building in a grid (given, or found from its coordinates)."""
    authorize(principal, Perm.registry_write)
    grid = _resolve_grid(session, principal, data.pop("grid_id", None), data.get("lon"), data.get("lat"))
    b = Building(grid_id=grid.id, path=grid.path, **data)
    session.add(b)
    session.flush()
    audit.record(session, actor=principal.actor, action="building.create", object_type="building",
                 object_id=b.id, after={**data, "grid": grid.code})
    return b


def get_building(session: Session, *, principal: Principal, building_id: uuid.UUID) -> Building:
    """One building in jurisdiction."""
    authorize(principal, Perm.registry_read)
    return _load(session, principal, Building, building_id)


def list_buildings(
    session: Session, *, principal: Principal, unit_id: uuid.UUID | None = None, q: str | None = None,
    building_type: str | None = None, page: int = 1, page_size: int = 50, sort: str | None = None,
) -> tuple[list[Building], int]:
    """Buildings in jurisdiction, optionally under a unit, by keyword or type."""
    authorize(principal, Perm.registry_read)
    stmt = _under(select(Building), session, principal, Building, unit_id)
    if q:
        stmt = stmt.where(contains_text(Building.name, q) | contains_text(Building.address, q)
                          | contains_text(Building.compound, q))
    if building_type:
        stmt = stmt.where(Building.building_type == building_type)
    return paginate(session, stmt, page=page, page_size=page_size, sort=sort,
                    sortable={"name": Building.name, "address": Building.address, "created_at": Building.created_at},
                    default_sort=[Building.address, Building.id])


def update_building(session: Session, *, principal: Principal, building_id: uuid.UUID, changes: dict[str, Any]
                    ) -> Building:
    """Edit a building."""
    authorize(principal, Perm.registry_write)
    b = _load(session, principal, Building, building_id)
    _check_version(b, changes.pop("version", None))
    before = _apply(b, changes)
    session.flush()
    audit.record(session, actor=principal.actor, action="building.update", object_type="building",
                 object_id=b.id, before=before, after=changes)
    return b


def delete_building(session: Session, *, principal: Principal, building_id: uuid.UUID) -> None:
    """Delete a building that has no households or organisations."""
    authorize(principal, Perm.registry_write)
    b = _load(session, principal, Building, building_id)
    n = session.scalar(select(func.count()).select_from(Household).where(Household.building_id == b.id)) or 0
    m = session.scalar(select(func.count()).select_from(Organisation).where(Organisation.building_id == b.id)) or 0
    if n or m:
        raise Conflict(f"该楼栋下还有{n}户、{m}个组织，不能删除", code="building_in_use")
    session.delete(b)
    session.flush()
    audit.record(session, actor=principal.actor, action="building.delete", object_type="building",
                 object_id=building_id, before={"name": b.name, "address": b.address})


def add_entrance(session: Session, *, principal: Principal, building_id: uuid.UUID, name: str) -> Entrance:
    """Add a stairwell unit to a building."""
    authorize(principal, Perm.registry_write)
    b = _load(session, principal, Building, building_id)
    if session.scalar(select(Entrance.id).where(Entrance.building_id == b.id, Entrance.name == name)):
        raise Conflict(f"楼栋已有“{name}”", code="entrance_exists")
    e = Entrance(building_id=b.id, path=b.path, name=name)
    session.add(e)
    session.flush()
    audit.record(session, actor=principal.actor, action="entrance.create", object_type="entrance",
                 object_id=e.id, after={"building": str(b.id), "name": name})
    return e


def list_entrances(session: Session, *, principal: Principal, building_id: uuid.UUID) -> list[Entrance]:
    """Stairwell units of a building."""
    authorize(principal, Perm.registry_read)
    b = _load(session, principal, Building, building_id)
    return list(session.scalars(select(Entrance).where(Entrance.building_id == b.id).order_by(Entrance.name)))


# -- households -------------------------------------------------------------------------------------------

def create_household(session: Session, *, principal: Principal, data: dict[str, Any]) -> Household:
    """Register a room/household in a building."""
    authorize(principal, Perm.registry_write)
    b = _load(session, principal, Building, data.pop("building_id"))
    entrance_id = data.pop("entrance_id", None)
    if entrance_id is not None:
        e = session.get(Entrance, entrance_id)
        if e is None or e.building_id != b.id:
            raise ValidationFailed("单元不属于该楼栋", code="entrance_mismatch")
    if session.scalar(select(Household.id).where(Household.building_id == b.id, Household.room == data["room"],
                                                 Household.entrance_id.is_(entrance_id) if entrance_id is None
                                                 else Household.entrance_id == entrance_id)):
        raise Conflict(f"该楼栋（单元）已登记室号 {data['room']}", code="household_exists")
    address = data.pop("address", None) or f"{b.address}{data['room']}室"
    h = Household(building_id=b.id, entrance_id=entrance_id, grid_id=b.grid_id, path=b.path, address=address,
                  **data)
    session.add(h)
    session.flush()
    audit.record(session, actor=principal.actor, action="household.create", object_type="household",
                 object_id=h.id, after={"building": str(b.id), "room": h.room, "use": h.use.value})
    return h


def get_household(session: Session, *, principal: Principal, household_id: uuid.UUID) -> Household:
    """One household in jurisdiction."""
    authorize(principal, Perm.registry_read)
    return _load(session, principal, Household, household_id)


def list_households(
    session: Session, *, principal: Principal, unit_id: uuid.UUID | None = None,
    building_id: uuid.UUID | None = None, use: str | None = None, q: str | None = None,
    member_id_number: str | None = None, member_phone: str | None = None,
    page: int = 1, page_size: int = 50, sort: str | None = None,
) -> tuple[list[Household], int]:
    """Households in jurisdiction; ``member_id_number``/``member_phone`` find the households of a person with that
    number, exactly, through the blind index."""
    authorize(principal, Perm.registry_read)
    stmt = _under(select(Household), session, principal, Household, unit_id)
    if member_id_number or member_phone:
        cipher = get_cipher()
        members = select(Person.household_id).where(Person.household_id.is_not(None))
        if member_id_number:
            members = members.where(Person.id_number_bidx == cipher.blind_index(member_id_number.strip().upper(),
                                                                               purpose=ID_PURPOSE))
        if member_phone:
            members = members.where(Person.phone_bidx == cipher.blind_index(validate_mobile(member_phone),
                                                                           purpose=PHONE_PURPOSE))
        stmt = stmt.where(Household.id.in_(members))
    if building_id:
        stmt = stmt.where(Household.building_id == building_id)
    if use:
        stmt = stmt.where(Household.use == use)
    if q:
        stmt = stmt.where(contains_text(Household.address, q) | (Household.room == q))
    return paginate(session, stmt, page=page, page_size=page_size, sort=sort,
                    sortable={"room": Household.room, "address": Household.address,
                              "created_at": Household.created_at},
                    default_sort=[Household.address, Household.id])


def update_household(session: Session, *, principal: Principal, household_id: uuid.UUID,
                     changes: dict[str, Any]) -> Household:
    """Edit a household."""
    authorize(principal, Perm.registry_write)
    h = _load(session, principal, Household, household_id)
    _check_version(h, changes.pop("version", None))
    before = _apply(h, changes)
    session.flush()
    audit.record(session, actor=principal.actor, action="household.update", object_type="household",
                 object_id=h.id, before=before, after=changes)
    return h


def delete_household(session: Session, *, principal: Principal, household_id: uuid.UUID) -> None:
    """Delete a household with no active members."""
    authorize(principal, Perm.registry_write)
    h = _load(session, principal, Household, household_id)
    n = session.scalar(select(func.count()).select_from(Person).where(
        Person.household_id == h.id, Person.status == PersonStatus.active)) or 0
    if n:
        raise Conflict(f"该户还有{n}名在册人员，不能删除", code="household_in_use")
    session.delete(h)
    session.flush()
    audit.record(session, actor=principal.actor, action="household.delete", object_type="household",
                 object_id=household_id, before={"address": h.address})


# -- persons ----------------------------------------------------------------------------------------------

def _check_tags(tags: list[str]) -> list[str]:
    unknown = [t for t in tags if t not in CARE_TAGS]
    if unknown:
        raise ValidationFailed(f"未知的关爱标签：{', '.join(unknown)}", code="bad_care_tag",
                               details={"allowed": CARE_TAGS})
    return sorted(set(tags))


def _check_relation(rel: str | None) -> str | None:
    if rel is not None and rel not in RELATIONS:
        raise ValidationFailed(f"未知的与户主关系：{rel}", code="bad_relation", details={"allowed": RELATIONS})
    return rel


def _set_phone(cipher: FieldCipher, p: Person, phone: str | None) -> None:
    if not phone:
        p.phone_enc, p.phone_bidx = None, None
        return
    phone = validate_mobile(phone)
    p.phone_enc = cipher.encrypt(phone, table="person", column="phone", row_id=p.id)
    p.phone_bidx = cipher.blind_index(phone, purpose=PHONE_PURPOSE)


def person_row(cipher: FieldCipher, data: dict[str, Any], *, household_id: uuid.UUID | None,
               grid_id: uuid.UUID, path: str) -> Person:
    """The register row of a new person, not yet added: the ONE layout of a person row, shared by
    :func:`create_person` and ``zhili.registry.bulk.create_persons``. Validates the ID number (GB 11643), care
    tags, relation and phone; derives gender and birth date from the ID number; encrypts ID and phone bound to
    the new row's id and sets their blind indexes. ``data`` holds the person's other columns (``id_number`` and
    ``phone`` popped here); the place (``household_id``/``grid_id``/``path``) is the caller's, already checked.
    Uniqueness of the ID number is the caller's (it needs the database)."""
    id_number = validate_id_number(data.pop("id_number"))
    phone = data.pop("phone", None)
    data["care_tags"] = _check_tags(data.get("care_tags") or [])
    data["relation"] = _check_relation(data.get("relation"))
    p = Person(household_id=household_id, grid_id=grid_id, path=path, gender=Gender(gender_from_id(id_number)),
               birth_date=birth_date_from_id(id_number), id_number_bidx=cipher.blind_index(id_number,
                                                                                           purpose=ID_PURPOSE),
               id_number_enc=b"", **data)
    p.id = new_id()
    p.id_number_enc = cipher.encrypt(id_number, table="person", column="id_number", row_id=p.id)
    _set_phone(cipher, p, phone)
    return p


def _person_place(session: Session, principal: Principal, household_id: uuid.UUID | None,
                  grid_id: uuid.UUID | None) -> tuple[uuid.UUID | None, uuid.UUID, str]:
    """Where a new person lives: their household's grid and path, else the grid's (in the caller's jurisdiction,
    current, a grid)."""
    if household_id:
        h = _load(session, principal, Household, household_id)
        return household_id, h.grid_id, h.path
    grid = _resolve_grid(session, principal, grid_id, None, None)
    return None, grid.id, grid.path


def create_person(session: Session, *, principal: Principal, data: dict[str, Any]) -> Person:
    """Register a person: ID validated, gender/birth date derived, ID and phone encrypted."""
    authorize(principal, Perm.registry_write)
    cipher = get_cipher()
    id_number = validate_id_number(data["id_number"])
    phone = data.get("phone")
    bidx = cipher.blind_index(id_number, purpose=ID_PURPOSE)
    if session.scalar(select(Person.id).where(Person.id_number_bidx == bidx)):
        raise Conflict("该身份证号码已登记", code="id_number_taken")
    place = _person_place(session, principal, data.pop("household_id", None), data.pop("grid_id", None))
    p = person_row(cipher, data, household_id=place[0], grid_id=place[1], path=place[2])
    session.add(p)
    session.flush()
    audit.record(session, actor=principal.actor, action="person.create", object_type="person", object_id=p.id,
                 after={"name": p.name, "id_number": mask_id_number(id_number), "phone": mask_phone(phone),
                        "resident_type": p.resident_type.value, "care_tags": p.care_tags})
    return p


def get_person(session: Session, *, principal: Principal, person_id: uuid.UUID) -> Person:
    """One person in jurisdiction."""
    authorize(principal, Perm.registry_read)
    return _load(session, principal, Person, person_id)


def list_persons(
    session: Session, *, principal: Principal, unit_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None, name: str | None = None, id_number: str | None = None,
    phone: str | None = None, resident_type: ResidentType | None = None, care_tag: str | None = None,
    status: PersonStatus | None = PersonStatus.active, min_age: int | None = None, max_age: int | None = None,
    page: int = 1, page_size: int = 50, sort: str | None = None,
) -> tuple[list[Person], int]:
    """Persons in jurisdiction; ID and phone match exactly through the blind index (never by decrypting)."""
    authorize(principal, Perm.registry_read)
    cipher = get_cipher()
    stmt = _under(select(Person), session, principal, Person, unit_id)
    if household_id:
        stmt = stmt.where(Person.household_id == household_id)
    if name:
        stmt = stmt.where(starts_with_text(Person.name, name))
    if id_number:
        stmt = stmt.where(Person.id_number_bidx == cipher.blind_index(id_number, purpose=ID_PURPOSE))
    if phone:
        stmt = stmt.where(Person.phone_bidx == cipher.blind_index(validate_mobile(phone), purpose=PHONE_PURPOSE))
    if resident_type:
        stmt = stmt.where(Person.resident_type == resident_type)
    if status:
        stmt = stmt.where(Person.status == status)
    if care_tag:
        _check_tags([care_tag])
        stmt = stmt.where(contains_text(cast(Person.care_tags, Text), f'"{care_tag}"'))
    today = clock.today()
    if min_age is not None:
        stmt = stmt.where(Person.birth_date <= _years_before(today, min_age))
    if max_age is not None:
        stmt = stmt.where(Person.birth_date > _years_before(today, max_age + 1))
    return paginate(session, stmt, page=page, page_size=page_size, sort=sort,
                    sortable={"name": Person.name, "birth_date": Person.birth_date,
                              "created_at": Person.created_at},
                    default_sort=[Person.path, Person.name, Person.id])


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def update_person(session: Session, *, principal: Principal, person_id: uuid.UUID, changes: dict[str, Any]) -> Person:
    """Edit a person; moving to another household moves their grid too."""
    authorize(principal, Perm.registry_write)
    p = _load(session, principal, Person, person_id)
    _check_version(p, changes.pop("version", None))
    before: dict[str, Any] = {}
    if "phone" in changes:
        before["phone"] = "***"
        _set_phone(get_cipher(), p, changes.pop("phone"))
    if changes.get("household_id"):
        h = _load(session, principal, Household, changes["household_id"])
        before.update(_apply(p, {"grid_id": h.grid_id, "path": h.path}))
    if "care_tags" in changes and changes["care_tags"] is not None:
        changes["care_tags"] = _check_tags(changes["care_tags"])
    if "relation" in changes:
        _check_relation(changes["relation"])
    before.update(_apply(p, {k: v for k, v in changes.items() if v is not None or k == "note"}))
    session.flush()
    audit.record(session, actor=principal.actor, action="person.update", object_type="person", object_id=p.id,
                 before=before, after={k: v for k, v in changes.items()} | ({"phone": "***"} if "phone" in before
                                                                            else {}))
    return p


def delete_person(session: Session, *, principal: Principal, person_id: uuid.UUID, reason: str) -> None:
    """Remove a person record entered in error (moving out is a status change, not a delete)."""
    authorize(principal, Perm.registry_write)
    p = _load(session, principal, Person, person_id)
    session.delete(p)
    session.flush()
    audit.record(session, actor=principal.actor, action="person.delete", object_type="person",
                 object_id=person_id, before={"name": p.name}, reason=reason)


def reveal_person(session: Session, *, principal: Principal, person_id: uuid.UUID, reason: str) -> dict[str, Any]:
    """The person's full ID and phone number — an explicit, audited action with a reason (see ``core.reveal``)."""
    reason = authorize_reveal(session, principal=principal, perms=(Perm.registry_read, Perm.pii_reveal),
                              reason=reason, object_type="person", object_id=person_id)
    p = _load(session, principal, Person, person_id)
    cipher = get_cipher()
    id_number = cipher.decrypt(p.id_number_enc, table="person", column="id_number", row_id=p.id)
    phone = cipher.decrypt(p.phone_enc, table="person", column="phone", row_id=p.id) if p.phone_enc else None
    audit.record(session, actor=principal.actor, action="person.reveal", object_type="person", object_id=p.id,
                 reason=reason, after={"fields": ["id_number", "phone"]})
    return {"id": p.id, "name": p.name, "id_number": id_number, "phone": phone}


def person_view(p: Person, *, today: dt.date | None = None) -> dict[str, Any]:
    """A person as the API shows it: ID and phone masked."""
    cipher = get_cipher()
    today = today or clock.today()
    id_number = cipher.decrypt(p.id_number_enc, table="person", column="id_number", row_id=p.id)
    phone = cipher.decrypt(p.phone_enc, table="person", column="phone", row_id=p.id) if p.phone_enc else None
    age = today.year - p.birth_date.year - ((today.month, today.day) < (p.birth_date.month, p.birth_date.day))
    return {
        "id": p.id, "household_id": p.household_id, "grid_id": p.grid_id, "path": p.path, "name": p.name,
        "id_number": mask_id_number(id_number), "phone": mask_phone(phone), "gender": p.gender,
        "birth_date": p.birth_date, "age": age, "ethnicity": p.ethnicity, "relation": p.relation,
        "resident_type": p.resident_type, "care_tags": list(p.care_tags or []), "status": p.status,
        "note": p.note, "version": p.version, "created_at": p.created_at, "updated_at": p.updated_at,
    }


# -- organisations ----------------------------------------------------------------------------------------

def _set_org_phone(o: Organisation, phone: str | None) -> None:
    cipher = get_cipher()
    if not phone:
        o.contact_phone_enc, o.contact_phone_bidx = None, None
        return
    phone = validate_mobile(phone)
    o.contact_phone_enc = cipher.encrypt(phone, table="organisation", column="contact_phone", row_id=o.id)
    o.contact_phone_bidx = cipher.blind_index(phone, purpose=ORG_PHONE_PURPOSE)


def create_organisation(session: Session, *, principal: Principal, data: dict[str, Any]) -> Organisation:
    """Register an organisation (credit code validated and unique)."""
    authorize(principal, Perm.registry_write)
    code = data.pop("credit_code", None)
    if code:
        code = validate_credit_code(code)
        if session.scalar(select(Organisation.id).where(Organisation.credit_code == code)):
            raise Conflict("该统一社会信用代码已登记", code="credit_code_taken")
    grid = _resolve_grid(session, principal, data.pop("grid_id", None), data.get("lon"), data.get("lat"))
    building_id = data.pop("building_id", None)
    if building_id:
        _load(session, principal, Building, building_id)
    phone = data.pop("contact_phone", None)
    o = Organisation(id=new_id(), grid_id=grid.id, path=grid.path, credit_code=code, building_id=building_id,
                     **data)
    _set_org_phone(o, phone)
    session.add(o)
    session.flush()
    audit.record(session, actor=principal.actor, action="organisation.create", object_type="organisation",
                 object_id=o.id, after={"name": o.name, "credit_code": code, "grid": grid.code})
    return o


def get_organisation(session: Session, *, principal: Principal, organisation_id: uuid.UUID) -> Organisation:
    """One organisation in jurisdiction."""
    authorize(principal, Perm.registry_read)
    return _load(session, principal, Organisation, organisation_id)


def list_organisations(
    session: Session, *, principal: Principal, unit_id: uuid.UUID | None = None, q: str | None = None,
    org_type: str | None = None, credit_code: str | None = None, page: int = 1, page_size: int = 50,
    sort: str | None = None,
) -> tuple[list[Organisation], int]:
    """Organisations in jurisdiction."""
    authorize(principal, Perm.registry_read)
    stmt = _under(select(Organisation), session, principal, Organisation, unit_id)
    if q:
        stmt = stmt.where(contains_text(Organisation.name, q) | contains_text(Organisation.address, q))
    if org_type:
        stmt = stmt.where(Organisation.org_type == org_type)
    if credit_code:
        stmt = stmt.where(Organisation.credit_code == credit_code.strip().upper())
    return paginate(session, stmt, page=page, page_size=page_size, sort=sort,
                    sortable={"name": Organisation.name, "created_at": Organisation.created_at,
                              "employees": Organisation.employees},
                    default_sort=[Organisation.name, Organisation.id])


def update_organisation(session: Session, *, principal: Principal, organisation_id: uuid.UUID,
                        changes: dict[str, Any]) -> Organisation:
    """Edit an organisation."""
    authorize(principal, Perm.registry_write)
    o = _load(session, principal, Organisation, organisation_id)
    _check_version(o, changes.pop("version", None))
    if "contact_phone" in changes:
        _set_org_phone(o, changes.pop("contact_phone"))
    before = _apply(o, changes)
    session.flush()
    audit.record(session, actor=principal.actor, action="organisation.update", object_type="organisation",
                 object_id=o.id, before=before, after=changes)
    return o


def delete_organisation(session: Session, *, principal: Principal, organisation_id: uuid.UUID) -> None:
    """Delete an organisation record."""
    authorize(principal, Perm.registry_write)
    o = _load(session, principal, Organisation, organisation_id)
    session.delete(o)
    session.flush()
    audit.record(session, actor=principal.actor, action="organisation.delete", object_type="organisation",
                 object_id=organisation_id, before={"name": o.name, "credit_code": o.credit_code})


def organisation_view(o: Organisation) -> dict[str, Any]:
    """An organisation as the API shows it (contact phone masked)."""
    phone = (get_cipher().decrypt(o.contact_phone_enc, table="organisation", column="contact_phone", row_id=o.id)
             if o.contact_phone_enc else None)
    return {
        "id": o.id, "grid_id": o.grid_id, "path": o.path, "building_id": o.building_id, "name": o.name,
        "credit_code": o.credit_code, "org_type": o.org_type, "industry": o.industry, "address": o.address,
        "legal_rep": o.legal_rep, "contact_name": o.contact_name, "contact_phone": mask_phone(phone),
        "employees": o.employees, "lon": o.lon, "lat": o.lat, "version": o.version, "created_at": o.created_at,
        "updated_at": o.updated_at,
    }
