"""partitioned history: case_event and audit_event by month on PostgreSQL; partition_archive

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 23:30:00

PostgreSQL: each table is rebuilt as ``PARTITION BY RANGE (at)`` — the old table renamed aside, a new one made
``LIKE`` it, one partition per UTC month from the oldest row's month to three months past the later of now and the
newest row, a DEFAULT partition, the rows copied through the parent, then the keys, indexes, the foreign key and
the append-only triggers made on the parent (indexes and row triggers cascade to the partitions; the statement
triggers are added to each partition, as :mod:`zhili.core.partitions` does for later months). A partitioned
table's unique keys must hold the partition key: the primary keys become (seq, at) and (id, at), and the audit
log's UNIQUE(hash) goes (the chain verification checks every hash; nothing looked a row up by it). Neither table
has a sequence or a server default to carry over (``seq`` is the chain's own counter, ``id`` a UUID from Python),
and no foreign key references either table.

SQLite keeps plain tables: ``audit_event`` is rebuilt only to drop UNIQUE(hash) (SQLite cannot drop a constraint
in place), keeping ``seq`` as the INTEGER PRIMARY KEY (the rowid); ``case_event`` is untouched.

Downgrade reverses both: plain tables with the old keys, the rows copied back (rows of partitions archived since
are gone from the database: they live in their archive files).
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

AHEAD = 3
# table: (primary key, [(index, columns)], statement trigger events, trigger function)
TABLES = {
    "audit_event": (["seq", "at"], [("ix_audit_object", "object_type, object_id"), ("ix_audit_actor", "actor_id, at"),
                                    ("ix_audit_at", "at")], "UPDATE OR DELETE OR TRUNCATE", "zhili_audit_append_only"),
    "case_event": (["id", "at"], [("ix_case_event_case", "case_id, seq")], "TRUNCATE",
                   "zhili_case_event_append_only"),
}


def _add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def _months(first: dt.datetime | None, last: dt.datetime | None) -> list[dt.date]:
    now = dt.datetime.now(dt.UTC)
    start = first or now
    end = max(last or now, now)
    month, stop = dt.date(start.year, start.month, 1), _add_months(dt.date(end.year, end.month, 1), AHEAD)
    out = []
    while month <= stop:
        out.append(month)
        month = _add_months(month, 1)
    return out


def _guard(table: str, partition: str) -> None:
    events, function = TABLES[table][2], TABLES[table][3]
    op.execute(f'CREATE TRIGGER "{partition}_append_only" BEFORE {events} ON "{partition}" '
               f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()")


def _parent_triggers(table: str) -> None:
    if table == "audit_event":
        op.execute("CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_event "
                   "FOR EACH STATEMENT EXECUTE FUNCTION zhili_audit_append_only()")
    else:
        op.execute("CREATE TRIGGER case_event_append_only BEFORE UPDATE OR DELETE ON case_event "
                   "FOR EACH ROW EXECUTE FUNCTION zhili_case_event_append_only()")
        op.execute("CREATE TRIGGER case_event_no_truncate BEFORE TRUNCATE ON case_event "
                   "FOR EACH STATEMENT EXECUTE FUNCTION zhili_case_event_append_only()")


def _indexes_and_fk(table: str, pk: list[str]) -> None:
    op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT pk_{table} PRIMARY KEY ({", ".join(pk)})')
    for name, cols in TABLES[table][1]:
        op.execute(f'CREATE INDEX {name} ON "{table}" ({cols})')
    if table == "case_event":
        op.execute('ALTER TABLE case_event ADD CONSTRAINT fk_case_event_case_id_case FOREIGN KEY (case_id) '
                   'REFERENCES "case" (id) ON DELETE CASCADE')


def _rename_aside(table: str, suffix: str) -> None:
    bind = op.get_bind()
    op.execute(f'ALTER TABLE "{table}" RENAME TO "{table}_{suffix}"')
    names = bind.execute(sa.text(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_class t ON t.oid = i.indrelid WHERE t.relname = :t "
        "AND t.relnamespace = current_schema()::regnamespace"), {"t": f"{table}_{suffix}"}).scalars().all()
    for name in names:
        op.execute(f'ALTER INDEX "{name}" RENAME TO "{name}_{suffix}"')


def _partition_pg(table: str) -> None:
    bind = op.get_bind()
    pk = TABLES[table][0]
    _rename_aside(table, "old")
    op.execute(f'CREATE TABLE "{table}" (LIKE "{table}_old" INCLUDING DEFAULTS) PARTITION BY RANGE (at)')
    first, last = bind.execute(sa.text(f'SELECT min(at), max(at) FROM "{table}_old"')).one()
    for month in _months(first, last):
        nxt = _add_months(month, 1)
        name = f"{table}_p{month.year:04d}{month.month:02d}"
        op.execute(f'CREATE TABLE "{name}" PARTITION OF "{table}" FOR VALUES FROM '
                   f"('{month.isoformat()} 00:00:00+00') TO ('{nxt.isoformat()} 00:00:00+00')")
        _guard(table, name)
    op.execute(f'CREATE TABLE "{table}_default" PARTITION OF "{table}" DEFAULT')
    _guard(table, f"{table}_default")
    op.execute(f'INSERT INTO "{table}" SELECT * FROM "{table}_old"')
    op.execute(f'DROP TABLE "{table}_old"')
    _indexes_and_fk(table, pk)
    _parent_triggers(table)
    op.execute(f'ANALYZE "{table}"')


def _unpartition_pg(table: str) -> None:
    _rename_aside(table, "part")
    op.execute(f'CREATE TABLE "{table}" (LIKE "{table}_part" INCLUDING DEFAULTS)')
    op.execute(f'INSERT INTO "{table}" SELECT * FROM "{table}_part"')
    op.execute(f'DROP TABLE "{table}_part" CASCADE')
    _indexes_and_fk(table, ["seq"] if table == "audit_event" else ["id"])
    if table == "audit_event":
        op.execute("ALTER TABLE audit_event ADD CONSTRAINT uq_audit_event_hash UNIQUE (hash)")
    _parent_triggers(table)
    op.execute(f'ANALYZE "{table}"')


def _sqlite_audit_table(name: str, unique_hash: bool) -> None:
    extra: list[sa.schema.SchemaItem] = [sa.PrimaryKeyConstraint('seq', name='pk_audit_event')]
    if unique_hash:
        extra.append(sa.UniqueConstraint('hash', name='uq_audit_event_hash'))
    op.create_table(name,
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('actor_name', sa.String(length=100), nullable=True),
    sa.Column('actor_role', sa.String(length=32), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=64), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    *extra)


def _rebuild_sqlite_audit(unique_hash: bool) -> None:
    _sqlite_audit_table("audit_event_new", unique_hash)
    op.execute("INSERT INTO audit_event_new SELECT * FROM audit_event")
    op.execute("DROP TABLE audit_event")  # its indexes and triggers go with it
    op.execute("ALTER TABLE audit_event_new RENAME TO audit_event")
    for name, cols in TABLES["audit_event"][1]:
        op.execute(f"CREATE INDEX {name} ON audit_event ({cols})")
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event "
                   "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END")


def upgrade() -> None:
    op.create_table('partition_archive',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('table_name', sa.String(length=64), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('rows', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('first_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('last_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=True),
    sa.Column('last_hash', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partition_archive')),
    sa.UniqueConstraint('table_name', 'month', name=op.f('uq_partition_archive_table_name_month'))
    )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_audit(unique_hash=False)
        return
    op.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for table in TABLES:
        _partition_pg(table)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_audit(unique_hash=True)
    else:
        for table in TABLES:
            _unpartition_pg(table)
    op.drop_table('partition_archive')

