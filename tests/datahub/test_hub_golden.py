"""Resolution into golden records: deterministic on a valid key, probabilistic by the matcher's bands,
survivorship with field provenance pointing at real import rows, the register written through its service."""

from __future__ import annotations

import datetime as dt

import pytest
from goldenkit import ID_A, ID_A_TYPO, ID_B, StubMatcher, make_hub, person
from sqlalchemy import func, select

from zhili.core.crypto import get_cipher
from zhili.core.db import utcnow
from zhili.core.errors import Forbidden, ValidationFailed
from zhili.datahub import golden, survivorship
from zhili.datahub.models import (
    CandidateStatus,
    ChangeEvent,
    EntityType,
    GoldenField,
    GoldenLink,
    GoldenRecord,
    Import,
    MatchCandidate,
    MatchType,
    SourceRecord,
)
from zhili.datahub.records import record_values
from zhili.registry import service as registry
from zhili.registry.models import Person, ResidentType
from zhili.users.service import principal_for_user


@pytest.fixture
def hub(db, world):
    h = make_hub(db, world, matcher=StubMatcher(probability=0.0))
    h.source("minzheng", trust=80)
    h.source("gongan", trust=90)
    h.source("wangge", trust=40)
    return h


def _phone(p: Person) -> str | None:
    return get_cipher().decrypt(p.phone_enc, table="person", column="phone", row_id=p.id) if p.phone_enc else None


def test_the_same_id_number_from_two_sources_is_one_golden_record_and_one_register_person(hub, db, world):
    a, out_a = hub.stage("minzheng", "m-1", person("张三", ID_A, phone="13800000001", grid=world.units["ga"]))
    b, out_b = hub.stage("gongan", "g-77", person("张三", ID_A, grid=world.units["ga"], ethnicity="汉族"))
    assert hub.golden_of(a) == hub.golden_of(b)
    types = {lk.source_record_id: lk.match_type for lk in db.scalars(select(GoldenLink))}
    assert types == {a.id: MatchType.seed, b.id: MatchType.deterministic}
    persons = list(db.scalars(select(Person)))
    assert len(persons) == 1 and out_a.target_id == out_b.target_id == persons[0].id
    assert persons[0].ethnicity == "汉族" and _phone(persons[0]) == "13800000001"  # both sources contributed
    assert a.target_id == b.target_id == persons[0].id


def test_every_field_of_a_golden_record_points_at_a_real_import_row(hub, db, world):
    hub.stage("minzheng", "m-1", person("张三", ID_A, phone="13800000001", grid=world.units["ga"]))
    rec, _ = hub.stage("gongan", "g-1", person("张三", ID_A, grid=world.units["ga"], ethnicity="汉族",
                                             note="户籍核对"))
    fields = list(db.scalars(select(GoldenField).where(GoldenField.golden_id == hub.golden_of(rec))))
    assert {f.field for f in fields} >= {"name", "id_number", "phone", "ethnicity", "note", "grid_id"}
    for f in fields:
        src_rec = db.get(SourceRecord, f.source_record_id)
        imp = db.get(Import, f.import_id)
        assert src_rec is not None and imp is not None
        assert imp.id == src_rec.last_import_id and f.row_number == src_rec.row_number
        assert f.field in record_values(src_rec)  # the field really came from that record
        assert f.rule in survivorship.RULES


def test_a_register_person_met_for_the_first_time_becomes_the_seed_of_its_golden_record(hub, db, world):
    p = registry.create_person(db, principal=hub.principal, data={
        "name": "李四", "id_number": ID_B, "grid_id": world.units["gb"].id, "resident_type": ResidentType.registered})
    rec, out = hub.stage("wangge", "w-9", person("李四", ID_B, phone="13900000002"))
    g = db.get(GoldenRecord, hub.golden_of(rec))
    assert g.register_id == p.id and out.target_id == p.id
    assert _phone(p) == "13900000002"  # the register row took the new field
    assert db.scalar(select(func.count()).select_from(Person)) == 1


