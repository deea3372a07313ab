"""Devices and alerts page, filter and count in SQL: sixty devices of three types in three grids (some offline,
some disabled, some unplaced, some alarmed), their open and closed alerts — every total, page, filter and figure
checked against a brute-force count of the same rows, also past the services' row cap (shrunk for the test)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from iotworld import T0, admin, install, principal_of
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core.errors import Forbidden, ValidationFailed
from zhili.core.security import Role
from zhili.iot import alerts, devices
from zhili.iot.models import Alert, AlertState, Device, DeviceStatus, DeviceType, Severity

TYPES = ("smoke_detector", "water_level", "door_lock")
GRIDS = ("ga", "gb", "gc")
N = 60


class Fleet:
    def __init__(self, db: Session, world: Any) -> None:
        install(db)
        self.world = world
        zh = admin(world)
        self.devices: list[Device] = []
        for i in range(N):
            placed = i % 4 != 0
            d = devices.create_device(db, principal=zh, device_key=f"P-{i:03d}", data={
                "type_code": TYPES[i % 3], "name": f"{'楼栋' if i % 6 == 0 else '路口'}设备{i:02d}",
                "unit_id": world.units[GRIDS[(i * 7) % 3]].id, "lon": 119.1 if placed else None,
                "lat": 31.1 if placed else None})
            if i % 5 == 0:
                d.status = DeviceStatus.offline
            elif i % 7 == 0:
                d.status = DeviceStatus.disabled
            self.devices.append(d)
        self.alerts: list[Alert] = []
        for i, d in enumerate(self.devices):
            if i % 3 == 1 or i % 7 == 0:  # open (on disabled devices too: they still show 停用)
                self._alert(db, d, i, AlertState.open)
            if i % 4 == 1:
                self._alert(db, d, i + 100, AlertState.closed)
        db.flush()
        self.type_code = {t.id: t.code for t in db.scalars(select(DeviceType))}

    def _alert(self, db: Session, d: Device, n: int, state: AlertState) -> None:
        a = Alert(kind="rule" if n % 2 else "offline", device_id=d.id, group_key=f"k:{d.id}:{n}", unit_id=d.unit_id,
                  path=d.path, severity=Severity.critical if n % 3 == 0 else Severity.warning, title=f"告警{n}",
                  state=state, count=1, first_at=T0, last_at=T0 + dt.timedelta(minutes=(n * 37) % 101),
                  detail={})
        db.add(a)
        self.alerts.append(a)

    def under(self, path: str, unit: str) -> bool:
        top = self.world.units[unit].path
        return path == top or path.startswith(top + "/")

    def shown(self, d: Device) -> str:
        if d.status == DeviceStatus.disabled:
            return "disabled"
        if any(a.device_id == d.id and a.state == AlertState.open for a in self.alerts):
            return "alarm"
        return d.status.value


@pytest.fixture
def fleet(db: Session, world: Any) -> Fleet:
    return Fleet(db, world)


def _keys(rows: list[Device]) -> list[str]:
    return [d.device_key for d in rows]


def test_device_pages_have_exact_totals_and_every_filter_is_in_the_query(db: Session, fleet: Fleet) -> None:
    zh = admin(fleet.world)
    everything = sorted(fleet.devices, key=lambda d: d.device_key)
    rows, total = devices.page_devices(db, principal=zh, page=2, page_size=25)
    assert total == N and _keys(rows) == _keys(everything[25:50])
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"type_code": "water_level"}, lambda d: fleet.type_code[d.type_id] == "water_level"),
        ({"status": "offline"}, lambda d: d.status == DeviceStatus.offline),
        ({"unit_path": fleet.world.units["c1"].path}, lambda d: fleet.under(d.path, "c1")),
        ({"unit_path": fleet.world.units["gb"].path}, lambda d: fleet.under(d.path, "gb")),
        ({"q": "楼栋"}, lambda d: "楼栋" in d.name),
        ({"q": "P-01"}, lambda d: d.device_key.startswith("P-01")),
        ({"q": "%"}, lambda d: False),  # a wildcard is a character, not a pattern
        ({"placed": True}, lambda d: d.lon is not None),
        ({"placed": False}, lambda d: d.lon is None),
        *(({"shown": s}, lambda d, s=s: fleet.shown(d) == s) for s in devices.SHOWN),
        ({"type_code": "smoke_detector", "shown": "alarm", "unit_path": fleet.world.units["c1"].path},
         lambda d: fleet.type_code[d.type_id] == "smoke_detector" and fleet.shown(d) == "alarm"
         and fleet.under(d.path, "c1")),
    ]
    for filters, keep in cases:
        want = [d for d in everything if keep(d)]
        rows, total = devices.page_devices(db, principal=zh, page=1, page_size=100, **filters)
        assert (total, _keys(rows)) == (len(want), _keys(want)), filters
        assert devices.count_devices(db, principal=zh, **filters) == len(want), filters
    assert sum(devices.count_devices(db, principal=zh, shown=s) for s in devices.SHOWN) == N
    by_name, _ = devices.page_devices(db, principal=zh, page_size=3, sort="-name")
    assert [d.name for d in by_name] == sorted((d.name for d in fleet.devices), reverse=True)[:3]


def test_past_the_cap_the_total_stays_exact_and_pages_reach_every_row(db: Session, fleet: Fleet,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "LIST_MAX", 20)
    zh = admin(fleet.world)
    seen: list[str] = []
    for page in range(1, 5):
        rows, total = devices.page_devices(db, principal=zh, page=page, page_size=500)  # held to the cap
        assert total == N and len(rows) == (20 if page <= 3 else 0)
        seen += _keys(rows)
    assert seen == sorted(d.device_key for d in fleet.devices)
    assert devices.device_figures(db, principal=zh).total == N


def test_device_pages_and_figures_keep_to_the_jurisdiction(db: Session, fleet: Fleet) -> None:
    worker = principal_of(fleet.world, "wangge_a", Role.grid_worker, "ga")
    mine = [d for d in fleet.devices if fleet.under(d.path, "ga")]
    rows, total = devices.page_devices(db, principal=worker, page_size=100)
    assert total == len(mine) and set(_keys(rows)) == set(_keys(mine))
    # a unit outside the jurisdiction narrows to nothing, never widens
    assert devices.page_devices(db, principal=worker, unit_path=fleet.world.units["gc"].path)[1] == 0
    assert devices.device_figures(db, principal=worker).total == len(mine)
    assert devices.get_devices(db, principal=worker, device_ids=[d.id for d in fleet.devices]).keys() \
        == {d.id for d in mine}
    assert alerts.page_alerts(db, principal=worker, page_size=200)[1] == \
        sum(1 for a in fleet.alerts if fleet.under(a.path, "ga"))
    resident = principal_of(fleet.world, "jumin", Role.resident, "ga")
    for call in (lambda: devices.page_devices(db, principal=resident), lambda: alerts.page_alerts(
            db, principal=resident), lambda: devices.device_figures(db, principal=resident),
            lambda: alerts.open_alerts_by_type(db, principal=resident)):
        with pytest.raises(Forbidden):
            call()


def test_device_figures_count_per_type_status_and_shown_status(db: Session, fleet: Fleet) -> None:
    zh = admin(fleet.world)
    for unit in (None, "c1", "gc"):
        pool = [d for d in fleet.devices if unit is None or fleet.under(d.path, unit)]
        f = devices.device_figures(db, principal=zh, unit_path=fleet.world.units[unit].path if unit else None)
        assert f.total == len(pool)
        assert f.by_type == {t: n for t in {d.type_id for d in pool}
                             if (n := sum(1 for d in pool if d.type_id == t))}
        assert f.by_status == {s.value: n for s in DeviceStatus if (n := sum(1 for d in pool if d.status == s))}
        assert f.by_shown == {s: sum(1 for d in pool if fleet.shown(d) == s) for s in devices.SHOWN}
        assert f.offline == sum(1 for d in pool if d.status == DeviceStatus.offline)
        for t, per in f.by_type_status.items():
            assert sum(per.values()) == f.by_type[t]
    smoke = devices.device_figures(db, principal=zh, type_code="smoke_detector")
    assert smoke.total == sum(1 for d in fleet.devices if fleet.type_code[d.type_id] == "smoke_detector")
    with pytest.raises(ValidationFailed):
        devices.page_devices(db, principal=zh, shown="exploded")
    with pytest.raises(ValidationFailed):
        devices.page_devices(db, principal=zh, status="alarm")  # a shown status, not a stored one


def test_alert_pages_put_open_first_then_latest_with_exact_totals_and_filters(db: Session, fleet: Fleet) -> None:
    zh = admin(fleet.world)
    dev = {d.id: d for d in fleet.devices}

    def order(xs: list[Alert]) -> list[str]:
        ranked = sorted(xs, key=lambda a: (a.state != AlertState.open, -a.last_at.timestamp(), str(a.id)))
        return [a.title for a in ranked]

    everything = order(fleet.alerts)
    rows, total = alerts.page_alerts(db, principal=zh, page=2, page_size=10)
    assert total == len(fleet.alerts) and [a.title for a in rows] == everything[10:20]
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"state": "open"}, lambda a: a.state == AlertState.open),
        ({"state": "closed"}, lambda a: a.state == AlertState.closed),
        ({"severity": "critical"}, lambda a: a.severity == Severity.critical),
        ({"kind": "offline"}, lambda a: a.kind == "offline"),
        ({"type_code": "door_lock"}, lambda a: fleet.type_code[dev[a.device_id].type_id] == "door_lock"),
        ({"unit_path": fleet.world.units["c2"].path}, lambda a: fleet.under(a.path, "c2")),
        ({"device_id": fleet.devices[1].id}, lambda a: a.device_id == fleet.devices[1].id),
        ({"state": "open", "type_code": "smoke_detector", "severity": "warning",
          "unit_path": fleet.world.units["s1"].path},
         lambda a: a.state == AlertState.open and fleet.type_code[dev[a.device_id].type_id] == "smoke_detector"
         and a.severity == Severity.warning and fleet.under(a.path, "s1")),
    ]
    for filters, keep in cases:
        want = order([a for a in fleet.alerts if keep(a)])
        rows, total = alerts.page_alerts(db, principal=zh, page_size=200, **filters)
        assert (total, [a.title for a in rows]) == (len(want), want), filters
    for bad in ({"state": "ringing"}, {"severity": "apocalyptic"}):
        with pytest.raises(ValidationFailed):
            alerts.page_alerts(db, principal=zh, **bad)


def test_open_alerts_by_type_and_alarmed_devices_match_a_brute_count(db: Session, fleet: Fleet) -> None:
    zh = admin(fleet.world)
    dev = {d.id: d for d in fleet.devices}
    for unit in (None, "s1", "gb"):
        want: dict[Any, int] = {}
        for a in fleet.alerts:
            if a.state == AlertState.open and (unit is None or fleet.under(a.path, unit)):
                t = dev[a.device_id].type_id
                want[t] = want.get(t, 0) + 1
        path = fleet.world.units[unit].path if unit else None
        assert alerts.open_alerts_by_type(db, principal=zh, unit_path=path) == want
    some = fleet.devices[:30]
    assert alerts.alarmed_devices(db, principal=zh, device_ids=[d.id for d in some]) == {
        a.device_id for a in fleet.alerts if a.state == AlertState.open and a.device_id in {d.id for d in some}}
