"""Data hub request and answer schemas. Personal values never leave the hub unmasked."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field

from zhili.core.schemas import ORMModel
from zhili.datahub.models import SecurityLevel, Target

# -- sources ---------------------------------------------------------------------------------------------------


class SourceIn(BaseModel):
    name: str = Field(min_length=2, max_length=63, pattern=r"^[a-z0-9][a-z0-9._-]{1,62}$",
                      description="数据源标识（命令行中使用），如 12345-archive")
    title: str = Field(min_length=1, max_length=100, description="数据源名称")
    target: Target = Field(description="对应的标准模型")
    security_level: SecurityLevel = SecurityLevel.internal
    unit_id: uuid.UUID = Field(description="数据所属单位（决定管辖范围）")
    department: str | None = Field(None, max_length=32, description="所属部门代码")
    system_name: str | None = Field(None, max_length=100, description="来源系统名称")
    contact: str | None = Field(None, max_length=100, description="联系人")
    refresh_days: int | None = Field(None, ge=1, le=3660, description="更新周期（天）")
    trust: int = Field(50, ge=0, le=100, description="可信度（0–100），用于“可信来源优先”")
    note: str | None = Field(None, max_length=2000)


class SourcePatch(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=100)
    department: str | None = Field(None, max_length=32)
    system_name: str | None = Field(None, max_length=100)
    contact: str | None = Field(None, max_length=100)
    refresh_days: int | None = Field(None, ge=1, le=3660)
    security_level: SecurityLevel | None = None
    trust: int | None = Field(None, ge=0, le=100)
    active: bool | None = None
    note: str | None = Field(None, max_length=2000)
    default_template_id: uuid.UUID | None = None


class SourceOut(ORMModel):
    id: uuid.UUID
    name: str
    title: str
    target: Target
    security_level: SecurityLevel
    unit_id: uuid.UUID
    department: str | None
    system_name: str | None
    contact: str | None
    refresh_days: int | None
    trust: int
    active: bool
    note: str | None
    default_template_id: uuid.UUID | None

# -- templates -------------------------------------------------------------------------------------------------


class TemplateIn(BaseModel):
    name: str = Field(min_length=2, max_length=63, description="模板标识，如 hotline-2024")
    title: str = Field(min_length=1, max_length=100, description="模板名称")
    spec: dict[str, Any] = Field(description="模板内容（见 docs/datahub.md：字段映射、值映射、日期格式……）")
    source_id: uuid.UUID | None = Field(None, description="专属数据源（可选；只有能看到该数据源的人能看到模板）")


class TemplateOut(ORMModel):
    id: uuid.UUID
    name: str
    version: int
    is_current: bool
    title: str
    target: Target
    source_id: uuid.UUID | None
    builtin: bool
    created_at: dt.datetime
    created_by: str | None


class TemplateField(BaseModel):
    field: str
    label: str
    origin: str
    key: bool
    required: bool
    pii: bool
    value_map: list[tuple[str, str]]
    date_formats: list[str]
    options: list[str]


class TemplateDetail(TemplateOut):
    spec: dict[str, Any]
    fields: list[TemplateField] = Field(default_factory=list, description="模板内容的可读形式")


class PreviewRow(BaseModel):
    row: int
    skipped: bool
    natural_key: str | None
    values: dict[str, Any]
    errors: list[dict[str, Any]]


class PreviewOut(BaseModel):
    columns: list[str]
    unused_columns: list[str]
    absent_columns: list[str]
    rows: list[PreviewRow]

# -- addresses (address.py) --------------------------------------------------------------------------------------


class AddressIn(BaseModel):
    address: str = Field(min_length=1, max_length=500, description="待解析的地址，如 长兴明珠路8号3-2-301")


class AddressPartsOut(BaseModel):
    province: str | None = None
    city: str | None = None
    district: str | None = None
    adcode: str | None = Field(None, description="识别到的最深一级行政区划代码（GB/T 2260）")
    street: str | None = None
    community: str | None = None
    road: str | None = None
    number: str | None = Field(None, description="门牌号")
    compound: str | None = Field(None, description="小区")
    building: str | None = Field(None, description="楼栋号")
    unit: str | None = Field(None, description="单元号")
    room: str | None = Field(None, description="室号")
    floor: str | None = None
    remainder: str = Field("", description="未能识别的部分")
    masked: str | None = Field(None, description="脱敏地名（如 A市A2区），不定位")
    fixes: list[str] = Field(default_factory=list, description="已纠正的写法，如 雉城→雉城街道")


class PlacementOut(BaseModel):
    placed: bool
    unit_id: uuid.UUID | None = None
    building_id: uuid.UUID | None = None
    entrance_id: uuid.UUID | None = None
    household_id: uuid.UUID | None = None
    confidence: float = 0.0
    reason: str | None = None
    units: list[str] = Field(default_factory=list, description="落位单元的名称，由省到网格")
    building: str | None = None
    entrance: str | None = None
    room: str | None = None


class AddressOut(BaseModel):
    parts: AddressPartsOut
    placement: PlacementOut
