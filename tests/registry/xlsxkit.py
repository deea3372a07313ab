"""Helpers for the register import/export tests: workbooks in memory, valid Chinese identifiers, principals."""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook, load_workbook

from zhili.core.validators import id_check_digit, uscc_check_char

_seq = itertools.count(1)


def xlsx(rows: Sequence[Sequence[Any]], *, sheet: str = "数据") -> bytes:
    """A workbook whose first sheet holds ``rows`` (the first one is the header)."""
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def read(content: bytes, sheet: int = 0) -> list[list[Any]]:
    """The rows of a workbook's sheet as lists of values."""
    ws = load_workbook(io.BytesIO(content), read_only=True).worksheets[sheet]
    return [list(r) for r in ws.iter_rows(values_only=True)]


def id_number(year: int = 1985) -> str:
    """A valid, run-unique citizen ID number (GB 11643)."""
    first17 = f"330522{year}0615{next(_seq) % 500 * 2 + 1:03d}"
    return first17 + id_check_digit(first17)


def credit_code() -> str:
    """A valid, run-unique unified social credit code (GB 32100)."""
    first17 = f"92330522MA2{next(_seq):06d}"
    return first17 + uscc_check_char(first17)


def principal(db: Any, world: Any, who: str) -> Any:
    from zhili.users.service import principal_for_user

    return principal_for_user(db, user=world.users[who])
