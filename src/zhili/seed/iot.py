"""Demo IoT perception (物联感知): the shipped device types and rules, a few hundred devices across the demo grids,
a door lock on every demo rental room, and a first burst of traffic through the rule engine — a smoke-alarm storm
in one building (one alert, one case, its counter), a manhole cover tilted, a lock tampered with, a water gauge
above its line for five minutes, a payload off its schema — so the device map, the lists, the alerts and the
screen have content before `zhili iot simulate` starts publishing.

Devices are registered through :func:`zhili.iot.devices.create_device` as the district's system administrator;
the traffic goes through :func:`zhili.iot.engine.process_batch` exactly as the ingest would record it.
Idempotent: nothing is done when devices exist already.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.core.clock import today
from zhili.core.db import utcnow
from zhili.core.jurisdiction import Principal
from zhili.core.security import Role
from zhili.core.settings import get_settings
from zhili.iot import devices, types
from zhili.iot.engine import Incoming, process_batch
from zhili.iot.models import Alert, Device
from zhili.regions.models import Unit, UnitLevel
from zhili.regions.service import valid_on
from zhili.registry.models import Building

DEVICES = {"small": 240, "medium": 400, "large": 800}
# share of the devices by type (door locks come on top, one per rental room)
MIX = {"smoke_detector": 0.42, "manhole_cover": 0.16, "gas": 0.14, "elevator": 0.1, "camera_alarm": 0.12,
       "water_level": 0.06}
NAMES = {"smoke_detector": "独立式烟感", "manhole_cover": "智能井盖", "gas": "燃气探测器", "elevator": "电梯监测",
         "camera_alarm": "视频监控", "water_level": "积水监测", "door_lock": "智能门锁"}
OWNERS = {"smoke_detector": "物业服务中心", "manhole_cover": "县水务集团", "gas": "县燃气公司",
          "elevator": "电梯维保公司", "camera_alarm": "县公安局", "water_level": "县住建局", "door_lock": "房东"}
_PREFIX = {"smoke_detector": "YG", "manhole_cover": "JG", "gas": "RQ", "elevator": "DT", "camera_alarm": "SP",
           "water_level": "SW", "door_lock": "MS"}


def seed_iot(session: Session, *, scale: str, seed: int = 20261123) -> dict[str, int]:
    """Install the types and rules, register the demo devices, run a first burst of messages; row counts."""
    types.install_defaults(session)
    if session.scalar(select(func.count()).select_from(Device)):
        return {}
    district = session.scalar(select(Unit).where(Unit.level == UnitLevel.district, valid_on(Unit, today())))
    if district is None:
        return {}
    admin = Principal(user_id=uuid.UUID(int=0), username="system", display_name="系统", role=Role.admin,
                      scope_paths=(district.path,), unit_ids=(district.id,))
    rng = random.Random(seed + 31)
    grids = list(session.scalars(select(Unit).where(Unit.level == UnitLevel.grid, valid_on(Unit, today()))
                                 .order_by(Unit.path)))
    buildings = list(session.scalars(select(Building).where(Building.lon.is_not(None)).order_by(Building.id)
                                     .limit(4000)))
    if not grids or not buildings:
        return {}
    rng.shuffle(buildings)
    total = DEVICES.get(scale, 240)
    made: dict[str, list[Device]] = {}
    n = 0
    from zhili.regions.service import get_locator

    locator = get_locator(session)
    for code, share in MIX.items():
        for i in range(max(int(total * share), 3)):
            b = buildings[n % len(buildings)]
            n += 1
            key = f"{_PREFIX[code]}-{district.code}-{i + 1:05d}"
            data: dict[str, Any] = {"type_code": code, "name": f"{b.name}{NAMES[code]}", "owner": OWNERS[code]}
            if code in ("smoke_detector", "gas", "elevator"):
                data["building_id"] = b.id
            else:  # street furniture: near the building, placed by the locator
                near = ((b.lon or 0) + rng.uniform(-0.0008, 0.0008), (b.lat or 0) + rng.uniform(-0.0008, 0.0008))
                gid = locator.locate(*near)
                lon, lat = near if gid is not None else (b.lon, b.lat)
                gid = gid or b.grid_id
                data.update(unit_id=gid, lon=lon, lat=lat, address=f"{b.address}附近")
            d = devices.create_device(session, principal=admin, device_key=key, data=data, locator=locator,
                                      audit_it=False)
            made.setdefault(code, []).append(d)
    try:
        from zhili.rental.models import Room

        rooms = list(session.scalars(select(Room).order_by(Room.id)))
    except Exception:  # noqa: BLE001 - a database without the rental tables seeds no locks
        rooms = []
    for i, room in enumerate(rooms):
        d = devices.create_device(session, principal=admin, device_key=f"MS-{district.code}-{i + 1:05d}", data={
            "type_code": "door_lock", "name": f"{room.label}智能门锁", "room_id": room.id,
            "owner": OWNERS["door_lock"]}, locator=locator, audit_it=False)
        made.setdefault("door_lock", []).append(d)
    now = utcnow()
    for ds in made.values():
        for d in ds:  # heard from lately, as a running installation would be
            d.last_seen_at = now - dt.timedelta(seconds=rng.randint(5, 240))
            d.installed_at = now - dt.timedelta(days=rng.randint(30, 700))
    session.flush()
    _first_burst(session, made, now, rng)
    counts = {"iot_device": sum(len(v) for v in made.values()),
              "iot_alert": int(session.scalar(select(func.count()).select_from(Alert)) or 0)}
    return counts


def _msg(d: Device, type_code: str, kind: str, body: dict[str, Any], at: dt.datetime) -> Incoming:
    s = get_settings()
    district = s.mqtt_district or s.district_code
    payload = {"mid": uuid.uuid4().hex, "ts": round(at.timestamp(), 3), **body}
    return Incoming(topic=f"{s.mqtt_topic_prefix}/{district}/{type_code}/{d.device_key}/{kind}",
                    payload=json.dumps(payload).encode(), received_at=at)


def _first_burst(session: Session, made: dict[str, list[Device]], now: dt.datetime, rng: random.Random) -> None:
    at = now - dt.timedelta(minutes=30)
    items: list[Incoming] = []
    smoke = made.get("smoke_detector", [])
    if smoke:  # a storm: one detector alarming again and again (and its neighbours in the building)
        building = smoke[0].building_id
        storm = [d for d in smoke if d.building_id == building] or smoke[:1]
        for i in range(40):
            items.append(_msg(storm[i % len(storm)], "smoke_detector", "events",
                              {"event": "alarm", "smoke": round(rng.uniform(18, 45), 1)}, at + dt.timedelta(seconds=i)))
    for d in made.get("manhole_cover", [])[:1]:
        items.append(_msg(d, "manhole_cover", "events", {"event": "tilt"}, at + dt.timedelta(minutes=2)))
    for d in made.get("door_lock", [])[:1]:
        items.append(_msg(d, "door_lock", "events", {"event": "tamper"}, at + dt.timedelta(minutes=3)))
    for d in made.get("water_level", [])[:1]:
        for k in range(7):
            items.append(_msg(d, "water_level", "telemetry", {"level_m": round(2.6 + k * 0.05, 2)},
                              at + dt.timedelta(minutes=4 + k)))
    for d in made.get("gas", [])[:1]:
        items.append(_msg(d, "gas", "telemetry", {"lel": 180}, at + dt.timedelta(minutes=5)))  # off its schema
    for code, ds in made.items():
        for d in ds[: max(len(ds) // 4, 1)]:
            items.append(_msg(d, code, "heartbeat", {"battery": rng.randint(40, 100), "rssi": rng.randint(-105, -60)},
                              now - dt.timedelta(seconds=rng.randint(1, 120))))
    items.sort(key=lambda m: m.received_at or now)
    process_batch(session, items, now=now)
