"""rental housing: rooms (``rental_room``), stays (``rental_stay``), electronic keys (``rental_key``), the police
registration outbox (``rental_delivery``) and room activity signals (``rental_signal``)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 16:48:27.063551
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rental_room',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('landlord_person_id', sa.Uuid(), nullable=False),
    sa.Column('landlord_user_id', sa.Uuid(), nullable=True),
    sa.Column('building_id', sa.Uuid(), nullable=False),
    sa.Column('entrance_id', sa.Uuid(), nullable=True),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('unit_id', sa.Uuid(), nullable=False),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('area_m2', sa.Float(), nullable=True),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('photos', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('rent_yuan', sa.Integer(), nullable=True),
    sa.Column('contract_start', sa.Date(), nullable=True),
    sa.Column('contract_end', sa.Date(), nullable=True),
    sa.Column('status', sa.Enum('active', 'withdrawn', name='roomstatus', native_enum=False, length=16), nullable=False),
    sa.Column('checkin_code', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['building_id'], ['building.id'], name=op.f('fk_rental_room_building_id_building'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['entrance_id'], ['entrance.id'], name=op.f('fk_rental_room_entrance_id_entrance'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_rental_room_household_id_household'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['landlord_person_id'], ['person.id'], name=op.f('fk_rental_room_landlord_person_id_person'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['landlord_user_id'], ['app_user.id'], name=op.f('fk_rental_room_landlord_user_id_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_rental_room_unit_id_unit'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rental_room')),
    sa.UniqueConstraint('checkin_code', name='uq_rental_room_checkin_code'),
    sa.UniqueConstraint('household_id', 'label', name='uq_rental_room_household_label')
    )
    with op.batch_alter_table('rental_room', schema=None) as batch_op:
        batch_op.create_index('ix_rental_room_landlord_person', ['landlord_person_id'], unique=False)
        batch_op.create_index('ix_rental_room_landlord_user', ['landlord_user_id'], unique=False)
        batch_op.create_index('ix_rental_room_path', ['path'], unique=False)

    op.create_table('rental_signal',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('room_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.Enum('lock', 'water', 'power', name='signalkind', native_enum=False, length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('device_id', sa.Uuid(), nullable=True),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=True),
    sa.Column('unknown_credential', sa.Boolean(), nullable=False),
    sa.Column('key_id', sa.Uuid(), nullable=True),
    sa.Column('message_key', sa.String(length=160), nullable=True),
    sa.ForeignKeyConstraint(['room_id'], ['rental_room.id'], name=op.f('fk_rental_signal_room_id_rental_room'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rental_signal')),
    sa.UniqueConstraint('message_key', name='uq_rental_signal_message')
    )
    with op.batch_alter_table('rental_signal', schema=None) as batch_op:
        batch_op.create_index('ix_rental_signal_room_at', ['room_id', 'kind', 'at'], unique=False)

    op.create_table('rental_stay',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('room_id', sa.Uuid(), nullable=False),
    sa.Column('person_id', sa.Uuid(), nullable=False),
    sa.Column('unit_id', sa.Uuid(), nullable=False),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('phone_enc', sa.LargeBinary(), nullable=False),
    sa.Column('phone_bidx', sa.String(length=64), nullable=False),
    sa.Column('photo_enc', sa.LargeBinary(), nullable=True),
    sa.Column('photo_type', sa.String(length=32), nullable=True),
    sa.Column('move_in', sa.Date(), nullable=False),
    sa.Column('expected_move_out', sa.Date(), nullable=False),
    sa.Column('moved_out', sa.Date(), nullable=True),
    sa.Column('state', sa.Enum('active', 'closed', name='staystate', native_enum=False, length=16), nullable=False),
    sa.Column('registered_via', sa.Enum('portal', 'landlord', 'grid_worker', 'staff', name='registeredvia', native_enum=False, length=16), nullable=False),
    sa.Column('registered_by', sa.Uuid(), nullable=True),
    sa.Column('registered_by_name', sa.String(length=64), nullable=False),
    sa.Column('tenant_user_id', sa.Uuid(), nullable=True),
    sa.Column('closed_by_name', sa.String(length=64), nullable=True),
    sa.Column('close_note', sa.Text(), nullable=True),
    sa.Column('police_state', sa.String(length=16), nullable=True),
    sa.Column('police_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_rental_stay_person_id_person'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['room_id'], ['rental_room.id'], name=op.f('fk_rental_stay_room_id_rental_room'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['tenant_user_id'], ['app_user.id'], name=op.f('fk_rental_stay_tenant_user_id_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_rental_stay_unit_id_unit'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rental_stay'))
    )
    with op.batch_alter_table('rental_stay', schema=None) as batch_op:
        batch_op.create_index('ix_rental_stay_path_state', ['path', 'state'], unique=False)
        batch_op.create_index('ix_rental_stay_person_state', ['person_id', 'state'], unique=False)
        batch_op.create_index('ix_rental_stay_phone_bidx', ['phone_bidx'], unique=False)
        batch_op.create_index('ix_rental_stay_room_state', ['room_id', 'state'], unique=False)
        batch_op.create_index('ix_rental_stay_tenant_user', ['tenant_user_id'], unique=False)

    op.create_table('rental_delivery',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('stay_id', sa.Uuid(), nullable=False),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('kind', sa.Enum('check_in', 'check_out', name='deliverykind', native_enum=False, length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=80), nullable=False),
    sa.Column('state', sa.Enum('pending', 'delivered', 'dead', name='deliverystate', native_enum=False, length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_try_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('receipt', sa.String(length=128), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['stay_id'], ['rental_stay.id'], name=op.f('fk_rental_delivery_stay_id_rental_stay'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rental_delivery')),
    sa.UniqueConstraint('idempotency_key', name='uq_rental_delivery_key')
    )
    with op.batch_alter_table('rental_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_rental_delivery_due', ['state', 'next_try_at'], unique=False)
        batch_op.create_index('ix_rental_delivery_path', ['path'], unique=False)
        batch_op.create_index('ix_rental_delivery_stay', ['stay_id'], unique=False)

    op.create_table('rental_key',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('room_id', sa.Uuid(), nullable=False),
    sa.Column('stay_id', sa.Uuid(), nullable=True),
    sa.Column('holder_person_id', sa.Uuid(), nullable=False),
    sa.Column('holder_kind', sa.Enum('tenant', 'landlord', name='holderkind', native_enum=False, length=16), nullable=False),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('credential_hash', sa.String(length=64), nullable=False),
    sa.Column('suffix', sa.String(length=8), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoke_reason', sa.String(length=200), nullable=True),
    sa.Column('issued_by', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['holder_person_id'], ['person.id'], name=op.f('fk_rental_key_holder_person_id_person'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['room_id'], ['rental_room.id'], name=op.f('fk_rental_key_room_id_rental_room'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['stay_id'], ['rental_stay.id'], name=op.f('fk_rental_key_stay_id_rental_stay'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rental_key')),
    sa.UniqueConstraint('credential_hash', name='uq_rental_key_credential')
    )
    with op.batch_alter_table('rental_key', schema=None) as batch_op:
        batch_op.create_index('ix_rental_key_holder', ['holder_person_id'], unique=False)
        batch_op.create_index('ix_rental_key_room', ['room_id', 'revoked_at'], unique=False)
        batch_op.create_index('ix_rental_key_stay', ['stay_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('rental_key', schema=None) as batch_op:
        batch_op.drop_index('ix_rental_key_stay')
        batch_op.drop_index('ix_rental_key_room')
        batch_op.drop_index('ix_rental_key_holder')

    op.drop_table('rental_key')
    with op.batch_alter_table('rental_delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_rental_delivery_stay')
        batch_op.drop_index('ix_rental_delivery_path')
        batch_op.drop_index('ix_rental_delivery_due')

    op.drop_table('rental_delivery')
    with op.batch_alter_table('rental_stay', schema=None) as batch_op:
        batch_op.drop_index('ix_rental_stay_tenant_user')
        batch_op.drop_index('ix_rental_stay_room_state')
        batch_op.drop_index('ix_rental_stay_phone_bidx')
        batch_op.drop_index('ix_rental_stay_person_state')
        batch_op.drop_index('ix_rental_stay_path_state')

    op.drop_table('rental_stay')
    with op.batch_alter_table('rental_signal', schema=None) as batch_op:
        batch_op.drop_index('ix_rental_signal_room_at')

    op.drop_table('rental_signal')
    with op.batch_alter_table('rental_room', schema=None) as batch_op:
        batch_op.drop_index('ix_rental_room_path')
        batch_op.drop_index('ix_rental_room_landlord_user')
        batch_op.drop_index('ix_rental_room_landlord_person')

    op.drop_table('rental_room')
