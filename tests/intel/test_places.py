"""Places and organisations named in Chinese text (zhili.intel.places): what a hot issue is clustered on."""

from __future__ import annotations

import pytest

from zhili.intel.places import Gazetteer, extract_places, place_key


@pytest.mark.parametrize(("text", "places"), [
    ("翠湖花园小区3栋楼下烧烤店油烟太大", ("翠湖花园",)),
    ("请求整治开元东路的摩托车噪音", ("开元东路",)),
    ("A市经济学院强制学生外出实习", ("经济学院",)),
    ("投诉西地省森沁高科新材料有限公司污染环境", ("森沁高科新材料",)),
    ("A市A5区魅力之城小区临街餐饮店油烟噪音扰民", ("魅力之城",)),
    ("K市江南幸福里小区的物业管理不完善", ("江南幸福里",)),
    ("投诉E10县阳家村村民私自开采", ("阳家村",)),
    ("A市伊景园滨河苑捆绑销售车位", ("伊景园", "滨河苑")),
    ("反映广益中学门口摊贩问题", ("广益中学",)),
])
def test_places_are_found_by_their_type_and_named_without_the_words_around_them(text: str, places: tuple) -> None:
    assert extract_places(text).places == places


def test_masked_and_real_administrative_names_are_regions_never_places() -> None:
    p = extract_places("A市A2区福满新城二期施工噪音扰民，西地省K4县新圩江镇军山村5组也一样")
    assert p.places == ("福满新城", "军山村")
    assert p.regions == ("A市", "A2区", "西地省", "K4县", "新圩江镇")


def test_a_deployments_own_unit_names_are_regions() -> None:
    p = extract_places("金陵社区和平小区3栋门口堆放垃圾", known_regions=("金陵社区", "雉城街道"))
    assert p.regions == ("金陵社区",) and p.places == ("和平小区",)


@pytest.mark.parametrize("text", ["我们小区停车难", "该公司拖欠工资", "附近的幼儿园乱收费", "政府部门不作为",
                                  "城市道路坑洼", "加油站旁边的停车场", "商品房小区物业乱收费"])
def test_generic_words_are_no_places(text: str) -> None:
    assert extract_places(text).places == ()


def test_a_generic_institution_is_qualified_by_the_region_naming_it() -> None:
    assert extract_places("A7县人民医院收费不合理").places == ("A7县人民医院",)
    assert extract_places("人民医院收费不合理").places == ()
    assert extract_places("投诉K9县二中强制补课").places == ("K9县二中",)


def test_variants_of_one_place_have_one_key() -> None:
    assert place_key("翠湖花园小区") == place_key("翠湖花园") == "翠湖花园"
    assert place_key("森沁高科有限公司") == place_key("森沁高科股份有限公司") == "森沁高科"
    assert place_key("ＸＸ小区") == "XX小区"
    assert extract_places("翠湖花园小区3栋").places == extract_places("翠湖花园5栋").places


def test_the_gazetteer_finds_bare_mentions_of_names_seen_with_their_suffix() -> None:
    g = Gazetteer(["富雅坪小区", "翠湖花园", "小区"])
    assert g.find("富雅坪的消防通道被占，翠湖花园也是") == ["富雅坪小区", "翠湖花园"]
    assert g.find("小区里没有路灯") == []
