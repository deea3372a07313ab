"""The 4E reads over stored runs: a scorecard's numbers, direction-aware trend arrows, ranking order, the
drill-down's figures and case link, and the jurisdiction (a unit outside one's subtree reads as not found)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from evaluation.evalworld import build_eval
from zhili.core.errors import Forbidden, NotFound, ValidationFailed
from zhili.evaluation import reads
from zhili.users.service import principal_for_user


def _p(db: Session, world: Any, who: str) -> Any:
    return principal_for_user(db, user=world.users[who])


@pytest.fixture
def ew(db: Session, world: Any) -> Any:
    return build_eval(db, world.units)


def test_periods_newest_first(db: Session, world: Any, ew: Any) -> None:
    got = reads.periods(db, principal=_p(db, world, "lingdao"))
    assert [p["period"] for p in got] == ["2026-10", "2026-09", "2026-08"]
    assert got[0]["label"] == "2026年10月" and got[0]["kind_name"] == "月度"


def test_scorecard_numbers_and_arrows(db: Session, world: Any, ew: Any) -> None:
    card = reads.scorecard(db, principal=_p(db, world, "lingdao"), unit_code="330522001001", period="2026-10")
    # 金陵社区: QUALITY 70, month index 2 → base 74
    assert card["unit"]["name"] == "金陵社区" and card["total"] == 74.0
    assert (card["rank"], card["peers"]) == (1, 2)
    assert [(d["name"], d["score"]) for d in card["dimensions"]] == [("经济", 69.0), ("效率", 74.0), ("效益", 79.0),
                                                                     ("公平", 84.0)]
    assert card["total_change"] == {"arrow": "↑", "delta": 2.0, "tone": "good"}
    rows = {r["code"]: r for r in card["indicators"]}
    # 受理用时 (lower is better) fell 9 → 8: ↓ and good news; 按期办结率 (higher) fell 89 → 88: ↓ and bad news
    assert rows["E2_ACCEPT_TIME"]["change"] == {"arrow": "↓", "delta": -1.0, "tone": "good"}
    assert rows["E2_ON_TIME"]["change"] == {"arrow": "↓", "delta": -1.0, "tone": "bad"}
    assert rows["E3_SATISFACTION"]["change"]["arrow"] == "→"
    assert rows["E1_PERSON_COMPLETE"]["change"]["tone"] == "good"  # 71 → 72, higher is better
    assert rows["E1_GOLDEN_FUSION"]["value_text"] == "无数据" and rows["E1_GOLDEN_FUSION"]["score"] is None
    assert rows["E2_ON_TIME"]["value_text"] == "88%" and rows["E2_ON_TIME"]["target_text"] == "95%"
    # rank of the indicator score among communities: 74 vs 画溪村 44
    assert (rows["E2_ON_TIME"]["rank"], rows["E2_ON_TIME"]["peers"]) == (1, 2)
    assert [g["name"] for g in card["groups"]] == ["经济", "效率", "效益", "公平"]
    assert [c["name"] for c in card["children"]] == ["金陵社区第1网格", "金陵社区第2网格"]
    assert [c["total"] for c in card["children"]] == [84.0, 64.0]
    assert [t["period"] for t in card["trend"]] == ["2026-08", "2026-09", "2026-10"]
    assert [t["total"] for t in card["trend"]] == [70.0, 72.0, 74.0]
    assert card["parent"]["name"] == "雉城街道"


def test_first_month_has_no_arrow(db: Session, world: Any, ew: Any) -> None:
    card = reads.scorecard(db, principal=_p(db, world, "lingdao"), unit_code="330522001001", period="2026-08")
    assert card["total_change"]["arrow"] == "" and card["previous_period"] is None


def test_default_unit_is_ones_own(db: Session, world: Any, ew: Any) -> None:
    card = reads.scorecard(db, principal=_p(db, world, "jiedao2"), unit_code=None, period=None)
    assert card["unit"]["name"] == "画溪街道" and card["run"]["period"] == "2026-10"
    assert card["parent"] is None  # the district lies outside a street's jurisdiction


def test_ranking_order(db: Session, world: Any, ew: Any) -> None:
    lead = _p(db, world, "lingdao")
    got = reads.ranking(db, principal=lead, period="2026-10", level="grid")
    assert [(r["name"], r["score"], r["rank"]) for r in got["rows"]] == [
        ("金陵社区第1网格", 84.0, 1), ("金陵社区第2网格", 64.0, 2), ("画溪村第1网格", 44.0, 3)]
    assert {f["properties"]["name"] for f in got["geojson"]["features"]} == {r["name"] for r in got["rows"]}
    # the legend: five equal bins from 44 to 84 (8 points each), worst red, best green
    assert [(b["lower"], b["upper"]) for b in got["legend"]] == [(44.0, 52.0), (52.0, 60.0), (60.0, 68.0),
                                                                 (68.0, 76.0), (76.0, 84.0)]
    colours = {f["properties"]["name"]: f["properties"]["colour"] for f in got["geojson"]["features"]}
    assert colours == {"金陵社区第1网格": "#1a7f37", "金陵社区第2网格": "#f6d55c", "画溪村第1网格": "#b3261e"}
    by_e4 = reads.ranking(db, principal=lead, period="2026-10", level="street", node="E4")
    assert [(r["name"], r["score"]) for r in by_e4["rows"]] == [("雉城街道", 84.0), ("画溪街道", 54.0)]
    under = reads.ranking(db, principal=lead, period="2026-10", level="grid", parent_code="330522002001")
    assert [r["name"] for r in under["rows"]] == ["画溪村第1网格"]
    with pytest.raises(ValidationFailed):
        reads.ranking(db, principal=lead, period="2026-10", level="grid", node="nope")


def test_ranking_restricted_to_subtree(db: Session, world: Any, ew: Any) -> None:
    got = reads.ranking(db, principal=_p(db, world, "shequ1"), period="2026-10", level="grid")
    assert [r["name"] for r in got["rows"]] == ["金陵社区第1网格", "金陵社区第2网格"]


def test_other_community_is_not_found(db: Session, world: Any, ew: Any) -> None:
    staff = _p(db, world, "shequ1")
    with pytest.raises(NotFound):
        reads.scorecard(db, principal=staff, unit_code="330522002001", period="2026-10")
    with pytest.raises(NotFound):
        reads.indicator_detail(db, principal=staff, unit_code="330522002001", period="2026-10",
                               indicator="E2_ON_TIME")
    with pytest.raises(NotFound):
        reads.ranking(db, principal=staff, period="2026-10", level="grid", parent_code="330522002001")
    with pytest.raises(Forbidden):
        reads.scorecard(db, principal=_p(db, world, "wangge_a"), unit_code=None, period="2026-10")


def test_indicator_detail(db: Session, world: Any, ew: Any) -> None:
    d = reads.indicator_detail(db, principal=_p(db, world, "shequ1"), unit_code="330522001001", period="2026-10",
                               indicator="E2_ON_TIME")
    assert d["indicator"]["name"] == "按期办结率" and "时限内" in d["indicator"]["definition"]
    assert "目标值 95%" in d["indicator"]["normalisation_text"]
    assert [(f["name"], f["value"]) for f in d["figures"]] == [("按期办结（件）", 44.0), ("已办结（件）", 50.0)]
    assert [(c["name"], c["value"]) for c in d["children"]] == [("金陵社区第1网格", 88.0), ("金陵社区第2网格", 88.0)]
    c1 = world.units["c1"]
    assert d["cases_url"] == f"/console/cases?unit_id={c1.id}&since=2026-10-01&until=2026-10-31"
    assert [t["value"] for t in d["trend"]] == [90.0, 89.0, 88.0]
    with pytest.raises(NotFound):
        reads.indicator_detail(db, principal=_p(db, world, "shequ1"), unit_code=None, period="2026-10",
                               indicator="NOPE")
    # a count of cases comes with its channels (the ones the engine stored)
    d = reads.indicator_detail(db, principal=_p(db, world, "shequ1"), unit_code=None, period="2026-10",
                               indicator="E2_REPORTS")
    assert [(f["name"], f["value"]) for f in d["figures"]] == [("本期上报事件（件）", 40.0),
                                                               ("实有人口（人）", 2000.0),
                                                               ("其中居民上报（件）", 12.0)]


def test_unknown_period_is_not_found(db: Session, world: Any, ew: Any) -> None:
    with pytest.raises(NotFound):
        reads.scorecard(db, principal=_p(db, world, "lingdao"), unit_code=None, period="2025-01")


def test_unit_choices_limited(db: Session, world: Any, ew: Any) -> None:
    names = [u["name"] for u in reads.unit_choices(db, principal=_p(db, world, "jiedao1"), period="2026-10")]
    assert names == ["雉城街道", "金陵社区"]


def test_every_metric_has_a_chinese_label() -> None:
    from zhili.evaluation import catalog, labels
    from zhili.evaluation.metrics import PLATFORM_METRICS

    fields = [f.code for d in catalog.DATASETS for f in d.fields]
    assert [m for m in (*PLATFORM_METRICS, *fields) if m not in labels.METRIC_LABELS] == []
    # an unknown one reads as part of its formula, never as the bare identifier
    assert labels.metric_label("mystery_count", "pct(mystery_count, population)") == \
        "计算公式“pct(mystery_count, population)”中的一项数据"
