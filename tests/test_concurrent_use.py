"""Several people using the console at once on the default SQLite database: no answer is a 500.

A busy database means waiting its turn (the write path's lock, ``BEGIN IMMEDIATE``, the busy timeout) or, where
waiting is not enough, a 503 with a Chinese "try again" message — never a server error. Exports read in a read
transaction of their own and write their audit entry afterwards in a short write transaction: a read that a writer
overtook is never turned into a write (SQLite refuses that upgrade at once, whatever the busy timeout).

The application runs in-process over a scratch database that commits for real (SQLite file, or a PostgreSQL schema
with ``ZHILI_TEST_DATABASE_URL``), with its real dependencies (no test session), behind one client shared by
threads: sync routes run concurrently in the server's thread pool as they do under uvicorn. ``ZHILI_STRESS=1``
(``make stress``) runs the mixed load longer, with more people.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

import zhili.core.db as zdb
from testmodules import TESTS, load
from zhili.core.audit import AuditEvent, verify_chain
from zhili.core.db import busy_error, set_engine

casekit = load("casekit", TESTS / "cases" / "casekit.py")
STRESS = os.environ.get("ZHILI_STRESS") == "1"
API = "/api/v1"
XLSX = b"PK"  # a workbook is a zip file


@dataclass
class Served:
    client: TestClient
    engine: Engine
    world: Any
    buildings: list[str]

    def call(self, who: str, method: str, url: str, **kw: Any) -> Any:
        """A request as ``who``: the API with a bearer token, a page with the session cookie."""
        headers = dict(kw.pop("headers", None) or {})
        token = self.world.tokens[who]
        if url.startswith(API):
            headers["Authorization"] = f"Bearer {token}"
        else:
            headers["Cookie"] = f"zhili_session={token}"
        return self.client.request(method, url, headers=headers, follow_redirects=False, **kw)

    def audits(self, action: str) -> int:
        with Session(self.engine) as s:
            return int(s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))
                       or 0)


@pytest.fixture
def served(tmp_path: Any, _shared_app: Any) -> Iterator[Served]:
    """The application on a scratch database holding the test world, the test taxonomy and a few buildings."""
    with casekit.scratch_database(tmp_path) as scratch:
        eng = scratch.engine()
        with Session(eng, expire_on_commit=False) as s:
            world = casekit.root.build_world(s)
            casekit.add_taxonomy(s)
            world.users["bumen"].department = "CG"
            s.commit()
        previous = zdb._engine
        set_engine(eng)
        try:
            with TestClient(_shared_app, raise_server_exceptions=False) as client:
                srv = Served(client=client, engine=eng, world=world, buildings=[])
                grid = str(world.units["ga"].id)
                for i in range(12):
                    r = srv.call("wangge_a", "POST", f"{API}/registry/buildings",
                                 json={"grid_id": grid, "name": f"{i + 1}幢", "address": f"金陵路{i + 1}号"})
                    assert r.status_code == 201, r.text
                    srv.buildings.append(r.json()["id"])
                yield srv
        finally:
            set_engine(previous)
            eng.dispose()


# The exports a console user can start, each as (who, method, url, json body, audit action).
EXPORTS: dict[str, tuple[str, str, str, Any, str]] = {
    "cases (API)": ("zhihui", "GET", f"{API}/cases/export.xlsx", None, "case.export"),
    "register (API, GET)": ("zhihui", "GET", f"{API}/registry/buildings/export", None, "registry.export"),
    "register (API, POST)": ("zhihui", "POST", f"{API}/registry/buildings/export", {}, "registry.export"),
    "register (console page)": ("zhihui", "GET", "/console/registry/buildings/export.xlsx", None, "registry.export"),
}


def _export(srv: Served, name: str) -> Any:
    who, method, url, body, _ = EXPORTS[name]
    return srv.call(who, method, url, **({"json": body} if body is not None else {}))


def _edit(srv: Served, building: str, note: str) -> Any:
    return srv.call("wangge_a", "PATCH", f"{API}/registry/buildings/{building}", json={"note": note})


def _pause_workbooks(monkeypatch: pytest.MonkeyPatch, paused: threading.Event, resume: threading.Event) -> None:
    """The first workbook row an export writes (after it has read what it exports) waits for ``resume``."""
    from zhili.cases import export as case_export
    from zhili.registry import excel

    once = threading.Lock()

    def hold(real: Callable[..., Any]) -> Callable[..., Any]:
        def row_values(*args: Any, **kw: Any) -> Any:
            if once.acquire(blocking=False):
                paused.set()
                assert resume.wait(30), "the test never resumed the export"
            return real(*args, **kw)
        return row_values

    monkeypatch.setattr(case_export, "row_values", hold(case_export.row_values))
    monkeypatch.setattr(excel, "row_values", hold(excel.row_values))


@pytest.mark.parametrize("name", list(EXPORTS))
def test_an_export_overtaken_by_a_writer_holds_no_write_lock_and_is_answered_and_audited(
        served: Served, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """While an export has read its rows and is building the workbook, another user's edit commits (the export
    holds no write lock); the export is then answered in full and its audit entry written after the edit's."""
    paused, resume = threading.Event(), threading.Event()
    _pause_workbooks(monkeypatch, paused, resume)
    before = served.audits(EXPORTS[name][4])
    got: dict[str, Any] = {}
    exporter = threading.Thread(target=lambda: got.setdefault("export", _export(served, name)))
    exporter.start()
    try:
        assert paused.wait(30), "the export never reached its workbook"
        editor = threading.Thread(target=lambda: got.setdefault("edit", _edit(served, served.buildings[0], "修缮")))
        editor.start()
        editor.join(15)
        assert not editor.is_alive(), "an edit waited for an export: the export holds the write lock"
    finally:
        resume.set()
        exporter.join(60)
    assert got["edit"].status_code == 200, got["edit"].text
    r = got["export"]
    assert r.status_code == 200, r.text[:500]
    assert r.content.startswith(XLSX)
    assert served.audits(EXPORTS[name][4]) == before + 1
    with Session(served.engine) as s:
        seqs = dict(s.execute(select(AuditEvent.action, func.max(AuditEvent.seq)).where(
            AuditEvent.action.in_(["building.update", EXPORTS[name][4]])).group_by(AuditEvent.action)).all())
        assert seqs[EXPORTS[name][4]] > seqs["building.update"]
        assert verify_chain(s).ok


