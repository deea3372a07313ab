"""The equity report of a scored period (zhili.evaluation.analysis): read from the current run's grid rows inside
the caller's jurisdiction, with the figures worked out by hand below."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

import pytest
from sqlalchemy.orm import Session

from zhili.core.errors import Forbidden, NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal
from zhili.evaluation.analysis import equity_report, indicator_entry
from zhili.evaluation.models import Result, Run

PERIOD = "2026-10"
FRAMEWORK = {
    "indicators": {
        "resp_h": {"name": "平均响应时长", "direction": "lower", "unit": "小时"},
        "sat": {"name": "群众满意度", "direction": "higher", "unit": "分"},
    },
    "effective_weights": {"resp_h": 0.6, "sat": 0.4},
}


def principal(db: Session, world: Any, who: str) -> Principal:
    from zhili.users.service import principal_for_user

    return principal_for_user(db, user=world.users[who])


def add_run(db: Session, world: Any, grids: list[tuple[str, str, str, int, float | None, dict[str, float]]],
            *, current: bool = True, period: str = PERIOD) -> Run:
    """A run of ``period`` over the world's district with rows for its district, streets and communities and one
    grid row per ``(community key, code, name, population, resp_h value, scores)``."""
    run = Run(period=period, period_kind="month", start_day=dt.date(2026, 10, 1), end_day=dt.date(2026, 10, 31),
              root_path=world.units["district"].path, inputs_hash="0" * 64, framework=FRAMEWORK, is_current=current,
              computed_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    db.add(run)
    db.flush()
    for key in ("district", "s1", "s2", "c1", "c2"):
        u = world.units[key]
        db.add(Result(run_id=run.id, unit_id=u.id, unit_code=u.code, unit_name=u.name, level=u.level.value,
                      path=u.path, parent_path=u.path.rsplit("/", 1)[0] if "/" in u.path else None))
    for key, code, name, population, value, scores in grids:
        c = world.units[key]
        total = sum(FRAMEWORK["effective_weights"][k] * v for k, v in scores.items())  # type: ignore[index]
        db.add(Result(run_id=run.id, unit_id=uuid.uuid4(), unit_code=code, unit_name=name, level="grid",
                      path=f"{c.path}/{code}", parent_path=c.path, population=population,
                      values={"resp_h": value, "sat": scores.get("sat")}, scores=scores, total=total))
    db.flush()
    return run


# response hours 2, 4 (金陵社区), 6, 8 (画溪村) and one grid without data; equal populations
GRIDS = [
    ("c1", "330522001001001", "金陵社区第1网格", 100, 2.0, {"resp_h": 90.0, "sat": 80.0}),
    ("c1", "330522001001002", "金陵社区第2网格", 100, 4.0, {"resp_h": 80.0, "sat": 80.0}),
    ("c1", "330522001001003", "金陵社区第3网格", 100, None, {"resp_h": 70.0, "sat": 70.0}),
    ("c2", "330522002001001", "画溪村第1网格", 100, 6.0, {"resp_h": 60.0, "sat": 70.0}),
    ("c2", "330522002001002", "画溪村第2网格", 100, 8.0, {"resp_h": 20.0, "sat": 60.0}),
]


def test_the_district_report_by_hand(db: Session, world: Any) -> None:
    add_run(db, world, GRIDS)
    report = equity_report(db, principal(db, world, "lingdao"), period=PERIOD, indicator="resp_h")
    assert report["unit"] == {"code": "330522", "name": "长兴县", "level": "district"}
    assert report["indicator"] == {"code": "resp_h", "name": "平均响应时长", "unit": "小时", "direction": "lower"}
    assert (report["grids"], report["with_data"], report["no_data"]) == (5, 4, 1)
    assert report["no_data_units"] == ["金陵社区第3网格"]
    assert report["weighting"] == "population"
    # x = (2, 4, 6, 8), equal weights: differences 2, 4, 6, 2, 4, 2 → Σ_i Σ_j = 40; μ = 5;
    # G = 40 / (2 × 4² × 5) = 0.25
    assert report["gini"] == pytest.approx(0.25, abs=1e-12)
    # x/μ = (0.4, 0.8, 1.2, 1.6): T = ¼ (0.4 ln 0.4 + 0.8 ln 0.8 + 1.2 ln 1.2 + 1.6 ln 1.6)
    t = sum(r * math.log(r) for r in (0.4, 0.8, 1.2, 1.6)) / 4
    assert report["theil"] == pytest.approx(t, abs=1e-12)
    # by community: 金陵社区 (2, 4) mean 3, value share 6/20 = 0.3; 画溪村 (6, 8) mean 7, share 14/20 = 0.7
    # between = 0.3 ln(3/5) + 0.7 ln(7/5); within = the rest
    d = report["decomposition"]
    between = 0.3 * math.log(3 / 5) + 0.7 * math.log(7 / 5)
    assert d["between"] == pytest.approx(between, abs=1e-12)
    assert d["between"] + d["within"] == pytest.approx(d["total"], abs=1e-12)
    groups = {g["name"]: g for g in d["groups"]}
    assert set(groups) == {"金陵社区", "画溪村"}
    assert (groups["金陵社区"]["mean"], groups["金陵社区"]["share"], groups["金陵社区"]["grids"]) == \
        (pytest.approx(3), pytest.approx(0.3), 2)
    assert groups["画溪村"]["theil"] == pytest.approx((6 / 7 * math.log(6 / 7) + 8 / 7 * math.log(8 / 7)) / 2)
    # lower is better: the worst ceil(4/10) = 1 grid is 8 hours; median (4 + 6)/2 = 5 → ratio 1.6
    assert report["decile_gap"]["worst_mean"] == 8.0 and report["decile_gap"]["median"] == 5.0
    assert report["decile_gap"]["ratio"] == pytest.approx(1.6)
    # the Lorenz curve over the four grids
    assert report["lorenz"] == [[0.0, 0.0], [0.25, pytest.approx(0.1)], [0.5, pytest.approx(0.3)],
                                [0.75, pytest.approx(0.6)], [1.0, 1.0]]
    assert [g["name"] for g in report["grid_values"]] == ["金陵社区第1网格", "金陵社区第2网格", "画溪村第1网格",
                                                          "画溪村第2网格"]
    assert report["grid_values"][2]["community"] == "画溪村"


def test_lagging_grids_and_their_drivers(db: Session, world: Any) -> None:
    add_run(db, world, GRIDS)
    report = equity_report(db, principal(db, world, "admin"), period=PERIOD, indicator="resp_h")
    # totals 0.6 resp + 0.4 sat: 86, 80, 70, 64, 36 → median 70; the bottom tenth of 5 is one grid: 画溪村第2网格
    # peer medians: resp_h of (90, 80, 70, 60, 20) = 70, sat of (80, 80, 70, 70, 60) = 70
    # drivers: resp_h 0.6 × (70 − 20) = 30, sat 0.4 × (70 − 60) = 4
    [lag] = report["lagging"]
    assert (lag["name"], lag["total"], lag["gap"]) == ("画溪村第2网格", pytest.approx(36), pytest.approx(-34))
    assert [(d["name"], d["effect"]) for d in lag["drivers"]] == [("平均响应时长", pytest.approx(30)),
                                                                  ("群众满意度", pytest.approx(4))]


def test_population_weighting_and_grid_weighting(db: Session, world: Any) -> None:
    # (2, 8) with populations (300, 100) is the population (2, 2, 2, 8): differences 6 three times → Σ_i Σ_j = 36,
    # μ = 14/4 = 3.5; G = 36 / (2 × 16 × 3.5) = 36 / 112 = 0.3214…; by grid (2, 8): 12 / (2 × 4 × 5) = 0.3
    add_run(db, world, [("c1", "g1", "金陵社区第1网格", 300, 2.0, {"resp_h": 80.0, "sat": 80.0}),
                        ("c2", "g2", "画溪村第1网格", 100, 8.0, {"resp_h": 60.0, "sat": 60.0})])
    who = principal(db, world, "zhihui")
    assert equity_report(db, who, period=PERIOD, indicator="resp_h")["gini"] == pytest.approx(36 / 112)
    by_grid = equity_report(db, who, period=PERIOD, indicator="resp_h", weighting="grid")
    assert (by_grid["weighting"], by_grid["gini"]) == ("grid", pytest.approx(0.3))
    with pytest.raises(ValidationFailed):
        equity_report(db, who, period=PERIOD, indicator="resp_h", weighting="area")


def test_grids_without_residents_fall_back_to_counting_grids(db: Session, world: Any) -> None:
    add_run(db, world, [("c1", "g1", "金陵社区第1网格", 0, 2.0, {"sat": 80.0}),
                        ("c2", "g2", "画溪村第1网格", 0, 8.0, {"sat": 60.0})])
    report = equity_report(db, principal(db, world, "admin"), period=PERIOD, indicator="resp_h")
    assert (report["weighting"], report["gini"]) == ("grid", pytest.approx(0.3))


def test_a_unit_and_the_jurisdiction_narrow_the_grids(db: Session, world: Any) -> None:
    add_run(db, world, GRIDS)
    c1 = world.units["c1"]
    mine = equity_report(db, principal(db, world, "lingdao"), period=PERIOD, indicator="resp_h", unit_code=c1.code)
    assert mine["unit"]["name"] == "金陵社区"
    assert (mine["grids"], mine["with_data"], mine["no_data"]) == (3, 2, 1)
    # community staff of 金陵社区 see their own grids by default, and not 画溪村
    staff = principal(db, world, "shequ1")
    own = equity_report(db, staff, period=PERIOD, indicator="resp_h")
    assert own["unit"]["name"] == "金陵社区" and own["grids"] == 3
    assert {g["community"] for g in own["grid_values"]} == {"金陵社区"}
    with pytest.raises(NotFound):
        equity_report(db, staff, period=PERIOD, indicator="resp_h", unit_code=world.units["c2"].code)
    with pytest.raises(NotFound):
        equity_report(db, staff, period=PERIOD, indicator="resp_h", unit_code="no-such-unit")
    # street staff of 画溪街道 see 画溪村's two grids (6 and 8 hours: G = 2 × 2 / (2 × 4 × 7) = 1/14)
    street = equity_report(db, principal(db, world, "jiedao2"), period=PERIOD, indicator="resp_h")
    assert street["grids"] == 2 and street["gini"] == pytest.approx(1 / 14)


def test_the_current_run_is_read(db: Session, world: Any) -> None:
    add_run(db, world, [("c1", "g1", "金陵社区第1网格", 100, 5.0, {"sat": 80.0}),
                        ("c2", "g2", "画溪村第1网格", 100, 5.0, {"sat": 60.0})], current=False)
    add_run(db, world, GRIDS)
    report = equity_report(db, principal(db, world, "admin"), period=PERIOD, indicator="resp_h")
    assert report["grids"] == 5 and report["gini"] == pytest.approx(0.25)


def test_unknown_period_or_indicator_and_no_permission(db: Session, world: Any) -> None:
    add_run(db, world, GRIDS)
    admin = principal(db, world, "admin")
    with pytest.raises(NotFound) as unknown_period:
        equity_report(db, admin, period="2026-09", indicator="resp_h")
    assert unknown_period.value.code == "eval_period_not_found" and "尚无评估结果" in unknown_period.value.message
    with pytest.raises(NotFound) as unknown_indicator:
        equity_report(db, admin, period=PERIOD, indicator="nope")
    assert unknown_indicator.value.code == "eval_indicator_not_found" and "指标" in unknown_indicator.value.message
    with pytest.raises(Forbidden):
        equity_report(db, principal(db, world, "wangge_a"), period=PERIOD, indicator="resp_h")


def test_an_indicator_nobody_has_data_for(db: Session, world: Any) -> None:
    add_run(db, world, [("c1", "g1", "金陵社区第1网格", 100, None, {"sat": 80.0})])
    report = equity_report(db, principal(db, world, "admin"), period=PERIOD, indicator="resp_h")
    assert (report["with_data"], report["no_data"]) == (0, 1)
    assert report["gini"] is None and report["theil"] is None and report["lorenz"] == []
    assert report["decomposition"] is None and report["decile_gap"] is None


def test_indicator_entries_as_a_list() -> None:
    framework = {"indicators": [{"code": "a", "name": "甲"}, {"code": "b", "name": "乙"}]}
    assert indicator_entry(framework, "b") == {"code": "b", "name": "乙"}
    assert indicator_entry(framework, "c") is None
    assert indicator_entry({}, "a") is None
