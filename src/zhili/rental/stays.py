"""Tenant check-in (实名入住登记) and check-out (退租).

Check-in is real-name: name, ID number (GB 11643 checksum), mobile phone, a photo, move-in date and expected
move-out. It is made

* from the resident portal by the tenant (``via=portal``) — the room named by its check-in code (入住码) the
  landlord shows; the stay remembers the tenant's account (``tenant_user_id``);
* by the landlord for the tenant (``via=landlord``), or by a grid worker on a visit (``grid_worker``) or other staff
  (``staff``) with ``rental:write`` in the room's jurisdiction.

In one transaction: the tenant is found or registered in the register (:mod:`zhili.rental.persons`), the stay is
written (phone and photo encrypted, bound to the stay), the tenant's electronic key issued
(:mod:`zhili.rental.keys`; its code answered once) and the police delivery queued (:mod:`zhili.rental.police`,
sent after the commit). A person may not check in twice to the same room; checking in while staying in another room
is allowed — the double-registration rule raises it (:mod:`zhili.rental.rules`), because the register must show
where people say they live. More tenants than the room's capacity are allowed for the same reason (群租 rule).

Check-out closes the stay (the tenant, the landlord or staff), revokes its keys, queues the police delivery and
releases the tenant's register household (see :func:`zhili.rental.persons.release_tenant`).

Bad input is refused with one ``ValidationFailed`` (code ``rental_invalid``) naming every bad field in
``details.fields`` (Chinese reasons).
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.cases.files import IMAGE_TYPES, check_upload, clean_image
from zhili.core import audit, clock
from zhili.core.crypto import get_cipher
from zhili.core.db import write_after_read
from zhili.core.errors import Conflict, DomainError, ValidationFailed
from zhili.core.ids import new_id
from zhili.core.jurisdiction import Principal, in_scope, path_predicate, scoped
from zhili.core.masking import mask_id_number, mask_phone
from zhili.core.query import paginate, starts_with_text
from zhili.core.reveal import authorize_reveal
from zhili.core.security import Perm, Role
from zhili.core.validators import validate_id_number, validate_mobile
from zhili.regions.service import get_unit
from zhili.registry.models import Household, Person
from zhili.registry.service import ID_PURPOSE, PHONE_PURPOSE
from zhili.rental import keys, police
from zhili.rental.common import (
    aware,
    field_errors,
    is_landlord,
    load_room,
    load_stay,
    require_any,
    tenant_condition,
)
from zhili.rental.models import DeliveryKind, RegisteredVia, Room, RoomStatus, Stay, StayState
from zhili.rental.persons import check_name, find_person, release_tenant, resolve_person

PHOTO_MAX_BYTES = 5 * 1024 * 1024
MAX_STAY_DAYS = 5 * 366
MOVE_IN_PAST_DAYS = 366  # a stay registered late (补登) at most this long after moving in
MOVE_IN_FUTURE_DAYS = 30
NOTE_MAX = 500
STATES = {"active": "在住", "closed": "已退租"}
VIA = {"portal": "租户自助登记", "landlord": "房东代登记", "grid_worker": "网格员登记", "staff": "工作人员登记"}


@dataclass(frozen=True)
class CheckIn:
    """A stay just checked in, with the tenant's key and its code (the only time the code is seen)."""

    stay: Stay
    key: keys.IssuedKey


def _invalid(errors: dict[str, str]) -> ValidationFailed:
    listed = "；".join(errors.values()) or "请检查填写的内容"
    return ValidationFailed(f"入住登记信息有误：{listed}", code="rental_invalid", details=field_errors(errors))


def _date(value: Any, field: str, errors: dict[str, str], what: str) -> dt.date | None:
    if value is None or value == "":
        errors[field] = f"请填写{what}"
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        errors[field] = f"{what}格式不正确（应为年-月-日）"
        return None


def _photo(photo: bytes | None, errors: dict[str, str]) -> tuple[bytes, str] | None:
    """The check-in photo re-encoded from its pixels (no EXIF/GPS), or None with the reason in ``errors``."""
    if not photo:
        errors["photo"] = "请上传本人照片"
        return None
    if len(photo) > PHOTO_MAX_BYTES:
        errors["photo"] = f"照片不能超过{PHOTO_MAX_BYTES // (1024 * 1024)}MB"
        return None
    try:
        ctype, _ = check_upload(photo)
        if ctype not in IMAGE_TYPES:
            errors["photo"] = "照片只能是 JPEG、PNG、GIF 或 WebP 图片"
            return None
        return clean_image(photo, ctype), ctype
    except DomainError as exc:
        errors["photo"] = exc.message
        return None


