"""What passes between the parts of an import: a connector yields raw rows, a mapper turns one raw row into
standard values (or errors), the pipeline validates, writes or quarantines.

These are the contracts between :mod:`~zhili.datahub.connectors`, :mod:`~zhili.datahub.mapping` and
:mod:`~zhili.datahub.pipeline`; each side can be tested with the other replaced by a list.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class RowError:
    """One failed rule of one row: the standard field (or source column) it is about, the rule's stable code and
    a Chinese explanation that never repeats the value (it may be an ID number)."""

    field: str | None
    rule: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


RawRow = dict[str, Any]  # source column name → cell value (str for text files; typed for xlsx/JSON)


class RowStream(Protocol):
    """Rows of one file or pull, streamed: ``columns`` is known before the first row; iteration yields
    ``(row_number, raw_row)`` with row numbers counted from 1 over data rows (the header is not a row), the same
    on every run over the same input, so a checkpoint names a row."""

    columns: list[str]
    encoding: str | None

    def __iter__(self) -> Iterator[tuple[int, RawRow]]: ...

    @property
    def progress(self) -> tuple[int, int | None]:
        """(units done, units in all or None) — bytes for files, rows or pages for REST: for progress bars."""
        ...


@dataclass
class Mapped:
    """One raw row after its mapping template: standard field key → value (``str``, ``int``, ``float``,
    ``bool``, ``datetime.date``, ``datetime.datetime`` or ``None``; ``attributes.<name>`` for kept extras), the
    mapping's own errors (a date that does not parse, a value missing from a value map), and the natural key."""

    values: dict[str, Any]
    errors: list[RowError] = field(default_factory=list)
    natural_key: str | None = None


class RowMapper(Protocol):
    """A compiled mapping template."""

    target: str  # a datahub.models.Target value

    def map(self, raw: RawRow) -> Mapped: ...
