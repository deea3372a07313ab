"""``zhili seed`` ends with the planner's statistics refreshed (``core.db.refresh_statistics``): a bulk load of
millions of rows must not leave PostgreSQL planning from empty-table estimates until autovacuum comes by (it may be
off, as on the development machines, or hours behind)."""

from __future__ import annotations

from sqlalchemy import text

from zhili.core.db import refresh_statistics


def test_after_the_refresh_every_table_of_the_schema_has_been_analysed(engine):
    refresh_statistics(engine)
    if engine.dialect.name != "postgresql":
        return  # SQLite: nothing to do, and nothing done (no sqlite_stat1 written)
    with engine.connect() as conn:
        never = conn.scalars(text(
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() "
            "AND last_analyze IS NULL AND last_autoanalyze IS NULL AND relname IN ('person', 'case', 'audit_event')"
        )).all()
    assert never == []


def test_on_sqlite_the_refresh_writes_no_statistics(engine):
    if engine.dialect.name != "sqlite":
        return
    refresh_statistics(engine)
    with engine.connect() as conn:
        assert not conn.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"))
