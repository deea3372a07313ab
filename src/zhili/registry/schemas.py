"""Base register schemas. Personal data leaves the API masked; full values only via the audited reveal action."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field

from zhili.core.schemas import ORMModel
from zhili.registry.models import (
    BuildingType,
    Gender,
    HouseholdUse,
    OrgType,
    PersonStatus,
    RegisterKind,
    ResidentType,
)

Lon = Field(None, ge=-180, le=180, description="经度（WGS-84）")
Lat = Field(None, ge=-90, le=90, description="纬度（WGS-84）")


class BuildingIn(BaseModel):
    grid_id: uuid.UUID | None = Field(None, description="所属网格；不填则按坐标定位")
    code: str | None = Field(None, max_length=64)
    compound: str | None = Field(None, max_length=100, description="小区")
    name: str = Field(min_length=1, max_length=100, description="楼栋名，如 3幢")
    address: str = Field(min_length=2, max_length=255)
    building_type: BuildingType = BuildingType.residential
    floors: int | None = Field(None, ge=1, le=200)
    lon: float | None = Lon
    lat: float | None = Lat
    note: str | None = Field(None, max_length=2000)


class BuildingPatch(BaseModel):
    compound: str | None = Field(None, max_length=100)
    name: str | None = Field(None, min_length=1, max_length=100)
    address: str | None = Field(None, min_length=2, max_length=255)
    building_type: BuildingType | None = None
    floors: int | None = Field(None, ge=1, le=200)
    lon: float | None = Lon
    lat: float | None = Lat
    note: str | None = Field(None, max_length=2000)
    version: int | None = None


class BuildingOut(ORMModel):
    id: uuid.UUID
    grid_id: uuid.UUID
    path: str
    code: str | None
    compound: str | None
    name: str
    address: str
    building_type: BuildingType
    floors: int | None
    lon: float | None
    lat: float | None
    note: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class EntranceIn(BaseModel):
    name: str = Field(min_length=1, max_length=50, description="单元名，如 1单元")


class EntranceOut(ORMModel):
    id: uuid.UUID
    building_id: uuid.UUID
    name: str
    version: int


class HouseholdIn(BaseModel):
    building_id: uuid.UUID
    entrance_id: uuid.UUID | None = None
    room: str = Field(min_length=1, max_length=32, description="室号，如 301")
    address: str | None = Field(None, max_length=255, description="不填则由楼栋地址+室号生成")
    use: HouseholdUse = HouseholdUse.owner_occupied
    area_m2: float | None = Field(None, gt=0, le=100000)
    note: str | None = Field(None, max_length=2000)


class HouseholdPatch(BaseModel):
    room: str | None = Field(None, min_length=1, max_length=32)
    address: str | None = Field(None, max_length=255)
    use: HouseholdUse | None = None
    area_m2: float | None = Field(None, gt=0, le=100000)
    note: str | None = Field(None, max_length=2000)
    version: int | None = None


class HouseholdOut(ORMModel):
    id: uuid.UUID
    building_id: uuid.UUID
    entrance_id: uuid.UUID | None
    grid_id: uuid.UUID
    path: str
    room: str
    address: str
    use: HouseholdUse
    area_m2: float | None
    note: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class PersonIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    id_number: str = Field(description="公民身份号码（18位）")
    phone: str | None = Field(None, description="手机号")
    household_id: uuid.UUID | None = None
    grid_id: uuid.UUID | None = Field(None, description="无户时必填")
    ethnicity: str | None = Field(None, max_length=32)
    relation: str | None = Field(None, description="与户主关系：head/spouse/child/…")
    resident_type: ResidentType = ResidentType.registered
    care_tags: list[str] = []
    note: str | None = Field(None, max_length=2000)


class PersonPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=64)
    phone: str | None = None
    household_id: uuid.UUID | None = None
    ethnicity: str | None = Field(None, max_length=32)
    relation: str | None = None
    resident_type: ResidentType | None = None
    care_tags: list[str] | None = None
    status: PersonStatus | None = None
    note: str | None = Field(None, max_length=2000)
    version: int | None = None


class PersonOut(BaseModel):
    id: uuid.UUID
    household_id: uuid.UUID | None
    grid_id: uuid.UUID
    path: str
    name: str
    id_number: str = Field(description="脱敏显示")
    phone: str | None = Field(None, description="脱敏显示")
    gender: Gender
    birth_date: dt.date
    age: int
    ethnicity: str | None
    relation: str | None
    resident_type: ResidentType
    care_tags: list[str]
    status: PersonStatus
    note: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class PersonFilters(BaseModel):
    """The person list's filters, posted as JSON so that an ID number or phone never travels in a URL."""

    model_config = {"extra": "forbid"}

    unit_id: uuid.UUID | None = Field(None, description="只看该单位（街道/社区/网格）之下")
    household_id: uuid.UUID | None = None
    name: str | None = Field(None, max_length=64, description="姓名（前缀匹配）")
    id_number: str | None = Field(None, max_length=18, description="身份证号（精确）")
    phone: str | None = Field(None, max_length=20, description="手机号（精确）")
    resident_type: ResidentType | None = None
    care_tag: str | None = Field(None, max_length=32, description="关爱标签，如 elderly_alone")
    status: PersonStatus | None = Field(PersonStatus.active, description="人员状态（null 为全部）")
    min_age: int | None = Field(None, ge=0, le=150)
    max_age: int | None = Field(None, ge=0, le=150)


