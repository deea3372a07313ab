"""Alembic environment: runs against the configured database (or the connection passed in by tests)."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection

import zhili.models  # noqa: F401  (fills Base.metadata)
from zhili.core.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render project column types as plain SQLAlchemy types so migrations don't import the app."""
    from zhili.core.db import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    from zhili.core.db import include_object_on
    from zhili.core.partitions import include_name_of

    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # monthly partitions are made at run time, not by a model; looked up only when comparing (autogenerate) —
        # a query here would begin the transaction Alembic then leaves uncommitted
        include_name=include_name_of(connection),
        include_object=include_object_on(connection.dialect.name),  # dialect-only indexes (ddl_if)
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run with a connection from ``config.attributes['connection']`` or a new engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or None)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
