"""No stored value can make a later read fail: whatever sits in a free-text, JSON or number column — any Unicode,
control characters, JSON of any shape, numbers at the edge of their type, empty strings — every GET route (the API,
Open311, every page), the POSTed searches and every export still answer without a server error, and every
workbook still opens.

Values are written straight into the database, past every validator, as legacy rows, a data-hub import, a
migration or a hand edit could leave them: the readers must not trust what the writers checked. Hypothesis draws
one value per column for the own side's objects of the route-matrix world; each example is rolled back.

``make test`` runs the edge values below and one drawn example (``ZHILI_STORED_EXAMPLES``, default 1);
``make stress`` many more.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

import routematrix_table as table
from routematrix_harness import Harness, open_harness
from zhili.app import create_app

EXAMPLES = int(os.environ.get("ZHILI_STORED_EXAMPLES", "1"))
POSTGRES = (os.environ.get("ZHILI_TEST_DATABASE_URL") or "").startswith("postgresql")
READERS = ("command_centre", "grid_worker", "resident", "anonymous")

# The columns people and imports fill, per object of a side: (attribute on the side, model column names by kind).
TEXT, JSON, INT, FLOAT = "text", "json", "int", "float"
COLUMNS: dict[str, dict[str, str]] = {
    "case": {"title": TEXT, "description": TEXT, "address": TEXT, "attributes": JSON, "resolution": TEXT,
             "reject_reason": TEXT, "rating_comment": TEXT, "external_id": TEXT, "lon": FLOAT, "lat": FLOAT,
             "rating": INT, "support_count": INT, "merged_count": INT, "reopen_count": INT},
    "building": {"compound": TEXT, "name": TEXT, "address": TEXT, "note": TEXT, "floors": INT, "lon": FLOAT,
                 "lat": FLOAT},
    "household": {"room": TEXT, "address": TEXT, "note": TEXT, "area_m2": FLOAT},
    "person": {"name": TEXT, "ethnicity": TEXT, "note": TEXT, "care_tags": JSON},
    "organisation": {"name": TEXT, "industry": TEXT, "address": TEXT, "legal_rep": TEXT, "contact_name": TEXT,
                     "extra": JSON, "employees": INT, "lon": FLOAT, "lat": FLOAT},
    "visit": {"summary": TEXT, "findings": TEXT, "worker_name": TEXT},
    "notice": {"title": TEXT, "body": TEXT},
    "suggestion": {"title": TEXT, "body": TEXT},
    "grid": {"name": TEXT, "note": TEXT},
    # the data hub: what sources, files and staff put in its rows
    "source": {"title": TEXT, "system_name": TEXT, "contact": TEXT, "note": TEXT, "refresh_days": INT,
               "trust": INT},
    "hub_import": {"filename": TEXT, "encoding": TEXT, "error": TEXT, "cursor": TEXT, "stats": JSON,
                   "rows_read": INT, "rows_quarantined": INT},
    "quarantine_row": {"natural_key": TEXT, "rules": TEXT, "errors": JSON, "row_number": INT},
    "template": {"title": TEXT, "spec": JSON},
    "golden": {"register_note": TEXT},
    "candidate": {"evidence": JSON},
    "merge": {"snapshot": JSON},
    "subscription": {"name": TEXT, "url": TEXT, "entity_types": JSON},
    # IoT perception: what devices, imports and the ingest put in their rows
    "iot_device": {"name": TEXT, "address": TEXT, "owner": TEXT, "note": TEXT, "lon": FLOAT, "lat": FLOAT,
                   "heartbeat_s": INT},
    "iot_alert": {"title": TEXT, "close_reason": TEXT, "detail": JSON, "count": INT},
    "iot_message": {"payload": JSON, "raw": TEXT, "reason": TEXT, "kind": TEXT, "topic": TEXT},
    # rental housing: what landlords, tenants and staff type, and what the police interface answers
    "room": {"label": TEXT, "note": TEXT, "photos": JSON, "area_m2": FLOAT, "capacity": INT, "rent_yuan": INT},
    "stay": {"close_note": TEXT, "registered_by_name": TEXT, "police_state": TEXT, "photo_type": TEXT},
    "delivery": {"last_error": TEXT, "receipt": TEXT, "attempts": INT},
}


def _text() -> st.SearchStrategy[str]:
    # Every code point a database can hold: PostgreSQL refuses NUL in text, neither stores lone surrogates.
    chars = st.characters(exclude_categories=["Cs"], exclude_characters="\x00" if POSTGRES else "")
    return st.one_of(st.text(chars, max_size=40), st.text(chars, min_size=2000, max_size=5000),
                     st.sampled_from(["", " ", "\u202e反转", "=cmd|' /C calc'!A0", "<script>alert(1)</script>",
                                      "{{ 7*7 }}", "%", "_", "\\", "\x01\x02\x1f\x7f", "\ufeff", "\U0001f600" * 50]))


def _json() -> st.SearchStrategy[Any]:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
                       st.floats(allow_nan=not POSTGRES, allow_infinity=not POSTGRES), _text())
    return st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                        st.dictionaries(_text(), inner, max_size=5)), max_leaves=25)


_STRATEGIES = {
    TEXT: _text,
    JSON: _json,
    INT: lambda: st.one_of(st.integers(min_value=-(2**31), max_value=2**31 - 1),
                           st.sampled_from([0, -1, 2**31 - 1, -(2**31)])),
    FLOAT: lambda: st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -180.0, 1e308])),
}
VALUES = st.fixed_dictionaries({f"{obj}.{col}": _STRATEGIES[kind]()
                                for obj, cols in COLUMNS.items() for col, kind in cols.items()})



def _edge(text: str, json_value: Any, integer: int, number: float) -> dict[str, Any]:
    kinds = {TEXT: text, JSON: json_value, INT: integer, FLOAT: number}
    return {f"{obj}.{col}": kinds[kind] for obj, cols in COLUMNS.items() for col, kind in cols.items()}


# Always tried, whatever Hypothesis draws: the shapes that broke reads before (a point off the globe in the
# duplicate search and Open311; JSON null or a list where an object belongs).
EDGES = [
    _edge("\x01坏\x1f" + "长" * 3000, {"a": [1e308, 10**40, {"b": None}]}, 2**31 - 1, math.inf),
    _edge("", None, -(2**31), -math.inf if POSTGRES else math.nan),
    _edge("%_\\", [1, "x", [[]]], 0, 1e308),
]

_APP = create_app()


def _reads(h: Harness) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(role, method, url, kwargs) of every read the world's own side can be seen through: every GET route each
    reader may call, the POSTed searches and exports."""
    from fastapi import routing as fastapi_routing
    from starlette.routing import Route

    served = sorted({(m, rc.path) for rc in fastapi_routing.iter_route_contexts(_APP.routes)
                     if isinstance(rc.original_route, Route) for m in rc.methods or () if m in ("GET", "POST")})
    posted_reads = ("/search", "/export")
    out = []
    for method, path in served:
        if method == "POST" and not path.endswith(posted_reads):
            continue
        if path.startswith("/static") or path in ("/logout", "/docs", "/openapi.json", "/docs/oauth2-redirect"):
            continue
        row = table.ROUTES.get((method, path))
        if row is None:
            continue
        for variant in (row.variants or {"": {}}):
            for role in READERS:
                ctx = table.Ctx(mw=h.mw, role=role, side="own" if table.is_sided((method, path), row) else "-",
                                variant=variant)
                if table.expected((method, path), row, ctx) != table.OK:
                    continue
                url, kw = table.request_for((method, path), row, ctx)
                out.append((role, method, url, kw))
    return out


