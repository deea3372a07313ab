"""Chinese address parsing and placement (地址解析与落位): the parser reads what staff type, the resolver places it
in the platform's own region tree and building register, and says why when it cannot."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from zhili.core.errors import Forbidden
from zhili.datahub.address import OUT_OF_SCOPE, Resolver, place_address
from zhili.datahub.address_parse import Gazetteer, cn_number, default_gazetteer, normalise, parse_address
from zhili.registry.models import Building, BuildingType, Entrance, Household, HouseholdUse

API = "/api/v1/hub/address/parse"
GZ = Gazetteer(province=("浙江省",), city=("湖州市",), district=("长兴县",),
               streets=("雉城街道", "画溪街道", "洪桥镇"), communities=("金陵社区", "画溪社区", "张家村"))


def _parts(text: str) -> dict[str, Any]:
    return {k: v for k, v in parse_address(text, GZ).as_dict().items() if v}


# -- parsing ------------------------------------------------------------------------------------------------------


def test_the_full_form_is_split_into_every_level() -> None:
    assert _parts("浙江省湖州市长兴县雉城街道金陵社区明珠路8号3幢2单元301室") == {
        "province": "浙江省", "city": "湖州市", "district": "长兴县", "street": "雉城街道", "community": "金陵社区",
        "road": "明珠路", "number": "8", "building": "3", "unit": "2", "room": "301"}


def test_the_short_forms_staff_type() -> None:
    """``长兴`` is the district without its suffix; ``3-2-301`` is building-unit-room; a trailing number is a room."""
    p = _parts("长兴明珠路8号3-2-301")
    assert p["district"] == "长兴县" and p["road"] == "明珠路" and p["number"] == "8"
    assert (p["building"], p["unit"], p["room"]) == ("3", "2", "301")
    p = _parts("金陵小区3栋2单元301")
    assert (p["compound"], p["building"], p["unit"], p["room"]) == ("金陵小区", "3", "2", "301")
    assert "community" not in p  # 金陵小区 is a compound, not a misspelt 金陵社区


@pytest.mark.parametrize("text", ["金陵小区3幢2单元301室", "金陵小区3栋2单元301室", "金陵小区3号楼2单元301室",
                                  "金陵小区3座2单元301室", "金陵小区3#2单元301室", "金陵小区 3 幢 2 单元 301 室",
                                  "金陵小区３幢２单元３０１室", "金陵小区三幢二单元三零一室", "金陵小区3-2-301"])
def test_building_words_digits_and_spacing_all_read_the_same(text: str) -> None:
    p = parse_address(text, GZ)
    assert (p.compound, p.building, p.unit, p.room) == ("金陵小区", "3", "2", "301")


def test_a_floor_before_the_room_is_read_as_a_floor() -> None:
    p = parse_address("金陵小区3幢2单元3楼301室", GZ)
    assert (p.building, p.unit, p.floor, p.room) == ("3", "2", "3", "301")
    p = parse_address("金陵小区3幢2单元十八层1802", GZ)
    assert (p.floor, p.room) == ("18", "1802")


def test_chinese_numerals() -> None:
    assert [cn_number(w) for w in ("三", "十", "十二", "二十", "二十三", "两", "一百零一", "三零一")] == \
        [3, 10, 12, 20, 23, 2, 101, 301]
    assert normalise("十二幢两单元") == "12幢2单元"
    assert normalise("三里村") == "三里村"  # a numeral inside a name stays a name


def test_compound_names_made_of_compound_words_stay_whole() -> None:
    """园 and 苑 are both compound words: 钱园苑 is one compound; 李家巷小区 is a compound named after a lane, while
    花园路 is a road."""
    assert _parts("钱园苑3幢")["compound"] == "钱园苑"
    assert _parts("李家巷小区1栋")["compound"] == "李家巷小区"
    assert _parts("花园路219号2-2-302")["road"] == "花园路"


def test_missing_levels_leave_the_rest_intact() -> None:
    p = _parts("雉城街道金陵小区3幢")
    assert p == {"street": "雉城街道", "compound": "金陵小区", "building": "3"}
    assert _parts("明珠路8号") == {"road": "明珠路", "number": "8"}


def test_dropped_suffixes_old_names_and_a_typo_in_an_administrative_name() -> None:
    """``雉城`` and the old ``雉城镇`` mean 雉城街道; ``稚城街道`` (one wrong character) too; a bare core is not
    read as a street when a longer name follows (``画溪小区`` is a compound, ``画溪大道`` a road)."""
    assert _parts("雉城金陵3幢")["street"] == "雉城街道"
    assert _parts("雉城金陵3幢")["community"] == "金陵社区"
    assert _parts("长兴县雉城镇明珠路8号")["street"] == "雉城街道"
    assert _parts("长兴县稚城街道明珠路8号")["street"] == "雉城街道"
    assert "street" not in _parts("画溪小区2幢") and _parts("画溪小区2幢")["compound"] == "画溪小区"
    assert _parts("画溪大道12号") == {"road": "画溪大道", "number": "12"}
    assert parse_address("雉城金陵3幢", GZ).fixes == ("雉城→雉城街道", "金陵→金陵社区")


def test_other_districts_are_recognised_with_the_national_table() -> None:
    """cpca's division table names another district and its adcode; a road named after a city is not one."""
    p = parse_address("北京市朝阳区建国路88号", GZ)
    assert (p.province, p.district, p.adcode, p.road, p.number) == ("北京市", "朝阳区", "110105", "建国路", "88")
    p = parse_address("浙江省湖州市吴兴区爱山街道人民路12号", GZ)
    assert p.district == "吴兴区" and p.adcode == "330502"
    p = parse_address("中山路5号", GZ)
    assert p.city is None and p.road == "中山路"


