"""Lineage: a golden record's fields name their source, import and row; a register row lists the records that
feed it; an imported case names its source, import and row; nothing outside the reader's area."""

from __future__ import annotations

import uuid

import pytest
from goldenkit import ID_A, StubMatcher, make_hub, person
from sqlalchemy import select

from zhili.core.errors import Forbidden, NotFound
from zhili.datahub import lineage
from zhili.datahub.models import GoldenRecord, SourceRecord, Target
from zhili.datahub.records import set_record_values
from zhili.users.service import principal_for_user


@pytest.fixture
def fed(db, world):
    hub = make_hub(db, world, matcher=StubMatcher(probability=0.0))
    hub.source("minzheng", trust=80)
    hub.source("gongan", trust=90)
    a, out = hub.stage("minzheng", "m-1", person("张三", ID_A, phone="13800000001", grid=world.units["ga"]))
    b, _ = hub.stage("gongan", "g-1", person("张三", ID_A, ethnicity="汉族"))
    return hub, a, b, out.target_id


def test_a_golden_records_fields_name_their_source_import_and_row(fed, db):
    hub, a, b, _person_id = fed
    gid = hub.golden_of(a)
    view = lineage.golden_lineage(db, principal=hub.principal, golden_id=gid)
    by = {f["field"]: f for f in view["fields"]}
    assert by["phone"]["source"] == "minzheng系统" and by["phone"]["import"]["filename"] == "minzheng.csv"
    assert by["phone"]["row_number"] == a.row_number and by["phone"]["rule"] == "most_recent"
    assert by["ethnicity"]["source"] == "gongan系统" and by["ethnicity"]["row_number"] == b.row_number
    assert by["name"]["source"] == "gongan系统"  # most trusted source for the name
    assert {lk["record_id"] for lk in view["links"]} == {a.id, b.id}
    assert view["merges"] == []
    assert "13800000001" not in str(view)


def test_a_register_person_lists_the_source_records_feeding_it(fed, db):
    hub, _a, _b, person_id = fed
    view = lineage.register_lineage(db, principal=hub.principal, kind="person", register_id=person_id)
    assert view["golden"].register_id == person_id
    assert sorted(r["source_name"] for r in view["records"]) == ["gongan", "minzheng"]
    from zhili.registry import service as registry
    from zhili.registry.models import BuildingType

    b = registry.create_building(db, principal=hub.principal, data={
        "grid_id": hub.world.units["ga"].id, "name": "3幢", "address": "金陵路8号3幢",
        "building_type": BuildingType.residential})
    empty = lineage.register_lineage(db, principal=hub.principal, kind="building", register_id=b.id)
    assert empty == {"golden": None, "records": []}  # no source ever fed it
    with pytest.raises(NotFound):
        lineage.register_lineage(db, principal=hub.principal, kind="building", register_id=uuid.uuid4())


def test_an_imported_case_names_its_source_import_and_row(fed, db, world, monkeypatch):
    """(The case's own visibility rule is ``cases.service.get_case``'s, replaced here: the route matrix runs it.)"""
    from zhili.cases import service as case_service

    monkeypatch.setattr(case_service, "get_case", lambda session, *, principal, case_id: None)
    hub, *_ = fed
    src = hub.source("rexian", target=Target.cases)
    case_id = uuid.uuid4()
    rec = SourceRecord(source_id=src.id, natural_key="12345-1", target_type=Target.cases, target_id=case_id,
                       path=src.path, first_import_id=hub.imports["rexian"].id,
                       last_import_id=hub.imports["rexian"].id, row_number=17)
    set_record_values(rec, {"external_id": "12345-1", "description": "路灯不亮"})
    db.add(rec)
    db.flush()
    [r] = lineage.case_lineage(db, principal=hub.principal, case_id=case_id)["records"]
    assert (r["source_name"], r["import"]["filename"], r["row_number"]) == ("rexian", "rexian.csv", 17)


def test_lineage_stays_inside_the_readers_area(fed, db, world):
    hub, a, _b, person_id = fed
    gid = hub.golden_of(a)
    other = principal_for_user(db, user=world.users["jiedao2"])
    with pytest.raises(NotFound):
        lineage.golden_lineage(db, principal=other, golden_id=gid)
    with pytest.raises(NotFound):
        lineage.register_lineage(db, principal=other, kind="person", register_id=person_id)
    with pytest.raises(Forbidden):
        lineage.golden_lineage(db, principal=principal_for_user(db, user=world.users["wangge_a"]), golden_id=gid)
    assert db.scalar(select(GoldenRecord.id).where(GoldenRecord.id == gid)) is not None


def test_the_person_page_loads_a_data_sources_panel(fed, db, world, client):
    hub, _a, _b, person_id = fed
    client.cookies.set("zhili_session", world.tokens["shequ1"])
    page = client.get(f"/console/registry/persons/{person_id}")
    assert page.status_code == 200 and f'hx-get="/console/hub/lineage/person/{person_id}"' in page.text
    panel = client.get(f"/console/hub/lineage/person/{person_id}")
    assert panel.status_code == 200 and "minzheng系统" in panel.text and "gongan系统" in panel.text
    assert "minzheng.csv" in panel.text and "13800000001" not in panel.text
    client.cookies.set("zhili_session", world.tokens["jiedao2"])
    assert client.get(f"/console/hub/lineage/person/{person_id}").status_code == 404
    assert client.get(f"/api/v1/hub/lineage/person/{person_id}", headers=world.headers("shequ1")).json()[
        "golden_id"] == str(hub.golden_of(_a))


def test_the_household_page_loads_its_data_sources_panel_too(fed, db, world, client):
    """Households are fed by imports too: their page has the same lazily loaded 数据来源 panel, scoped like it."""
    from zhili.registry import service as registry
    from zhili.registry.models import BuildingType, HouseholdUse
    from zhili.users.service import principal_for_user

    staff = principal_for_user(db, user=world.users["shequ1"])
    building = registry.create_building(db, principal=staff, data={
        "grid_id": world.units["ga"].id, "name": "3幢", "address": "明珠路8号",
        "building_type": BuildingType.residential})
    household_id = registry.create_household(db, principal=staff, data={
        "building_id": building.id, "room": "301", "use": HouseholdUse.owner_occupied}).id
    client.cookies.set("zhili_session", world.tokens["shequ1"])
    page = client.get(f"/console/registry/households/{household_id}")
    assert page.status_code == 200 and f'hx-get="/console/hub/lineage/household/{household_id}"' in page.text
    assert client.get(f"/console/hub/lineage/household/{household_id}").status_code == 200
    client.cookies.set("zhili_session", world.tokens["jiedao2"])
    assert client.get(f"/console/hub/lineage/household/{household_id}").status_code == 404
