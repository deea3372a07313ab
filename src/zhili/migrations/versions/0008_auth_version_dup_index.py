"""authentication version counter (row 2 of config_version) bumped by triggers; duplicate-search index;
notification outbox flag

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 12:40:00

Row 2 of ``config_version`` changes whenever a cached principal could have become wrong: a session revoked or
deleted, a user's role, department, name or active flag changed, a unit binding added or removed, a unit's path
changed. Per-process principal caches compare it instead of reading the session and the user's units.

``case.geo_cell`` is the cell of a 0.005° lattice the case's point lies in, filled here for existing cases; the
duplicate search (same category, a box around the point, a time window) seeks the few cells around a point in
``ix_case_nearby`` (category, cell, reported time) instead of reading every case of the category in the window.

``notification.delivery_pending`` marks a notification whose deferred channels (webhook, SMS gateway) have not been
tried yet: they are called after the commit, and the sweep sends again what a stopped process left pending.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# table → the statements (and, for UPDATE, the columns) that bump the version
SQLITE_TRIGGERS = {
    "auth_session": ("UPDATE", "DELETE"),
    "app_user": ("UPDATE OF username, display_name, role, department, is_active", "DELETE"),
    "user_unit": ("INSERT", "UPDATE", "DELETE"),
    "unit": ("UPDATE OF path",),
}
BUMP = "UPDATE config_version SET version = version + 1, token = {token} WHERE id = 2"


def cell_sql(dialect: str, lon: str = "lon", lat: str = "lat") -> str:
    """SQL for the lattice cell of (lon, lat), as ``zhili.cases.scope.geo_cell`` computes it (0.005° cells, row ×
    100000 + column)."""
    if dialect == "sqlite":  # floor() without relying on SQLite's optional math functions
        floor = "(CAST({x} AS INTEGER) - ({x} < CAST({x} AS INTEGER)))"
    else:
        floor = "CAST(floor({x}) AS BIGINT)"
    return f"{floor.format(x=f'{lat} / 0.005')} * 100000 + {floor.format(x=f'{lon} / 0.005')}"


def upgrade() -> None:
    op.execute("INSERT INTO config_version (id, version, token) VALUES (2, 0, 0)")
    if op.get_bind().dialect.name == "sqlite":
        for table, verbs in SQLITE_TRIGGERS.items():
            for verb in verbs:
                name = f"auth_version_{table}_{verb.split()[0].lower()}"
                op.execute(f"CREATE TRIGGER {name} AFTER {verb} ON {table} "
                           f"BEGIN {BUMP.format(token='abs(random())')}; END")
    else:
        op.execute(
            "CREATE OR REPLACE FUNCTION zhili_bump_auth_version() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {BUMP.format(token='floor(random() * 9e15)::bigint')}; RETURN NULL; END $$")
        for table, verbs in SQLITE_TRIGGERS.items():
            events = " OR ".join(verbs) + (" OR TRUNCATE" if "DELETE" in verbs else "")
            op.execute(f"CREATE TRIGGER auth_version_{table} AFTER {events} ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION zhili_bump_auth_version()")
    with op.batch_alter_table("case") as batch:
        batch.add_column(sa.Column("geo_cell", sa.BigInteger(), nullable=True))
    op.execute(f'UPDATE "case" SET geo_cell = {cell_sql(op.get_bind().dialect.name)} '
               'WHERE lat IS NOT NULL AND lon IS NOT NULL')
    op.create_index("ix_case_nearby", "case", ["category_code", "geo_cell", "reported_at"])
    with op.batch_alter_table("notification") as batch:
        batch.add_column(sa.Column("delivery_pending", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index("ix_notification_pending", "notification", ["delivery_pending", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_notification_pending", table_name="notification")
    with op.batch_alter_table("notification") as batch:
        batch.drop_column("delivery_pending")
    op.drop_index("ix_case_nearby", table_name="case")
    with op.batch_alter_table("case") as batch:
        batch.drop_column("geo_cell")
    if op.get_bind().dialect.name == "sqlite":
        for table, verbs in SQLITE_TRIGGERS.items():
            for verb in verbs:
                op.execute(f"DROP TRIGGER IF EXISTS auth_version_{table}_{verb.split()[0].lower()}")
    else:
        for table in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS auth_version_{table} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS zhili_bump_auth_version()")
    op.execute("DELETE FROM config_version WHERE id = 2")
