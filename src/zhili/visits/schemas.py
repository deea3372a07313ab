"""API shapes of household visits (summary and findings leave the service with ID/phone-shaped text masked)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from zhili.cases.limits import DESCRIPTION_MAX
from zhili.core.jsonbounds import FreeJson
from zhili.visits.models import FINDINGS_MAX, SUMMARY_MAX, VisitKind


class FollowUpIn(BaseModel):
    """转为事件: the category and description of the case to file."""

    category_code: str = Field(min_length=1, max_length=32, description="事件类别代码（末级）")
    description: str = Field(min_length=1, max_length=DESCRIPTION_MAX, description="需处置的问题")
    attributes: FreeJson = Field(default_factory=dict, description="类别声明的属性（见 Open311 服务定义）")


class VisitIn(BaseModel):
    """A visit to record (grid workers, households of their own grid)."""

    household_id: uuid.UUID
    kind: VisitKind = Field(description="走访类型")
    visited_at: dt.datetime | None = Field(None, description="走访时间，缺省为现在；可补录30天内")
    summary: str = Field(min_length=1, max_length=SUMMARY_MAX, description="情况摘要")
    findings: str | None = Field(None, max_length=FINDINGS_MAX, description="发现的问题")
    person_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50, description="见到的本户人员")
    attachment_ids: list[uuid.UUID] = Field(default_factory=list, max_length=3,
                                            description="照片（先经 /api/v1/attachments 上传）")
    follow_up: FollowUpIn | None = Field(None, description="同时转为事件")


class PersonRef(BaseModel):
    id: uuid.UUID
    name: str


class VisitOut(BaseModel):
    id: uuid.UUID
    household_id: uuid.UUID
    address: str | None
    grid_id: uuid.UUID
    grid_name: str | None
    worker_id: uuid.UUID | None
    worker_name: str
    visited_at: dt.datetime
    kind: VisitKind
    kind_label: str
    summary: str
    findings: str | None
    persons: list[PersonRef]
    photo_ids: list[uuid.UUID]
    case_id: uuid.UUID | None
    case_number: str | None
    created_at: dt.datetime


class VisitCaseOut(BaseModel):
    """The case filed from a visit."""

    visit_id: uuid.UUID
    case_id: uuid.UUID
    case_number: str


class CoverageOut(BaseModel):
    """Households in the jurisdiction (or under a unit) and how many were visited recently."""

    households: int
    visited_30d: int
    visited_90d: int
    rate_30d: float | None
    rate_90d: float | None
