"""A streaming read replica, for real: a primary and a replica as two PostgreSQL clusters on loopback ports
(``tests/pgcluster.py``: initdb + ``pg_basebackup -R``), the application pointed at them with
``ZHILI_DATABASE_URL`` and ``ZHILI_READ_DATABASE_URL``.

Which server answered is proved by the data: replay is paused on the replica (``pg_wal_replay_pause()``), a case is
reported on the primary, and a read served by the replica cannot show it. The read paths (screen, dashboards,
analytics, exports, 4E) read the replica; the writer's own reads wait for the replica to replay its write or go to
the primary (read-your-writes); a replica too far behind is not read; a dead replica costs no request more than a
failed connect — its reads go to the primary (the designed behaviour, docs/reliability.md "Read replica") or, when
so configured, answer 503 — and it is read again once it is back.

The clusters are the test's own, so it runs in one pass of ``make test`` only: the PostgreSQL pass.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import pgcluster
from testmodules import TESTS, load
from zhili.cli import app as cli
from zhili.core import replica
from zhili.core.db import get_engine, get_read_engine, make_engine, set_engine, set_read_engine
from zhili.core.settings import get_settings

pytestmark = [
    pgcluster.needs_pg_server_binaries,
    pytest.mark.skipif(not (os.environ.get("ZHILI_TEST_DATABASE_URL") or "").startswith("postgresql"),
                       reason="starts its own PostgreSQL clusters: run once, in the PostgreSQL pass"),
]

root = load("zhili_tests_replica_root", TESTS / "conftest.py")
dashboard_kit = load("zhili_tests_replica_dashboard", TESTS / "dashboard" / "conftest.py")

FAST_S = 2.0  # a read while the replica is dead answers within this (no connect timeout per request)


@dataclass
class Site:
    primary: pgcluster.PgCluster
    standby: pgcluster.PgCluster
    engine: Engine
    app: Any
    world: Any
    grid_id: str

    def client(self, who: str) -> TestClient:
        """A client of its own (its own cookie jar) signed in as ``who`` for the API and the pages."""
        c = TestClient(self.app, raise_server_exceptions=False)
        c.headers["Authorization"] = f"Bearer {self.world.tokens[who]}"
        c.cookies.set("zhili_session", self.world.tokens[who])
        return c

    def report(self, client: TestClient, text_: str) -> str:
        r = client.post("/api/v1/cases", json={"category_code": "TA-0101", "channel": "hotline", "lon": 119.1,
                                               "lat": 31.1, "description": text_})
        assert r.status_code == 201, r.text
        return str(r.json()["number"])

    def grid_numbers(self, client: TestClient) -> set[str]:
        r = client.get(f"/api/v1/dashboard/grids/{self.grid_id}/cases")
        assert r.status_code == 200, r.text
        return {p["number"] for p in r.json()["points"]}

    def pause(self) -> None:
        self.standby.sql("SELECT pg_wal_replay_pause()", "zhili")

    def resume(self) -> None:
        self.standby.sql("SELECT pg_wal_replay_resume()", "zhili")
        self.standby.wait_replayed(self.primary)

    def audit_count(self, action: str) -> int:
        from zhili.core.audit import AuditEvent

        with Session(self.engine) as s:
            return int(s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))
                       or 0)


def _configure(monkeypatch: pytest.MonkeyPatch, **values: Any) -> None:
    for key, value in values.items():
        monkeypatch.setenv(f"ZHILI_{key.upper()}", str(value))
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    from zhili.app import create_app
    from zhili.core import migrate

    previous = get_engine()
    with pgcluster.primary_and_replica() as (primary, standby), pytest.MonkeyPatch.context() as mp:
        primary.sql("CREATE DATABASE zhili")
        engine = make_engine(primary.url("zhili"))
        with engine.begin() as conn:
            migrate.upgrade(connection=conn)
        with Session(engine) as s:
            dashboard_kit.add_taxonomy(s)
            world = root.build_world(s, only={"zhihui", "lingdao", "admin"})
            grid_id = str(world.units["ga"].id)
            s.commit()
        standby.wait_replayed(primary)
        _configure(mp, database_url=primary.url("zhili"), read_database_url=standby.url("zhili"),
                   read_max_lag_s=300, read_check_interval_s=0, read_retry_s=1, read_on_replica_down="primary")
        set_engine(engine)  # the replica's engine is derived from the settings, as in a served process
        replica.reset_router()
        app = create_app()
        try:
            with TestClient(app):  # the lifespan: key material checked, the intake writer stopped at the end
                yield Site(primary, standby, engine, app, world, grid_id)
        finally:
            read_engine = get_read_engine()
            if read_engine is not None:
                read_engine.dispose()
            set_engine(previous)
            replica.reset_router()
            get_settings.cache_clear()
            engine.dispose()
    get_settings.cache_clear()
    set_read_engine(None, configured=False)


@pytest.fixture
def settings_env(site: Site) -> Iterator[pytest.MonkeyPatch]:
    """Settings changed by one test only (restored afterwards)."""
    with pytest.MonkeyPatch.context() as mp:
        yield mp
    get_settings.cache_clear()


def test_the_read_paths_are_served_by_the_replica_and_a_writer_reads_its_own_writes(
        site: Site, caplog: pytest.LogCaptureFixture) -> None:
    writer, viewer, exporter = site.client("zhihui"), site.client("lingdao"), site.client("zhihui")
    before = site.report(writer, "回放前的事件")
    site.resume()
    assert before in site.grid_numbers(viewer)

    site.pause()
    try:
        new = site.report(writer, "副本暂停回放时上报的事件")
        assert "zhili_rw" in writer.cookies  # the primary's WAL position after the write
        assert new not in site.grid_numbers(viewer)  # the replica has not replayed it: the read was the replica's
        assert new in site.grid_numbers(writer)  # the writer's own read waits for nothing: the primary served it
        assert new not in site.grid_numbers(exporter)  # same user, another device without the cookie: the replica

        # an export read on the replica: its audit entry is written on the primary
        exports = site.audit_count("case.export")
        r = exporter.get("/api/v1/cases/export.xlsx")
        assert r.status_code == 200 and r.content.startswith(b"PK")
        assert site.audit_count("case.export") == exports + 1

        # every route that may read the replica answers from it while it is paused (none writes there)
        with caplog.at_level(logging.DEBUG, logger="zhili.replica"):
            for path in ("/screen", "/api/v1/dashboard/kpis", "/api/v1/dashboard/breakdown",
                         "/api/v1/dashboard/trend", "/api/v1/dashboard/categories", "/api/v1/dashboard/ranking",
                         "/api/v1/intel/hot-issues", "/api/v1/intel/warnings", "/api/v1/intel/risk",
                         "/api/v1/intel/hotspots", "/console/intel/hot", "/console/intel/warnings",
                         "/console/intel/risk", "/api/v1/eval/periods", "/console/eval/", "/console/eval/ranking",
                         "/console/eval/equity", "/console/registry/persons/export.xlsx",
                         "/api/v1/registry/buildings/export", "/console/cases/export.xlsx"):
                caplog.clear()
                status = exporter.get(path).status_code
                assert status < 500, (path, status)
                assert f"{path}: read on replica" in caplog.text, path
    finally:
        site.resume()
    assert new in site.grid_numbers(viewer)  # replayed: the replica shows it


def test_a_replica_too_far_behind_is_not_read(site: Site, settings_env: pytest.MonkeyPatch) -> None:
    writer, viewer = site.client("zhihui"), site.client("lingdao")
    _configure(settings_env, read_max_lag_s=1)
    site.pause()
    try:
        new = site.report(writer, "副本落后时上报的事件")
        time.sleep(1.5)  # the replica's last replayed transaction is now older than the 1 s allowed
        assert new in site.grid_numbers(viewer)  # the primary served the read
        from zhili.workbench import health

        with Session(site.engine) as s:
            check = health.system_health(s)[2]
        assert (check.key, check.status, check.detail) == ("replica", "problem", "replica_behind")
    finally:
        site.resume()
    with Session(site.engine) as s:
        check = health.system_health(s)[2]
    assert (check.key, check.status, check.detail, check.params["kb"]) == ("replica", "ok", "replica_ok", "0")
    checked = CliRunner().invoke(cli, ["check"])
    assert checked.exit_code == 0 and "只读副本" in checked.output, checked.output


def test_a_dead_replica_sends_its_reads_to_the_primary_at_once_and_is_read_again_when_back(
        site: Site, settings_env: pytest.MonkeyPatch) -> None:
    from zhili.workbench import health

    writer, viewer = site.client("zhihui"), site.client("lingdao")
    site.standby.stop("immediate")
    try:
        new = site.report(writer, "副本停机时上报的事件")
        for _ in range(3):  # the first read finds the replica dead, the next ones skip it (the breaker)
            start = time.monotonic()
            assert new in site.grid_numbers(viewer)
            assert time.monotonic() - start < FAST_S
        assert site.client("lingdao").get("/screen").status_code == 200
        with Session(site.engine) as s:
            check = health.system_health(s)[2]
        assert (check.key, check.status, check.detail) == ("replica", "problem", "replica_down_primary")
        checked = CliRunner().invoke(cli, ["check"])
        assert checked.exit_code == 1 and "只读副本" in checked.output  # `zhili check` names it as a problem

        _configure(settings_env, read_on_replica_down="fail")  # a deployment that would rather fail clearly
        start = time.monotonic()
        r = viewer.get(f"/api/v1/dashboard/grids/{site.grid_id}/cases")
        assert time.monotonic() - start < FAST_S
        assert r.status_code == 503 and r.json()["code"] == "read_replica_unavailable"
        assert "只读库" in r.json()["message"]
        assert writer.get(f"/api/v1/cases?number={new}").status_code == 200  # the case loop never needs it
        _configure(settings_env, read_on_replica_down="primary")
    finally:
        site.standby.start()
    site.standby.wait_replayed(site.primary)
    time.sleep(1.2)  # the breaker's retry time (read_retry_s = 1)
    assert new in site.grid_numbers(viewer)
    site.pause()
    try:
        later = site.report(writer, "副本恢复后上报的事件")
        assert later not in site.grid_numbers(viewer)  # the replica serves the reads again
    finally:
        site.resume()
    with Session(site.engine) as s:
        assert health.system_health(s)[2].status == "ok"
