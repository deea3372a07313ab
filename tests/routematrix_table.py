"""The expectations of the route matrix (``test_route_matrix.py``): one row per served route and method.

A row says who gets through the route's gate and, for a route that addresses one object, who can see that object
on each side of the district — **own** (inside the jurisdiction of every street/community/grid user of the
matrix) and **other** (outside it). The expected answer for a role and side is, in this order:

1. an explicit entry in ``except_`` for ``(variant, role, side)``, ``(variant, role)``, ``(role, side)`` or ``role``;
2. anonymous: ``OK`` if the route is ``public``, else ``LOGIN`` (401 from the API, a redirect to /login from a
   page);
3. a signed-in role not in ``roles``: ``refuse`` (403 unless the row says otherwise);
4. an object the role cannot see (``scope``, see ``SEES``): 404 — exactly the answer for an id that does not
   exist;
5. otherwise ``OK``: a 2xx, or a redirect that is not to the login page. State-changing routes are sent a payload
   that succeeds for an allowed role.

Besides the answer, the matrix checks for every cell: a refused request (``LOGIN``, 403, 404) writes nothing
(tables a refusal is meant to record go in ``refusal_writes``); a 404 for the other side, and a 403 of the
route's gate, are exactly the answer for an id that does not exist; nothing answers 500.

A new route: add its row (who passes the gate, which object it addresses, a payload that succeeds), run the
matrix; ``ROUTE_MATRIX_DUMP=/tmp/m.txt pytest tests/test_route_matrix.py`` writes what every cell got, to review.

Written out by hand on purpose, from docs/architecture.md and ``ROLE_PERMISSIONS``: when the rules change, the
table has to be reviewed.
"""

from __future__ import annotations

import io
import json
import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from routematrix_world import (
    EVAL_FORM_PERIODS,
    EVAL_FORM_VALUES,
    ROLE_USERS,
    ROLES,
    MatrixWorld,
    building_workbook,
    png,
)

OK, LOGIN = "ok", "login"
# A refused reveal of personal data is itself recorded (``person.reveal_refused`` / ``case.reveal_refused``, kept by
# ``core.db.keep_on_refusal``): the audit log — its events and its head row (``audit_head``, moved with each event) —
# is all such a refusal may write to.
AUDITED_REFUSAL = frozenset({"audit_event", "audit_head"})

ANON, RES, GRID, COMM, STREET = "anonymous", "resident", "grid_worker", "community_staff", "street_staff"
DEPT, CMD, LEAD, AUD, ADMIN = "department_handler", "command_centre", "leader", "auditor", "admin"
SIGNED_IN = frozenset(ROLES) - {ANON}
DISTRICT = frozenset({DEPT, CMD, LEAD, AUD, ADMIN})  # bound to the whole district

# Who sees the object of each side, by kind of object (before any permission check).
SEES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # register objects, units, users, visits, notices and suggestions for staff: the unit tree
    # (a resident's own side: their home community, their own suggestion)
    "territory": (SIGNED_IN, DISTRICT),
    # cases: the reporter, staff where it lies, the department it is assigned to, the district-wide staff
    "case": (SIGNED_IN - {AUD}, frozenset({CMD, LEAD, ADMIN})),
    # an import batch: its uploader alone (own: the caller's batch, other: someone else's)
    "uploader": (frozenset({GRID, COMM, STREET, ADMIN}), frozenset()),
    # a notification: its addressee alone
    "addressee": (SIGNED_IN, frozenset()),
    # a public case of the district (附议): any resident
    "public": (SIGNED_IN, SIGNED_IN),
    # rental rooms, stays, keys, police deliveries: staff where they lie, the district-wide staff, and the resident
    # who is the landlord of the own side's room (the other side's is another resident's)
    "rental": (frozenset({RES, GRID, COMM, STREET, CMD, LEAD, ADMIN}), frozenset({CMD, LEAD, ADMIN})),
}


@dataclass(frozen=True)
class Ctx:
    mw: MatrixWorld
    role: str
    side: str  # "own", "other" or "-" (the route addresses no object)
    variant: str = ""

    @property
    def s(self) -> Any:
        return self.mw.sides["own" if self.side == "-" else self.side]


Body = Callable[[Ctx], dict[str, Any]]


@dataclass(frozen=True)
class Row:
    roles: frozenset[str] = SIGNED_IN  # signed-in roles that pass the route's gate
    public: bool = False  # anonymous callers are served too
    refuse: int = 403  # what a signed-in role outside ``roles`` gets
    scope: str | None = None  # kind of the addressed object (a key of SEES)
    except_: Mapping[Any, Any] = field(default_factory=dict)
    body: Body | None = None  # request kwargs (json=, data=, files=, params=) that succeed for an allowed role
    variants: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # name -> fixed path parameters
    sided: bool | None = None  # override: the body (not the path) addresses a side's object
    refusal_writes: frozenset[str] = frozenset()  # tables a refusal may write to (audited refusals)
    params: Mapping[str, Callable[[Ctx], Any]] = field(default_factory=dict)  # this row's objects for a path param


def is_page(url: str) -> bool:
    return not url.startswith(("/api/", "/open311/"))


def expected(route: tuple[str, str], row: Row, ctx: Ctx) -> Any:
    for key in ((ctx.variant, ctx.role, ctx.side), (ctx.variant, ctx.role), (ctx.role, ctx.side), ctx.role):
        if key in row.except_:
            return row.except_[key]
    if ctx.role == ANON:
        return OK if row.public else LOGIN
    if ctx.role not in row.roles:
        return row.refuse
    if ctx.side != "-" and row.scope:
        own, other = SEES[row.scope]
        if ctx.role not in (own if ctx.side == "own" else other):
            return 404
    return OK


# -- filling in a request ---------------------------------------------------------------------------------------

def _user_key(ctx: Ctx) -> str:
    return ROLE_USERS[ctx.role] or "jumin"


def _batch(ctx: Ctx) -> Any:
    if ctx.side == "other":
        return ctx.mw.batches["wangge_c"].id
    return (ctx.mw.batches.get(_user_key(ctx)) or ctx.mw.batches["wangge_a"]).id


def _notification(ctx: Ctx) -> Any:
    return ctx.mw.notifications["wangge_c" if ctx.side == "other" else _user_key(ctx)].id


def _saved_view(ctx: Ctx) -> Any:
    if ctx.side == "other":
        return ctx.mw.saved_views["wangge_c"].id
    return (ctx.mw.saved_views.get(_user_key(ctx)) or ctx.mw.saved_views["wangge_a"]).id


# path parameter -> its value for a side (object parameters) ...
OBJECT_PARAMS: dict[str, Callable[[Ctx, str], Any]] = {
    "case_id": lambda c, p: c.s.case.id,
    "number": lambda c, p: c.s.case.number,
    "service_request_id": lambda c, p: c.s.case.number,
    "attachment_id": lambda c, p: c.s.visit_photo if "{visit_id}" in p else c.s.attachment.id,
    "notification_id": lambda c, p: _notification(c),
    "user_id": lambda c, p: c.s.worker.id,
    "unit_id": lambda c, p: c.s.grid.id,
    "grid_id": lambda c, p: c.s.grid.id,
    "building_id": lambda c, p: c.s.building.id,
    "household_id": lambda c, p: c.s.household.id,
    "person_id": lambda c, p: c.s.person.id,
    "organisation_id": lambda c, p: c.s.organisation.id,
    "obj_id": lambda c, p: c.s.building.id,
    "batch_id": lambda c, p: _batch(c),
    "notice_id": lambda c, p: c.s.notice.id,
    "suggestion_id": lambda c, p: c.s.suggestion.id,
    "visit_id": lambda c, p: c.s.visit.id,
    "view_id": lambda c, p: _saved_view(c),
    "source_id": lambda c, p: c.s.source.id,
    "import_id": lambda c, p: c.s.hub_import.id,
    "row_id": lambda c, p: c.s.quarantine_row.id,
    "name": lambda c, p: c.s.template.name,
    "golden_id": lambda c, p: c.s.golden.id,
    "candidate_id": lambda c, p: c.s.candidate.id,
    "merge_id": lambda c, p: c.s.merge.id,
    "subscription_id": lambda c, p: c.s.subscription.id,
    "warning_id": lambda c, p: c.s.warning.id,
    "device_id": lambda c, p: c.s.iot_device.id,
    "alert_id": lambda c, p: c.s.iot_alert.id,
    "room_id": lambda c, p: c.s.room.id,
    "stay_id": lambda c, p: c.s.stay.id,
    "key_id": lambda c, p: c.s.key.id,
    "delivery_id": lambda c, p: c.s.delivery.id,
    "unit_code": lambda c, p: c.s.community.code,  # a community's 4E form (填报)
}
# ... and the parameters that name no object of a side
FIXED_PARAMS: dict[str, Callable[[Ctx], Any]] = {
    "kind": lambda c: "buildings",
    "fmt": lambda c: "json",
    "code": lambda c: c.mw.category,
    "service_code": lambda c: c.mw.category,
    "rule_key": lambda c: c.mw.rule_key,
    "day": lambda c: c.mw.override_day.isoformat(),
    "token": lambda c: "no-such-token",
    "action": lambda c: "supervise",
    "seq": lambda c: c.mw.audit_seq,
    "entity": lambda c: "person",
    "field": lambda c: "phone",
    "model": lambda c: "category",
    "version": lambda c: 1,
    "rule_id": lambda c: c.mw.iot_rule.id,
    "dataset": lambda c: "it_monthly",
    "period": lambda c: EVAL_FORM_PERIODS["draft"],
}


def params_of(path: str) -> list[str]:
    return re.findall(r"\{(\w+)\}", path)


def is_sided(route: tuple[str, str], row: Row | None) -> bool:
    if row is not None and row.sided is not None:
        return row.sided
    return any(p in OBJECT_PARAMS for p in params_of(route[1]))


def request_for(route: tuple[str, str], row: Row, ctx: Ctx, *, unknown: bool = False) -> tuple[str, dict[str, Any]]:
    """The URL and request kwargs for one cell (``unknown``: every object id replaced by one that does not exist)."""
    _, path = route
    fixed = dict(row.variants.get(ctx.variant, {}))

    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in fixed:
            return str(fixed[name])
        if name in row.params and not unknown:
            return str(row.params[name](ctx))
        if name in OBJECT_PARAMS:
            if unknown:
                return "330522-20990101-999999" if name in ("number", "service_request_id") else str(uuid.uuid4())
            return str(OBJECT_PARAMS[name](ctx, path))
        return str(FIXED_PARAMS[name](ctx))

    url = re.sub(r"\{(\w+)\}", value, path)
    return url, (row.body(ctx) if row.body else {})


# -- dump mode: what every request got, to draft and review rows ----------------------------------------------------

_DUMP: dict[tuple[str, str, str], dict[tuple[str, str], Any]] = {}


def dump_mode() -> bool:
    return bool(os.environ.get("ROUTE_MATRIX_DUMP"))


def record(route: tuple[str, str], variant: str, role: str, side: str, got: Any, r: Any) -> None:
    detail = ""
    if got not in (OK, LOGIN):
        try:
            detail = r.json().get("code", "")
        except (ValueError, AttributeError):
            m = re.search(r"<h1[^>]*>(.*?)</h1>", r.text, re.S)
            detail = " ".join(m.group(1).split())[:30] if m else ""
    _DUMP.setdefault((route[0], route[1], variant), {})[(role, side)] = f"{got}{':' + detail if detail else ''}"


