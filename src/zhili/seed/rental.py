"""Demo rental housing (出租房屋与流动人口): rooms in the first demo grid worker's grid, their tenants, keys and police
deliveries, and two resident accounts — a landlord (``fangdong``) and a tenant (``zuke``) — with generated passwords
printed with the other demo logins, so the landlord's, tenant's, grid worker's and console pages have content.

Everything goes through the rental services as the account that would do it: the landlord registers their own room
and checks a tenant in from the portal; the grid worker registers the other rooms on their landlords' behalf and
checks tenants in on visits; the tenant account checks itself in with the room's check-in code. The rules' causes
are planted on purpose so the warnings show at once:

* one room with more tenants than its capacity (群租);
* one person checked in to two rooms (重复登记);
* one stay whose expected move-out has passed (逾期未退租) — registered long ago: its dates are set back after the
  check-in, as an older register would hold it (the services refuse a move-out in the past);
* one stay of a floating resident in its 200th day (居住登记到期), set back the same way;
* a vacant room with lock and meter activity (空置房异常活动), its vacancy set back likewise;
* an unregistered credential opening the lock of the crowded room (陌生凭证开锁).

The police interface of a demo is not configured: the deliveries are shown delivered (with receipts), except one
left dead so the dead-letter list and 重新推送 have something. Then the rental rules' scan runs once.
Idempotent: nothing is done when the landlord account already exists.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zhili.core.clock import today, utcnow
from zhili.core.crypto import get_cipher
from zhili.core.ids import new_id
from zhili.core.security import Role, generate_password, hash_password
from zhili.core.validators import id_check_digit
from zhili.registry.models import Household
from zhili.rental import locks, rooms, rules, stays
from zhili.rental.models import DeliveryState, PoliceDelivery, Room, Stay
from zhili.rental.persons import find_person
from zhili.seed.demo import DemoUser
from zhili.users.models import User, UserUnit
from zhili.users.service import principal_for_user

ROOMS = {"small": 12, "medium": 30, "large": 60}
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ("伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰", "涛", "明", "超", "霞", "平", "刚",
          "桂英", "建华", "志强", "秀兰", "海燕", "晓东", "文博", "子涵")
_ORIGINS = ("340102", "341221", "510321", "412726", "362330", "430524", "522422", "450881")  # 皖川豫赣湘黔桂


def _photo(rng: random.Random) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (48, 64), (rng.randint(120, 220), rng.randint(120, 220), rng.randint(120, 220))).save(buf, "PNG")
    return buf.getvalue()


class _People:
    """Names, ID numbers and phones of the demo's landlords and tenants. ``taken`` says whether the register
    already holds an ID number: the register's own persons fill the same number space (on the large demo, a
    million of them), and a tenant given a resident's number under another name is refused by the check-in."""

    def __init__(self, rng: random.Random, taken: Callable[[str], bool] = lambda _id: False) -> None:
        self.rng = rng
        self.seq = 0
        self.phones: set[str] = set()
        self.taken = taken

    def name(self) -> str:
        return self.rng.choice(_SURNAMES) + self.rng.choice(_GIVEN)

    def id_number(self, born_from: int = 1975, born_to: int = 2003, region: str | None = None) -> str:
        while True:
            self.seq += 1
            born = dt.date(self.rng.randint(born_from, born_to), self.rng.randint(1, 12), self.rng.randint(1, 28))
            first = f"{region or self.rng.choice(_ORIGINS)}{born:%Y%m%d}{self.seq % 1000:03d}"
            number = first + id_check_digit(first)
            if not self.taken(number):
                return number

    def phone(self) -> str:
        while True:
            p = f"1{self.rng.choice('35789')}{self.rng.randint(0, 999999999):09d}"
            if p not in self.phones:
                self.phones.add(p)
                return p


def _account(session: Session, username: str, display: str, phone: str) -> tuple[User, str]:
    password = generate_password()
    cipher = get_cipher()
    uid = new_id()
    user = User(id=uid, username=username, display_name=display, role=Role.resident,
                password_hash=hash_password(password), must_change_password=False, password_changed_at=utcnow())
    user.phone_enc = cipher.encrypt(phone, table="app_user", column="phone", row_id=uid)
    user.phone_bidx = cipher.blind_index(phone, purpose="app_user.phone")
    session.add(user)
    session.flush()
    return user, password


