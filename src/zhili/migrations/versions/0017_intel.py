"""intelligence: model versions (``ml_model``), suggestions on cases (``intel_suggestion``), early warnings
(``intel_warning``) and grid risk scores (``intel_risk``)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 14:01:57.154796
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('intel_risk',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('grid_id', sa.Uuid(), nullable=False),
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('drivers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('method', sa.String(length=64), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intel_risk')),
    sa.UniqueConstraint('week_start', 'grid_id', name='uq_intel_risk_week_grid')
    )
    with op.batch_alter_table('intel_risk', schema=None) as batch_op:
        batch_op.create_index('ix_intel_risk_week_rank', ['week_start', 'rank'], unique=False)

    op.create_table('ml_model',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('state', sa.Enum('trained', 'active', 'retired', name='modelstate', native_enum=False, length=16), nullable=False),
    sa.Column('artifact', sa.LargeBinary(), nullable=False),
    sa.Column('artifact_sha256', sa.String(length=64), nullable=False),
    sa.Column('labels', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('data_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('data_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('n_train', sa.Integer(), nullable=False),
    sa.Column('metrics', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('trained_by', sa.String(length=64), nullable=False),
    sa.Column('trained_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('activated_by', sa.String(length=64), nullable=True),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ml_model')),
    sa.UniqueConstraint('name', 'version', name='uq_ml_model_name_version')
    )
    with op.batch_alter_table('ml_model', schema=None) as batch_op:
        batch_op.create_index('ix_ml_model_name_state', ['name', 'state'], unique=False)

    op.create_table('intel_suggestion',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('target', sa.String(length=16), nullable=False),
    sa.Column('model_id', sa.Uuid(), nullable=False),
    sa.Column('top', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('applied', sa.Boolean(), nullable=False),
    sa.Column('final_label', sa.String(length=64), nullable=True),
    sa.Column('corrected', sa.Boolean(), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_intel_suggestion_case_id_case'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_id'], ['ml_model.id'], name=op.f('fk_intel_suggestion_model_id_ml_model')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intel_suggestion')),
    sa.UniqueConstraint('case_id', 'target', name='uq_intel_suggestion_case_target')
    )
    with op.batch_alter_table('intel_suggestion', schema=None) as batch_op:
        batch_op.create_index('ix_intel_suggestion_model', ['model_id'], unique=False)

    op.create_table('intel_warning',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('cause_key', sa.String(length=200), nullable=False),
    sa.Column('unit_id', sa.Uuid(), nullable=True),
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.Column('category_code', sa.String(length=32), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('case_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.Enum('open', 'dismissed', 'converted', name='warningstate', native_enum=False, length=16), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dismiss_reason', sa.Text(), nullable=True),
    sa.Column('case_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_intel_warning_case_id_case'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intel_warning')),
    sa.UniqueConstraint('cause_key', name='uq_intel_warning_cause')
    )
    with op.batch_alter_table('intel_warning', schema=None) as batch_op:
        batch_op.create_index('ix_intel_warning_path_state', ['path', 'state'], unique=False)
        batch_op.create_index('ix_intel_warning_raised', ['raised_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('intel_warning', schema=None) as batch_op:
        batch_op.drop_index('ix_intel_warning_raised')
        batch_op.drop_index('ix_intel_warning_path_state')

    op.drop_table('intel_warning')
    with op.batch_alter_table('intel_suggestion', schema=None) as batch_op:
        batch_op.drop_index('ix_intel_suggestion_model')

    op.drop_table('intel_suggestion')
    with op.batch_alter_table('ml_model', schema=None) as batch_op:
        batch_op.drop_index('ix_ml_model_name_state')

    op.drop_table('ml_model')
    with op.batch_alter_table('intel_risk', schema=None) as batch_op:
        batch_op.drop_index('ix_intel_risk_week_rank')

    op.drop_table('intel_risk')
