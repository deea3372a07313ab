"""Working-calendar schemas."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from zhili.core.schemas import ORMModel
from zhili.worktime.service import DaySource


class OverrideOut(ORMModel):
    id: uuid.UUID
    day: dt.date
    is_workday: bool
    name: str
    created_by: uuid.UUID | None = None
    created_at: dt.datetime
    updated_by: uuid.UUID | None = None
    updated_at: dt.datetime


class OverrideIn(BaseModel):
    is_workday: bool = Field(description="true：当天上班；false：当天休息")
    name: str = Field(min_length=1, max_length=100, description="调整说明，如“春节调休上班”“本地节假日”")


class DayOut(BaseModel):
    day: dt.date
    weekday: str = Field(description="星期几")
    is_workday: bool
    source: DaySource = Field(description="override 本地调整; package 国家法定安排; fallback 按周末")
    source_label: str
    name: str | None = Field(None, description="节日或调整名称")


class DaysOut(BaseModel):
    days: list[DayOut]
    warnings: list[str] = Field(default_factory=list, description="需要醒目提示的说明（如年份未收录）")


class DeadlineOut(BaseModel):
    start: dt.datetime = Field(description="受理时间（UTC）")
    effective_start: dt.datetime = Field(description="实际起算时间（非工作时间受理则顺延到下一个工作时段）")
    deadline: dt.datetime = Field(description="到期时间（UTC）")
    deadline_local: dt.datetime = Field(description="到期时间（本地时间）")
    hours: float
    natural: bool = Field(description="true：自然小时（24×7）；false：工作小时")
    hours_per_day: float = Field(description="每个工作日的工作小时数")
    text: str = Field(description="可直接展示的说明")
    warnings: list[str] = Field(default_factory=list)


class WarningOut(BaseModel):
    year: int
    message: str
    overrides: int = Field(0, description="该年已录入的本地调整天数")