def _tenant(people: _People, rng: random.Random, *, days_in: int, months: int, **extra: Any) -> dict[str, Any]:
    d = today()
    move_in = d - dt.timedelta(days=days_in)
    out = max(move_in + dt.timedelta(days=30 * months), d + dt.timedelta(days=7))
    return {"name": people.name(), "id_number": people.id_number(), "phone": people.phone(), "photo": _photo(rng),
            "move_in": move_in, "expected_move_out": out, **extra}


def seed_rental(session: Session, *, scale: str, seed: int = 20261123) -> tuple[dict[str, int], list[DemoUser]]:
    """The demo rental data (see the module docstring): row counts by table, and the two demo logins."""
    if session.scalar(select(User.id).where(User.username == "fangdong")) is not None:
        return {}, []
    worker_user = session.scalar(select(User).where(User.username == "wangge1"))
    if worker_user is None:
        return {}, []
    grid_id = session.scalar(select(UserUnit.unit_id).where(UserUnit.user_id == worker_user.id))
    n_rooms = ROOMS.get(scale, 12)
    households = list(session.scalars(select(Household).where(Household.grid_id == grid_id)
                                      .order_by(Household.address, Household.id).limit(n_rooms + 2)))
    if len(households) < 4:
        return {}, []
    from zhili.rental import police

    police.set_dispatcher(lambda ids: None)  # the demo's deliveries are settled below, not sent anywhere
    try:
        return _seed(session, scale, seed, worker_user, households)
    finally:
        police.set_dispatcher(None)


