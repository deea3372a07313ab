"""The rule engine on recorded batches: schema rejects kept with their reason, idempotency, windows, storm
de-duplication into one alert and one case, recovery, offline devices and their return."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from iotworld import PREFIX, T0, device, install, msg
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.cases import notify
from zhili.cases.models import Case, CaseEvent, Channel
from zhili.cases.taxonomy import load_defaults
from zhili.iot import heartbeat
from zhili.iot.engine import Incoming, process_batch
from zhili.iot.models import Alert, AlertState, DeviceStatus, Message


@pytest.fixture
def env(db: Session, world: Any) -> Iterator[Any]:
    load_defaults(db)
    install(db)
    fake = notify.FakeChannel()
    notify.set_channels([fake])
    try:
        yield world
    finally:
        notify.set_channels(None)


def run(db: Session, items: list[Incoming], now: dt.datetime = T0) -> Any:
    return process_batch(db, items, prefix=PREFIX, now=now)


def test_rejects_are_kept_with_their_reason(db: Session, env: Any) -> None:
    smoke = device(db, env, "smoke_detector")
    items = [
        msg(smoke, "smoke_detector", "telemetry", {"smoke": 1.2}),  # fine
        msg(smoke, "smoke_detector", "telemetry", {"smoke": 300}),  # above maximum
        msg(smoke, "smoke_detector", "events", {"event": "explode"}),  # not in the enum
        msg(smoke, "smoke_detector", "events", {"smoke": 3}),  # event missing
        msg("GHOST-1", "smoke_detector", "heartbeat", {}),  # unknown device
        msg(smoke, "gas", "telemetry", {"lel": 1}),  # type segment is not the device's type
        msg(smoke, "smoke_detector", "status", {}),  # no such kind
        Incoming(topic=f"{PREFIX}/330522/smoke_detector/{smoke.device_key}/events", payload=b"not json"),
        Incoming(topic="elsewhere/x", payload=b"{}"),
    ]
    res = run(db, items)
    assert (res.recorded, res.accepted, res.rejected) == (9, 1, 8)
    rows = {m.reason_code: m for m in db.scalars(select(Message).where(Message.accepted.is_(False)))}
    assert set(rows) == {"schema", "unknown_device", "type_mismatch", "bad_topic", "bad_json"}
    reasons = [m.reason for m in db.scalars(select(Message).where(Message.reason_code == "schema"))]
    assert any("不能大于 100" in r for r in reasons)
    assert any("取值不在允许范围" in r for r in reasons)
    assert any("缺少必填字段 event" in r for r in reasons)
    assert rows["unknown_device"].device_id is None and rows["unknown_device"].device_key == "GHOST-1"
    assert rows["bad_json"].raw == "not json"
    # nothing rejected raised anything
    assert db.scalar(select(func.count()).select_from(Alert)) == 0


def test_redelivered_messages_change_nothing(db: Session, env: Any) -> None:
    smoke = device(db, env, "smoke_detector")
    alarm = msg(smoke, "smoke_detector", "events", {"event": "alarm", "smoke": 40}, mid="m-1")
    first = run(db, [alarm, alarm])  # the same message twice in one batch
    assert (first.recorded, first.duplicates, first.alerts_opened, first.cases) == (1, 1, 1, 1)
    again = run(db, [alarm], now=T0 + dt.timedelta(seconds=5))  # redelivered after a crash
    assert (again.recorded, again.duplicates, again.alerts_opened, again.alerts_counted) == (0, 1, 0, 0)
    a = db.scalar(select(Alert))
    assert a is not None and a.count == 1
    assert db.scalar(select(func.count()).select_from(Case)) == 1


def test_storm_from_one_building_is_one_alert_and_one_case_with_a_counter(db: Session, env: Any) -> None:
    from zhili.registry.models import Building, BuildingType

    b = Building(grid_id=env.units["ga"].id, path=env.units["ga"].path, name="1幢", address="金陵路 1 号",
                 building_type=BuildingType("residential"), lon=119.1, lat=31.1)
    db.add(b)
    db.flush()
    detectors = [device(db, env, "smoke_detector", building_id=b.id, lon=None, lat=None) for _ in range(4)]
    items = [msg(detectors[i % 4], "smoke_detector", "events", {"event": "alarm", "smoke": 30 + i % 20},
                 at=T0 + dt.timedelta(seconds=i)) for i in range(100)]
    res = run(db, items[:40])
    assert (res.alerts_opened, res.alerts_counted, res.cases) == (1, 39, 1)
    res2 = run(db, items[40:], now=T0 + dt.timedelta(minutes=20))
    assert (res2.alerts_opened, res2.alerts_counted, res2.cases) == (0, 60, 0)
    [a] = db.scalars(select(Alert)).all()
    assert a.count == 100 and a.state == AlertState.open and a.case_id is not None
    assert len(a.detail["devices"]) == 4
    case = db.get(Case, a.case_id)
    assert case is not None and case.channel == Channel.iot and case.category_code == "SJ-0456"
    assert case.building_id == b.id if hasattr(case, "building_id") else True
    notes = list(db.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "iot_repeat")))
    assert len(notes) == 1 and "累计 100 次" in (notes[0].comment or "")
    assert db.scalar(select(func.count()).select_from(Case)) == 1


def test_count_window(db: Session, env: Any) -> None:
    lift = device(db, env, "elevator")  # elevator_fault: 3 faults within an hour
    at = [T0, T0 + dt.timedelta(minutes=40), T0 + dt.timedelta(minutes=90), T0 + dt.timedelta(minutes=95)]
    fired = []
    for t in at:
        res = run(db, [msg(lift, "elevator", "events", {"event": "fault"}, at=t)], now=t)
        fired.append(res.alerts_opened)
    # 1st, 2nd: below three; 3rd at 90 min: the first fell out of the hour; 4th at 95 min: 40, 90, 95 → fires
    assert fired == [0, 0, 0, 1]
    a = db.scalar(select(Alert))
    assert a is not None and a.case_id is not None


def test_duration_window_and_recovery_closes(db: Session, env: Any) -> None:
    gauge = device(db, env, "water_level")  # water_high: level ≥ 2.5 held 300 s, closes on recovery
    def level(v: float, s: int) -> Any:
        t = T0 + dt.timedelta(seconds=s)
        return run(db, [msg(gauge, "water_level", "telemetry", {"level_m": v}, at=t)], now=t)

    assert level(2.7, 0).alerts_opened == 0
    assert level(1.0, 120).alerts_opened == 0  # broke: the clock starts again
    assert level(2.6, 200).alerts_opened == 0
    assert level(2.8, 400).alerts_opened == 0  # 200 s held
    assert level(2.9, 520).alerts_opened == 1  # 320 s held
    assert level(3.0, 580).alerts_counted == 1
    res = level(0.8, 700)
    assert res.alerts_closed == 1
    a = db.scalar(select(Alert))
    assert a is not None and a.state == AlertState.closed and a.close_reason == "设备数据恢复正常"
    # a new rise opens a new alert, which joins the still open case instead of filing a second one
    level(2.9, 800)
    assert level(2.9, 1200).alerts_opened == 1
    alerts = list(db.scalars(select(Alert).order_by(Alert.first_at)))
    assert len(alerts) == 2 and alerts[0].case_id == alerts[1].case_id
    assert db.scalar(select(func.count()).select_from(Case)) == 1
    notes = list(db.scalars(select(CaseEvent).where(CaseEvent.case_id == alerts[0].case_id,
                                                    CaseEvent.action == "iot_repeat")))
    assert len(notes) == 1  # the case heard that its cause is back
    # the case reads as people read it: the device by name, its readings by their labels — no device number,
    # no payload field names
    case = db.get(Case, alerts[0].case_id)
    assert case is not None and gauge.name in case.description and "水位 m：2.9" in case.description
    assert gauge.device_key not in case.description and "level_m" not in case.description


def test_offline_device_alerts_its_unit_and_recovers(db: Session, env: Any) -> None:
    fake = notify.channels()[0]
    lock = device(db, env, "door_lock", heartbeat_s=60)
    run(db, [msg(lock, "door_lock", "heartbeat", {"battery": 80})], now=T0)
    n, inboxes = heartbeat.check_heartbeats(db, T0 + dt.timedelta(seconds=100))
    assert n == 0  # within 2 × 60 s
    n, inboxes = heartbeat.check_heartbeats(db, T0 + dt.timedelta(seconds=130))
    assert n == 1 and inboxes == 2  # the grid's queue and its community's
    db.refresh(lock)
    assert lock.status == DeviceStatus.offline
    a = db.scalar(select(Alert).where(Alert.kind == "offline"))
    assert a is not None and a.state == AlertState.open
    sent = [m for m in fake.sent if m.kind == "iot_alert"]  # type: ignore[attr-defined]
    assert {m.recipient for m in sent} == {env.units["ga"].code, env.units["c1"].code}
    # a second sweep neither repeats the alert nor the message
    assert heartbeat.check_heartbeats(db, T0 + dt.timedelta(seconds=200)) == (0, 0)
    res = run(db, [msg(lock, "door_lock", "heartbeat", {"battery": 79})], now=T0 + dt.timedelta(seconds=300))
    assert res.alerts_closed == 1
    db.refresh(a)
    db.refresh(lock)
    assert a.state == AlertState.closed and a.close_reason == "设备恢复上线"
    assert lock.status == DeviceStatus.active


def test_disabled_devices_raise_nothing(db: Session, env: Any) -> None:
    from iotworld import admin

    from zhili.iot import devices

    smoke = device(db, env, "smoke_detector")
    devices.set_device_status(db, principal=admin(env), device_id=smoke.id, enabled=False)
    res = run(db, [msg(smoke, "smoke_detector", "events", {"event": "alarm"})])
    assert res.accepted == 1 and res.alerts_opened == 0
    assert heartbeat.check_heartbeats(db, T0 + dt.timedelta(days=3))[0] == 0


def test_quiet_alerts_close(db: Session, env: Any) -> None:
    lock = device(db, env, "door_lock")
    run(db, [msg(lock, "door_lock", "events", {"event": "tamper"})])
    a = db.scalar(select(Alert))
    assert a is not None and a.state == AlertState.open and a.case_id is None
    assert heartbeat.close_quiet(db, T0 + dt.timedelta(hours=23)) == 0
    assert heartbeat.close_quiet(db, T0 + dt.timedelta(hours=25)) == 1
    db.refresh(a)
    assert a.state == AlertState.closed


def test_sweep_purges_messages_past_their_retention(db: Session, env: Any) -> None:
    gauge = device(db, env, "water_level")
    old = [msg(gauge, "water_level", "telemetry", {"level_m": 1.0}, at=T0 - dt.timedelta(days=100 + i))
           for i in range(7)]
    run(db, [*old, msg(gauge, "water_level", "telemetry", {"level_m": 1.1}, at=T0)])
    assert heartbeat.purge_messages(db, T0, batch=3) == 7
    assert db.scalar(select(func.count()).select_from(Message)) == 1


def test_rejected_messages_are_listed_by_jurisdiction(db: Session, env: Any) -> None:
    from iotworld import admin, principal_of

    from zhili.core.security import Role
    from zhili.iot import devices

    mine, other = device(db, env, "gas", grid="ga"), device(db, env, "gas", grid="gc")
    run(db, [msg(mine, "gas", "telemetry", {"lel": 500}), msg(other, "gas", "telemetry", {"lel": 500}),
             msg("GHOST-9", "gas", "telemetry", {"lel": 1})])
    worker = principal_of(env, "wangge_a", Role.grid_worker, "ga")
    assert [m.device_id for m in devices.rejected_messages(db, principal=worker)] == [mine.id]
    seen = {m.device_key for m in devices.rejected_messages(db, principal=admin(env))}
    assert seen == {mine.device_key, other.device_key, "GHOST-9"}  # unknown devices: to iot:admin only
