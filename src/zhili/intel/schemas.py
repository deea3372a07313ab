"""Request and response bodies of the intelligence API (``/api/v1/intel``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ShownOut(BaseModel):
    code: str = Field(description="类别代码或部门代码")
    name: str
    p: float = Field(description="校准后的概率")
    terms: list[str] = Field(description="推动该建议的词")


class CaseAdviceOut(BaseModel):
    category: list[ShownOut]
    department: list[ShownOut]
    category_model: str | None = Field(description="类别模型版本，如 category@3；无启用模型时为空")
    department_model: str | None
    auto_threshold: float = Field(description="新上报不填类别时自动分类的置信度门槛")
    case_state: str = Field(description="事件当前状态")
    case_version: int = Field(description="事件版本号（采纳建议时作为 expected_version 提交）")


class SuggestIn(BaseModel):
    title: str | None = Field(None, max_length=200)
    description: str = Field(min_length=1, max_length=2000)


class TakeIn(BaseModel):
    category_code: str | None = Field(None, max_length=32, description="采纳的类别（事件待受理时）")
    department: str | None = Field(None, max_length=32, description="采纳的处置部门（事件待派遣时）")
    expected_version: int | None = None


class ModelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    version: int
    kind: str
    source: str
    state: str
    labels: list[str]
    params: dict[str, Any]
    data_from: dt.datetime | None
    data_to: dt.datetime | None
    n_train: int
    metrics: dict[str, Any]
    trained_by: str
    trained_at: dt.datetime
    seconds: float
    activated_by: str | None
    activated_at: dt.datetime | None
    note: str | None


class DismissIn(BaseModel):
    reason: str = Field(min_length=2, max_length=500, description="排除理由")


class WarningOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    title: str
    reason: str
    detail: dict[str, Any]
    case_ids: list[str]
    severity: str
    category_code: str | None
    period_start: dt.date | None
    period_end: dt.date | None
    raised_at: dt.datetime
    state: str
    decided_by: str | None
    decided_at: dt.datetime | None
    dismiss_reason: str | None
    case_id: uuid.UUID | None
