"""Request and response bodies of the rental API (``/api/v1/rental``). Limits are the services' (Chinese reasons per
field); these bodies only bound sizes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field


class LandlordIn(BaseModel):
    name: str = Field(max_length=30, description="房东姓名")
    id_number: str = Field(max_length=18, description="房东身份证号码")
    phone: str | None = Field(None, max_length=20, description="房东手机号码（居民本人登记时必填）")


class RoomIn(BaseModel):
    landlord: LandlordIn
    household_id: uuid.UUID | None = Field(None, description="房屋（户/室）；或填楼栋 + 单元 + 室号")
    building_id: uuid.UUID | None = None
    entrance_id: uuid.UUID | None = None
    door: str | None = Field(None, max_length=32, description="室号，如 301")
    label: str = Field(max_length=64, description="房间：整套、主卧、A间……")
    capacity: int = Field(description="核定居住人数")
    area_m2: float | None = None
    rent_yuan: int | None = Field(None, description="月租金（元）")
    contract_start: dt.date | None = None
    contract_end: dt.date | None = None
    photos: list[uuid.UUID] = Field(default_factory=list, max_length=9, description="先上传的照片附件编号")
    note: str | None = Field(None, max_length=1000)
    landlord_user_id: uuid.UUID | None = Field(None, description="工作人员代登记时：房东的居民账号（不填按手机号匹配）")


class RoomPatch(BaseModel):
    label: str | None = Field(None, max_length=64)
    capacity: int | None = None
    area_m2: float | None = None
    rent_yuan: int | None = None
    contract_start: dt.date | None = None
    contract_end: dt.date | None = None
    photos: list[uuid.UUID] | None = Field(None, max_length=9)
    note: str | None = Field(None, max_length=1000)
    version: int | None = None


class StatusIn(BaseModel):
    status: str = Field(max_length=16, description="active 出租中 / withdrawn 停止出租")
    reason: str | None = Field(None, max_length=500)


class RoomOut(BaseModel):
    id: uuid.UUID
    label: str
    status: str
    status_name: str
    household_id: uuid.UUID
    building_id: uuid.UUID
    entrance_id: uuid.UUID | None
    address: str | None
    building_name: str | None
    entrance_name: str | None
    door: str | None
    unit_id: uuid.UUID
    path: str
    area_m2: float | None
    capacity: int
    occupied: int
    over_capacity: bool
    rent_yuan: int | None
    contract_start: dt.date | None
    contract_end: dt.date | None
    photos: list[str]
    landlord_person_id: uuid.UUID
    landlord_name: str | None
    landlord_phone: str | None = Field(description="脱敏")
    has_landlord_account: bool
    checkin_code: str | None = Field(description="入住码（仅房东和有权登记的工作人员可见）")
    note: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class KeyOut(BaseModel):
    id: uuid.UUID
    room_id: uuid.UUID
    stay_id: uuid.UUID | None
    holder_kind: str
    holder_name: str | None
    suffix: str = Field(description="钥匙码末四位")
    valid_from: dt.datetime
    valid_to: dt.datetime | None
    revoked_at: dt.datetime | None
    revoke_reason: str | None
    state: str
    state_name: str
    issued_at: dt.datetime


class IssuedKeyOut(BaseModel):
    key: KeyOut
    code: str = Field(description="钥匙码：只在发放时显示这一次，请妥善保存")


class RoomRegisteredOut(BaseModel):
    room: RoomOut
    landlord_key: IssuedKeyOut


class CheckInIn(BaseModel):
    room_id: uuid.UUID | None = Field(None, description="房屋（房东或工作人员登记时）")
    checkin_code: str | None = Field(None, max_length=16, description="入住码（租户本人在居民端登记时）")
    name: str = Field(max_length=30)
    id_number: str = Field(max_length=18)
    phone: str = Field(max_length=20)
    photo_base64: str = Field(max_length=7_200_000, description="本人照片（base64，可带 data:image/...;base64, 前缀）")
    move_in: dt.date
    expected_move_out: dt.date
    note: str | None = Field(None, max_length=500)


class CheckOutIn(BaseModel):
    moved_out: dt.date | None = Field(None, description="退租日期（默认今天）")
    note: str | None = Field(None, max_length=500)


class ExtendIn(BaseModel):
    expected_move_out: dt.date
    version: int | None = None


class StayOut(BaseModel):
    id: uuid.UUID
    room_id: uuid.UUID
    room_label: str | None
    address: str | None
    person_id: uuid.UUID
    name: str | None
    id_number: str | None = Field(description="脱敏")
    phone: str | None = Field(description="脱敏")
    resident_type: str | None
    has_photo: bool
    move_in: dt.date
    expected_move_out: dt.date
    moved_out: dt.date | None
    state: str
    state_name: str
    overdue: bool
    days: int
    registered_via: str
    registered_via_name: str
    registered_by: str
    police_state: str | None
    police_state_name: str
    police_at: dt.datetime | None
    close_note: str | None
    path: str
    version: int
    created_at: dt.datetime


class CheckInOut(BaseModel):
    stay: StayOut
    key: IssuedKeyOut


class StayRevealed(BaseModel):
    id: uuid.UUID
    name: str
    id_number: str
    phone: str


class DeliveryOut(BaseModel):
    id: uuid.UUID
    stay_id: uuid.UUID
    kind: str
    kind_name: str
    state: str
    state_name: str
    attempts: int
    next_try_at: dt.datetime | None
    last_error: str | None
    receipt: str | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime
    idempotency_key: str


class RevokeIn(BaseModel):
    reason: str = Field(max_length=200)


class RevealIn(BaseModel):
    reason: str = Field(max_length=500, description="查看事由")


class BuildingHit(BaseModel):
    id: uuid.UUID
    name: str
    address: str
    compound: str | None


class ScanOut(BaseModel):
    found: dict[str, int]
    raised: dict[str, int]


class CountsOut(BaseModel):
    rooms: int
    active_stays: int
    dead_deliveries: int


def dump(model: type[BaseModel], data: dict[str, Any]) -> Any:
    return model.model_validate(data)
