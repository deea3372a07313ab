"""Jurisdiction scoping on PostgreSQL: every scoped table answers "under this street/community" from its path index.

The path columns are in the C collation there (``core.db.path_string``, migration 0022) and the scope predicate is
the byte-order range ``p <= path < p0`` with ``COLLATE "C"`` (``core.jurisdiction._Under``). These tests read the
plans; the SQLite counterpart is in tests/core/test_jurisdiction.py.
"""

from __future__ import annotations

import enum
import json
from typing import Any

import pytest
from sqlalchemy import Table, UniqueConstraint, func, or_, select, text
from sqlalchemy.orm import Session

import zhili.models  # noqa: F401  (fills Base.metadata)
from pgplans import nodes, plan_of
from zhili.core.db import PATH_COLLATION, Base
from zhili.core.jurisdiction import path_predicate

STREET = "33/3305/330522/330522001"
COMMUNITY = f"{STREET}/330522001003"

INDEX_NODES = {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}


@pytest.fixture(autouse=True)
def _postgres_only(db: Session) -> None:
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL plans (SQLite's are in test_jurisdiction.py)")


def _path_indexes() -> list[tuple[str, str, tuple[str, ...]]]:
    """(table, index, leading columns before ``path``) for every model index that contains a path column."""
    out = []
    for table in sorted(Base.metadata.tables.values(), key=lambda t: t.name):
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            names = [c.name for c in index.columns]
            if "path" in names and _is_path_column(table, "path"):
                out.append((table.name, str(index.name), tuple(names[:names.index("path")])))
    return out


def _is_path_column(table: Table, column: str) -> bool:
    pg = table.c[column].type.dialect_impl(_pg_dialect())
    return getattr(pg, "collation", None) == PATH_COLLATION


def _pg_dialect() -> Any:
    from sqlalchemy.dialects import postgresql

    return postgresql.dialect()


def _sample(kind: type) -> Any:
    import datetime as dt
    import uuid

    samples: dict[type, Any] = {uuid.UUID: uuid.uuid4(), str: "x", int: 1, dt.date: dt.date(2026, 1, 1),
                                dt.datetime: dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}
    if issubclass(kind, enum.Enum):
        return next(iter(kind))
    return samples[kind]




def _path_seek(plan: dict[str, Any], index: str) -> bool:
    """True if some node reads ``index`` with an Index Cond on the path (a seek, not a full scan with a filter)."""
    return any(n.get("Node Type") in INDEX_NODES and n.get("Index Name") == index
               and "path" in (n.get("Index Cond") or "") for n in nodes(plan))


def test_every_path_column_of_the_models_is_in_the_c_collation_in_the_migrated_database(db):
    """Alembic's comparison does not see collations: this is the models-vs-migrations check for them."""
    declared = {(t.name, c.name) for t in Base.metadata.tables.values() for c in t.columns
                if _is_path_column(t, c.name)}
    assert ("person", "path") in declared and ("unit", "path") in declared and len(declared) >= 30
    found = set(db.execute(text(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND collation_name = :c"), {"c": PATH_COLLATION}).all())
    found = {(t, c) for t, c in found}
    assert found == declared


@pytest.mark.parametrize(("table", "index", "leading"), _path_indexes(), ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("scope", [STREET, COMMUNITY], ids=["street", "community"])
def test_a_scoped_count_on_every_table_with_a_path_index_seeks_that_index(db, table, index, leading, scope):
    """The test tables hold a handful of rows, where a sequential scan is rightly the cheapest plan; with
    ``enable_seqscan`` off the planner shows whether the index *can* serve the predicate. A predicate it cannot
    serve (``LIKE 'p/%'`` under a linguistic collation, or a range in the wrong collation) still gets a Seq Scan
    (disabled only costs more) or a full index scan with the path as a Filter — never an Index Cond on the path.
    A composite index with columns before the path is given equalities on them, as the services' queries do."""
    t = Base.metadata.tables[table]
    stmt = select(func.count()).select_from(t).where(path_predicate(t.c.path, (scope,)))
    for name in leading:
        stmt = stmt.where(t.c[name] == _sample(t.c[name].type.python_type))  # the planner seeks (a, path)
    db.execute(text("SET LOCAL enable_seqscan = off"))
    # Another index of the table holding the path may be as cheap (``case_stat``: its unique (path, day,
    # category_code) against ix_case_stat_day (day, path, …), chosen by the statistics earlier tests left): the
    # others are dropped inside the test's transaction (rolled back), so the plan shows what *this* index can do.
    for other in t.indexes:
        if other.name != index:
            db.execute(text(f'DROP INDEX IF EXISTS "{other.name}"'))
    for constraint in t.constraints:
        if isinstance(constraint, UniqueConstraint) and "path" in constraint.columns and constraint.name != index:
            db.execute(text(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{constraint.name}"'))
    plan = plan_of(db, stmt)
    assert _path_seek(plan, index), json.dumps(plan, ensure_ascii=False)[:2000]


def _fill(db: Session, collation: str) -> None:
    """A scratch table like ``person``'s path and index, 60,000 rows over 10 streets × 12 communities × 12 grids."""
    db.execute(text(f'CREATE TEMP TABLE scratch_path (id int, path varchar(400) COLLATE "{collation}") '
                    "ON COMMIT DROP"))
    db.execute(text("CREATE INDEX ix_scratch_path ON scratch_path (path)"))
    db.execute(text(
        "INSERT INTO scratch_path SELECT i, '33/3305/330522/330522' || lpad((1 + i % 10)::text, 3, '0') "
        "|| '/330522' || lpad((1 + i % 10)::text, 3, '0') || lpad((1 + (i / 10) % 12)::text, 3, '0') "
        "|| '/g' || ((i / 120) % 12) FROM generate_series(0, 59999) AS i"))
    db.execute(text("ANALYZE scratch_path"))


def test_with_real_row_counts_the_planner_chooses_the_c_range_by_itself(db):
    """60,000 analysed rows, default planner settings: one community's 500 rows come from an index range."""
    from sqlalchemy import column, table

    _fill(db, PATH_COLLATION)
    t = table("scratch_path", column("path"))
    plan = plan_of(db, select(func.count()).select_from(t).where(path_predicate(t.c.path, (COMMUNITY,))))
    assert _path_seek(plan, "ix_scratch_path"), plan
    assert db.scalar(select(func.count()).select_from(t).where(path_predicate(t.c.path, (COMMUNITY,)))) == 500


def test_a_list_over_two_scopes_ordered_by_path_seeks_both_ranges(db):
    """Two communities (a user bound to two units), a page ordered by path, on 60,000 analysed rows."""
    from sqlalchemy import column, table

    _fill(db, PATH_COLLATION)
    t = table("scratch_path", column("id"), column("path"))
    other = f"{STREET}/330522001007"
    stmt = select(t.c.id, t.c.path).where(path_predicate(t.c.path, (COMMUNITY, other))).order_by(t.c.path).limit(50)
    assert _path_seek(plan_of(db, stmt), "ix_scratch_path")
    rows = db.execute(stmt).all()
    assert len(rows) == 50 and [r.path for r in rows] == sorted(r.path for r in rows)
    assert all(r.path.startswith(COMMUNITY + "/") for r in rows)  # byte order: 003 before 007


def test_the_old_like_form_under_the_database_collation_reads_the_whole_table(db):
    """The control: the same rows in the database's own collation (C.UTF-8 here — not "C" for the planner, as
    zh_CN.UTF-8 or en_US.UTF-8 would not be) and the former predicate ``path = p OR path LIKE 'p/%'``: no seek."""
    from sqlalchemy import column, table

    if db.scalar(text("SELECT datcollate FROM pg_database WHERE datname = current_database()")) in ("C", "POSIX"):
        pytest.skip("the database's own collation is C: LIKE can seek there")
    _fill(db, "default")
    t = table("scratch_path", column("path"))
    like = or_(t.c.path == COMMUNITY, t.c.path.like(COMMUNITY + "/%"))
    plan = plan_of(db, select(func.count()).select_from(t).where(like))
    assert not _path_seek(plan, "ix_scratch_path"), plan
