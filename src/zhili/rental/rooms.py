"""Rental rooms (出租房屋登记): registered by their landlord (a resident account) or by staff on the landlord's behalf.

A room is resolved to the register: a household (户/室) of a building — given by id, or by building + entrance +
door number, the household created (use 出租) when the register has no such door yet. Its jurisdiction is the
building's grid (``unit_id`` / ``path``). The landlord is a register person (found by ID number, real-name
checked, or registered — see :mod:`zhili.rental.persons`); the resident account managing the room is the caller when
a resident registers it, else the one resident account with the landlord's phone number (if exactly one).

Registration issues the landlord's electronic key (its code answered once) and a check-in code (入住码) the
landlord shows tenants so they check in from the portal. Photos are attachments uploaded by the caller beforehand
(``POST /api/v1/attachments``, checked by content, re-encoded without metadata) — at most :data:`MAX_PHOTOS`.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.cases.files import IMAGE_TYPES, served_bytes
from zhili.cases.models import Attachment
from zhili.core import audit
from zhili.core.crypto import get_cipher
from zhili.core.errors import Conflict, NotFound, ValidationFailed
from zhili.core.ids import new_id
from zhili.core.jurisdiction import Principal, ensure_in_scope, in_scope, path_predicate, scoped
from zhili.core.masking import mask_id_number, mask_phone
from zhili.core.query import contains_text, paginate
from zhili.core.security import Perm, Role
from zhili.core.validators import validate_id_number, validate_mobile
from zhili.regions.service import get_unit
from zhili.registry import service as registry
from zhili.registry.models import Building, Entrance, Household, HouseholdUse, Person
from zhili.rental.common import delegate, field_errors, load_room, require_any
from zhili.rental.keys import IssuedKey, landlord_key, revoke_room_keys
from zhili.rental.models import Room, RoomStatus, Stay, StayState
from zhili.rental.persons import check_name, resolve_person
from zhili.users.models import User

MAX_PHOTOS = 9
MAX_CAPACITY = 50
LABEL_MAX = 64
STATUSES = {"active": "出租中", "withdrawn": "已停止出租"}
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_EDITABLE = ("label", "area_m2", "capacity", "rent_yuan", "contract_start", "contract_end", "note", "photos")


@dataclass(frozen=True)
class RoomRegistered:
    room: Room
    landlord_key: IssuedKey


def _new_checkin_code(session: Session) -> str:
    while True:
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
        if session.scalar(select(Room.id).where(Room.checkin_code == code)) is None:
            return code


def _terms(data: dict[str, Any], errors: dict[str, str], *, partial: bool = False) -> dict[str, Any]:
    """The room's own fields checked (each bad one named in ``errors``)."""
    out: dict[str, Any] = {}
    if "label" in data or not partial:
        label = str(data.get("label") or "").strip()
        if not label or len(label) > LABEL_MAX:
            errors["label"] = f"请填写房间名称（如“整套”“主卧”“A间”，不超过{LABEL_MAX}字）"
        out["label"] = label
    if "capacity" in data or not partial:
        cap = data.get("capacity")
        if not isinstance(cap, int) or isinstance(cap, bool) or not 1 <= cap <= MAX_CAPACITY:
            errors["capacity"] = f"核定居住人数应为1至{MAX_CAPACITY}的整数"
        out["capacity"] = cap
    if "area_m2" in data:
        area = data.get("area_m2")
        if area is not None and (not isinstance(area, int | float) or not 1 <= float(area) <= 10000):
            errors["area_m2"] = "面积应在1至10000平方米之间"
        out["area_m2"] = float(area) if isinstance(area, int | float) else None
    if "rent_yuan" in data:
        rent = data.get("rent_yuan")
        if rent is not None and (not isinstance(rent, int) or isinstance(rent, bool) or not 0 <= rent <= 1_000_000):
            errors["rent_yuan"] = "月租金应为0至1000000元的整数"
        out["rent_yuan"] = rent
    for f in ("contract_start", "contract_end"):
        if f in data:
            v = data.get(f)
            if v is not None and not isinstance(v, dt.date):
                errors[f] = "日期格式不正确"
            out[f] = v
    start, end = out.get("contract_start"), out.get("contract_end")
    if isinstance(start, dt.date) and isinstance(end, dt.date) and end <= start:
        errors["contract_end"] = "租赁合同到期日应晚于起始日"
    if "note" in data:
        note = data.get("note")
        if note is not None and len(str(note)) > 1000:
            errors["note"] = "备注不能超过1000字"
        out["note"] = (str(note).strip() or None) if note is not None else None
    return out


