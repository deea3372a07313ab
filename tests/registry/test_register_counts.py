"""Maintained per-grid register counts (``register_count``): every kind of write keeps them equal to a real count,
the unit totals are read from them, and ``recount`` finds and repairs (audited) a count that drifted."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from zhili.core.audit import AuditEvent
from zhili.core.jurisdiction import path_predicate
from zhili.core.validators import id_check_digit
from zhili.registry import bulk as registry_bulk
from zhili.registry import counts
from zhili.registry import service as registry
from zhili.registry.models import Building, Person, PersonStatus, RegisterCount
from zhili.registry.schemas import BuildingIn, HouseholdIn, OrganisationIn, PersonIn
from zhili.users.service import principal_for_user

_n = iter(range(1, 100_000))


def _id(year: int = 1985) -> str:
    first17 = f"330522{year}0101{next(_n) % 500 * 2 + 1:03d}"
    return first17 + id_check_digit(first17)


def _admin(db: Session, world: Any) -> Any:
    return principal_for_user(db, user=world.users["admin"])


def _kept(db: Session) -> dict[tuple[str, str], int]:
    return {(r.path, r.kind): int(r.n) for r in db.scalars(select(RegisterCount)) if r.n}


def _assert_exact(db: Session) -> None:
    db.flush()
    assert _kept(db) == counts.real_counts(db)
    assert counts.recount(db, check_only=True) == []


def _building(db: Session, world: Any, grid: str, name: str = "1幢") -> Building:
    return registry.create_building(db, principal=_admin(db, world), data=BuildingIn(
        grid_id=world.units[grid].id, name=name, address=f"{grid}路{name}").model_dump())


def _person(db: Session, world: Any, grid: str, household: Any = None) -> Person:
    return registry.create_person(db, principal=_admin(db, world), data=PersonIn(
        name="张三", id_number=_id(), grid_id=world.units[grid].id,
        household_id=household.id if household else None).model_dump())


def test_the_migration_starts_the_counts_empty_and_exact(db, world):
    _assert_exact(db)


def test_creating_records_of_every_register_counts_them_in_their_grid(db, world):
    b = _building(db, world, "ga")
    h = registry.create_household(db, principal=_admin(db, world), data=HouseholdIn(building_id=b.id,
                                                                                   room="101").model_dump())
    _person(db, world, "ga", h)
    _person(db, world, "gb")
    registry.create_organisation(db, principal=_admin(db, world), data=OrganisationIn(
        name="某公司", org_type="enterprise", address="金陵路1号", grid_id=world.units["gc"].id).model_dump())
    _assert_exact(db)
    ga, gb, gc = (world.units[g].path for g in ("ga", "gb", "gc"))
    assert _kept(db) == {(ga, "buildings"): 1, (ga, "households"): 1, (ga, "persons"): 1, (gb, "persons"): 1,
                         (gc, "organisations"): 1}


def test_moving_a_person_to_a_household_in_another_grid_moves_the_count(db, world):
    p = _person(db, world, "ga")
    b = _building(db, world, "gc")
    h = registry.create_household(db, principal=_admin(db, world), data=HouseholdIn(building_id=b.id,
                                                                                   room="202").model_dump())
    registry.update_person(db, principal=_admin(db, world), person_id=p.id, changes={"household_id": h.id})
    _assert_exact(db)
    assert _kept(db).get((world.units["ga"].path, "persons"), 0) == 0
    assert _kept(db)[(world.units["gc"].path, "persons")] == 1


def test_a_person_who_moves_out_or_comes_back_leaves_or_rejoins_the_count(db, world):
    p = _person(db, world, "ga")
    db.execute(update(Person).where(Person.id == p.id).values(status=PersonStatus.moved_out))
    _assert_exact(db)
    assert (world.units["ga"].path, "persons") not in _kept(db)
    db.execute(update(Person).where(Person.id == p.id).values(status=PersonStatus.active))
    _assert_exact(db)


def test_deleting_records_takes_them_off_the_count(db, world):
    b = _building(db, world, "gb")
    h = registry.create_household(db, principal=_admin(db, world), data=HouseholdIn(building_id=b.id,
                                                                                   room="1").model_dump())
    p = _person(db, world, "gb")
    registry.delete_person(db, principal=_admin(db, world), person_id=p.id, reason="录入错误")
    registry.delete_household(db, principal=_admin(db, world), household_id=h.id)
    registry.delete_building(db, principal=_admin(db, world), building_id=b.id)
    _assert_exact(db)
    assert _kept(db) == {}


def test_a_batch_import_and_a_raw_multi_row_insert_are_counted(db, world):
    items = [{"name": f"李{i}", "id_number": _id(1970 + i), "grid_id": world.units["gb"].id,
              "resident_type": "registered"} for i in range(7)]
    created = registry_bulk.create_persons(db, principal=_admin(db, world), items=items)
    assert all(isinstance(p, Person) for p in created)
    # the seed's bulk writer inserts plain rows (core.bulk): the triggers count them all the same
    b = db.get(Building, _building(db, world, "gc").id)
    assert b is not None
    db.execute(insert(Building), [{"id": uuid.uuid4(), "grid_id": b.grid_id, "path": b.path, "name": f"{i}幢",
                                   "address": f"画溪路{i}号", "building_type": b.building_type,
                                   "created_at": b.created_at, "updated_at": b.updated_at, "version": 1}
                                  for i in range(5)])
    _assert_exact(db)
    assert _kept(db)[(world.units["gb"].path, "persons")] == 7
    assert _kept(db)[(world.units["gc"].path, "buildings")] == 6


def test_the_unit_totals_are_read_from_the_counts_table(db, world):
    """The overview sums the counts table: a count planted there (and nowhere else) shows in the totals."""
    from zhili.registry.overview import unit_overview

    _person(db, world, "ga")
    db.execute(update(RegisterCount).where(RegisterCount.path == world.units["ga"].path,
                                           RegisterCount.kind == "persons").values(n=1000))
    data = unit_overview(db, principal=_admin(db, world), unit_id=world.units["district"].id)
    assert data["counts"]["persons"] == 1000
    assert counts.totals_under(db, (world.units["s1"].path,))["persons"] == 1000
    assert counts.totals_under(db, (world.units["s2"].path,))["persons"] == 0


def test_recount_reports_drift_repairs_it_and_records_the_repair(db, world):
    _person(db, world, "ga")
    db.execute(update(RegisterCount).values(n=RegisterCount.n + 3))
    db.add(RegisterCount(path=world.units["gc"].path, kind="organisations", n=2))
    db.flush()
    drift = counts.recount(db, check_only=True)
    assert {(d.path, d.kind, d.kept, d.real) for d in drift} == {
        (world.units["ga"].path, "persons", 4, 1), (world.units["gc"].path, "organisations", 2, 0)}
    assert counts.recount(db, check_only=True) == drift  # checking changes nothing
    before = db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "registry.recount"))
    assert counts.recount(db) == drift
    _assert_exact(db)
    after = db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "registry.recount"))
    assert after == before + 1
    assert counts.recount(db) == []


def test_the_district_totals_use_an_index_range_on_the_counts_table(db):
    stmt = (select(RegisterCount.kind, func.sum(RegisterCount.n))
            .where(path_predicate(RegisterCount.path, ("330522/330522001",))).group_by(RegisterCount.kind))
    compiled = stmt.compile(dialect=db.get_bind().dialect)
    conn = db.connection()
    if conn.dialect.name == "sqlite":
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(compiled), tuple(compiled.params[k] for k in compiled.positiontup or ())))
        assert "SEARCH register_count USING" in plan, plan
    else:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = " ".join(str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params))
        assert "pk_register_count" in plan and "Index Cond" in plan, plan


def test_the_recount_command_checks_then_repairs_a_drifted_count(engine, tmp_path):
    """``zhili registry recount --check`` exits 1 on a difference and changes nothing; without ``--check`` it
    repairs; a second check finds none (on a database file of its own: the command commits)."""
    from typer.testing import CliRunner

    from zhili.cli import app
    from zhili.core import migrate
    from zhili.core.db import make_engine, set_engine

    eng = make_engine(f"sqlite:///{tmp_path / 'recount.db'}")
    with eng.begin() as conn:
        migrate.upgrade(connection=conn)
        conn.execute(insert(RegisterCount).values(path="330522/x", kind="persons", n=5))
    set_engine(eng)
    try:
        run = CliRunner()
        checked = run.invoke(app, ["registry", "recount", "--check"])
        assert checked.exit_code == 1 and "330522/x" in checked.output
        assert run.invoke(app, ["registry", "recount"]).exit_code == 0
        again = run.invoke(app, ["registry", "recount", "--check"])
        assert again.exit_code == 0 and "一致" in again.output
        with eng.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(RegisterCount)) == 0
            assert conn.scalar(select(func.count()).select_from(AuditEvent)
                               .where(AuditEvent.action == "registry.recount")) == 1
    finally:
        set_engine(engine)
        eng.dispose()
