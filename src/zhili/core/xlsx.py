"""Cell text every workbook writer can hold: Excel refuses control characters (openpyxl raises
``IllegalCharacterError`` for them), so a stored "bad\\u0001char" must not turn an export into a 500. Every row
written to a worksheet goes through :func:`row_values` (``tests/api/test_ordinary_bad_input.py`` checks the code
base for writers that bypass it)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE


def cell_value(value: Any) -> Any:
    """``value`` with the characters a workbook cannot hold removed from text; other values unchanged."""
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def row_values(values: Iterable[Any]) -> list[Any]:
    """One worksheet row, each cell cleaned by :func:`cell_value`."""
    return [cell_value(v) for v in values]
