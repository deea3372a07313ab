"""case flows: ``case.flow`` (every existing case is an ``event``; the residence-permit application is the second
flow) and the permit application's link to its stay (``rental_permit_application``)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 17:20:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('flow', sa.String(length=24), server_default=sa.text("'event'"),
                                      nullable=False))
        batch_op.create_index('ix_case_flow_state', ['flow', 'state'], unique=False)

    op.create_table('rental_permit_application',
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('stay_id', sa.Uuid(), nullable=False),
    sa.Column('person_id', sa.Uuid(), nullable=False),
    sa.Column('delivery_method', sa.String(length=16), nullable=False),
    sa.Column('address_enc', sa.LargeBinary(), nullable=True),
    sa.Column('override_reason', sa.Text(), nullable=True),
    sa.Column('filed_by', sa.String(length=64), nullable=False),
    sa.Column('filed_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_rental_permit_application_case_id_case'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_rental_permit_application_person_id_person'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['stay_id'], ['rental_stay.id'], name=op.f('fk_rental_permit_application_stay_id_rental_stay'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('case_id', name=op.f('pk_rental_permit_application'))
    )
    with op.batch_alter_table('rental_permit_application', schema=None) as batch_op:
        batch_op.create_index('ix_rental_permit_person', ['person_id'], unique=False)
        batch_op.create_index('ix_rental_permit_stay', ['stay_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rental_permit_application', schema=None) as batch_op:
        batch_op.drop_index('ix_rental_permit_stay')
        batch_op.drop_index('ix_rental_permit_person')
    op.drop_table('rental_permit_application')
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_index('ix_case_flow_state')
        batch_op.drop_column('flow')
