"""Request and response bodies of the 4E evaluation API (``/api/v1/eval``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

# -- manual indicators (填报): zhili.evaluation.api_forms ---------------------------------------------------------

FormValue = int | float | str | None


class FormFieldOut(BaseModel):
    code: str
    name: str
    unit: str
    kind: str = Field(description="int（整数）| float（数值）")
    min: float | None
    max: float | None
    required: bool
    aggregate: str = Field(description="跨月汇总方式：sum 累加 | last 取最新 | mean 平均")
    value: float | None
    prev: float | None = Field(description="上期（已审核或已锁定）的值")
    error: str | None = Field(description="该项的校验问题（草稿中为提示）")


class FormEventOut(BaseModel):
    at: dt.datetime
    action: str
    action_name: str
    from_state: str | None
    to_state: str
    actor: str | None
    actor_name: str | None
    comment: str | None


class FormOut(BaseModel):
    dataset_code: str
    dataset_name: str
    unit_code: str
    unit_name: str
    period: str
    period_label: str
    state: str = Field(description="missing（未填报）| draft | submitted | returned | approved | locked")
    state_name: str
    version: int | None
    fields: list[FormFieldOut]
    rules: list[str] = Field(description="未通过的校验规则（草稿中为提示）")
    actions: list[str] = Field(description="当前用户可执行的操作：save submit approve return lock unlock")
    events: list[FormEventOut]
    due_date: dt.date
    overdue: bool
    submitted_by: str | None
    submitted_at: dt.datetime | None
    approved_by: str | None
    approved_at: dt.datetime | None
    return_reason: str | None


class FormSaveIn(BaseModel):
    values: dict[str, FormValue] = Field(max_length=200, description="填报项代码 → 数值（或数字文本；空为未填）")
    expected_version: int | None = None


class FormSubmitIn(BaseModel):
    values: dict[str, FormValue] | None = Field(None, max_length=200,
                                                description="同时保存的数值；不填则上报已保存的数值")
    expected_version: int | None = None


class FormStepIn(BaseModel):
    comment: str | None = Field(None, max_length=500)
    expected_version: int | None = None


class FormReasonIn(BaseModel):
    reason: str = Field(max_length=500, description="原因（至少 2 个字）")
    expected_version: int | None = None


class UnitStatusOut(BaseModel):
    unit_code: str
    unit_name: str
    parent_name: str
    state: str
    state_name: str
    submitted_at: dt.datetime | None
    overdue: bool
    return_reason: str | None


class CompletenessOut(BaseModel):
    dataset_code: str
    dataset_name: str
    period: str
    period_label: str
    due_date: dt.date
    expected: int
    reported: int
    rate: float | None = Field(description="已上报（待审核、已审核、已锁定）÷ 应报")
    overdue: int
    counts: dict[str, int]
    rows: list[UnitStatusOut]


class RemindOut(BaseModel):
    sent: int


class UploadOut(BaseModel):
    total: int
    accepted: int
    unchanged: int
    refused: list[dict[str, Any]] = Field(description="未导入的行：row 行号、unit_name、reason、values（原值）")
