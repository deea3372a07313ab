"""Base registers (人、地、物、组织): buildings, entrances, households, persons, organisations.

Every row carries ``path`` — the materialized path of the grid it belongs to — so jurisdiction scoping is one
indexed predicate. ID and phone numbers are stored only encrypted (bound to the row id) with a blind index.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import BigInteger, Date, Enum, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from zhili.core.crypto import encrypted
from zhili.core.db import Base, ShapedJSON, UTCDateTime, Versioned, path_string, utcnow
from zhili.core.ids import new_id


class BuildingType(enum.StrEnum):
    residential = "residential"
    commercial = "commercial"
    mixed = "mixed"
    public = "public"
    industrial = "industrial"
    rural_house = "rural_house"


class HouseholdUse(enum.StrEnum):
    owner_occupied = "owner_occupied"  # 自住
    rented = "rented"  # 出租
    vacant = "vacant"  # 空置
    business = "business"  # 经营


class ResidentType(enum.StrEnum):
    registered = "registered"  # 户籍
    floating = "floating"  # 流动
    foreign = "foreign"  # 境外


class Gender(enum.StrEnum):
    male = "male"
    female = "female"


class PersonStatus(enum.StrEnum):
    active = "active"
    moved_out = "moved_out"
    deceased = "deceased"


# Special-care tags (重点/特殊人群).
CARE_TAGS: dict[str, str] = {
    "elderly_alone": "独居老人",
    "elderly_80": "80岁以上老人",
    "disabled": "残疾人",
    "subsistence": "低保",
    "left_behind_child": "留守儿童",
    "veteran": "退役军人",
    "serious_illness": "大病患者",
    "psychiatric": "严重精神障碍患者",
    "community_correction": "社区矫正对象",
}

RELATIONS: dict[str, str] = {
    "head": "户主", "spouse": "配偶", "child": "子女", "parent": "父母", "grandchild": "孙子女",
    "grandparent": "祖父母", "sibling": "兄弟姐妹", "tenant": "租户", "other": "其他",
}


class OrgType(enum.StrEnum):
    enterprise = "enterprise"  # 企业
    individual_business = "individual_business"  # 个体工商户
    social_org = "social_org"  # 社会组织
    government = "government"  # 机关事业单位
    school = "school"
    medical = "medical"
    party_org = "party_org"  # 党组织
    other = "other"


class Building(Versioned, Base):
    """A building (楼栋) in a grid."""

    __tablename__ = "building"
    __table_args__ = (Index("ix_building_path", "path"), Index("ix_building_grid", "grid_id"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    grid_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))
    path: Mapped[str] = mapped_column(path_string())
    code: Mapped[str | None] = mapped_column(String(64), unique=True)
    compound: Mapped[str | None] = mapped_column(String(100))  # 小区
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(255))
    building_type: Mapped[BuildingType] = mapped_column(Enum(BuildingType, native_enum=False, length=24))
    floors: Mapped[int | None] = mapped_column(Integer)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)



class Entrance(Versioned, Base):
    """A stairwell unit (单元) of a building."""

    __tablename__ = "entrance"
    __table_args__ = (Index("ix_entrance_building", "building_id"), Index("ix_entrance_path", "path"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    building_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("building.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(path_string())
    name: Mapped[str] = mapped_column(String(50))



class Household(Versioned, Base):
    """A room/household (户/室)."""

    __tablename__ = "household"
    __table_args__ = (Index("ix_household_path", "path"), Index("ix_household_building", "building_id"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    building_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("building.id", ondelete="RESTRICT"))
    entrance_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("entrance.id", ondelete="SET NULL"))
    grid_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))
    path: Mapped[str] = mapped_column(path_string())
    room: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(255))
    use: Mapped[HouseholdUse] = mapped_column(Enum(HouseholdUse, native_enum=False, length=24))
    area_m2: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)



class Person(Versioned, Base):
    """A person of the actual population (实有人口)."""

    __tablename__ = "person"
    __table_args__ = (
        Index("ix_person_path", "path"),
        Index("ix_person_household", "household_id"),
        Index("ix_person_id_bidx", "id_number_bidx", unique=True),
        Index("ix_person_phone_bidx", "phone_bidx"),
        Index("ix_person_name_birth", "name", "birth_date"),  # name search; entity resolution's neighbourhood
        # PostgreSQL answers the name search (``name LIKE '张%'``) from a btree only in the C collation or with
        # ``text_pattern_ops``; the column keeps the database's collation (sorting by name is linguistic), so the
        # prefix search has an index of its own there (1,000,000 persons: a parallel scan of the table before).
        Index("ix_person_name_prefix", "name", postgresql_ops={"name": "text_pattern_ops"}).ddl_if(
            dialect="postgresql"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    household_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("household.id", ondelete="SET NULL"))
    grid_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))
    path: Mapped[str] = mapped_column(path_string())
    name: Mapped[str] = mapped_column(String(64))
    id_number_enc: Mapped[bytes] = mapped_column(LargeBinary, info=encrypted("person", "id_number"))
    id_number_bidx: Mapped[str] = mapped_column(String(64))
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary, info=encrypted("person", "phone"))
    phone_bidx: Mapped[str | None] = mapped_column(String(64))
    gender: Mapped[Gender] = mapped_column(Enum(Gender, native_enum=False, length=8))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    ethnicity: Mapped[str | None] = mapped_column(String(32))
    relation: Mapped[str | None] = mapped_column(String(32))
    resident_type: Mapped[ResidentType] = mapped_column(Enum(ResidentType, native_enum=False, length=16))
    care_tags: Mapped[list[str]] = mapped_column(ShapedJSON(list, strings=True), default=list)
    status: Mapped[PersonStatus] = mapped_column(Enum(PersonStatus, native_enum=False, length=16),
                                                 default=PersonStatus.active)
    note: Mapped[str | None] = mapped_column(Text)



class Organisation(Versioned, Base):
    """An organisation (组织): enterprise, shop, social organisation, school …"""

    __tablename__ = "organisation"
    __table_args__ = (Index("ix_organisation_path", "path"), Index("ix_organisation_name", "name"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    grid_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))
    path: Mapped[str] = mapped_column(path_string())
    building_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("building.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)
    org_type: Mapped[OrgType] = mapped_column(Enum(OrgType, native_enum=False, length=24))
    industry: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(255))
    legal_rep: Mapped[str | None] = mapped_column(String(64))
    contact_name: Mapped[str | None] = mapped_column(String(64))
    contact_phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary,
                                                           info=encrypted("organisation", "contact_phone"))
    contact_phone_bidx: Mapped[str | None] = mapped_column(String(64), index=True)
    employees: Mapped[int | None] = mapped_column(Integer)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    extra: Mapped[dict[str, Any] | None] = mapped_column(ShapedJSON(dict, none=True))



# -- maintained per-grid counts -------------------------------------------------------------------------------

class RegisterCount(Base):
    """How many rows of one register carry one grid's ``path`` (persons: active ones only).

    Maintained in the writing transaction by database triggers on ``building``, ``household``, ``person`` and
    ``organisation`` (migration 0022: statement-level with transition tables on PostgreSQL, an upsert adding the
    statement's net change per path; row-level upserts on SQLite), so every write path — services, the data hub,
    rental, the seed's bulk writer, raw SQL — keeps it exact. A unit's totals sum the rows under its path (an
    index range over a few thousand grid rows instead of a million register rows); ``zhili registry recount``
    compares with a real count and repairs (see ``zhili.registry.counts``)."""

    __tablename__ = "register_count"

    path: Mapped[str] = mapped_column(path_string(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # a RegisterKind value
    n: Mapped[int] = mapped_column(BigInteger, default=0)


# -- Excel import batches -----------------------------------------------------------------------------------

class RegisterKind(enum.StrEnum):
    """The registers that can be imported and exported as Excel workbooks (URL segment = value)."""

    buildings = "buildings"
    households = "households"
    persons = "persons"
    organisations = "organisations"


class ImportBatch(Base):
    """One uploaded workbook (导入批次): who imported what, and how many rows were created, updated, rejected."""

    __tablename__ = "import_batch"
    __table_args__ = (Index("ix_import_batch_user", "user_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kind: Mapped[RegisterKind] = mapped_column(Enum(RegisterKind, native_enum=False, length=16))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    created_rows: Mapped[int] = mapped_column(Integer, default=0)
    updated_rows: Mapped[int] = mapped_column(Integer, default=0)
    rejected_rows: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImportRejectedRow(Base):
    """A row of an import batch that was not imported, kept with its row number and Chinese reason. The row's
    cells are stored encrypted (bound to this row), because they may hold ID and phone numbers."""

    __tablename__ = "import_rejected_row"
    __table_args__ = (Index("ix_import_rejected_row_batch", "batch_id", "row_number"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("import_batch.id", ondelete="CASCADE"))
    row_number: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    cells_enc: Mapped[bytes] = mapped_column(LargeBinary, info=encrypted("import_rejected_row", "cells"))
