"""Materialized-path columns in the C collation on PostgreSQL, so "under this unit" is one index range; maintained
per-grid register counts (``register_count``)

Every ``path`` column (and ``assignee_path``, ``region_path``, ``root_path``, ``parent_path``) takes
``COLLATE "C"``: byte order, as SQLite's BINARY indexes and Python's ``sorted``. Under the database's linguistic
collation no btree index served ``path LIKE 'p/%'`` and a range over it would be wrong; see
``zhili.core.db.path_string`` and ``zhili.core.jurisdiction``. The table data is not rewritten (same type, only the
collation changes); PostgreSQL rebuilds the indexes on these columns, composite ones included. SQLite: nothing.

``register_count`` (path, kind, n): rows of building / household / person (active) / organisation per grid path,
filled from the registers here and kept by triggers in every writing transaction — on PostgreSQL statement-level
with transition tables (one upsert of the statement's net change per path, sorted, so a bulk COPY costs one
grouped statement and two writers lock rows in the same order), on SQLite row-level upserts.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 23:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

# (table, column, length) — every path_string() column of the models at this revision
PATH_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ('building', 'path', 400),
    ('case', 'path', 400),
    ('case', 'assignee_path', 400),
    ('case_stat', 'path', 400),
    ('case_stat_unit', 'path', 400),
    ('dispatch_rule', 'region_path', 400),
    ('entrance', 'path', 400),
    ('eval_result', 'path', 400),
    ('eval_result', 'parent_path', 400),
    ('eval_run', 'root_path', 400),
    ('eval_submission', 'path', 400),
    ('household', 'path', 400),
    ('hub_change', 'path', 400),
    ('hub_golden', 'path', 400),
    ('hub_import', 'path', 400),
    ('hub_match_candidate', 'path', 400),
    ('hub_quarantine', 'path', 400),
    ('hub_source', 'path', 400),
    ('hub_source_record', 'path', 400),
    ('hub_subscription', 'path', 400),
    ('intel_risk', 'path', 255),
    ('intel_warning', 'path', 255),
    ('iot_alert', 'path', 400),
    ('iot_device', 'path', 400),
    ('notice', 'path', 400),
    ('organisation', 'path', 400),
    ('person', 'path', 400),
    ('rental_delivery', 'path', 400),
    ('rental_key', 'path', 400),
    ('rental_room', 'path', 400),
    ('rental_stay', 'path', 400),
    ('suggestion', 'path', 400),
    ('unit', 'path', 400),
    ('visit', 'path', 400),
)


def _alter(collation: str) -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    tables: dict[str, list[str]] = {}
    for table, column, length in PATH_COLUMNS:
        tables.setdefault(table, []).append(
            f'ALTER COLUMN {column} TYPE VARCHAR({length}) COLLATE "{collation}"')
    bind = op.get_bind()
    for table, clauses in tables.items():  # one statement per table: its indexes are rebuilt once
        # a trigger on a column ("AFTER UPDATE OF path", the auth-version bump on unit) blocks a type change:
        # dropped and recreated as it was
        triggers = bind.execute(sa.text(
            "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = to_regclass(:t) "
            "AND NOT tgisinternal AND cardinality(tgattr::int2[]) > 0"), {"t": f'"{table}"'}).all()
        for name, _ in triggers:
            op.execute(f'DROP TRIGGER "{name}" ON "{table}"')
        op.execute(f'ALTER TABLE "{table}" ' + ', '.join(clauses))
        for _, definition in triggers:
            op.execute(definition)
    for table in tables:
        op.execute(f'ANALYZE "{table}"')


# register table → (kind, condition on a row counted; None: every row)
COUNTED: dict[str, tuple[str, str | None]] = {
    'building': ('buildings', None),
    'household': ('households', None),
    'person': ('persons', "status = 'active'"),
    'organisation': ('organisations', None),
}


def _pg_function(table: str, kind: str, cond: str | None) -> str:
    where = f'WHERE {cond}' if cond else ''
    upsert = ("INSERT INTO register_count (path, kind, n) SELECT path, '{kind}', sum(d) FROM ({rows}) AS x "
              "GROUP BY path HAVING sum(d) <> 0 ORDER BY path "
              "ON CONFLICT (path, kind) DO UPDATE SET n = register_count.n + EXCLUDED.n;")
    new = f'SELECT path, 1 AS d FROM zhili_new {where}'
    old = f'SELECT path, -1 AS d FROM zhili_old {where}'
    return f"""CREATE FUNCTION zhili_register_count_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {upsert.format(kind=kind, rows=new)}
    ELSIF TG_OP = 'UPDATE' THEN
        {upsert.format(kind=kind, rows=new + ' UNION ALL ' + old)}
    ELSE
        {upsert.format(kind=kind, rows=old)}
    END IF;
    RETURN NULL;
