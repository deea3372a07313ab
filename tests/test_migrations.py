"""Migrations on a fresh database: upgrade → downgrade → upgrade, schema equals the models, audit guards.

Runs against a new temporary SQLite file, or — when ``ZHILI_TEST_DATABASE_URL`` is PostgreSQL — a new schema
(selected with ``-csearch_path`` like the session fixture), dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

import zhili.models  # noqa: F401  (fills Base.metadata)
from zhili.core import migrate, partitions
from zhili.core.db import Base, include_object_on, make_engine

VERSION_TABLE = "alembic_version"


@pytest.fixture(scope="module")
def fresh_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = os.environ.get("ZHILI_TEST_DATABASE_URL") or ""
    if url.startswith("postgresql"):
        schema = f"zm_{uuid.uuid4().hex[:10]}"
        admin = make_engine(url)
        try:
            with admin.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
        except Exception as exc:
            if os.environ.get("ZHILI_REQUIRE_POSTGRES"):
                raise
            pytest.skip(f"PostgreSQL unreachable: {exc}")
        eng = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
        try:
            yield eng
        finally:
            eng.dispose()
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
    else:
        eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('migrations') / 'fresh.db'}")
        yield eng
        eng.dispose()


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as conn:
        migrate.upgrade(revision, connection=conn)


def downgrade(engine: Engine, revision: str = "base") -> None:
    with engine.begin() as conn:
        migrate.downgrade(revision, connection=conn)


def tables(engine: Engine) -> set[str]:
    """The tables of the schema, without PostgreSQL's monthly partitions (made at run time, not by a model)."""
    with engine.connect() as conn:
        return set(inspect(conn).get_table_names()) - partitions.partition_tables(conn)


def audit_triggers(conn: Connection, table: str = "audit_event") -> set[str]:
    if conn.dialect.name == "sqlite":
        return set(conn.scalars(text(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"), {"t": table}))
    return set(conn.scalars(text(
        "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE c.relname = :t AND c.relnamespace = current_schema()::regnamespace "
        "AND NOT t.tgisinternal"), {"t": table}))


def expected_triggers(conn: Connection, table: str = "audit_event") -> set[str]:
    if conn.dialect.name == "sqlite":
        return {f"{table}_no_update", f"{table}_no_delete"}
    return {f"{table}_append_only"}


@pytest.fixture(scope="module")
def migrated(fresh_engine: Engine) -> Engine:
    """The fresh database taken through upgrade head → downgrade base → upgrade head."""
    assert tables(fresh_engine) == set()
    upgrade(fresh_engine)
    downgrade(fresh_engine)
    upgrade(fresh_engine)
    return fresh_engine


def test_upgrade_downgrade_upgrade_round_trip_ends_at_the_head_revision(migrated):
    with migrated.connect() as conn:
        assert migrate.current_revision(conn) == migrate.head_revision() is not None


def test_after_upgrade_the_tables_are_exactly_those_of_the_models(migrated):
    assert tables(migrated) == set(Base.metadata.tables) | {VERSION_TABLE}


def test_after_upgrade_the_audit_guard_triggers_exist(migrated):
    with migrated.connect() as conn:
        assert audit_triggers(conn) == expected_triggers(conn)


def test_after_upgrade_the_case_timeline_has_the_same_append_only_guard(migrated):
    with migrated.connect() as conn:
        expected = expected_triggers(conn, "case_event")
        if conn.dialect.name != "sqlite":  # row-level UPDATE/DELETE (as on SQLite) + statement-level TRUNCATE
            expected |= {"case_event_no_truncate"}
        assert audit_triggers(conn, "case_event") == expected


def test_after_upgrade_the_audit_guard_refuses_updates_and_deletes(migrated):
    with migrated.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text(
                "INSERT INTO audit_event (seq, at, action, object_type, prev_hash, hash) "
                "VALUES (1, CURRENT_TIMESTAMP, 'probe', 'probe', :z, :h)"), {"z": "0" * 64, "h": "1" * 64})
            for stmt in ("UPDATE audit_event SET action = 'forged'", "DELETE FROM audit_event"):
                nested = conn.begin_nested()
                with pytest.raises(DBAPIError, match="append-only"):
                    conn.execute(text(stmt))
                nested.rollback()
            assert conn.scalar(text("SELECT action FROM audit_event WHERE seq = 1")) == "probe"
        finally:
            trans.rollback()


def test_the_geo_version_row_is_seeded_by_the_migration(migrated):
    with migrated.connect() as conn:
        assert conn.execute(text("SELECT id, version FROM geo_version")).all() == [(1, 0)]


def _diff(conn: Connection) -> list[object]:
    # compare_type as in migrations/env.py, plus server defaults (stricter than env.py); nothing ignored but the
    # monthly partitions of PostgreSQL's partitioned tables (as in env.py: tables made at run time, not by a model)
    ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True,
                                                 "include_name": partitions.include_name(
                                                     partitions.partition_tables(conn)),
                                                 "include_object": include_object_on(conn.dialect.name)})
    return list(compare_metadata(ctx, Base.metadata))


