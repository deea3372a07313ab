"""Request and answer schemas of imports and the quarantine (``/api/v1/hub/imports``, ``/hub/quarantine``).
Quarantined cells are answered masked."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field


class ImportOut(BaseModel):
    id: uuid.UUID
    source_id: uuid.UUID
    source_name: str | None = None
    source_title: str | None = None
    template_id: uuid.UUID | None = None
    username: str | None = None
    connector: str
    filename: str
    file_hash: str | None = None
    file_size: int | None = None
    encoding: str | None = None
    dry_run: bool
    status: str = Field(description="running 导入中 / done 已完成 / failed 失败")
    checkpoint: int
    rows_read: int
    rows_imported: int
    rows_updated: int
    rows_unchanged: int
    rows_quarantined: int
    error: str | None = None
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    duration_ms: int | None = None
    stats: dict[str, Any] = Field(default_factory=dict, description="各字段填充数、各规则未通过数")


class ImportAccepted(BaseModel):
    id: uuid.UUID
    status: str = "running"
    poll: str = Field(description="查询进度的地址")


class QuarantineError(BaseModel):
    field: str | None = None
    rule: str
    rule_name: str
    message: str


class QuarantineRowOut(BaseModel):
    id: uuid.UUID
    import_id: uuid.UUID
    source_id: uuid.UUID
    row_number: int
    natural_key: str | None = None
    status: str
    cells: dict[str, Any] = Field(description="原始单元格（身份证号、手机号等已脱敏）")
    errors: list[QuarantineError]
    created_at: dt.datetime
    resolved_at: dt.datetime | None = None
    resolved_by: str | None = None


class FixIn(BaseModel):
    cells: dict[str, str | None] = Field(description="要修正的列（原始列名 → 新值）")


class DiscardIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200, description="作废原因")


class RerunIn(BaseModel):
    import_id: uuid.UUID | None = None
    source_id: uuid.UUID | None = None


class RerunOut(BaseModel):
    fixed: int
    open: int
