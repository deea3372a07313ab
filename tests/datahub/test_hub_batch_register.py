"""The register's batch writer (``registry.bulk.create_persons``, used by the data hub's imports) builds the
very row ``create_person`` builds and refuses exactly what it refuses — one row layout, one set of checks — but
with one uniqueness query and one flush per batch and no audit row per person (the import is audited)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from goldenkit import ID_A, ID_B, StubMatcher, make_hub, person
from sqlalchemy import func, inspect, select

from zhili.core.audit import AuditEvent
from zhili.core.crypto import get_cipher
from zhili.core.errors import DomainError, Forbidden
from zhili.registry import bulk as registry_bulk
from zhili.registry import service as registry
from zhili.registry.models import Person, ResidentType
from zhili.users.service import principal_for_user

ID_C = "11010519491231002X"
SKIP = {"id", "id_number_enc", "phone_enc", "created_at", "updated_at"}


def _data(world: Any, id_number: str, **extra: Any) -> dict[str, Any]:
    return {"name": "张三", "id_number": id_number, "phone": "13800000001", "grid_id": world.units["ga"].id,
            "resident_type": ResidentType.registered, "relation": "head", "ethnicity": "汉族",
            "care_tags": ["elderly_alone"], "note": "备注", **extra}


def _columns(p: Person) -> dict[str, Any]:
    cipher = get_cipher()
    row = {c.key: getattr(p, c.key) for c in inspect(Person).column_attrs if c.key not in SKIP}
    row["id_number"] = cipher.decrypt(p.id_number_enc, table="person", column="id_number", row_id=p.id)
    row["phone"] = cipher.decrypt(p.phone_enc, table="person", column="phone", row_id=p.id)
    return row


def _principal(db, world, who: str = "shequ1"):
    return principal_for_user(db, user=world.users[who])


def test_the_batch_writer_writes_the_same_row_as_the_service(db, world):
    principal = _principal(db, world)
    with db.begin_nested() as sp:
        one = registry.create_person(db, principal=principal, data=_data(world, ID_A))
        db.refresh(one)
        by_service = _columns(one)
        sp.rollback()
    [many] = registry_bulk.create_persons(db, principal=principal, items=[_data(world, ID_A)])
    assert isinstance(many, Person)
    db.refresh(many)
    assert _columns(many) == by_service
    assert by_service["gender"] is not None and by_service["birth_date"] is not None  # derived from the ID
    # encryption is bound to the row: the ciphertext of one row does not open as another's
    assert many.id_number_enc != one.id_number_enc


def _service_refusal(db, principal, data: dict[str, Any]) -> str:
    with db.begin_nested() as sp:
        try:
            registry.create_person(db, principal=principal, data=dict(data))
        except DomainError as exc:
            return exc.code
        finally:
            sp.rollback()
    raise AssertionError("the service accepted the row")


def test_the_batch_writer_refuses_what_the_service_refuses_and_keeps_the_rest(db, world):
    principal = _principal(db, world)
    registry.create_person(db, principal=principal, data=_data(world, ID_B))  # already registered
    refused = [
        _data(world, "330522198506150012"),  # checksum fails
        _data(world, ID_B),  # taken
        _data(world, ID_A, grid_id=world.units["gc"].id),  # a grid outside the community
        _data(world, ID_A, care_tags=["不存在的标签"]),
        _data(world, ID_A, phone="12345"),
    ]
    codes = [_service_refusal(db, principal, d) for d in refused]
    out = registry_bulk.create_persons(db, principal=principal, items=[
        *refused, _data(world, ID_A), _data(world, ID_A), _data(world, ID_C)])
    assert [getattr(r, "code", None) for r in out[:5]] == codes  # a refused row claims no ID number
    assert isinstance(out[5], Person) and isinstance(out[7], Person)
    assert getattr(out[6], "code", None) == "id_number_taken"  # the same ID twice in one batch: the first wins
    assert db.scalar(select(func.count()).select_from(Person)) == 3


def test_the_batch_writer_needs_registry_write(db, world):
    with pytest.raises(Forbidden):
        registry_bulk.create_persons(db, principal=_principal(db, world, "lingdao"), items=[_data(world, ID_A)])


def test_a_hub_import_creates_register_persons_without_an_audit_row_each(db, world):
    hub = make_hub(db, world, matcher=StubMatcher(probability=0.0))
    hub.source("minzheng", trust=80)
    before = db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "person.create"))
    _, out = hub.stage("minzheng", "m-1", person("张三", ID_A, phone="13800000001", grid=world.units["ga"]))
    assert isinstance(out.target_id, uuid.UUID)
    p = db.get(Person, out.target_id)
    assert p is not None and p.grid_id == world.units["ga"].id
    after = db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "person.create"))
    assert after == before


@pytest.mark.parametrize("value", ["张三", "a\"b\\\\c\n", "１２３", "", 12, 1.5, None, True, ["x", "y"],
                                   "2020-01-01", "\u2028"])
def test_the_value_digest_of_text_is_the_digest_of_its_canonical_json(value):
    from zhili.datahub.golden_register import VALUE_PURPOSE, value_digest
    from zhili.datahub.records import canonical

    assert value_digest(value) == get_cipher().blind_index(canonical({"v": value}), purpose=VALUE_PURPOSE)


class _Rows:
    def __init__(self, rows: list[dict[str, str]]) -> None:
        self.rows, self.columns, self.encoding = rows, list(rows[0]), "utf-8"

    def __iter__(self):
        yield from enumerate((dict(r) for r in self.rows), start=1)

    @property
    def progress(self) -> tuple[int, int | None]:
        return len(self.rows), len(self.rows)


def _import(db, world, spec: dict[str, Any], rows: list[dict[str, str]]):
    from zhili.datahub.golden import EntityHandler
    from zhili.datahub.mapping import compile_template, parse_spec
    from zhili.datahub.models import Source, Target
    from zhili.datahub.pipeline import run_import

    u = world.units["c1"]
    src = Source(id=uuid.uuid4(), name=f"src-{uuid.uuid4().hex[:8]}", title="卫健", target=Target.persons,
                 security_level="internal", unit_id=u.id, path=u.path)
    db.add(src)
    db.flush()
    return run_import(db, principal=_principal(db, world), source=src, stream=_Rows(rows),
                      mapper=compile_template(parse_spec(spec)), filename="p.csv", file_hash=uuid.uuid4().hex,
                      handler=EntityHandler(matcher=StubMatcher(probability=0.0)), resolver=False)


def test_a_template_may_make_the_id_number_optional_but_never_excuse_a_wrong_one(db, world):
    """A health system's persons often have no ID number: a template saying ``required: false`` lets them in
    (a golden record without a register row, saying why); a number failing GB 11643 is still quarantined, and a
    template that says nothing keeps the register's rule (required)."""
    from zhili.datahub.models import GoldenLink, GoldenRecord

    grid = world.units["ga"].code
    rows = [{"no": "1", "姓名": "李四", "证件号码": "", "网格": grid},
            {"no": "2", "姓名": "王五", "证件号码": "330522198506150012", "网格": grid},
            {"no": "3", "姓名": "张三", "证件号码": ID_A, "网格": grid}]
    spec: dict[str, Any] = {"target": "persons", "key": ["attributes.no"], "fields": [
        {"field": "attributes.no", "column": "no", "kind": "text"}, {"field": "name", "column": "姓名"},
        {"field": "id_number", "column": "证件号码", "required": False}, {"field": "grid", "column": "网格"}]}
    imp = _import(db, world, spec, rows)
    assert (imp.rows_imported, imp.rows_quarantined) == (2, 1)
    assert imp.stats["rules"] == {"id_number": 1}
    notes = sorted(str(g.register_note) for g in db.scalars(select(GoldenRecord)))
    assert notes == ["None", "没有有效的身份证号，暂不建立人口登记"]
    assert db.scalar(select(func.count()).select_from(GoldenLink)) == 2
    spec["fields"][2].pop("required")
    strict = _import(db, world, spec, [dict(r, no=f"s{r['no']}") for r in rows])
    assert (strict.rows_imported, strict.rows_quarantined) == (1, 2)
    assert strict.stats["rules"] == {"id_number": 1, "required": 1}