def validate_check_in(data: dict[str, Any], *, today: dt.date | None = None) -> dict[str, Any]:
    """The check-in form checked; every bad field named (Chinese) in one ``ValidationFailed``. Returns the clean
    values: name, id_number, phone, photo (bytes, type), move_in, expected_move_out, note."""
    today = today or clock.today()
    errors: dict[str, str] = {}
    name = str(data.get("name") or "").strip()
    bad = check_name(name)
    if bad:
        errors["name"] = bad
    id_number = None
    try:
        id_number = validate_id_number(str(data.get("id_number") or ""))
    except ValidationFailed as exc:
        errors["id_number"] = exc.message
    phone = None
    try:
        phone = validate_mobile(str(data.get("phone") or ""))
    except ValidationFailed as exc:
        errors["phone"] = exc.message if data.get("phone") else "请填写手机号码"
    photo = _photo(data.get("photo"), errors)
    move_in = _date(data.get("move_in"), "move_in", errors, "入住日期")
    move_out = _date(data.get("expected_move_out"), "expected_move_out", errors, "预计退租日期")
    if move_in is not None:
        if move_in > today + dt.timedelta(days=MOVE_IN_FUTURE_DAYS):
            errors["move_in"] = f"入住日期不能晚于今天之后{MOVE_IN_FUTURE_DAYS}天"
        elif move_in < today - dt.timedelta(days=MOVE_IN_PAST_DAYS):
            errors["move_in"] = "入住日期不能早于一年前（更早的入住请联系社区补录）"
    if move_in is not None and move_out is not None:
        if move_out <= move_in:
            errors["expected_move_out"] = "预计退租日期应晚于入住日期"
        elif (move_out - move_in).days > MAX_STAY_DAYS:
            errors["expected_move_out"] = "单次登记的居住期限不能超过5年"
        elif move_out < today:
            errors["expected_move_out"] = "预计退租日期已过，请填写实际的预计退租日期"
    note = data.get("note")
    if note is not None and len(str(note)) > NOTE_MAX:
        errors["note"] = f"备注不能超过{NOTE_MAX}字"
    if errors:
        raise _invalid(errors)
    assert id_number and phone and photo and move_in and move_out
    return {"name": name, "id_number": id_number, "phone": phone, "photo": photo, "move_in": move_in,
            "expected_move_out": move_out, "note": (str(note).strip() or None) if note else None}


def _via(principal: Principal, room: Room) -> RegisteredVia:
    if principal.can(Perm.rental_write) and in_scope(principal, room.path):
        return RegisteredVia.grid_worker if principal.role == Role.grid_worker else RegisteredVia.staff
    if is_landlord(principal, room):
        return RegisteredVia.landlord
    return RegisteredVia.portal


