"""The harness of the route matrix and the API fuzz: one world (``routematrix_world.py``) built in one outer
transaction, and one client whose every request runs in a savepoint rolled back afterwards, so an allowed state
change (a deletion, a workflow step) never leaks into the next request. The INSERT/UPDATE/DELETEs a request issued
are kept, so a refused request can be shown to have written nothing."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session

import routematrix_table as table
from routematrix_world import MatrixWorld, build

WRITE = re.compile(r"^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)


@dataclass
class Harness:
    conn: Connection
    client: TestClient
    mw: MatrixWorld
    session: Session | None = None
    writes: list[str] = field(default_factory=list)
    unknown: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def request(self, role: str, method: str, url: str, **kw: Any) -> Any:
        """Send one request as ``role`` (an API client with a bearer token, or a browser with the session cookie and
        the CSRF token); everything it did is rolled back afterwards, and its INSERT/UPDATE/DELETEs are kept in
        ``writes``."""
        token = self.mw.token(role)
        headers = dict(kw.pop("headers", None) or {})
        self.client.cookies.clear()
        if table.is_page(url):
            from zhili.web.csrf import ANON_COOKIE, token_for

            if token:
                self.client.cookies.set("zhili_session", token)
                binding = "session|" + token
            else:
                nonce = secrets.token_urlsafe(12)
                self.client.cookies.set(ANON_COOKIE, nonce)
                binding = "anon|" + nonce
            if method not in ("GET", "HEAD"):
                headers["X-CSRF-Token"] = token_for(binding)
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        with self.rolled_back():
            return self.client.request(method, url, headers=headers, follow_redirects=False, **kw)

    @contextmanager
    def rolled_back(self) -> Iterator[None]:
        """Requests sent inside run in one savepoint, rolled back at the end; their writes are kept in ``writes``."""
        savepoint = self.conn.begin_nested()
        self.session = Session(bind=self.conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        self.writes = []
        try:
            yield
        finally:
            self.session.close()
            self.session = None
            savepoint.rollback()

    def _on_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        m = WRITE.match(statement)
        if m:
            self.writes.append(m.group(2).lower())


@contextmanager
def open_harness(app: Any, engine: Engine, store: Path) -> Iterator[Harness]:
    """The matrix world built in one outer transaction (rolled back at the end) and a client whose every request
    runs in its own savepoint on that transaction."""
    from argon2 import PasswordHasher

    from zhili.cases import files, notify
    from zhili.cases.api import get_intake_writer
    from zhili.cases.writer import SessionWriter
    from zhili.core import security
    from zhili.core.db import database_key, settle
    from zhili.http.deps import ReadSessions, get_db, get_read_sessions
    from zhili.participation import sms

    # Passwords are hashed and checked in ~80 cells (sign-in, password changes, registration): cheap parameters
    # keep the matrix fast; what is tested is who gets through, not the hash.
    real_hasher, security._hasher = security._hasher, PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    files.set_store(files.LocalFileStore(store))
    notify.set_channels([notify.FakeChannel()])
    conn = engine.connect()
    outer = conn.begin()
    try:
        setup = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        mw = build(setup)
        setup.commit()
        setup.close()
        sms.set_sms_channel(notify.FakeChannel(name="sms"))
        h = Harness(conn=conn, client=TestClient(app, raise_server_exceptions=False), mw=mw)

        def _db() -> Iterator[Session]:
            assert h.session is not None
            with settle(h.session):  # as the real dependency: commit, roll back, or keep what a refusal leaves
                yield h.session

        app.dependency_overrides[get_db] = _db
        app.dependency_overrides[get_read_sessions] = lambda: ReadSessions(database=database_key(engine),
                                                                            open=contextmanager(_db))
        app.dependency_overrides[get_intake_writer] = lambda: SessionWriter(h.session)
        event.listen(engine, "before_cursor_execute", h._on_execute)  # every connection, not just the test's
        yield h
    finally:
        if "h" in locals():
            event.remove(engine, "before_cursor_execute", h._on_execute)
        app.dependency_overrides.clear()
        outer.rollback()
        conn.close()
        files.set_store(None)
        notify.set_channels(None)
        sms.set_sms_channel(None)
        security._hasher = real_hasher
