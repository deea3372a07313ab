"""What the rental tests share: principals of the test world, a building and household in grid A (and one in grid
C), valid ID numbers, resident accounts with a phone, a check-in form, and the police fake."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.orm import Session

from testimages import png
from zhili.core.clock import today
from zhili.core.crypto import get_cipher
from zhili.core.jurisdiction import Principal
from zhili.core.security import Role
from zhili.core.validators import id_check_digit
from zhili.registry.models import Building, BuildingType, Household, HouseholdUse
from zhili.rental import police
from zhili.rental.rooms import register_room

_seq = itertools.count(1)


def id_number(born: str = "19950312", region: str = "340102") -> str:
    """A fresh valid ID number (GB 11643 checksum)."""
    first = f"{region}{born}{next(_seq) % 1000:03d}"
    return first + id_check_digit(first)


def bad_checksum(valid: str) -> str:
    last = "0" if valid[-1] != "0" else "1"
    return valid[:-1] + last


_phones = itertools.count(13800000001)


def phone() -> str:
    return str(next(_phones))


def principal(db: Session, world: Any, who: str) -> Principal:
    from zhili.users.service import principal_for_user

    return principal_for_user(db, user=world.users[who])


def resident(db: Session, world: Any, name: str, mobile: str | None = None) -> Principal:
    """A resident account (with ``mobile`` as its phone, when given) and its principal."""
    from zhili.core.db import utcnow
    from zhili.core.ids import new_id
    from zhili.core.security import token_digest
    from zhili.users.models import AuthSession, User

    user = User(id=new_id(), username=name, display_name=name, role=Role.resident, password_hash="!")
    db.add(user)
    db.flush()
    token = f"tok_{name}_{new_id().hex}"
    db.add(AuthSession(user_id=user.id, token_hash=token_digest(token), expires_at=utcnow() + dt.timedelta(hours=1)))
    world.users[name], world.tokens[name] = user, token
    if mobile:
        cipher = get_cipher()
        user.phone_enc = cipher.encrypt(mobile, table="app_user", column="phone", row_id=user.id)
        user.phone_bidx = cipher.blind_index(mobile, purpose="app_user.phone")
        db.flush()
    return principal(db, world, name)


def building(db: Session, grid: Any, name: str = "金陵小区1幢") -> Building:
    b = Building(grid_id=grid.id, path=grid.path, name=name, address=f"长兴县金陵路{next(_seq)}号",
                 building_type=BuildingType.residential, floors=6, lon=119.1, lat=31.1)
    db.add(b)
    db.flush()
    return b


def household(db: Session, b: Building, room: str = "301") -> Household:
    h = Household(building_id=b.id, grid_id=b.grid_id, path=b.path, room=room, address=f"{b.address}{room}室",
                  use=HouseholdUse.owner_occupied)
    db.add(h)
    db.flush()
    return h


def room_data(h: Household, *, capacity: int = 2, label: str = "整套", **extra: Any) -> dict[str, Any]:
    return {"landlord": {"name": "王房东", "id_number": id_number("19700101", "330522"), "phone": phone()},
            "household_id": h.id, "label": label, "capacity": capacity, "rent_yuan": 1500, **extra}


def tenant(name: str = "李租客", **extra: Any) -> dict[str, Any]:
    """A valid check-in form."""
    d = today()
    return {"name": name, "id_number": id_number(), "phone": phone(), "photo": png(4, 4),
            "move_in": d - dt.timedelta(days=3), "expected_move_out": d + dt.timedelta(days=180), **extra}


@dataclass
class Place:
    """Grid A's building and household with a room of capacity 2 registered by the grid worker."""

    staff: Principal
    building: Building
    household: Household
    room: Any
    landlord_code: str
    other_grid_building: Building
    extra: dict[str, Any] = field(default_factory=dict)


def place(db: Session, world: Any, capacity: int = 2) -> Place:
    staff = principal(db, world, "wangge_a")
    b = building(db, world.units["ga"])
    h = household(db, b)
    done = register_room(db, principal=staff, data=room_data(h, capacity=capacity))
    return Place(staff=staff, building=b, household=h, room=done.room, landlord_code=done.landlord_key.code,
                 other_grid_building=building(db, world.units["gc"], "画溪村2幢"))


@pytest.fixture
def gateway() -> Iterator[police.RecordingPoliceGateway]:
    gw = police.RecordingPoliceGateway()
    police.set_gateway(gw)
    police.set_dispatcher(lambda ids: None)  # the tests deliver by hand (police.deliver / deliver_due)
    try:
        yield gw
    finally:
        police.set_gateway(None)
        police.set_dispatcher(None)
