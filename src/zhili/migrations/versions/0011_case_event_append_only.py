"""case_event append-only: the timeline refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 02:30:00

The case timeline is the legal record of how a case was handled. Like ``audit_event`` (0001) it is now guarded in
the database itself: on SQLite a BEFORE UPDATE and a BEFORE DELETE trigger abort the statement; on PostgreSQL a
row-level trigger refuses UPDATE and DELETE and a statement-level one TRUNCATE. Row-level on both, so the rule is the
same on both: any timeline row is untouchable, and a case that has none (a test's fixture, say) can still be deleted.
Nothing in the application changes a timeline row once written (a correction is a new event); a case is never
deleted either, so the ``ON DELETE CASCADE`` from ``case_event.case_id`` never removes a timeline — were a case with
a timeline deleted, the trigger would refuse it.
"""
from __future__ import annotations

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER case_event_no_{verb.lower()} BEFORE {verb} ON case_event "
                "BEGIN SELECT RAISE(ABORT, 'case_event is append-only'); END"
            )
    else:
        op.execute(
            "CREATE OR REPLACE FUNCTION zhili_case_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'case_event is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER case_event_append_only BEFORE UPDATE OR DELETE ON case_event "
            "FOR EACH ROW EXECUTE FUNCTION zhili_case_event_append_only()"
        )
        op.execute(
            "CREATE TRIGGER case_event_no_truncate BEFORE TRUNCATE ON case_event "
            "FOR EACH STATEMENT EXECUTE FUNCTION zhili_case_event_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS case_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS case_event_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS case_event_append_only ON case_event")
        op.execute("DROP TRIGGER IF EXISTS case_event_no_truncate ON case_event")
        op.execute("DROP FUNCTION IF EXISTS zhili_case_event_append_only()")
