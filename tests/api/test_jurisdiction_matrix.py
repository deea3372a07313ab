"""The jurisdiction matrix: every register route × every role × own/other grid, generated from the app itself.

Rules under test (the platform's acceptance criteria for 管辖范围):

* a role that lacks the permission gets 403 — before anything is looked up;
* an object outside the caller's jurisdiction is *not found* (404), indistinguishable from an id that does not
  exist, and the refused request changes nothing;
* inside the jurisdiction the request succeeds;
* lists only ever contain rows inside the caller's jurisdiction, and their totals count only those rows.

Routes are discovered from the served application and its OpenAPI document, so a route added later without an
entry in these tables fails the suite instead of silently escaping the matrix.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from apihelpers import API, REG, Api, GridSet, audit_actions_after, audit_count, id_number, unique
from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from zhili.app import create_app
from zhili.datahub.models import Import
from zhili.registry.models import Building, Household, Organisation, Person, RegisterKind

# -- the specification ---------------------------------------------------------------------------------------
# What each test user may do in the registers. Written out by hand on purpose (not read from ROLE_PERMISSIONS):
# if the role table changes, this matrix has to be reviewed.
CAN: dict[str, set[str]] = {
    "admin": {"read", "write"},  # 三员分立: the system admin manages data but may not unmask personal data
    "zhihui": {"read", "reveal"},
    "lingdao": {"read"},
    "shenji": set(),  # the auditor reads the audit log only
    "jiedao1": {"read", "write", "reveal"},
    "jiedao2": {"read", "write", "reveal"},
    "shequ1": {"read", "write", "reveal"},
    "wangge_a": {"read", "write", "reveal"},
    "wangge_b": {"read", "write", "reveal"},
    "bumen": set(),  # departments work on cases, not on the registers
    "jumin": set(),
}
# Which of the two grids lie inside each user's jurisdiction (from the bindings made by the `world` fixture).
SEES: dict[str, set[str]] = {
    "admin": {"ga", "gb"}, "zhihui": {"ga", "gb"}, "lingdao": {"ga", "gb"}, "shenji": {"ga", "gb"},
    "jiedao1": {"ga", "gb"}, "jiedao2": set(), "shequ1": {"ga", "gb"}, "wangge_a": {"ga"}, "wangge_b": {"gb"},
    "bumen": {"ga", "gb"}, "jumin": set(),
}
ACTORS = list(CAN)
GRIDS = ("ga", "gb")


@dataclass(frozen=True)
class Op:
    """How to exercise one route and what it needs."""

    needs: frozenset[str]
    body: Callable[[], dict[str, Any]] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    fresh: bool = False  # act on a new, unreferenced object (deletes must be allowed to succeed)


READ, WRITE = frozenset({"read"}), frozenset({"write"})

OBJECT_ROUTES: dict[tuple[str, str], Op] = {
    ("GET", "/buildings/{building_id}"): Op(READ),
    ("PATCH", "/buildings/{building_id}"): Op(WRITE, body=lambda: {"note": f"巡查更新{unique()}"}),
    ("DELETE", "/buildings/{building_id}"): Op(WRITE, fresh=True),
    ("GET", "/buildings/{building_id}/entrances"): Op(READ),
    ("POST", "/buildings/{building_id}/entrances"): Op(WRITE, body=lambda: {"name": f"{unique()}单元"}),
    ("GET", "/households/{household_id}"): Op(READ),
    ("PATCH", "/households/{household_id}"): Op(WRITE, body=lambda: {"note": f"核查{unique()}"}),
    ("DELETE", "/households/{household_id}"): Op(WRITE, fresh=True),
    ("GET", "/households/{household_id}/persons"): Op(READ),
    ("GET", "/persons/{person_id}"): Op(READ),
    ("PATCH", "/persons/{person_id}"): Op(WRITE, body=lambda: {"note": f"走访{unique()}"}),
    ("DELETE", "/persons/{person_id}"): Op(WRITE, params={"reason": "误录删除"}, fresh=True),
    ("POST", "/persons/{person_id}/reveal"): Op(frozenset({"read", "reveal"}), body=lambda: {"reason": "入户核查"}),
    ("GET", "/organisations/{organisation_id}"): Op(READ),
    ("PATCH", "/organisations/{organisation_id}"): Op(WRITE, body=lambda: {"industry": f"零售{unique()}"}),
    ("DELETE", "/organisations/{organisation_id}"): Op(WRITE, fresh=True),
}
KIND_OF_PARAM = {"building_id": "building", "household_id": "household", "person_id": "person",
                 "organisation_id": "organisation"}
MODEL = {"building": Building, "household": Household, "person": Person, "organisation": Organisation}


def _snapshot(db: Any, kind: str, obj_id: str) -> Any:
    """The object's stored row (read fresh from the database), or None once it is gone."""
    table = MODEL[kind].__table__
    return db.execute(select(table).where(table.c.id == uuid.UUID(obj_id))).first()