def test_masked_place_names_are_flagged() -> None:
    p = parse_address("A市A2区某某路5号", GZ)
    assert p.masked == "A市A2区" and p.road == "某某路"


def test_rural_house_numbers() -> None:
    p = _parts("长兴县洪桥镇张家村张家埭5号")
    assert (p["street"], p["community"], p["compound"], p["building"]) == ("洪桥镇", "张家村", "张家埭", "5")


def test_the_default_gazetteer_is_the_shipped_division_table() -> None:
    gz = default_gazetteer()
    assert gz.district == ("长兴县",) and "雉城街道" in gz.streets and "水口乡" in gz.streets


# -- placing ------------------------------------------------------------------------------------------------------


@pytest.fixture
def house(db: Session, world: Any) -> dict[str, Any]:
    """明珠路8号 金陵小区 3幢 (2单元 301室) in grid ga of 金陵社区; 7幢 of 银湖苑 in both communities' grids
    (the same number in two compounds); a 1幢 in 金陵小区 too."""
    ga, gb, gc = world.units["ga"], world.units["gb"], world.units["gc"]

    def building(grid: Any, compound: str, name: str, road: str) -> Building:
        b = Building(grid_id=grid.id, path=grid.path, compound=compound, name=name,
                     address=f"长兴县雉城街道{road}{compound}{name}", building_type=BuildingType.residential)
        db.add(b)
        db.flush()
        return b

    b3 = building(ga, "金陵小区", "3幢", "明珠路8号")
    b1 = building(ga, "金陵小区", "1幢", "明珠路8号")
    other = building(gb, "银湖苑", "3幢", "太湖路16号")
    building(gc, "画溪新村", "3幢", "画溪大道20号")
    ents = {}
    for n in (1, 2):
        ents[n] = Entrance(building_id=b3.id, path=ga.path, name=f"{n}单元")
        db.add(ents[n])
    db.flush()
    homes = {}
    for n, room in ((2, "301"), (1, "301"), (2, "302")):
        h = Household(building_id=b3.id, entrance_id=ents[n].id, grid_id=ga.id, path=ga.path, room=room,
                      address=f"{b3.address}{n}单元{room}室", use=HouseholdUse.owner_occupied)
        db.add(h)
        homes[(n, room)] = h
    db.flush()
    return {"b3": b3, "b1": b1, "other": other, "e2": ents[2], "h": homes[(2, "301")], "world": world}


