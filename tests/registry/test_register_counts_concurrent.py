"""PostgreSQL: writers in concurrent transactions add to the same grid's count without losing an increment.

The triggers upsert ``n = n + delta`` (``INSERT … ON CONFLICT DO UPDATE``): a second writer waits on the first's
row (or its speculative insertion of a new grid's row) and adds to the committed value."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from zhili.core.db import utcnow

PERSON = text(
    "INSERT INTO person (id, grid_id, path, name, id_number_enc, id_number_bidx, gender, birth_date, resident_type, "
    "care_tags, status, created_at, updated_at, version) VALUES (:id, :grid, :path, '并发', :enc, :bidx, 'male', "
    "'1980-01-01', 'registered', '[]', 'active', :now, :now, 1)")


@pytest.fixture
def grid(engine: Engine) -> Iterator[tuple[uuid.UUID, str]]:
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers: PostgreSQL (SQLite has one writer at a time)")
    gid, code = uuid.uuid4(), f"9{uuid.uuid4().int % 10**8:08d}"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO unit (id, level, code, name, path, depth, valid_from, valid_to, created_at, "
                          "updated_at, version) VALUES (:id, 'grid', :code, '并发网格', :code, 0, :d, '9999-12-31', "
                          ":now, :now, 1)"), {"id": gid, "code": code, "d": dt.date(2020, 1, 1), "now": utcnow()})
    yield gid, code
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM person WHERE grid_id = :g"), {"g": gid})
        conn.execute(text("DELETE FROM unit WHERE id = :g"), {"g": gid})
        conn.execute(text("DELETE FROM register_count WHERE path = :p"), {"p": code})


def _count(engine: Engine, path: str) -> tuple[int, int]:
    with engine.connect() as conn:
        kept = conn.scalar(text("SELECT n FROM register_count WHERE path = :p AND kind = 'persons'"), {"p": path})
        real = conn.scalar(text("SELECT count(*) FROM person WHERE path = :p AND status = 'active'"), {"p": path})
    return int(kept or 0), int(real or 0)


def _insert(conn: object, gid: uuid.UUID, path: str) -> None:
    conn.execute(PERSON, {"id": uuid.uuid4(), "grid": gid, "path": path, "enc": b"x",  # type: ignore[attr-defined]
                          "bidx": uuid.uuid4().hex, "now": utcnow()})


def test_a_second_writer_waits_for_the_first_and_adds_to_its_committed_count(engine, grid):
    gid, path = grid
    a = engine.connect()
    ta = a.begin()
    _insert(a, gid, path)  # holds the (new) count row of this grid until commit
    done = threading.Event()

    def second() -> None:
        with engine.begin() as b:
            _insert(b, gid, path)
        done.set()

    t = threading.Thread(target=second)
    t.start()
    assert not done.wait(0.5), "the second writer must wait for the first's count row"
    ta.commit()
    a.close()
    t.join(10)
    assert done.is_set()
    assert _count(engine, path) == (2, 2)


def test_many_concurrent_writers_lose_no_increment(engine, grid):
    gid, path = grid
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(20):
                with engine.begin() as conn:
                    _insert(conn, gid, path)
        except BaseException as exc:  # noqa: BLE001 — reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert _count(engine, path) == (80, 80)