def _create_body(kind: str) -> Callable[[dict[str, GridSet], str], dict[str, Any]]:
    def body(reg: dict[str, GridSet], grid: str) -> dict[str, Any]:
        n = unique()
        target = reg[grid]
        return {
            "building": {"grid_id": target.grid_id, "name": f"{n}幢", "address": f"画溪路{n}号"},
            "household": {"building_id": target.building["id"], "room": str(500 + n)},
            "person": {"name": "赵六", "id_number": id_number(), "household_id": target.household["id"]},
            "organisation": {"grid_id": target.grid_id, "name": f"长兴第{n}五金店", "address": f"画溪路{n}号",
                             "org_type": "individual_business"},
        }[kind]
    return body


# Routes without an object id: lists (scoped, so allowed to every reader) and creates (target a grid).
COLLECTION_ROUTES: dict[tuple[str, str], tuple[frozenset[str], Callable[..., dict[str, Any]] | None]] = {
    ("GET", "/buildings"): (READ, None),
    ("POST", "/buildings"): (WRITE, _create_body("building")),
    ("GET", "/households"): (READ, None),
    ("POST", "/households"): (WRITE, _create_body("household")),
    ("GET", "/persons"): (READ, None),
    ("POST", "/persons"): (WRITE, _create_body("person")),
    ("GET", "/organisations"): (READ, None),
    ("POST", "/organisations"): (WRITE, _create_body("organisation")),
    # the search by ID number or phone, POSTed so the numbers never travel in a URL (scoped like the list)
    ("POST", "/persons/search"): (READ, None),
}

# Routes that take a register kind or an import batch id instead of an object id: Excel import and export, and
# an import's result. An import is checked row by row (a row outside the jurisdiction is rejected with its
# reason, the others are imported); an export holds only rows inside the jurisdiction; a batch is its
# uploader's alone (anyone else gets the 404 of an id that does not exist).
BULK_ROUTES: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/{kind}/import"): WRITE,
    ("GET", "/{kind}/export"): READ,
    ("POST", "/{kind}/export"): READ,  # the same export, its filters (ID number, phone) in the body
    ("GET", "/imports/{batch_id}"): WRITE,
}


# -- discovering the routes the application serves -------------------------------------------------------------

_APP = create_app()
_OPENAPI = _APP.openapi()


def _served_routes() -> set[tuple[str, str]]:
    """(method, path) of every API route the app actually serves, hidden ones included."""
    if hasattr(fastapi_routing, "iter_route_contexts"):  # FastAPI with lazily included routers
        contexts = [(rc.path, rc.methods, rc.original_route)
                    for rc in fastapi_routing.iter_route_contexts(_APP.routes)]
    else:
        contexts = [(r.path, r.methods, r) for r in _APP.routes]
    return {(m, p) for p, methods, r in contexts if isinstance(r, APIRoute) and p and p.startswith(API)
            for m in methods or () if m != "HEAD"}


def _documented_routes() -> dict[tuple[str, str], dict[str, Any]]:
    return {(m.upper(), p): spec for p, item in _OPENAPI["paths"].items() for m, spec in item.items()}