@pytest.mark.parametrize("text", ["浙江省湖州市长兴县雉城街道金陵社区明珠路8号3幢2单元301室", "长兴明珠路8号3-2-301",
                                  "金陵小区3栋2单元301"])
def test_the_three_example_forms_place_the_same_household(db: Session, house: dict[str, Any], text: str) -> None:
    pl = Resolver(db).place(text)
    assert pl.building_id == house["b3"].id
    assert pl.entrance_id == house["e2"].id
    assert pl.household_id == house["h"].id
    assert pl.unit_id == house["world"].units["ga"].id and pl.path == house["world"].units["ga"].path
    assert pl.reason is None and pl.confidence >= 0.9


def test_a_building_address_places_the_building_and_its_grid(db: Session, house: dict[str, Any]) -> None:
    pl = Resolver(db).place("雉城街道金陵小区三号楼")
    assert pl.building_id == house["b3"].id and pl.household_id is None
    assert 0.5 < pl.confidence < 1.0


def test_a_compound_typed_with_one_wrong_character_is_still_found_at_lower_confidence(
        db: Session, house: dict[str, Any]) -> None:
    r = Resolver(db)
    exact, typo = r.place("金陵小区3幢2单元301室"), r.place("金林小区3幢2单元301室")
    assert typo.household_id == house["h"].id
    assert typo.confidence < exact.confidence


def test_unplaceable_addresses_give_their_reason(db: Session, house: dict[str, Any]) -> None:
    r = Resolver(db)
    masked = r.place("A市A2区明珠路8号3幢")
    assert masked.unit_id is None and masked.building_id is None and "A市A2区" in (masked.reason or "")
    foreign = r.place("北京市朝阳区建国路88号")
    assert foreign.unit_id is None and foreign.reason == "地址不在本区：北京市朝阳区"
    unknown = r.place("雉城街道紫金花园3幢")
    assert unknown.building_id is None and unknown.reason == "未找到小区“紫金花园”"
    assert unknown.unit_id == house["world"].units["s1"].id  # placed no deeper than the street it named


def test_an_ambiguous_building_is_not_guessed(db: Session, house: dict[str, Any]) -> None:
    """Two compounds of 雉城街道 have a 3幢; with neither compound nor road the building is not unique — the
    placement stops at the deepest unit both candidates share (金陵社区: their grids differ)."""
    pl = Resolver(db).place("雉城街道3幢")
    assert pl.building_id is None and pl.reason == "楼栋“3幢”不唯一"
    assert pl.unit_id == house["world"].units["c1"].id


def test_missing_rooms_and_units_are_explained(db: Session, house: dict[str, Any]) -> None:
    r = Resolver(db)
    pl = r.place("金陵小区3幢2单元909室")
    assert pl.building_id == house["b3"].id and pl.entrance_id == house["e2"].id and pl.household_id is None
    assert pl.reason == "未找到户室“909室”"
    pl = r.place("金陵小区3幢301室")  # 301 is in both 1单元 and 2单元
    assert pl.household_id is None and pl.reason == "户室“301室”不唯一"


def test_the_tree_as_of_a_date_before_the_units_existed_places_nothing(db: Session, house: dict[str, Any]) -> None:
    import datetime as dt

    pl = Resolver(db, as_of=dt.date(2019, 1, 1)).place("雉城街道金陵社区")
    assert pl.unit_id is None


# -- service, API and page ----------------------------------------------------------------------------------------


def _principal(db: Session, world: Any, who: str) -> Any:
    from zhili.users.service import principal_for_user

    return principal_for_user(db, user=world.users[who])


def test_the_service_answers_outside_the_callers_area_as_not_placed(db: Session, house: dict[str, Any]) -> None:
    world = house["world"]
    mine = place_address(db, principal=_principal(db, world, "jiedao1"), text="金陵小区3栋2单元301")
    assert mine["placement"].household_id == house["h"].id
    theirs = place_address(db, principal=_principal(db, world, "jiedao2"), text="金陵小区3栋2单元301")
    assert theirs["placement"].unit_id is None and theirs["placement"].household_id is None
    assert theirs["placement"].reason == OUT_OF_SCOPE and theirs["names"]["units"] == []
    with pytest.raises(Forbidden):
        place_address(db, principal=_principal(db, world, "wangge_a"), text="金陵小区3栋2单元301")


