"""Prefix indexes on PostgreSQL (text_pattern_ops): the person name search and the case list's category filter.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07

``person.name LIKE '张%'`` is served by a btree only in the C collation or with ``text_pattern_ops``; the column
keeps the database's collation (a name sorts linguistically), so the search gets an index of its own. SQLite has
nothing to do (its LIKE is answered by the scan it always was; the registry search there is bounded by the grid).
"""

from __future__ import annotations

from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_person_name_prefix", "person", ["name"], postgresql_ops={"name": "text_pattern_ops"})
        op.create_index("ix_case_category_prefix", "case", ["category_code"],
                        postgresql_ops={"category_code": "text_pattern_ops"})


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_case_category_prefix", table_name="case")
        op.drop_index("ix_person_name_prefix", table_name="person")