def _photos(session: Session, principal: Principal, ids: Any, errors: dict[str, str],
            keep: list[str] | None = None) -> list[str]:
    """Attachment ids of photos the caller uploaded (on no case), or already on this room (``keep``)."""
    if ids is None:
        return []
    if not isinstance(ids, list) or len(ids) > MAX_PHOTOS:
        errors["photos"] = f"照片最多{MAX_PHOTOS}张"
        return []
    out: list[str] = []
    for raw in ids:
        try:
            aid = uuid.UUID(str(raw))
        except ValueError:
            errors["photos"] = "照片编号无效"
            continue
        if keep and str(aid) in keep:
            out.append(str(aid))
            continue
        att = session.get(Attachment, aid)
        if att is None or att.case_id is not None or att.uploaded_by != principal.user_id:
            errors["photos"] = "照片不存在或已被使用，请重新上传"
            continue
        if att.content_type not in IMAGE_TYPES:
            errors["photos"] = "房屋照片只能是图片"
            continue
        out.append(str(aid))
    return list(dict.fromkeys(out))


def _household(session: Session, principal: Principal, data: dict[str, Any], errors: dict[str, str]
               ) -> Household | None:
    """The register household of the room: by id, or by building (+ entrance) + door number (created if new)."""
    staff = principal.can(Perm.rental_write)
    if data.get("household_id"):
        h = session.get(Household, data["household_id"])
        if h is None or (staff and not in_scope(principal, h.path)):
            errors["household_id"] = "房屋不存在或不在您的管辖范围内"
            return None
        return h
    building_id, door = data.get("building_id"), str(data.get("door") or "").strip()
    if not building_id:
        errors["building_id"] = "请选择楼栋（或直接选择房屋）"
        return None
    if not door or len(door) > 32:
        errors["door"] = "请填写室号（不超过32字）"
        return None
    b = session.get(Building, building_id)
    if b is None or (staff and not in_scope(principal, b.path)):
        errors["building_id"] = "楼栋不存在或不在您的管辖范围内"
        return None
    entrance_id = data.get("entrance_id")
    if entrance_id is not None:
        e = session.get(Entrance, entrance_id)
        if e is None or e.building_id != b.id:
            errors["entrance_id"] = "单元不属于该楼栋"
            return None
    stmt = select(Household).where(Household.building_id == b.id, Household.room == door)
    stmt = stmt.where(Household.entrance_id.is_(None) if entrance_id is None else Household.entrance_id == entrance_id)
    h = session.scalar(stmt)
    if h is None:
        h = registry.create_household(session, principal=delegate(principal, b.path),
                                      data={"building_id": b.id, "entrance_id": entrance_id, "room": door,
                                            "use": HouseholdUse.rented})
    return h


def _resident_with_phone(session: Session, phone: str | None) -> uuid.UUID | None:
    if not phone:
        return None
    bidx = get_cipher().blind_index(phone, purpose="app_user.phone")
    found = list(session.scalars(select(User.id).where(User.phone_bidx == bidx, User.role == Role.resident,
                                                       User.is_active.is_(True)).limit(2)))
    return found[0] if len(found) == 1 else None