def _registry_routes(*, with_id: bool) -> list[tuple[str, str]]:
    out = [(m, p.removeprefix(REG)) for m, p in _documented_routes() if p.startswith(REG + "/")
           and ("{" in p) == with_id]
    return sorted(out, key=lambda r: (r[1], r[0]))


def _object_id_routes() -> list[tuple[str, str]]:
    """Registry routes with a path parameter that act on one register object (the bulk routes have their table)."""
    return [r for r in _registry_routes(with_id=True) if r not in BULK_ROUTES]


def _route_id(route: tuple[str, str]) -> str:
    return f"{route[0]} {route[1]}"


def _fill(path: str, value: Any) -> str:
    return re.sub(r"\{[^}]+\}", str(value), path)


def _param(path: str) -> str:
    m = re.search(r"\{([^}]+)\}", path)
    assert m, path
    return m.group(1)


def _expected(who: str, grid: str, needs: frozenset[str]) -> int | str:
    if not needs <= CAN[who]:
        return 403
    return "2xx" if grid in SEES[who] else 404


def test_every_served_route_is_documented_so_discovery_cannot_miss_one() -> None:
    served = _served_routes()
    documented = set(_documented_routes())
    assert served, "route discovery found nothing: the discovery helper needs updating for this FastAPI"
    assert served - documented == set(), "routes hidden from OpenAPI escape the generated matrices"


def test_the_matrix_covers_exactly_the_registry_routes_that_take_an_object_id() -> None:
    discovered = set(_object_id_routes())
    missing = discovered - set(OBJECT_ROUTES)
    stale = set(OBJECT_ROUTES) - discovered
    assert not missing, f"new registry routes need a row in OBJECT_ROUTES: {sorted(missing)}"
    assert not stale, f"OBJECT_ROUTES lists routes that no longer exist: {sorted(stale)}"
    assert len(discovered) == 16  # the routes named in the acceptance criteria


def test_the_bulk_table_covers_exactly_the_other_registry_routes_with_a_path_parameter() -> None:
    discovered = set(_registry_routes(with_id=True)) - set(OBJECT_ROUTES)
    assert discovered == set(BULK_ROUTES), f"unlisted: {sorted(discovered - set(BULK_ROUTES))}, " \
        f"stale: {sorted(set(BULK_ROUTES) - discovered)}"


def test_the_collection_table_covers_every_registry_route_without_an_object_id() -> None:
    discovered = set(_registry_routes(with_id=False))
    listed = set(COLLECTION_ROUTES)
    assert discovered == listed, f"unlisted: {sorted(discovered - listed)}, stale: {sorted(listed - discovered)}"


# -- the matrix ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("route", _object_id_routes(), ids=_route_id)
def test_object_route_answers_by_permission_then_jurisdiction(
    route: tuple[str, str], api: Api, registry: dict[str, GridSet], db: Any
) -> None:
    method, path = route
    op = OBJECT_ROUTES.get(route)
    assert op is not None, f"{_route_id(route)} is not in the matrix: add it to OBJECT_ROUTES"
    kind = KIND_OF_PARAM[_param(path)]

    def send(who: str, target: Any) -> Any:
        return api.call(who, method, REG + _fill(path, target), json=op.body() if op.body else None,
                        params=op.params or None)

    # What "does not exist" looks like, for comparison: a random id asked for by a user who may do everything.
    unknown = send("jiedao1", uuid.uuid4())
    assert unknown.status_code == 404, unknown.text

    failures = []
    for who in ACTORS:
        for grid in GRIDS:
            target = (api.fresh(kind, registry[grid].grid_id, registry[grid])["id"] if op.fresh
                      else registry[grid].ids()[kind])
            before_obj = _snapshot(db, kind, target)
            before_audit = audit_count(db)
            r = send(who, target)
            expected = _expected(who, grid, op.needs)
            label = f"{who} {method} {path} on {grid}'s {kind}: expected {expected}, got {r.status_code} {r.text}"
            if expected == "2xx":
                if not 200 <= r.status_code < 300:
                    failures.append(label)
                elif method == "GET" and path.endswith("_id}") and r.json()["id"] != target:
                    failures.append(label + " (wrong object)")
                continue
            if r.status_code != expected:
                failures.append(label)
                continue
            body = r.json()
            if expected == 404 and body != unknown.json():
                failures.append(f"{label}: 404 differs from an unknown id's 404 (existence leaks): {body}")
            if expected == 403 and body["code"] != "permission_denied":
                failures.append(f"{label}: code {body['code']}")
            # A refused request writes nothing — except that a refused reveal is itself recorded.
            kept = [f"{kind}.reveal_refused"] if path.endswith("/reveal") and expected == 403 else []
            if audit_actions_after(db, before_audit) != kept:
                failures.append(f"{label}: a refused request wrote to the audit log "
                                f"{audit_actions_after(db, before_audit)} (expected {kept})")
            if _snapshot(db, kind, target) != before_obj:
                failures.append(f"{label}: a refused request changed the object")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("route", _registry_routes(with_id=False), ids=_route_id)