def test_the_models_and_the_migrations_do_not_differ(migrated):
    with migrated.connect() as conn:
        assert _diff(conn) == []


def test_the_model_comparison_notices_a_schema_drift(migrated):
    # guard against a vacuous comparison: a dropped index and an extra column are both reported
    with migrated.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("DROP INDEX ix_person_name_birth"))
            conn.execute(text("ALTER TABLE person ADD COLUMN drift INTEGER"))
            kinds = {d[0] for d in _diff(conn) if isinstance(d, tuple)}
            assert {"add_index", "remove_column"} <= kinds
        finally:
            trans.rollback()


def test_downgrade_to_base_removes_every_project_table_and_the_guards(fresh_engine, migrated):
    downgrade(fresh_engine)
    try:
        assert tables(fresh_engine) - {VERSION_TABLE} == set()
        with fresh_engine.connect() as conn:
            assert migrate.current_revision(conn) is None
            if conn.dialect.name == "sqlite":
                assert conn.scalar(text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")) == 0
            else:
                assert conn.scalar(text(
                    "SELECT count(*) FROM pg_proc WHERE proname IN ('zhili_audit_append_only', "
                    "'zhili_case_event_append_only') AND pronamespace = current_schema()::regnamespace")) == 0
    finally:
        upgrade(fresh_engine)  # leave the module fixture migrated for any test that runs after this one


def test_the_migration_fills_the_lattice_cell_exactly_as_intake_computes_it(migrated):
    import importlib.util

    from zhili.cases.scope import geo_cell

    path = Path(__file__).resolve().parents[1] / "src/zhili/migrations/versions/0008_auth_version_dup_index.py"
    spec = importlib.util.spec_from_file_location("m0008", path)
    assert spec is not None and spec.loader is not None
    m0008 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m0008)
    points = [(119.9012, 30.9087), (120.0, 31.1), (119.99999, 30.00001), (-0.0001, -0.0049), (-73.9857, 40.7484),
              (151.2093, -33.8688), (0.0, 0.0)]
    with migrated.connect() as conn:
        sql = m0008.cell_sql(conn.dialect.name, lon=":lon", lat=":lat")
        for lon, lat in points:
            got = conn.execute(text(f"SELECT {sql}"), {"lon": lon, "lat": lat}).scalar()
            assert got == geo_cell(lon, lat), (lon, lat)


def _load_migration(name: str) -> object:
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "src/zhili/migrations/versions" / name
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _filler(column: object) -> object:
    """A value for a NOT NULL column the test does not care about."""
    import datetime as dt
    import enum

    sa_type = getattr(column, "type", None)
    enum_class = getattr(sa_type, "enum_class", None)
    if enum_class is not None and issubclass(enum_class, enum.Enum):
        return next(iter(enum_class))
    try:
        py = getattr(sa_type, "impl_instance", sa_type).python_type  # a TypeDecorator's own may say object
    except (AttributeError, NotImplementedError):
        return {}
    return {str: "x", int: 0, bool: False, float: 0.0, bytes: b"", dict: {}, list: [], uuid.UUID: uuid.uuid4(),
            dt.datetime: dt.datetime(2026, 1, 5, 8, tzinfo=dt.UTC), dt.date: dt.date(2026, 1, 5)}.get(py, "x")