def register_room(session: Session, *, principal: Principal, data: dict[str, Any]) -> RoomRegistered:
    """Register a rental room (see the module docstring). ``data``: ``landlord`` {name, id_number, phone},
    ``household_id`` or ``building_id`` + ``entrance_id`` + ``door``, ``label``, ``capacity``, optional
    ``area_m2``, ``rent_yuan``, ``contract_start``, ``contract_end``, ``photos`` (attachment ids), ``note``.
    A resident registers their own room; staff need ``rental:write`` in the building's jurisdiction."""
    require_any(principal, Perm.rental_write, Perm.rental_self)
    errors: dict[str, str] = {}
    terms = _terms(data, errors)
    landlord = data.get("landlord") or {}
    name = str(landlord.get("name") or "").strip()
    bad = check_name(name)
    if bad:
        errors["landlord.name"] = bad
    id_number = None
    try:
        id_number = validate_id_number(str(landlord.get("id_number") or ""))
    except ValidationFailed as exc:
        errors["landlord.id_number"] = exc.message
    phone = None
    if landlord.get("phone"):
        try:
            phone = validate_mobile(str(landlord["phone"]))
        except ValidationFailed as exc:
            errors["landlord.phone"] = exc.message
    elif not principal.can(Perm.rental_write):
        errors["landlord.phone"] = "请填写房东手机号码"
    photos = _photos(session, principal, data.get("photos"), errors)
    household = _household(session, principal, data, errors) if not errors else None
    if errors or household is None or id_number is None:
        raise _invalid(errors)
    b = session.get(Building, household.building_id)
    assert b is not None
    if principal.can(Perm.rental_write):
        ensure_in_scope(principal, b.path, "楼栋")
    if session.scalar(select(Room.id).where(Room.household_id == household.id, Room.label == terms["label"])):
        raise Conflict(f"该房屋已登记名为“{terms['label']}”的出租房间", code="room_exists",
                       details=field_errors({"label": "同一房屋内房间名称不能重复"}))
    person = resolve_person(session, principal=principal, name=name, id_number=id_number, phone=phone,
                            household=household, as_tenant=False)
    if principal.can(Perm.rental_write):
        user_id = data.get("landlord_user_id") or _resident_with_phone(session, phone)
        if user_id is not None:
            u = session.get(User, user_id)
            if u is None or u.role != Role.resident:
                raise _invalid({"landlord_user_id": "房东账号不存在或不是居民账号"})
    else:
        user_id = principal.user_id
    room = Room(id=new_id(), landlord_person_id=person.id, landlord_user_id=user_id, building_id=b.id,
                entrance_id=household.entrance_id, household_id=household.id, unit_id=b.grid_id, path=b.path,
                photos=photos, status=RoomStatus.active, checkin_code=_new_checkin_code(session),
                created_by=principal.username, **terms)
    session.add(room)
    if household.use != HouseholdUse.rented:
        registry.update_household(session, principal=delegate(principal, household.path),
                                  household_id=household.id, changes={"use": HouseholdUse.rented})
    session.flush()
    audit.record(session, actor=principal.actor, action="rental.room_register", object_type="rental_room",
                 object_id=room.id, after={"household": str(household.id), "label": room.label,
                                           "capacity": room.capacity, "landlord": person.name,
                                           "landlord_id_number": mask_id_number(id_number),
                                           "landlord_phone": mask_phone(phone), "photos": len(photos)})
    return RoomRegistered(room, landlord_key(session, actor=principal.actor, room=room))


def _invalid(errors: dict[str, str]) -> ValidationFailed:
    listed = "；".join(errors.values()) or "请检查填写的内容"
    return ValidationFailed(f"登记信息有误：{listed}", code="rental_invalid", details=field_errors(errors))


def get_room(session: Session, *, principal: Principal, room_id: uuid.UUID) -> Room:
    """One room: staff with ``rental:read`` in jurisdiction, or its landlord."""
    return load_room(session, principal, room_id)


def update_room(session: Session, *, principal: Principal, room_id: uuid.UUID, changes: dict[str, Any]) -> Room:
    """Change a room's terms (label, capacity, area, rent, contract dates, photos, note); ``version`` for optimistic
    locking. The landlord, or staff with ``rental:write``."""
    room = load_room(session, principal, room_id, write=True)
    expected = changes.pop("version", None)
    if expected is not None and expected != room.version:
        raise Conflict("记录已被他人修改，请刷新后重试", code="version_conflict",
                       details={"current_version": room.version})
    unknown = [k for k in changes if k not in _EDITABLE]
    if unknown:
        raise _invalid({k: "该项不能修改" for k in unknown})
    errors: dict[str, str] = {}
    values = _terms(changes, errors, partial=True)
    if "photos" in changes:
        values["photos"] = _photos(session, principal, changes["photos"], errors, keep=list(room.photos or []))
    start = values.get("contract_start", room.contract_start) if "contract_start" in values else room.contract_start
    end = values.get("contract_end", room.contract_end) if "contract_end" in values else room.contract_end
    if start and end and end <= start:
        errors["contract_end"] = "租赁合同到期日应晚于起始日"
    if errors:
        raise _invalid(errors)
    if "label" in values and values["label"] != room.label and session.scalar(
            select(Room.id).where(Room.household_id == room.household_id, Room.label == values["label"])):
        raise Conflict(f"该房屋已登记名为“{values['label']}”的出租房间", code="room_exists",
                       details=field_errors({"label": "同一房屋内房间名称不能重复"}))
    before = {k: getattr(room, k) for k in values}
    for k, v in values.items():
        setattr(room, k, v)
    session.flush()
    audit.record(session, actor=principal.actor, action="rental.room_update", object_type="rental_room",
                 object_id=room.id, before=before, after=values)
    return room


