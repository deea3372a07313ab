"""household visits (visit, visit_person, visit_photo); per-unit daily rollup of the case statistics

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-23 09:30:00

The rollup (``case_stat_unit``) is filled from the existing ``case_stat`` rows on upgrade, so an upgraded
database shows the same screen figures at once (the same computation as ``zhili cases rebuild-stats``).
"""
from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

FIGURES = ('reported', 'accepted', 'closed', 'closed_on_time', 'overdue', 'rating_sum', 'rating_count')


def upgrade() -> None:
    op.create_table('case_stat_unit',
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('depth', sa.Integer(), nullable=False),
    *[sa.Column(c, sa.Integer(), nullable=False) for c in FIGURES],
    sa.PrimaryKeyConstraint('path', 'day', name=op.f('pk_case_stat_unit')),
    sqlite_with_rowid=False
    )

    op.create_table('visit',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('grid_id', sa.Uuid(), nullable=False),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('worker_id', sa.Uuid(), nullable=True),
    sa.Column('worker_name', sa.String(length=100), nullable=False),
    sa.Column('visited_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.Enum('routine', 'care', 'rental_check', 'dispute_follow_up', 'safety_check', 'other',
                              name='visitkind', native_enum=False, length=24), nullable=False),
    sa.Column('summary', sa.String(length=200), nullable=False),
    sa.Column('findings', sa.Text(), nullable=True),
    sa.Column('case_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_visit_case_id_case'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['grid_id'], ['unit.id'], name=op.f('fk_visit_grid_id_unit'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_visit_household_id_household'),
                            ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['worker_id'], ['app_user.id'], name=op.f('fk_visit_worker_id_app_user'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit'))
    )
    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.create_index('ix_visit_household', ['household_id', 'visited_at'], unique=False)
        batch_op.create_index('ix_visit_path_at', ['path', 'visited_at'], unique=False)
        batch_op.create_index('ix_visit_worker', ['worker_id', 'visited_at'], unique=False)

    op.create_table('visit_person',
    sa.Column('visit_id', sa.Uuid(), nullable=False),
    sa.Column('person_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_visit_person_person_id_person'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_visit_person_visit_id_visit'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('visit_id', 'person_id', name=op.f('pk_visit_person'))
    )
    with op.batch_alter_table('visit_person', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visit_person_person_id'), ['person_id'], unique=False)

    op.create_table('visit_photo',
    sa.Column('visit_id', sa.Uuid(), nullable=False),
    sa.Column('attachment_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['attachment_id'], ['attachment.id'], name=op.f('fk_visit_photo_attachment_id_attachment'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], name=op.f('fk_visit_photo_visit_id_visit'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('visit_id', 'attachment_id', name=op.f('pk_visit_photo'))
    )
    with op.batch_alter_table('visit_photo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visit_photo_attachment_id'), ['attachment_id'], unique=False)

    _fill_rollup(op.get_bind())


def _fill_rollup(conn: sa.Connection) -> None:
    """Every unit's daily figures from ``case_stat``: the paths' own rows, then each depth folded onto its parent,
    deepest first (self-contained: the same computation as ``zhili.cases.rollup.rebuild``)."""
    figures = ', '.join(FIGURES)
    conn.execute(sa.text(
        f"INSERT INTO case_stat_unit (path, day, depth, {figures}) "
        "SELECT path, day, length(path) - length(replace(path, '/', '')), "
        + ', '.join(f'sum({c})' for c in FIGURES) + " FROM case_stat GROUP BY path, day"))
    upsert = sa.text(
        f"INSERT INTO case_stat_unit (path, day, depth, {figures}) VALUES (:path, :day, :depth, "
        + ', '.join(f':{c}' for c in FIGURES) + ") ON CONFLICT (path, day) DO UPDATE SET "
        + ', '.join(f'{c} = case_stat_unit.{c} + excluded.{c}' for c in FIGURES)
    ).bindparams(sa.bindparam('day', type_=sa.Date()))
    deepest = conn.scalar(sa.text("SELECT max(depth) FROM case_stat_unit")) or 0
    for depth in range(deepest, 0, -1):  # every level, also those with no rows of their own yet
        parents: dict[tuple[str, object], list[int]] = defaultdict(lambda: [0] * len(FIGURES))
        rows = conn.execute(sa.text(f"SELECT path, day, {figures} FROM case_stat_unit WHERE depth = :d")
                            .columns(sa.column('path', sa.String()), sa.column('day', sa.Date())),
                            {'d': depth}).all()
        for row in rows:
            acc = parents[(row[0].rsplit('/', 1)[0], row[1])]
            for i in range(len(FIGURES)):
                acc[i] += int(row[2 + i] or 0)
        batch = [{'path': p, 'day': d, 'depth': depth - 1, **dict(zip(FIGURES, v, strict=True))}
                 for (p, d), v in parents.items()]
        for start in range(0, len(batch), 5000):
            conn.execute(upsert, batch[start:start + 5000])


def downgrade() -> None:
    with op.batch_alter_table('visit_photo', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visit_photo_attachment_id'))
    op.drop_table('visit_photo')
    with op.batch_alter_table('visit_person', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visit_person_person_id'))
    op.drop_table('visit_person')
    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.drop_index('ix_visit_worker')
        batch_op.drop_index('ix_visit_path_at')
        batch_op.drop_index('ix_visit_household')
    op.drop_table('visit')
    op.drop_table('case_stat_unit')
