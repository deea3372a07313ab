"""saved_filter: a staff user's saved case-list filters (常用视图)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-10 09:00:00

The case list (``/console/cases``) offers predefined views and lets each user save the current filter under a
name: one row per (user, name) holding the list's query string — never a reporter's phone, which is only ever
posted. A user's views go with the account (``ON DELETE CASCADE``).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('saved_filter',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=30), nullable=False),
    sa.Column('query', sa.String(length=1000), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_saved_filter_user_id_app_user'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_filter')),
    sa.UniqueConstraint('user_id', 'name', name=op.f('uq_saved_filter_user_id_name'))
    )


def downgrade() -> None:
    op.drop_table('saved_filter')
