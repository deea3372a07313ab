"""Jurisdiction scoping: materialized-path predicates, single-object checks (404, never 403), permissions."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core.errors import Forbidden, NotFound
from zhili.core.jurisdiction import Principal, authorize, ensure_in_scope, in_scope, scoped
from zhili.core.security import Perm, Role
from zhili.regions.models import Unit, UnitLevel

ALL_WORLD = {"district", "s1", "s2", "c1", "c2", "ga", "gb", "gc"}


def principal_of(db: Session, world, who: str) -> Principal:
    from zhili.users.service import principal_for_user

    return principal_for_user(db, user=world.users[who])


def principal_with(*paths: str, role: Role = Role.street_staff) -> Principal:
    return Principal(user_id=uuid.uuid4(), username="t", display_name="t", role=role, scope_paths=paths)


def visible(db: Session, principal: Principal) -> set[uuid.UUID]:
    return set(db.scalars(scoped(select(Unit.id), principal, Unit.path)))


def ids(world, *names: str) -> set[uuid.UUID]:
    return {world.units[n].id for n in names}


def add_unit(db: Session, parent: Unit | None, level: str, code: str) -> Unit:
    u = Unit(parent_id=parent.id if parent else None, level=UnitLevel(level), code=code, name=code,
             path=f"{parent.path}/{code}" if parent else code, depth=parent.depth + 1 if parent else 0,
             valid_from=dt.date(2020, 1, 1))
    db.add(u)
    db.flush()
    return u


# -- scoped() on lists ---------------------------------------------------------------------------------------

def test_a_grid_worker_sees_only_their_own_grid(db, world):
    assert visible(db, principal_of(db, world, "wangge_a")) == ids(world, "ga")
    assert visible(db, principal_of(db, world, "wangge_b")) == ids(world, "gb")


def test_a_community_sees_itself_and_its_grids(db, world):
    assert visible(db, principal_of(db, world, "shequ1")) == ids(world, "c1", "ga", "gb")


def test_a_street_sees_its_communities_and_grids_but_not_the_other_street(db, world):
    seen = visible(db, principal_of(db, world, "jiedao1"))
    assert seen == ids(world, "s1", "c1", "ga", "gb")
    assert not seen & ids(world, "s2", "c2", "gc", "district")
    assert visible(db, principal_of(db, world, "jiedao2")) == ids(world, "s2", "c2", "gc")


def test_a_district_principal_sees_the_whole_district(db, world):
    assert ids(world, *ALL_WORLD) <= visible(db, principal_of(db, world, "admin"))


def test_a_principal_without_units_sees_nothing(db, world):
    jumin = principal_of(db, world, "jumin")
    assert jumin.scope_paths == ()
    assert visible(db, jumin) == set()
    assert visible(db, principal_with()) == set()


def test_a_principal_bound_to_two_grids_sees_both_and_nothing_else(db, world):
    p = principal_with(world.units["ga"].path, world.units["gc"].path)
    assert visible(db, p) == ids(world, "ga", "gc")


def test_an_ancestor_and_its_descendant_in_one_scope_do_not_narrow_the_view(db, world):
    p = principal_with(world.units["ga"].path, world.units["s1"].path)
    assert visible(db, p) == ids(world, "s1", "c1", "ga", "gb")


def test_scoping_composes_with_other_filters(db, world):
    stmt = scoped(select(Unit.id).where(Unit.level == UnitLevel.grid), principal_of(db, world, "jiedao1"),
                  Unit.path)
    assert set(db.scalars(stmt)) == ids(world, "ga", "gb")


# -- the "/" boundary ----------------------------------------------------------------------------------------

@pytest.fixture
def lookalikes(db: Session) -> dict[str, Unit]:
    """33 → 3305 → {330522001 → 330522001001, 3305220010 → 3305220010001}: siblings sharing a prefix."""
    province = add_unit(db, None, "province", "33")
    city = add_unit(db, province, "city", "3305")
    street = add_unit(db, city, "district", "330522001")
    longer = add_unit(db, city, "district", "3305220010")
    return {"street": street, "street_child": add_unit(db, street, "street", "330522001001"),
            "longer": longer, "longer_child": add_unit(db, longer, "street", "3305220010001")}


def test_a_path_that_merely_shares_a_string_prefix_is_out_of_scope(db, lookalikes):
    assert lookalikes["street"].path == "33/3305/330522001"
    assert lookalikes["longer"].path == "33/3305/3305220010"
    p = principal_with("33/3305/330522001")
    assert visible(db, p) == {lookalikes["street"].id, lookalikes["street_child"].id}
    assert not in_scope(p, "33/3305/3305220010")
    assert not in_scope(p, "33/3305/3305220010/3305220010001")
    with pytest.raises(NotFound):
        ensure_in_scope(p, lookalikes["longer"].path)


def test_two_sibling_scopes_sharing_a_string_prefix_are_both_kept(db, lookalikes):
    # neither covers the other, so dropping "covered" paths must not drop the longer one
    p = principal_with("33/3305/330522001", "33/3305/3305220010")
    assert visible(db, p) == {u.id for u in lookalikes.values()}


def test_a_scope_on_the_longer_sibling_does_not_see_the_shorter_one(db, lookalikes):
    p = principal_with("33/3305/3305220010")
    assert visible(db, p) == {lookalikes["longer"].id, lookalikes["longer_child"].id}
    assert not in_scope(p, "33/3305/330522001")


# -- single objects ------------------------------------------------------------------------------------------

def test_ensure_in_scope_accepts_the_unit_itself_and_its_descendants(db, world):
    p = principal_of(db, world, "shequ1")
    ensure_in_scope(p, world.units["c1"].path)
    ensure_in_scope(p, world.units["gb"].path)
    ensure_in_scope(p, world.units["ga"].path + "/某楼栋")


def test_an_object_out_of_scope_is_reported_as_not_found_never_as_forbidden(db, world):
    p = principal_of(db, world, "wangge_a")
    for name in ("gb", "gc", "c1", "district"):
        with pytest.raises(NotFound) as exc:
            ensure_in_scope(p, world.units[name].path, "人员")
        assert not isinstance(exc.value, Forbidden)
        assert exc.value.status == 404 and exc.value.message.startswith("人员不存在")


def test_an_object_without_a_path_is_out_of_everyones_scope(db, world):
    with pytest.raises(NotFound):
        ensure_in_scope(principal_of(db, world, "admin"), None)


def test_a_principal_without_units_finds_no_single_object(db, world):
    with pytest.raises(NotFound):
        ensure_in_scope(principal_of(db, world, "jumin"), world.units["ga"].path)


# -- permissions ---------------------------------------------------------------------------------------------

def test_authorize_raises_forbidden_for_a_permission_the_role_lacks(db, world):
    admin = principal_of(db, world, "admin")
    with pytest.raises(Forbidden) as exc:
        authorize(admin, Perm.audit_read)
    assert exc.value.code == "permission_denied" and exc.value.status == 403
    authorize(principal_of(db, world, "shenji"), Perm.audit_read)


def test_extra_permissions_widen_a_principals_role():
    p = principal_with(role=Role.leader)
    assert not p.can(Perm.user_write)
    widened = Principal(user_id=p.user_id, username="t", display_name="t", role=Role.leader,
                        extra_perms=frozenset({Perm.user_write}))
    assert widened.can(Perm.user_write)


def test_a_principal_is_recorded_in_the_audit_log_as_itself(db, world):
    p = principal_of(db, world, "wangge_a")
    actor = p.actor
    assert (actor.id, actor.name, actor.role) == (world.users["wangge_a"].id, "wangge_a", "grid_worker")


def test_an_underscore_in_a_path_is_not_a_like_wildcard(db):
    """A code containing ``_`` must match itself only: ``33/A_B`` scope does not reach ``33/AxB/...``."""
    from sqlalchemy import literal, select

    from zhili.core.jurisdiction import path_predicate

    def matches(path: str, scope: str) -> bool:
        return bool(db.scalar(select(path_predicate(literal(path), (scope,)))))

    assert matches("33/A_B/1", "33/A_B")
    assert not matches("33/AxB/1", "33/A_B")
    assert not matches("33/A%B/1", "33/A_%")


def test_a_scope_reaches_its_own_path_and_everything_below_it_and_nothing_else(db):
    from sqlalchemy import literal, select

    from zhili.core.jurisdiction import path_predicate

    def matches(path: str, scope: str) -> bool:
        return bool(db.scalar(select(path_predicate(literal(path), (scope,)))))

    scope = "330522/330522001"
    for inside in (scope, f"{scope}/330522001001", f"{scope}/330522001001/330522001001001", f"{scope}/网格一"):
        assert matches(inside, scope), inside
    for outside in ("330522", "330522/3305220011", "330522/330522001-x/1", "330522/330522001 /1",
                    "330522/330522002/1", "330522/3305220010", "330522/33052200/1", ""):
        assert not matches(outside, scope), outside


def test_the_scope_predicate_is_an_index_range_scan_on_sqlite(db):
    """A LIKE prefix is no seek on SQLite (its index would need NOCASE) — the whole table was read for every scoped
    query; the predicate is a range over the path index instead."""
    from sqlalchemy import select

    from zhili.core.jurisdiction import path_predicate
    from zhili.registry.models import Person

    if db.get_bind().dialect.name != "sqlite":
        pytest.skip("PostgreSQL's plans are in test_path_plans_pg.py")
    stmt = select(Person.id).where(path_predicate(Person.path, ("330522/330522001",)))
    compiled = stmt.compile(dialect=db.get_bind().dialect)
    plan = " ".join(str(r[-1]) for r in db.connection().exec_driver_sql(
        "EXPLAIN QUERY PLAN " + str(compiled), tuple(compiled.params[k] for k in compiled.positiontup or ())))
    assert "ix_person_path" in plan and "SCAN person" not in plan, plan
