"""Request and response bodies of the resolution routes: golden records, the review queue, merges, lineage,
survivorship rules and change subscriptions. Values of personal fields are always masked in these bodies."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from zhili.datahub.models import CandidateStatus, DeliveryStatus, EntityType, MatchType


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CandidateOut(_Out):
    id: uuid.UUID
    entity_type: EntityType
    source_record_id: uuid.UUID
    golden_id: uuid.UUID
    probability: float
    status: CandidateStatus
    evidence: dict[str, Any]
    created_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None


class CandidatePage(BaseModel):
    items: list[CandidateOut]
    total: int


class CompareRow(BaseModel):
    field: str
    left: Any = None  # the record's value (masked)
    right: Any = None  # the golden record's value (masked)
    same: bool | None = None
    level: Any = None  # the matcher's comparison level for the field


class CandidateDetail(BaseModel):
    candidate: CandidateOut
    source: str | None
    rows: list[CompareRow]
    weight: float | None


class MergeOut(_Out):
    id: uuid.UUID
    entity_type: EntityType
    survivor_id: uuid.UUID
    absorbed_id: uuid.UUID | None
    match_type: MatchType
    probability: float | None
    by: str | None
    at: dt.datetime
    undone_at: dt.datetime | None
    undone_by: str | None


class FieldValue(BaseModel):
    field: str
    value: Any = None


class GoldenOut(BaseModel):
    id: uuid.UUID
    entity_type: EntityType
    register_id: uuid.UUID | None
    path: str
    merged_into: uuid.UUID | None
    register_note: str | None
    version: int
    values: list[FieldValue]


class LineageOut(BaseModel):
    golden_id: uuid.UUID
    fields: list[dict[str, Any]]
    links: list[dict[str, Any]]
    merges: list[dict[str, Any]]


class RecordsLineageOut(BaseModel):
    golden_id: uuid.UUID | None = None
    records: list[dict[str, Any]]


class RuleOut(BaseModel):
    field: str
    rule: str
    edited: bool
    default: str


class RuleIn(BaseModel):
    rule: Literal["most_trusted", "most_recent", "most_complete"]


class ResolveIn(BaseModel):
    entity: EntityType = EntityType.person
    source_id: uuid.UUID | None = None


class SubscriptionIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    department: str | None = Field(None, max_length=32)
    kind: Literal["in_app", "webhook"] = "in_app"
    url: str | None = Field(None, max_length=500)
    entity_types: list[EntityType] = []
    unit_id: uuid.UUID | None = None


class SubscriptionPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    department: str | None = Field(None, max_length=32)
    url: str | None = Field(None, max_length=500)
    entity_types: list[EntityType] | None = None
    active: bool | None = None


class SubscriptionOut(_Out):
    id: uuid.UUID
    name: str
    department: str | None
    kind: str
    url: str | None
    entity_types: list[str]
    path: str
    active: bool
    created_at: dt.datetime


class DeliveryOut(BaseModel):
    id: uuid.UUID
    change_key: str
    kind: str
    fields: list[str]
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    next_try_at: dt.datetime | None
    delivered_at: dt.datetime | None