def test_api_parses_and_places(client: Any, house: dict[str, Any]) -> None:
    world = house["world"]
    r = client.post(API, json={"address": "长兴明珠路8号3-2-301"}, headers=world.headers("shequ1"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["parts"]["road"] == "明珠路" and body["parts"]["fixes"] == ["长兴→长兴县"]
    pl = body["placement"]
    assert pl["placed"] and pl["household_id"] == str(house["h"].id)
    assert pl["units"][-1] == "金陵社区第1网格" and pl["building"] == "金陵小区3幢" and pl["room"] == "301"
    r = client.post(API, json={"address": "长兴明珠路8号3-2-301"}, headers=world.headers("jiedao2"))
    assert r.json()["placement"] == {**r.json()["placement"], "placed": False, "reason": OUT_OF_SCOPE}
    assert client.post(API, json={"address": ""}, headers=world.headers("shequ1")).status_code == 422
    assert client.post(API, json={"address": "x"}, headers=world.headers("wangge_a")).status_code == 403


def test_the_page_shows_parts_and_placement_in_names(client: Any, house: dict[str, Any]) -> None:
    world = house["world"]
    client.cookies.clear()
    client.cookies.set("zhili_session", world.tokens["shequ1"])
    got = client.get("/console/hub/address")
    assert got.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', got.text)
    assert token is not None
    r = client.post("/console/hub/address", data={"address": "金陵小区三栋二单元三零一", "csrf_token": token.group(1)})
    assert r.status_code == 200, r.text
    assert "金陵社区第1网格" in r.text and "金陵小区3幢" in r.text and "2单元" in r.text
    assert str(house["h"].id) not in r.text and str(house["b3"].id) not in r.text
    r = client.post("/console/hub/address", data={"address": "A市A2区某某路5号", "csrf_token": token.group(1)})
    assert "未能落位" in r.text and "A市A2区" in r.text


# -- the generated table ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from zhili.core.crypto import FieldCipher
    from zhili.core.db import make_engine
    from zhili.core.migrate import upgrade
    from zhili.core.settings import new_key_material
    from zhili.seed.demo import seed_demo

    url = f"sqlite:///{(Path(tmp_path_factory.mktemp('hubaddr')) / 'demo.db').as_posix()}"
    upgrade(url=url)
    engine = make_engine(url)
    seed_demo(engine, scale="small", cipher=FieldCipher.from_material(new_key_material()), workers=0)
    yield engine
    engine.dispose()


def test_precision_and_recall_on_a_generated_table(demo: Any) -> None:
    """A regression floor on 150 noisy addresses from the small demo (every noise kind, other districts, masked):
    what is placed is right, and nearly everything placeable is placed."""
    from hub_address_cases import address_cases, placed_levels, score

    with Session(demo) as s:
        cases = address_cases(s, n=150, seed=7)
        kinds = {c.kind for c in cases}
        assert {"dash", "cn_numerals", "full_width", "typo", "foreign", "masked", "organisation"} <= kinds
        r = Resolver(s)
        placed = [placed_levels(r.place(c.text)) for c in cases]
    got = score(cases, placed)
    for level in ("street", "community", "building", "household"):
        assert got[level]["precision"] >= 0.97, (level, got[level])
        assert got[level]["recall"] >= 0.9, (level, got[level])
    unplaceable = [p for c, p in zip(cases, placed, strict=True) if not c.placeable]
    assert unplaceable and all(p["street_path"] is None for p in unplaceable)


def test_the_table_is_deterministic(demo: Any) -> None:
    from hub_address_cases import address_cases

    with Session(demo) as s:
        a, b = address_cases(s, n=60, seed=3), address_cases(s, n=60, seed=3)
    assert [c.text for c in a] == [c.text for c in b]
    assert len({c.text for c in a}) > 50