def test_mixed_load_of_exports_reports_workflow_steps_and_register_edits_answers_no_5xx(served: Served) -> None:
    """People at once — some exporting (every export route), some reporting cases and accepting them, some editing
    the register — all start together: every answer is a success, every export is audited once, the chain holds."""
    rounds = 12 if STRESS else 3
    exporters, editors, reporters = (8, 4, 4) if STRESS else (4, 2, 2)
    start = threading.Barrier(exporters + editors + reporters, timeout=60)
    statuses: Counter[tuple[str, int]] = Counter()
    failures: list[str] = []
    lock = threading.Lock()

    def note(kind: str, r: Any) -> None:
        with lock:
            statuses[(kind, r.status_code)] += 1
            if not 200 <= r.status_code < 300:
                failures.append(f"{kind}: {r.status_code} {r.text[:300]}")

    def export(i: int) -> None:
        names = list(EXPORTS)
        start.wait()
        for k in range(rounds):
            name = names[(i + k) % len(names)]
            r = _export(served, name)
            note(f"export {name}", r)
            if r.status_code == 200 and not r.content.startswith(XLSX):
                failures.append(f"export {name}: not a workbook")

    def edit(i: int) -> None:
        start.wait()
        for k in range(rounds * 2):
            note("register edit", _edit(served, served.buildings[i], f"第{k}次巡查"))

    def report(i: int) -> None:
        start.wait()
        for k in range(rounds):
            r = served.call("jumin", "POST", f"{API}/cases", headers={"Idempotency-Key": uuid.uuid4().hex},
                            json={"category_code": "T0101", "description": f"垃圾堆放 {i}-{k}", "lon": 119.1,
                                  "lat": 31.1})
            note("report", r)
            if r.status_code == 201:
                note("accept", served.call("zhihui", "POST", f"{API}/cases/{r.json()['id']}/actions/accept",
                                           json={}))

    threads = ([threading.Thread(target=export, args=(i,)) for i in range(exporters)]
               + [threading.Thread(target=edit, args=(i,)) for i in range(editors)]
               + [threading.Thread(target=report, args=(i,)) for i in range(reporters)])
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not [t for t in threads if t.is_alive()], "a request never came back"
    assert not failures, "\n".join(failures[:20])
    exports = sum(n for (kind, _), n in statuses.items() if kind.startswith("export"))
    assert exports == exporters * rounds
    assert served.audits("case.export") + served.audits("registry.export") == exports
    assert statuses[("accept", 200)] == reporters * rounds
    with Session(served.engine) as s:
        assert verify_chain(s).ok


