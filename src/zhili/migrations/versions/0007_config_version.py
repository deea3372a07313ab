"""configuration version counter, bumped by triggers on the configuration tables

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-23 09:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0005'
branch_labels = None
depends_on = None

TABLES = ("category", "dispatch_rule", "department", "calendar_override", "unit", "unit_boundary")


def upgrade() -> None:
    op.create_table('config_version',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_config_version'))
    )
    op.execute("INSERT INTO config_version (id, version, token) VALUES (1, 0, 0)")
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for verb in ("INSERT", "UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER config_version_{table}_{verb.lower()} AFTER {verb} ON {table} "
                           "BEGIN UPDATE config_version SET version = version + 1, token = abs(random()) WHERE id = 1; END")
    else:
        op.execute(
            "CREATE OR REPLACE FUNCTION zhili_bump_config_version() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN UPDATE config_version SET version = version + 1, token = floor(random() * 9e15)::bigint "
            "WHERE id = 1; RETURN NULL; END $$")
        for table in TABLES:
            op.execute(f"CREATE TRIGGER config_version_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                       f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION zhili_bump_config_version()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for verb in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS config_version_{table}_{verb}")
    else:
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS config_version_{table} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS zhili_bump_config_version()")
    op.drop_table('config_version')
