"""idempotency_record.fingerprint: what the Idempotency-Key was first used for

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 02:45:00

Re-using an Idempotency-Key with a different report silently answered with the first case. The record now keeps
a SHA-256 of the report it was first used for (its channel and data as sent, attachments by their content digest;
see ``zhili.cases.intake.fingerprint``), and intake refuses the same key with a different report
(``idempotency_key_reused``). Records written before this revision have no fingerprint and keep matching any
report under their key, as before.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("idempotency_record", sa.Column("fingerprint", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_record") as batch:
        batch.drop_column("fingerprint")
