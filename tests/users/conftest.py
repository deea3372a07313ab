"""Fixtures for the user tests: the application is built once for the run (building it is the slow part)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session


@pytest.fixture(scope="session")
def _shared_app() -> Any:
    from zhili.app import create_app

    return create_app()


@pytest.fixture
def app(_shared_app: Any, db: Session) -> Iterator[Any]:
    """The root ``app`` fixture, but reusing one application; requests run in the test's session."""
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
