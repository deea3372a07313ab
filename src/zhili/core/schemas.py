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
    total: int
    page: int
    page_size: int


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