def set_room_status(session: Session, *, principal: Principal, room_id: uuid.UUID, status: str,
                    reason: str | None = None) -> Room:
    """停止出租 / 恢复出租. A room with an active stay cannot be withdrawn; withdrawing revokes the landlord's key."""
    room = load_room(session, principal, room_id, write=True)
    if status not in STATUSES:
        raise _invalid({"status": "状态只能是出租中（active）或已停止出租（withdrawn）"})
    new = RoomStatus(status)
    if new == room.status:
        return room
    if new == RoomStatus.withdrawn:
        active = session.scalar(select(func.count()).select_from(Stay).where(Stay.room_id == room.id,
                                                                             Stay.state == StayState.active)) or 0
        if active:
            raise Conflict(f"该房屋还有{active}名在住租户，请先办理退租", code="room_occupied")
        revoke_room_keys(session, actor=principal.actor, room=room, reason="房屋停止出租")
    before = room.status.value
    room.status = new
    session.flush()
    audit.record(session, actor=principal.actor, action="rental.room_status", object_type="rental_room",
                 object_id=room.id, before={"status": before}, after={"status": new.value},
                 reason=(reason or "").strip()[:500] or None)
    return room


def renew_checkin_code(session: Session, *, principal: Principal, room_id: uuid.UUID) -> Room:
    """A new check-in code for the room (the old one stops working): the landlord, or staff with ``rental:write``."""
    room = load_room(session, principal, room_id, write=True)
    room.checkin_code = _new_checkin_code(session)
    session.flush()
    audit.record(session, actor=principal.actor, action="rental.room_code", object_type="rental_room",
                 object_id=room.id)
    return room


def room_by_code(session: Session, *, principal: Principal, code: str) -> Room:
    """The room a check-in code opens (a tenant about to check in from the portal; ``rental:self``)."""
    require_any(principal, Perm.rental_self)
    text = (code or "").strip().upper()
    room = session.scalar(select(Room).where(Room.checkin_code == text)) if 4 <= len(text) <= 16 else None
    if room is None or room.status != RoomStatus.active:
        raise NotFound("入住码无效或房屋已停止出租，请向房东核对", code="checkin_code_unknown")
    return room


def list_rooms(session: Session, *, principal: Principal, unit_id: uuid.UUID | None = None, q: str | None = None,
               status: str | None = None, over_capacity: bool | None = None, page: int = 1, page_size: int = 50,
               sort: str | None = None) -> tuple[list[Room], int]:
    """Rooms in the caller's jurisdiction (``rental:read``), optionally under a unit, by address/label keyword,
    status, or only those with more active tenants than their capacity."""
    require_any(principal, Perm.rental_read)
    stmt = scoped(select(Room), principal, Room.path)
    if unit_id:
        root = get_unit(session, principal=principal, unit_id=unit_id)
        stmt = stmt.where(path_predicate(Room.path, (root.path,)))
    if q:
        addresses = select(Household.id).where(contains_text(Household.address, q))
        stmt = stmt.where(contains_text(Room.label, q) | Room.household_id.in_(addresses))
    if status:
        if status not in STATUSES:
            raise _invalid({"status": "状态只能是出租中（active）或已停止出租（withdrawn）"})
        stmt = stmt.where(Room.status == RoomStatus(status))
    if over_capacity:
        stmt = stmt.where(_active_count() > Room.capacity)
    return paginate(session, stmt, page=page, page_size=page_size, sort=sort,
                    sortable={"created_at": Room.created_at, "capacity": Room.capacity, "label": Room.label},
                    default_sort=[Room.path, Room.created_at, Room.id])


