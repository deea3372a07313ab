"""The route matrix: every route the application serves × every role (and anonymous) × an object inside / outside
the caller's jurisdiction, against the expectations written out in ``routematrix_table.py``.

The routes are read from the application itself (``create_app().routes``: the API under /api/v1, Open311, every
page), so a route added without a row in the table fails here, named, instead of escaping the matrix. What each
row means is in the table module's docstring. Rules checked for every request:

* the answer is the one the table states for this role and side (allowed, sign-in required, 403, 404);
* a refused request (sign-in, 403, 404) changes nothing: it issues no INSERT, UPDATE or DELETE at all;
* an object outside the jurisdiction is answered exactly like an id that does not exist (no existence leak);
* nothing answers 500.

The world (``routematrix_world.py``) is built once for the module; each request runs in a savepoint that is
rolled back afterwards, so allowed state changes (a deletion, a workflow step) do not leak into later requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import routing as fastapi_routing
from sqlalchemy import Engine
from starlette.routing import Route

import routematrix_table as table
from routematrix_harness import Harness, open_harness
from routematrix_world import ROLES, SIDES
from zhili.app import create_app

_APP = create_app()


def served_routes() -> list[tuple[str, str]]:
    """(method, path) of every route the application serves (HEAD aside), hidden ones included."""
    contexts = [(rc.path, rc.methods, rc.original_route) for rc in fastapi_routing.iter_route_contexts(_APP.routes)]
    out = {(m, p) for p, methods, r in contexts if isinstance(r, Route) for m in methods or () if m != "HEAD"}
    return sorted(out, key=lambda r: (r[1], r[0]))


SERVED = served_routes()


def _cases() -> list[Any]:
    out = []
    for route in SERVED:
        row = table.ROUTES.get(route)
        variants = row.variants if row and row.variants else {"": {}}
        for variant in variants:
            sides = SIDES if table.is_sided(route, row) else ("-",)
            for role in ROLES:
                for side in sides:
                    name = f"{route[0]} {route[1]}{f' [{variant}]' if variant else ''} | {role} | {side}"
                    out.append(pytest.param(route, variant, role, side, id=name))
    return out


@pytest.fixture(scope="module")
def harness(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with open_harness(_APP, engine, tmp_path_factory.mktemp("matrix-files")) as h:
        yield h


# -- the tests ------------------------------------------------------------------------------------------------------

def test_every_served_route_has_a_row_and_every_row_a_route() -> None:
    served = set(SERVED)
    missing = sorted(served - set(table.ROUTES))
    stale = sorted(set(table.ROUTES) - served)
    assert not missing, "routes without a row in tests/routematrix_table.py (say who may call them):\n" + \
        "\n".join(f"  {m} {p}" for m, p in missing)
    assert not stale, f"rows for routes the application no longer serves: {stale}"


def test_the_matrix_covers_the_api_the_pages_and_open311() -> None:
    prefixes = {p.split("/")[1] for _, p in SERVED}
    assert {"api", "open311", "console", "gw", "h5", "screen", "login"} <= prefixes
    assert len(SERVED) > 200


def _classify(r: Any) -> Any:
    if r.status_code == 401:
        return table.LOGIN
    if 300 <= r.status_code < 400:
        location = r.headers.get("location", "")
        return table.LOGIN if location.startswith("/login") and "login_required" in location else table.OK
    if 200 <= r.status_code < 300:
        return table.OK
    return r.status_code


@pytest.mark.parametrize(("route", "variant", "role", "side"), _cases())
def test_route(route: tuple[str, str], variant: str, role: str, side: str, harness: Harness) -> None:
    row = table.ROUTES.get(route) or (table.Row() if table.dump_mode() else None)
    assert row is not None, f"{route[0]} {route[1]} has no row in tests/routematrix_table.py: add its expectations"
    method, _ = route
    ctx = table.Ctx(mw=harness.mw, role=role, side=side, variant=variant)
    url, kw = table.request_for(route, row, ctx)
    r = harness.request(role, method, url, **kw)
    writes = list(harness.writes)
    got = _classify(r)
    expected = table.expected(route, row, ctx)
    label = f"{method} {url} as {role} ({side}): expected {expected}, got {r.status_code}"
    assert r.status_code < 500, f"{label}: server error {r.text[:500]}"
    documented = _documented(route)
    if documented is not None:  # a JSON route: the answer is one its OpenAPI entry declares
        assert str(r.status_code) in documented, f"{label}: {r.status_code} is not in the OpenAPI {sorted(documented)}"
    if table.dump_mode():
        table.record(route, variant, role, side, got, r)
        return
    if expected == table.OK:
        assert got == table.OK, f"{label} {r.text[:300]}"
        return
    assert got == expected, f"{label} {r.text[:300]}"
    stray = [w for w in writes if w not in row.refusal_writes]
    assert not stray, f"{label}: the refused request wrote to {sorted(set(stray))}"
    # Outside the jurisdiction is answered as for an id that does not exist; a refusal by the route's gate comes
    # before any lookup, so an unknown id gets the same 403.
    gate = expected == row.refuse and role not in row.roles and role != table.ANON
    addressed = any(p in table.OBJECT_PARAMS for p in table.params_of(route[1]))  # an id in the path to vary
    if addressed and ((expected == 404 and side == "other") or gate):
        unknown_url, unknown_kw = table.request_for(route, row, ctx, unknown=True)
        key = (route, variant, role)
        if key not in harness.unknown:
            harness.unknown[key] = harness.request(role, method, unknown_url, **unknown_kw)
        ref = harness.unknown[key]
        assert ref.status_code == expected, f"{label}: an unknown id answers {ref.status_code} {ref.text[:300]}"
        assert _body(r) == _body(ref), f"{label}: the answer differs from an unknown id's (existence leaks)"


_SPEC: dict[str, Any] = {}


def _documented(route: tuple[str, str]) -> set[str] | None:
    """The statuses the OpenAPI document declares for an /api/v1 route (None for pages, Open311 and the docs)."""
    method, path = route
    if not path.startswith("/api/v1/"):
        return None
    if not _SPEC:
        _SPEC.update(_APP.openapi())
    op = _SPEC["paths"].get(path, {}).get(method.lower())
    return set(op["responses"]) if op else None


def _body(r: Any) -> Any:
    """A response's JSON, or its HTML with the ids of its own URL blanked (a page may link to itself)."""
    if "json" in r.headers.get("content-type", ""):
        return r.json()
    text = r.text
    for part in r.request.url.path.split("/"):
        if len(part) >= 8:
            text = text.replace(part, "{id}")
    return text


def test_the_harness_sees_a_write_and_rolls_it_back(harness: Harness) -> None:
    """The "refused requests change nothing" check can fail: an allowed write is seen, and undone afterwards."""
    own = harness.mw.sides["own"]
    r = harness.request("grid_worker", "PATCH", f"/api/v1/registry/buildings/{own.building.id}",
                        json={"note": "巡查更新"})
    assert r.status_code == 200 and "building" in harness.writes and "audit_event" in harness.writes
    again = harness.request("grid_worker", "GET", f"/api/v1/registry/buildings/{own.building.id}")
    assert again.json()["version"] == r.json()["version"] - 1 and not harness.writes


def test_write_the_dump() -> None:
    """With ROUTE_MATRIX_DUMP=<file>, every cell records what it got instead of asserting; this writes the file,
    for drafting and reviewing rows (``ROUTE_MATRIX_DUMP=/tmp/m.txt pytest tests/test_route_matrix.py``)."""
    if table.dump_mode():
        table.write_dump()
