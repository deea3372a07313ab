"""Pagination and sorting for list queries (shared by every domain's service)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from zhili.core.errors import ValidationFailed
from zhili.core.schemas import MAX_PAGE


def contains_text(column: Any, text: str) -> ColumnElement[bool]:
    """``column`` contains ``text`` literally: ``%``, ``_`` and the escape character in user text are escaped, so a
    bare ``%`` matches only values holding a percent sign. Every LIKE built from user input goes through this or
    :func:`starts_with_text` (``tests/core/test_like_escaping.py`` checks the code base)."""
    return column.contains(text, autoescape=True)


def starts_with_text(column: Any, text: str) -> ColumnElement[bool]:
    """``column`` starts with ``text`` literally (wildcards escaped, as :func:`contains_text`)."""
    return column.startswith(text, autoescape=True)


def check_page(page: int, page_size: int) -> int:
    """The row offset of ``page``; refuses a page number outside 1..MAX_PAGE or a page size below 1 (422)."""
    if not 1 <= page <= MAX_PAGE or page_size < 1:
        raise ValidationFailed(f"页码须在 1 到 {MAX_PAGE} 之间，每页条数须大于 0", code="bad_page",
                               details={"page": str(page), "page_size": str(page_size), "max_page": MAX_PAGE})
    return (page - 1) * page_size


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
    offset = check_page(page, page_size)
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
    rows = session.scalars(stmt.order_by(*order).offset(offset).limit(page_size)).all()
    return list(rows), int(total)