def test_collection_route_answers_by_permission_then_jurisdiction(
    route: tuple[str, str], api: Api, registry: dict[str, GridSet], db: Any
) -> None:
    method, path = route
    needs, body = COLLECTION_ROUTES[route]
    failures = []
    for who in ACTORS:
        for grid in GRIDS:
            before_audit = audit_count(db)
            r = api.call(who, method, REG + path,
                         json=body(registry, grid) if body else ({} if method == "POST" else None))
            # Lists are scoped rather than refused, so any reader may call them.
            expected = _expected(who, grid, needs) if body else (403 if not needs <= CAN[who] else "2xx")
            label = f"{who} {method} {path} into {grid}: expected {expected}, got {r.status_code} {r.text}"
            if expected == "2xx":
                if not 200 <= r.status_code < 300:
                    failures.append(label)
                elif body and r.json()["path"] != registry[grid].building["path"]:
                    failures.append(label + " (created in the wrong grid)")
                continue
            if r.status_code != expected:
                failures.append(label)
            elif audit_count(db) != before_audit:
                failures.append(f"{label}: a refused request wrote to the audit log")
    assert not failures, "\n".join(failures)


def test_residents_and_auditors_are_refused_every_registry_route(api: Api, registry: dict[str, GridSet]) -> None:
    failures = []
    for who in ("jumin", "shenji"):
        for route in _registry_routes(with_id=True) + _registry_routes(with_id=False):
            method, path = route
            if route in BULK_ROUTES:
                r = _bulk_call(api, who, route, kind="persons", batch_id=uuid.uuid4(),
                               file=_building_workbook(api.world.units["ga"].code))
            elif route in OBJECT_ROUTES:
                op = OBJECT_ROUTES[route]
                kind = KIND_OF_PARAM[_param(path)]
                r = api.call(who, method, REG + _fill(path, registry["ga"].ids()[kind]),
                             json=op.body() if op.body else None, params=op.params or None)
            else:
                _, body = COLLECTION_ROUTES[route]
                r = api.call(who, method, REG + path,
                             json=body(registry, "ga") if body else ({} if method == "POST" else None))
            if r.status_code != 403 or r.json()["code"] != "permission_denied":
                failures.append(f"{who} {method} {path}: {r.status_code} {r.text}")
    assert not failures, "\n".join(failures)


def test_every_route_but_login_and_health_requires_a_session(api: Api) -> None:
    public = {("POST", f"{API}/auth/login"), ("GET", f"{API}/health"),
              # signing up and resetting a password by SMS code happen before there is a session
              ("POST", f"{API}/participation/sms-codes"), ("POST", f"{API}/participation/register"),
              ("POST", f"{API}/participation/password-reset")}
    failures = []
    for method, path in sorted(_served_routes() - public):
        r = api.call(None, method, _fill(path, uuid.uuid4()), json={})
        if r.status_code != 401:
            failures.append(f"{method} {path}: {r.status_code}")
    assert not failures, failures


