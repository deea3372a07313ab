"""Choosing units on forms: a search over the caller's jurisdiction, and names for what a form refers to."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from zhili.regions import picker
from zhili.users.service import principal_for_user


def _p(db: Session, world: Any, who: str) -> Any:
    return principal_for_user(db, user=world.users[who])


def test_without_a_query_the_picker_offers_the_callers_units_and_their_children(db: Session, world: Any) -> None:
    codes = [u.code for u in picker.pick_units(db, principal=_p(db, world, "admin"))]
    assert codes == ["330522", "330522001", "330522002"]
    codes = [u.code for u in picker.pick_units(db, principal=_p(db, world, "shequ1"))]
    assert codes == ["330522001001", "330522001001001", "330522001001002"]


def test_a_search_finds_units_by_name_or_code_only_inside_the_jurisdiction(db: Session, world: Any) -> None:
    admin = _p(db, world, "admin")
    assert [u.code for u in picker.pick_units(db, principal=admin, q="画溪")] == \
        ["330522002", "330522002001", "330522002001001"]
    assert [u.code for u in picker.pick_units(db, principal=admin, q="330522001001")] == \
        ["330522001001", "330522001001001", "330522001001002"]
    assert picker.pick_units(db, principal=_p(db, world, "jiedao1"), q="画溪") == []
    assert len(picker.pick_units(db, principal=admin, q="3305", limit=2)) == 2


def test_units_and_names_are_found_by_id_path_or_code(db: Session, world: Any) -> None:
    ga, s2 = world.units["ga"], world.units["s2"]
    found = picker.units_named(db, ids=[ga.id, None], paths=[s2.path, None, ""])
    assert [u.code for u in found] == [ga.code, s2.code]  # by path: 330522/330522001/… before 330522/330522002
    assert picker.units_named(db) == []
    assert picker.names_by_code(db, codes=["330522002", "nope", None]) == {"330522002": "画溪街道"}
