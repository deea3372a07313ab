"""The rental rules raise warnings into the intelligence package's warnings and the grid's inbox: 群租 (more tenants
than capacity), double registration, overstay (past the expected move-out or the contract's end, after the grace),
a vacant room with lock or meter activity, and a floating resident's residence registration due. Scanning again
raises nothing new; a dismissed cause stays dismissed; a cause that ended and came back is raised again."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from rentalkit import gateway, household, place, principal, room_data, tenant
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases.models import Notification
from zhili.core.clock import today, utcnow
from zhili.intel import warnings as intel_warnings
from zhili.intel.models import Warning
from zhili.rental import locks, permits, rooms, rules, stays

__all__ = ["gateway"]


def _warnings(db: Session, kind: str) -> list[Warning]:
    return list(db.scalars(select(Warning).where(Warning.kind == kind).order_by(Warning.raised_at)))


def test_run_start_finds_the_first_day_of_the_current_unbroken_run() -> None:
    d = dt.date(2026, 6, 10)
    a, b = dt.date(2026, 6, 1), dt.date(2026, 6, 5)
    assert rules.run_start([(a, None), (b, None)], 1, d) == b
    assert rules.run_start([(a, None), (a, d)], 1, d) is None  # one left today
    assert rules.run_start([(a, None), (a, b), (b, None)], 1, d) == a  # handed over on the same day: no gap
    assert rules.run_start([(a, None), (a, dt.date(2026, 6, 3)), (b, None)], 1, d) == b  # a gap on the 3rd and 4th
    assert rules.run_start([(a, None), (d + dt.timedelta(days=1), None)], 1, d) is None  # not yet


def test_overcrowding_is_raised_once_per_episode(db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world, capacity=1)
    first = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant("甲租客"))
    assert rules.scan(db).found["rental_overcrowded"] == 0
    second = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant("乙租客"))
    report = rules.scan(db)
    assert report.found["rental_overcrowded"] == 1 and report.raised["rental_overcrowded"] == 1
    [w] = _warnings(db, "rental_overcrowded")
    assert w.path == p.room.path and w.detail == {"room_id": str(p.room.id), "capacity": 1, "active": 2,
                                                  "since": first.stay.move_in.isoformat(),
                                                  "convert_category": "SG-0203",
                                                  "convert_building": str(p.building.id)}
    assert "群租" in w.title and "核定居住1人" in w.reason
    assert world.units["ga"].code in db.scalars(select(Notification.recipient)
                                               .where(Notification.kind == "intel_warning")).all()
    again = rules.scan(db)
    assert again.found["rental_overcrowded"] == 1 and again.total_raised == 0
    # dismissed: the same episode stays dismissed
    intel_warnings.dismiss(db, principal=principal(db, world, "shequ1"), warning_id=w.id, reason="已核实为一家人")
    assert rules.scan(db).total_raised == 0
    # the episode ends (one moves out) and a new one begins later: raised again
    stays.check_out(db, principal=p.staff, stay_id=second.stay.id)
    assert rules.scan(db).found["rental_overcrowded"] == 0
    later = today() + dt.timedelta(days=2)
    stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant("丙租客", move_in=later))
    assert rules.scan(db).found["rental_overcrowded"] == 0  # not yet moved in
    report = rules.scan(db, now=utcnow() + dt.timedelta(days=3))
    assert report.raised["rental_overcrowded"] == 1
    assert [x.detail["since"] for x in _warnings(db, "rental_overcrowded")] == [first.stay.move_in.isoformat(),
                                                                                later.isoformat()]


def test_one_person_in_two_active_stays_is_a_double_registration(db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    other = rooms.register_room(db, principal=p.staff, data=room_data(household(db, p.building, "402"))).room
    form = tenant("双登记")
    a = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=form)
    assert rules.scan(db).found["rental_double"] == 0
    b = stays.check_in(db, principal=p.staff, room_id=other.id, data={**form, "phone": "13700000001"})
    assert a.stay.person_id == b.stay.person_id
    report = rules.scan(db)
    assert report.raised["rental_double"] == 1
    [w] = _warnings(db, "rental_double")
    assert set(w.detail["stay_ids"]) == {str(a.stay.id), str(b.stay.id)} and "双登记" in w.title
    assert rules.scan(db).total_raised == 0
    stays.check_out(db, principal=p.staff, stay_id=a.stay.id)
    assert rules.scan(db).found["rental_double"] == 0


def test_an_active_stay_past_its_end_is_an_overstay_after_the_grace(db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant("逾期者"))
    end = done.stay.expected_move_out
    at_grace = dt.datetime.combine(end + dt.timedelta(days=3), dt.time(12), tzinfo=dt.UTC)
    assert rules.scan(db, now=at_grace, rules=("rental_overstay",)).found["rental_overstay"] == 0
    report = rules.scan(db, now=at_grace + dt.timedelta(days=1), rules=("rental_overstay",))
    assert report.raised["rental_overstay"] == 1
    [w] = _warnings(db, "rental_overstay")
    assert w.detail["deadline"] == end.isoformat() and "逾期者" in w.title and "预计退租日期" in w.reason
    assert rules.scan(db, now=at_grace + dt.timedelta(days=2), rules=("rental_overstay",)).total_raised == 0
    # extended and past again: a new deadline is a new cause
    stays.extend_stay(db, principal=p.staff, stay_id=done.stay.id, expected_move_out=end + dt.timedelta(days=400))
    later = dt.datetime.combine(end + dt.timedelta(days=420), dt.time(12), tzinfo=dt.UTC)
    assert rules.scan(db, now=later, rules=("rental_overstay",)).raised["rental_overstay"] == 1


def test_the_rooms_contract_end_counts_too(db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    rooms.update_room(db, principal=p.staff, room_id=p.room.id,
                      changes={"contract_end": today() + dt.timedelta(days=5)})
    stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
    report = rules.scan(db, now=utcnow() + dt.timedelta(days=10), rules=("rental_overstay",))
    assert report.raised["rental_overstay"] == 1
    assert "合同到期" in _warnings(db, "rental_overstay")[0].reason


def test_a_long_vacant_room_with_activity_is_raised(db: Session, world: Any, gateway: Any) -> None:
    p = place(db, world)
    device = uuid.uuid4()
    month = utcnow() + dt.timedelta(days=31)
    for i in range(3):  # the landlord's own key: not occupancy
        locks.on_lock_event(db, room_id=p.room.id, event="unlock", credential=p.landlord_code,
                            at=month - dt.timedelta(hours=i + 1), device_id=device, message_key=f"ll-{i}")
    assert rules.scan(db, now=month, rules=("rental_vacant_activity",)).found["rental_vacant_activity"] == 0
    for h in range(4):
        locks.record_signal(db, room_id=p.room.id, kind="power", at=month - dt.timedelta(hours=2 * h + 1))
    early = utcnow() + dt.timedelta(days=5)  # vacant only five days: not long enough
    for h in range(4):
        locks.record_signal(db, room_id=p.room.id, kind="water", at=early - dt.timedelta(hours=h + 1))
    assert rules.scan(db, now=early, rules=("rental_vacant_activity",)).found["rental_vacant_activity"] == 0
    report = rules.scan(db, now=month, rules=("rental_vacant_activity",))
    assert report.raised["rental_vacant_activity"] == 1
    [w] = _warnings(db, "rental_vacant_activity")
    assert w.detail["signals"] == 4 and "空置" in w.title
    # an occupied room's activity is no anomaly
    stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant())
    assert rules.scan(db, now=month, rules=("rental_vacant_activity",)).found["rental_vacant_activity"] == 0


def test_a_floating_residents_registration_falls_due_after_the_set_days(db: Session, world: Any,
                                                                        gateway: Any) -> None:
    p = place(db, world)
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant("流动甲"))
    due = dt.datetime.combine(done.stay.move_in + dt.timedelta(days=180), dt.time(12), tzinfo=dt.UTC)
    early = due - dt.timedelta(days=2)
    assert rules.scan(db, now=early, rules=("rental_permit_due",)).found["rental_permit_due"] == 0
    assert rules.scan(db, now=due, rules=("rental_permit_due",)).raised["rental_permit_due"] == 1
    [w] = _warnings(db, "rental_permit_due")
    assert "流动甲" in w.title and "居住证" in w.reason
    assert rules.scan(db, now=due, rules=("rental_permit_due",)).total_raised == 0


def test_the_permit_hook_silences_a_resident_who_applied(db: Session, world: Any, gateway: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    p = place(db, world)
    done = stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant("已申领"))
    asked: list[Any] = []

    def has_application(session: Session, *, person_id: uuid.UUID, since: dt.date) -> bool:
        asked.append((person_id, since))
        return True

    monkeypatch.setattr(permits, "has_application", has_application)
    due = dt.datetime.combine(done.stay.move_in + dt.timedelta(days=200), dt.time(12), tzinfo=dt.UTC)
    assert rules.scan(db, now=due, rules=("rental_permit_due",)).found["rental_permit_due"] == 0
    assert asked == [(done.stay.person_id, done.stay.move_in)]


def test_every_rule_kind_has_a_chinese_name_among_the_warning_kinds() -> None:
    for kind in (*rules.RULES, "rental_unknown_unlock"):
        assert any("\u4e00" <= ch <= "\u9fff" for ch in intel_warnings.KINDS[kind])


def test_a_rental_warning_turns_into_a_case_of_the_rental_category_at_its_grid(db: Session, world: Any,
                                                                              gateway: Any) -> None:
    from zhili.cases.taxonomy import load_defaults

    load_defaults(db)
    p = place(db, world, capacity=1)
    for name in ("甲租客", "乙租客"):
        stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant(name))
    rules.scan(db)
    [w] = _warnings(db, "rental_overcrowded")
    case = intel_warnings.convert(db, principal=principal(db, world, "shequ1"), warning_id=w.id)
    assert case.category_code == rules.CATEGORY and case.grid_id == world.units["ga"].id
    assert "群租" in case.title


def test_a_grid_worker_reads_the_rental_warnings_of_their_grid_without_intel_read(db: Session, world: Any,
                                                                                   gateway: Any) -> None:
    from zhili.core.errors import Forbidden
    from zhili.core.security import ROLE_PERMISSIONS, Perm, Role

    assert Perm.intel_read not in ROLE_PERMISSIONS[Role.grid_worker]
    p = place(db, world, capacity=1)  # a room in grid ga
    for name in ("甲租客", "乙租客"):
        stays.check_in(db, principal=p.staff, room_id=p.room.id, data=tenant(name))
    rules.scan(db)
    [w] = rules.list_warnings(db, principal=principal(db, world, "wangge_a"))
    assert w.kind == "rental_overcrowded"
    assert rules.list_warnings(db, principal=principal(db, world, "wangge_b")) == []  # the next grid sees nothing
    assert rules.list_warnings(db, principal=principal(db, world, "wangge_a"), state="dismissed") == []
    with pytest.raises(Forbidden):
        rules.list_warnings(db, principal=principal(db, world, "bumen"))
