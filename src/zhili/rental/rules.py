"""The rental rules (出租房屋预警): a scan run as the system that raises early warnings into the intelligence
package's warnings (:func:`zhili.intel.warnings.raise_and_notify`: de-duplicated by ``cause_key``, one inbox message
per responsible unit — the room's grid and its community).

==========================  =====================================================================================
kind                        fires when
==========================  =====================================================================================
``rental_overcrowded`` 群租   a room has more active tenants than its capacity
``rental_double`` 重复登记     one person has two or more active stays
``rental_overstay`` 逾期未退租  an active stay is more than ``rental_overstay_grace_days`` past its expected move-out
                            or past the room's contract end
``rental_vacant_activity``  a room has had no active stay for ``rental_vacant_days`` days but shows at least
空置房异常活动                 ``rental_activity_min_signals`` lock/meter signals in the last ``rental_activity_days``
                            days (lock opening by the landlord's own key does not count)
``rental_permit_due``       a floating resident has stayed ``rental_permit_due_days`` days with no residence-permit
居住登记到期                   application (:func:`has_residence_permit`, the hook the permit module fills)
==========================  =====================================================================================

**Episodes, not causes forever.** A warning's ``cause_key`` names the rule, the subject and the *day its current
episode began*: for 群租 the day since which the room has been over capacity without a break (worked out from its
stays' move-in and move-out days), for double registration the day since which the person has been in two stays,
for overstay the deadline passed, for vacancy the day the room fell vacant. Re-scanning the same episode finds the
same key — nothing new, and a dismissed warning stays dismissed — while a cause that ended and came back later
begins a new episode with a new key and is raised again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.core import audit, clock
from zhili.core.errors import ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, scoped
from zhili.core.security import Perm
from zhili.core.settings import get_settings
from zhili.intel import warnings as intel_warnings
from zhili.intel.models import Warning, WarningState
from zhili.intel.warn_common import Finding, UnitRef, UnitTree
from zhili.registry.models import Household, Person, ResidentType
from zhili.rental import permits
from zhili.rental.models import Room, RoomStatus, Signal, SignalKind, Stay, StayState

# The case category a rental warning turns into (转为事件), from the default taxonomy: 出租房屋与流动人口.
CATEGORY = "SG-0203"
RULES = ("rental_overcrowded", "rental_double", "rental_overstay", "rental_vacant_activity", "rental_permit_due")


@dataclass
class RentalScan:
    """What one scan found and raised, per rule."""

    found: dict[str, int] = field(default_factory=dict)
    raised: dict[str, int] = field(default_factory=dict)

    @property
    def total_raised(self) -> int:
        return sum(self.raised.values())


def has_residence_permit(session: Session, *, person_id: uuid.UUID, since: dt.date) -> bool:
    """Whether the person has applied for (or holds) a residence permit since ``since`` (居住证申领,
    :func:`zhili.rental.permits.has_application`): an open or issued application silences "registration due"."""
    return permits.has_application(session, person_id=person_id, since=since)


def run_start(spans: list[tuple[dt.date, dt.date | None]], threshold: int, today: dt.date) -> dt.date | None:
    """The first day of the unbroken run, ending today, in which more than ``threshold`` of the ``spans`` (move-in,
    move-out or None) are current — or None when today is not in such a run. A span counts on its move-in day and
    until the day before its move-out."""
    def count(day: dt.date) -> int:
        return sum(1 for a, b in spans if a <= day and (b is None or b > day))

    if count(today) <= threshold:
        return None
    changes = sorted({d for a, b in spans for d in (a, b) if d is not None and d <= today}, reverse=True)
    start = today
    for day in changes:  # the count is constant between change days: look at each, newest first
        if count(day) > threshold:
            start = day
        else:
            break
        prev = day - dt.timedelta(days=1)
        if count(prev) <= threshold:
            break
    return start


def convert_hints(room: Room) -> dict[str, str]:
    """What a rental warning's detail carries for turning it into a case: the category and the room's building."""
    return {"convert_category": CATEGORY, "convert_building": str(room.building_id)}


def _where(session: Session, room: Room) -> str:
    h = session.get(Household, room.household_id)
    return f"{h.address if h else ''}{room.label}"


def scan(session: Session, *, now: dt.datetime | None = None, rules: tuple[str, ...] = RULES) -> RentalScan:
    """Run the rental rules as the system and raise the warnings whose cause (episode) is new. Idempotent."""
    now = now or clock.utcnow()
    today = clock.local_day(now)
    s = get_settings()
    rooms = {r.id: r for r in session.scalars(select(Room))}
    tree = UnitTree(session, {r.path for r in rooms.values()})
    found: dict[str, list[Finding]] = {k: [] for k in rules}
    parts = {"rental_overcrowded": lambda: _overcrowded(session, rooms, tree, today),
             "rental_double": lambda: _double(session, rooms, tree, today),
             "rental_overstay": lambda: _overstay(session, rooms, tree, today, s.rental_overstay_grace_days),
             "rental_vacant_activity": lambda: _vacant(session, rooms, tree, now, today, s.rental_vacant_days,
                                                       s.rental_activity_days, s.rental_activity_min_signals),
             "rental_permit_due": lambda: _permit_due(session, rooms, tree, today, s.rental_permit_due_days)}
    for kind in rules:
        found[kind] = parts[kind]()
    every = [f for fs in found.values() for f in fs]
    new = intel_warnings.raise_and_notify(session, every, now=now)
    report = RentalScan(found={k: len(v) for k, v in found.items()},
                        raised={k: sum(1 for w in new if w.kind == k) for k in rules})
    audit.record(session, actor=audit.SYSTEM, action="rental.scan", object_type="intel_warning",
                 after={"found": report.found, "raised": report.raised})
    session.flush()
    return report


def _unit(tree: UnitTree, room: Room) -> UnitRef | None:
    return tree.by_path.get(room.path)


def _active_by_room(session: Session) -> dict[uuid.UUID, list[Stay]]:
    out: dict[uuid.UUID, list[Stay]] = defaultdict(list)
    for st in session.scalars(select(Stay).where(Stay.state == StayState.active)):
        out[st.room_id].append(st)
    return out


def _spans(stays: list[Stay]) -> list[tuple[dt.date, dt.date | None]]:
    return [(st.move_in, st.moved_out if st.state == StayState.closed else None) for st in stays]


def _overcrowded(session: Session, rooms: dict[uuid.UUID, Room], tree: UnitTree, today: dt.date) -> list[Finding]:
    counts = dict(session.execute(select(Stay.room_id, func.count()).where(Stay.state == StayState.active)
                                  .group_by(Stay.room_id)).all())
    out = []
    for room_id, n in counts.items():
        room = rooms.get(room_id)
        if room is None or n <= room.capacity or (unit := _unit(tree, room)) is None:
            continue
        stays = list(session.scalars(select(Stay).where(Stay.room_id == room_id)))
        start = run_start(_spans(stays), room.capacity, today)
        if start is None:  # over capacity only with stays that begin later: not yet
            continue
        current = sum(1 for a, b in _spans(stays) if a <= today and (b is None or b > today))
        where = _where(session, room)
        out.append(Finding(
            kind="rental_overcrowded", cause_key=f"rental:overcrowded:{room.id.hex}:{start.isoformat()}", unit=unit,
            title=f"疑似群租：{where}", severity="red" if current >= 2 * room.capacity else "orange",
            reason=(f"该出租房屋核定居住{room.capacity}人，目前登记在住{current}人，"
                    f"自{start.month}月{start.day}日起超员。请上门核查是否存在群租。"),
            detail={"room_id": str(room.id), "capacity": room.capacity, "active": current,
                    "since": start.isoformat(), **convert_hints(room)}, category_code=CATEGORY,
            period_start=start, period_end=today))
    return out


def _double(session: Session, rooms: dict[uuid.UUID, Room], tree: UnitTree, today: dt.date) -> list[Finding]:
    persons = [p for p, n in session.execute(select(Stay.person_id, func.count()).where(Stay.state == StayState.active)
                                             .group_by(Stay.person_id).having(func.count() > 1)).all()]
    out = []
    for pid in persons:
        stays = list(session.scalars(select(Stay).where(Stay.person_id == pid).order_by(Stay.created_at)))
        start = run_start(_spans(stays), 1, today)
        if start is None:
            continue
        active = [st for st in stays if st.state == StayState.active]
        newest = rooms.get(active[-1].room_id)
        person = session.get(Person, pid)
        if newest is None or person is None or (unit := _unit(tree, newest)) is None:
            continue
        places = "、".join(_where(session, rooms[st.room_id]) for st in active if st.room_id in rooms)
        out.append(Finding(
            kind="rental_double", cause_key=f"rental:double:{pid.hex}:{start.isoformat()}", unit=unit,
            title=f"重复登记：{person.name}同时在{len(active)}处租住", severity="orange",
            reason=(f"{person.name}自{start.month}月{start.day}日起同时登记在{len(active)}处出租房屋（{places}）。"
                    "请核实实际居住地，为已搬离的住处办理退租。"),
            detail={"person_id": str(pid), "stay_ids": [str(st.id) for st in active],
                    "room_ids": [str(st.room_id) for st in active], "since": start.isoformat(),
                    **convert_hints(newest)}, category_code=CATEGORY, period_start=start, period_end=today))
    return out


def _overstay(session: Session, rooms: dict[uuid.UUID, Room], tree: UnitTree, today: dt.date,
              grace: int) -> list[Finding]:
    out = []
    limit = today - dt.timedelta(days=grace)
    for st in session.scalars(select(Stay).where(Stay.state == StayState.active)):
        room = rooms.get(st.room_id)
        if room is None or (unit := _unit(tree, room)) is None:
            continue
        ends = [(st.expected_move_out, "预计退租日期")]
        if room.contract_end is not None:
            ends.append((room.contract_end, "房屋租赁合同到期日"))
        deadline, what = min(ends)
        if deadline >= limit:
            continue
        person = session.get(Person, st.person_id)
        name = person.name if person else "租户"
        days = (today - deadline).days
        out.append(Finding(
            kind="rental_overstay", cause_key=f"rental:overstay:{st.id.hex}:{deadline.isoformat()}", unit=unit,
            title=f"逾期未退租：{name}（{_where(session, room)}）", severity="yellow" if days < 30 else "orange",
            reason=(f"{name}的入住登记已过{what}（{deadline.isoformat()}）{days}天仍为在住。"
                    "请核实：已搬离的办理退租，继续居住的办理续租。"),
            detail={"stay_id": str(st.id), "room_id": str(room.id), "deadline": deadline.isoformat(),
                    "days_over": days, **convert_hints(room)}, category_code=CATEGORY, period_start=deadline,
            period_end=today))
    return out


def _vacant(session: Session, rooms: dict[uuid.UUID, Room], tree: UnitTree, now: dt.datetime, today: dt.date,
            vacant_days: int, activity_days: int, min_signals: int) -> list[Finding]:
    since = now - dt.timedelta(days=activity_days)
    occupied = set(session.scalars(select(Stay.room_id).where(Stay.state == StayState.active).distinct()))
    activity = dict(session.execute(
        select(Signal.room_id, func.sum(Signal.count)).where(
            Signal.at >= since, Signal.at <= now,
            (Signal.kind != SignalKind.lock) | Signal.key_id.is_(None))  # the landlord's own key opening: not occupancy
        .group_by(Signal.room_id)).all())
    last_out = dict(session.execute(select(Stay.room_id, func.max(Stay.moved_out)).group_by(Stay.room_id)).all())
    out = []
    for room_id, n in activity.items():
        room = rooms.get(room_id)
        if room is None or room_id in occupied or room.status != RoomStatus.active or int(n or 0) < min_signals:
            continue
        vacant_from = last_out.get(room_id) or clock.local_day(room.created_at if room.created_at.tzinfo
                                                                else room.created_at.replace(tzinfo=dt.UTC))
        if (today - vacant_from).days < vacant_days or (unit := _unit(tree, room)) is None:
            continue
        out.append(Finding(
            kind="rental_vacant_activity", cause_key=f"rental:vacant:{room.id.hex}:{vacant_from.isoformat()}",
            unit=unit, title=f"空置房有活动：{_where(session, room)}", severity="orange",
            reason=(f"该出租房屋自{vacant_from.isoformat()}起无登记租户（{(today - vacant_from).days}天），"
                    f"但近{activity_days}天有{int(n)}次门锁或水电使用记录。请核查是否有未登记人员居住。"),
            detail={"room_id": str(room.id), "vacant_since": vacant_from.isoformat(), "signals": int(n),
                    **convert_hints(room)}, category_code=CATEGORY, period_start=vacant_from, period_end=today))
    return out


def _permit_due(session: Session, rooms: dict[uuid.UUID, Room], tree: UnitTree, today: dt.date,
                days: int) -> list[Finding]:
    cutoff = today - dt.timedelta(days=days)
    rows = session.execute(select(Stay, Person).join(Person, Person.id == Stay.person_id).where(
        Stay.state == StayState.active, Stay.move_in <= cutoff,
        Person.resident_type == ResidentType.floating)).all()
    out = []
    for st, person in rows:
        room = rooms.get(st.room_id)
        if room is None or (unit := _unit(tree, room)) is None:
            continue
        if has_residence_permit(session, person_id=person.id, since=st.move_in):
            continue
        stayed = (today - st.move_in).days
        out.append(Finding(
            kind="rental_permit_due", cause_key=f"rental:permit:{st.id.hex}", unit=unit,
            title=f"居住登记到期：{person.name}", severity="yellow",
            reason=(f"流动人口{person.name}已在“{_where(session, room)}”居住{stayed}天（满{days}天），尚未申领居住证。"
                    "请提醒其通过居民端申领（零跑），或上门协助办理。"),
            detail={"stay_id": str(st.id), "person_id": str(person.id), "days": stayed, **convert_hints(room)},
            category_code=CATEGORY, period_start=st.move_in, period_end=today))
    return out


WARNINGS_MAX = 500


def list_warnings(session: Session, *, principal: Principal, state: str | None = "open",
                  limit: int = 100) -> list[Warning]:
    """The rental warnings (the kinds ``rental_*`` of :mod:`zhili.intel.warnings`) of the principal's jurisdiction,
    newest first — under ``rental:read``: a grid worker checks the rooms of their grid without reading the rest of
    研判 (``intel:read``). Deciding on a warning (排除 / 转为事件) stays with ``intel:warn``."""
    authorize(principal, Perm.rental_read)
    kinds = [k for k in intel_warnings.KINDS if k.startswith("rental_")]
    stmt = scoped(select(Warning), principal, Warning.path).where(Warning.kind.in_(kinds))
    if state:
        if state not in intel_warnings.STATES:
            raise ValidationFailed("预警状态只能是：待处理（open）、已排除（dismissed）、已转为事件（converted）",
                                   code="bad_state", details={"state": state})
        stmt = stmt.where(Warning.state == WarningState(state))
    limit = max(1, min(int(limit), WARNINGS_MAX))
    return list(session.scalars(stmt.order_by(Warning.raised_at.desc(), Warning.id).limit(limit)))