@pytest.fixture(scope="module")
def stored(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Harness, list[Any]]]:
    with open_harness(_APP, engine, tmp_path_factory.mktemp("stored-files")) as h:
        yield h, _reads(h)


def _write(h: Harness, values: dict[str, Any]) -> dict[str, Any]:
    """Write the drawn values onto the own side's objects, past the models' validators; what was written."""
    written: dict[str, Any] = {}
    own = h.mw.sides["own"]
    s = Session(bind=h.conn, join_transaction_mode="create_savepoint")
    for obj, cols in COLUMNS.items():
        row = getattr(own, obj)
        model = type(row)
        changes = {col: values[f"{obj}.{col}"] for col in cols}
        for col, value in changes.items():  # what the column can hold (PostgreSQL enforces VARCHAR lengths)
            length = getattr(model.__table__.c[col].type, "length", None)
            if isinstance(value, str) and length:
                changes[col] = value[:length]
        if POSTGRES:  # a NaN or infinity is a valid float8, but not a valid JSON number
            changes = {k: v for k, v in changes.items() if not (isinstance(v, float) and not math.isfinite(v)
                                                                and cols[k] == JSON)}
        s.execute(update(model).where(model.id == row.id).values(**changes))
        written.update({f"{obj}.{col}": v for col, v in changes.items()})
    s.commit()  # releases the session's savepoint into the example's, which is rolled back afterwards
    s.close()
    return written


