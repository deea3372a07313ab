"""data hub (数据中台): sources, mapping templates, imports, source records, quarantine, golden records,
review queue, merges, change events (outbox) and subscriptions; ``case.is_history`` for imported history; the
person name index becomes (name, birth date) for entity resolution

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 08:12:30

See :mod:`zhili.datahub.models` for what each table holds.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hub_change',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('entity_type', sa.Enum('person', 'organisation', 'building', name='entitytype', native_enum=False, length=16), nullable=False),
    sa.Column('golden_id', sa.Uuid(), nullable=False),
    sa.Column('register_id', sa.Uuid(), nullable=True),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('fields', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('source_id', sa.Uuid(), nullable=True),
    sa.Column('import_id', sa.Uuid(), nullable=True),
    sa.Column('delivered', sa.Boolean(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_change')),
    sa.UniqueConstraint('key', name=op.f('uq_hub_change_key'))
    )
    with op.batch_alter_table('hub_change', schema=None) as batch_op:
        batch_op.create_index('ix_hub_change_at', ['at'], unique=False)
        batch_op.create_index('ix_hub_change_golden', ['golden_id'], unique=False)
        batch_op.create_index('ix_hub_change_pending', ['delivered'], unique=False)

    op.create_table('hub_golden',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('entity_type', sa.Enum('person', 'organisation', 'building', name='entitytype', native_enum=False, length=16), nullable=False),
    sa.Column('register_id', sa.Uuid(), nullable=True),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('merged_into', sa.Uuid(), nullable=True),
    sa.Column('register_note', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_golden'))
    )
    with op.batch_alter_table('hub_golden', schema=None) as batch_op:
        batch_op.create_index('ix_hub_golden_path', ['path'], unique=False)
        batch_op.create_index('ix_hub_golden_register', ['entity_type', 'register_id'], unique=False)

    op.create_table('hub_subscription',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('department', sa.String(length=32), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=True),
    sa.Column('entity_types', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_subscription'))
    )
    op.create_table('hub_survivorship',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('entity_type', sa.Enum('person', 'organisation', 'building', name='entitytype', native_enum=False, length=16), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('rule', sa.String(length=24), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_survivorship')),
    sa.UniqueConstraint('entity_type', 'field', name=op.f('uq_hub_survivorship_entity_type_field'))
    )
    op.create_table('hub_delivery',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('change_id', sa.Uuid(), nullable=False),
    sa.Column('subscription_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'delivered', 'failed', name='deliverystatus', native_enum=False, length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('next_try_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['change_id'], ['hub_change.id'], name=op.f('fk_hub_delivery_change_id_hub_change'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['hub_subscription.id'], name=op.f('fk_hub_delivery_subscription_id_hub_subscription'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_delivery')),
    sa.UniqueConstraint('change_id', 'subscription_id', name=op.f('uq_hub_delivery_change_id_subscription_id'))
    )
    with op.batch_alter_table('hub_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_hub_delivery_status', ['status'], unique=False)

    op.create_table('hub_merge',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('entity_type', sa.Enum('person', 'organisation', 'building', name='entitytype', native_enum=False, length=16), nullable=False),
    sa.Column('survivor_id', sa.Uuid(), nullable=False),
    sa.Column('absorbed_id', sa.Uuid(), nullable=True),
    sa.Column('match_type', sa.Enum('seed', 'deterministic', 'probabilistic', 'manual', name='matchtype', native_enum=False, length=16), nullable=False),
    sa.Column('probability', sa.Float(), nullable=True),
    sa.Column('snapshot', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('by', sa.String(length=64), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undone_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['survivor_id'], ['hub_golden.id'], name=op.f('fk_hub_merge_survivor_id_hub_golden'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_merge'))
    )
    with op.batch_alter_table('hub_merge', schema=None) as batch_op:
        batch_op.create_index('ix_hub_merge_golden', ['survivor_id'], unique=False)

    op.create_table('hub_source',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('department', sa.String(length=32), nullable=True),
    sa.Column('system_name', sa.String(length=100), nullable=True),
    sa.Column('contact', sa.String(length=100), nullable=True),
    sa.Column('refresh_days', sa.Integer(), nullable=True),
    sa.Column('security_level', sa.Enum('public', 'internal', 'sensitive', name='securitylevel', native_enum=False, length=16), nullable=False),
    sa.Column('target', sa.Enum('persons', 'households', 'buildings', 'organisations', 'cases', name='target', native_enum=False, length=16), nullable=False),
    sa.Column('trust', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Uuid(), nullable=False),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('default_template_id', sa.Uuid(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_hub_source_unit_id_unit'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_source')),
    sa.UniqueConstraint('name', name=op.f('uq_hub_source_name'))
    )
    with op.batch_alter_table('hub_source', schema=None) as batch_op:
        batch_op.create_index('ix_hub_source_path', ['path'], unique=False)

    op.create_table('hub_template',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('target', sa.Enum('persons', 'households', 'buildings', 'organisations', 'cases', name='target', native_enum=False, length=16), nullable=False),
    sa.Column('source_id', sa.Uuid(), nullable=True),
    sa.Column('spec', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('builtin', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['source_id'], ['hub_source.id'], name=op.f('fk_hub_template_source_id_hub_source'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_template')),
    sa.UniqueConstraint('name', 'version', name=op.f('uq_hub_template_name_version'))
    )
    with op.batch_alter_table('hub_template', schema=None) as batch_op:
        batch_op.create_index('ix_hub_template_current', ['name', 'is_current'], unique=False)

    op.create_table('hub_import',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('source_id', sa.Uuid(), nullable=False),
    sa.Column('template_id', sa.Uuid(), nullable=True),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('connector', sa.Enum('csv', 'xlsx', 'json', 'jsonl', 'rest', name='connector', native_enum=False, length=8), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('file_hash', sa.String(length=64), nullable=True),
    sa.Column('file_size', sa.BigInteger(), nullable=True),
    sa.Column('encoding', sa.String(length=32), nullable=True),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('status', sa.Enum('running', 'done', 'failed', name='importstatus', native_enum=False, length=16), nullable=False),
    sa.Column('checkpoint', sa.Integer(), nullable=False),
    sa.Column('cursor', sa.Text(), nullable=True),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('rows_imported', sa.Integer(), nullable=False),
    sa.Column('rows_updated', sa.Integer(), nullable=False),
    sa.Column('rows_unchanged', sa.Integer(), nullable=False),
    sa.Column('rows_quarantined', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('stats', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['hub_source.id'], name=op.f('fk_hub_import_source_id_hub_source'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['template_id'], ['hub_template.id'], name=op.f('fk_hub_import_template_id_hub_template'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_hub_import_user_id_app_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_import'))
    )
    with op.batch_alter_table('hub_import', schema=None) as batch_op:
        batch_op.create_index('ix_hub_import_hash', ['source_id', 'file_hash'], unique=False)
        batch_op.create_index('ix_hub_import_path', ['path'], unique=False)
        batch_op.create_index('ix_hub_import_source', ['source_id', 'started_at'], unique=False)

    op.create_table('hub_quarantine',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('import_id', sa.Uuid(), nullable=False),
    sa.Column('source_id', sa.Uuid(), nullable=False),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('natural_key', sa.String(length=128), nullable=True),
    sa.Column('raw_enc', sa.LargeBinary(), nullable=False),
    sa.Column('errors', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('rules', sa.String(length=255), nullable=False),
    sa.Column('status', sa.Enum('open', 'fixed', 'discarded', name='quarantinestatus', native_enum=False, length=16), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.Column('resolved_import_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['hub_import.id'], name=op.f('fk_hub_quarantine_import_id_hub_import'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['hub_source.id'], name=op.f('fk_hub_quarantine_source_id_hub_source'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_quarantine'))
    )
    with op.batch_alter_table('hub_quarantine', schema=None) as batch_op:
        batch_op.create_index('ix_hub_quarantine_import', ['import_id', 'row_number'], unique=False)
        batch_op.create_index('ix_hub_quarantine_path', ['path'], unique=False)
        batch_op.create_index('ix_hub_quarantine_source', ['source_id', 'status'], unique=False)

    op.create_table('hub_source_record',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('source_id', sa.Uuid(), nullable=False),
    sa.Column('natural_key', sa.String(length=128), nullable=False),
    sa.Column('target_type', sa.Enum('persons', 'households', 'buildings', 'organisations', 'cases', name='target', native_enum=False, length=16), nullable=False),
    sa.Column('target_id', sa.Uuid(), nullable=True),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('key_bidx', sa.String(length=64), nullable=True),
    sa.Column('row_hash', sa.String(length=64), nullable=False),
    sa.Column('values_enc', sa.LargeBinary(), nullable=False),
    sa.Column('first_import_id', sa.Uuid(), nullable=False),
    sa.Column('last_import_id', sa.Uuid(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('record_date', sa.Date(), nullable=True),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['first_import_id'], ['hub_import.id'], name=op.f('fk_hub_source_record_first_import_id_hub_import'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['last_import_id'], ['hub_import.id'], name=op.f('fk_hub_source_record_last_import_id_hub_import'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['source_id'], ['hub_source.id'], name=op.f('fk_hub_source_record_source_id_hub_source'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_source_record')),
    sa.UniqueConstraint('source_id', 'natural_key', name=op.f('uq_hub_source_record_source_id_natural_key'))
    )
    with op.batch_alter_table('hub_source_record', schema=None) as batch_op:
        batch_op.create_index('ix_hub_source_record_key', ['target_type', 'key_bidx'], unique=False)
        batch_op.create_index('ix_hub_source_record_path', ['path'], unique=False)
        batch_op.create_index('ix_hub_source_record_target', ['target_type', 'target_id'], unique=False)

    op.create_table('hub_golden_field',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('golden_id', sa.Uuid(), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('source_record_id', sa.Uuid(), nullable=False),
    sa.Column('import_id', sa.Uuid(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=24), nullable=False),
    sa.Column('value_digest', sa.String(length=64), nullable=True),
    sa.Column('chosen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['golden_id'], ['hub_golden.id'], name=op.f('fk_hub_golden_field_golden_id_hub_golden'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['import_id'], ['hub_import.id'], name=op.f('fk_hub_golden_field_import_id_hub_import'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_record_id'], ['hub_source_record.id'], name=op.f('fk_hub_golden_field_source_record_id_hub_source_record'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_golden_field')),
    sa.UniqueConstraint('golden_id', 'field', name=op.f('uq_hub_golden_field_golden_id_field'))
    )
    op.create_table('hub_golden_link',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('golden_id', sa.Uuid(), nullable=False),
    sa.Column('source_record_id', sa.Uuid(), nullable=False),
    sa.Column('match_type', sa.Enum('seed', 'deterministic', 'probabilistic', 'manual', name='matchtype', native_enum=False, length=16), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('merge_event_id', sa.Uuid(), nullable=True),
    sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('unlinked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['golden_id'], ['hub_golden.id'], name=op.f('fk_hub_golden_link_golden_id_hub_golden'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_record_id'], ['hub_source_record.id'], name=op.f('fk_hub_golden_link_source_record_id_hub_source_record'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_golden_link'))
    )
    with op.batch_alter_table('hub_golden_link', schema=None) as batch_op:
        batch_op.create_index('ix_hub_golden_link_golden', ['golden_id'], unique=False)
        batch_op.create_index('ix_hub_golden_link_record', ['source_record_id'], unique=False)

    op.create_table('hub_match_candidate',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('entity_type', sa.Enum('person', 'organisation', 'building', name='entitytype', native_enum=False, length=16), nullable=False),
    sa.Column('source_record_id', sa.Uuid(), nullable=False),
    sa.Column('golden_id', sa.Uuid(), nullable=False),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.Column('evidence', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.Enum('pending', 'merged', 'kept_apart', name='candidatestatus', native_enum=False, length=16), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['golden_id'], ['hub_golden.id'], name=op.f('fk_hub_match_candidate_golden_id_hub_golden'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_record_id'], ['hub_source_record.id'], name=op.f('fk_hub_match_candidate_source_record_id_hub_source_record'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hub_match_candidate')),
    sa.UniqueConstraint('source_record_id', 'golden_id', name=op.f('uq_hub_match_candidate_source_record_id_golden_id'))
    )
    with op.batch_alter_table('hub_match_candidate', schema=None) as batch_op:
        batch_op.create_index('ix_hub_match_candidate_status', ['status', 'path'], unique=False)

    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_history', sa.Boolean(), server_default=sa.false(), nullable=False))

    # entity resolution looks persons up by (name, birth date): one composite index, which also serves the name
    # searches the single-column index served
    op.drop_index('ix_person_name', table_name='person')
    op.create_index('ix_person_name_birth', 'person', ['name', 'birth_date'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_person_name_birth', table_name='person')
    op.create_index('ix_person_name', 'person', ['name'], unique=False)
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_column('is_history')

    with op.batch_alter_table('hub_match_candidate', schema=None) as batch_op:
        batch_op.drop_index('ix_hub_match_candidate_status')

    op.drop_table('hub_match_candidate')
    with op.batch_alter_table('hub_golden_link', schema=None) as batch_op:
        batch_op.drop_index('ix_hub_golden_link_record')
        batch_op.drop_index('ix_hub_golden_link_golden')

    op.drop_table('hub_golden_link')
    op.drop_table('hub_golden_field')
    with op.batch_alter_table('hub_source_record', schema=None) as batch_op:
        batch_op.drop_index('ix_hub_source_record_target')
        batch_op.drop_index('ix_hub_source_record_path')
        batch_op.drop_index('ix_hub_source_record_key')

    op.drop_table('hub_source_record')
    with op.batch_alter_table('hub_quarantine', schema=None) as batch_op:
        batch_op.drop_index('ix_hub_quarantine_source')
        batch_op.drop_index('ix_hub_quarantine_path')
        batch_op.drop_index('ix_hub_quarantine_import')

    op.drop_table('hub_quarantine')
    with op.batch_alter_table('hub_import', schema=None) as batch_op:
        batch_op.drop_index('ix_hub_import_source')
        batch_op.drop_index('ix_hub_import_path')
        batch_op.drop_index('ix_hub_import_hash')

    op.drop_table('hub_import')
    with op.batch_alter_table('hub_template', schema=None) as batch_op:
        batch_op.drop_index('ix_hub_template_current')

    op.drop_table('hub_template')
    with op.batch_alter_table('hub_source', schema=None) as batch_op:
        batch_op.drop_index('ix_hub_source_path')

    op.drop_table('hub_source')
    with op.batch_alter_table('hub_merge', schema=None) as batch_op:
        batch_op.drop_index('ix_hub_merge_golden')

    op.drop_table('hub_merge')
    with op.batch_alter_table('hub_delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_hub_delivery_status')

    op.drop_table('hub_delivery')
    op.drop_table('hub_survivorship')
    op.drop_table('hub_subscription')
    with op.batch_alter_table('hub_golden', schema=None) as batch_op:
        batch_op.drop_index('ix_hub_golden_register')
        batch_op.drop_index('ix_hub_golden_path')

    op.drop_table('hub_golden')
    with op.batch_alter_table('hub_change', schema=None) as batch_op:
        batch_op.drop_index('ix_hub_change_pending')
        batch_op.drop_index('ix_hub_change_golden')
        batch_op.drop_index('ix_hub_change_at')

    op.drop_table('hub_change')