@pytest.mark.skipif(not STRESS, reason="the long run against a served demo district: ZHILI_STRESS=1 (make stress)")
def test_a_served_demo_district_under_mixed_load_answers_no_5xx_and_logs_no_lock_error(tmp_path: Any) -> None:
    """A real ``zhili serve`` on SQLite over the seeded small demo district with its case history (real sizes:
    the person register, months of cases): console users export while others report, accept and edit."""
    import httpx
    from shapely.geometry import shape

    live = load("liveserver", TESTS / "e2e" / "liveserver.py")
    # Reports wait in the command centre's queue (no automatic dispatch), so each can be accepted.
    with live.live_server(tmp_path / "served", cases=True, ZHILI_AUTO_DISPATCH_CONFIDENCE="1.0") as server:
        def client(who: str) -> Any:
            return httpx.Client(base_url=server.base_url, timeout=120,
                                headers={"Authorization": f"Bearer {server.token(who)}"})

        with client("zhihui") as api:
            cats = api.get(f"{API}/categories", params={"leaves_only": True}).raise_for_status().json()
            category = next(c["code"] for c in cats if c["is_active"] and c["kind"] == "event"
                            and not any(a.get("required") for a in c["attributes"]))
            grids = api.get(f"{API}/regions/boundaries", params={"level": "grid"}).raise_for_status().json()
        grid = next(f for f in grids["features"] if f["properties"]["name"] == server.logins["wangge1"]["unit"])
        point = shape(grid["geometry"]).representative_point()
        with client("wangge1") as api:
            buildings = [b["id"] for b in api.get(f"{API}/registry/buildings", params={"page_size": 8})
                         .raise_for_status().json()["items"]]
        cookie = {"Cookie": f"zhili_session={server.token('zhihui')}"}
        exports = [("GET", f"{API}/cases/export.xlsx", None, {}), ("POST", f"{API}/registry/persons/export", {}, {}),
                   ("GET", f"{API}/registry/households/export", None, {}),
                   ("GET", "/console/registry/persons/export.xlsx", None, cookie)]
        people = 4
        start = threading.Barrier(people * 3, timeout=120)
        failures: list[str] = []

        def check(kind: str, r: Any) -> Any:
            if not 200 <= r.status_code < 300:
                failures.append(f"{kind}: {r.status_code} {r.text[:300]}")
            return r

        def exporter(i: int) -> None:
            with client("zhihui") as api:
                start.wait()
                for k in range(4):
                    method, url, body, headers = exports[(i + k) % len(exports)]
                    check(f"export {url}", api.request(method, url, json=body, headers=headers))

        def editor(i: int) -> None:
            with client("wangge1") as api:
                start.wait()
                for k in range(16):
                    check("edit", api.patch(f"{API}/registry/buildings/{buildings[i % len(buildings)]}",
                                            json={"note": f"巡查 {i}-{k}"}))

        def reporter(i: int) -> None:
            with client("jumin") as resident, client("zhihui") as centre:
                start.wait()
                for k in range(8):
                    r = check("report", resident.post(f"{API}/cases", headers={"Idempotency-Key": uuid.uuid4().hex},
                                                      json={"category_code": category, "lon": point.x,
                                                            "lat": point.y, "description": f"压力测试 {i}-{k}"}))
                    if r.status_code == 201:
                        check("accept", centre.post(f"{API}/cases/{r.json()['id']}/actions/accept", json={}))

        threads = [threading.Thread(target=f, args=(i,)) for f in (exporter, editor, reporter) for i in range(people)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        log = server.log_tail(1_000_000)
    assert not failures, "\n".join(failures[:20])
    assert "database is locked" not in log and "unhandled error" not in log, log[-3000:]


# -- what is still busy after waiting: a 503 with a Chinese message, never a 500 ---------------------------------

def _sqlite_locked() -> OperationalError:
    """A real "database is locked" from the SQLite driver: a second writer that does not wait."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/locked.db"
        holder = sqlite3.connect(path, isolation_level=None)
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            holder.execute("BEGIN IMMEDIATE")
            try:
                other.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                return OperationalError("BEGIN IMMEDIATE", {}, exc)
        finally:
            other.close()
            holder.close()
    raise AssertionError("the second writer was not refused")


def _postgres_lock_timeout(engine: Engine) -> OperationalError:
    """A real lock timeout from PostgreSQL: a second transaction waiting for a row lock longer than lock_timeout."""
    with engine.connect() as holder, engine.connect() as other:
        holder.execute(text("LOCK TABLE audit_anchor IN ACCESS EXCLUSIVE MODE"))
        other.execute(text("SET LOCAL lock_timeout = '50ms'"))
        try:
            other.execute(text("SELECT count(*) FROM audit_anchor"))
        except OperationalError as exc:
            return exc
        finally:
            holder.rollback()
    raise AssertionError("the second transaction was not refused")


def _busy(served: Served) -> OperationalError:
    return _postgres_lock_timeout(served.engine) if served.engine.dialect.name == "postgresql" else _sqlite_locked()


def test_the_drivers_busy_errors_are_told_apart_from_other_database_errors(served: Served) -> None:
    import psycopg.errors as pg

    assert busy_error(_busy(served)) is not None
    for exc in (pg.SerializationFailure("could not serialize access"), pg.DeadlockDetected("deadlock detected"),
                pg.LockNotAvailable("could not obtain lock")):
        assert busy_error(OperationalError("UPDATE …", {}, exc)) is not None, type(exc).__name__
    for exc in (sqlite3.OperationalError("no such table: case"), pg.UndefinedTable("relation does not exist")):
        assert busy_error(OperationalError("SELECT …", {}, exc)) is None, exc
    assert busy_error(ValueError("database is locked")) is None


def test_a_database_still_busy_after_waiting_is_a_503_with_a_chinese_message_on_the_api_and_on_pages(
        served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    from zhili.registry import excel

    busy = _busy(served)

    def still_busy(*_: Any, **__: Any) -> Any:
        raise busy

    monkeypatch.setattr(excel, "export_workbook", still_busy)
    r = _export(served, "register (API, GET)")
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["code"] == "database_busy" and "稍后重试" in body["message"]
    assert int(r.headers["retry-after"]) >= 1
    page = _export(served, "register (console page)")
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert "稍后重试" in page.text and "事件编号" not in page.text  # the busy message, not the incident page
    assert int(page.headers["retry-after"]) >= 1
