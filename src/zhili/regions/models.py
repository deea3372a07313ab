"""The region tree (区划与网格): one ``unit`` table for every level, with versioned boundaries."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Date, Enum, Float, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from zhili.core.db import Base, UTCDateTime, path_string, utcnow
from zhili.core.ids import new_id


class UnitLevel(enum.StrEnum):
    """Levels of the tree, top to bottom."""

    province = "province"
    city = "city"
    district = "district"
    street = "street"
    community = "community"
    grid = "grid"


LEVEL_ORDER: dict[UnitLevel, int] = {lvl: i for i, lvl in enumerate(UnitLevel)}
LEVEL_LABELS: dict[UnitLevel, str] = {
    UnitLevel.province: "省",
    UnitLevel.city: "市",
    UnitLevel.district: "区县",
    UnitLevel.street: "街道/乡镇",
    UnitLevel.community: "社区/村",
    UnitLevel.grid: "网格",
}

# An open-ended validity period ends on this date (kept as a real date so range queries stay indexable).
OPEN_END = dt.date(9999, 12, 31)


class Unit(Base):
    """One node of the tree at one version; a redrawn or merged unit is a new row with its own validity."""

    __tablename__ = "unit"
    __table_args__ = (
        Index("ix_unit_path", "path"),
        Index("ix_unit_code_valid", "code", "valid_from"),
        Index("ix_unit_parent", "parent_id"),
        Index("ix_unit_level_valid", "level", "valid_to"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))
    level: Mapped[UnitLevel] = mapped_column(Enum(UnitLevel, native_enum=False, length=16))
    # GB/T 2260 six digits for province…district; 9/12-digit statistical codes below; generated for grids.
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    # Materialized path of ancestor codes, e.g. "330522/330522001/330522001003".
    path: Mapped[str] = mapped_column(path_string())
    depth: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[dt.date] = mapped_column(Date, default=dt.date(2000, 1, 1))
    valid_to: Mapped[dt.date] = mapped_column(Date, default=OPEN_END)
    # Replaced-by link for redrawn/merged units (history).
    successor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("unit.id", ondelete="SET NULL"))
    center_lon: Mapped[float | None] = mapped_column(Float)
    center_lat: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class UnitBoundary(Base):
    """A unit's boundary (WGS-84 GeoJSON Polygon/MultiPolygon) during one validity period."""

    __tablename__ = "unit_boundary"
    __table_args__ = (
        Index("ix_unit_boundary_unit", "unit_id", "valid_from"),
        Index("ix_unit_boundary_valid", "valid_to"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"))
    geojson: Mapped[str] = mapped_column(Text)
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    area_m2: Mapped[float | None] = mapped_column(Float)
    valid_from: Mapped[dt.date] = mapped_column(Date, default=dt.date(2000, 1, 1))
    valid_to: Mapped[dt.date] = mapped_column(Date, default=OPEN_END)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class GeoVersion(Base):
    """A single-row counter bumped whenever boundaries change; each process rebuilds its locator on change."""

    __tablename__ = "geo_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