def check_in(session: Session, *, principal: Principal, data: dict[str, Any], room_id: uuid.UUID | None = None,
             checkin_code: str | None = None) -> CheckIn:
    """Check a tenant in (see the module docstring): the room by id (its landlord, or staff with ``rental:write``)
    or by check-in code (the tenant from the portal, ``rental:self``). ``data``: name, id_number, phone, photo
    (bytes), move_in, expected_move_out, note."""
    require_any(principal, Perm.rental_write, Perm.rental_self)
    clean = validate_check_in(data)
    if room_id is not None:
        room = load_room(session, principal, room_id, write=True)
    elif checkin_code:
        from zhili.rental.rooms import room_by_code

        room = room_by_code(session, principal=principal, code=checkin_code)
    else:
        raise _invalid({"room_id": "请选择房屋或输入入住码"})
    if room.status != RoomStatus.active:
        raise Conflict("该房屋已停止出租，不能办理入住", code="room_withdrawn")
    via = _via(principal, room) if room_id is not None else RegisteredVia.portal
    household = session.get(Household, room.household_id)
    assert household is not None
    existing = find_person(session, clean["id_number"])
    if existing is not None and session.scalar(select(Stay.id).where(
            Stay.room_id == room.id, Stay.person_id == existing.id, Stay.state == StayState.active)):
        raise Conflict("该租户已在本房屋登记入住，无需重复登记", code="already_checked_in",
                       details=field_errors({"id_number": "该身份证号码已在本房屋入住"}))
    person = resolve_person(session, principal=principal, name=clean["name"], id_number=clean["id_number"],
                            phone=clean["phone"], household=household, as_tenant=True)
    cipher = get_cipher()
    stay = Stay(id=new_id(), room_id=room.id, person_id=person.id, unit_id=room.unit_id, path=room.path,
                phone_bidx=cipher.blind_index(clean["phone"], purpose=PHONE_PURPOSE), move_in=clean["move_in"],
                expected_move_out=clean["expected_move_out"], state=StayState.active, registered_via=via,
                registered_by=principal.user_id, registered_by_name=principal.username[:64],
                tenant_user_id=principal.user_id if via == RegisteredVia.portal else None, close_note=None)
    stay.phone_enc = cipher.encrypt(clean["phone"], table="rental_stay", column="phone", row_id=stay.id)
    photo, ctype = clean["photo"]
    stay.photo_enc = cipher.encrypt(base64.b64encode(photo).decode(), table="rental_stay", column="photo",
                                    row_id=stay.id)
    stay.photo_type = ctype
    session.add(stay)
    session.flush()
    issued = keys.issue_tenant_key(session, actor=principal.actor, room=room, stay=stay)
    police.queue(session, stay=stay, kind=DeliveryKind.check_in)
    audit.record(session, actor=principal.actor, action="rental.check_in", object_type="rental_stay",
                 object_id=stay.id, after={"room": str(room.id), "person": str(person.id), "name": person.name,
                                           "id_number": mask_id_number(clean["id_number"]),
                                           "phone": mask_phone(clean["phone"]), "via": via.value,
                                           "move_in": stay.move_in, "expected_move_out": stay.expected_move_out})
    return CheckIn(stay, issued)


def check_out(session: Session, *, principal: Principal, stay_id: uuid.UUID, moved_out: dt.date | None = None,
              note: str | None = None) -> Stay:
    """退租: close an active stay (the tenant, the landlord, or staff with ``rental:write``), revoke its keys and
    queue the police delivery. ``moved_out`` defaults to today; it may not precede the move-in or lie ahead."""
    stay, room = load_stay(session, principal, stay_id, write=True)
    if stay.state != StayState.active:
        raise Conflict("该入住登记已退租", code="stay_closed")
    today = clock.today()
    day = moved_out or today
    errors: dict[str, str] = {}
    if day < stay.move_in:
        errors["moved_out"] = "退租日期不能早于入住日期"
    elif day > today:
        errors["moved_out"] = "退租日期不能晚于今天"
    if note is not None and len(note) > NOTE_MAX:
        errors["note"] = f"备注不能超过{NOTE_MAX}字"
    if errors:
        raise _invalid(errors)
    stay.state, stay.moved_out = StayState.closed, day
    stay.closed_by_name = principal.username[:64]
    stay.close_note = (note or "").strip() or None
    session.flush()
    keys.revoke_stay_keys(session, actor=principal.actor, stay=stay, reason="租户退租")
    police.queue(session, stay=stay, kind=DeliveryKind.check_out)
    person = session.get(Person, stay.person_id)
    assert person is not None
    still = session.scalar(select(Stay.id).where(Stay.person_id == person.id, Stay.state == StayState.active,
                                                 Stay.id != stay.id).limit(1)) is not None
    release_tenant(session, principal=principal, person=person, household_id=room.household_id, still_staying=still)
    audit.record(session, actor=principal.actor, action="rental.check_out", object_type="rental_stay",
                 object_id=stay.id, after={"room": str(room.id), "moved_out": day, "note": stay.close_note})
    return stay


def extend_stay(session: Session, *, principal: Principal, stay_id: uuid.UUID, expected_move_out: dt.date,
                version: int | None = None) -> Stay:
    """续租: a new expected move-out for an active stay (its keys follow). The landlord or staff with
    ``rental:write``."""
    stay, _ = load_stay(session, principal, stay_id, write=True, tenant_may=False)
    if stay.state != StayState.active:
        raise Conflict("该入住登记已退租", code="stay_closed")
    if version is not None and version != stay.version:
        raise Conflict("记录已被他人修改，请刷新后重试", code="version_conflict",
                       details={"current_version": stay.version})
    if expected_move_out <= max(stay.move_in, clock.today() - dt.timedelta(days=1)):
        raise _invalid({"expected_move_out": "预计退租日期应晚于入住日期且不早于今天"})
    if (expected_move_out - stay.move_in).days > MAX_STAY_DAYS:
        raise _invalid({"expected_move_out": "单次登记的居住期限不能超过5年"})
    before = stay.expected_move_out
    stay.expected_move_out = expected_move_out
    session.flush()
    keys.retime_stay_keys(session, stay=stay)
    audit.record(session, actor=principal.actor, action="rental.stay_extend", object_type="rental_stay",
                 object_id=stay.id, before={"expected_move_out": before},
                 after={"expected_move_out": expected_move_out})
    return stay


