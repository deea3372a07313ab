"""Test fixtures: one migrated database per run (SQLite file, or a fresh PostgreSQL schema), and each test in a
transaction that is rolled back at the end.

``ZHILI_TEST_DATABASE_URL`` selects PostgreSQL; with ``ZHILI_REQUIRE_POSTGRES=1`` an unreachable server fails
the run instead of skipping.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

_KEYS = {
    "active": "k1",
    "keys": {"k1": base64.b64encode(b"\x01" * 32).decode()},
    "index_key": base64.b64encode(b"\x02" * 32).decode(),
    "session_secret": base64.b64encode(b"\x03" * 32).decode(),
}
os.environ["ZHILI_KEYS"] = json.dumps(_KEYS)
os.environ["ZHILI_ENV"] = "test"

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from zhili.core import migrate  # noqa: E402
from zhili.core.db import make_engine, set_engine, utcnow  # noqa: E402
from zhili.core.security import Role, token_digest  # noqa: E402


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get("ZHILI_TEST_DATABASE_URL") or "sqlite (temporary file)"
    return f"zhili test database: {url}"


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = os.environ.get("ZHILI_TEST_DATABASE_URL") or ""
    schema = None
    if url.startswith("postgresql"):
        schema = f"zt_{uuid.uuid4().hex[:10]}"
        admin = make_engine(url)
        try:
            with admin.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
        except Exception as exc:
            if os.environ.get("ZHILI_REQUIRE_POSTGRES"):
                raise RuntimeError(f"PostgreSQL required but unreachable at {url}: {exc}") from exc
            pytest.skip(f"PostgreSQL unreachable: {exc}")
        eng = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    else:
        db_file = tmp_path_factory.mktemp("db") / "zhili-test.db"
        eng = make_engine(f"sqlite:///{db_file}")
    with eng.begin() as conn:
        migrate.upgrade(connection=conn)
    set_engine(eng)
    yield eng
    set_engine(None)
    eng.dispose()
    if schema:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test (commits become savepoints)."""
    conn = engine.connect()
    trans = conn.begin()
    session = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        trans.rollback()
        conn.close()


@pytest.fixture(scope="session")
def _shared_app() -> Any:
    """The application, built once for the run (building it costs more than most tests)."""
    from zhili.app import create_app

    return create_app()


@pytest.fixture
def app(_shared_app: Any, db: Session) -> Iterator[Any]:
    """The application with requests running in the test's session (rolled back after the test)."""
    from zhili.cases.api import get_intake_writer
    from zhili.cases.writer import SessionWriter
    from zhili.core.db import database_key, settle
    from zhili.http.deps import ReadSessions, get_db, get_read_sessions

    lock = threading.Lock()  # one shared session: requests from a live server in a thread take turns

    def _db() -> Iterator[Session]:
        with lock:
            # Setup done by the test so far becomes part of the outer (rolled-back) transaction, so a request
            # that fails and rolls back its own work cannot take the fixtures with it.
            db.commit()
            with settle(db):  # as the real dependency: commit, roll back, or keep what a refusal must leave
                yield db

    _shared_app.dependency_overrides[get_db] = _db
    _shared_app.dependency_overrides[get_read_sessions] = lambda: ReadSessions(
        database=database_key(db.get_bind().engine), open=contextmanager(_db))
    _shared_app.dependency_overrides[get_intake_writer] = lambda: SessionWriter(db)
    yield _shared_app
    _shared_app.dependency_overrides.clear()


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def district_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """``district_zone("Europe/Berlin")``: the rest of the test runs as if ``ZHILI_TIMEZONE`` named that zone
    (the settings are read afresh); the environment and the settings are restored afterwards."""
    from zhili.core.settings import get_settings

    def use(name: str) -> None:
        monkeypatch.setenv("ZHILI_TIMEZONE", name)
        get_settings.cache_clear()

    yield use
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def public_rule(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """``public_rule(["T01"], exact=["T01"])``: the rest of the test runs with that category allow-list (and those
    exact-location categories) in the one public-visibility rule, ``zhili.cases.public``; restored afterwards."""
    import json

    from zhili.cases.public import public_settings

    def use(categories: list[str], exact: list[str] | None = None) -> None:
        monkeypatch.setenv("ZHILI_PUBLIC_CATEGORY_PREFIXES", json.dumps(categories))
        if exact is not None:
            monkeypatch.setenv("ZHILI_PUBLIC_EXACT_LOCATION_PREFIXES", json.dumps(exact))
        public_settings.cache_clear()

    yield use
    monkeypatch.undo()
    public_settings.cache_clear()


# -- a small world: district → 2 streets → 2 communities → 3 grids with square boundaries ---------------------

def square(x0: float, y0: float, size: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + size, y0], [x0 + size, y0 + size],
                                                 [x0, y0 + size], [x0, y0]]]}


