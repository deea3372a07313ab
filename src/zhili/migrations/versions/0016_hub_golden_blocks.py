"""data hub: blocking keys on golden records without a register row (``hub_golden.block_a`` / ``block_b``), so
entity resolution can match later records to them

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 12:00:00

Blind indexes, computed by the application when a golden record is resolved or re-survived; a golden record
written before this revision gets them the next time it is (``zhili hub resolve`` / the golden page's 重新计算).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hub_golden') as batch:
        batch.add_column(sa.Column('block_a', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('block_b', sa.String(length=64), nullable=True))
    op.create_index('ix_hub_golden_block_a', 'hub_golden', ['block_a'])
    op.create_index('ix_hub_golden_block_b', 'hub_golden', ['block_b'])


def downgrade() -> None:
    op.drop_index('ix_hub_golden_block_b', table_name='hub_golden')
    op.drop_index('ix_hub_golden_block_a', table_name='hub_golden')
    with op.batch_alter_table('hub_golden') as batch:
        batch.drop_column('block_b')
        batch.drop_column('block_a')