# -- lists ---------------------------------------------------------------------------------------------------------

LIST_ROUTES = [f"/registry{p}" for m, p in _registry_routes(with_id=False) if m == "GET"] + [
    "/regions/units", "/regions/boundaries", "/users"]


def _rows(api: Api, path: str, body: Any) -> list[tuple[str, list[str]]]:
    """(id, [paths the row belongs to]) for every row of a list response."""
    if path == "/regions/boundaries":
        return [(f["id"], [api.get("admin", f"/regions/units/{f['id']}").json()["path"]]) for f in body["features"]]
    if path == "/users":
        return [(u["id"], [unit["path"] for unit in u["units"]]) for u in body["items"]]
    return [(i["id"], [i["path"]]) for i in body["items"]]


def _in(path: str, scope: str) -> bool:
    return path == scope or path.startswith(scope + "/")


@pytest.mark.parametrize("path", LIST_ROUTES)
def test_lists_never_return_rows_outside_the_callers_jurisdiction(
    path: str, api: Api, world: Any, registry: dict[str, GridSet]
) -> None:
    for who in ("wangge_a", "jiedao2"):
        _check_list(path, who, api, world, registry)


def _check_list(path: str, who: str, api: Api, world: Any, registry: dict[str, GridSet]) -> None:
    r = api.get(who, path, params={"page_size": 500} if path != "/regions/boundaries" else None)
    if path == "/users" and "user:read" not in api.get(who, "/auth/me").json()["permissions"]:
        assert r.status_code == 403  # grid workers may not list users at all
        return
    assert r.status_code == 200, r.text
    body = r.json()
    scope = world.users[who].units[0].unit_id
    scope_path = api.get("admin", f"/regions/units/{scope}").json()["path"]
    rows = _rows(api, path, body)
    outside = [(i, paths) for i, paths in rows if not paths or not all(_in(p, scope_path) for p in paths)]
    assert not outside, f"{who} sees rows outside {scope_path}: {outside}"
    if "total" in body:
        assert body["total"] == len(body["items"]), "the total counts rows the caller cannot see"
    ids = {i for i, _ in rows}
    foreign = {v for v in registry["gb"].ids().values()} | {str(world.units["gb"].id)}
    assert not ids & foreign
    if who == "wangge_a" and path.startswith("/registry/"):
        kind = path.rsplit("/", 1)[1].rstrip("s")
        assert registry["ga"].ids()[kind] in ids, "the grid worker's own rows are missing"


def test_filtering_a_list_by_another_grid_is_not_found(api: Api, world: Any, registry: dict[str, GridSet]) -> None:
    for path in [p for p in LIST_ROUTES if p.startswith("/registry/")]:
        _check_unit_filter(path, api, world)


def _check_unit_filter(path: str, api: Api, world: Any) -> None:
    params = {p["name"] for p in _documented_routes()[("GET", API + path)].get("parameters", [])}
    assert "unit_id" in params
    r = api.get("wangge_a", path, params={"unit_id": str(world.units["gb"].id)})
    assert r.status_code == 404, (path, r.text)
    own = api.get("wangge_a", path, params={"unit_id": str(world.units["ga"].id)})
    assert own.status_code == 200 and own.json()["total"] == 1, (path, own.text)
    # Filtering by an ancestor the caller is not bound to does not widen the jurisdiction either.
    assert api.get("wangge_a", path, params={"unit_id": str(world.units["c1"].id)}).status_code == 404


def test_region_queries_rooted_at_another_grid_are_not_found(api: Api, world: Any) -> None:
    for path, param in [("/regions/units", "under_id"), ("/regions/boundaries", "parent_id"),
                        ("/regions/tree", "root_id"), ("/regions/units/{}", None),
                        ("/regions/units/{}/boundaries", None)]:
        params = {param: str(world.units["gb"].id)} if param else None
        r = api.get("wangge_a", path.format(world.units["gb"].id), params=params)
        assert r.status_code == 404, (path, r.text)