def _active_count() -> Any:
    return (select(func.count()).select_from(Stay).where(Stay.room_id == Room.id, Stay.state == StayState.active)
            .correlate(Room).scalar_subquery())


def my_rooms(session: Session, *, principal: Principal) -> list[Room]:
    """我的出租房: the rooms the caller (a resident) manages as landlord."""
    require_any(principal, Perm.rental_self)
    return list(session.scalars(select(Room).where(Room.landlord_user_id == principal.user_id)
                                .order_by(Room.created_at, Room.id)))


def find_buildings(session: Session, *, principal: Principal, q: str, limit: int = 20) -> list[Building]:
    """Buildings whose name, address or compound contains ``q`` (a landlord finding their building; no personal
    data): staff within their jurisdiction, residents across the district."""
    require_any(principal, Perm.rental_write, Perm.rental_self)
    text = (q or "").strip()
    if len(text) < 2:
        raise _invalid({"q": "请输入至少2个字的楼栋名称或地址"})
    stmt = select(Building).where(contains_text(Building.name, text) | contains_text(Building.address, text)
                                  | contains_text(Building.compound, text))
    if principal.can(Perm.rental_write):
        stmt = scoped(stmt, principal, Building.path)
    return list(session.scalars(stmt.order_by(Building.address, Building.id).limit(max(1, min(limit, 50)))))


def room_photo(session: Session, *, principal: Principal, room_id: uuid.UUID, attachment_id: uuid.UUID
               ) -> tuple[str, bytes]:
    """One photo of a room as served (re-encoded, no metadata): whoever may see the room."""
    room = load_room(session, principal, room_id)
    if str(attachment_id) not in (room.photos or []):
        raise NotFound("照片不存在")
    att = session.get(Attachment, attachment_id)
    if att is None:
        raise NotFound("照片不存在")
    return att.content_type, served_bytes(att)


def occupancy(session: Session, room_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Active stays per room."""
    if not room_ids:
        return {}
    rows = session.execute(select(Stay.room_id, func.count()).where(Stay.room_id.in_(room_ids),
                                                                    Stay.state == StayState.active)
                           .group_by(Stay.room_id)).all()
    return {r: int(n) for r, n in rows}


def room_view(session: Session, room: Room, *, occupied: int | None = None, show_code: bool = False
              ) -> dict[str, Any]:
    """A room as shown: place, landlord (name, phone masked), terms, occupancy against capacity."""
    household = session.get(Household, room.household_id)
    building = session.get(Building, room.building_id)
    entrance = session.get(Entrance, room.entrance_id) if room.entrance_id else None
    landlord = session.get(Person, room.landlord_person_id)
    phone = None
    if landlord is not None and landlord.phone_enc:
        phone = get_cipher().decrypt(landlord.phone_enc, table="person", column="phone", row_id=landlord.id)
    if occupied is None:
        occupied = occupancy(session, [room.id]).get(room.id, 0)
    return {
        "id": room.id, "label": room.label, "status": room.status.value, "status_name": STATUSES[room.status.value],
        "household_id": room.household_id, "building_id": room.building_id, "entrance_id": room.entrance_id,
        "address": household.address if household else None, "building_name": building.name if building else None,
        "entrance_name": entrance.name if entrance else None, "door": household.room if household else None,
        "unit_id": room.unit_id, "path": room.path, "area_m2": room.area_m2, "capacity": room.capacity,
        "occupied": occupied, "over_capacity": occupied > room.capacity, "rent_yuan": room.rent_yuan,
        "contract_start": room.contract_start, "contract_end": room.contract_end, "photos": list(room.photos or []),
        "landlord_person_id": room.landlord_person_id, "landlord_name": landlord.name if landlord else None,
        "landlord_phone": mask_phone(phone), "has_landlord_account": room.landlord_user_id is not None,
        "checkin_code": room.checkin_code if show_code else None, "note": room.note, "version": room.version,
        "created_at": room.created_at, "updated_at": room.updated_at,
    }