@dataclass
class World:
    units: dict[str, Any]
    users: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def _unit(db: Session, parent: Any, level: str, code: str, name: str, boundary: dict[str, Any] | None = None) -> Any:
    from zhili.regions.models import Unit, UnitBoundary, UnitLevel

    u = Unit(parent_id=parent.id if parent else None, level=UnitLevel(level), code=code, name=name,
             path=f"{parent.path}/{code}" if parent else code, depth=(parent.depth + 1) if parent else 0,
             valid_from=dt.date(2020, 1, 1))
    db.add(u)
    db.flush()
    if boundary:
        from shapely.geometry import shape

        g = shape(boundary)
        minx, miny, maxx, maxy = g.bounds
        db.add(UnitBoundary(unit_id=u.id, geojson=json.dumps(boundary), min_lon=minx, min_lat=miny, max_lon=maxx,
                            max_lat=maxy, valid_from=dt.date(2020, 1, 1)))
    return u


def make_user(db: Session, username: str, role: Role, units: list[Any]) -> tuple[Any, str]:
    """A user with a live session token (no password hashing, to keep tests fast)."""
    from zhili.core.ids import new_id
    from zhili.users.models import AuthSession, User, UserUnit

    user = User(id=new_id(), username=username, display_name=username, role=role, password_hash="!")
    user.units = [UserUnit(unit_id=u.id) for u in units]
    db.add(user)
    db.flush()
    token = f"tok_{username}_{uuid.uuid4().hex}"
    db.add(AuthSession(user_id=user.id, token_hash=token_digest(token), expires_at=utcnow() + dt.timedelta(hours=1)))
    db.flush()
    return user, token


def build_world(db: Session, only: set[str] | None = None) -> World:
    """District 330522 → 2 streets → 2 communities → 3 grids with square boundaries, and users with tokens
    (all roles, or just the usernames in ``only``)."""
    from sqlalchemy import update

    from zhili.regions.models import GeoVersion

    d = _unit(db, None, "district", "330522", "长兴县", square(119.0, 31.0, 1.0))
    s1 = _unit(db, d, "street", "330522001", "雉城街道", square(119.0, 31.0, 0.5))
    s2 = _unit(db, d, "street", "330522002", "画溪街道", square(119.5, 31.0, 0.5))
    c1 = _unit(db, s1, "community", "330522001001", "金陵社区", square(119.0, 31.0, 0.5))
    c2 = _unit(db, s2, "community", "330522002001", "画溪村", square(119.5, 31.0, 0.5))
    ga = _unit(db, c1, "grid", "330522001001001", "金陵社区第1网格", square(119.0, 31.0, 0.25))
    gb = _unit(db, c1, "grid", "330522001001002", "金陵社区第2网格", square(119.25, 31.0, 0.25))
    gc = _unit(db, c2, "grid", "330522002001001", "画溪村第1网格", square(119.5, 31.0, 0.25))
    db.execute(update(GeoVersion).where(GeoVersion.id == 1).values(version=GeoVersion.version + 1,
                                                                   changed_at=utcnow()))
    w = World(units={"district": d, "s1": s1, "s2": s2, "c1": c1, "c2": c2, "ga": ga, "gb": gb, "gc": gc})
    for name, role, units in [
        ("admin", Role.admin, [d]), ("zhihui", Role.command_centre, [d]), ("lingdao", Role.leader, [d]),
        ("shenji", Role.auditor, [d]), ("jiedao1", Role.street_staff, [s1]), ("jiedao2", Role.street_staff, [s2]),
        ("shequ1", Role.community_staff, [c1]), ("wangge_a", Role.grid_worker, [ga]),
        ("wangge_b", Role.grid_worker, [gb]), ("bumen", Role.department_handler, [d]),
        ("jumin", Role.resident, []),
    ]:
        if only is None or name in only:
            w.users[name], w.tokens[name] = make_user(db, name, role, units)
    return w


@pytest.fixture
def world(db: Session) -> World:
    return build_world(db)