def test_a_grid_worker_cannot_create_or_move_records_into_another_grid(
    api: Api, world: Any, registry: dict[str, GridSet], db: Any
) -> None:
    gb = registry["gb"]
    before = audit_count(db)
    attempts = [
        ("POST", "/registry/persons", {"name": "钱七", "id_number": id_number(), "grid_id": gb.grid_id}),
        ("POST", "/registry/persons", {"name": "钱七", "id_number": id_number(), "household_id": gb.household["id"]}),
        ("POST", "/registry/buildings", {"name": "9幢", "address": "画溪路9号", "lon": 119.3, "lat": 31.1}),
        ("POST", "/registry/organisations", {"name": "某某商店", "address": "金陵路1号",
                                             "grid_id": registry["ga"].grid_id, "building_id": gb.building["id"]}),
        ("PATCH", f"/registry/persons/{registry['ga'].person['id']}", {"household_id": gb.household["id"]}),
    ]
    for method, path, body in attempts:
        r = api.call("wangge_a", method, path, json=body)
        assert r.status_code == 404, (method, path, r.text)
    assert audit_count(db) == before
    assert api.get("admin", f"/registry/persons/{registry['ga'].person['id']}").json()["path"] == \
        registry["ga"].person["path"]


# -- locate ----------------------------------------------------------------------------------------------------------

def test_locating_a_point_in_another_grid_is_outside_jurisdiction(api: Api) -> None:
    r = api.get("wangge_a", "/regions/locate", params={"lon": 119.3, "lat": 31.1})
    assert r.status_code == 404
    assert r.json()["code"] == "outside_jurisdiction"
    own = api.get("wangge_a", "/regions/locate", params={"lon": 119.1, "lat": 31.1})
    assert own.status_code == 200 and own.json()["grid"]["code"] == "330522001001001"


def test_batch_locate_hides_grids_outside_jurisdiction(api: Api, world: Any) -> None:
    r = api.post("wangge_a", "/regions/locate", json={"points": [{"lon": 119.1, "lat": 31.1},
                                                                 {"lon": 119.3, "lat": 31.1}]})
    assert r.status_code == 200
    assert r.json() == {"grid_ids": [str(world.units["ga"].id), None], "grid_codes": ["330522001001001", None]}


# -- Excel import, export and import batches ---------------------------------------------------------------------

def _building_workbook(grid_code: str, address: str = "导入路1号") -> bytes:
    """An import file with one building in the given grid."""
    wb = Workbook()
    ws = wb.active
    ws.append(["网格", "楼栋名称", "地址"])
    ws.append([grid_code, f"{unique()}幢", address])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _bulk_call(api: Api, who: str, route: tuple[str, str], *, kind: str = "buildings", batch_id: Any = None,
               file: bytes | None = None) -> Any:
    method, path = route
    url = REG + path.replace("{kind}", kind).replace("{batch_id}", str(batch_id))
    if method == "POST" and path.endswith("/import"):
        return api.call(who, method, url, files={"file": ("导入.xlsx", file or b"", "application/octet-stream")})
    if method == "POST":
        return api.call(who, method, url, json={})
    return api.call(who, method, url)


