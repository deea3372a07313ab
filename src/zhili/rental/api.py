"""Rental routes (``/api/v1/rental``): rooms, check-in and check-out, keys, police deliveries, the register's Excel
export. Thin: each route calls one service function, which checks permission and jurisdiction itself (staff:
``rental:*`` in their area; residents: ``rental:self`` on their own rooms and stays — see
:mod:`zhili.rental.common`)."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from zhili.core.db import utcnow
from zhili.core.errors import ValidationFailed
from zhili.core.jurisdiction import Principal
from zhili.core.schemas import Page
from zhili.core.security import Perm
from zhili.http.bodylimit import MARGIN, body_limit
from zhili.http.deps import CurrentUser, Db, Paging
from zhili.rental import export, keys, police, rooms, stays
from zhili.rental.common import is_landlord
from zhili.rental.models import Room
from zhili.rental.schemas import (
    BuildingHit,
    CheckInIn,
    CheckInOut,
    CheckOutIn,
    CountsOut,
    DeliveryOut,
    ExtendIn,
    IssuedKeyOut,
    KeyOut,
    RevealIn,
    RevokeIn,
    RoomIn,
    RoomOut,
    RoomPatch,
    RoomRegisteredOut,
    StatusIn,
    StayOut,
    StayRevealed,
)
from zhili.rental.stays import PHOTO_MAX_BYTES

router = APIRouter(prefix="/rental", tags=["出租房屋"])

UnitFilter = Annotated[uuid.UUID | None, Query(description="只看该单位（街道/社区/网格）之下")]


def _room(session: Session, principal: Principal, room: Room) -> RoomOut:
    show = is_landlord(principal, room) or principal.can(Perm.rental_write)
    return RoomOut(**rooms.room_view(session, room, show_code=show))


def _key(session: Session, issued: keys.IssuedKey) -> IssuedKeyOut:
    return IssuedKeyOut(key=KeyOut(**keys.key_view(session, issued.key)), code=issued.code)


# -- rooms ---------------------------------------------------------------------------------------------------------

@router.get("/rooms", response_model=Page[RoomOut], summary="出租房屋列表（本辖区）")
def list_rooms(session: Db, principal: CurrentUser, paging: Paging, unit_id: UnitFilter = None,
               q: Annotated[str | None, Query(max_length=100)] = None,
               status: Annotated[str | None, Query(max_length=16)] = None,
               over_capacity: bool | None = None) -> Page[RoomOut]:
    rows, total = rooms.list_rooms(session, principal=principal, unit_id=unit_id, q=q, status=status,
                                   over_capacity=over_capacity, page=paging.page, page_size=paging.page_size,
                                   sort=paging.sort)
    occ = rooms.occupancy(session, [r.id for r in rows])
    return Page(items=[RoomOut(**rooms.room_view(session, r, occupied=occ.get(r.id, 0),
                                                 show_code=principal.can(Perm.rental_write))) for r in rows],
                total=total, page=paging.page, page_size=paging.page_size)


@router.get("/my/rooms", response_model=list[RoomOut], summary="我的出租房（房东）")
def my_rooms(session: Db, principal: CurrentUser) -> list[RoomOut]:
    return [_room(session, principal, r) for r in rooms.my_rooms(session, principal=principal)]


@router.get("/buildings", response_model=list[BuildingHit], summary="查找楼栋（登记出租房时）")
def find_buildings(session: Db, principal: CurrentUser, q: Annotated[str, Query(max_length=100)]) -> list[BuildingHit]:
    return [BuildingHit(id=b.id, name=b.name, address=b.address, compound=b.compound)
            for b in rooms.find_buildings(session, principal=principal, q=q)]


@router.post("/rooms", response_model=RoomRegisteredOut, status_code=201, summary="登记出租房屋")
def register_room(body: RoomIn, session: Db, principal: CurrentUser) -> RoomRegisteredOut:
    data = body.model_dump(exclude_none=True)
    data["photos"] = [str(p) for p in body.photos]
    done = rooms.register_room(session, principal=principal, data=data)
    return RoomRegisteredOut(room=_room(session, principal, done.room), landlord_key=_key(session, done.landlord_key))


@router.get("/rooms/{room_id}", response_model=RoomOut, summary="出租房屋详情")
def get_room(room_id: uuid.UUID, session: Db, principal: CurrentUser) -> RoomOut:
    return _room(session, principal, rooms.get_room(session, principal=principal, room_id=room_id))


@router.patch("/rooms/{room_id}", response_model=RoomOut, summary="修改出租房屋信息")
def update_room(room_id: uuid.UUID, body: RoomPatch, session: Db, principal: CurrentUser) -> RoomOut:
    changes = body.model_dump(exclude_unset=True)
    if "photos" in changes and changes["photos"] is not None:
        changes["photos"] = [str(p) for p in changes["photos"]]
    return _room(session, principal, rooms.update_room(session, principal=principal, room_id=room_id,
                                                       changes=changes))


@router.post("/rooms/{room_id}/status", response_model=RoomOut, summary="停止出租 / 恢复出租")
def set_status(room_id: uuid.UUID, body: StatusIn, session: Db, principal: CurrentUser) -> RoomOut:
    return _room(session, principal, rooms.set_room_status(session, principal=principal, room_id=room_id,
                                                           status=body.status, reason=body.reason))


@router.post("/rooms/{room_id}/checkin-code", response_model=RoomOut, summary="更换入住码")
def renew_code(room_id: uuid.UUID, session: Db, principal: CurrentUser) -> RoomOut:
    return _room(session, principal, rooms.renew_checkin_code(session, principal=principal, room_id=room_id))


@router.get("/rooms/{room_id}/photos/{attachment_id}", summary="出租房屋照片", response_class=Response)
def room_photo(room_id: uuid.UUID, attachment_id: uuid.UUID, session: Db, principal: CurrentUser) -> Response:
    ctype, data = rooms.room_photo(session, principal=principal, room_id=room_id, attachment_id=attachment_id)
    return Response(data, media_type=ctype)


@router.get("/rooms/{room_id}/keys", response_model=list[KeyOut], summary="房屋的电子钥匙")
def room_keys(room_id: uuid.UUID, session: Db, principal: CurrentUser, include_ended: bool = False) -> list[KeyOut]:
    return [KeyOut(**keys.key_view(session, k)) for k in keys.list_keys(session, principal=principal, room_id=room_id,
                                                                        include_ended=include_ended)]


@router.post("/rooms/{room_id}/landlord-key", response_model=IssuedKeyOut, status_code=201,
             summary="重新发放房东钥匙")
def landlord_key(room_id: uuid.UUID, session: Db, principal: CurrentUser) -> IssuedKeyOut:
    return _key(session, keys.issue_landlord_key(session, principal=principal, room_id=room_id))


# -- stays ---------------------------------------------------------------------------------------------------------

def _photo(text: str) -> bytes:
    raw = text.split(",", 1)[1] if text.startswith("data:") and "," in text else text
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed("照片数据无法解码（应为 base64）", code="rental_invalid",
                               details={"fields": {"photo": "照片数据无法解码"}}) from exc
    return data


@router.post("/stays", response_model=CheckInOut, status_code=201, summary="入住登记（实名）")
@body_limit(PHOTO_MAX_BYTES * 4 // 3 + MARGIN)
def check_in(body: CheckInIn, session: Db, principal: CurrentUser) -> CheckInOut:
    data = body.model_dump(exclude={"photo_base64", "room_id", "checkin_code"})
    data["photo"] = _photo(body.photo_base64)
    done = stays.check_in(session, principal=principal, data=data, room_id=body.room_id,
                          checkin_code=body.checkin_code)
    return CheckInOut(stay=StayOut(**stays.stay_view(session, done.stay)), key=_key(session, done.key))


@router.get("/stays", response_model=Page[StayOut], summary="租住登记列表")
def list_stays(session: Db, principal: CurrentUser, paging: Paging, room_id: uuid.UUID | None = None,
               unit_id: UnitFilter = None, state: Annotated[str | None, Query(max_length=16)] = None,
               name: Annotated[str | None, Query(max_length=30)] = None) -> Page[StayOut]:
    rows, total = stays.list_stays(session, principal=principal, room_id=room_id, unit_id=unit_id, state=state,
                                   name=name, page=paging.page, page_size=paging.page_size, sort=paging.sort)
    return Page(items=[StayOut(**stays.stay_view(session, s)) for s in rows], total=total, page=paging.page,
                page_size=paging.page_size)


@router.get("/my/stays", response_model=list[StayOut], summary="我的租住（租户）")
def my_stays(session: Db, principal: CurrentUser) -> list[StayOut]:
    return [StayOut(**stays.stay_view(session, s)) for s in stays.my_stays(session, principal=principal)]


@router.get("/my/keys", response_model=list[KeyOut], summary="我的电子钥匙")
def my_keys(session: Db, principal: CurrentUser) -> list[KeyOut]:
    return [KeyOut(**keys.key_view(session, k)) for k in keys.my_keys(session, principal=principal)]


@router.get("/stays/{stay_id}", response_model=StayOut, summary="租住登记详情")
def get_stay(stay_id: uuid.UUID, session: Db, principal: CurrentUser) -> StayOut:
    return StayOut(**stays.stay_view(session, stays.get_stay(session, principal=principal, stay_id=stay_id)))


@router.post("/stays/{stay_id}/check-out", response_model=StayOut, summary="退租")
def check_out(stay_id: uuid.UUID, body: CheckOutIn, session: Db, principal: CurrentUser) -> StayOut:
    return StayOut(**stays.stay_view(session, stays.check_out(session, principal=principal, stay_id=stay_id,
                                                              moved_out=body.moved_out, note=body.note)))


@router.post("/stays/{stay_id}/extend", response_model=StayOut, summary="续租（延长预计退租日期）")
def extend(stay_id: uuid.UUID, body: ExtendIn, session: Db, principal: CurrentUser) -> StayOut:
    return StayOut(**stays.stay_view(session, stays.extend_stay(
        session, principal=principal, stay_id=stay_id, expected_move_out=body.expected_move_out,
        version=body.version)))


@router.get("/stays/{stay_id}/photo", summary="入住照片（留痕）", response_class=Response)
def stay_photo(stay_id: uuid.UUID, session: Db, principal: CurrentUser) -> Response:
    ctype, data = stays.stay_photo(session, principal=principal, stay_id=stay_id)
    return Response(data, media_type=ctype)


@router.post("/stays/{stay_id}/reveal", response_model=StayRevealed, summary="查看租户完整身份证号和手机号（留痕）")
def reveal(stay_id: uuid.UUID, body: RevealIn, session: Db, principal: CurrentUser) -> StayRevealed:
    return StayRevealed(**stays.reveal_stay(session, principal=principal, stay_id=stay_id, reason=body.reason))


@router.get("/stays/{stay_id}/deliveries", response_model=list[DeliveryOut], summary="该租住登记的公安推送记录")
def stay_deliveries(stay_id: uuid.UUID, session: Db, principal: CurrentUser) -> list[DeliveryOut]:
    return [DeliveryOut(**police.delivery_view(d))
            for d in police.list_deliveries(session, principal=principal, stay_id=stay_id)]


# -- keys ----------------------------------------------------------------------------------------------------------

@router.post("/keys/{key_id}/renew", response_model=IssuedKeyOut, status_code=201, summary="更换钥匙码")
def renew_key(key_id: uuid.UUID, session: Db, principal: CurrentUser) -> IssuedKeyOut:
    return _key(session, keys.renew_key(session, principal=principal, key_id=key_id))


@router.post("/keys/{key_id}/revoke", response_model=KeyOut, summary="作废钥匙")
def revoke_key(key_id: uuid.UUID, body: RevokeIn, session: Db, principal: CurrentUser) -> KeyOut:
    return KeyOut(**keys.key_view(session, keys.revoke_key(session, principal=principal, key_id=key_id,
                                                           reason=body.reason)))


# -- police deliveries, figures, export ----------------------------------------------------------------------------

@router.get("/deliveries", response_model=list[DeliveryOut], summary="公安推送记录（state=dead 为推送失败清单）")
def deliveries(session: Db, principal: CurrentUser, state: Annotated[str | None, Query(max_length=16)] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[DeliveryOut]:
    return [DeliveryOut(**police.delivery_view(d))
            for d in police.list_deliveries(session, principal=principal, state=state, limit=limit)]


@router.post("/deliveries/{delivery_id}/redeliver", response_model=DeliveryOut, summary="重新推送")
def redeliver(delivery_id: uuid.UUID, session: Db, principal: CurrentUser) -> DeliveryOut:
    return DeliveryOut(**police.delivery_view(police.redeliver(session, principal=principal,
                                                               delivery_id=delivery_id)))


@router.get("/counts", response_model=CountsOut, summary="本辖区出租房屋概况")
def counts(session: Db, principal: CurrentUser) -> CountsOut:
    return CountsOut(**stays.active_counts(session, principal=principal))


@router.get("/export", summary="导出出租房屋台账 Excel（脱敏，留痕）", response_class=Response)
def export_register(session: Db, principal: CurrentUser, unit_id: UnitFilter = None,
                    state: Annotated[str | None, Query(max_length=16)] = None) -> Response:
    data, _ = export.export_register(session, principal=principal, unit_id=unit_id, state=state)
    name = f"rental-{utcnow():%Y%m%d%H%M}.xlsx"
    return Response(data, media_type=export.XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})
