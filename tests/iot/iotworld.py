"""Shared set-up of the IoT tests: the shipped types and rules, devices in the small world, messages."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy.orm import Session

from zhili.cases.actors import SYSTEM_PRINCIPAL
from zhili.core.jurisdiction import Principal
from zhili.core.security import Role
from zhili.iot import devices, types
from zhili.iot.engine import Incoming
from zhili.iot.models import Device

PREFIX = "zt"
DISTRICT = "330522"
T0 = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)


def admin(world: Any) -> Principal:
    u = world.units["district"]
    return Principal(user_id=world.users["admin"].id, username="admin", display_name="admin", role=Role.admin,
                     scope_paths=(u.path,), unit_ids=(u.id,))


def principal_of(world: Any, who: str, role: Role, unit: str) -> Principal:
    u = world.units[unit]
    return Principal(user_id=world.users[who].id, username=who, display_name=who, role=role,
                     scope_paths=(u.path,), unit_ids=(u.id,))


def install(db: Session) -> None:
    types.install_defaults(db)
    db.flush()


def device(db: Session, world: Any, type_code: str, *, key: str | None = None, grid: str | None = "ga",
           lon: float | None = 119.1, lat: float | None = 31.1, **more: Any) -> Device:
    return devices.create_device(db, principal=admin(world), device_key=key or f"D{uuid.uuid4().hex[:10]}",
                                 data={"type_code": type_code, "name": f"{type_code} 测试",
                                       **({"unit_id": world.units[grid].id} if grid else {}), "lon": lon,
                                       "lat": lat, "address": "金陵路 1 号", **more})


def msg(dev: Device | str, type_code: str, kind: str, body: dict[str, Any], *, mid: str | None = None,
        at: dt.datetime | None = None, prefix: str = PREFIX) -> Incoming:
    key = dev if isinstance(dev, str) else dev.device_key
    payload = {"mid": mid or uuid.uuid4().hex, **body}
    return Incoming(topic=f"{prefix}/{DISTRICT}/{type_code}/{key}/{kind}",
                    payload=json.dumps(payload).encode(), received_at=at or T0)


__all__ = ["SYSTEM_PRINCIPAL"]
