"""Fixtures for the API tests: an API wrapper and register objects in grids ga and gb."""

from __future__ import annotations

from typing import Any

import pytest
from apihelpers import Api, GridSet


@pytest.fixture
def api(client: Any, world: Any, db: Any) -> Api:
    # Make the world survive a first request that fails: a failing request rolls the shared session back to
    # its last commit (savepoint), which would otherwise undo the fixture's users and units.
    db.commit()
    return Api(client, world)


@pytest.fixture
def registry(api: Api) -> dict[str, GridSet]:
    """One building + entrance + household + person + organisation in grid ga, and another set in gb."""
    return {"ga": api.grid_set("ga"), "gb": api.grid_set("gb")}
