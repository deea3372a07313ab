"""Rooms and stays as the rental register keeps them: a room resolved to the register's household, its landlord a
register person; a real-name check-in (every bad field named in Chinese) that finds or registers the tenant in the
register as floating population, issues a key and queues the police record; check-out that closes the stay."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from rentalkit import bad_checksum, building, gateway, household, id_number, phone, place, principal, resident, tenant
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core.audit import AuditEvent
from zhili.core.clock import today
from zhili.core.errors import Conflict, NotFound, ValidationFailed
from zhili.core.masking import mask_id_number
from zhili.registry import service as registry
from zhili.registry.models import Household, HouseholdUse, Person, PersonStatus, ResidentType
from zhili.rental import keys, rooms, stays
from zhili.rental.models import DeliveryKind, PoliceDelivery, RegisteredVia, StayState

__all__ = ["gateway"]  # the fixture, used by name


def test_a_room_is_resolved_to_the_register_and_its_landlord_is_a_register_person(db: Session, world: Any) -> None:
    staff = principal(db, world, "wangge_a")
    b = building(db, world.units["ga"])
    data = {"landlord": {"name": "赵房东", "id_number": id_number("19680505", "330522"), "phone": phone()},
            "building_id": b.id, "door": "502", "label": "主卧", "capacity": 2, "contract_end": today()}
    done = rooms.register_room(db, principal=staff, data=data)
    h = db.get(Household, done.room.household_id)
    assert h is not None and h.building_id == b.id and h.room == "502" and h.use == HouseholdUse.rented
    assert done.room.path == world.units["ga"].path and done.room.unit_id == world.units["ga"].id
    landlord = db.get(Person, done.room.landlord_person_id)
    assert landlord is not None and landlord.name == "赵房东" and landlord.resident_type == ResidentType.registered
    assert keys.key_state(done.landlord_key.key) == "valid" and done.landlord_key.key.holder_kind.value == "landlord"
    assert len(done.landlord_key.code) == keys.CODE_LEN and done.landlord_key.key.suffix == done.landlord_key.code[-4:]
    assert done.room.checkin_code and len(done.room.checkin_code) == 8
    # the same door and label again is a conflict, not a second room
    with pytest.raises(Conflict):
        rooms.register_room(db, principal=staff, data={**data, "landlord": dict(data["landlord"])})


def test_room_registration_names_every_bad_field(db: Session, world: Any) -> None:
    staff = principal(db, world, "wangge_a")
    h = household(db, building(db, world.units["ga"]))
    with pytest.raises(ValidationFailed) as exc:
        rooms.register_room(db, principal=staff, data={
            "landlord": {"name": "", "id_number": bad_checksum(id_number())}, "household_id": h.id, "label": "",
            "capacity": 0, "contract_start": today(), "contract_end": today() - dt.timedelta(days=1)})
    fields = exc.value.details["fields"]
    assert set(fields) >= {"landlord.name", "landlord.id_number", "label", "capacity", "contract_end"}
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in m) for m in fields.values())


def test_staff_register_only_within_their_jurisdiction(db: Session, world: Any) -> None:
    other = household(db, building(db, world.units["gc"]))
    from rentalkit import room_data

    with pytest.raises(ValidationFailed) as exc:
        rooms.register_room(db, principal=principal(db, world, "wangge_a"), data=room_data(other))
    assert "household_id" in exc.value.details["fields"]
    # street staff of the other street may
    done = rooms.register_room(db, principal=principal(db, world, "jiedao2"), data=room_data(other))
    assert done.room.path == world.units["gc"].path


def test_a_check_in_registers_the_tenant_as_floating_in_the_rooms_household(db: Session, world: Any,
                                                                            gateway: Any) -> None:
    p = place(db, world)
    form = tenant()
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=form)
    stay = done.stay
    person = db.get(Person, stay.person_id)
    assert person is not None and person.name == "李租客"
    assert person.resident_type == ResidentType.floating and person.household_id == p.household.id
    assert person.relation == "tenant"
    assert stay.state == StayState.active and stay.registered_via == RegisteredVia.grid_worker
    assert stay.phone_enc and form["phone"].encode() not in stay.phone_enc
    assert stay.photo_enc and stay.photo_type == "image/png"
    # the key and the police record are made in the same transaction
    assert keys.key_state(done.key.key) == "valid" and done.key.key.stay_id == stay.id
    d = db.scalar(select(PoliceDelivery).where(PoliceDelivery.stay_id == stay.id))
    assert d is not None and d.kind == DeliveryKind.check_in and d.state.value == "pending"
    assert stay.police_state == "pending"
    view = stays.stay_view(db, stay)
    assert view["id_number"] == mask_id_number(form["id_number"]) and "*" in view["phone"]
    ev = db.scalar(select(AuditEvent).where(AuditEvent.action == "rental.check_in",
                                            AuditEvent.object_id == str(stay.id)))
    assert ev is not None and form["id_number"] not in str(ev.after) and form["phone"] not in str(ev.after)


def test_a_known_person_is_matched_by_id_number_and_the_name_must_agree(db: Session, world: Any,
                                                                        gateway: Any) -> None:
    p = place(db, world)
    staff = principal(db, world, "jiedao1")
    ga = world.units["ga"]
    idn = id_number()
    known = registry.create_person(db, principal=staff, data={"name": "陈已登", "id_number": idn, "grid_id": ga.id,
                                                              "resident_type": ResidentType.registered})
    with pytest.raises(ValidationFailed) as exc:
        stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant("陈别名", id_number=idn))
    assert exc.value.code == "name_mismatch" and "name" in exc.value.details["fields"]
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant("陈已登", id_number=idn))
    assert done.stay.person_id == known.id
    assert db.scalars(select(Person).where(Person.name == "陈已登")).all() == [known]  # no second register row
    assert known.resident_type == ResidentType.registered  # 户籍 stays where it is
    with pytest.raises(Conflict):
        stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant("陈已登", id_number=idn))


@pytest.mark.parametrize(("field", "value", "code_in_message"), [
    ("id_number", "330522199001011234", "校验"),
    ("id_number", "12345", "18位"),
    ("phone", "12345678901", "手机"),
    ("phone", "", "手机"),
    ("name", "", "姓名"),
    ("name", "X", "姓名"),
    ("photo", b"", "照片"),
    ("photo", b"not an image at all", ""),
    ("expected_move_out", "MOVE_IN", "晚于入住"),
    ("move_in", None, "入住日期"),
])
def test_check_in_validation_names_the_bad_field_in_chinese(db: Session, world: Any, field: str, value: Any,
                                                             code_in_message: str) -> None:
    form = tenant()
    form[field] = form["move_in"] if value == "MOVE_IN" else value
    with pytest.raises(ValidationFailed) as exc:
        stays.validate_check_in(form)
    assert exc.value.code == "rental_invalid"
    fields = exc.value.details["fields"]
    assert list(fields) == [field]
    assert code_in_message in fields[field] and any("\u4e00" <= ch <= "\u9fff" for ch in fields[field])
    assert fields[field] in exc.value.message


def test_check_out_closes_the_stay_revokes_its_keys_queues_the_police_and_releases_the_household(
        db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
    with pytest.raises(ValidationFailed):
        stays.check_out(db, principal=p.staff, stay_id=done.stay.id, moved_out=today() + dt.timedelta(days=1))
    stay = stays.check_out(db, principal=p.staff, stay_id=done.stay.id, note="合同到期")
    assert stay.state == StayState.closed and stay.moved_out == today()
    assert keys.key_state(done.key.key) == "revoked" and done.key.key.revoke_reason == "租户退租"
    kinds = {d.kind for d in db.scalars(select(PoliceDelivery).where(PoliceDelivery.stay_id == stay.id))}
    assert kinds == {DeliveryKind.check_in, DeliveryKind.check_out}
    person = db.get(Person, stay.person_id)
    assert person is not None and person.status == PersonStatus.moved_out
    with pytest.raises(Conflict):
        stays.check_out(db, principal=p.staff, stay_id=stay.id)


def test_a_tenant_checks_in_from_the_portal_with_the_rooms_code_and_sees_their_stay(
        db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    mobile = phone()
    me = resident(db, world, "zuke1", mobile)
    with pytest.raises(NotFound):
        stays.check_in(db, principal=me, checkin_code="WRONG123", data=tenant(phone=mobile))
    with pytest.raises(NotFound):  # a room id is the landlord's and staff's way, not a stranger's
        stays.check_in(db, principal=me, room_id=p.room.id, data=tenant(phone=mobile))
    done = stays.check_in(db, principal=me, checkin_code=p.room.checkin_code.lower(), data=tenant(phone=mobile))
    assert done.stay.registered_via == RegisteredVia.portal and done.stay.tenant_user_id == me.user_id
    assert [s.id for s in stays.my_stays(db, principal=me)] == [done.stay.id]
    assert [k.id for k in keys.my_keys(db, principal=me)] == [done.key.key.id]
    assert stays.get_stay(db, principal=me, stay_id=done.stay.id) is done.stay
    # a tenant may check themselves out
    assert stays.check_out(db, principal=me, stay_id=done.stay.id).state == StayState.closed


def test_an_active_stay_is_extended_and_its_key_follows(db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
    later = done.stay.expected_move_out + dt.timedelta(days=90)
    stays.extend_stay(db, principal=p.staff, stay_id=done.stay.id, expected_move_out=later)
    from zhili.rental.common import day_end

    assert done.key.key.valid_to == day_end(later)
    with pytest.raises(ValidationFailed):
        stays.extend_stay(db, principal=p.staff, stay_id=done.stay.id, expected_move_out=done.stay.move_in)


def test_the_photo_is_served_only_to_those_who_may_see_the_stay_and_every_view_is_audited(
        db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
    ctype, data = stays.stay_photo(db, principal=p.staff, stay_id=done.stay.id)
    assert ctype == "image/png" and data[:4] == b"\x89PNG"
    assert db.scalar(select(AuditEvent.seq).where(AuditEvent.action == "rental.stay_photo")) is not None
    with pytest.raises(NotFound):
        stays.stay_photo(db, principal=principal(db, world, "wangge_b"), stay_id=done.stay.id)


def test_a_room_is_withdrawn_only_when_empty_and_then_takes_no_tenant_and_opens_to_no_key(
        db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
    with pytest.raises(Conflict):
        rooms.set_room_status(db, principal=p.staff, room_id=p.room.id, status="withdrawn")
    stays.check_out(db, principal=p.staff, stay_id=done.stay.id)
    rooms.set_room_status(db, principal=p.staff, room_id=p.room.id, status="withdrawn", reason="房东自住")
    assert keys.list_keys(db, principal=p.staff, room_id=p.room.id) == []
    with pytest.raises(Conflict):
        stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
    with pytest.raises(NotFound):  # its check-in code opens nothing
        stays.check_in(db, principal=resident(db, world, "zuke9", phone()), checkin_code=p.room.checkin_code,
                       data=tenant())
    assert rooms.set_room_status(db, principal=p.staff, room_id=p.room.id, status="active").status.value == "active"
