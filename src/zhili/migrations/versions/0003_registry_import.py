"""registry import: import batches (导入批次) and their rejected rows, kept with the reason

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:16:37.210405
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('import_batch',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.Enum('buildings', 'households', 'persons', 'organisations', name='registerkind', native_enum=False, length=16), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('total_rows', sa.Integer(), nullable=False),
    sa.Column('created_rows', sa.Integer(), nullable=False),
    sa.Column('updated_rows', sa.Integer(), nullable=False),
    sa.Column('rejected_rows', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_import_batch_user_id_app_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_batch'))
    )
    with op.batch_alter_table('import_batch', schema=None) as batch_op:
        batch_op.create_index('ix_import_batch_user', ['user_id', 'created_at'], unique=False)

    op.create_table('import_rejected_row',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('batch_id', sa.Uuid(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('cells_enc', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'], name=op.f('fk_import_rejected_row_batch_id_import_batch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_rejected_row'))
    )
    with op.batch_alter_table('import_rejected_row', schema=None) as batch_op:
        batch_op.create_index('ix_import_rejected_row_batch', ['batch_id', 'row_number'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('import_rejected_row', schema=None) as batch_op:
        batch_op.drop_index('ix_import_rejected_row_batch')

    op.drop_table('import_rejected_row')
    with op.batch_alter_table('import_batch', schema=None) as batch_op:
        batch_op.drop_index('ix_import_batch_user')

    op.drop_table('import_batch')
