"""Hostile input on the case loop (issue 14): stored control characters in exports, and attachments claimed by
someone other than their uploader."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook


def test_a_stored_control_character_does_not_break_the_case_export(kit: Any) -> None:
    kit.report("jumin", description="bad\u0001char 在路边", address="金陵路\x0b1号")
    r = kit.get("zhihui", "/cases/export.xlsx")
    assert r.status_code == 200, r.text
    rows = list(load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0].iter_rows(values_only=True))
    assert "\u0001" not in repr(rows) and any("badchar 在路边" in row for row in rows)
