"""The base registers through the API: CRUD, validation with Chinese messages, masking and audited reveal,
search through blind indexes, filters, paging and sorting, locating by coordinates, optimistic locking."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

import pytest
from apihelpers import Api, GridSet, audit_events, bad_checksum, credit_code, id_number

from zhili.core import clock

CHINESE = re.compile(r"[\u4e00-\u9fff]")
TRACEBACK_MARKERS = ("Traceback", 'File "', "sqlalchemy", "psycopg", "sqlite3", "Error:")


def _error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code, body
    assert CHINESE.search(body["message"]), body["message"]
    assert not any(m in r.text for m in TRACEBACK_MARKERS), r.text
    return dict(body)


def _years_ago(years: int, *, days: int = 0) -> dt.date:
    today = clock.today()
    try:
        day = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        day = today.replace(year=today.year - years, day=28)
    return day - dt.timedelta(days=days)


# -- create / read / update / delete ---------------------------------------------------------------------------

def test_a_building_and_its_entrances_are_created_read_updated_and_deleted(api: Api, world: Any) -> None:
    b = api.building(world.units["ga"].id, building_type="mixed")
    assert b["grid_id"] == str(world.units["ga"].id) and b["path"] == world.units["ga"].path
    assert b["version"] == 1 and b["building_type"] == "mixed"
    e = api.entrance(b["id"])
    assert api.get("admin", f"/registry/buildings/{b['id']}/entrances").json() == [e]
    dup = api.post("admin", f"/registry/buildings/{b['id']}/entrances", json={"name": e["name"]})
    _error(dup, 409, "entrance_exists")

    r = api.patch("wangge_a", f"/registry/buildings/{b['id']}", json={"floors": 18, "note": "电梯房"})
    assert r.status_code == 200, r.text
    assert r.json()["floors"] == 18 and r.json()["version"] == 2
    assert api.get("wangge_a", f"/registry/buildings/{b['id']}").json()["note"] == "电梯房"

    assert api.delete("wangge_a", f"/registry/buildings/{b['id']}").status_code == 204
    _error(api.get("admin", f"/registry/buildings/{b['id']}"), 404, "not_found")


def test_a_household_is_created_with_an_address_from_its_building_then_updated_and_deleted(
    api: Api, world: Any
) -> None:
    b = api.building(world.units["ga"].id, address="金陵路8号")
    e = api.entrance(b["id"])
    h = api.household(b["id"], entrance_id=e["id"], room="301", area_m2=89.5)
    assert h["address"] == "金陵路8号301室" and h["grid_id"] == b["grid_id"] and h["use"] == "owner_occupied"
    _error(api.post("admin", "/registry/households", json={"building_id": b["id"], "entrance_id": e["id"],
                                                          "room": "301"}), 409, "household_exists")
    other = api.entrance(api.building(world.units["ga"].id)["id"])
    _error(api.post("admin", "/registry/households", json={"building_id": b["id"], "entrance_id": other["id"],
                                                          "room": "302"}), 422, "entrance_mismatch")

    r = api.patch("wangge_a", f"/registry/households/{h['id']}", json={"use": "vacant", "version": 1})
    assert r.status_code == 200 and r.json()["use"] == "vacant" and r.json()["version"] == 2

    listed = api.get("wangge_a", "/registry/households", params={"building_id": b["id"]}).json()
    assert [x["id"] for x in listed["items"]] == [h["id"]]
    assert api.delete("wangge_a", f"/registry/households/{h['id']}").status_code == 204
    assert api.get("wangge_a", f"/registry/households/{h['id']}").status_code == 404


def test_a_person_is_created_read_updated_and_deleted_with_a_reason(api: Api, world: Any) -> None:
    b = api.building(world.units["ga"].id)
    h1, h2 = api.household(b["id"]), api.household(b["id"])
    p = api.person(name="王小明", household_id=h1["id"], relation="head", ethnicity="汉族")
    assert p["grid_id"] == str(world.units["ga"].id) and p["household_id"] == h1["id"] and p["status"] == "active"

    r = api.patch("wangge_a", f"/registry/persons/{p['id']}",
                  json={"household_id": h2["id"], "relation": "child", "status": "moved_out"})
    assert r.status_code == 200, r.text
    assert r.json()["household_id"] == h2["id"] and r.json()["status"] == "moved_out"
    _error(api.patch("wangge_a", f"/registry/persons/{p['id']}", json={"relation": "兄弟"}), 422, "bad_relation")

    _error(api.delete("wangge_a", f"/registry/persons/{p['id']}"), 422, "validation_failed")  # reason required
    assert api.delete("wangge_a", f"/registry/persons/{p['id']}", params={"reason": "重复录入"}).status_code == 204
    assert api.get("wangge_a", f"/registry/persons/{p['id']}").status_code == 404


def test_an_organisation_is_created_read_updated_and_deleted(api: Api, world: Any) -> None:
    code = credit_code()
    o = api.organisation(world.units["gb"].id, credit_code=code.lower(), org_type="social_org", employees=12)
    assert o["credit_code"] == code, "the credit code is stored upper-cased"
    assert o["grid_id"] == str(world.units["gb"].id) and o["employees"] == 12

    r = api.patch("wangge_b", f"/registry/organisations/{o['id']}", json={"employees": 15, "industry": "养老服务"})
    assert r.status_code == 200 and r.json()["employees"] == 15
    found = api.get("wangge_b", "/registry/organisations", params={"credit_code": code}).json()
    assert [x["id"] for x in found["items"]] == [o["id"]]

    assert api.delete("wangge_b", f"/registry/organisations/{o['id']}").status_code == 204
    assert api.get("wangge_b", f"/registry/organisations/{o['id']}").status_code == 404


def test_a_required_field_cannot_be_patched_to_null(api: Api, world: Any) -> None:
    b = api.building(world.units["ga"].id)
    for field in ("name", "address"):
        r = api.patch("admin", f"/registry/buildings/{b['id']}", json={field: None})
        assert _error(r, 422, "required_field")["details"] == {"field": field}
    assert api.get("admin", f"/registry/buildings/{b['id']}").json()["name"] == b["name"]
    # An optional field may be cleared.
    r = api.patch("admin", f"/registry/buildings/{b['id']}", json={"floors": None})
    assert r.status_code == 200 and r.json()["floors"] is None


# -- validation ------------------------------------------------------------------------------------------------

def test_an_id_number_with_a_wrong_check_digit_is_refused_in_chinese(api: Api, world: Any) -> None:
    r = api.post("admin", "/registry/persons", json={"name": "张三", "id_number": bad_checksum(id_number()),
                                                     "grid_id": str(world.units["ga"].id)})
    body = _error(r, 422, "id_number_checksum")
    assert "身份证" in body["message"] and "校验位" in body["message"]


@pytest.mark.parametrize(("value", "code"), [
    ("33052219850615123", "id_number_format"),  # 17 characters
    ("990522198506151234", "id_number_region"),
    ("330522198513321234", "id_number_birthdate"),
])
def test_malformed_id_numbers_are_refused_with_their_own_code(api: Api, world: Any, value: str, code: str) -> None:
    r = api.post("admin", "/registry/persons", json={"name": "张三", "id_number": value,
                                                     "grid_id": str(world.units["ga"].id)})
    _error(r, 422, code)


def test_a_credit_code_with_a_wrong_check_character_or_format_is_refused(api: Api, world: Any) -> None:
    good = credit_code()
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    base = {"name": "长兴某公司", "address": "金陵路1号", "grid_id": str(world.units["ga"].id)}
    _error(api.post("admin", "/registry/organisations", json={**base, "credit_code": wrong}), 422,
           "credit_code_checksum")
    _error(api.post("admin", "/registry/organisations", json={**base, "credit_code": "91330522MA2OOOOOOI"}), 422,
           "credit_code_format")


def test_bad_mobile_numbers_are_refused(api: Api, world: Any) -> None:
    grid = str(world.units["ga"].id)
    for phone in ("12812345678", "1381234567", "138123456789", "电话13812345678"):
        r = api.post("admin", "/registry/persons", json={"name": "张三", "id_number": id_number(), "phone": phone,
                                                         "grid_id": grid})
        _error(r, 422, "mobile_format")
    r = api.post("admin", "/registry/organisations", json={"name": "长兴某公司", "address": "金陵路1号",
                                                           "grid_id": grid, "contact_phone": "110"})
    _error(r, 422, "mobile_format")
    # Accepted spellings are normalised.
    p = api.person(grid_id=grid, phone="+86 138-1234-5678")
    assert p["phone"] == "138****5678"


def test_an_id_number_can_be_registered_only_once(api: Api, world: Any) -> None:
    pid = id_number(check="X")
    api.person(grid_id=str(world.units["ga"].id), id_number=pid)
    r = api.post("admin", "/registry/persons", json={"name": "李四", "id_number": pid.lower(),
                                                     "grid_id": str(world.units["gb"].id)})
    _error(r, 409, "id_number_taken")


def test_a_credit_code_can_be_registered_only_once(api: Api, world: Any) -> None:
    code = credit_code()
    api.organisation(world.units["ga"].id, credit_code=code)
    r = api.post("admin", "/registry/organisations", json={"name": "另一家公司", "address": "画溪路2号",
                                                           "grid_id": str(world.units["gb"].id), "credit_code": code})
    _error(r, 409, "credit_code_taken")


def test_unknown_care_tags_are_refused_when_creating_updating_and_filtering(api: Api, world: Any) -> None:
    grid = str(world.units["ga"].id)
    body = _error(api.post("admin", "/registry/persons", json={"name": "张三", "id_number": id_number(),
                                                               "grid_id": grid, "care_tags": ["vip"]}),
                  422, "bad_care_tag")
    assert "elderly_alone" in body["details"]["allowed"]
    p = api.person(grid_id=grid, care_tags=["disabled", "disabled"])
    assert p["care_tags"] == ["disabled"]
    _error(api.patch("admin", f"/registry/persons/{p['id']}", json={"care_tags": ["vip"]}), 422, "bad_care_tag")
    _error(api.get("admin", "/registry/persons", params={"care_tag": "vip"}), 422, "bad_care_tag")


def test_gender_and_birth_date_are_derived_from_the_id_number(api: Api, world: Any) -> None:
    grid = str(world.units["ga"].id)
    born = dt.date(1952, 2, 29)
    woman = api.person(grid_id=grid, id_number=id_number(born, male=False))
    man = api.person(grid_id=grid, id_number=id_number(dt.date(2010, 12, 31), male=True))
    assert (woman["gender"], woman["birth_date"]) == ("female", "1952-02-29")
    assert (man["gender"], man["birth_date"]) == ("male", "2010-12-31")
    today = clock.today()
    assert woman["age"] == today.year - 1952 - ((today.month, today.day) < (2, 29))


def test_a_person_without_household_or_grid_is_refused(api: Api) -> None:
    _error(api.post("admin", "/registry/persons", json={"name": "张三", "id_number": id_number()}), 422,
           "grid_required")


# -- masking and reveal --------------------------------------------------------------------------------------------

def test_person_responses_mask_the_id_and_phone_everywhere(api: Api, world: Any, db: Any) -> None:
    pid, phone = id_number(check="X"), "13812345678"
    b = api.building(world.units["ga"].id)
    h = api.household(b["id"])
    create = api.post("wangge_a", "/registry/persons", json={"name": "陈静", "id_number": pid, "phone": phone,
                                                             "household_id": h["id"]})
    assert create.status_code == 201
    p = create.json()
    assert p["id_number"] == f"{pid[:4]}**********{pid[-4:]}"
    assert re.fullmatch(r"\d{4}\*{10}\d{3}X", p["id_number"])
    assert p["phone"] == "138****5678"

    responses = [
        create,
        api.get("wangge_a", f"/registry/persons/{p['id']}"),
        api.get("wangge_a", "/registry/persons"),
        api.post("wangge_a", "/registry/persons/search", json={"id_number": pid}),
        api.post("wangge_a", "/registry/persons/search", json={"phone": phone}),
        api.get("wangge_a", f"/registry/households/{h['id']}/persons"),
        api.patch("wangge_a", f"/registry/persons/{p['id']}", json={"phone": "13987654321", "note": "换号"}),
    ]
    for r in responses:
        assert r.status_code in (200, 201), r.text
        for secret in (pid, pid[:-1], phone, "13987654321"):
            assert secret not in r.text, f"{r.request.url} leaks {secret}"
    # Nor does the audit log hold them.
    for ev in audit_events(db, object_id=p["id"]):
        text = json.dumps([ev.before, ev.after, ev.reason], ensure_ascii=False)
        assert pid not in text and phone not in text and "13987654321" not in text, text


def test_organisation_contact_phones_are_masked(api: Api, world: Any) -> None:
    o = api.organisation(world.units["ga"].id, contact_phone="13812345678", contact_name="周经理")
    assert o["contact_phone"] == "138****5678"
    r = api.get("admin", f"/registry/organisations/{o['id']}")
    assert "13812345678" not in r.text and r.json()["contact_phone"] == "138****5678"


def test_reveal_requires_a_reason_returns_full_values_and_is_audited_without_them(
    api: Api, registry: dict[str, GridSet], db: Any
) -> None:
    ga = registry["ga"]
    pid, phone = ga.secrets["id_number"], ga.secrets["phone"]
    url = f"/registry/persons/{ga.person['id']}/reveal"
    _error(api.post("wangge_a", url, json={}), 422, "validation_failed")
    _error(api.post("wangge_a", url, json={"reason": "查"}), 422, "reason_required")  # the service's rule
    _error(api.post("wangge_a", url, json={"reason": "  查 "}), 422, "reason_required")
    assert audit_events(db, "person.reveal") == []
    refused = audit_events(db, "person.reveal_refused")  # each refusal is kept, without any personal data
    assert [(e.actor_name, e.object_id, e.after) for e in refused] == \
        [("wangge_a", ga.person["id"], {"reason": "reason_required"})] * 2

    r = api.post("wangge_a", url, json={"reason": "低保资格复核"})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": ga.person["id"], "name": ga.person["name"], "id_number": pid, "phone": phone}

    [ev] = audit_events(db, "person.reveal")
    assert ev.object_id == ga.person["id"] and ev.reason == "低保资格复核"
    assert ev.actor_name == "wangge_a" and ev.actor_role == "grid_worker"
    stored = json.dumps([ev.before, ev.after], ensure_ascii=False)
    assert pid not in stored and pid[:-1] not in stored and phone not in stored


def test_the_service_itself_refuses_to_reveal_without_the_permission_or_a_reason(
    registry: dict[str, GridSet], db: Any, world: Any
) -> None:
    """No route in between (a data-hub job, a model): the same rule, in the service; refusals are audited."""
    from zhili.core.errors import Forbidden, ValidationFailed
    from zhili.registry.service import reveal_person
    from zhili.users.service import principal_for_user

    pid = uuid.UUID(registry["ga"].person["id"])
    for who in ("lingdao", "admin", "bumen", "jumin", "shenji"):
        with pytest.raises(Forbidden) as refused:
            reveal_person(db, principal=principal_for_user(db, user=world.users[who]), person_id=pid, reason="核查")
        assert refused.value.code == "permission_denied"
    wangge = principal_for_user(db, user=world.users["wangge_a"])
    with pytest.raises(ValidationFailed, match=r"请填写查看事由（至少2个字）"):
        reveal_person(db, principal=wangge, person_id=pid, reason=" 查 ")
    assert audit_events(db, "person.reveal") == []
    assert [e.actor_name for e in audit_events(db, "person.reveal_refused")] == [
        "lingdao", "admin", "bumen", "jumin", "shenji", "wangge_a"]
    assert reveal_person(db, principal=wangge, person_id=pid, reason="低保复核")["id"] == pid


def test_roles_without_pii_reveal_cannot_reveal(api: Api, registry: dict[str, GridSet], db: Any) -> None:
    url = f"/registry/persons/{registry['ga'].person['id']}/reveal"
    for who in ("lingdao", "admin"):
        _error(api.post(who, url, json={"reason": "想看看"}), 403, "permission_denied")
    assert audit_events(db, "person.reveal") == []
    assert [(e.actor_name, e.after) for e in audit_events(db, "person.reveal_refused")] == [
        ("lingdao", {"reason": "permission_denied"}), ("admin", {"reason": "permission_denied"})]
    assert api.post("zhihui", url, json={"reason": "回访核实"}).status_code == 200


# -- search, filters, paging -----------------------------------------------------------------------------------

def test_persons_are_found_by_exact_id_number_and_phone_and_by_name_prefix(
    api: Api, registry: dict[str, GridSet]
) -> None:
    ga = registry["ga"]
    pid, phone, name = ga.secrets["id_number"], ga.secrets["phone"], ga.person["name"]

    def ids(**params: Any) -> list[str]:
        path = "/registry/persons/search" if {"id_number", "phone"} & set(params) else "/registry/persons"
        r = (api.post("jiedao1", path, json=params) if path.endswith("search")
             else api.get("jiedao1", path, params=params))
        assert r.status_code == 200, r.text
        return [p["id"] for p in r.json()["items"]]

    assert ids(id_number=pid) == [ga.person["id"]]
    assert ids(id_number=pid.lower()) == [ga.person["id"]], "the check letter X is case-insensitive"
    assert ids(id_number=pid[:-1]) == [], "no partial matches on the ID number"
    assert ids(phone=phone) == [ga.person["id"]]
    assert ids(phone=f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}") == [ga.person["id"]]
    assert set(ids(name=name[:1])) == {ga.person["id"], registry["gb"].person["id"]}
    assert ids(name=name) == [ga.person["id"]]
    assert ids(name=name[1:]) == [], "name matches by prefix only"


def test_a_malformed_phone_in_a_search_is_refused(api: Api) -> None:
    _error(api.post("admin", "/registry/persons/search", json={"phone": "12345"}), 422, "mobile_format")


def test_persons_are_filtered_by_care_tag_resident_type_and_age(api: Api, world: Any) -> None:
    grid = str(world.units["ga"].id)
    elder = api.person(grid_id=grid, id_number=id_number(_years_ago(85)), care_tags=["elderly_alone", "elderly_80"])
    adult = api.person(grid_id=grid, id_number=id_number(_years_ago(18)), resident_type="floating")
    child = api.person(grid_id=grid, id_number=id_number(_years_ago(18, days=-1)), care_tags=["left_behind_child"],
                       resident_type="floating")
    assert (adult["age"], child["age"]) == (18, 17)

    def ids(**params: Any) -> set[str]:
        r = api.get("wangge_a", "/registry/persons", params=params)
        assert r.status_code == 200, r.text
        return {p["id"] for p in r.json()["items"]}

    assert ids(care_tag="elderly_alone") == {elder["id"]}
    assert ids(care_tag="left_behind_child") == {child["id"]}
    assert ids(resident_type="floating") == {adult["id"], child["id"]}
    assert ids(resident_type="registered") == {elder["id"]}
    assert ids(min_age=80) == {elder["id"]}
    assert ids(max_age=17) == {child["id"]}
    assert ids(min_age=18) == {elder["id"], adult["id"]}
    assert ids(min_age=18, max_age=60) == {adult["id"]}
    assert ids(min_age=18, max_age=60, resident_type="registered") == set()
    assert ids(resident_type="floating", care_tag="left_behind_child", max_age=17) == {child["id"]}
    _error(api.get("wangge_a", "/registry/persons", params={"min_age": -1}), 422, "validation_failed")


def test_persons_moved_out_are_hidden_unless_asked_for(api: Api, world: Any) -> None:
    p = api.person(grid_id=str(world.units["ga"].id))
    api.patch("admin", f"/registry/persons/{p['id']}", json={"status": "moved_out"})
    assert api.get("admin", "/registry/persons").json()["total"] == 0
    moved = api.get("admin", "/registry/persons", params={"status": "moved_out"}).json()
    assert [x["id"] for x in moved["items"]] == [p["id"]]


def test_lists_page_and_sort_and_refuse_unknown_sort_fields(api: Api, world: Any) -> None:
    grid = str(world.units["ga"].id)
    made = [api.person(grid_id=grid, name=n) for n in ("甲", "乙", "丙", "丁", "戊")]

    r = api.get("admin", "/registry/persons", params={"sort": "-created_at", "page_size": 2, "page": 1})
    assert r.status_code == 200, r.text
    first = r.json()
    assert (first["total"], first["page"], first["page_size"]) == (5, 1, 2)
    assert [p["id"] for p in first["items"]] == [made[4]["id"], made[3]["id"]]
    last = api.get("admin", "/registry/persons", params={"sort": "-created_at", "page_size": 2, "page": 3}).json()
    assert [p["id"] for p in last["items"]] == [made[0]["id"]] and last["total"] == 5
    beyond = api.get("admin", "/registry/persons", params={"page_size": 2, "page": 9}).json()
    assert beyond["items"] == [] and beyond["total"] == 5
    ascending = api.get("admin", "/registry/persons", params={"sort": "created_at"}).json()
    assert [p["id"] for p in ascending["items"]] == [p["id"] for p in made]

    for path in ("/registry/persons", "/registry/buildings", "/registry/households", "/registry/organisations"):
        body = _error(api.get("admin", path, params={"sort": "id_number_enc"}), 422, "bad_sort")
        assert "created_at" in body["details"]["allowed"]
    _error(api.get("admin", "/registry/persons", params={"page_size": 501}), 422, "validation_failed")
    _error(api.get("admin", "/registry/persons", params={"page": 0}), 422, "validation_failed")


def test_buildings_are_searched_by_keyword_and_type(api: Api, world: Any) -> None:
    a = api.building(world.units["ga"].id, compound="阳光花园", building_type="commercial")
    api.building(world.units["ga"].id, compound="幸福里")
    hits = api.get("admin", "/registry/buildings", params={"q": "阳光"}).json()
    assert [b["id"] for b in hits["items"]] == [a["id"]]
    typed = api.get("admin", "/registry/buildings", params={"building_type": "commercial"}).json()
    assert [b["id"] for b in typed["items"]] == [a["id"]]


# -- locating by coordinates -------------------------------------------------------------------------------------

def test_a_building_given_only_coordinates_is_placed_in_the_grid_containing_them(api: Api, world: Any) -> None:
    r = api.post("jiedao1", "/registry/buildings", json={"name": "1幢", "address": "画溪路1号",
                                                         "lon": 119.3, "lat": 31.1})
    assert r.status_code == 201, r.text
    assert r.json()["grid_id"] == str(world.units["gb"].id) and r.json()["path"] == world.units["gb"].path
    o = api.post("jiedao1", "/registry/organisations", json={"name": "某某超市", "address": "金陵路2号",
                                                             "lon": 119.1, "lat": 31.1})
    assert o.status_code == 201 and o.json()["grid_id"] == str(world.units["ga"].id)


def test_coordinates_outside_every_grid_are_refused(api: Api) -> None:
    # Inside the district and street s1, but not inside any grid.
    r = api.post("admin", "/registry/buildings", json={"name": "1幢", "address": "金陵路1号",
                                                       "lon": 119.1, "lat": 31.4})
    _error(r, 422, "point_outside_grids")
    _error(api.post("admin", "/registry/buildings", json={"name": "1幢", "address": "金陵路1号"}), 422,
           "grid_required")
    _error(api.post("admin", "/registry/buildings", json={"name": "1幢", "address": "金陵路1号",
                                                          "lon": 200, "lat": 31.1}), 422, "validation_failed")


def test_a_building_cannot_be_registered_in_a_unit_that_is_not_a_grid(api: Api, world: Any) -> None:
    r = api.post("admin", "/registry/buildings", json={"name": "1幢", "address": "金陵路1号",
                                                       "grid_id": str(world.units["c1"].id)})
    _error(r, 422, "not_a_grid")


# -- concurrency and integrity ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["buildings", "households", "persons", "organisations"])
def test_an_update_with_a_stale_version_is_refused(kind: str, api: Api, registry: dict[str, GridSet]) -> None:
    obj = getattr(registry["ga"], kind.rstrip("s"))
    url = f"/registry/{kind}/{obj['id']}"
    first = api.patch("wangge_a", url, json={"note": "第一次", "version": obj["version"]} if kind != "organisations"
                      else {"industry": "第一次", "version": obj["version"]})
    assert first.status_code == 200, first.text
    assert first.json()["version"] == obj["version"] + 1
    stale = api.patch("jiedao1", url, json={"version": obj["version"]} | (
        {"note": "第二次"} if kind != "organisations" else {"industry": "第二次"}))
    body = _error(stale, 409, "version_conflict")
    assert body["details"]["current_version"] == obj["version"] + 1
    current = api.get("admin", url).json()
    assert current.get("note", current.get("industry")) == "第一次"


def test_a_building_with_households_cannot_be_deleted(api: Api, registry: dict[str, GridSet]) -> None:
    ga = registry["ga"]
    _error(api.delete("admin", f"/registry/buildings/{ga.building['id']}"), 409, "building_in_use")
    _error(api.delete("admin", f"/registry/households/{ga.household['id']}"), 409, "household_in_use")
    assert api.get("admin", f"/registry/buildings/{ga.building['id']}").status_code == 200


def test_errors_never_contain_a_python_traceback(api: Api, world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from zhili.registry import service

    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret internal detail /srv/zhili/db.py line 42")

    monkeypatch.setattr(service, "get_building", boom)
    r = api.get("admin", f"/registry/buildings/{uuid.uuid4()}")
    assert r.status_code == 500
    body = r.json()
    assert body["code"] == "internal_error" and CHINESE.search(body["message"])
    assert body["details"]["incident"] in body["message"]
    for leak in ("secret internal detail", "RuntimeError", *TRACEBACK_MARKERS):
        assert leak not in r.text

    # Framework errors too: malformed JSON, a bad UUID in the path, a wrong enum value.
    bad_json = api.client.post("/api/v1/registry/buildings", content=b"{not json",
                               headers={**world.headers("admin"), "content-type": "application/json"})
    assert bad_json.status_code == 422 and not any(m in bad_json.text for m in TRACEBACK_MARKERS)
    for r in (api.get("admin", "/registry/persons/not-a-uuid"),
              api.get("admin", "/registry/buildings", params={"building_type": "castle"})):
        body = _error(r, 422, "validation_failed")
        assert body["details"] and all("field" in d for d in body["details"])
