"""Door locks at rental rooms: an unlock by an unregistered credential at a room with a registered stay is a
warning (the rental register's), three within a day become one case (the shipped iot rule); a tenant's key is
known; tamper and low battery are alerts; the case is placed at the room's building."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from iotworld import PREFIX, device, install, msg
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from testimages import png
from zhili.cases import notify
from zhili.cases.models import Case, Channel
from zhili.cases.taxonomy import load_defaults
from zhili.core.clock import today
from zhili.core.db import utcnow
from zhili.core.validators import id_check_digit
from zhili.intel.models import Warning
from zhili.iot.engine import process_batch
from zhili.iot.models import Alert, AlertState, Message, Rule
from zhili.registry.models import Building, BuildingType, Household, HouseholdUse
from zhili.rental.rooms import register_room
from zhili.rental.stays import check_in
from zhili.users.service import principal_for_user

_seq = itertools.count(101)


def _id(born: str) -> str:
    first = f"330522{born}{next(_seq) % 1000:03d}"
    return first + id_check_digit(first)


@pytest.fixture
def room(db: Session, world: Any) -> Iterator[Any]:
    load_defaults(db)
    install(db)
    notify.set_channels([notify.FakeChannel()])
    staff = principal_for_user(db, user=world.users["wangge_a"])
    b = Building(grid_id=world.units["ga"].id, path=world.units["ga"].path, name="金陵小区3幢",
                 address="长兴县金陵路 88 号", building_type=BuildingType.residential, floors=6, lon=119.1, lat=31.1)
    db.add(b)
    db.flush()
    h = Household(building_id=b.id, grid_id=b.grid_id, path=b.path, room="502", address=f"{b.address}502室",
                  use=HouseholdUse.owner_occupied)
    db.add(h)
    db.flush()
    done = register_room(db, principal=staff, data={
        "landlord": {"name": "王房东", "id_number": _id("19700101"), "phone": "13900001111"},
        "household_id": h.id, "label": "整套", "capacity": 2, "rent_yuan": 1500})
    d = today()
    stay = check_in(db, principal=staff, room_id=done.room.id, data={
        "name": "李租客", "id_number": _id("19950312"), "phone": "13900002222", "photo": png(4, 4),
        "move_in": d - dt.timedelta(days=3), "expected_move_out": d + dt.timedelta(days=180)})
    try:
        yield {"room": done.room, "building": b, "landlord_code": done.landlord_key.code, "stay": stay}
    finally:
        notify.set_channels(None)


def test_unknown_credential_warns_and_three_in_a_day_become_one_case(db: Session, world: Any, room: Any) -> None:
    lock = device(db, world, "door_lock", room_id=room["room"].id, grid=None, lon=None, lat=None)
    assert lock.building_id == room["building"].id and lock.path == room["room"].path
    t0 = utcnow()

    def unlock(cred: str, minutes: int) -> Any:
        t = t0 + dt.timedelta(minutes=minutes)
        return process_batch(db, [msg(lock, "door_lock", "events", {"event": "unlock", "credential": cred},
                                      at=t)], prefix=PREFIX, now=t)

    # the landlord's own key: known, nothing raised
    assert unlock(room["landlord_code"], 0).alerts_opened == 0
    # the first unknown unlock: the rental register's warning, no case yet
    assert unlock("X-0001", 10).alerts_opened == 0
    warnings = list(db.scalars(select(Warning).where(Warning.kind == "rental_unknown_unlock")))
    assert len(warnings) == 1
    assert unlock("X-0002", 20).alerts_opened == 0
    third = unlock("X-0003", 30)
    assert third.alerts_opened == 1 and third.cases == 1
    a = db.scalar(select(Alert).where(Alert.kind == "rule"))
    assert a is not None and a.case_id is not None
    rule = db.get(Rule, a.rule_id)
    assert rule is not None and rule.code == "lock_unknown_repeat"
    case = db.get(Case, a.case_id)
    assert case is not None and case.channel == Channel.iot and case.category_code == "SG-0201"
    assert case.grid_id == world.units["ga"].id
    # a fourth adds to the alert, not another case
    assert unlock("X-0004", 40).alerts_counted == 1
    assert db.scalar(select(func.count()).select_from(Case)) == 1
    # credentials are judged, never stored: the messages and the alert keep the last four characters
    stored = [m.payload["credential"] for m in db.scalars(select(Message).where(Message.device_id == lock.id))]
    assert sorted(stored) == sorted(["…" + room["landlord_code"][-4:], "…0001", "…0002", "…0003", "…0004"])
    assert a.detail["payload"]["credential"] == "…0004"


def test_tenant_key_is_known_and_tamper_is_an_alert(db: Session, world: Any, room: Any) -> None:
    lock = device(db, world, "door_lock", room_id=room["room"].id, grid=None, lon=None, lat=None)
    t = utcnow()
    code = room["stay"].key.code
    res = process_batch(db, [msg(lock, "door_lock", "events", {"event": "unlock", "credential": code}, at=t),
                             msg(lock, "door_lock", "events", {"event": "tamper"}, at=t),
                             msg(lock, "door_lock", "events", {"event": "low_battery"}, at=t)],
                        prefix=PREFIX, now=t)
    assert res.alerts_opened == 2 and res.cases == 0
    titles = {a.title for a in db.scalars(select(Alert).where(Alert.state == AlertState.open))}
    assert titles == {"门锁被撬/拆卸", "门锁电量低"}
    assert db.scalar(select(func.count()).select_from(Warning).where(Warning.kind == "rental_unknown_unlock")) == 0