def _count(db: Any, model: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_an_import_answers_by_permission_then_imports_only_rows_inside_the_jurisdiction(
    api: Api, world: Any, db: Any
) -> None:
    route = ("POST", "/{kind}/import")
    failures = []
    for who in ACTORS:
        for grid in GRIDS:
            unit = world.units[grid]
            before_audit, before_batches, before_buildings = audit_count(db), _count(db, Import), \
                _count(db, Building)
            address = f"导入路{unique()}号"
            r = _bulk_call(api, who, route, file=_building_workbook(unit.code, address))
            expected = _expected(who, grid, BULK_ROUTES[route])
            label = f"{who} imports a building into {grid}: expected {expected}, got {r.status_code} {r.text}"
            if expected == 403:
                if r.status_code != 403 or r.json()["code"] != "permission_denied":
                    failures.append(label)
                elif (audit_count(db), _count(db, Import), _count(db, Building)) != \
                        (before_audit, before_batches, before_buildings):
                    failures.append(f"{label}: a refused import left something behind")
                continue
            body = r.json()
            if r.status_code != 201:
                failures.append(label)
            elif expected == "2xx":
                made = db.scalar(select(Building).where(Building.address == address))
                if body["created_rows"] != 1 or made is None or made.path != unit.path:
                    failures.append(f"{label}: not created in the grid: {body}")
            elif (body["created_rows"], body["rejected_rows"]) != (0, 1) \
                    or "不在您的管辖范围内" not in body["rejected"][0]["reason"] \
                    or _count(db, Building) != before_buildings:
                failures.append(f"{label}: a row outside the jurisdiction was not rejected with its reason: {body}")
    assert not failures, "\n".join(failures)


def _exported_rows(content: bytes) -> list[dict[str, Any]]:
    rows = list(load_workbook(io.BytesIO(content), read_only=True).worksheets[0].iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@pytest.mark.parametrize("kind", [k.value for k in RegisterKind])
def test_an_export_answers_by_permission_and_holds_only_rows_inside_the_jurisdiction(
    kind: str, api: Api, world: Any, registry: dict[str, GridSet], db: Any
) -> None:
    route = ("GET", "/{kind}/export")
    failures = []
    for who in ACTORS:
        before = audit_count(db)
        r = _bulk_call(api, who, route, kind=kind)
        if not BULK_ROUTES[route] <= CAN[who]:
            if r.status_code != 403 or audit_count(db) != before:
                failures.append(f"{who} exports {kind}: expected 403, got {r.status_code}")
            continue
        if r.status_code != 200:
            failures.append(f"{who} exports {kind}: {r.status_code} {r.text}")
            continue
        grids = {row["网格代码"] for row in _exported_rows(r.content)}
        if grids != {world.units[g].code for g in SEES[who]}:
            failures.append(f"{who} exports {kind} of the grids {sorted(grids)}; sees {sorted(SEES[who])}")
        if audit_count(db) != before + 1:
            failures.append(f"{who} exports {kind}: the export was not audited")
        secrets = {registry[g].secrets[s] for g in GRIDS for s in ("id_number", "phone", "org_phone")}
        text = " ".join(str(v) for row in _exported_rows(r.content) for v in row.values())
        if any(s in text for s in secrets):
            failures.append(f"{who} exports {kind} with personal data unmasked")
    assert not failures, "\n".join(failures)


def test_an_import_batch_is_seen_by_its_uploader_alone(api: Api, world: Any) -> None:
    route = ("GET", "/imports/{batch_id}")
    writers = [who for who in ACTORS if "write" in CAN[who]]
    batches = {}
    for who in writers:
        grid = next(iter(SEES[who] or {"ga"}))
        r = _bulk_call(api, who, ("POST", "/{kind}/import"), file=_building_workbook(world.units[grid].code))
        assert r.status_code == 201, r.text
        batches[who] = r.json()["id"]
    unknown = _bulk_call(api, "admin", route, batch_id=uuid.uuid4())
    assert unknown.status_code == 404
    failures = []
    for who in ACTORS:
        for owner, batch_id in batches.items():
            r = _bulk_call(api, who, route, batch_id=batch_id)
            expected = 403 if not BULK_ROUTES[route] <= CAN[who] else 200 if who == owner else 404
            if r.status_code != expected:
                failures.append(f"{who} reads {owner}'s batch: expected {expected}, got {r.status_code}")
            elif expected == 404 and r.json() != unknown.json():
                failures.append(f"{who} reads {owner}'s batch: the 404 differs from an unknown id's")
            elif expected == 200 and r.json()["id"] != batch_id:
                failures.append(f"{who} reads {owner}'s batch: wrong batch")
    assert not failures, "\n".join(failures)
