"""Prefix searches on PostgreSQL seek an index: the register's name search and the case list's category filter.

``registry.service.list_persons(name=…)`` filters ``name LIKE '张%'`` (``core.query.starts_with_text``). Under the
database's linguistic collation a plain btree cannot serve LIKE, so on 1,000,000 persons every search was a
parallel scan of the table (≈ 0.3–0.8 s, and the mixed load's register searches timed out at 10 s on a busy host);
``ix_person_name_prefix`` (``text_pattern_ops``, migration 0024) serves it. The case list's category filter
(``cases.service.list_cases(category=…)``: the code and every code below it) is likewise one ``LIKE 'BJ%'`` served
by ``ix_case_category_prefix`` (it was ``= 'BJ' OR LIKE 'BJ%'``, which read the whole index: 555 ms on 1,000,000
cases, 17 ms as a seek). PostgreSQL only.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from pgplans import nodes, plan_of
from zhili.cases.service import CaseFilter, list_cases
from zhili.core.query import starts_with_text
from zhili.registry.models import Person


@pytest.fixture(autouse=True)
def _postgres_only(db: Session) -> None:
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL plans")




def test_the_prefix_index_exists_with_the_pattern_operator_class(db):
    opclasses = db.scalars(text(
        "SELECT opc.opcname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_opclass opc ON opc.oid = i.indclass[0] WHERE c.relname = 'ix_person_name_prefix' "
        "AND c.relnamespace = current_schema()::regnamespace")).all()
    assert opclasses == ["text_pattern_ops"]


@pytest.mark.parametrize("prefix", ["张", "欧阳", "50%_"])
def test_a_name_search_seeks_the_prefix_index(db, prefix):
    # the table is empty in a test: with sequential scans off, and without the (name, birth_date) index that an
    # empty table makes as cheap to read whole (dropped inside the test's transaction, which rolls back), the
    # planner shows whether an index *can* serve the predicate; on the large demo it chooses this one by itself
    db.execute(text("SET LOCAL enable_seqscan = off"))
    db.execute(text("DROP INDEX ix_person_name_birth"))
    stmt = select(func.count()).select_from(Person).where(starts_with_text(Person.name, prefix))
    plan = plan_of(db, stmt)
    seeks = [n for n in nodes(plan) if n.get("Index Name") == "ix_person_name_prefix" and "~>=~" in
             (n.get("Index Cond") or "")]
    assert seeks, [(n.get("Node Type"), n.get("Index Name"), n.get("Index Cond")) for n in nodes(plan)]


def test_the_case_lists_category_filter_seeks_the_prefix_index(db, monkeypatch):
    """The statement ``list_cases`` builds for a category filter (caught as it is counted), planned with the other
    category indexes out of the way (dropped in the test's transaction, rolled back)."""
    from zhili.core import query

    seen: list[Any] = []
    real = query.paginate_counted

    def catch(session, stmt, **kw):
        seen.append(stmt)
        return real(session, stmt, **kw)

    monkeypatch.setattr("zhili.cases.service.paginate_counted", catch)
    list_cases(db, principal=_command_centre(db), filters=CaseFilter(category="BJ"), page_size=1)
    db.execute(text("SET LOCAL enable_seqscan = off"))
    for name in ("ix_case_category", "ix_case_nearby"):
        db.execute(text(f"DROP INDEX {name}"))
    plan = plan_of(db, select(func.count()).select_from(seen[0].order_by(None).subquery()))
    seeks = [n for n in nodes(plan) if n.get("Index Name") == "ix_case_category_prefix" and "~>=~" in
             (n.get("Index Cond") or "")]
    assert seeks, [(n.get("Node Type"), n.get("Index Name"), n.get("Index Cond")) for n in nodes(plan)]


def _command_centre(db: Session) -> Any:
    from zhili.core.jurisdiction import Principal
    from zhili.core.security import Role

    return Principal(user_id=uuid.uuid4(), username="zhihui", display_name="指挥中心", role=Role.command_centre,
                     scope_paths=("33/3305/330522",))
