"""case.merged_count beside case.support_count; notification.department renamed recipient

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 02:40:00

``case.support_count`` counted two things: residents' supports (附议) and the cases merged into the case. It now
counts the supports only, and ``case.merged_count`` the merged cases; upgrade fills both from the rows that say so
(``case_support`` and ``case.master_case_id``), downgrade adds them up again. ``notification.department`` held a
department code, a unit code or ``command_centre`` — any inbox that is not one user's — and is now ``recipient``.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("case", sa.Column("merged_count", sa.Integer(), server_default=sa.text("0"), nullable=False))
    # Only the masters and the supported cases change (the large demo has a million cases, few of either).
    op.execute(sa.text(
        'UPDATE "case" SET merged_count = (SELECT count(*) FROM "case" AS m WHERE m.master_case_id = "case".id) '
        'WHERE id IN (SELECT master_case_id FROM "case" WHERE master_case_id IS NOT NULL)'))
    op.execute(sa.text(
        'UPDATE "case" SET support_count = (SELECT count(*) FROM case_support AS s WHERE s.case_id = "case".id) '
        'WHERE support_count <> 0 OR id IN (SELECT case_id FROM case_support)'))
    # Plain ALTER TABLE statements, also on SQLite (3.35+ renames and drops columns in place): a batch operation
    # would copy the whole table, and dropping the copied "case" would cascade to its timeline.
    op.alter_column("notification", "department", new_column_name="recipient", existing_type=sa.String(32),
                    existing_nullable=True)


def downgrade() -> None:
    op.alter_column("notification", "recipient", new_column_name="department", existing_type=sa.String(32),
                    existing_nullable=True)
    op.execute(sa.text('UPDATE "case" SET support_count = support_count + merged_count WHERE merged_count <> 0'))
    op.drop_column("case", "merged_count")
