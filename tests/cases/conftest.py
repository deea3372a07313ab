"""Fixtures for the case-loop tests: departments and categories as ORM rows, handler users per department, a
fake notification channel, a temporary file store, and a scratch database for tests that commit for real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from casekit import Kit, Scratch, add_taxonomy, make_user, scratch_database

from zhili.cases import files, notify
from zhili.core.security import Role


@pytest.fixture
def fake_channel() -> Iterator[notify.FakeChannel]:
    fake = notify.FakeChannel()
    notify.set_channels([fake])
    yield fake
    notify.set_channels(None)


@pytest.fixture
def file_store(tmp_path: Path) -> Iterator[files.LocalFileStore]:
    store = files.LocalFileStore(tmp_path / "files")
    files.set_store(store)
    yield store
    files.set_store(None)


@pytest.fixture
def kit(client: Any, world: Any, db: Any, fake_channel: notify.FakeChannel, file_store: Any) -> Kit:
    cats = add_taxonomy(db)
    world.users["bumen"].department = "CG"
    d = world.units["district"]
    for name, role, dept, units in [("bumen_sw", Role.department_handler, "SW", [d]),
                                    ("bumen_ga", Role.department_handler, "GA", [d]),
                                    ("jumin2", Role.resident, None, [])]:
        world.users[name], world.tokens[name] = make_user(db, name, role, units)
        world.users[name].department = dept
    db.flush()
    return Kit(client=client, world=world, db=db, fake=fake_channel, cats=cats)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Scratch]:
    """A separate migrated database (SQLite file / PostgreSQL schema), dropped afterwards."""
    with scratch_database(tmp_path) as s:
        yield s
