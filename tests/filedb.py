"""The process-wide engine on a SQLite file of a test's own, for the commands and servers under test (they commit in
their own sessions) without touching the shared test database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine

from zhili.core import migrate
from zhili.core.db import make_engine, set_engine


@contextmanager
def process_engine_on_file(engine: Engine, path: Path, *, migrated: bool = True) -> Iterator[Engine]:
    """``path`` (migrated to the head unless ``migrated`` is False) as the process-wide engine for the block, then
    ``engine`` (the shared test database's) again."""
    eng = make_engine(f"sqlite:///{path}")
    if migrated:
        with eng.begin() as conn:
            migrate.upgrade(connection=conn)
    set_engine(eng)
    try:
        yield eng
    finally:
        set_engine(engine)
        eng.dispose()
