"""Alerts as people read and close them: by jurisdiction, closed with a reason by iot:admin only; a building's alert
stays open until every detector in it has recovered; an alert whose case intake refuses keeps the reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from iotworld import PREFIX, T0, admin, device, install, msg, principal_of
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases import notify
from zhili.cases.taxonomy import load_defaults
from zhili.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from zhili.core.security import Role
from zhili.iot import alerts, rules
from zhili.iot.engine import process_batch
from zhili.iot.models import Alert, AlertState, Rule
from zhili.registry.models import Building, BuildingType


@pytest.fixture
def env(db: Session, world: Any) -> Iterator[Any]:
    load_defaults(db)
    install(db)
    notify.set_channels([notify.FakeChannel()])
    try:
        yield world
    finally:
        notify.set_channels(None)


def _building(db: Session, world: Any) -> Building:
    b = Building(grid_id=world.units["ga"].id, path=world.units["ga"].path, name="2幢", address="金陵路 2 号",
                 building_type=BuildingType.residential, lon=119.1, lat=31.1)
    db.add(b)
    db.flush()
    return b


def test_reading_and_closing_by_jurisdiction_and_permission(db: Session, env: Any) -> None:
    mine, other = device(db, env, "door_lock", grid="ga"), device(db, env, "door_lock", grid="gc")
    process_batch(db, [msg(mine, "door_lock", "events", {"event": "tamper"}),
                       msg(other, "door_lock", "events", {"event": "tamper"})], prefix=PREFIX, now=T0)
    worker = principal_of(env, "wangge_a", Role.grid_worker, "ga")
    [a] = alerts.list_alerts(db, principal=worker)
    assert a.device_id == mine.id
    theirs = db.scalar(select(Alert).where(Alert.device_id == other.id))
    assert theirs is not None
    with pytest.raises(NotFound):
        alerts.get_alert(db, principal=worker, alert_id=theirs.id)
    with pytest.raises(Forbidden):
        alerts.close_alert(db, principal=worker, alert_id=a.id, reason="误报")
    with pytest.raises(ValidationFailed):
        alerts.close_alert(db, principal=admin(env), alert_id=a.id, reason="x")
    closed = alerts.close_alert(db, principal=admin(env), alert_id=a.id, reason="现场核实为误报")
    assert closed.state == AlertState.closed and closed.close_reason == "现场核实为误报"
    with pytest.raises(Conflict):
        alerts.close_alert(db, principal=admin(env), alert_id=a.id, reason="再关一次")
    assert alerts.list_alerts(db, principal=worker) == []
    assert [x.id for x in alerts.list_alerts(db, principal=worker, state=None)] == [a.id]


def test_a_buildings_alert_closes_when_every_detector_has_recovered(db: Session, env: Any) -> None:
    b = _building(db, env)
    g1, g2 = (device(db, env, "gas", building_id=b.id, lon=None, lat=None) for _ in range(2))
    at = [T0 + dt.timedelta(seconds=i) for i in range(5)]
    process_batch(db, [msg(g1, "gas", "telemetry", {"lel": 30}, at=at[0]),
                       msg(g2, "gas", "telemetry", {"lel": 25}, at=at[1])], prefix=PREFIX, now=at[1])
    [a] = db.scalars(select(Alert)).all()
    assert a.count == 2 and set(a.detail["devices"]) == {g1.device_key, g2.device_key}
    res = process_batch(db, [msg(g1, "gas", "telemetry", {"lel": 1}, at=at[2])], prefix=PREFIX, now=at[2])
    assert res.alerts_closed == 0
    db.refresh(a)
    assert a.state == AlertState.open and set(a.detail["devices"]) == {g2.device_key}
    res = process_batch(db, [msg(g2, "gas", "telemetry", {"lel": 0}, at=at[3])], prefix=PREFIX, now=at[3])
    assert res.alerts_closed == 1
    db.refresh(a)
    assert a.state == AlertState.closed


def test_an_alert_whose_case_intake_refuses_keeps_why(db: Session, env: Any) -> None:
    rule = rules.create_rule(db, principal=admin(env), spec={
        "name": "井盖进水", "type_code": "manhole_cover", "kind": "events", "condition": 'event == "water"',
        "raises_case": True, "category_code": "SJ-0451"})  # 井盖丢失 requires its cover_type attribute
    cover = device(db, env, "manhole_cover")
    res = process_batch(db, [msg(cover, "manhole_cover", "events", {"event": "water"})], prefix=PREFIX, now=T0)
    assert res.alerts_opened == 1 and res.cases == 0
    a = db.scalar(select(Alert).where(Alert.rule_id == rule.id))
    assert a is not None and a.case_id is None and "井盖类型" in a.detail["case_error"]
    assert db.get(Rule, rule.id) is not None