def get_stay(session: Session, *, principal: Principal, stay_id: uuid.UUID) -> Stay:
    """One stay: staff in jurisdiction, the room's landlord, or its tenant."""
    return load_stay(session, principal, stay_id)[0]


def list_stays(session: Session, *, principal: Principal, room_id: uuid.UUID | None = None,
               unit_id: uuid.UUID | None = None, state: str | None = None, name: str | None = None,
               id_number: str | None = None, phone: str | None = None, page: int = 1, page_size: int = 50,
               sort: str | None = None) -> tuple[list[Stay], int]:
    """Stays in jurisdiction (``rental:read``) — or, for a landlord, of one of their rooms (``room_id``) — by room,
    unit, state, the tenant's name (prefix), ID number or phone (exact, through the blind indexes)."""
    require_any(principal, Perm.rental_read, Perm.rental_self)
    if principal.can(Perm.rental_read):
        stmt = scoped(select(Stay), principal, Stay.path)
        if room_id:
            stmt = stmt.where(Stay.room_id == room_id)
    else:
        if room_id is None:
            raise _invalid({"room_id": "请选择房屋"})
        room = load_room(session, principal, room_id)
        stmt = select(Stay).where(Stay.room_id == room.id)
    if unit_id:
        root = get_unit(session, principal=principal, unit_id=unit_id)
        stmt = stmt.where(path_predicate(Stay.path, (root.path,)))
    if state:
        if state not in STATES:
            raise _invalid({"state": "状态只能是在住（active）或已退租（closed）"})
        stmt = stmt.where(Stay.state == StayState(state))
    cipher = get_cipher()
    if name or id_number:
        persons = select(Person.id)
        if name:
            persons = persons.where(starts_with_text(Person.name, name.strip()))
        if id_number:
            persons = persons.where(Person.id_number_bidx == cipher.blind_index(id_number, purpose=ID_PURPOSE))
        stmt = stmt.where(Stay.person_id.in_(persons))
    if phone:
        try:
            stmt = stmt.where(Stay.phone_bidx == cipher.blind_index(validate_mobile(phone), purpose=PHONE_PURPOSE))
        except ValidationFailed as exc:
            raise _invalid({"phone": exc.message}) from exc
    return paginate(session, stmt, page=page, page_size=page_size, sort=sort,
                    sortable={"move_in": Stay.move_in, "expected_move_out": Stay.expected_move_out,
                              "created_at": Stay.created_at},
                    default_sort=[Stay.move_in.desc(), Stay.id])


def my_stays(session: Session, *, principal: Principal, active_only: bool = False) -> list[Stay]:
    """我的租住: the stays of which the caller (a resident) is the tenant (see :mod:`zhili.rental.common`)."""
    require_any(principal, Perm.rental_self)
    stmt = select(Stay).where(tenant_condition(session, principal))
    if active_only:
        stmt = stmt.where(Stay.state == StayState.active)
    return list(session.scalars(stmt.order_by(Stay.state, Stay.move_in.desc(), Stay.id)))


def active_counts(session: Session, *, principal: Principal) -> dict[str, int]:
    """Rooms, active stays and dead police deliveries in jurisdiction (the console's figures)."""
    require_any(principal, Perm.rental_read)
    from zhili.rental.models import DeliveryState, PoliceDelivery

    rooms = session.scalar(scoped(select(func.count()).select_from(Room), principal, Room.path)) or 0
    stays = session.scalar(scoped(select(func.count()).select_from(Stay).where(Stay.state == StayState.active),
                                  principal, Stay.path)) or 0
    dead = session.scalar(scoped(select(func.count()).select_from(PoliceDelivery)
                                 .where(PoliceDelivery.state == DeliveryState.dead),
                                 principal, PoliceDelivery.path)) or 0
    return {"rooms": int(rooms), "active_stays": int(stays), "dead_deliveries": int(dead)}


