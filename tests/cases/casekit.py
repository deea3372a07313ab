"""Helpers for the case-loop tests: an HTTP wrapper that checks every workflow step, a coverage recorder for
the transition table, a small taxonomy written as ORM rows, and a scratch database for tests that need real
commits (concurrency, restart).

The root ``tests/conftest.py`` is not importable as a module (``tests`` is not a package), so its world
builders are loaded from its file under a private name.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from zhili.cases.models import Case, CaseEvent, Category
from zhili.cases.notify import FakeChannel
from zhili.cases.workflow import TRANSITIONS, Transition
from zhili.core.audit import AuditEvent, verify_chain
from zhili.core.jurisdiction import Principal
from zhili.org.models import Department

_spec = importlib.util.spec_from_file_location("zhili_tests_root_conftest",
                                               Path(__file__).resolve().parent.parent / "conftest.py")
assert _spec is not None and _spec.loader is not None
root = sys.modules.get(_spec.name) or importlib.util.module_from_spec(_spec)
if _spec.name not in sys.modules:
    sys.modules[_spec.name] = root
    _spec.loader.exec_module(root)
make_user = root.make_user

API = "/api/v1"
TZ = ZoneInfo("Asia/Shanghai")
CN = "[\u4e00-\u9fff]"  # a Chinese character, for "the message is in Chinese"


def local(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> dt.datetime:
    """A Beijing wall-clock moment as an aware datetime."""
    return dt.datetime(y, mo, d, h, mi, tzinfo=TZ)


def as_local(moment: dt.datetime | str) -> dt.datetime:
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment.astimezone(TZ)


# -- the taxonomy used by these tests (independent of the shipped JSON) -----------------------------------

DEPARTMENTS = [("CG", "城管局", "城管", "department"), ("SW", "水务局", "水务", "department"),
               ("GA", "公安局", "公安", "police"), ("HB", "生态环境分局", "环保", "department"),
               # placeholders for "the community / street whose area holds the case" (fixtures/TAXONOMY.md)
               ("SQ", "社区（村）居民委员会", "社区/村", "community"),
               ("JD", "街道（乡镇）综合治理中心", "街道/乡镇", "street")]

CATEGORIES: list[dict[str, Any]] = [
    dict(code="T01", name="市容环境", kind="event", parent_code=None, is_leaf=False),
    dict(code="T0101", name="暴露垃圾", kind="event", parent_code="T01", default_department="CG", accept_hours=2,
         handle_hours=16, verify_hours=8, keywords=["垃圾"]),
    dict(code="T0102", name="占道经营", kind="event", parent_code="T01", default_department="CG", accept_hours=2,
         handle_hours=4, verify_hours=8),
    dict(code="T0109", name="旧分类（已停用）", kind="event", parent_code="T01", default_department="CG",
         accept_hours=2, handle_hours=8, verify_hours=8, is_active=False),
    dict(code="T02", name="公用设施", kind="component", parent_code=None, is_leaf=False),
    dict(code="T0201", name="井盖破损", kind="component", parent_code="T02", default_department="SW",
         accept_hours=1, handle_hours=24, verify_hours=4, time_mode="natural",
         attributes=[{"code": "material", "description": "井盖材质", "datatype": "singlevaluelist",
                      "values": [{"key": "铸铁", "name": "铸铁"}, {"key": "复合材料", "name": "复合材料"}]},
                     {"code": "diameter_cm", "description": "直径（厘米）", "datatype": "number"},
                     {"code": "note", "description": "补充说明", "datatype": "string"}]),
    dict(code="T0202", name="路灯故障", kind="component", parent_code="T02", default_department="CG",
         accept_hours=1, handle_hours=24, verify_hours=4,
         attributes=[{"code": "light_fault", "description": "故障情况", "datatype": "singlevaluelist",
                      "required": True, "values": [{"key": "off", "name": "不亮"}, {"key": "day", "name": "白天亮"}]},
                     {"code": "faults", "description": "其他问题", "datatype": "multivaluelist",
                      "values": [{"key": "pole", "name": "灯杆倾斜"}, {"key": "wire", "name": "电线裸露"}]},
                     {"code": "since", "description": "开始时间", "datatype": "datetime"}]),
    dict(code="T03", name="社会治安", kind="social", parent_code=None, is_leaf=False),
    dict(code="T0301", name="噪声扰民", kind="social", parent_code="T03", default_department="GA", accept_hours=1,
         handle_hours=8, verify_hours=4),
]


def add_taxonomy(db: Session) -> dict[str, Category]:
    for code, name, short, kind in DEPARTMENTS:
        db.add(Department(code=code, name=name, short_name=short, kind=kind))
    cats = {}
    for spec in CATEGORIES:
        c = Category(version=1, is_current=True, taxonomy_version="test", created_by="test",
                     **{"is_leaf": True, "is_active": True, "time_mode": "working", "keywords": [],
                        "attributes": [], **spec})
        db.add(c)
        cats[c.code] = c
    db.flush()
    return cats


def add_service_categories(db: Session) -> dict[str, Category]:
    """The service nodes the other case flows are filed under (居住证申领), as ``load_defaults`` adds them."""
    from zhili.cases.flows import SERVICE_CATEGORIES

    out = {}
    for spec in SERVICE_CATEGORIES:
        node = dict(spec)
        parent = node.pop("parent")
        c = Category(version=1, is_current=True, taxonomy_version="test", created_by="test", parent_code=parent,
                     is_leaf=parent is not None, is_active=True, keywords=[], attributes=[], **node)
        db.add(c)
        out[c.code] = c
    db.flush()
    return out


def build_world(db: Session) -> Any:
    """The root conftest's world (district → streets → communities → grids, users with tokens), for a session
    that is not the fixture's — used on scratch databases."""
    w = root.build_world(db, only={"zhihui", "bumen", "wangge_a", "jumin"})
    w.users["bumen"].department = "CG"
    db.flush()
    return w


