"""Ordinary bad input is refused with a clear 4xx, never a 500 (issue 14, defect 9): huge page numbers on every
paginated list, impossible calendar years, and stored control characters in every Excel export."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from apihelpers import Api
from openpyxl import load_workbook

from zhili.core.schemas import MAX_PAGE
from zhili.core.xlsx import cell_value, row_values

HUGE = "200000000000000000"


def _paginated_get_routes(app: Any) -> list[str]:
    """Every API GET route without path parameters that takes a ``page`` query parameter."""
    out = []
    for path, ops in app.openapi()["paths"].items():
        get = ops.get("get")
        if not get or "{" in path:
            continue
        if any(p["name"] == "page" and p["in"] == "query" for p in get.get("parameters", [])):
            out.append(path)
    return sorted(out)


def test_a_huge_page_number_is_a_clear_422_on_every_paginated_list(api: Api, app: Any) -> None:
    routes = _paginated_get_routes(app)
    assert len(routes) >= 5, routes
    for path in routes:
        for who in ("admin", "zhihui", "wangge_a", "jumin"):
            if api.get(who, path).status_code != 200:
                continue
            for page in (HUGE, str(MAX_PAGE + 1), "0"):
                r = api.get(who, path, params={"page": page})
                assert r.status_code == 422, (path, who, page, r.status_code, r.text)
                assert r.json()["code"] == "validation_failed" and "page" in r.json()["message"], (path, r.text)
            assert api.get(who, path, params={"page": str(MAX_PAGE)}).status_code == 200, path
            break


def test_the_paging_helper_refuses_a_page_beyond_the_bound_whoever_calls_it(db: Any) -> None:
    import pytest
    from sqlalchemy import select

    from zhili.core.errors import ValidationFailed
    from zhili.core.query import paginate
    from zhili.regions.models import Unit

    for page in (0, MAX_PAGE + 1, int(HUGE)):
        with pytest.raises(ValidationFailed) as refused:
            paginate(db, select(Unit), page=page, page_size=50, sort=None, sortable={}, default_sort=[Unit.code])
        assert refused.value.code == "bad_page"


def test_an_impossible_calendar_year_is_a_422_not_a_500(api: Api) -> None:
    for year in ("0", "-5", "10000", "99999999999"):
        r = api.get("admin", "/calendar/warnings", params={"year": year})
        assert r.status_code == 422, (year, r.text)
        assert r.json()["code"] == "validation_failed"
    assert api.get("admin", "/calendar/warnings", params={"year": "2030"}).status_code == 200
    assert api.get("admin", "/calendar/warnings", params=[("year", str(2000 + i)) for i in range(50)]
                   ).status_code == 422  # a bounded number of years


def test_the_calendar_service_refuses_an_impossible_year_itself(db: Any) -> None:
    import pytest

    from zhili.core.errors import ValidationFailed
    from zhili.worktime import service

    for year in (0, 10_000):
        with pytest.raises(ValidationFailed):
            service.calendar_warnings(db, years=[year])
        with pytest.raises(ValidationFailed):
            service.list_overrides(db, year=year)


def test_the_cell_helper_removes_the_characters_a_workbook_cannot_hold() -> None:
    assert cell_value("bad\u0001char\x0b\x1f") == "badchar"
    assert cell_value("行1\n行2\t") == "行1\n行2\t"  # tab and newline are legal
    assert cell_value(12) == 12 and cell_value(None) is None
    assert row_values(["a\x00", 1, None]) == ["a", 1, None]


def _rows(content: bytes) -> list[tuple[Any, ...]]:
    return list(load_workbook(io.BytesIO(content), read_only=True).worksheets[0].iter_rows(values_only=True))


def test_a_stored_control_character_does_not_break_the_register_exports(api: Api, world: Any) -> None:
    grid = str(world.units["ga"].id)
    api.building(grid, name="控制字符幢", note="bad\u0001char")
    api.person(grid_id=grid, name="赵六", note="bad\u0001char")
    api.organisation(grid, legal_rep="bad\u0001char")
    for kind in ("buildings", "persons", "organisations", "households"):
        r = api.get("admin", f"/registry/{kind}/export")
        assert r.status_code == 200, (kind, r.text)
        assert "\u0001" not in repr(_rows(r.content))
    assert any("badchar" in row for row in _rows(api.get("admin", "/registry/buildings/export").content))


def test_every_workbook_writer_appends_rows_through_the_cleaning_helper() -> None:
    """A new Excel export cannot bring the control-character 500 back: rows go through ``row_values``."""
    src = Path(__file__).resolve().parents[2] / "src" / "zhili"
    offenders = []
    for path in src.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "openpyxl" not in text or path.name == "xlsx.py":
            continue
        for m in re.finditer(r"\b(?:ws|notes|sheet\w*)\.append\((.*)", text):
            if not m.group(1).startswith("row_values("):
                offenders.append(f"{path.relative_to(src)}: {m.group(0)[:60]}")
        offenders += [f"{path.relative_to(src)}: .value =" for _ in re.finditer(r"\.value = (?!cell_value\()", text)]
    assert offenders == []


def test_a_value_the_database_cannot_store_is_a_clear_422_not_a_500(api: Api, world: Any) -> None:
    """PostgreSQL text cannot hold NUL; whatever the database itself refuses is bad input (``invalid_data``), on
    the API as on the pages — found by the standing fuzz (PATCH of a household). SQLite stores it: then it is a
    plain success."""
    grid = str(world.units["ga"].id)
    building = api.building(grid)
    household = api.household(building["id"])
    r = api.patch("admin", f"/registry/households/{household['id']}", json={"note": "坏\u0000字符"})
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert r.json()["code"] == "invalid_data" and "空字符" in r.json()["message"]


def test_the_database_refusing_a_value_is_answered_as_bad_input_in_one_place() -> None:
    from sqlalchemy.exc import DataError

    from zhili.app import create_app

    app = create_app()
    assert DataError in app.exception_handlers
