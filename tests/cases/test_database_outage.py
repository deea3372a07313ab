"""A database that cannot be reached (PostgreSQL restarting, a connection lost mid-request) is a clear 503 with a
Chinese message and ``Retry-After`` — from a route and from the intake writer — never a 500; and the writer files
reports again once the database answers. The live outage of a real cluster is ``test_pg_restart_intake.py``."""

from __future__ import annotations

import os
import re
import socket
from typing import Any

import psycopg
import psycopg.errors as pg
import pytest
from casekit import API, CN
from sqlalchemy.exc import InterfaceError, OperationalError

from zhili.cases import service
from zhili.cases.intake import IntakeRequest
from zhili.cases.models import Channel
from zhili.cases.writer import GroupCommitWriter
from zhili.core.db import busy_error, make_engine, unavailable_error
from zhili.core.errors import DatabaseUnavailable


def test_an_unreachable_database_is_told_apart_from_a_busy_one_and_from_other_errors() -> None:
    for exc in (psycopg.OperationalError("connection failed: Connection refused"),  # no SQLSTATE: the connection
                pg.AdminShutdown("terminating connection due to administrator command"),
                pg.CrashShutdown("terminating connection because of crash of another server process"),
                pg.CannotConnectNow("the database system is starting up"),
                pg.ConnectionFailure("server closed the connection unexpectedly")):
        assert isinstance(unavailable_error(OperationalError("SELECT …", {}, exc)), DatabaseUnavailable), exc
        assert busy_error(OperationalError("SELECT …", {}, exc)) is None
    assert unavailable_error(InterfaceError("SELECT …", {}, psycopg.InterfaceError("the connection is closed")))
    for exc in (pg.SerializationFailure("could not serialize access"), pg.UndefinedTable("relation does not exist"),
                pg.QueryCanceled("canceling statement due to statement timeout")):
        assert unavailable_error(OperationalError("SELECT …", {}, exc)) is None, exc
    assert unavailable_error(ValueError("connection refused")) is None


def test_a_route_meeting_an_unreachable_database_answers_503_with_retry_after(kit: Any,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*_: Any, **__: Any) -> Any:
        raise OperationalError("SELECT …", {}, pg.CannotConnectNow("the database system is starting up"))

    monkeypatch.setattr(service, "list_cases", down)
    r = kit.get("zhihui", f"{API}/cases")
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["code"] == "database_unavailable" and re.search(CN, body["message"])
    assert int(r.headers["retry-after"]) >= 1


def test_the_intake_writer_answers_503_with_retry_after_while_the_database_is_unreachable(kit: Any) -> None:
    """The writer's engine points at a port where nothing listens (refused at once, as while PostgreSQL restarts):
    the report is refused with the 503, and the writer thread carries on (it connects afresh for the next batch —
    that it then files again is shown on a real cluster by test_pg_restart_intake.py)."""
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    nowhere = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{dead}/none", pool_pre_ping=True)
    writer = GroupCommitWriter(engine=nowhere, timeout_s=30)
    request = IntakeRequest(principal=kit.principal("jumin"), channel=Channel.resident, idempotency_key="outage-1",
                            data={"category_code": "T0101", "description": "楼下垃圾桶满溢", "lon": 119.1,
                                  "lat": 31.1})
    try:
        with pytest.raises(DatabaseUnavailable) as refused:
            writer.submit(request)
        assert refused.value.status == 503 and refused.value.retry_after_s >= 1
        assert writer._thread is not None and writer._thread.is_alive()  # the thread carries on
    finally:
        writer.stop()
        nowhere.dispose()


def test_an_error_raised_while_a_lost_connection_is_handled_is_the_same_outage() -> None:
    """A clean-up step meeting the invalidated connection (SQLAlchemy's PendingRollbackError) is raised over the
    connection's loss: still a 503 with Retry-After, not "intake failed" (seen in the PostgreSQL outage test)."""
    from sqlalchemy.exc import PendingRollbackError

    lost = OperationalError("COMMIT", {}, psycopg.OperationalError("consuming input failed: server closed the "
                                                                   "connection unexpectedly"))
    try:
        try:
            raise lost
        finally:
            raise PendingRollbackError("Can't reconnect until invalid transaction is rolled back.")
    except PendingRollbackError as exc:
        assert isinstance(unavailable_error(exc), DatabaseUnavailable)
    assert unavailable_error(PendingRollbackError("no outage behind it")) is None


def test_a_connection_lost_inside_a_pipeline_surfaces_as_the_outage(engine: Any) -> None:
    """The intake writer's shape — a session over one connection, its transaction in a psycopg pipeline — with the
    connection cut before the commit (its socket shut, as when the server dies): what leaves the pipeline is the
    lost connection, told apart as a 503 — not the PendingRollbackError its clean-up used to raise over it."""
    if engine.dialect.name != "postgresql":
        pytest.skip("psycopg pipelines exist on PostgreSQL only (this runs in the PostgreSQL pass)")
    from sqlalchemy import text
    from sqlalchemy.exc import PendingRollbackError
    from sqlalchemy.orm import Session

    from zhili.core.db import driver_rows, pipeline

    conn = engine.connect()
    try:
        with pytest.raises(Exception) as caught, Session(bind=conn) as ws, pipeline(conn):
            driver_rows(conn, (text("SELECT 1"), None))
            fd = conn.connection.driver_connection.pgconn.socket
            with socket.socket(fileno=os.dup(fd)) as cut:
                cut.shutdown(socket.SHUT_RDWR)
            ws.commit()
        assert not isinstance(caught.value, PendingRollbackError), caught.value
        assert isinstance(unavailable_error(caught.value), DatabaseUnavailable), caught.value
    finally:
        conn.invalidate()
        conn.close()
