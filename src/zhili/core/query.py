"""Pagination and sorting for list queries (shared by every domain's service)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from zhili.core.errors import ValidationFailed


def paginate(
    session: Session,
    stmt: Select[Any],
    *,
    page: int,
    page_size: int,
    sort: str | None,
    sortable: dict[str, Any],
    default_sort: list[Any],
) -> tuple[list[Any], int]:
    """Count and fetch one page of ``stmt`` sorted by an allowed field; returns (rows, total)."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    order: list[Any] = []
    if sort:
        desc = sort.startswith("-")
        key = sort.lstrip("-+")
        col = sortable.get(key)
        if col is None:
            raise ValidationFailed(
                f"不支持按“{key}”排序，可用字段：{', '.join(sorted(sortable))}", code="bad_sort",
                details={"allowed": sorted(sortable)},
            )
        order.append(col.desc() if desc else col.asc())
    order.extend(default_sort)
    rows = session.scalars(stmt.order_by(*order).offset((page - 1) * page_size).limit(page_size)).all()
    return list(rows), int(total)