def _insert(conn: Connection, name: str, **values: object) -> None:
    """One row in a table as it stands at the current revision: ``values``, and fillers for the other NOT NULL
    columns without a server default (typed after the model where the model still has the column)."""
    from sqlalchemy import String, column, table

    model = Base.metadata.tables[name]
    row: dict[str, object] = {}
    for c in inspect(conn).get_columns(name):
        if c["name"] in values:
            row[c["name"]] = values[c["name"]]
        elif not c["nullable"] and c.get("default") is None and c["name"] in model.c:
            row[c["name"]] = _filler(model.c[c["name"]])
    cols = [column(n, model.c[n].type if n in model.c else String()) for n in row]
    conn.execute(table(name, *cols).insert().values(row))


def test_migration_0013_splits_supports_from_merged_cases_and_renames_the_notification_recipient(fresh_engine,
                                                                                                migrated):
    m = _load_migration("0013_honest_counts.py")
    downgrade(fresh_engine, m.down_revision)  # type: ignore[attr-defined]
    ids = {k: uuid.uuid4() for k in ("resident", "master", "dup1", "dup2", "supported", "plain", "note")}
    try:
        with fresh_engine.begin() as conn:
            _insert(conn, "app_user", id=ids["resident"], username="m0013", role="resident")
            # the old meaning: support_count = supports + merged cases
            for key, n, master in [("master", 3, None), ("dup1", 0, "master"), ("dup2", 0, "master"),
                                   ("supported", 1, None), ("plain", 0, None)]:
                _insert(conn, "case", id=ids[key], number=f"M0013-{key}", support_count=n,
                        master_case_id=ids[master] if master else None)
            for key in ("master", "supported"):
                _insert(conn, "case_support", id=uuid.uuid4(), case_id=ids[key], user_id=ids["resident"])
            _insert(conn, "notification", id=ids["note"], department="CG", kind="task", title="t", body="b")
        upgrade(fresh_engine, "0013")
        counts = "SELECT number, support_count, merged_count FROM \"case\" WHERE number LIKE 'M0013-%' ORDER BY number"
        with fresh_engine.connect() as conn:
            assert [tuple(r) for r in conn.execute(text(counts))] == [
                ("M0013-dup1", 0, 0), ("M0013-dup2", 0, 0), ("M0013-master", 1, 2), ("M0013-plain", 0, 0),
                ("M0013-supported", 1, 0)]
            assert conn.scalar(text("SELECT recipient FROM notification WHERE kind = 'task'")) == "CG"
        downgrade(fresh_engine, m.down_revision)  # type: ignore[attr-defined]
        with fresh_engine.connect() as conn:
            assert [tuple(r) for r in conn.execute(text(counts.replace(", merged_count", "")))] == [
                ("M0013-dup1", 0), ("M0013-dup2", 0), ("M0013-master", 3), ("M0013-plain", 0), ("M0013-supported", 1)]
            assert conn.scalar(text("SELECT department FROM notification WHERE kind = 'task'")) == "CG"
    finally:
        with fresh_engine.begin() as conn:
            conn.execute(text("DELETE FROM notification"))
            conn.execute(text("DELETE FROM case_support"))
            conn.execute(text("UPDATE \"case\" SET master_case_id = NULL"))
            conn.execute(text("DELETE FROM \"case\""))
            conn.execute(text("DELETE FROM app_user"))
        upgrade(fresh_engine)