END $$"""


def _pg_triggers(table: str) -> list[str]:
    out = []
    for verb, refs in (('INSERT', 'NEW TABLE AS zhili_new'), ('UPDATE', 'OLD TABLE AS zhili_old NEW TABLE AS zhili_new'),
                       ('DELETE', 'OLD TABLE AS zhili_old')):
        out.append(f'CREATE TRIGGER register_count_{verb.lower()} AFTER {verb} ON "{table}" REFERENCING {refs} '
                   f'FOR EACH STATEMENT EXECUTE FUNCTION zhili_register_count_{table}()')
    return out


def _sqlite_triggers(table: str, kind: str, cond: str | None) -> list[str]:
    def when(row: str) -> str:
        return f"({cond.replace('status', row + '.status')})" if cond else '1'

    def add(row: str, delta: int) -> str:
        return (f"INSERT INTO register_count (path, kind, n) SELECT {row}.path, '{kind}', {delta} WHERE {when(row)} "
                f"ON CONFLICT (path, kind) DO UPDATE SET n = n + {delta};")
    changed = 'path, status' if cond else 'path'
    return [
        f"CREATE TRIGGER register_count_{table}_insert AFTER INSERT ON {table} BEGIN {add('NEW', 1)} END",
        f"CREATE TRIGGER register_count_{table}_update AFTER UPDATE OF {changed} ON {table} "
        f"BEGIN {add('OLD', -1)} {add('NEW', 1)} END",
        f"CREATE TRIGGER register_count_{table}_delete AFTER DELETE ON {table} BEGIN {add('OLD', -1)} END",
    ]


def _register_count_up() -> None:
    dialect = op.get_bind().dialect.name
    path_type = sa.String(length=400).with_variant(sa.String(length=400, collation='C'), 'postgresql')
    op.create_table('register_count',
                    sa.Column('path', path_type, nullable=False),
                    sa.Column('kind', sa.String(length=16), nullable=False),
                    sa.Column('n', sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint('path', 'kind', name=op.f('pk_register_count')))
    for table, (kind, cond) in COUNTED.items():
        op.execute(f"INSERT INTO register_count (path, kind, n) SELECT path, '{kind}', count(*) FROM {table} "
                   f"{'WHERE ' + cond if cond else ''} GROUP BY path")
        if dialect == 'postgresql':
            op.execute(_pg_function(table, kind, cond))
            for stmt in _pg_triggers(table):
                op.execute(stmt)
        else:
            for stmt in _sqlite_triggers(table, kind, cond):
                op.execute(stmt)


def _register_count_down() -> None:
    dialect = op.get_bind().dialect.name
    for table in COUNTED:
        for verb in ('insert', 'update', 'delete'):
            if dialect == 'postgresql':
                op.execute(f'DROP TRIGGER IF EXISTS register_count_{verb} ON "{table}"')
            else:
                op.execute(f'DROP TRIGGER IF EXISTS register_count_{table}_{verb}')
        if dialect == 'postgresql':
            op.execute(f'DROP FUNCTION IF EXISTS zhili_register_count_{table}()')
    op.drop_table('register_count')


def upgrade() -> None:
    _alter('C')
    _register_count_up()


def downgrade() -> None:
    _register_count_down()
    _alter('default')
