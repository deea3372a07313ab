"""Electronic keys and the lock interface: a key only for a tenant with an active stay (and the landlord), valid
from move-in to the end of the expected move-out day, revoked at check-out; the lock's verdicts (known key, unknown
credential, idempotent on the message), the unknown-credential warning at an occupied room, meter signals counted by
the hour, a room's location and its valid credentials for the lock."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from rentalkit import gateway, place, principal, resident, tenant
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.cases.models import Notification
from zhili.core.clock import utcnow
from zhili.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from zhili.intel.models import Warning
from zhili.rental import keys, locks, stays
from zhili.rental.common import day_end, day_start
from zhili.rental.models import Signal

__all__ = ["gateway"]


def test_a_tenant_key_is_valid_from_move_in_until_the_end_of_the_expected_move_out_day(
        db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
    key = done.key.key
    assert key.valid_from == day_start(done.stay.move_in) and key.valid_to == day_end(done.stay.expected_move_out)
    assert keys.key_state(key) == "valid"
    assert keys.key_state(key, day_end(done.stay.expected_move_out) - dt.timedelta(seconds=1)) == "valid"
    assert keys.key_state(key, day_end(done.stay.expected_move_out)) == "expired"  # expires with the stay
    assert keys.key_state(key, day_start(done.stay.move_in) - dt.timedelta(seconds=1)) == "pending"
    # the code is never stored: only its keyed hash and its last four characters
    assert key.credential_hash == keys.credential_hash(done.key.code) and done.key.code not in key.credential_hash
    assert keys.credential_hash(done.key.code.lower()[:8] + "-" + done.key.code.lower()[8:]) == key.credential_hash


def test_keys_follow_the_stay_revoked_at_check_out_and_renewed_only_while_it_lasts(
        db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
    renewed = keys.renew_key(db, principal=p.staff, key_id=done.key.key.id)
    assert keys.key_state(done.key.key) == "revoked" and renewed.code != done.key.code
    assert renewed.key.valid_to == done.key.key.valid_to and renewed.key.stay_id == done.stay.id
    stays.check_out(db, principal=p.staff, stay_id=done.stay.id)
    assert keys.key_state(renewed.key) == "revoked"
    with pytest.raises(Conflict):
        keys.renew_key(db, principal=p.staff, key_id=renewed.key.id)
    now = utcnow()
    assert [c.holder_kind for c in locks.lock_credentials(db, room_id=p.room.id, at=now)] == ["landlord"]


def test_issuing_a_tenant_key_for_a_closed_stay_is_refused(db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
    stays.check_out(db, principal=p.staff, stay_id=done.stay.id)
    with pytest.raises(Conflict):
        keys.issue_tenant_key(db, actor=p.staff.actor, room=p.room, stay=done.stay)


def test_revocation_needs_a_reason_and_the_landlord_or_staff(db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
    with pytest.raises(ValidationFailed):
        keys.revoke_key(db, principal=p.staff, key_id=done.key.key.id, reason=" ")
    with pytest.raises(NotFound):
        keys.revoke_key(db, principal=principal(db, world, "wangge_b"), key_id=done.key.key.id, reason="丢失")
    with pytest.raises(Forbidden):
        keys.revoke_key(db, principal=principal(db, world, "bumen"), key_id=done.key.key.id, reason="丢失")
    keys.revoke_key(db, principal=p.staff, key_id=done.key.key.id, reason="钥匙丢失")
    assert keys.key_state(done.key.key) == "revoked"
    assert keys.list_keys(db, principal=p.staff, room_id=p.room.id) == [
        k for k in keys.list_keys(db, principal=p.staff, room_id=p.room.id) if k.holder_kind.value == "landlord"]
    assert len(keys.list_keys(db, principal=p.staff, room_id=p.room.id, include_ended=True)) == 2


def test_a_new_landlord_key_revokes_the_old_one(db: Session, world: Any) -> None:
    p = place(db, world)
    old = keys.list_keys(db, principal=p.staff, room_id=p.room.id)
    new = keys.issue_landlord_key(db, principal=p.staff, room_id=p.room.id)
    assert [keys.key_state(k) for k in old] == ["revoked"]
    assert keys.list_keys(db, principal=p.staff, room_id=p.room.id) == [new.key]


# -- the lock interface -----------------------------------------------------------------------------------------------

def test_lock_verdicts_know_the_key_and_its_holder(db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    device = uuid.uuid4()
    at = utcnow()
    empty = locks.on_lock_event(db, room_id=p.room.id, event="unlock", credential=p.landlord_code, at=at,
                                device_id=device, message_key="m-1")
    assert empty == locks.LockVerdict(credential_known=True, holder_kind="landlord", stay_active=False,
                                      unknown_recent=0)
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
    v = locks.on_lock_event(db, room_id=p.room.id, event="unlock_key", credential=done.key.code, at=at,
                            device_id=device, message_key="m-2")
    assert (v.credential_known, v.holder_kind, v.stay_active, v.unknown_recent) == (True, "tenant", True, 0)
    stays.check_out(db, principal=p.staff, stay_id=done.stay.id)
    after = locks.on_lock_event(db, room_id=p.room.id, event="unlock", credential=done.key.code, at=utcnow(),
                                device_id=device, message_key="m-3")
    assert after.credential_known is False and after.holder_kind is None and after.stay_active is False
    assert after.unknown_recent == 1  # counted, but no warning: nobody lives there
    assert db.scalar(select(func.count()).select_from(Warning).where(Warning.kind == "rental_unknown_unlock")) == 0


def test_an_unknown_credential_at_an_occupied_room_warns_the_grid_once_a_day_and_messages_count_once(
        db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
    device = uuid.uuid4()
    at = utcnow()
    first = locks.on_lock_event(db, room_id=p.room.id, event="unlock", credential="NOT-A-KEY", at=at,
                                device_id=device, message_key="dev-1/42")
    assert (first.credential_known, first.stay_active, first.unknown_recent) == (False, True, 1)
    again = locks.on_lock_event(db, room_id=p.room.id, event="unlock", credential="NOT-A-KEY", at=at,
                                device_id=device, message_key="dev-1/42")  # redelivered: nothing new
    assert again == first
    assert db.scalar(select(func.count()).select_from(Signal).where(Signal.room_id == p.room.id)) == 1
    locks.on_lock_event(db, room_id=p.room.id, event="unlock", credential=None, at=at + dt.timedelta(minutes=5),
                        device_id=device, message_key="dev-1/43")
    warned = db.scalars(select(Warning).where(Warning.kind == "rental_unknown_unlock")).all()
    assert len(warned) == 1 and warned[0].path == p.room.path and warned[0].detail["room_id"] == str(p.room.id)
    assert "陌生凭证" in warned[0].title
    inbox = db.scalars(select(Notification.recipient).where(Notification.kind == "intel_warning")).all()
    assert world.units["ga"].code in inbox
    # a tamper alarm is no unlock
    v = locks.on_lock_event(db, room_id=p.room.id, event="tamper", credential=None, at=at + dt.timedelta(minutes=6),
                            device_id=device, message_key="dev-1/44")
    assert v.unknown_recent == 2


def test_meter_signals_are_counted_by_the_hour_and_unknown_rooms_ignored(db: Session, world: Any) -> None:
    p = place(db, world)
    at = dt.datetime(2026, 5, 1, 8, 10, tzinfo=dt.UTC)
    for minute in (0, 20, 40):
        locks.record_signal(db, room_id=p.room.id, kind="water", at=at.replace(minute=minute))
    locks.record_signal(db, room_id=p.room.id, kind="power", at=at)
    locks.record_signal(db, room_id=uuid.uuid4(), kind="power", at=at)
    rows = db.scalars(select(Signal).where(Signal.room_id == p.room.id).order_by(Signal.kind)).all()
    assert [(r.kind.value, r.count) for r in rows] == [("power", 1), ("water", 3)]
    with pytest.raises(ValueError):
        locks.record_signal(db, room_id=p.room.id, kind="gas", at=at)


def test_a_room_locates_its_devices(db: Session, world: Any) -> None:
    p = place(db, world)
    loc = locks.room_location(db, p.room.id)
    assert loc is not None and loc.unit_id == world.units["ga"].id and loc.path == p.room.path
    assert (loc.lon, loc.lat) == (119.1, 31.1) and p.household.address in loc.address
    assert locks.room_location(db, uuid.uuid4()) is None


def test_lock_credentials_are_the_valid_keys_only(db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
    creds = locks.lock_credentials(db, room_id=p.room.id, at=utcnow())
    assert {c.holder_kind for c in creds} == {"landlord", "tenant"}
    assert all(len(c.credential_hash) == 64 and c.suffix for c in creds)
    later = day_end(done.stay.expected_move_out) + dt.timedelta(hours=1)
    assert [c.holder_kind for c in locks.lock_credentials(db, room_id=p.room.id, at=later)] == ["landlord"]


def test_my_keys_are_the_residents_own(db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    mobile = "13911112222"
    stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant(phone=mobile))
    me = resident(db, world, "zuke_k", mobile)  # checked in by the grid worker with this phone number
    stranger = resident(db, world, "moshengren", "13922223333")
    assert [k.holder_kind.value for k in keys.my_keys(db, principal=me)] == ["tenant"]
    assert keys.my_keys(db, principal=stranger) == []
