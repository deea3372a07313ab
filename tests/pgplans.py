"""Reading PostgreSQL plans in tests: the plan of a statement as JSON and its nodes, depth first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def plan_of(db: Session, stmt: Any) -> dict[str, Any]:
    """``EXPLAIN (FORMAT JSON)`` of ``stmt`` with its parameters bound as the application binds them."""
    compiled = stmt.compile(dialect=db.get_bind().dialect)
    row = db.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params).scalar()
    return (json.loads(row) if isinstance(row, str) else row)[0]["Plan"]
