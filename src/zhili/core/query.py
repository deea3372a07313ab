"""Pagination and sorting for list queries (shared by every domain's service)."""

from __future__ import annotations

from typing import Any, NamedTuple

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


COUNT_CAP = 10_000
"""Where a list that may hold a whole district's history stops counting (:func:`count_rows`). Counting every one of
1,000,000 visible cases took 0.3–2 s per page on PostgreSQL (the mixed load's only timeouts, docs/benchmarks.md);
counting to the cap reads at most 10,001 index entries. Exact totals of that size come from the statistics."""


class Listing(NamedTuple):
    """One page of a list: its rows, the total and whether the total is exact (False: more than ``total``)."""

    rows: list[Any]
    total: int
    exact: bool = True


def count_rows(session: Session, stmt: Select[Any], *, cap: int | None = None) -> tuple[int, bool]:
    """How many rows ``stmt`` yields: (n, True); with ``cap``, counting stops past it and a larger result is
    (cap, False) — the count reads at most ``cap + 1`` rows whatever the table's size."""
    inner = stmt.order_by(None)
    if cap is not None:
        inner = inner.limit(cap + 1)
    n = int(session.scalar(select(func.count()).select_from(inner.subquery())) or 0)
    if cap is not None and n > cap:
        return cap, False
    return n, True


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
    rows, total, _ = paginate_counted(session, stmt, page=page, page_size=page_size, sort=sort, sortable=sortable,
                                      default_sort=default_sort)
    return rows, total


def paginate_counted(
    session: Session,
    stmt: Select[Any],
    *,
    page: int,
    page_size: int,
    sort: str | None,
    sortable: dict[str, Any],
    default_sort: list[Any],
    count_cap: int | None = None,
) -> Listing:
    """As :func:`paginate`, counting at most ``count_cap`` rows (:func:`count_rows`)."""
    offset = check_page(page, page_size)
    total, exact = count_rows(session, stmt, cap=count_cap)
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
    return Listing(list(rows), total, exact)
