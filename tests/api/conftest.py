"""Fixtures for the API tests: one application for the whole run, an API wrapper, and register objects in
grids ga and gb."""

from __future__ import annotations

from typing import Any

import pytest
from apihelpers import Api, GridSet


@pytest.fixture
def api(client: Any, world: Any) -> Api:
    return Api(client, world)


@pytest.fixture
def registry(api: Api) -> dict[str, GridSet]:
    """One building + entrance + household + person + organisation in grid ga, and another set in gb."""
    return {"ga": api.grid_set("ga"), "gb": api.grid_set("gb")}