class PersonSearch(PersonFilters):
    """A person search: the filters plus paging."""

    page: int = Field(1, ge=1, le=10_000_000)
    page_size: int = Field(50, ge=1, le=500)
    sort: str | None = Field(None, max_length=64, description="字段名，前缀 - 表示倒序，如 -created_at")


class ExportFilters(BaseModel):
    """A register export's filters, posted as JSON (each register takes its own; others are refused)."""

    model_config = {"extra": "forbid"}

    unit_id: uuid.UUID | None = None
    q: str | None = Field(None, max_length=100)
    building_type: BuildingType | None = None
    use: HouseholdUse | None = None
    building_id: uuid.UUID | None = None
    household_id: uuid.UUID | None = None
    name: str | None = Field(None, max_length=64)
    id_number: str | None = Field(None, max_length=18)
    phone: str | None = Field(None, max_length=20)
    resident_type: ResidentType | None = None
    care_tag: str | None = Field(None, max_length=32)
    status: PersonStatus | None = None
    min_age: int | None = Field(None, ge=0, le=150)
    max_age: int | None = Field(None, ge=0, le=150)
    org_type: OrgType | None = None
    credit_code: str | None = Field(None, max_length=18)


class RevealIn(BaseModel):
    reason: str = Field(description="查看完整信息的事由（记入审计，至少2个字）")


class PersonRevealed(BaseModel):
    id: uuid.UUID
    name: str
    id_number: str
    phone: str | None


class OrganisationIn(BaseModel):
    name: str = Field(min_length=2, max_length=200)
    credit_code: str | None = Field(None, description="统一社会信用代码（18位）")
    org_type: OrgType = OrgType.enterprise
    industry: str | None = Field(None, max_length=64)
    address: str = Field(min_length=2, max_length=255)
    grid_id: uuid.UUID | None = Field(None, description="不填则按坐标定位")
    building_id: uuid.UUID | None = None
    legal_rep: str | None = Field(None, max_length=64)
    contact_name: str | None = Field(None, max_length=64)
    contact_phone: str | None = None
    employees: int | None = Field(None, ge=0)
    lon: float | None = Lon
    lat: float | None = Lat


class OrganisationPatch(BaseModel):
    name: str | None = Field(None, min_length=2, max_length=200)
    org_type: OrgType | None = None
    industry: str | None = Field(None, max_length=64)
    address: str | None = Field(None, min_length=2, max_length=255)
    legal_rep: str | None = Field(None, max_length=64)
    contact_name: str | None = Field(None, max_length=64)
    contact_phone: str | None = None
    employees: int | None = Field(None, ge=0)
    lon: float | None = Lon
    lat: float | None = Lat
    version: int | None = None


class OrganisationOut(BaseModel):
    id: uuid.UUID
    grid_id: uuid.UUID
    path: str
    building_id: uuid.UUID | None
    name: str
    credit_code: str | None
    org_type: OrgType
    industry: str | None
    address: str
    legal_rep: str | None
    contact_name: str | None
    contact_phone: str | None = Field(None, description="脱敏显示")
    employees: int | None
    lon: float | None
    lat: float | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class RejectedRowOut(BaseModel):
    row_number: int = Field(description="在上传文件中的行号（表头为第1行）")
    reason: str = Field(description="未导入的原因")
    cells: list[Any] = Field(description="该行各列的内容，按导入模板的列顺序；身份证号、手机号已脱敏")


class ImportBatchOut(BaseModel):
    id: uuid.UUID
    kind: RegisterKind
    kind_label: str
    filename: str
    created_at: dt.datetime
    total_rows: int = Field(description="数据行数（不含表头和未改动的示例行）")
    created_rows: int = Field(description="新增的记录数")
    updated_rows: int = Field(description="已存在、按本次内容更新的记录数")
    unchanged_rows: int = Field(0, description="与上次导入相同、未作改动的行数")
    rejected_rows: int = Field(description="未导入的行数（进入数据中台隔离区，可修正后重新导入）")
    headers: list[str] = Field(description="导入模板的列名")
    rejected: list[RejectedRowOut]