def stay_photo(session: Session, *, principal: Principal, stay_id: uuid.UUID) -> tuple[str, bytes]:
    """The check-in photo (staff with ``rental:read`` in jurisdiction, the landlord, or the tenant); every view is
    audited."""
    stay, _ = load_stay(session, principal, stay_id)
    if stay.photo_enc is None:
        raise _invalid({"photo": "该入住登记没有照片"})
    data = base64.b64decode(get_cipher().decrypt(stay.photo_enc, table="rental_stay", column="photo",
                                                 row_id=stay.id))
    stay_id = stay.id
    write_after_read(session, lambda s: audit.record(s, actor=principal.actor, action="rental.stay_photo",
                                                     object_type="rental_stay", object_id=stay_id))
    ctype = stay.photo_type if stay.photo_type in IMAGE_TYPES else "application/octet-stream"
    return ctype, data


def reveal_stay(session: Session, *, principal: Principal, stay_id: uuid.UUID, reason: str) -> dict[str, Any]:
    """The tenant's full ID number and check-in phone: staff with ``rental:read`` + ``pii:reveal`` and a reason
    (audited, see ``core.reveal``)."""
    reason = authorize_reveal(session, principal=principal, perms=(Perm.rental_read, Perm.pii_reveal),
                              reason=reason, object_type="rental_stay", object_id=stay_id)
    stay, _ = load_stay(session, principal, stay_id, tenant_may=False)
    if not in_scope(principal, stay.path):
        from zhili.core.jurisdiction import not_found

        raise not_found("入住登记")
    person = session.get(Person, stay.person_id)
    assert person is not None
    cipher = get_cipher()
    id_number = cipher.decrypt(person.id_number_enc, table="person", column="id_number", row_id=person.id)
    phone = cipher.decrypt(stay.phone_enc, table="rental_stay", column="phone", row_id=stay.id)
    audit.record(session, actor=principal.actor, action="rental.stay_reveal", object_type="rental_stay",
                 object_id=stay.id, reason=reason, after={"fields": ["id_number", "phone"]})
    return {"id": stay.id, "name": person.name, "id_number": id_number, "phone": phone}


def stay_view(session: Session, stay: Stay, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """A stay as shown: the tenant (name; ID and phone masked), the room, dates, state, the police delivery state."""
    person = session.get(Person, stay.person_id)
    room = session.get(Room, stay.room_id)
    household = session.get(Household, room.household_id) if room else None
    cipher = get_cipher()
    id_number = (cipher.decrypt(person.id_number_enc, table="person", column="id_number", row_id=person.id)
                 if person else None)
    phone = cipher.decrypt(stay.phone_enc, table="rental_stay", column="phone", row_id=stay.id)
    today = clock.local_day(now or clock.utcnow())
    overdue = stay.state == StayState.active and stay.expected_move_out < today
    return {
        "id": stay.id, "room_id": stay.room_id, "room_label": room.label if room else None,
        "address": household.address if household else None, "person_id": stay.person_id,
        "name": person.name if person else None, "id_number": mask_id_number(id_number),
        "phone": mask_phone(phone), "resident_type": person.resident_type.value if person else None,
        "has_photo": stay.photo_enc is not None, "move_in": stay.move_in,
        "expected_move_out": stay.expected_move_out, "moved_out": stay.moved_out, "state": stay.state.value,
        "state_name": STATES[stay.state.value], "overdue": overdue, "days": ((stay.moved_out or today)
                                                                             - stay.move_in).days,
        "registered_via": stay.registered_via.value, "registered_via_name": VIA[stay.registered_via.value],
        "registered_by": stay.registered_by_name, "police_state": stay.police_state,
        "police_state_name": police.STATES.get(stay.police_state or "", "未推送"),
        "police_at": aware(stay.police_at), "close_note": stay.close_note, "path": stay.path,
        "version": stay.version, "created_at": stay.created_at,
    }


def stays_of_person(session: Session, *, principal: Principal, person_id: uuid.UUID) -> list[Stay]:
    """A register person's stays in jurisdiction (the person page's 租住记录), newest first. ``rental:read``."""
    require_any(principal, Perm.rental_read)
    return list(session.scalars(scoped(select(Stay), principal, Stay.path).where(Stay.person_id == person_id)
                                .order_by(Stay.move_in.desc(), Stay.id)))