# -- transition-table coverage ----------------------------------------------------------------------------

# (flow, action, source state, role) taken successfully by a user
EXERCISED: set[tuple[str, str, str, str]] = set()


def rows_for(action: str, state: str, role: str, flow: str = "event") -> list[int]:
    return [i for i, t in enumerate(TRANSITIONS)
            if t.action == action and state in t.sources and role in t.roles and flow in t.flows]


def uncovered(flow: str) -> list[str]:
    """The rows of ``flow`` no test has taken yet (a row shared by two flows counts once taken in either)."""
    covered = {i for f, a, s, r in EXERCISED for i in rows_for(a, s, r, f)}
    return [describe_row(t) for i, t in enumerate(TRANSITIONS) if flow in t.flows and i not in covered]


def describe_row(t: Transition) -> str:
    return f"{t.action}（{t.label}）from {sorted(s.value for s in t.sources)} by {sorted(r.value for r in t.roles)}"


# -- the HTTP kit -----------------------------------------------------------------------------------------

@dataclass
class Kit:
    client: Any
    world: Any
    db: Session
    fake: FakeChannel
    cats: dict[str, Category]
    users: dict[str, Any] = field(default_factory=dict)

    # plumbing
    def call(self, who: str | None, method: str, path: str, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", None) or {})
        if who:
            headers.update(self.world.headers(who))
        return self.client.request(method, path if path.startswith(API) else API + path, headers=headers, **kw)

    def get(self, who: str | None, path: str, **kw: Any) -> Any:
        return self.call(who, "GET", path, **kw)

    def post(self, who: str | None, path: str, **kw: Any) -> Any:
        return self.call(who, "POST", path, **kw)

    def patch(self, who: str | None, path: str, **kw: Any) -> Any:
        return self.call(who, "PATCH", path, **kw)

    def user(self, who: str) -> Any:
        return self.world.users[who]

    def principal(self, who: str) -> Principal:
        from zhili.users.service import principal_for_user

        return principal_for_user(self.db, user=self.user(who))

    def unit(self, name: str) -> Any:
        return self.world.units[name]

    # intake
    def report(self, who: str = "jumin", *, category: str = "T0101", lon: float | None = 119.1,
               lat: float | None = 31.1, description: str = "小区门口垃圾堆放三天无人清运", expect: int = 201,
               headers: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
        payload = {"category_code": category, "description": description, **body}
        if lon is not None:
            payload.update(lon=lon, lat=lat)
        r = self.post(who, "/cases", json=payload, headers=headers)
        assert r.status_code == expect, r.text
        return dict(r.json())

    # workflow
    def act(self, who: str, case: Any, action: str, **payload: Any) -> Any:
        cid = case["id"] if isinstance(case, dict) else case
        body = {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in payload.items()}
        return self.post(who, f"/cases/{cid}/actions/{action}", json=body)

    def state(self, case_id: Any) -> str:
        return str(self.db.scalar(select(Case.state).where(Case.id == uuid.UUID(str(case_id)))).value)

    def step(self, who: str, case: Any, action: str, *, to: str | None = None, **payload: Any) -> dict[str, Any]:
        """Take one workflow action and check everything a step must leave behind: the response, the
        timeline event (action, from/to state, actor), the audit event ``case.<action>`` and an intact chain."""
        cid = str(case["id"] if isinstance(case, dict) else case)
        before = self.state(cid)
        flow = str(self.db.scalar(select(Case.flow).where(Case.id == uuid.UUID(cid))))
        n_audit = len(self.audit(f"case.{action}", cid))
        r = self.act(who, cid, action, **payload)
        assert r.status_code == 200, (action, who, before, r.status_code, r.text)
        body = dict(r.json())
        after = body["state"]
        if to is not None:
            assert after == to, (action, before, after)
        u = self.user(who)
        ev = self.timeline(cid)[-1]
        assert (ev["action"], ev["from_state"], ev["to_state"]) == (action, before, after), ev
        # staff by their name; a resident (the reporter) as 上报人 — their account is in no timeline
        shown = "上报人" if u.role.value == "resident" else u.display_name
        assert ev["actor_name"] == shown and ev["actor_role"] == u.role.value, ev
        audits = self.audit(f"case.{action}", cid)
        assert len(audits) == n_audit + 1, f"no audit event case.{action}"
        assert audits[-1].actor_name == u.username
        assert audits[-1].before == {"state": before} and audits[-1].after["state"] == after
        chain = verify_chain(self.db)
        assert chain.ok, chain.problems
        assert rows_for(action, before, u.role.value, flow), (flow, action, before, u.role.value)
        EXERCISED.add((flow, action, before, u.role.value))
        return body

    def refused(self, who: str, case: Any, action: str, status: int, code: str, **payload: Any) -> dict[str, Any]:
        cid = str(case["id"] if isinstance(case, dict) else case)
        before = self.state(cid)
        r = self.act(who, cid, action, **payload)
        assert (r.status_code, r.json().get("code")) == (status, code), r.text
        assert self.state(cid) == before, "a refused action must not change the state"
        return dict(r.json())

    def timeline(self, case_id: Any, who: str = "zhihui") -> list[dict[str, Any]]:
        r = self.get(who, f"/cases/{case_id}/timeline")
        assert r.status_code == 200, r.text
        return list(r.json())

    def detail(self, case_id: Any, who: str = "zhihui") -> dict[str, Any]:
        r = self.get(who, f"/cases/{case_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def audit(self, action: str, object_id: Any = None) -> list[AuditEvent]:
        stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        if object_id is not None:
            stmt = stmt.where(AuditEvent.object_id == str(object_id))
        return list(self.db.scalars(stmt))

    def notes(self, who: str) -> list[dict[str, Any]]:
        r = self.get(who, "/notifications")
        assert r.status_code == 200, r.text
        return list(r.json())

    def events(self, case_id: Any) -> list[CaseEvent]:
        return list(self.db.scalars(select(CaseEvent).where(CaseEvent.case_id == uuid.UUID(str(case_id)))
                                    .order_by(CaseEvent.seq)))

    def case(self, case_id: Any) -> Case:
        c = self.db.get(Case, uuid.UUID(str(case_id)))
        assert c is not None
        self.db.refresh(c)
        return c

    # a case brought to a given point of the loop
    def dispatched(self, who: str = "jumin", *, department: str | None = "CG", unit: str | None = None,
                   **report: Any) -> dict[str, Any]:
        c = self.report(who, **report)
        assert c["state"] == "reported", c
        assert self.act("zhihui", c, "accept").status_code == 200
        target = {"department": department} if unit is None else {"unit_id": str(self.unit(unit).id)}
        r = self.act("zhihui", c, "dispatch", **target)
        assert r.status_code == 200, r.text
        return dict(r.json())


# -- scratch databases with real commits ------------------------------------------------------------------

@dataclass
class Scratch:
    """A separate, migrated database (SQLite file or a PostgreSQL schema) for tests that commit for real."""

    url: str
    connect_args: dict[str, Any]

    def engine(self) -> Engine:
        from zhili.core.db import make_engine

        return make_engine(self.url, connect_args=self.connect_args) if self.connect_args else \
            make_engine(self.url)


@contextmanager
def scratch_database(tmp_path: Path) -> Iterator[Scratch]:
    from zhili.core import migrate
    from zhili.core.db import make_engine

    url = os.environ.get("ZHILI_TEST_DATABASE_URL") or ""
    if url.startswith("postgresql"):
        schema = f"zs_{uuid.uuid4().hex[:10]}"
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        scratch = Scratch(url, {"options": f"-csearch_path={schema}"})
        eng = scratch.engine()
        try:
            with eng.begin() as conn:
                migrate.upgrade(connection=conn)
            eng.dispose()
            yield scratch
        finally:
            eng.dispose()
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
    else:
        scratch = Scratch(f"sqlite:///{tmp_path / 'scratch.db'}", {})
        migrate.upgrade(url=scratch.url)
        yield scratch