def test_a_record_without_a_valid_id_number_stays_a_golden_record_without_register_row_and_says_why(hub, db, world):
    rec, out = hub.stage("wangge", "w-1", person("王五", ID_A_TYPO, grid=world.units["ga"]))
    g = db.get(GoldenRecord, hub.golden_of(rec))
    assert g.register_id is None and "身份证号" in (g.register_note or "")
    assert out.errors == [] and out.target_id is None


def test_a_mistyped_id_number_goes_to_review_in_the_uncertain_band(db, world):
    hub = make_hub(db, world, matcher=StubMatcher(probability=0.8))
    hub.source("minzheng", trust=80)
    hub.source("wangge", trust=40)
    good, _ = hub.stage("minzheng", "m-1", person("张三", ID_A, grid=world.units["ga"]))
    typo, _ = hub.stage("wangge", "w-1", person("张三", ID_A_TYPO, phone="13800000009"))
    assert hub.golden_of(typo) != hub.golden_of(good)  # its own golden record meanwhile
    [c] = list(db.scalars(select(MatchCandidate)))
    assert (c.source_record_id, c.golden_id, c.status) == (typo.id, hub.golden_of(good), CandidateStatus.pending)
    assert c.probability == pytest.approx(0.8) and c.evidence["levels"]["name"] == "姓名相同"


def test_a_mistyped_id_number_auto_merges_above_the_auto_merge_band(db, world):
    hub = make_hub(db, world, matcher=StubMatcher(probability=0.99))
    hub.source("minzheng", trust=80)
    hub.source("wangge", trust=40)
    good, _ = hub.stage("minzheng", "m-1", person("张三", ID_A, grid=world.units["ga"]))
    typo, out = hub.stage("wangge", "w-1", person("张三", ID_A_TYPO, phone="13800000009"))
    assert hub.golden_of(typo) == hub.golden_of(good)
    link = db.scalar(select(GoldenLink).where(GoldenLink.source_record_id == typo.id))
    assert link.match_type == MatchType.probabilistic and link.score == pytest.approx(0.99)
    assert db.scalar(select(func.count()).select_from(MatchCandidate)) == 0
    assert _phone(db.get(Person, out.target_id)) == "13800000009"


def test_below_the_review_band_a_record_is_a_new_golden_record(db, world):
    hub = make_hub(db, world, matcher=StubMatcher(probability=0.3))
    hub.source("minzheng")
    good, _ = hub.stage("minzheng", "m-1", person("张三", ID_A, grid=world.units["ga"]))
    other, _ = hub.stage("minzheng", "m-2", person("张三", ID_A_TYPO))
    assert hub.golden_of(other) != hub.golden_of(good)
    assert db.scalar(select(func.count()).select_from(MatchCandidate)) == 0


def test_editing_a_survivorship_rule_changes_the_chosen_value(hub, db, world):
    old = utcnow() - dt.timedelta(days=30)
    a, _ = hub.stage("gongan", "g-1", person("张三", ID_A, phone="13800000001", grid=world.units["ga"]),
                     changed_at=old)
    hub.stage("wangge", "w-1", person("张三", ID_A, phone="13900000002"))
    gid = hub.golden_of(a)
    p = db.get(Person, db.get(GoldenRecord, gid).register_id)
    assert _phone(p) == "13900000002"  # default for the phone: the most recent
    admin = principal_for_user(db, user=world.users["zhihui"])
    survivorship.set_rule(db, principal=admin, entity=EntityType.person, field="phone", rule="most_trusted")
    assert golden.resurvive(db, principal=hub.principal, golden_ids=[gid]) == 1
    assert _phone(p) == "13800000001"  # now the most trusted source (公安, 90) wins
    gf = db.scalar(select(GoldenField).where(GoldenField.golden_id == gid, GoldenField.field == "phone"))
    assert (gf.source_record_id, gf.rule) == (a.id, "most_trusted")


