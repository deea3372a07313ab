"""Duplicate suggestions (疑似重复件, issue 17): one score from text, distance, time and the place named, with a
Chinese explanation; reports without a point found by their address; related categories; the viewer's
jurisdiction exactly as before. The distance-only behaviour they extend is in test_intake.py and test_writer.py."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from casekit import local

from zhili.cases import service, similarity
from zhili.cases.models import Channel


def _east(lon: float, lat: float, metres: float) -> float:
    return lon + metres / (111_195 * math.cos(math.radians(lat)))


def _file(kit: Any, who: str, now: dt.datetime, description: str, *, category: str = "T0301",
          metres_east: float | None = 0.0, address: str | None = None) -> Any:
    body: dict[str, Any] = {"category_code": category, "description": description}
    if metres_east is not None:
        body.update(lon=_east(119.1, 31.1, metres_east), lat=31.1)
    if address:
        body["address"] = address
    channel = Channel.resident if who.startswith("jumin") else Channel.hotline
    case, created = service.report_case(kit.db, principal=kit.principal(who), channel=channel, data=body, now=now)
    assert created
    return case


def _suggested(kit: Any, case: Any, who: str = "zhihui") -> list[Any]:
    return [s for s, _ in service.find_duplicates(kit.db, principal=kit.principal(who), case=case)]


# -- the score and its explanation --------------------------------------------------------------------------

def test_a_paraphrased_re_report_ranks_above_a_same_place_report_of_another_problem(kit):
    t0 = local(2026, 4, 1, 21, 0)
    bbq = _file(kit, "zhihui", t0, "金色家园3幢楼下的烧烤店每天晚上噪音很大，吵到凌晨两点")
    works = _file(kit, "zhihui", t0 + dt.timedelta(hours=1), "金色家园3幢有住户装修，电钻声从早到晚不停",
                  metres_east=20)
    again = _file(kit, "zhihui", t0 + dt.timedelta(hours=20),
                  "金色家园小区3号楼烧烤店半夜还很吵，噪音扰民，希望管一管", metres_east=40)
    found = _suggested(kit, again)
    assert found[0].id == bbq.id
    scores = {s.id: s.score for s in found}
    assert scores.get(works.id, 0.0) < scores[bbq.id]
    assert 0.0 < scores[bbq.id] <= 1.0


def test_the_explanation_names_the_shared_estate_the_distance_the_days_and_the_shared_words(kit):
    t0 = local(2026, 4, 1, 20, 0)
    first = _file(kit, "zhihui", t0, "金色家园小区楼下饭店油烟很大，晚上噪音也很吵")
    later = _file(kit, "zhihui", t0 + dt.timedelta(days=2), "金色家园楼下饭店油烟很大，半夜噪音扰民",
                  metres_east=120)
    [s] = [s for s in _suggested(kit, later) if s.id == first.id]
    assert s.explanation.startswith("同一小区（金色家园），相距120米，相隔2天，共同词：")
    shared = s.explanation.split("共同词：")[1].split("，")[0].split()
    assert "噪音" in shared and any("油烟" in w for w in shared)  # maximal shared stretches: 楼下饭店油烟
    assert not any("金色家园" in w for w in shared)  # the place is named once, up front
    assert 110 < s.distance_m < 130


def test_shared_terms_are_informative_words_not_generic_complaint_words():
    a = similarity.profile(None, "市民来电反映：幸福花园门口垃圾桶满溢，希望有关部门尽快处理")
    b = similarity.profile(None, "幸福花园门口的垃圾桶满溢好几天了，请尽快处理，谢谢")
    terms = similarity.shared_terms(a, b)
    assert "垃圾桶满溢" in terms
    assert not {"希望", "尽快", "处理", "有关部门", "尽快处理"} & set(terms)
    assert similarity.places("我住在金色家园小区３号楼") == ("金色家园", "金色家园3幢")
    assert similarity.places("晚上出门看不清路，修路扰民") == ()
    assert similarity.address_key("浙江省湖州市长兴县雉城街道人民路88号") == "人民路88号"


def test_a_same_category_report_metres_away_minutes_later_is_a_candidate_even_in_other_words(kit):
    t0 = local(2026, 4, 2, 9, 0)
    first = _file(kit, "zhihui", t0, "垃圾堆在路口", category="T0101")
    second = _file(kit, "zhihui", t0 + dt.timedelta(minutes=20), "有一堆废弃物没人管", category="T0101",
                   metres_east=10)
    far_later = _file(kit, "zhihui", t0 + dt.timedelta(hours=40), "有一堆废弃物没人管", category="T0101",
                      metres_east=130)
    assert first.id in [s.id for s in _suggested(kit, second)]
    # far and late with no word in common: the old rule's candidate, no longer suggested
    assert first.id not in [s.id for s in _suggested(kit, far_later)]


# -- reports without a point, related categories -----------------------------------------------------------

def test_a_report_without_a_point_finds_the_case_at_the_same_address_with_similar_text(kit):
    t0 = local(2026, 4, 3, 22, 0)
    located = _file(kit, "zhihui", t0, "楼下酒吧音乐声很大，到凌晨两点还没停", address="金色家园3幢")
    other = _file(kit, "zhihui", t0, "楼顶有人私自搭建彩钢棚", address="金色家园3幢")
    hotline = _file(kit, "zhihui", t0 + dt.timedelta(hours=5), "金色家园小区3号楼下酒吧半夜音乐声太吵",
                    metres_east=None, address="长兴县金色家园小区3号楼")
    assert hotline.lon is None
    found = _suggested(kit, hotline)
    assert [s.id for s in found] == [located.id]  # the same building, but another problem: not suggested
    assert found[0].distance_m is None and "同一楼栋（金色家园3幢）" in found[0].explanation
    assert "地址相同" in found[0].explanation
    assert other.id not in [s.id for s in found]
    # and from the located case's page, the hotline report without a point
    assert hotline.id in [s.id for s in _suggested(kit, located)]


def test_a_report_without_a_point_at_another_address_is_not_a_candidate(kit):
    t0 = local(2026, 4, 3, 22, 0)
    _file(kit, "zhihui", t0, "楼下酒吧音乐声很大，到凌晨两点还没停", address="金色家园3幢")
    hotline = _file(kit, "zhihui", t0 + dt.timedelta(hours=5), "楼下酒吧音乐声很大，到凌晨两点还没停",
                    metres_east=None, address="长兴县幸福花园7幢")
    assert _suggested(kit, hotline) == []


def test_a_very_similar_report_of_a_related_category_is_suggested_and_says_so(kit):
    t0 = local(2026, 4, 4, 8, 0)
    rubbish = _file(kit, "zhihui", t0, "幸福花园门口垃圾堆放三天无人清运，堵住了人行道", category="T0101")
    stall = _file(kit, "zhihui", t0 + dt.timedelta(hours=3), "幸福花园门口垃圾堆放三天无人清运，占道",
                  category="T0102", metres_east=15)
    unrelated = _file(kit, "zhihui", t0 + dt.timedelta(hours=3), "流动摊贩在路口卖水果", category="T0102",
                      metres_east=15)
    [s] = [s for s in _suggested(kit, stall) if s.id == rubbish.id]
    assert s.category_code == "T0101" and "相近类别（暴露垃圾）" in s.explanation
    assert rubbish.id not in [s.id for s in _suggested(kit, unrelated)]


# -- jurisdiction, the reply and the API ----------------------------------------------------------------------

def test_a_residents_report_without_a_point_lists_only_their_own_cases(kit):
    body = {"category_code": "T0301", "description": "金色家园3幢楼下酒吧半夜音乐声太吵",
            "address": "金色家园3幢"}
    mine = kit.post("jumin", "/cases", json={**body, "lon": 119.1, "lat": 31.1}).json()
    theirs = kit.post("jumin2", "/cases", json=body).json()
    assert theirs["duplicate_candidates"] == []  # jumin's case is not jumin2's to see
    again = kit.post("jumin", "/cases", json=body).json()
    [d] = again["duplicate_candidates"]
    assert d["id"] == mine["id"] and d["distance_m"] is None
    assert 0 < d["score"] <= 1 and "地址相同" in d["explanation"]


def test_the_api_gives_each_candidate_its_score_and_explanation_best_first(kit):
    a = kit.report("zhihui", description="幸福花园门口垃圾桶满溢，臭味很大")
    b = kit.report("zhihui", description="幸福花园垃圾桶满了没人清运", lon=_east(119.1, 31.1, 60))
    c = kit.report("zhihui", description="幸福花园门口垃圾桶满溢，臭味很大", lon=_east(119.1, 31.1, 30))
    assert [d["id"] for d in c["duplicate_candidates"]] == [a["id"], b["id"]]
    listed = kit.get("zhihui", f"/cases/{c['id']}/duplicates").json()
    assert [d["id"] for d in listed] == [a["id"], b["id"]]
    assert listed[0]["score"] > listed[1]["score"] and set(listed[0]) >= {
        "id", "number", "title", "state", "distance_m", "reported_at", "score", "explanation"}
    assert listed[0]["explanation"].startswith("同一小区（幸福花园），相距30米")
