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


@dataclass
class StagedRow:
    """One row of a batch after mapping and validation, ready for its target's handler.

    ``values`` are the validated standard values plus the ids the reference rules resolved (``grid_id``,
    ``building_id``, ``entrance_id``, ``household_id`` where the target has them); ``path`` is where the row was
    placed (the resolved unit's path, else the source's path); ``record`` is the row's
    :class:`~zhili.datahub.models.SourceRecord` (already added to the session, new or refreshed); ``change`` is
    ``"new"`` or ``"updated"`` (unchanged rows never reach a handler)."""

    row_number: int
    natural_key: str
    values: dict[str, Any]
    path: str
    record: Any  # datahub.models.SourceRecord
    change: str  # "new" | "updated"


@dataclass
class Outcome:
    """What a handler did with one staged row: the target row it wrote (``target_id``, its ``path``), or the
    errors that send the row to quarantine after all (a register service refused it, say)."""

    target_id: Any = None  # uuid.UUID | None
    path: str | None = None
    errors: list[RowError] = field(default_factory=list)


class BatchHandler(Protocol):
    """Writes one target's staged rows (registers, golden records, historical cases) in the caller's
    transaction; returns one :class:`Outcome` per row, in order. It may use ``ctx`` (the import context: session,
    principal, source, import row) but must not commit."""

    def apply(self, ctx: Any, rows: list[StagedRow]) -> list[Outcome]: ...


@dataclass(frozen=True)
class Placement:
    """Where an address was placed in the platform's own data (:mod:`zhili.datahub.address`): the deepest unit
    and register rows it resolved to, a confidence in [0, 1], and — when it could not be placed, or only
    partly — the Chinese reason."""

    unit_id: Any = None  # uuid.UUID of the deepest unit (grid, else community, street …)
    path: str | None = None
    building_id: Any = None
    entrance_id: Any = None
    household_id: Any = None
    confidence: float = 0.0
    reason: str | None = None