def test_migration_0023_partitions_the_history_keeping_every_row_and_the_chain(fresh_engine, migrated, monkeypatch):
    """Existing timeline and audit rows across several months: after 0023 every row is there (on PostgreSQL each in
    its month's partition), the chain verifies; after the downgrade the same rows in plain tables, still verifying."""
    import datetime as dt

    from sqlalchemy.orm import Session

    from zhili.core import audit

    m = _load_migration("0023_partitioned_history.py")
    months = [dt.datetime(2025, 11, 3, 8, tzinfo=dt.UTC), dt.datetime(2026, 1, 31, 23, 59, tzinfo=dt.UTC),
              dt.datetime(2026, 2, 1, 0, 0, tzinfo=dt.UTC), audit.utcnow()]
    case_id = uuid.uuid4()
    try:
        with fresh_engine.begin() as conn:
            s = Session(bind=conn)
            for i, moment in enumerate(months):
                monkeypatch.setattr(audit, "utcnow", lambda moment=moment: moment)
                audit.record(s, actor=audit.SYSTEM, action="probe.migrate", object_type="probe", object_id=str(i),
                             after={"i": i, "empty": ""})
                s.flush()
            monkeypatch.undo()
            _insert(conn, "case", id=case_id, number="M0023-1")
            for i, moment in enumerate(months):
                _insert(conn, "case_event", id=uuid.uuid4(), case_id=case_id, seq=i + 1, at=moment)
            s.close()
        # the rows are written by today's code at the head, then taken down to 0022 with the history (the writer
        # needs the head row of 0025)
        downgrade(fresh_engine, m.down_revision)  # type: ignore[attr-defined]
        counts = ("SELECT (SELECT count(*) FROM audit_event), (SELECT count(*) FROM case_event), "
                  "(SELECT string_agg(hash, ',' ORDER BY seq) FROM audit_event)")
        counts = counts if fresh_engine.dialect.name == "postgresql" else counts.replace(
            "(SELECT string_agg(hash, ',' ORDER BY seq) FROM audit_event)",
            "(SELECT group_concat(hash) FROM (SELECT hash FROM audit_event ORDER BY seq))")
        with fresh_engine.connect() as conn:
            before = tuple(conn.execute(text(counts)).one())
        assert before[:2] == (4, 4)
        upgrade(fresh_engine)
        with fresh_engine.connect() as conn:
            assert tuple(conn.execute(text(counts)).one()) == before
            assert audit.verify_chain(Session(bind=conn)).ok
            if conn.dialect.name == "postgresql":
                held = conn.execute(text("SELECT tableoid::regclass::text, count(*) FROM case_event GROUP BY 1 "
                                         "ORDER BY 1")).all()
                assert [r[0] for r in held][:3] == ["case_event_p202511", "case_event_p202601", "case_event_p202602"]
                assert "case_event_default" not in [r[0] for r in held]
                assert {"audit_event_p202512", "audit_event_p202603"} <= partitions.partition_tables(conn)
                pk = inspect(conn).get_pk_constraint("audit_event")["constrained_columns"]
                assert pk == ["seq", "at"]
            else:
                assert inspect(conn).get_pk_constraint("audit_event")["constrained_columns"] == ["seq"]
        downgrade(fresh_engine, m.down_revision)  # type: ignore[attr-defined]
        with fresh_engine.connect() as conn:
            assert tuple(conn.execute(text(counts)).one()) == before  # the same rows, the same hashes in order
            assert partitions.partition_tables(conn) == set()
            assert inspect(conn).get_pk_constraint("audit_event")["constrained_columns"] == ["seq"]
            assert audit_triggers(conn) == expected_triggers(conn)
    finally:
        if fresh_engine.dialect.name == "sqlite":  # SQLite's DROP TABLE "case" deletes (cascades to) the timeline
            with fresh_engine.begin() as conn:
                for name in ("case_event_no_delete", "case_event_no_update"):
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        downgrade(fresh_engine)  # the append-only rows go with their tables
        upgrade(fresh_engine)


def test_migration_0025_fills_the_head_row_from_the_newest_event(fresh_engine, migrated):
    """An existing log gets its head row from its newest event; the writer links the next event to it."""
    from sqlalchemy.orm import Session

    from zhili.core import audit

    with fresh_engine.begin() as conn:
        s = Session(bind=conn)
        events = [audit.record(s, actor=audit.SYSTEM, action="probe.head", object_type="probe", object_id=str(i))
                  for i in range(3)]
        s.flush()
        newest = (events[-1].seq, events[-1].hash)
        s.close()
    downgrade(fresh_engine, "0024")
    with fresh_engine.connect() as conn:
        assert "audit_head" not in inspect(conn).get_table_names()
    upgrade(fresh_engine)
    with fresh_engine.begin() as conn:
        assert tuple(conn.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()) == newest
        s = Session(bind=conn)
        nxt = audit.record(s, actor=audit.SYSTEM, action="probe.head", object_type="probe", object_id="next")
        s.flush()
        assert (nxt.seq, nxt.prev_hash) == (newest[0] + 1, newest[1])
        assert audit.verify_chain(s).ok
        s.close()
