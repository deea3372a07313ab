"""IoT perception: device types (``iot_device_type``), devices (``iot_device``), every received message
(``iot_message``, unique per device and message id), alert rules (``iot_rule``) and their window state
(``iot_rule_state``), alerts (``iot_alert``, one open per group key)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 16:47:35.007489
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('iot_device_type',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('schemas', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('heartbeat_s', sa.Integer(), nullable=False),
    sa.Column('builtin', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iot_device_type')),
    sa.UniqueConstraint('code', name=op.f('uq_iot_device_type_code'))
    )
    op.create_table('iot_rule',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('type_code', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=True),
    sa.Column('condition', sa.Text(), nullable=False),
    sa.Column('window', sa.Enum('none', 'count', 'duration', name='window', native_enum=False, length=16), nullable=False),
    sa.Column('window_count', sa.Integer(), nullable=True),
    sa.Column('window_s', sa.Integer(), nullable=True),
    sa.Column('severity', sa.Enum('info', 'warning', 'critical', name='severity', native_enum=False, length=16), nullable=False),
    sa.Column('raises_case', sa.Boolean(), nullable=False),
    sa.Column('category_code', sa.String(length=32), nullable=True),
    sa.Column('urgency', sa.String(length=16), nullable=False),
    sa.Column('case_attributes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('group_by', sa.Enum('device', 'building', name='groupby', native_enum=False, length=16), nullable=False),
    sa.Column('close_on_recovery', sa.Boolean(), nullable=False),
    sa.Column('quiet_close_s', sa.Integer(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iot_rule')),
    sa.UniqueConstraint('code', name=op.f('uq_iot_rule_code'))
    )
    with op.batch_alter_table('iot_rule', schema=None) as batch_op:
        batch_op.create_index('ix_iot_rule_type_enabled', ['type_code', 'enabled'], unique=False)

    op.create_table('iot_device',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('device_key', sa.String(length=64), nullable=False),
    sa.Column('type_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('unit_id', sa.Uuid(), nullable=False),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('address', sa.String(length=255), nullable=True),
    sa.Column('building_id', sa.Uuid(), nullable=True),
    sa.Column('room_id', sa.Uuid(), nullable=True),
    sa.Column('owner', sa.String(length=100), nullable=True),
    sa.Column('status', sa.Enum('active', 'offline', 'disabled', name='devicestatus', native_enum=False, length=16), nullable=False),
    sa.Column('heartbeat_s', sa.Integer(), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('installed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['building_id'], ['building.id'], name=op.f('fk_iot_device_building_id_building'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['room_id'], ['rental_room.id'], name=op.f('fk_iot_device_room_id_rental_room'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['type_id'], ['iot_device_type.id'], name=op.f('fk_iot_device_type_id_iot_device_type'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_iot_device_unit_id_unit'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iot_device')),
    sa.UniqueConstraint('device_key', name=op.f('uq_iot_device_device_key'))
    )
    with op.batch_alter_table('iot_device', schema=None) as batch_op:
        batch_op.create_index('ix_iot_device_path', ['path'], unique=False)
        batch_op.create_index('ix_iot_device_room', ['room_id'], unique=False)
        batch_op.create_index('ix_iot_device_status_seen', ['status', 'last_seen_at'], unique=False)
        batch_op.create_index('ix_iot_device_type_status', ['type_id', 'status'], unique=False)

    op.create_table('iot_alert',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('rule_id', sa.Uuid(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('device_id', sa.Uuid(), nullable=False),
    sa.Column('group_key', sa.String(length=200), nullable=False),
    sa.Column('unit_id', sa.Uuid(), nullable=False),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('severity', sa.Enum('info', 'warning', 'critical', name='severity', native_enum=False, length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('state', sa.Enum('open', 'closed', name='alertstate', native_enum=False, length=16), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_message_id', sa.Uuid(), nullable=True),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=True),
    sa.Column('noted_count', sa.Integer(), nullable=False),
    sa.Column('noted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('close_reason', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_iot_alert_case_id_case'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['device_id'], ['iot_device.id'], name=op.f('fk_iot_alert_device_id_iot_device'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['iot_rule.id'], name=op.f('fk_iot_alert_rule_id_iot_rule'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iot_alert'))
    )
    with op.batch_alter_table('iot_alert', schema=None) as batch_op:
        batch_op.create_index('ix_iot_alert_case', ['case_id'], unique=False)
        batch_op.create_index('ix_iot_alert_device', ['device_id', 'last_at'], unique=False)
        batch_op.create_index('ix_iot_alert_path_state', ['path', 'state'], unique=False)
        batch_op.create_index('uq_iot_alert_open_group', ['group_key'], unique=True, sqlite_where=sa.text("state = 'open'"), postgresql_where=sa.text("state = 'open'"))

    op.create_table('iot_message',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('device_id', sa.Uuid(), nullable=True),
    sa.Column('device_key', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.String(length=80), nullable=False),
    sa.Column('topic', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('raw', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accepted', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=True),
    sa.Column('reason_code', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['iot_device.id'], name=op.f('fk_iot_message_device_id_iot_device'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iot_message')),
    sa.UniqueConstraint('device_key', 'message_id', name='uq_iot_message_device_mid')
    )
    with op.batch_alter_table('iot_message', schema=None) as batch_op:
        batch_op.create_index('ix_iot_message_device_received', ['device_id', 'received_at'], unique=False)
        batch_op.create_index('ix_iot_message_received', ['received_at'], unique=False)
        batch_op.create_index('ix_iot_message_rejected', ['accepted', 'received_at'], unique=False)

    op.create_table('iot_rule_state',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('rule_id', sa.Uuid(), nullable=False),
    sa.Column('device_id', sa.Uuid(), nullable=False),
    sa.Column('hits', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('true_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['iot_device.id'], name=op.f('fk_iot_rule_state_device_id_iot_device'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['iot_rule.id'], name=op.f('fk_iot_rule_state_rule_id_iot_rule'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_iot_rule_state')),
    sa.UniqueConstraint('rule_id', 'device_id', name='uq_iot_rule_state_rule_device')
    )


def downgrade() -> None:
    op.drop_table('iot_rule_state')
    with op.batch_alter_table('iot_message', schema=None) as batch_op:
        batch_op.drop_index('ix_iot_message_rejected')
        batch_op.drop_index('ix_iot_message_received')
        batch_op.drop_index('ix_iot_message_device_received')

    op.drop_table('iot_message')
    with op.batch_alter_table('iot_alert', schema=None) as batch_op:
        batch_op.drop_index('uq_iot_alert_open_group', sqlite_where=sa.text("state = 'open'"), postgresql_where=sa.text("state = 'open'"))
        batch_op.drop_index('ix_iot_alert_path_state')
        batch_op.drop_index('ix_iot_alert_device')
        batch_op.drop_index('ix_iot_alert_case')

    op.drop_table('iot_alert')
    with op.batch_alter_table('iot_device', schema=None) as batch_op:
        batch_op.drop_index('ix_iot_device_type_status')
        batch_op.drop_index('ix_iot_device_status_seen')
        batch_op.drop_index('ix_iot_device_room')
        batch_op.drop_index('ix_iot_device_path')

    op.drop_table('iot_device')
    with op.batch_alter_table('iot_rule', schema=None) as batch_op:
        batch_op.drop_index('ix_iot_rule_type_enabled')

    op.drop_table('iot_rule')
    op.drop_table('iot_device_type')
