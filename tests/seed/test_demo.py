"""The demo seeder: a small district into a fresh, migrated SQLite file database."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from zhili.core import clock
from zhili.core.audit import AuditEvent, verify_chain
from zhili.core.crypto import FieldCipher
from zhili.core.db import make_engine
from zhili.core.migrate import upgrade
from zhili.core.security import Role, verify_password
from zhili.core.settings import new_key_material
from zhili.core.validators import (
    birth_date_from_id,
    gender_from_id,
    validate_credit_code,
    validate_id_number,
    validate_mobile,
)
from zhili.regions.models import GeoVersion, Unit, UnitBoundary
from zhili.registry.models import Building, Entrance, Household, Organisation, Person
from zhili.seed.demo import SCALES, SeedRefused, SeedReport, seed_demo
from zhili.seed.geometry import approx_area_km2
from zhili.users.models import User, UserUnit

SPEC = SCALES["small"]


def _fresh_engine(path: Path) -> Engine:
    url = f"sqlite:///{path.as_posix()}"
    upgrade(url=url)
    return make_engine(url)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Any:
    engine = _fresh_engine(tmp_path_factory.mktemp("seed") / "demo.db")
    cipher = FieldCipher.from_material(new_key_material())
    calls: list[tuple[str, int, int]] = []
    report = seed_demo(engine, scale="small", cipher=cipher, progress=lambda *a: calls.append(a), workers=0)
    yield engine, cipher, report, calls
    engine.dispose()


def test_report_and_progress(seeded: Any) -> None:
    engine, _, report, calls = seeded
    assert isinstance(report, SeedReport)
    assert report.counts["person"] == SPEC.persons
    assert 1.5 <= SPEC.persons / report.counts["household"] <= 2.9  # ≈ 2.6 per occupied household, some vacant
    assert 0.5 * SPEC.persons / 50 <= report.counts["organisation"] <= 2 * SPEC.persons / 50
    with Session(engine) as s:
        for model in (Unit, UnitBoundary, Building, Entrance, Household, Person, Organisation, User, UserUnit):
            assert s.scalar(select(func.count()).select_from(model)) == report.counts[model.__tablename__]
    stages = {c[0] for c in calls}
    assert {"units", "registers", "users"} <= stages
    last = [c for c in calls if c[0] == "registers"][-1]
    assert last[1] == last[2] == SPEC.persons


def test_unit_tree(seeded: Any) -> None:
    engine, *_ = seeded
    with Session(engine) as s:
        units = s.scalars(select(Unit)).all()
    by_level = Counter(u.level.value for u in units)
    assert by_level == {"province": 1, "city": 1, "district": 1, "street": SPEC.streets,
                        "community": SPEC.communities, "grid": SPEC.grids}
    by_id = {u.id: u for u in units}
    codes = {u.code for u in units}
    assert len(codes) == len(units)
    district = next(u for u in units if u.level.value == "district")
    assert (district.code, district.name, district.path) == ("330522", "长兴县", "33/3305/330522")
    street = next(u for u in units if u.level.value == "street")
    assert (street.code, street.name) == ("330522001", "雉城街道")
    for u in units:
        assert u.depth == u.path.count("/")
        assert u.path.split("/")[-1] == u.code
        assert u.center_lon is not None and u.center_lat is not None
        assert str(u.valid_from) == "2020-01-01"
        if u.parent_id is not None:
            parent = by_id[u.parent_id]
            assert u.path == f"{parent.path}/{u.code}"
            assert u.code.startswith(parent.code)
        if u.level.value == "community":
            assert len(u.code) == 12 and u.name.endswith(("社区", "村"))
        if u.level.value == "grid":
            assert len(u.code) == 15 and u.name.startswith(by_id[u.parent_id].name) and "网格" in u.name


def test_boundaries_tile_the_district(seeded: Any) -> None:
    engine, *_ = seeded
    with Session(engine) as s:
        rows = s.execute(select(Unit.level, UnitBoundary).join(UnitBoundary, UnitBoundary.unit_id == Unit.id)).all()
        version = s.scalar(select(GeoVersion.version).where(GeoVersion.id == 1))
    assert version and version >= 1
    polys: dict[str, list[Any]] = {}
    for level, b in rows:
        geom = shape(json.loads(b.geojson))
        assert geom.is_valid and not geom.is_empty and geom.geom_type == "Polygon"
        minx, miny, maxx, maxy = geom.bounds
        assert (b.min_lon, b.min_lat, b.max_lon, b.max_lat) == pytest.approx((minx, miny, maxx, maxy))
        assert b.area_m2 == pytest.approx(approx_area_km2(geom) * 1e6, rel=1e-6)
        polys.setdefault(level.value, []).append(geom)
    assert len(polys["grid"]) == SPEC.grids  # every grid has a boundary
    assert len(polys["district"]) == 1
    district = polys["district"][0]
    assert approx_area_km2(district) == pytest.approx(1430, rel=0.01)
    grids = polys["grid"]
    union = shapely.union_all(grids)
    # No overlaps (the areas add up to the union's) and no gaps (the union is the district).
    assert sum(g.area for g in grids) == pytest.approx(union.area, rel=1e-6)
    assert union.area == pytest.approx(district.area, rel=1e-6)
    assert shapely.symmetric_difference(union, district).area < 1e-6 * district.area


def test_persons(seeded: Any) -> None:
    engine, cipher, *_ = seeded
    with Session(engine) as s:
        persons = s.scalars(select(Person)).all()
        grid_paths = dict(s.execute(select(Unit.id, Unit.path).where(Unit.level == "grid")).all())
        hh_sizes = Counter(p.household_id for p in persons)
        households = {h.id: h for h in s.scalars(select(Household))}
    assert len(persons) == SPEC.persons
    today = clock.today()
    id_numbers = set()
    resident: Counter[str] = Counter()
    for p in persons:
        idn = cipher.decrypt(p.id_number_enc, table="person", column="id_number", row_id=p.id)
        assert validate_id_number(idn) == idn
        assert gender_from_id(idn) == p.gender.value
        assert birth_date_from_id(idn) == p.birth_date
        assert cipher.blind_index(idn, purpose="person.id_number") == p.id_number_bidx
        id_numbers.add(idn)
        if p.phone_enc is not None:
            phone = cipher.decrypt(p.phone_enc, table="person", column="phone", row_id=p.id)
            assert validate_mobile(phone) == phone
            assert cipher.blind_index(phone, purpose="person.phone") == p.phone_bidx
        assert p.path.startswith(grid_paths[p.grid_id])
        assert households[p.household_id].grid_id == p.grid_id
        assert 2 <= len(p.name) <= 4
        if "elderly_alone" in p.care_tags:
            assert hh_sizes[p.household_id] == 1
            assert (today - p.birth_date).days >= 60 * 365  # 60+ (ages are relative to today)
        resident[p.resident_type.value] += 1
    assert len(id_numbers) == len(persons)
    assert len({p.id_number_bidx for p in persons}) == len(persons)
    assert 0.68 < resident["registered"] / len(persons) < 0.82
    assert 0.16 < resident["floating"] / len(persons) < 0.30
    assert 0 < resident["foreign"] / len(persons) < 0.05
    heads = sum(1 for p in persons if p.relation == "head")
    assert heads == len(hh_sizes)  # one head per occupied household
    assert sum(1 for p in persons if p.ethnicity == "汉族") > 0.9 * len(persons)
    assert any(p.care_tags for p in persons)


def test_households_buildings_organisations(seeded: Any) -> None:
    engine, cipher, *_ = seeded
    with Session(engine) as s:
        grids = {u.id: u for u in s.scalars(select(Unit).where(Unit.level == "grid"))}
        boundaries = {b.unit_id: shape(json.loads(b.geojson)) for b in s.scalars(select(UnitBoundary))}
        buildings = s.scalars(select(Building)).all()
        orgs = s.scalars(select(Organisation)).all()
        households = s.scalars(select(Household)).all()
    for b in buildings:
        assert b.path == grids[b.grid_id].path
        assert boundaries[b.grid_id].buffer(1e-9).contains(shapely.Point(b.lon, b.lat))
        assert b.address.startswith("长兴县")
    assert all(h.path == grids[h.grid_id].path and h.room for h in households)
    codes = set()
    for o in orgs:
        assert validate_credit_code(o.credit_code) == o.credit_code
        codes.add(o.credit_code)
        assert o.path == grids[o.grid_id].path
        assert boundaries[o.grid_id].buffer(1e-3).contains(shapely.Point(o.lon, o.lat))
        if o.contact_phone_enc is not None:
            phone = cipher.decrypt(o.contact_phone_enc, table="organisation", column="contact_phone", row_id=o.id)
            assert validate_mobile(phone) == phone
            assert cipher.blind_index(phone, purpose="organisation.contact_phone") == o.contact_phone_bidx
    assert len(codes) == len(orgs)


def test_demo_users(seeded: Any) -> None:
    engine, _, report, _ = seeded
    assert {u.role for u in report.users} == {r.value for r in Role}
    assert [u.username for u in report.users if u.role == "grid_worker"] == ["wangge1", "wangge2"]
    with Session(engine) as s:
        stored = {u.username: u for u in s.scalars(select(User))}
        bindings = Counter(uu.user_id for uu in s.scalars(select(UserUnit)))
    for u in report.users:
        row = stored[u.username]
        assert row.role.value == u.role
        assert u.password not in row.password_hash
        assert verify_password(row.password_hash, u.password)
        assert not verify_password(row.password_hash, u.password + "x")
        assert bindings[row.id] == (0 if u.role == "resident" else 1)
    assert stored["bumen"].department == "CG"  # a code from the shipped departments list


def test_audit_event(seeded: Any) -> None:
    engine, *_ = seeded
    with Session(engine) as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "seed.demo")).all()
        assert len(events) == 1
        assert events[0].after["counts"]["person"] == SPEC.persons
        assert verify_chain(s).ok


def test_refuses_to_seed_twice(seeded: Any) -> None:
    engine, cipher, report, _ = seeded
    with pytest.raises(SeedRefused):
        seed_demo(engine, scale="small", cipher=cipher)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Person)) == report.counts["person"]
        assert s.scalar(select(func.count()).select_from(Unit)) == report.counts["unit"]


def test_parallel_generation_gives_the_same_district(seeded: Any, tmp_path: Path) -> None:
    """Worker processes (when the platform allows forking) produce exactly what in-process generation does."""
    engine, cipher, *_ = seeded
    other = _fresh_engine(tmp_path / "parallel.db")
    try:
        seed_demo(other, scale="small", cipher=cipher, workers=2)

        def fingerprint(e: Engine) -> Counter[tuple[Any, ...]]:
            with Session(e) as s:
                return Counter(
                    (p.name, p.birth_date, p.gender, p.path, p.relation,
                     cipher.decrypt(p.id_number_enc, table="person", column="id_number", row_id=p.id))
                    for p in s.scalars(select(Person))
                )

        assert fingerprint(other) == fingerprint(engine)
    finally:
        other.dispose()


def test_a_failed_seed_leaves_the_database_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure in a generation worker aborts the seed and rolls the single transaction back."""
    from zhili.seed import demo

    original = demo._ShardGenerator.seed_organisations

    def failing(self: Any, g: Any, buildings: Any) -> None:
        if self.shard == 1:
            raise ValueError("boom in shard 1")
        original(self, g, buildings)

    monkeypatch.setattr(demo._ShardGenerator, "seed_organisations", failing)
    engine = _fresh_engine(tmp_path / "failed.db")
    try:
        with pytest.raises((RuntimeError, ValueError), match="boom in shard 1"):
            seed_demo(engine, scale="small", cipher=FieldCipher.from_material(new_key_material()), workers=2)
        with Session(engine) as s:
            for model in (Unit, UnitBoundary, Building, Household, Person, Organisation, User):
                assert s.scalar(select(func.count()).select_from(model)) == 0
            assert s.scalar(select(GeoVersion.version).where(GeoVersion.id == 1)) == 0
    finally:
        engine.dispose()


