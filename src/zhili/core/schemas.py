"""Shared API schemas: pagination envelope, error body."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

MAX_PAGE = 10_000
"""The highest page number any list accepts (API and pages); beyond it a request is refused with a 422, so a huge
number never reaches the database as an offset it cannot hold."""


class ORMModel(BaseModel):
    """Base for response models read from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int = Field(description="总条数；total_exact 为 false 时为下限（超过此数，计数在此停止）")
    page: int
    page_size: int
    total_exact: bool = Field(True, description="total 是否为精确总数；全区历史等大列表只计到上限，请用筛选缩小范围")


class ErrorBody(BaseModel):
    """Every error response: a stable code, a Chinese message, optional details."""

    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["记录不存在或无权访问"])
    details: Any = None


class PageParams(BaseModel):
    """Pagination and sorting parameters."""

    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(50, ge=1, le=500)
    sort: str | None = Field(None, description="字段名，前缀 - 表示倒序，如 -created_at")
