"""Region tree schemas."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from zhili.core.schemas import ORMModel
from zhili.regions.models import UnitLevel


class UnitOut(ORMModel):
    id: uuid.UUID
    parent_id: uuid.UUID | None
    level: UnitLevel
    code: str
    name: str
    path: str
    depth: int
    valid_from: dt.date
    valid_to: dt.date
    successor_id: uuid.UUID | None = None
    center_lon: float | None = None
    center_lat: float | None = None
    note: str | None = None
    version: int


class UnitDetail(UnitOut):
    ancestors: list[UnitOut] = []
    children_count: int = 0
    has_boundary: bool = False


class UnitCreate(BaseModel):
    parent_id: uuid.UUID
    level: UnitLevel
    code: str = Field(min_length=2, max_length=32, pattern=r"^[0-9A-Za-z]+$")
    name: str = Field(min_length=1, max_length=100)
    valid_from: dt.date | None = None
    boundary: dict[str, Any] | None = Field(None, description="GeoJSON Polygon/MultiPolygon (WGS-84)")
    note: str | None = Field(None, max_length=2000)


class UnitUpdate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    note: str | None = Field(None, max_length=2000)
    center_lon: float | None = Field(None, ge=-180, le=180)
    center_lat: float | None = Field(None, ge=-90, le=90)
    version: int | None = Field(None, description="乐观锁：当前版本号")


class UnitRetire(BaseModel):
    valid_to: dt.date = Field(description="停止生效日期（当日起不再有效）")
    reason: str = Field(min_length=1, max_length=500)


class UnitRedraw(BaseModel):
    effective: dt.date = Field(description="新版本生效日期")
    name: str | None = Field(None, min_length=1, max_length=100)
    boundary: dict[str, Any] | None = None
    reason: str = Field(min_length=1, max_length=500)


class BoundaryIn(BaseModel):
    geojson: dict[str, Any] = Field(description="GeoJSON Polygon/MultiPolygon 或 Feature（WGS-84）")
    valid_from: dt.date | None = None
    crs: Literal["wgs84", "gcj02"] = "wgs84"


class BoundaryOut(ORMModel):
    id: uuid.UUID
    unit_id: uuid.UUID
    geojson: dict[str, Any]
    valid_from: dt.date
    valid_to: dt.date
    area_m2: float | None = None


class LocateOut(BaseModel):
    lon: float
    lat: float
    grid: UnitOut | None
    chain: list[UnitOut] = []


class PointIn(BaseModel):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class LocateBatchIn(BaseModel):
    points: list[PointIn] = Field(max_length=100_000)
    crs: Literal["wgs84", "gcj02"] = "wgs84"
    as_of: dt.date | None = None


class LocateBatchOut(BaseModel):
    grid_ids: list[uuid.UUID | None]
    grid_codes: list[str | None]


class TreeNode(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    level: UnitLevel
    children: list[TreeNode] = []