def test_the_case_history_sends_community_and_street_cases_to_the_unit_that_holds_them(seeded: Any) -> None:
    """The shipped taxonomy sends some categories to the placeholders 社区 (SQ) / 街道 (JD): the demo history assigns
    those cases to the community or street whose area holds them, never to a placeholder nobody holds."""
    from zhili.cases.models import Case
    from zhili.cases.taxonomy import load_defaults
    from zhili.org.models import Department
    from zhili.seed.history import seed_cases

    engine = seeded[0]
    with Session(engine) as s:
        load_defaults(s)
        s.commit()
        placeholders = set(s.scalars(select(Department.code).where(Department.kind.in_(("community", "street")))))
    assert placeholders == {"SQ", "JD"}
    seed_cases(engine, count=1500, days=30)
    with Session(engine) as s:
        dispatched = s.execute(select(Case.assignee_department, Case.assignee_path, Case.path,
                                      Case.escalation_level).where(Case.dispatched_at.is_not(None))).all()
        units = {u.path: u.level.value for u in s.scalars(select(Unit))}
    assert dispatched and not [d for d in dispatched if d.assignee_department in placeholders]
    held_by_units = [d for d in dispatched if d.assignee_path is not None]
    assert held_by_units, "some shipped categories go to 社区 / 街道"
    for d in held_by_units:
        assert d.path.startswith(d.assignee_path + "/")  # the unit holds the case's grid
        assert units[d.assignee_path] == d.escalation_level