def _seed(session: Session, scale: str, seed: int, worker_user: User, households: list[Household]
          ) -> tuple[dict[str, int], list[DemoUser]]:
    rng = random.Random(seed + 18)
    people = _People(rng, taken=lambda number: find_person(session, number) is not None)
    worker = principal_for_user(session, user=worker_user)
    landlord_phone, tenant_phone = people.phone(), people.phone()
    landlord_user, landlord_pw = _account(session, "fangdong", "沈建国", landlord_phone)
    tenant_user, tenant_pw = _account(session, "zuke", "何小梅", tenant_phone)
    landlord = principal_for_user(session, user=landlord_user)
    tenant = principal_for_user(session, user=tenant_user)
    d = today()

    # the landlord's own two rooms, registered from the portal
    own: list[Room] = []
    for h, label, cap in ((households[0], "主卧", 2), (households[0], "次卧", 1)):
        own.append(rooms.register_room(session, principal=landlord, data={
            "landlord": {"name": "沈建国", "id_number": people.id_number(1965, 1972, "330522"),
                         "phone": landlord_phone},
            "household_id": h.id, "label": label, "capacity": cap, "area_m2": 18.0 if cap == 2 else 11.5,
            "rent_yuan": 1200 if cap == 2 else 800, "contract_start": d - dt.timedelta(days=200),
            "contract_end": d + dt.timedelta(days=500)}).room)
    # the other landlords' rooms, registered by the grid worker
    others: list[Room] = []
    for h in households[1:]:
        cap = rng.choice((1, 2, 2, 3, 4))
        others.append(rooms.register_room(session, principal=worker, data={
            "landlord": {"name": people.name(), "id_number": people.id_number(1955, 1980, "330522"),
                         "phone": people.phone()},
            "household_id": h.id, "label": "整套", "capacity": cap, "area_m2": float(rng.randint(35, 110)),
            "rent_yuan": rng.randint(8, 30) * 100, "contract_start": d - dt.timedelta(days=rng.randint(30, 400)),
            "contract_end": d + dt.timedelta(days=rng.randint(60, 700))}).room)
    checkins = 0
    # the tenant account checks itself in to the landlord's main bedroom with its code
    stays.check_in(session, principal=tenant, checkin_code=own[0].checkin_code,
                   data=_tenant(people, rng, days_in=40, months=11, name="何小梅", phone=tenant_phone))
    stays.check_in(session, principal=landlord, room_id=own[0].id, data=_tenant(people, rng, days_in=40, months=11))
    checkins += 2
    # 群租: the first other room, capacity raised past by the grid worker's visit
    crowded = others[0]
    for _ in range(crowded.capacity + 2):
        stays.check_in(session, principal=worker, room_id=crowded.id, data=_tenant(people, rng, days_in=20, months=6))
        checkins += 1
    # 重复登记: one person in two rooms
    twice = _tenant(people, rng, days_in=60, months=12)
    stays.check_in(session, principal=worker, room_id=others[1].id, data=twice)
    stays.check_in(session, principal=worker, room_id=others[2].id, data={**twice, "phone": people.phone(),
                                                                          "photo": _photo(rng)})
    checkins += 2
    # 逾期未退租 and 居住登记到期: dates set back (see the module docstring)
    late = stays.check_in(session, principal=worker, room_id=others[3].id,
                          data=_tenant(people, rng, days_in=100, months=3)).stay
    long = stays.check_in(session, principal=worker, room_id=own[1].id,
                          data=_tenant(people, rng, days_in=30, months=12)).stay
    checkins += 2
    session.execute(update(Stay).where(Stay.id == late.id).values(
        move_in=d - dt.timedelta(days=200), expected_move_out=d - dt.timedelta(days=12)))
    session.execute(update(Stay).where(Stay.id == long.id).values(move_in=d - dt.timedelta(days=200)))
    # ordinary stays in the rest, one room left vacant (with activity) and one moved out
    vacant = others[-1]
    for room in others[4:-1]:
        for _ in range(rng.randint(1, room.capacity)):
            stays.check_in(session, principal=worker, room_id=room.id,
                           data=_tenant(people, rng, days_in=rng.randint(5, 150), months=rng.randint(6, 12)))
            checkins += 1
    gone = stays.check_in(session, principal=worker, room_id=vacant.id, data=_tenant(people, rng, days_in=90,
                                                                                    months=3)).stay
    stays.check_out(session, principal=worker, stay_id=gone.id, note="合同到期退租")
    session.execute(update(Stay).where(Stay.id == gone.id).values(move_in=d - dt.timedelta(days=150),
                                                                  moved_out=d - dt.timedelta(days=45)))
    session.execute(update(Room).where(Room.id == vacant.id).values(created_at=utcnow() - dt.timedelta(days=300)))
    session.flush()
    now = utcnow()
    device = uuid.uuid5(uuid.NAMESPACE_URL, f"zhili-demo-lock-{vacant.id}")
    for i in range(6):
        locks.record_signal(session, room_id=vacant.id, kind="power", at=now - dt.timedelta(hours=5 * i + 1))
    for i in range(2):
        locks.on_lock_event(session, room_id=vacant.id, event="unlock_unknown", credential=None,
                            at=now - dt.timedelta(hours=20 + i), device_id=device, message_key=f"demo-{vacant.id}-{i}")
    # 陌生凭证开锁: an unregistered credential opening the crowded (occupied) room's lock
    crowded_lock = uuid.uuid5(uuid.NAMESPACE_URL, f"zhili-demo-lock-{crowded.id}")
    locks.on_lock_event(session, room_id=crowded.id, event="unlock_unknown", credential="UNREGISTERED-CARD",
                        at=now - dt.timedelta(hours=3), device_id=crowded_lock, message_key=f"demo-{crowded.id}-0")
    # the police deliveries: delivered with receipts, the check-out of the vacant room's last tenant dead
    deliveries = list(session.scalars(select(PoliceDelivery).order_by(PoliceDelivery.created_at)))
    for i, dl in enumerate(deliveries):
        if dl.stay_id == gone.id and dl.kind.value == "check_out":
            dl.state, dl.attempts, dl.last_error, dl.next_try_at = DeliveryState.dead, 6, "HTTP 503", None
        else:
            dl.state, dl.attempts, dl.receipt = DeliveryState.delivered, 1, f"GA{d:%Y%m%d}{i + 1:05d}"
            dl.delivered_at, dl.next_try_at, dl.last_error = now, None, None
        stay = session.get(Stay, dl.stay_id)
        if stay is not None:
            stay.police_state, stay.police_at = dl.state.value, now
    session.flush()
    report = rules.scan(session)
    counts = {"rental_room": len(own) + len(others), "rental_stay": checkins + 1,
              "rental_delivery": len(deliveries), "rental_warning": report.total_raised}
    return counts, [DemoUser("fangdong", Role.resident.value, landlord_pw, "沈建国（房东）", None),
                    DemoUser("zuke", Role.resident.value, tenant_pw, "何小梅（租客）", None)]
