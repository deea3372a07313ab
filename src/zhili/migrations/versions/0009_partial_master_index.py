"""case.master_case_id index made partial (only merged cases)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 17:00:00

Without statistics, SQLite's planner takes ``master_case_id IS NULL`` for a selective equality and answered the
duplicate search, the Open311 list and the public disclosure list by walking ``ix_case_master`` over every unmerged
case — nearly all of them — instead of the (category, cell, time) or time indexes. Only merged cases need the index
(to find the cases merged into a master, ``master_case_id = ?``), so it now holds only those rows and an
``IS NULL`` test can no longer use it.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

MERGED = sa.text("master_case_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_case_master", table_name="case")
    op.create_index("ix_case_master", "case", ["master_case_id"], sqlite_where=MERGED, postgresql_where=MERGED)


def downgrade() -> None:
    op.drop_index("ix_case_master", table_name="case")
    op.create_index("ix_case_master", "case", ["master_case_id"])
