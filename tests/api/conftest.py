"""Fixtures for the API tests: one application for the whole run, an API wrapper, and register objects in
grids ga and gb."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from apihelpers import Api, GridSet
from sqlalchemy.orm import Session


@pytest.fixture(scope="session")
def _shared_app() -> Any:
    from zhili.app import create_app

    return create_app()


@pytest.fixture
def app(_shared_app: Any, db: Session) -> Iterator[Any]:
    """The root ``app`` fixture, but building the application once: creating it costs more than most tests."""
    from zhili.core.deps import get_db

    def _db() -> Iterator[Session]:
        # Keep what the test set up before this request even if the request fails and rolls back (as in
        # production, where it would have been committed); the request's own changes still roll back.
        db.commit()
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise

    _shared_app.dependency_overrides[get_db] = _db
    yield _shared_app
    _shared_app.dependency_overrides.clear()


@pytest.fixture
def api(client: Any, world: Any) -> Api:
    return Api(client, world)


@pytest.fixture
def registry(api: Api) -> dict[str, GridSet]:
    """One building + entrance + household + person + organisation in grid ga, and another set in gb."""
    return {"ga": api.grid_set("ga"), "gb": api.grid_set("gb")}
