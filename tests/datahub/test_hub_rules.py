"""Validation rules: field rules by kind, reference rules resolved to ids against the region tree as of the record's
date and the caller's jurisdiction, look-ups cached per import, and every code explained in RULES."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from zhili.core.validators import id_check_digit
from zhili.datahub.models import Target
from zhili.datahub.rows import Placement
from zhili.datahub.rules import RULES, Validator, check_field
from zhili.datahub.standard import StdField, fields
from zhili.registry.models import Building
from zhili.users.service import principal_for_user

TODAY = dt.date(2026, 6, 1)


def vid(body: str = "33052219850615001") -> str:
    return body + id_check_digit(body)


@pytest.mark.parametrize(("kind", "value", "rule"), [
    ("id_number", "330522198506150010", "id_number"),
    ("id_number", "33052219850615001", "id_number"),
    ("credit_code", "91330522MA2JL0080X", "credit_code"),
    ("mobile", "1380000", "mobile"),
    ("date", "2099-01-01", "date"),
    ("date", "1850-01-01", "date"),
    ("date", "昨天", "date"),
    ("int", "三层", "number"),
    ("float", "abc", "number"),
])
def test_field_rules_refuse_bad_values_without_repeating_them(kind: str, value: str, rule: str) -> None:
    """Each kind has its rule; the message names the field, never the value."""
    f = StdField("x", "某字段", kind)
    v, err = check_field(f, value, TODAY)
    assert v is None and err is not None and err.rule == rule and err.field == "x"
    assert err.message.startswith("某字段") and value not in err.message
    assert rule in RULES


def test_field_rules_normalise_good_values() -> None:
    """Good values come back normalised: ID upper-cased, choices by label or key, numbers typed, tags split."""
    person = fields(Target.persons)
    assert check_field(person["id_number"], vid().lower(), TODAY) == (vid().upper(), None)
    assert check_field(person["resident_type"], "流动人口", TODAY) == ("floating", None)
    assert check_field(person["resident_type"], "floating", TODAY) == ("floating", None)
    assert check_field(person["phone"], "+86 138-0000-0000", TODAY) == ("13800000000", None)
    assert check_field(person["care_tags"], "独居老人、", TODAY)[1] is None
    hh = fields(Target.households)
    assert check_field(hh["area_m2"], "89.5", TODAY) == (89.5, None)
    assert check_field(hh["area_m2"], "0", TODAY)[1].rule == "range"  # type: ignore[union-attr]
    assert check_field(person["name"], "  ", TODAY)[1].rule == "required"  # type: ignore[union-attr]
    assert check_field(StdField("t", "标题", max_length=3), "四个字符", TODAY)[1].rule == "max_length"  # type: ignore[union-attr]


def test_every_rule_is_explained() -> None:
    """RULES gives every code a Chinese name and what it checks."""
    for code, (name, what) in RULES.items():
        assert code and name and what
        assert any("\u4e00" <= ch <= "\u9fff" for ch in name + what)


class Queries:
    """Counts the statements sent while it is entered."""

    def __init__(self, db: Session) -> None:
        self.engine, self.seen = db.get_bind().engine, list[str]()

    def _note(self, *args: Any) -> None:
        self.seen.append(args[2])

    def __enter__(self) -> Queries:
        event.listen(self.engine, "before_cursor_execute", self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._note)


def test_references_resolve_cache_and_respect_scope(db: Session, world: Any) -> None:
    """A grid named by code or name resolves to its id and path, once per import; a grid of another community is
    out of scope; an unknown one is grid_unknown; a building resolves by code or by address and name."""
    p = principal_for_user(db, user=world.users["shequ1"])
    ga, gc = world.units["ga"], world.units["gc"]
    b = Building(id=uuid.uuid4(), grid_id=ga.id, path=ga.path, code="JL-8-3", name="3幢", address="金陵路8号3幢",
                 building_type="residential")
    db.add(b)
    db.flush()
    v = Validator(db, principal=p, target=Target.persons, default_path=world.units["c1"].path, resolver=None)
    row = {"name": "张三", "id_number": vid(), "grid": ga.code}
    with Queries(db) as q:
        first = v.check(dict(row))
        n = len(q.seen)
        for _ in range(5):
            again = v.check(dict(row, grid=ga.code))
    assert n >= 1 and len(q.seen) == n  # cached: no query for the same grid again
    assert first.errors == [] and first.values["grid_id"] == ga.id and first.path == ga.path
    assert again.values["grid_id"] == ga.id
    by_name = v.check(dict(row, grid=ga.name))
    assert by_name.values["grid_id"] == ga.id
    out = v.check(dict(row, grid=gc.code))
    assert [e.rule for e in out.errors] == ["out_of_scope"]
    unknown = v.check(dict(row, grid="999"))
    assert [e.rule for e in unknown.errors] == ["grid_unknown"]
    hv = Validator(db, principal=p, target=Target.households, default_path=world.units["c1"].path, resolver=None)
    by_code = hv.check({"building_code": "JL-8-3", "room": "301"})
    assert by_code.errors == [] and by_code.values["building_id"] == b.id and by_code.path == ga.path
    by_addr = hv.check({"building_address": "金陵路8号3幢", "building_name": "3幢", "room": "302"})
    assert by_addr.values["building_id"] == b.id
    assert [e.rule for e in hv.check({"building_code": "nope", "room": "1"}).errors] == ["building_unknown"]
    assert [e.rule for e in hv.check({"room": "1"}).errors] == ["required"]


def test_grid_must_exist_on_the_records_date(db: Session, world: Any) -> None:
    """A grid retired before the record's date is unknown for that record, known for an older one."""
    ga = world.units["ga"]
    ga.valid_to = dt.date(2023, 1, 1)
    db.flush()
    p = principal_for_user(db, user=world.users["admin"])
    v = Validator(db, principal=p, target=Target.persons, default_path=world.units["district"].path, resolver=None)
    old = v.check({"name": "甲", "id_number": vid(), "grid": ga.code, "record_date": "2022-05-01"})
    new = v.check({"name": "甲", "id_number": vid(), "grid": ga.code, "record_date": "2024-05-01"})
    assert old.errors == [] and old.record_date == dt.date(2022, 5, 1)
    assert [e.rule for e in new.errors] == ["grid_unknown"]


def test_unplaced_persons_use_the_address_resolver_or_are_quarantined(db: Session, world: Any) -> None:
    """Without household or grid, the address resolver places a person (in scope); otherwise the row is unplaced
    with the resolver's own reason."""
    p = principal_for_user(db, user=world.users["shequ1"])
    gb = world.units["gb"]

    class Resolver:
        def place(self, text: str) -> Placement:
            if "明珠" in text:
                return Placement(unit_id=gb.id, path=gb.path, confidence=0.8)
            return Placement(reason="地址无法解析到社区")

    v = Validator(db, principal=p, target=Target.persons, default_path=world.units["c1"].path,
                  resolver=lambda as_of: Resolver())
    ok = v.check({"name": "乙", "id_number": vid(), "address": "明珠路8号"})
    assert ok.errors == [] and ok.values["grid_id"] == gb.id and ok.path == gb.path
    bad = v.check({"name": "乙", "id_number": vid(), "address": "火星"})
    assert [(e.rule, e.message) for e in bad.errors] == [("unplaced", "地址无法解析到社区")]
    none = Validator(db, principal=p, target=Target.persons, default_path="x", resolver=None).check(
        {"name": "乙", "id_number": vid()})
    assert [e.rule for e in none.errors] == ["unplaced"]