def _strict_json(text: str) -> bool:
    """JSON as ``JSON.parse`` reads it: no NaN or Infinity."""
    def refuse(name: str) -> Any:
        raise ValueError(name)
    try:
        json.loads(text, parse_constant=refuse)
    except ValueError:
        return False
    return True


def _opens(body: bytes) -> bool:
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(body), read_only=True)
    for ws in wb.worksheets:
        for _ in ws.iter_rows(values_only=True):
            pass
    return True


def test_the_reads_cover_the_api_the_pages_open311_and_the_exports(stored: tuple[Harness, list[Any]]) -> None:
    _, reads = stored
    urls = {url.split("?")[0] for _, _, url, _ in reads}
    own = stored[0].mw.sides["own"]
    assert f"/api/v1/cases/{own.case.id}" in urls and "/api/v1/cases/export.xlsx" in urls
    assert any(u.startswith("/open311/") for u in urls) and any(u.startswith("/console/") for u in urls)
    assert any(u.startswith("/gw/") for u in urls) and any(u.startswith("/h5/") for u in urls)
    assert len(reads) > 150


# Each example sends every read (≈ 250 requests): the long run reports its first failing example as drawn rather
# than spend hours shrinking it.
@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
          phases=[Phase.explicit, Phase.reuse, Phase.generate] + ([] if EXAMPLES > 20 else [Phase.shrink]),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(values=VALUES)
@example(values=EDGES[0])
@example(values=EDGES[1])
@example(values=EDGES[2])
def test_no_stored_value_makes_a_later_read_list_page_or_export_fail(stored: tuple[Harness, list[Any]],
                                                                     values: dict[str, Any]) -> None:
    h, reads = stored
    outer = h.conn.begin_nested()
    try:
        written = _write(h, values)
        own = h.mw.sides["own"]
        seen = h.request("command_centre", "GET", f"/api/v1/registry/buildings/{own.building.id}").json()
        assert (seen["note"] or "") == written["building.note"]  # the readers below do see the drawn values
        failures = []
        for role, method, url, kw in reads:
            r = h.request(role, method, url, **kw)
            if r.status_code >= 500:
                failures.append(f"{method} {url} as {role}: {r.status_code} {r.text[:200]}")
            elif "json" in r.headers.get("content-type", "") and not _strict_json(r.text):
                failures.append(f"{method} {url} as {role}: not JSON a browser can parse ({r.text[:200]})")
            elif r.status_code == 200 and "spreadsheetml" in r.headers.get("content-type", ""):
                try:
                    _opens(r.content)
                except Exception as exc:  # noqa: BLE001  (whatever stops a workbook opening is the finding)
                    failures.append(f"{method} {url} as {role}: the workbook does not open ({exc!r})")
        assert not failures, "\n".join(failures)
    finally:
        outer.rollback()