def write_dump() -> None:
    lines = []
    for (method, path, variant), cells in sorted(_DUMP.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines.append(f"{method} {path} {variant}")
        for role in ROLES:
            got = [f"{side}={cells[(role, side)]}" for side in ("-", "own", "other") if (role, side) in cells]
            lines.append(f"    {role:20} {'  '.join(got)}")
    with open(os.environ["ROUTE_MATRIX_DUMP"], "w") as f:
        f.write("\n".join(lines) + "\n")


# -- request bodies ---------------------------------------------------------------------------------------------------

STRONG = "Zhili#2026-matrix"  # passes the password rules


def _j(**kw: Any) -> Body:
    return lambda c: {"json": kw}


def _form(**kw: Any) -> Body:
    return lambda c: {"data": kw}


_TPL = {"target": "cases", "fields": [{"field": "external_id", "column": "编号"},
                                     {"field": "description", "column": "内容"},
                                     {"field": "reported_at", "column": "时间"}]}


def _sample_csv(c: Ctx) -> dict[str, Any]:
    return {"files": {"file": ("样例.csv", "姓名,身份证号\n张三,330522198506150013\n".encode(), "text/csv")}}


def _iot_rule_form(c: Ctx) -> dict[str, Any]:
    return {"data": {"name": "矩阵规则", "type_code": "smoke_detector", "kind": "events",
                     "condition": 'event == "fault"', "window": "none", "severity": "warning", "urgency": "normal",
                     "group_by": "device", "enabled": "1", "sample": '{"event": "fault"}'}}


def _xlsx(c: Ctx) -> dict[str, Any]:
    return {"files": {"file": ("导入.xlsx", building_workbook(c.mw.sides["own"].grid.code, "导入路8号"),
                               "application/octet-stream")}}


def _hub_upload(c: Ctx) -> dict[str, Any]:
    return {"data": {"source_id": str(c.s.source.id)},
            "files": {"file": ("台账.csv", "姓名,身份证号\n张三,123\n".encode(), "text/csv")}}


def _report_form(c: Ctx) -> dict[str, Any]:
    return {"data": {"category_code": c.mw.category, "description": "路灯不亮已有三天", "lon": "119.1",
                     "lat": "31.1", "crs": "wgs84", "idem": uuid.uuid4().hex}}


def _square(c: Ctx) -> dict[str, Any]:
    x0 = 119.0 if c.side == "own" else 119.5
    return {"type": "Polygon", "coordinates": [[[x0, 31.0], [x0 + 0.2, 31.0], [x0 + 0.2, 31.2], [x0, 31.2],
                                                [x0, 31.0]]]}


def _id_number(seq: int) -> str:
    from zhili.core.validators import id_check_digit

    first17 = f"33052219900101{seq:03d}"
    return first17 + id_check_digit(first17)


def _workflow_refusals(variant: str, allowed: frozenset[str]) -> dict[Any, Any]:
    """A workflow action on a case the caller can see but whose row (roles, guard) does not admit the caller: 403.
    A case the caller cannot see stays 404 (the default), whatever the action."""
    own, other = SEES["case"]
    out: dict[Any, Any] = {}
    for role in SIGNED_IN - {AUD}:
        for side, seers in (("own", own), ("other", other)):
            if role in seers and role not in allowed:
                out[(variant, role, side)] = 403
    return out


def _act_refusals() -> dict[Any, Any]:
    # supervise (督办): the command centre and leaders; start (签收): the department the case was dispatched to
    return {**_workflow_refusals("supervise", _r(CMD, LEAD)),
            **{k: v for k, v in _workflow_refusals("start", _r(DEPT)).items() if k != ("start", DEPT, "other")}}


def _console_act_refusals() -> dict[Any, Any]:
    return {(role, side): v for (_, role, side), v in _workflow_refusals("", _r(CMD, LEAD)).items()
            if role in CONSOLE_CASE}


def _supervise_page_refusals() -> dict[Any, Any]:
    return {(role, side): v for (_, role, side), v in _workflow_refusals("", _r(CMD, LEAD)).items()
            if role in SUPERVISION_PAGE}


# -- the table ------------------------------------------------------------------------------------------------------

def _iot_workbook(c: Ctx) -> dict[str, Any]:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["设备编号", "设备类型", "设备名称", "所属网格", "地址"])
    ws.append(["MX-IMP-1", "燃气", "导入燃气探测器", c.mw.sides["own"].grid.code, "导入路1号"])
    buf = io.BytesIO()
    wb.save(buf)
    return {"files": {"file": ("设备.xlsx", buf.getvalue(),
                               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}}


def _r(*roles: str | frozenset[str]) -> frozenset[str]:
    out: set[str] = set()
    for r in roles:
        out |= {r} if isinstance(r, str) else set(r)
    return frozenset(out)


ALL = SIGNED_IN
CASE_READ = SIGNED_IN - {AUD}
REGION_READ = SIGNED_IN - {RES}
REGION_WRITE = _r(STREET, ADMIN)
REG_READ = _r(GRID, COMM, STREET, CMD, LEAD, ADMIN)
REG_WRITE = _r(GRID, COMM, STREET, ADMIN)
PII = _r(GRID, COMM, STREET, CMD)
USER_READ = _r(COMM, STREET, CMD, AUD, ADMIN)
CONFIG = _r(CMD, ADMIN)
DASHBOARD = _r(COMM, STREET, CMD, LEAD, ADMIN)
PART_STAFF = _r(COMM, STREET, CMD, ADMIN)  # notices and suggestions (require_staff)
CONSOLE = _r(COMM, STREET, CMD, LEAD, ADMIN)  # the case queue and the screen
CONSOLE_CASE = _r(COMM, STREET, DEPT, CMD, LEAD, ADMIN)
SUPERVISION_PAGE = _r(COMM, STREET, DEPT, CMD, LEAD)  # docs/architecture.md; GET /api/v1/supervisions: CASE_READ
REG_PAGES = _r(COMM, STREET, CMD, LEAD, ADMIN)  # /console/registry (grid workers use /gw)
REG_PAGES_WRITE = _r(COMM, STREET, ADMIN)
PERMIT_DESK = _r(GRID, COMM, STREET, CMD, LEAD)  # /console/permits: staff holding rental:read
VISIT_PAGES = _r(COMM, STREET, CMD, LEAD)  # /console/visits; the visits API reads with REG_READ (admin too)
RENTAL_CONSOLE = _r(COMM, STREET, CMD, LEAD)  # the console's rental register: rental:read outside the two portals
RENTAL_CONSOLE_ACT = _r(COMM, STREET, CMD)  # check-out and 重新报送 (rental:write), export, reveal (pii:reveal)


def _rental_page_id(c: Ctx) -> str:
    """A valid ID number not used before (each allowed request checks someone new in)."""
    from zhili.core.validators import id_check_digit

    first17 = f"34010219930{uuid.uuid4().int % 9 + 1}1{uuid.uuid4().int % 9 + 1}{uuid.uuid4().int % 1000:03d}"
    return first17 + id_check_digit(first17)


def _rental_room_page(c: Ctx) -> dict[str, Any]:
    """The register-a-room form of the pages: the own side's building, a new door."""
    return {"data": {"building_id": str(c.mw.sides["own"].building.id), "door": f"9{uuid.uuid4().int % 1000:03d}",
                     "label": "次卧", "capacity": "1", "landlord_name": "钱房东",
                     "landlord_id_number": _rental_page_id(c), "landlord_phone": "13900000041"}}


def _rental_extend(c: Ctx) -> dict[str, Any]:
    return {"data": {"expected_move_out": (c.s.stay.expected_move_out + __import__("datetime").timedelta(
        days=90)).isoformat()}}


def _rental_checkin_page(c: Ctx, *, code: bool = False) -> dict[str, Any]:
    from zhili.core.clock import today

    data = {"name": "吴租客", "id_number": _rental_page_id(c), "phone": "13900000042",
            "move_in": today().isoformat(), "expected_move_out": (today() + __import__("datetime").timedelta(
                days=200)).isoformat()}
    if code:
        data["code"] = c.mw.sides["own"].room.checkin_code
    return {"data": data, "files": {"photo": ("本人.png", png(), "image/png")}}


INTEL_READ = _r(COMM, STREET, CMD, LEAD)  # 研判 (intel:read), each their own area
INTEL_INTAKE = _r(COMM, STREET, CMD)  # the console case page's routing suggestions (intake staff)
MODEL_ADMIN = _r(CMD, ADMIN)  # intel:admin — model versions
IOT_READ = _r(GRID, COMM, STREET, CMD, LEAD, ADMIN)  # 物联感知 (iot:read), each their own area
IOT_ADMIN = _r(CMD, ADMIN)  # iot:admin — devices, types, rules
REPORTERS = _r(RES, GRID, COMM, STREET, DEPT, CMD, ADMIN)  # case:report


def _eval_unit(**more: str) -> Body:
    """The side's community by its code (the 4E routes address a unit in the query), with ``more`` parameters."""
    return lambda c: {"params": {"unit": c.s.community.code, "period": "2026-10", **more}}


# taking a routing suggestion on the matrix's case (already dispatched): refused as not applicable (422) for whoever
# may see the case; cases out of sight stay 404
_TAKE_422 = {(COMM, "own"): 422, (STREET, "own"): 422, (CMD, "own"): 422, (CMD, "other"): 422,
             (LEAD, "own"): 422, (LEAD, "other"): 422}
HUB_READ = _r(COMM, STREET, CMD, LEAD, ADMIN)  # the data hub: sources, imports, quality, lineage
HUB_IMPORT = _r(COMM, STREET, CMD, ADMIN)  # import, fix and re-run quarantined rows
HUB_REVIEW = _r(COMM, STREET, CMD, ADMIN)  # the review queue
HUB_ADMIN = _r(CMD, ADMIN)  # sources, templates, survivorship rules, subscriptions
EVAL_READ = _r(COMM, STREET, CMD, LEAD, ADMIN)  # 4E evaluation (eval:read), each their own area
EVAL_FILL = _r(COMM, STREET)  # eval:fill — a community's form (填报), by its own staff or its street's
EVAL_APPROVE = _r(STREET, CMD)  # eval:approve — by the unit above
EVAL_LOCK = _r(STREET, CMD, ADMIN)  # eval:approve or eval:admin
EVAL_ADMIN = _r(CMD, ADMIN)  # eval:admin — unlock


_EVAL_INDICATOR = {"name": "按期办结率", "sub_dimension": "E2.2", "definition": "按期办结的占比", "unit": "%",
                   "direction": "higher", "formula": "pct(closed_on_time, closed)", "scope": "grid",
                   "normalisation": "target", "target": "95", "threshold": "70", "source": "事件库",
                   "rationale": "", "is_active": "1"}


def _eval_period(state: str) -> Mapping[str, Callable[[Ctx], Any]]:
    return {"period": lambda c: EVAL_FORM_PERIODS[state]}


def _eval_workbook(c: Ctx, page: bool = False) -> dict[str, Any]:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["单位代码", "单位名称", *EVAL_FORM_VALUES])
    ws.append([c.s.community.code, c.s.community.name, *EVAL_FORM_VALUES.values()])
    buf = io.BytesIO()
    wb.save(buf)
    files = {"file": ("填报.xlsx", buf.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
    if page:
        return {"data": {"dataset": "it_monthly", "period": EVAL_FORM_PERIODS["draft"]}, "files": files}
    return {"files": files}


RENTAL_READ = _r(GRID, COMM, STREET, CMD, LEAD)  # rental:read
RENTAL_WRITE = _r(GRID, COMM, STREET, CMD)  # rental:write
RENTAL_SEE = _r(RENTAL_READ, RES)  # rental:read, or rental:self on one's own (the resident: the own side's landlord)
RENTAL_ACT = _r(RENTAL_WRITE, RES)  # rental:write, or rental:self on one's own


_YEAR = __import__("datetime").timedelta(days=365)


def _new_room(c: Ctx) -> dict[str, Any]:
    return {"json": {"landlord": {"name": "钱房东", "id_number": _id_number(31), "phone": "13900000031"},
                     "household_id": str(c.mw.sides["own"].household.id), "label": "次卧", "capacity": 1}}


def _check_in(c: Ctx) -> dict[str, Any]:
    import base64

    from zhili.core.clock import today as local_today

    today = local_today()
    return {"json": {"room_id": str(c.mw.sides["own"].room.id), "name": "周租客", "id_number": _id_number(33),
                     "phone": "13900000033", "photo_base64": base64.b64encode(png()).decode(),
                     "move_in": today.isoformat(), "expected_move_out": (today + _YEAR).isoformat()}}
# allowed roles that see the addressed object get 422 (no mapping template): own side all, other side the district
# the sides' sources hold persons: the command centre (no registry:write) is refused register rows up front (403);
# the others get as far as the template, which the matrix's upload does not name (422)
_HUB_NO_TEMPLATE: dict[Any, Any] = {**{(r, "own"): 422 for r in HUB_IMPORT}, (ADMIN, "other"): 422,
                                    (CMD, "own"): 403, (CMD, "other"): 403}

API = "/api/v1"
R = f"{API}/registry"
CR = "/console/registry"

ROUTES: dict[tuple[str, str], Row] = {
    ("GET", "/openapi.json"): Row(public=True),
    ("GET", "/docs"): Row(public=True),
    # -- system ----------------------------------------------------------------------------------------------------
    ("GET", "/"): Row(public=True),
    ("GET", f"{API}/health"): Row(public=True),
    # -- authentication (API) --------------------------------------------------------------------------------------
    ("POST", f"{API}/auth/login"): Row(public=True, body=_j(username="probe", password=STRONG)),
    ("POST", f"{API}/auth/logout"): Row(),
    ("GET", f"{API}/auth/me"): Row(),
    ("POST", f"{API}/auth/password"): Row(body=_j(old_password=STRONG, new_password=STRONG + "x")),
    # -- users -----------------------------------------------------------------------------------------------------
    ("GET", f"{API}/users"): Row(roles=USER_READ),
    ("POST", f"{API}/users"): Row(roles=_r(ADMIN), body=lambda c: {"json": {
        "username": "new_grid", "display_name": "新网格员", "role": "grid_worker", "password": STRONG,
        "unit_ids": [str(c.mw.sides["own"].grid.id)]}}),
    ("GET", f"{API}/users/{{user_id}}"): Row(roles=USER_READ, scope="territory"),
    ("PATCH", f"{API}/users/{{user_id}}"): Row(roles=_r(ADMIN), scope="territory", body=_j(display_name="改名")),
    ("POST", f"{API}/users/{{user_id}}/password"): Row(roles=_r(ADMIN), scope="territory",
                                                      body=_j(new_password=STRONG)),
    # -- regions ---------------------------------------------------------------------------------------------------
    ("GET", f"{API}/regions/units"): Row(roles=REGION_READ),
    ("POST", f"{API}/regions/units"): Row(roles=REGION_WRITE, sided=True, scope="territory", body=lambda c: {"json": {
        "parent_id": str(c.s.community.id), "level": "grid", "code": c.s.community.code + "009",
        "name": "新网格"}}),
    ("GET", f"{API}/regions/units/{{unit_id}}"): Row(roles=REGION_READ, scope="territory"),
    ("PATCH", f"{API}/regions/units/{{unit_id}}"): Row(roles=REGION_WRITE, scope="territory", body=_j(note="更名备注")),
    ("POST", f"{API}/regions/units/{{unit_id}}/retire"): Row(roles=REGION_WRITE, scope="territory", body=_j(
        valid_to="2030-01-01", reason="区划调整")),
    ("POST", f"{API}/regions/units/{{unit_id}}/redraw"): Row(roles=REGION_WRITE, scope="territory", body=_j(
        effective="2030-01-01", reason="区划调整", name="调整后网格")),
    ("PUT", f"{API}/regions/units/{{unit_id}}/boundary"): Row(roles=REGION_WRITE, scope="territory", body=lambda c: {
        "json": {"geojson": _square(c)}}),
    ("GET", f"{API}/regions/units/{{unit_id}}/boundaries"): Row(roles=REGION_READ, scope="territory"),
    ("GET", f"{API}/regions/tree"): Row(roles=REGION_READ),
    ("GET", f"{API}/regions/boundaries"): Row(roles=REGION_READ),
    ("GET", f"{API}/regions/locate"): Row(roles=REGION_READ, sided=True, scope="territory", body=lambda c: {
        "params": {"lon": 119.1 if c.side == "own" else 119.6, "lat": 31.1}}),
    ("POST", f"{API}/regions/locate"): Row(roles=REGION_READ, body=_j(points=[{"lon": 119.1, "lat": 31.1}])),
    # -- registers -------------------------------------------------------------------------------------------------
    ("GET", f"{R}/buildings"): Row(roles=REG_READ),
    ("POST", f"{R}/buildings"): Row(roles=REG_WRITE, sided=True, scope="territory", body=lambda c: {"json": {
        "grid_id": str(c.s.grid.id), "name": "8幢", "address": "画溪路8号"}}),
    ("GET", f"{R}/buildings/{{building_id}}"): Row(roles=REG_READ, scope="territory"),
    ("PATCH", f"{R}/buildings/{{building_id}}"): Row(roles=REG_WRITE, scope="territory", body=_j(note="巡查更新")),
    ("DELETE", f"{R}/buildings/{{building_id}}"): Row(roles=REG_WRITE, scope="territory",
                                                     params={"building_id": lambda c: c.s.spare_building.id}),
    ("GET", f"{R}/buildings/{{building_id}}/entrances"): Row(roles=REG_READ, scope="territory"),
    ("POST", f"{R}/buildings/{{building_id}}/entrances"): Row(roles=REG_WRITE, scope="territory",
                                                             body=_j(name="2单元")),
    ("GET", f"{R}/households"): Row(roles=REG_READ),
    ("POST", f"{R}/households"): Row(roles=REG_WRITE, sided=True, scope="territory", body=lambda c: {"json": {
        "building_id": str(c.s.building.id), "room": "808"}}),
    ("GET", f"{R}/households/{{household_id}}"): Row(roles=REG_READ, scope="territory"),
    ("PATCH", f"{R}/households/{{household_id}}"): Row(roles=REG_WRITE, scope="territory", body=_j(note="核查")),
    ("DELETE", f"{R}/households/{{household_id}}"): Row(roles=REG_WRITE, scope="territory",
                                                       params={"household_id": lambda c: c.s.spare_household.id}),
    ("GET", f"{R}/households/{{household_id}}/persons"): Row(roles=REG_READ, scope="territory"),
    ("GET", f"{R}/persons"): Row(roles=REG_READ),
    ("POST", f"{R}/persons/search"): Row(roles=REG_READ, body=_j(phone="13800000000")),
    ("POST", f"{R}/persons"): Row(roles=REG_WRITE, sided=True, scope="territory", body=lambda c: {"json": {
        "name": "赵六", "id_number": _id_number(7), "household_id": str(c.s.household.id)}}),
    ("GET", f"{R}/persons/{{person_id}}"): Row(roles=REG_READ, scope="territory"),
    ("PATCH", f"{R}/persons/{{person_id}}"): Row(roles=REG_WRITE, scope="territory", body=_j(note="走访")),
    ("DELETE", f"{R}/persons/{{person_id}}"): Row(roles=REG_WRITE, scope="territory",
                                                 body=lambda c: {"params": {"reason": "误录删除"}}),
    ("POST", f"{R}/persons/{{person_id}}/reveal"): Row(roles=PII, scope="territory", body=_j(reason="入户核查"),
                                                     refusal_writes=AUDITED_REFUSAL),
    ("GET", f"{R}/organisations"): Row(roles=REG_READ),
    ("POST", f"{R}/organisations"): Row(roles=REG_WRITE, sided=True, scope="territory", body=lambda c: {"json": {
        "grid_id": str(c.s.grid.id), "name": "长兴第八五金店", "address": "画溪路8号",
        "org_type": "individual_business"}}),
    ("GET", f"{R}/organisations/{{organisation_id}}"): Row(roles=REG_READ, scope="territory"),
    ("PATCH", f"{R}/organisations/{{organisation_id}}"): Row(roles=REG_WRITE, scope="territory",
                                                            body=_j(industry="零售")),
    ("DELETE", f"{R}/organisations/{{organisation_id}}"): Row(roles=REG_WRITE, scope="territory"),
    ("POST", f"{R}/{{kind}}/import"): Row(roles=REG_WRITE, body=_xlsx),
    ("GET", f"{R}/{{kind}}/export"): Row(roles=REG_READ),
    ("POST", f"{R}/{{kind}}/export"): Row(roles=REG_READ, body=_j()),
    ("GET", f"{R}/imports/{{batch_id}}"): Row(roles=REG_WRITE, scope="uploader"),
    # -- cases -----------------------------------------------------------------------------------------------------
    ("POST", f"{API}/cases"): Row(roles=CASE_READ - {LEAD}, body=_j(
        category_code="SJ-0102", description="路灯不亮已有三天", lon=119.1, lat=31.1)),
    ("GET", f"{API}/cases"): Row(roles=CASE_READ),
    ("GET", f"{API}/cases/export.xlsx"): Row(roles=CASE_READ),
    ("GET", f"{API}/cases/summary"): Row(roles=CASE_READ),
    ("GET", f"{API}/cases/by-number/{{number}}"): Row(roles=CASE_READ, scope="case"),
    ("GET", f"{API}/cases/{{case_id}}"): Row(roles=CASE_READ, scope="case"),
    ("GET", f"{API}/cases/{{case_id}}/timeline"): Row(roles=CASE_READ, scope="case"),
    ("GET", f"{API}/cases/{{case_id}}/duplicates"): Row(roles=CASE_READ, scope="case"),
    ("POST", f"{API}/cases/{{case_id}}/actions/{{action}}"): Row(
        roles=CASE_READ, scope="case", variants={"supervise": {"action": "supervise"}, "start": {"action": "start"}},
        body=lambda c: {"json": {"message": "请尽快处置"} if c.variant == "supervise" else {}},
        except_=_act_refusals()),
    ("POST", f"{API}/cases/{{case_id}}/reporter"): Row(roles=_r(CMD), scope="case", body=_j(reason="回访核实"),
                                                       refusal_writes=AUDITED_REFUSAL),
    ("POST", f"{API}/cases/sweep"): Row(roles=CONFIG),
    ("POST", f"{API}/attachments"): Row(roles=CASE_READ - {LEAD}, body=lambda c: {
        "files": {"file": ("现场.png", png(), "image/png")}}),
    ("GET", f"{API}/attachments/{{attachment_id}}"): Row(roles=CASE_READ, scope="case"),
    ("GET", f"{API}/supervisions"): Row(roles=CASE_READ),
    ("GET", f"{API}/notifications"): Row(),
    ("POST", f"{API}/notifications/{{notification_id}}/read"): Row(scope="addressee"),
    # -- configuration ---------------------------------------------------------------------------------------------
    ("GET", f"{API}/categories"): Row(),
    ("POST", f"{API}/categories"): Row(roles=CONFIG, body=_j(code="SJ-0199", name="共享单车乱停放", parent_code="SJ-01",
                                                            default_department="CG", accept_hours=1,
                                                            handle_hours=8, verify_hours=4)),
    ("PATCH", f"{API}/categories/{{code}}"): Row(roles=CONFIG, body=_j(handle_hours=12)),
    ("GET", f"{API}/categories/{{code}}/history"): Row(),
    ("GET", f"{API}/departments"): Row(),
    ("GET", f"{API}/dispatch-rules"): Row(roles=CASE_READ),
    ("POST", f"{API}/dispatch-rules"): Row(roles=CONFIG, body=_j(name="新规则", category_code="SJ-01",
                                                                target_department="HW")),
    ("PATCH", f"{API}/dispatch-rules/{{rule_key}}"): Row(roles=CONFIG, body=_j(priority=5)),
    ("GET", f"{API}/dispatch-rules/{{rule_key}}/history"): Row(roles=CASE_READ),
    ("POST", f"{API}/dispatch-rules/test"): Row(roles=CASE_READ, body=_j(category_code="SJ-0102", lon=119.1,
                                                                        lat=31.1, description="垃圾")),
    ("GET", f"{API}/calendar/overrides"): Row(roles=REGION_READ),
    ("PUT", f"{API}/calendar/overrides/{{day}}"): Row(roles=CONFIG, body=_j(is_workday=False, name="本地假日")),
    ("DELETE", f"{API}/calendar/overrides/{{day}}"): Row(roles=CONFIG),
    ("GET", f"{API}/calendar/days"): Row(roles=REGION_READ, body=lambda c: {
        "params": {"from": "2026-10-01", "to": "2026-10-31"}}),
    ("GET", f"{API}/calendar/deadline"): Row(roles=REGION_READ, body=lambda c: {"params": {"hours": 8}}),
    ("GET", f"{API}/calendar/warnings"): Row(roles=REGION_READ),
    # -- audit -----------------------------------------------------------------------------------------------------
    ("GET", f"{API}/audit/events"): Row(roles=_r(AUD)),
    ("POST", f"{API}/audit/verify"): Row(roles=_r(AUD)),
    # -- pages: the auditor's (read-only; running the verification is the one write, itself audited) ---------------
    ("GET", "/console/audit/"): Row(roles=_r(AUD)),
    ("GET", "/console/audit/events/{seq}"): Row(roles=_r(AUD)),
    ("GET", "/console/audit/reveals"): Row(roles=_r(AUD)),
    ("GET", "/console/audit/logins"): Row(roles=_r(AUD)),
    ("GET", "/console/audit/verify"): Row(roles=_r(AUD)),
    ("POST", "/console/audit/verify"): Row(roles=_r(AUD)),
    # -- dashboard -------------------------------------------------------------------------------------------------
    **{("GET", f"{API}/dashboard/{name}"): Row(roles=DASHBOARD)
       for name in ("kpis", "breakdown", "trend", "categories", "ranking")},
    ("GET", f"{API}/dashboard/grids/{{grid_id}}/cases"): Row(roles=DASHBOARD, scope="territory"),
    # -- participation ---------------------------------------------------------------------------------------------
    ("POST", f"{API}/participation/sms-codes"): Row(public=True, body=_j(phone="13700000001", purpose="register")),
    ("POST", f"{API}/participation/register"): Row(public=True, body=lambda c: {"json": {
        "phone": c.mw.register_phone, "code": c.mw.register_code, "password": STRONG}}),
    ("POST", f"{API}/participation/password-reset"): Row(public=True, body=lambda c: {"json": {
        "phone": c.mw.reset_phone, "code": c.mw.reset_code, "password": STRONG + "y"}}),
    ("GET", f"{API}/participation/cases/nearby"): Row(roles=CASE_READ, body=lambda c: {
        "params": {"lon": 119.1, "lat": 31.1}}),
    ("GET", f"{API}/participation/cases/{{case_id}}"): Row(roles=CASE_READ, scope="public"),
    ("POST", f"{API}/participation/cases/{{case_id}}/support"): Row(
        roles=_r(RES), scope="public", refuse=403, except_={(RES, "own"): 422}),
    ("GET", f"{API}/participation/notices"): Row(),
    ("GET", f"{API}/participation/notices/manage"): Row(roles=PART_STAFF),
    ("POST", f"{API}/participation/notices"): Row(roles=PART_STAFF, sided=True, scope="territory", body=lambda c: {
        "json": {"unit_id": str(c.s.community.id), "title": "停电通知", "body": "周六上午检修线路停电。"}}),
    ("PATCH", f"{API}/participation/notices/{{notice_id}}"): Row(roles=PART_STAFF, scope="territory",
                                                                body=_j(title="停水通知（更正）")),
    ("DELETE", f"{API}/participation/notices/{{notice_id}}"): Row(roles=PART_STAFF, scope="territory"),
    ("GET", f"{API}/participation/disclosure"): Row(),
    ("POST", f"{API}/participation/suggestions"): Row(roles=_r(RES), body=_j(title="增设座椅",
                                                                            body="公园里缺少座椅，建议增设。")),
    ("GET", f"{API}/participation/suggestions/mine"): Row(roles=_r(RES)),
    ("GET", f"{API}/participation/suggestions"): Row(roles=PART_STAFF),
    ("GET", f"{API}/participation/suggestions/{{suggestion_id}}"): Row(roles=PART_STAFF | {RES}, scope="territory"),
    ("POST", f"{API}/participation/suggestions/{{suggestion_id}}/replies"): Row(
        roles=PART_STAFF, scope="territory", body=_j(body="已转交相关部门，下周安装。")),
    # -- data hub --------------------------------------------------------------------------------------------------
    ("GET", f"{API}/hub/sources"): Row(roles=HUB_READ),
    ("POST", f"{API}/hub/sources"): Row(roles=HUB_ADMIN, body=lambda c: {"json": {
        "name": "matrix-new", "title": "新数据源", "target": "organisations", "unit_id": str(c.s.community.id)}}),
    ("GET", f"{API}/hub/sources/{{source_id}}"): Row(roles=HUB_READ, scope="territory"),
    ("PATCH", f"{API}/hub/sources/{{source_id}}"): Row(roles=HUB_ADMIN, scope="territory", body=_j(trust=80)),
    # imports and quarantine: the matrix's imports have no mapping template, so an upload without one and a fix or
    # re-run (which re-map the row) are refused with 422 once past the gate and the jurisdiction check
    ("POST", f"{API}/hub/imports"): Row(roles=HUB_IMPORT, sided=True, scope="territory", body=_hub_upload,
                                        except_=_HUB_NO_TEMPLATE),
    ("GET", f"{API}/hub/imports"): Row(roles=HUB_READ),
    ("GET", f"{API}/hub/imports/{{import_id}}"): Row(roles=HUB_READ, scope="territory"),
    ("GET", f"{API}/hub/quarantine"): Row(roles=HUB_READ),
    ("GET", f"{API}/hub/quarantine/download"): Row(roles=HUB_IMPORT),
    ("POST", f"{API}/hub/quarantine/rerun"): Row(roles=HUB_IMPORT, body=_j(),
                                                 except_={**dict.fromkeys(HUB_IMPORT, 422), CMD: 403}),
    ("GET", f"{API}/hub/quarantine/{{row_id}}"): Row(roles=HUB_READ, scope="territory"),
    ("POST", f"{API}/hub/quarantine/{{row_id}}/fix"): Row(roles=HUB_IMPORT, scope="territory",
                                                         body=_j(cells={"姓名": "李四"}), except_=_HUB_NO_TEMPLATE),
    ("POST", f"{API}/hub/quarantine/{{row_id}}/discard"): Row(roles=HUB_IMPORT, scope="territory",
                                                             body=_j(reason="重复数据")),
    ("GET", f"{API}/hub/templates"): Row(roles=HUB_READ),
    ("POST", f"{API}/hub/templates"): Row(roles=HUB_ADMIN, body=_j(name="matrix-api", title="接口模板", spec=_TPL)),
    ("POST", f"{API}/hub/templates/import"): Row(roles=HUB_ADMIN, body=_j(
        format="zhili.hub.template/1", name="matrix-imported", title="导入的模板", spec=_TPL)),
    ("GET", f"{API}/hub/templates/{{name}}"): Row(roles=HUB_READ, scope="territory"),
    ("GET", f"{API}/hub/templates/{{name}}/versions"): Row(roles=HUB_READ, scope="territory"),
    ("GET", f"{API}/hub/templates/{{name}}/export"): Row(roles=HUB_READ, scope="territory"),
    ("POST", f"{API}/hub/templates/{{name}}/preview"): Row(roles=HUB_READ, scope="territory", body=_sample_csv),
    ("POST", f"{API}/hub/address/parse"): Row(roles=HUB_READ, body=_j(address="长兴明珠路8号3-2-301")),
    # resolution, review queue, golden records, lineage, survivorship, subscriptions
    ("POST", f"{API}/hub/resolve"): Row(roles=HUB_IMPORT, body=_j(entity="person")),
    ("GET", f"{API}/hub/review"): Row(roles=HUB_REVIEW),
    ("GET", f"{API}/hub/review/{{candidate_id}}"): Row(roles=HUB_REVIEW, scope="territory"),
    ("POST", f"{API}/hub/review/{{candidate_id}}/merge"): Row(roles=HUB_REVIEW, scope="territory"),
    ("POST", f"{API}/hub/review/{{candidate_id}}/keep-apart"): Row(roles=HUB_REVIEW, scope="territory"),
    ("POST", f"{API}/hub/merges/{{merge_id}}/undo"): Row(roles=HUB_REVIEW, scope="territory"),
    ("GET", f"{API}/hub/golden/{{golden_id}}"): Row(roles=HUB_READ, scope="territory"),
    ("GET", f"{API}/hub/golden/{{golden_id}}/lineage"): Row(roles=HUB_READ, scope="territory"),
    ("POST", f"{API}/hub/golden/{{golden_id}}/resurvive"): Row(roles=HUB_IMPORT, scope="territory"),
    ("GET", f"{API}/hub/lineage/person/{{person_id}}"): Row(roles=HUB_READ, scope="territory"),
    ("GET", f"{API}/hub/lineage/organisation/{{organisation_id}}"): Row(roles=HUB_READ, scope="territory"),
    ("GET", f"{API}/hub/lineage/building/{{building_id}}"): Row(roles=HUB_READ, scope="territory"),
    ("GET", f"{API}/hub/lineage/household/{{household_id}}"): Row(roles=HUB_READ, scope="territory"),
    ("GET", f"{API}/hub/lineage/case/{{case_id}}"): Row(roles=HUB_READ, scope="case"),
    ("GET", f"{API}/hub/survivorship/{{entity}}"): Row(roles=HUB_READ),
    ("PUT", f"{API}/hub/survivorship/{{entity}}/{{field}}"): Row(roles=HUB_ADMIN, body=_j(rule="most_trusted")),
    ("GET", f"{API}/hub/subscriptions"): Row(roles=HUB_ADMIN),
    ("POST", f"{API}/hub/subscriptions"): Row(roles=HUB_ADMIN, body=_j(name="卫健推送", kind="webhook",
                                                                     url="https://example.test/hook")),
    ("GET", f"{API}/hub/subscriptions/{{subscription_id}}"): Row(roles=HUB_ADMIN, scope="territory"),
    ("PATCH", f"{API}/hub/subscriptions/{{subscription_id}}"): Row(roles=HUB_ADMIN, scope="territory",
                                                                   body=_j(active=False)),
    ("DELETE", f"{API}/hub/subscriptions/{{subscription_id}}"): Row(roles=HUB_ADMIN, scope="territory"),
    ("GET", f"{API}/hub/subscriptions/{{subscription_id}}/deliveries"): Row(roles=HUB_ADMIN, scope="territory"),
    ("GET", f"{API}/hub/quality"): Row(roles=HUB_READ),
    ("GET", f"{API}/hub/quality/sources/{{source_id}}"): Row(roles=HUB_READ, scope="territory"),
    ("GET", f"{API}/hub/quality/imports/{{import_id}}"): Row(roles=HUB_READ, scope="territory"),
    # -- visits ----------------------------------------------------------------------------------------------------
    ("GET", f"{API}/visits"): Row(roles=REG_READ),
    ("POST", f"{API}/visits"): Row(roles=_r(GRID), sided=True, scope="territory", body=lambda c: {"json": {
        "household_id": str(c.s.household.id), "kind": "routine", "summary": "日常走访"}}),
    ("GET", f"{API}/visits/coverage"): Row(roles=REG_READ),
    ("GET", f"{API}/visits/{{visit_id}}"): Row(roles=REG_READ, scope="territory"),
    ("POST", f"{API}/visits/{{visit_id}}/case"): Row(roles=_r(GRID), scope="territory", body=_j(
        category_code="SJ-0102", description="楼道堆放杂物")),
    ("GET", f"{API}/visits/{{visit_id}}/photos/{{attachment_id}}"): Row(roles=REG_READ, scope="territory"),
    # -- Open311 (API keys, not roles: the same answer for everyone) -----------------------------------------------
    ("GET", "/open311/v2/discovery.{fmt}"): Row(public=True),
    ("GET", "/open311/v2/services.{fmt}"): Row(public=True),
    ("GET", "/open311/v2/services/{service_code}.{fmt}"): Row(public=True),
    ("POST", "/open311/v2/requests.{fmt}"): Row(public=True, body=lambda c: {"data": {
        "api_key": c.mw.api_key, "service_code": c.mw.category, "lat": "31.1", "long": "119.1",
        "description": "路边垃圾无人清运"}}),
    ("GET", "/open311/v2/requests.{fmt}"): Row(public=True),
    ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"): Row(public=True, scope="public"),
    ("GET", "/open311/v2/tokens/{token}.{fmt}"): Row(public=True, params={"token": lambda c: c.mw.open311_token}),
    ("GET", "/open311/v2/media/{attachment_id}"): Row(public=True, scope="public"),
    # -- pages: sign-in and account --------------------------------------------------------------------------------
    ("GET", "/login"): Row(public=True),
    ("POST", "/login"): Row(public=True, body=_form(username="probe", password=STRONG, next="")),
    ("GET", "/logout"): Row(),
    ("POST", "/logout"): Row(public=True),  # signed out already: back to the login page
    ("GET", "/account/password"): Row(),
    ("POST", "/account/password"): Row(body=_form(old_password=STRONG, new_password=STRONG + "x",
                                                  confirm_password=STRONG + "x")),
    ("GET", "/home"): Row(),  # a redirect to the role's home
    ("GET", "/favicon.ico"): Row(public=True),
    ("POST", "/locale"): Row(public=True, body=_form(lang="en", next="/login")),
    # -- pages: the resident portal (/h5) --------------------------------------------------------------------------
    ("GET", "/h5/"): Row(roles=_r(RES)),
    ("GET", "/h5/report"): Row(roles=_r(RES)),
    ("POST", "/h5/report"): Row(roles=_r(RES), body=_report_form),
    ("GET", "/h5/categories"): Row(roles=_r(RES)),
    ("GET", "/h5/map/grids.geojson"): Row(roles=_r(RES)),
    ("GET", "/h5/mine"): Row(roles=_r(RES)),
    ("GET", "/h5/cases/{case_id}"): Row(roles=_r(RES), scope="case"),
    ("POST", "/h5/cases/{case_id}/act"): Row(roles=_r(RES), scope="case", params={
        "case_id": lambda c: c.s.resolved_case.id}, body=_form(action="verify")),
    # 居住证申领: the world's cases are events (the permit page hands them to the event page; resubmit is not an
    # event's step), and it holds no rental stay (an application on an unknown one is 404)
    ("GET", "/h5/permit"): Row(roles=_r(RES)),
    ("GET", "/h5/permit/new"): Row(roles=_r(RES)),
    ("POST", "/h5/permit/new"): Row(roles=_r(RES), body=_form(stay_id=str(uuid.UUID(int=7)), delivery="collect"),
                                    except_={RES: 404}),
    ("GET", "/h5/permit/cases/{case_id}"): Row(roles=_r(RES), scope="case"),
    ("POST", "/h5/permit/cases/{case_id}/act"): Row(roles=_r(RES), scope="case", body=_form(action="resubmit"),
                                                    except_={(RES, "own"): 409}),
    ("GET", "/h5/register"): Row(public=True),
    ("POST", "/h5/register/code"): Row(public=True, body=_form(phone="13700000002")),
    ("POST", "/h5/register"): Row(public=True, body=lambda c: {"data": {
        "phone": c.mw.register_phone, "code": c.mw.register_code, "password": STRONG, "confirm_password": STRONG}}),
    ("GET", "/h5/password-reset"): Row(public=True),
    ("POST", "/h5/password-reset/code"): Row(public=True, body=_form(phone="13700000003")),
    ("POST", "/h5/password-reset"): Row(public=True, body=lambda c: {"data": {
        "phone": c.mw.reset_phone, "code": c.mw.reset_code, "password": STRONG + "y",
        "confirm_password": STRONG + "y"}}),
    ("GET", "/h5/nearby"): Row(roles=_r(RES)),
    ("GET", "/h5/nearby/suggest"): Row(roles=_r(RES)),
    ("GET", "/h5/nearby/{case_id}"): Row(roles=_r(RES), scope="public"),
    ("POST", "/h5/nearby/{case_id}/support"): Row(roles=_r(RES), scope="public", except_={(RES, "own"): 422}),
    ("GET", "/h5/notices"): Row(roles=_r(RES)),
    ("POST", "/h5/community"): Row(roles=_r(RES), body=lambda c: {"data": {
        "community_id": str(c.mw.sides["own"].community.id)}}),
    ("GET", "/h5/notices/{notice_id}"): Row(roles=_r(RES), scope="territory"),
    ("GET", "/h5/disclosure"): Row(roles=_r(RES)),
    ("GET", "/h5/suggestions"): Row(roles=_r(RES)),
    ("GET", "/h5/suggestions/new"): Row(roles=_r(RES)),
    ("POST", "/h5/suggestions"): Row(roles=_r(RES), body=_form(title="增设座椅", body="公园里缺少座椅，建议增设。")),
    ("GET", "/h5/suggestions/{suggestion_id}"): Row(roles=_r(RES), scope="territory"),
    # -- pages: the grid worker's portal (/gw) ---------------------------------------------------------------------
    ("GET", "/gw/"): Row(roles=_r(GRID)),
    ("GET", "/gw/tasks"): Row(roles=_r(GRID)),
    ("GET", "/gw/report"): Row(roles=_r(GRID)),
    ("POST", "/gw/report"): Row(roles=_r(GRID), body=_report_form),
    ("GET", "/gw/categories"): Row(roles=_r(GRID)),
    ("GET", "/gw/map/grids.geojson"): Row(roles=_r(GRID)),
    ("GET", "/gw/cases/{case_id}"): Row(roles=_r(GRID), scope="case"),
    ("POST", "/gw/cases/{case_id}/act"): Row(roles=_r(GRID), scope="case", params={
        "case_id": lambda c: c.s.resolved_case.id}, body=_form(action="verify")),
    ("GET", "/gw/households"): Row(roles=_r(GRID)),
    ("POST", "/gw/households"): Row(roles=_r(GRID), body=_form(q="13700000001")),
    ("GET", "/gw/households/{household_id}"): Row(roles=_r(GRID), scope="territory"),
    ("POST", "/gw/persons/{person_id}/reveal"): Row(roles=_r(GRID), scope="territory", body=_form(reason="入户核查"),
                                                    refusal_writes=AUDITED_REFUSAL),
    ("GET", "/gw/households/{household_id}/visits/new"): Row(roles=_r(GRID), scope="territory"),
    ("POST", "/gw/households/{household_id}/visits"): Row(roles=_r(GRID), scope="territory", body=_form(
        kind="routine", summary="日常走访")),
    ("GET", "/gw/households/{household_id}/visits"): Row(roles=_r(GRID), scope="territory"),
    ("GET", "/gw/visits"): Row(roles=_r(GRID)),
    ("GET", "/gw/visits/{visit_id}"): Row(roles=_r(GRID), scope="territory"),
    ("POST", "/gw/visits/{visit_id}/case"): Row(roles=_r(GRID), scope="territory", body=_form(
        category_code="SJ-0102", case_description="楼道堆放杂物")),
    ("GET", "/gw/visits/{visit_id}/photos/{attachment_id}"): Row(roles=_r(GRID), scope="territory"),
    # -- rental housing pages (出租房屋): the resident as landlord of the own side's room and as tenant, the grid
    # worker in the own grid, the console's register
    ("GET", "/h5/rental/rooms"): Row(roles=_r(RES)),
    ("GET", "/h5/rental/rooms/new"): Row(roles=_r(RES)),
    ("POST", "/h5/rental/rooms/new"): Row(roles=_r(RES), body=_rental_room_page),
    ("GET", "/h5/rental/rooms/{room_id}"): Row(roles=_r(RES), scope="rental"),
    ("GET", "/h5/rental/rooms/{room_id}/checkin"): Row(roles=_r(RES), scope="rental"),
    ("GET", "/h5/rental/rooms/{room_id}/photos/{attachment_id}"): Row(roles=_r(RES), scope="rental", params={
        "attachment_id": lambda c: c.s.room_photo}),
    ("POST", "/h5/rental/rooms/{room_id}/checkin"): Row(roles=_r(RES), scope="rental", body=_rental_checkin_page),
    ("POST", "/h5/rental/stays/{stay_id}/checkout"): Row(roles=_r(RES), scope="rental", body=_form()),
    ("POST", "/h5/rental/stays/{stay_id}/extend"): Row(roles=_r(RES), scope="rental", body=_rental_extend),
    ("POST", "/h5/rental/rooms/{room_id}/checkin-code"): Row(roles=_r(RES), scope="rental"),
    ("GET", "/h5/rental/stays"): Row(roles=_r(RES)),
    ("POST", "/h5/rental/keys/{key_id}/renew"): Row(roles=_r(RES), scope="rental"),
    ("GET", "/h5/rental/checkin"): Row(roles=_r(RES)),
    ("POST", "/h5/rental/checkin"): Row(roles=_r(RES), body=lambda c: _rental_checkin_page(c, code=True)),
    ("GET", "/gw/rental"): Row(roles=_r(GRID)),
    ("GET", "/gw/rental/stays"): Row(roles=_r(GRID)),
    ("POST", "/gw/rental/stays"): Row(roles=_r(GRID), body=_form(q="13900000022")),
    ("GET", "/gw/rental/warnings"): Row(roles=_r(GRID)),
    ("GET", "/gw/rental/stays/{stay_id}/photo"): Row(roles=_r(GRID), scope="rental"),
    ("GET", "/gw/rental/rooms/new"): Row(roles=_r(GRID)),
    ("POST", "/gw/rental/rooms/new"): Row(roles=_r(GRID), body=_rental_room_page),
    ("GET", "/gw/rental/rooms/{room_id}"): Row(roles=_r(GRID), scope="rental"),
    ("GET", "/gw/rental/rooms/{room_id}/checkin"): Row(roles=_r(GRID), scope="rental"),
    ("GET", "/gw/rental/rooms/{room_id}/photos/{attachment_id}"): Row(roles=_r(GRID), scope="rental", params={
        "attachment_id": lambda c: c.s.room_photo}),
    ("POST", "/gw/rental/rooms/{room_id}/checkin"): Row(roles=_r(GRID), scope="rental", body=_rental_checkin_page),
    ("POST", "/gw/rental/stays/{stay_id}/checkout"): Row(roles=_r(GRID), scope="rental", body=_form()),
    ("POST", "/gw/rental/stays/{stay_id}/extend"): Row(roles=_r(GRID), scope="rental", body=_rental_extend),
    ("POST", "/gw/rental/rooms/{room_id}/checkin-code"): Row(roles=_r(GRID), scope="rental"),
    # -- pages: the console ----------------------------------------------------------------------------------------
    ("GET", "/console/"): Row(roles=CONSOLE),
    # the workbench of every staff role; the auditor is sent to his home (/console/audit/), the portals' users refused
    ("GET", "/console/home"): Row(roles=_r(CONSOLE, DEPT), except_={AUD: OK}),
    ("GET", "/console/inbox"): Row(roles=_r(DEPT)),
    ("GET", "/console/cases"): Row(roles=CONSOLE_CASE),
    # the reporter-phone search: posted, by the roles that may reveal a reporter (audited)
    ("POST", "/console/cases"): Row(roles=_r(CMD), body=_form(reporter_phone="13812345678")),
    ("GET", "/console/cases/export.xlsx"): Row(roles=CONSOLE_CASE),
    ("POST", "/console/cases/views"): Row(roles=CONSOLE_CASE, body=_form(name="待受理", query="state=reported")),
    ("POST", "/console/cases/views/{view_id}/delete"): Row(roles=CONSOLE_CASE, scope="addressee"),
    ("GET", "/console/cases/{case_id}"): Row(roles=CONSOLE_CASE, scope="case"),
    ("POST", "/console/cases/{case_id}/act"): Row(roles=CONSOLE_CASE, scope="case", body=_form(
        action="supervise", message="请尽快处置"), except_=_console_act_refusals()),
    # the command centre's call-back reveal on the case page: other roles pass the page's gate and are refused (and
    # recorded) by the service, as through the API
    ("POST", "/console/cases/{case_id}/reporter"): Row(roles=_r(CMD), scope="case", body=_form(reason="回访核实"),
                                                        refusal_writes=AUDITED_REFUSAL),
    ("GET", "/screen"): Row(roles=CONSOLE),
    ("GET", "/console/supervisions"): Row(roles=SUPERVISION_PAGE),
    ("POST", "/console/supervisions"): Row(roles=SUPERVISION_PAGE, sided=True, scope="case", body=lambda c: {
        "data": {"number": c.s.case.number, "message": "请尽快处置"}}, except_=_supervise_page_refusals()),
    ("GET", "/console/permits"): Row(roles=PERMIT_DESK),
    # the world's cases are events: no mailing address to reveal (404 for every role that sees the case)
    ("POST", "/console/permits/{case_id}/address"): Row(roles=PERMIT_DESK, scope="case",
                                                        body=_form(reason="邮寄居住证"),
                                                        except_=dict.fromkeys(PERMIT_DESK, 404)),
    ("GET", "/console/visits"): Row(roles=VISIT_PAGES),
    # -- data hub pages --------------------------------------------------------------------------------------------
    ("GET", "/console/hub/"): Row(roles=HUB_READ),
    ("POST", "/console/hub/sources"): Row(roles=HUB_ADMIN, body=lambda c: {"data": {
        "name": "matrix-page", "title": "页面登记", "target": "buildings", "unit_id": str(c.s.community.id)}}),
    ("GET", "/console/hub/imports"): Row(roles=HUB_READ),
    ("GET", "/console/hub/imports/new"): Row(roles=HUB_IMPORT),
    ("POST", "/console/hub/imports/new"): Row(roles=HUB_IMPORT, sided=True, scope="territory", body=_hub_upload,
                                              except_=_HUB_NO_TEMPLATE),
    ("GET", "/console/hub/imports/{import_id}"): Row(roles=HUB_READ, scope="territory"),
    ("GET", "/console/hub/imports/{import_id}/progress"): Row(roles=HUB_READ, scope="territory"),
    ("GET", "/console/hub/quarantine"): Row(roles=HUB_READ),
    ("GET", "/console/hub/quarantine/download.xlsx"): Row(roles=HUB_IMPORT),
    ("POST", "/console/hub/quarantine/rerun"): Row(roles=HUB_IMPORT, body=_form(),
                                                   except_={**dict.fromkeys(HUB_IMPORT, 422), CMD: 403}),
    ("POST", "/console/hub/quarantine/{row_id}/fix"): Row(roles=HUB_IMPORT, scope="territory", body=lambda c: {
        "data": {"cell:姓名": "李四"}}, except_=_HUB_NO_TEMPLATE),
    ("POST", "/console/hub/quarantine/{row_id}/discard"): Row(roles=HUB_IMPORT, scope="territory",
                                                              body=_form(reason="重复数据")),
    ("GET", "/console/hub/templates"): Row(roles=HUB_READ),
    ("POST", "/console/hub/templates"): Row(roles=HUB_ADMIN, body=_form(name="matrix-page-tpl", title="页面模板",
                                                                       target="cases")),
    ("POST", "/console/hub/templates/import"): Row(roles=HUB_ADMIN, body=lambda c: {"files": {"file": (
        "模板.json", json.dumps({"name": "matrix-page-imported", "title": "导入", "spec": _TPL}).encode(),
        "application/json")}}),
    ("GET", "/console/hub/templates/{name}"): Row(roles=HUB_READ, scope="territory"),
    ("POST", "/console/hub/templates/{name}"): Row(roles=HUB_ADMIN, scope="territory", body=lambda c: {"data": {
        "version": str(c.s.template.version), "title": "改过的模板"}}),
    ("POST", "/console/hub/templates/{name}/fields"): Row(roles=HUB_ADMIN, scope="territory", body=lambda c: {
        "data": {"version": str(c.s.template.version), "pos": "", "field": "phone", "origin": "column",
                 "source": "手机号"}}),
    ("POST", "/console/hub/templates/{name}/fields/delete"): Row(roles=HUB_ADMIN, scope="territory",
                                                                  body=lambda c: {"data": {
                                                                      "version": str(c.s.template.version),
                                                                      "pos": "0"}}),
    ("GET", "/console/hub/templates/{name}/export.json"): Row(roles=HUB_READ, scope="territory"),
    ("POST", "/console/hub/templates/{name}/preview"): Row(roles=HUB_READ, scope="territory", body=_sample_csv),
    ("GET", "/console/hub/address"): Row(roles=HUB_READ),
    ("POST", "/console/hub/address"): Row(roles=HUB_READ, body=lambda c: {"data": {"address": "金陵小区3栋2单元301"}}),
    ("GET", "/console/hub/review"): Row(roles=HUB_REVIEW),
    ("GET", "/console/hub/review/{candidate_id}"): Row(roles=HUB_REVIEW, scope="territory"),
    ("POST", "/console/hub/review/{candidate_id}/merge"): Row(roles=HUB_REVIEW, scope="territory"),
    ("POST", "/console/hub/review/{candidate_id}/keep-apart"): Row(roles=HUB_REVIEW, scope="territory"),
    ("POST", "/console/hub/merges/{merge_id}/undo"): Row(roles=HUB_REVIEW, scope="territory"),
    ("GET", "/console/hub/golden/{golden_id}"): Row(roles=HUB_READ, scope="territory"),
    ("POST", "/console/hub/golden/{golden_id}/rule"): Row(roles=HUB_ADMIN, scope="territory",
                                                          body=_form(field="phone", rule="most_trusted")),
    ("POST", "/console/hub/golden/{golden_id}/resurvive"): Row(roles=HUB_IMPORT, scope="territory"),
    ("GET", "/console/hub/lineage/person/{person_id}"): Row(roles=HUB_READ, scope="territory"),
    ("GET", "/console/hub/lineage/organisation/{organisation_id}"): Row(roles=HUB_READ, scope="territory"),
    ("GET", "/console/hub/lineage/building/{building_id}"): Row(roles=HUB_READ, scope="territory"),
    ("GET", "/console/hub/lineage/household/{household_id}"): Row(roles=HUB_READ, scope="territory"),
    ("GET", "/console/hub/lineage/case/{case_id}"): Row(roles=HUB_READ, scope="case"),
    ("GET", "/console/hub/subscriptions"): Row(roles=HUB_ADMIN),
    ("POST", "/console/hub/subscriptions"): Row(roles=HUB_ADMIN, body=_form(name="卫健推送", kind="in_app")),
    ("POST", "/console/hub/subscriptions/{subscription_id}/toggle"): Row(roles=HUB_ADMIN, scope="territory"),
    ("GET", "/console/hub/quality"): Row(roles=HUB_READ),
    ("GET", "/console/hub/quality/{source_id}"): Row(roles=HUB_READ, scope="territory"),
    ("GET", "/console/visits/{visit_id}/photos/{attachment_id}"): Row(roles=VISIT_PAGES, scope="territory"),
    ("GET", "/console/rental/"): Row(roles=RENTAL_CONSOLE),
    ("GET", "/console/rental/rooms/{room_id}"): Row(roles=RENTAL_CONSOLE, scope="rental"),
    ("GET", "/console/rental/rooms/{room_id}/photos/{attachment_id}"): Row(
        roles=RENTAL_CONSOLE, scope="rental", params={"attachment_id": lambda c: c.s.room_photo}),
    ("GET", "/console/rental/stays"): Row(roles=RENTAL_CONSOLE),
    ("POST", "/console/rental/stays"): Row(roles=RENTAL_CONSOLE, body=_form(q="13900000022")),
    ("GET", "/console/rental/stays/{stay_id}"): Row(roles=RENTAL_CONSOLE, scope="rental"),
    ("GET", "/console/rental/stays/{stay_id}/photo"): Row(roles=RENTAL_CONSOLE, scope="rental"),
    # the leader passes the register's gate but holds no pii:reveal: a refused reveal is recorded
    ("POST", "/console/rental/stays/{stay_id}/reveal"): Row(roles=RENTAL_CONSOLE_ACT, scope="rental",
                                                             body=_form(reason="核实身份"),
                                                             refusal_writes=AUDITED_REFUSAL),
    ("POST", "/console/rental/stays/{stay_id}/checkout"): Row(roles=RENTAL_CONSOLE_ACT, scope="rental", body=_form()),
    ("GET", "/console/rental/export.xlsx"): Row(roles=RENTAL_CONSOLE_ACT),
    ("GET", "/console/rental/warnings"): Row(roles=RENTAL_CONSOLE),
    ("GET", "/console/rental/deliveries"): Row(roles=RENTAL_CONSOLE),
    ("POST", "/console/rental/deliveries/{delivery_id}/redeliver"): Row(roles=RENTAL_CONSOLE_ACT, scope="rental"),
    # -- pages: the registers --------------------------------------------------------------------------------------
    ("GET", f"{CR}/"): Row(roles=REG_PAGES),
    ("GET", f"{CR}/units/{{unit_id}}"): Row(roles=REG_PAGES, scope="territory"),
    ("GET", f"{CR}/{{kind}}/template.xlsx"): Row(roles=REG_PAGES_WRITE),
    ("GET", f"{CR}/{{kind}}/export.xlsx"): Row(roles=REG_PAGES),
    ("GET", f"{CR}/import"): Row(roles=REG_PAGES_WRITE),
    ("POST", f"{CR}/import"): Row(roles=REG_PAGES_WRITE, body=lambda c: {"data": {"kind": "buildings"}, **_xlsx(c)}),
    ("GET", f"{CR}/imports/{{batch_id}}"): Row(roles=REG_PAGES_WRITE, scope="uploader"),
    ("GET", f"{CR}/imports/{{batch_id}}/rejected.xlsx"): Row(roles=REG_PAGES_WRITE, scope="uploader"),
    **{("GET", f"{CR}/{kind}"): Row(roles=REG_PAGES)
       for kind in ("buildings", "households", "persons", "organisations")},
    ("POST", f"{CR}/persons"): Row(roles=REG_PAGES, body=_form(q="13800000000")),
    ("GET", f"{CR}/buildings/new"): Row(roles=REG_PAGES_WRITE),
    ("POST", f"{CR}/buildings/new"): Row(roles=REG_PAGES_WRITE, sided=True, scope="territory", body=lambda c: {
        "data": {"name": "8幢", "address": "画溪路8号", "grid_id": str(c.s.grid.id)}}),
    ("GET", f"{CR}/buildings/{{building_id}}"): Row(roles=REG_PAGES, scope="territory"),
    ("GET", f"{CR}/{{kind}}/{{obj_id}}/edit"): Row(roles=REG_PAGES_WRITE, scope="territory"),
    ("POST", f"{CR}/{{kind}}/{{obj_id}}/edit"): Row(roles=REG_PAGES_WRITE, scope="territory", body=lambda c: {
        "data": {"name": "3幢", "address": f"{c.side}路3号", "building_type": "residential", "note": "巡查更新",
                 "version": "1"}}),
    ("GET", f"{CR}/households/new"): Row(roles=REG_PAGES_WRITE, sided=True, scope="territory", body=lambda c: {
        "params": {"building_id": str(c.s.building.id)}}),
    ("POST", f"{CR}/households/new"): Row(roles=REG_PAGES_WRITE, sided=True, scope="territory", body=lambda c: {
        "params": {"building_id": str(c.s.building.id)}, "data": {"room": "910", "use": "owner_occupied"}}),
    ("GET", f"{CR}/households/{{household_id}}"): Row(roles=REG_PAGES, scope="territory"),
    ("GET", f"{CR}/persons/new"): Row(roles=REG_PAGES_WRITE),
    ("POST", f"{CR}/persons/new"): Row(roles=REG_PAGES_WRITE, sided=True, scope="territory", body=lambda c: {
        "data": {"name": "张三", "id_number": _id_number(9), "grid_id": str(c.s.grid.id)}}),
    ("GET", f"{CR}/persons/{{person_id}}"): Row(roles=REG_PAGES, scope="territory"),
    ("POST", f"{CR}/persons/{{person_id}}/reveal"): Row(roles=REG_PAGES & PII, scope="territory",
                                                       body=_form(reason="入户核查"), refusal_writes=AUDITED_REFUSAL),
    ("GET", f"{CR}/organisations/new"): Row(roles=REG_PAGES_WRITE),
    ("POST", f"{CR}/organisations/new"): Row(roles=REG_PAGES_WRITE, sided=True, scope="territory", body=lambda c: {
        "data": {"name": "长兴第九五金店", "address": "画溪路9号", "grid_id": str(c.s.grid.id)}}),
    ("GET", f"{CR}/organisations/{{organisation_id}}"): Row(roles=REG_PAGES, scope="territory"),
    # -- pages: participation (staff) ------------------------------------------------------------------------------
    ("GET", "/console/participation/notices"): Row(roles=PART_STAFF),
    ("GET", "/console/participation/notices/new"): Row(roles=PART_STAFF),
    ("POST", "/console/participation/notices"): Row(roles=PART_STAFF, sided=True, scope="territory", body=lambda c: {
        "data": {"unit_id": str(c.s.community.id), "title": "停电通知", "body": "周六上午检修线路停电。"}}),
    ("GET", "/console/participation/notices/{notice_id}"): Row(roles=PART_STAFF, scope="territory"),
    ("POST", "/console/participation/notices/{notice_id}"): Row(roles=PART_STAFF, scope="territory", body=lambda c: {
        "data": {"unit_id": str(c.s.community.id), "title": "停水通知（更正）", "body": "明日上午停水，请提前储水。"}}),
    ("POST", "/console/participation/notices/{notice_id}/withdraw"): Row(roles=PART_STAFF, scope="territory"),
    ("GET", "/console/participation/suggestions"): Row(roles=PART_STAFF),
    ("GET", "/console/participation/suggestions/{suggestion_id}"): Row(roles=PART_STAFF, scope="territory"),
    ("POST", "/console/participation/suggestions/{suggestion_id}/reply"): Row(roles=PART_STAFF, scope="territory",
                                                                             body=_form(body="已转交相关部门。")),
    # -- pages: administration -------------------------------------------------------------------------------------
    ("GET", "/console/admin/"): Row(roles=CONFIG),
    ("GET", "/console/admin/units/pick"): Row(roles=REGION_READ, body=lambda c: {"params": {"field": "unit_id"}}),
    ("GET", "/console/admin/categories"): Row(roles=CONFIG),
    ("GET", "/console/admin/categories/new"): Row(roles=CONFIG),
    ("POST", "/console/admin/categories"): Row(roles=CONFIG, body=_form(
        code="SJ-0199", name="共享单车乱停放", parent_code="SJ-01", default_department="CG", accept_hours="1",
        handle_hours="8", verify_hours="4", time_mode="working", urgency="normal", keywords="单车", description="")),
    ("GET", "/console/admin/categories/{code}"): Row(roles=CONFIG),
    ("POST", "/console/admin/categories/{code}"): Row(roles=CONFIG, body=_form(
        name="暴露垃圾", default_department="HW", accept_hours="1", handle_hours="12", verify_hours="4",
        time_mode="working", urgency="normal", keywords="垃圾", description="", is_active="1")),
    ("GET", "/console/admin/rules"): Row(roles=CONFIG),
    ("POST", "/console/admin/rules/test"): Row(roles=CONFIG, body=_form(category_code="SJ-0102", lon="119.1",
                                                                       lat="31.1", description="垃圾")),
    ("GET", "/console/admin/rules/new"): Row(roles=CONFIG),
    ("POST", "/console/admin/rules"): Row(roles=CONFIG, body=_form(
        name="夜间垃圾清运", priority="10", category_code="SJ-01", target_department="HW", confidence="0.5",
        enabled="1")),
    ("GET", "/console/admin/rules/{rule_key}"): Row(roles=CONFIG),
    ("POST", "/console/admin/rules/{rule_key}"): Row(roles=CONFIG, body=_form(
        name="测试规则（改）", priority="20", category_code="SJ-01", target_department="HW", confidence="0.1",
        enabled="1")),
    ("POST", "/console/admin/rules/{rule_key}/enabled"): Row(roles=CONFIG, body=_form(enabled="0")),
    ("GET", "/console/admin/calendar"): Row(roles=CONFIG),
    ("POST", "/console/admin/calendar"): Row(roles=CONFIG, body=_form(day="2026-05-06", is_workday="0",
                                                                     name="本地假日")),
    ("POST", "/console/admin/calendar/{day}/delete"): Row(roles=CONFIG),
    ("GET", "/console/admin/users"): Row(roles=_r(ADMIN)),
    ("GET", "/console/admin/users/new"): Row(roles=_r(ADMIN)),
    ("POST", "/console/admin/users"): Row(roles=_r(ADMIN), body=lambda c: {"data": {
        "username": "li_wg", "display_name": "李网格", "role": "grid_worker",
        "unit_ids": str(c.mw.sides["own"].grid.id), "department": "", "phone": ""}}),
    ("GET", "/console/admin/users/{user_id}"): Row(roles=_r(ADMIN), scope="territory"),
    ("POST", "/console/admin/users/{user_id}"): Row(roles=_r(ADMIN), scope="territory", body=lambda c: {"data": {
        "display_name": "王网格", "role": "grid_worker", "unit_ids": str(c.s.grid.id), "department": "",
        "phone": ""}}),
    ("POST", "/console/admin/users/{user_id}/password"): Row(roles=_r(ADMIN), scope="territory"),
    ("POST", "/console/admin/users/{user_id}/unlock"): Row(roles=_r(ADMIN), scope="territory"),
    ("POST", "/console/admin/users/{user_id}/active"): Row(roles=_r(ADMIN), scope="territory",
                                                          body=_form(active="0")),
    ("POST", "/console/admin/users/{user_id}/sessions"): Row(roles=_r(ADMIN), scope="territory"),
    # -- intelligence (智能研判) ---------------------------------------------------------------------------------
    ("GET", f"{API}/intel/cases/{{case_id}}/suggestions"): Row(roles=INTEL_READ, scope="case"),
    ("POST", f"{API}/intel/suggest"): Row(roles=REPORTERS, body=_j(description="路灯不亮已有三天")),
    ("POST", f"{API}/intel/cases/{{case_id}}/take"): Row(roles=INTEL_READ, scope="case",
                                                        body=_j(category_code="SJ-0102"), except_=_TAKE_422),
    ("GET", f"{API}/intel/models"): Row(roles=MODEL_ADMIN),
    ("POST", f"{API}/intel/models/{{model}}/{{version}}/activate"): Row(roles=MODEL_ADMIN),
    ("POST", f"{API}/intel/models/{{model}}/rollback"): Row(roles=MODEL_ADMIN),
    ("GET", f"{API}/intel/hot-issues"): Row(roles=INTEL_READ),
    ("GET", f"{API}/intel/hotspots"): Row(roles=INTEL_READ),
    ("GET", f"{API}/intel/risk"): Row(roles=INTEL_READ),
    ("GET", f"{API}/intel/warnings"): Row(roles=INTEL_READ),
    # leaders read warnings but do not decide them (intel:warn)
    ("POST", f"{API}/intel/warnings/{{warning_id}}/dismiss"): Row(roles=INTEL_READ, scope="territory",
                                                                 body=_j(reason="经核实为误报"), except_={LEAD: 403}),
    ("POST", f"{API}/intel/warnings/{{warning_id}}/convert"): Row(roles=INTEL_READ, scope="territory",
                                                                 except_={LEAD: 403}),
    ("GET", "/console/intel/"): Row(roles=INTEL_READ),
    ("GET", "/console/intel/hot"): Row(roles=INTEL_READ),
    ("GET", "/console/intel/hotspots.geojson"): Row(roles=INTEL_READ),
    ("GET", "/console/intel/risk"): Row(roles=INTEL_READ),
    ("GET", "/console/intel/warnings"): Row(roles=INTEL_READ),
    ("POST", "/console/intel/warnings/{warning_id}/dismiss"): Row(roles=INTEL_READ, scope="territory",
                                                                 body=_form(reason="经核实为误报"),
                                                                 except_={LEAD: 403}),
    ("POST", "/console/intel/warnings/{warning_id}/convert"): Row(roles=INTEL_READ, scope="territory",
                                                                 except_={LEAD: 403}),
    ("GET", "/console/intel/cases/{case_id}/suggestions"): Row(roles=INTEL_INTAKE, scope="case"),
    ("POST", "/console/intel/cases/{case_id}/take"): Row(
        roles=INTEL_INTAKE, scope="case", body=_form(category_code="SJ-0102"),
        except_={k: v for k, v in _TAKE_422.items() if k[0] != LEAD}),
    ("GET", "/console/intel/models"): Row(roles=MODEL_ADMIN),
    ("POST", "/console/intel/models/{model}/{version}/activate"): Row(roles=MODEL_ADMIN),
    ("POST", "/console/intel/models/{model}/rollback"): Row(roles=MODEL_ADMIN),
    ("POST", "/h5/suggest-category"): Row(roles=_r(RES), body=_form(description="路灯不亮已有三天")),
    ("POST", "/gw/suggest-category"): Row(roles=_r(GRID), body=_form(description="路灯不亮已有三天")),
    # -- IoT perception (物联感知) --------------------------------------------------------------------------------
    ("GET", f"{API}/iot/types"): Row(roles=IOT_READ),
    ("POST", f"{API}/iot/types"): Row(roles=IOT_ADMIN, body=_j(code="noise_meter", name="噪声监测", heartbeat_s=600)),
    ("PATCH", f"{API}/iot/types/{{code}}"): Row(roles=IOT_ADMIN, params={"code": lambda c: "smoke_detector"},
                                               body=_j(name="独立式烟感")),
    ("GET", f"{API}/iot/devices"): Row(roles=IOT_READ),
    ("GET", f"{API}/iot/devices/summary"): Row(roles=IOT_READ),
    ("POST", f"{API}/iot/devices"): Row(roles=IOT_ADMIN, body=lambda c: {"json": {
        "device_key": "MX-NEW-1", "type_code": "gas", "name": "燃气探测器",
        "unit_id": str(c.mw.sides["own"].grid.id)}}),
    ("POST", f"{API}/iot/devices/import"): Row(roles=IOT_ADMIN, body=_iot_workbook),
    ("GET", f"{API}/iot/devices/{{device_id}}"): Row(roles=IOT_READ, scope="territory"),
    ("PATCH", f"{API}/iot/devices/{{device_id}}"): Row(roles=IOT_ADMIN, scope="territory", body=_j(name="改名烟感")),
    ("GET", f"{API}/iot/devices/{{device_id}}/messages"): Row(roles=IOT_READ, scope="territory"),
    ("GET", f"{API}/iot/messages/rejected"): Row(roles=IOT_READ),
    ("GET", f"{API}/iot/rules"): Row(roles=IOT_READ),
    ("POST", f"{API}/iot/rules"): Row(roles=IOT_ADMIN, body=_j(name="燃气浓度偏高", type_code="gas", kind="telemetry",
                                                               condition="lel >= 10")),
    ("POST", f"{API}/iot/rules/test"): Row(roles=IOT_READ, body=_j(
        rule={"name": "试运行", "type_code": "gas", "kind": "telemetry", "condition": "lel >= 10"},
        payload={"lel": 12})),
    ("GET", f"{API}/iot/rules/{{rule_id}}"): Row(roles=IOT_READ),
    ("PATCH", f"{API}/iot/rules/{{rule_id}}"): Row(roles=IOT_ADMIN, body=_j(enabled=False)),
    ("DELETE", f"{API}/iot/rules/{{rule_id}}"): Row(roles=IOT_ADMIN),
    ("GET", f"{API}/iot/alerts"): Row(roles=IOT_READ),
    ("GET", f"{API}/iot/alerts/{{alert_id}}"): Row(roles=IOT_READ, scope="territory"),
    ("POST", f"{API}/iot/alerts/{{alert_id}}/close"): Row(roles=IOT_ADMIN, scope="territory",
                                                          body=_j(reason="现场核实为误报")),
    # -- rental housing (出租房屋): staff with rental:* in their area; the resident on the own side's room, of which
    # they are the landlord (rental:self)
    ("GET", f"{API}/rental/rooms"): Row(roles=RENTAL_READ),
    ("POST", f"{API}/rental/rooms"): Row(roles=RENTAL_ACT, body=_new_room),
    ("GET", f"{API}/rental/my/rooms"): Row(roles=_r(RES)),
    ("GET", f"{API}/rental/my/stays"): Row(roles=_r(RES)),
    ("GET", f"{API}/rental/my/keys"): Row(roles=_r(RES)),
    ("GET", f"{API}/rental/buildings"): Row(roles=RENTAL_ACT, body=lambda c: {"params": {"q": "own路"}}),
    ("GET", f"{API}/rental/rooms/{{room_id}}"): Row(roles=RENTAL_SEE, scope="rental"),
    ("PATCH", f"{API}/rental/rooms/{{room_id}}"): Row(roles=RENTAL_ACT, scope="rental", body=_j(note="已核查")),
    ("POST", f"{API}/rental/rooms/{{room_id}}/status"): Row(roles=RENTAL_ACT, scope="rental",
                                                            body=_j(status="active")),
    ("POST", f"{API}/rental/rooms/{{room_id}}/checkin-code"): Row(roles=RENTAL_ACT, scope="rental"),
    ("GET", f"{API}/rental/rooms/{{room_id}}/photos/{{attachment_id}}"): Row(
        roles=RENTAL_SEE, scope="rental", params={"attachment_id": lambda c: c.s.room_photo}),
    ("GET", f"{API}/rental/rooms/{{room_id}}/keys"): Row(roles=RENTAL_SEE, scope="rental"),
    ("POST", f"{API}/rental/rooms/{{room_id}}/landlord-key"): Row(roles=RENTAL_ACT, scope="rental"),
    ("POST", f"{API}/rental/stays"): Row(roles=RENTAL_ACT, body=_check_in),
    ("GET", f"{API}/rental/stays"): Row(roles=RENTAL_SEE,
                                        body=lambda c: {"params": {"room_id": str(c.mw.sides["own"].room.id)}}),
    ("GET", f"{API}/rental/stays/{{stay_id}}"): Row(roles=RENTAL_SEE, scope="rental"),
    ("POST", f"{API}/rental/stays/{{stay_id}}/check-out"): Row(roles=RENTAL_ACT, scope="rental", body=_j()),
    ("POST", f"{API}/rental/stays/{{stay_id}}/extend"): Row(roles=RENTAL_ACT, scope="rental",
                                                            body=lambda c: {"json": {"expected_move_out": (
                                                                c.s.stay.expected_move_out + _YEAR).isoformat()}}),
    ("GET", f"{API}/rental/stays/{{stay_id}}/photo"): Row(roles=RENTAL_SEE, scope="rental"),
    # a reveal needs pii:reveal too; a refused one is recorded
    ("POST", f"{API}/rental/stays/{{stay_id}}/reveal"): Row(roles=_r(GRID, COMM, STREET, CMD), scope="rental",
                                                            body=_j(reason="核实身份"),
                                                            refusal_writes=AUDITED_REFUSAL),
    ("GET", f"{API}/rental/stays/{{stay_id}}/deliveries"): Row(roles=RENTAL_READ, scope="rental"),
    ("POST", f"{API}/rental/keys/{{key_id}}/renew"): Row(roles=RENTAL_ACT, scope="rental"),
    ("POST", f"{API}/rental/keys/{{key_id}}/revoke"): Row(roles=RENTAL_ACT, scope="rental", body=_j(reason="钥匙丢失")),
    ("GET", f"{API}/rental/deliveries"): Row(roles=RENTAL_READ),
    ("POST", f"{API}/rental/deliveries/{{delivery_id}}/redeliver"): Row(roles=RENTAL_WRITE, scope="rental"),
    ("GET", f"{API}/rental/counts"): Row(roles=RENTAL_READ),
    ("GET", f"{API}/rental/export"): Row(roles=_r(COMM, STREET, CMD)),
    # -- IoT perception pages (物联感知): iot:read in one's area; rules, types and the import iot:admin ----------
    ("GET", "/console/iot/"): Row(roles=IOT_READ),
    ("GET", "/console/iot/devices.geojson"): Row(roles=IOT_READ),
    ("GET", "/console/iot/devices"): Row(roles=IOT_READ),
    ("GET", "/console/iot/devices/{device_id}"): Row(roles=IOT_READ, scope="territory"),
    ("GET", "/console/iot/alerts"): Row(roles=IOT_READ),
    ("POST", "/console/iot/alerts/{alert_id}/close"): Row(roles=IOT_ADMIN, scope="territory",
                                                          body=_form(reason="现场核实为误报")),
    ("POST", "/console/iot/devices/{device_id}/status"): Row(roles=IOT_ADMIN, scope="territory",
                                                             body=_form(enabled="0")),
    ("GET", "/console/iot/rules"): Row(roles=IOT_ADMIN),
    ("GET", "/console/iot/rules/new"): Row(roles=IOT_ADMIN),
    ("GET", "/console/iot/rules/sample"): Row(roles=IOT_ADMIN),
    ("POST", "/console/iot/rules/test"): Row(roles=IOT_ADMIN, body=_iot_rule_form),
    ("POST", "/console/iot/rules"): Row(roles=IOT_ADMIN, body=_iot_rule_form),
    ("GET", "/console/iot/rules/{rule_id}"): Row(roles=IOT_ADMIN),
    ("POST", "/console/iot/rules/{rule_id}"): Row(roles=IOT_ADMIN, body=_iot_rule_form),
    ("POST", "/console/iot/rules/{rule_id}/enabled"): Row(roles=IOT_ADMIN, body=_form(enabled="0")),
    ("GET", "/console/iot/types"): Row(roles=IOT_ADMIN),
    ("GET", "/console/iot/import"): Row(roles=IOT_ADMIN),
    ("GET", "/console/iot/import/template.xlsx"): Row(roles=IOT_ADMIN),
    ("POST", "/console/iot/import"): Row(roles=IOT_ADMIN, body=_iot_workbook),
    ("GET", "/screen/iot.json"): Row(roles=DASHBOARD),  # the screen's device-alert panel: dashboard and iot:read
    # 4E evaluation, manual indicators (填报): a community's form in each state (routematrix_world.EVAL_FORM_PERIODS)
    ("GET", f"{API}/eval/forms/{{dataset}}/{{period}}/units/{{unit_code}}"): Row(roles=EVAL_READ, scope="territory"),
    ("PUT", f"{API}/eval/forms/{{dataset}}/{{period}}/units/{{unit_code}}"): Row(
        roles=EVAL_FILL, scope="territory", body=_j(values=EVAL_FORM_VALUES)),
    ("POST", f"{API}/eval/forms/{{dataset}}/{{period}}/units/{{unit_code}}/submit"): Row(
        roles=EVAL_FILL, scope="territory", body=_j(values=EVAL_FORM_VALUES)),
    ("POST", f"{API}/eval/forms/{{dataset}}/{{period}}/units/{{unit_code}}/approve"): Row(
        roles=EVAL_APPROVE, scope="territory", body=_j(), params=_eval_period("submitted")),
    ("POST", f"{API}/eval/forms/{{dataset}}/{{period}}/units/{{unit_code}}/return"): Row(
        roles=EVAL_APPROVE, scope="territory", body=_j(reason="数据需核实"), params=_eval_period("submitted")),
    ("POST", f"{API}/eval/forms/{{dataset}}/{{period}}/units/{{unit_code}}/lock"): Row(
        roles=EVAL_LOCK, scope="territory", body=_j(), params=_eval_period("approved")),
    ("POST", f"{API}/eval/forms/{{dataset}}/{{period}}/units/{{unit_code}}/unlock"): Row(
        roles=EVAL_ADMIN, scope="territory", body=_j(reason="更正数据"), params=_eval_period("locked")),
    ("GET", f"{API}/eval/forms/{{dataset}}/{{period}}/completeness"): Row(roles=EVAL_READ),
    ("POST", f"{API}/eval/forms/{{dataset}}/{{period}}/remind"): Row(roles=EVAL_APPROVE),
    ("GET", f"{API}/eval/forms/{{dataset}}/{{period}}/template.xlsx"): Row(roles=EVAL_FILL),
    ("POST", f"{API}/eval/forms/{{dataset}}/{{period}}/upload"): Row(roles=EVAL_FILL, body=_eval_workbook),
    ("GET", "/console/eval/forms"): Row(roles=EVAL_READ),
    ("GET", "/console/eval/forms/"): Row(roles=EVAL_READ),
    ("POST", "/console/eval/forms/remind"): Row(roles=EVAL_APPROVE, body=_form(
        dataset="it_monthly", period=EVAL_FORM_PERIODS["draft"])),
    ("GET", "/console/eval/forms/template.xlsx"): Row(roles=EVAL_FILL, body=lambda c: {"params": {
        "dataset": "it_monthly", "period": EVAL_FORM_PERIODS["draft"]}}),
    ("POST", "/console/eval/forms/upload"): Row(roles=EVAL_FILL, body=lambda c: _eval_workbook(c, page=True)),
    ("GET", "/console/eval/forms/{dataset}/{period}/{unit_code}"): Row(roles=EVAL_READ, scope="territory"),
    ("POST", "/console/eval/forms/{dataset}/{period}/{unit_code}"): Row(roles=EVAL_FILL, scope="territory", body=_form(
        step="save", **{f"v_{k}": str(v) for k, v in EVAL_FORM_VALUES.items()})),
    # -- 4E evaluation (4E 评估): eval:read, a unit of one's own subtree (another's reads as not found) ----------
    ("GET", "/console/eval/"): Row(roles=EVAL_READ, sided=True, scope="territory", body=_eval_unit()),
    ("GET", "/console/eval/indicator"): Row(roles=EVAL_READ, sided=True, scope="territory",
                                            body=_eval_unit(indicator="E2_ON_TIME")),
    ("GET", "/console/eval/ranking"): Row(roles=EVAL_READ),
    ("GET", "/console/eval/equity"): Row(roles=EVAL_READ),
    # the 4E administrators' pages (eval:admin): the framework, weights with what-if and AHP, runs
    ("GET", "/console/eval/indicators"): Row(roles=EVAL_ADMIN),
    ("GET", "/console/eval/indicators/{code}"): Row(roles=EVAL_ADMIN, params={"code": lambda c: "E2_ON_TIME"}),
    ("POST", "/console/eval/indicators/{code}"): Row(roles=EVAL_ADMIN, params={"code": lambda c: "E2_ON_TIME"},
                                                     body=_form(**_EVAL_INDICATOR)),
    ("GET", "/console/eval/weights"): Row(roles=EVAL_ADMIN),
    ("POST", "/console/eval/weights"): Row(roles=EVAL_ADMIN, body=_form(name="矩阵权重", w_E1="0.25")),
    ("POST", "/console/eval/weights/preview"): Row(roles=EVAL_ADMIN, body=_form(w_E1="0.25", period="2026-10")),
    ("GET", "/console/eval/weights/ahp"): Row(roles=EVAL_ADMIN),
    ("POST", "/console/eval/weights/ahp"): Row(roles=EVAL_ADMIN, body=_form(group="E")),
    ("GET", "/console/eval/runs"): Row(roles=EVAL_ADMIN),
    ("POST", "/console/eval/runs"): Row(roles=EVAL_ADMIN, body=_form(period="2026-10")),
    ("GET", "/console/eval/ranking.geojson"): Row(roles=EVAL_READ),
    ("GET", "/console/eval/report"): Row(roles=EVAL_READ, sided=True, scope="territory",
                                         body=_eval_unit(format="xlsx")),
    ("GET", f"{API}/eval/periods"): Row(roles=EVAL_READ),
    ("GET", f"{API}/eval/scorecard"): Row(roles=EVAL_READ, sided=True, scope="territory", body=_eval_unit()),
    ("GET", f"{API}/eval/indicator"): Row(roles=EVAL_READ, sided=True, scope="territory",
                                          body=_eval_unit(indicator="E2_ON_TIME")),
    ("GET", f"{API}/eval/ranking"): Row(roles=EVAL_READ),
}