def test_only_hub_admin_edits_rules_and_only_known_rules(hub, db, world):
    with pytest.raises(Forbidden):
        survivorship.set_rule(db, principal=hub.principal, entity=EntityType.person, field="phone",
                              rule="most_trusted")
    admin = principal_for_user(db, user=world.users["zhihui"])
    with pytest.raises(ValidationFailed):
        survivorship.set_rule(db, principal=admin, entity=EntityType.person, field="phone", rule="loudest")


def test_a_change_in_a_source_updates_the_golden_record_and_emits_one_change_event(hub, db, world):
    rec, _ = hub.stage("minzheng", "m-1", person("张三", ID_A, phone="13800000001", grid=world.units["ga"]))
    gid = hub.golden_of(rec)
    assert [e.kind for e in db.scalars(select(ChangeEvent).where(ChangeEvent.golden_id == gid))] == ["created"]
    hub.stage("minzheng", "m-1", person("张三", ID_A, phone="13800000002", grid=world.units["ga"]))
    events = list(db.scalars(select(ChangeEvent).where(ChangeEvent.golden_id == gid).order_by(ChangeEvent.at)))
    assert [(e.kind, e.fields) for e in events] == [("created", events[0].fields), ("updated", ["phone"])]
    assert "13800000002" not in str(events[1].fields) and events[0].key != events[1].key
    assert _phone(db.get(Person, events[1].register_id)) == "13800000002"
    # the same values again: nothing changed, no event
    hub.stage("minzheng", "m-1", person("张三", ID_A, phone="13800000002", grid=world.units["ga"]))
    assert db.scalar(select(func.count()).select_from(ChangeEvent).where(ChangeEvent.golden_id == gid)) == 2


def test_a_register_refusal_becomes_the_rows_errors(hub, db, world):
    """A grid outside the importer's jurisdiction: the register refuses, the row goes to quarantine."""
    _rec, out = hub.stage("minzheng", "m-1", person("赵六", ID_B, grid=world.units["gc"]))
    assert out.errors and out.errors[0].rule == "register_refused" and out.target_id is None
    assert db.scalar(select(func.count()).select_from(Person)) == 0


def test_resolve_links_records_staged_without_resolution(hub, db, world):
    src = hub.sources["minzheng"]
    imp = hub.imports["minzheng"]
    from zhili.datahub.records import key_index, set_record_values

    recs = []
    for i, idn in enumerate((ID_A, ID_B)):
        r = SourceRecord(source_id=src.id, natural_key=f"x{i}", target_type=src.target, path=src.path,
                         first_import_id=imp.id, last_import_id=imp.id, row_number=i + 1)
        set_record_values(r, person(f"人{i}", idn, grid=world.units["ga"]))
        r.key_bidx = key_index("persons", idn)
        db.add(r)
        recs.append(r)
    db.flush()
    totals = golden.resolve(db, principal=hub.principal, entity=EntityType.person, source_id=src.id,
                            matcher=StubMatcher(probability=0.0))
    assert totals["records"] == 2 and totals["new"] == 2
    assert db.scalar(select(func.count()).select_from(Person)) == 2
    assert golden.resolve(db, principal=hub.principal, entity=EntityType.person)["records"] == 0
    with pytest.raises(Forbidden):
        golden.resolve(db, principal=principal_for_user(db, user=world.users["wangge_a"]))


def test_survive_prefers_filled_values_and_breaks_ties_deterministically():
    import uuid

    t0 = utcnow()
    m1 = survivorship.Member(uuid.uuid4(), uuid.uuid4(), 1, {"name": "张三", "phone": None, "note": "甲"}, 90, t0)
    m2 = survivorship.Member(uuid.uuid4(), uuid.uuid4(), 2, {"name": "张叁", "phone": "139", "note": "乙",
                                                             "ethnicity": "汉族"}, 10, t0 + dt.timedelta(days=1))
    out = survivorship.survive([m1, m2], {})
    assert out["name"].value == "张三" and out["name"].rule == "most_trusted"
    assert out["phone"].value == "139"  # the trusted source left it empty: it never erases
    assert out["note"].value == "乙" and out["note"].rule == "most_complete"  # m2 fills more fields
    assert survivorship.survive([m2, m1], {})["note"].member is out["note"].member
