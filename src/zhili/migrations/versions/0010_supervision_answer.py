"""supervision.acknowledged_by: who answered a supervision order (督办反馈)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 20:30:00

A supervision order was issued with its target and superior but could not be answered: ``acknowledged_at`` and
``reply`` existed and nothing set them, so the open list only grew. The workflow's ``answer_supervision`` action
now answers the orders addressed to the actor; this column keeps who answered (the timeline and the audit log keep
the rest).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("supervision", sa.Column("acknowledged_by", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("supervision") as batch:
        batch.drop_column("acknowledged_by")
