"""The audit chain's head in one row (``audit_head``), so the writer's head read does not probe every month

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07

Every audited write reads the chain head under the chain lock. On PostgreSQL ``audit_event`` is partitioned by month
(0023), and "the newest event" probes each month's index: 1.9 → 5.7 ms on the medium demo, one probe more every
month. The head now lives in the row ``id = 1``, written by :mod:`zhili.core.audit` with the events in the same
transaction; it is filled here from the newest event (a log without events gets its row with its first event).
Triggers refuse to move it backwards or to delete it — a head rolled back would let the next event reuse a seq.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

MESSAGE = "audit_head only moves forward"


def upgrade() -> None:
    op.create_table(
        'audit_head',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head')),
    )
    op.execute("INSERT INTO audit_head (id, seq, hash) SELECT 1, seq, hash FROM audit_event "
               "ORDER BY seq DESC LIMIT 1")
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head WHEN NEW.seq <= OLD.seq "
                   f"OR NEW.id <> OLD.id BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")
        op.execute(f"CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
                   f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")
    else:
        op.execute(
            "CREATE FUNCTION zhili_audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF TG_OP <> 'UPDATE' THEN RAISE EXCEPTION '{MESSAGE}'; END IF; "
            f"IF NEW.seq <= OLD.seq OR NEW.id <> OLD.id THEN RAISE EXCEPTION '{MESSAGE}'; END IF; "
            "RETURN NEW; END $$")
        op.execute("CREATE TRIGGER audit_head_forward BEFORE UPDATE OR DELETE ON audit_head "
                   "FOR EACH ROW EXECUTE FUNCTION zhili_audit_head_forward()")
        op.execute("CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
                   "FOR EACH STATEMENT EXECUTE FUNCTION zhili_audit_head_forward()")


def downgrade() -> None:
    op.drop_table('audit_head')  # its triggers go with it
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP FUNCTION IF EXISTS zhili_audit_head_forward()")
