"""Grid risk ranking (风险研判): the backtest is honest and the model at least matches the naive baselines on a
panel with persistent differences between grids; rankings are stored once per week, explained in Chinese, and
read only inside the reader's jurisdiction."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from geocases import case_rows, days_back, insert_cases

from zhili.core.errors import Forbidden, ValidationFailed
from zhili.intel.risk import backtest, next_monday, precision_at, rank_grids, risk_for, spearman
from zhili.intel.risk_eval import evaluate
from zhili.intel.risk_features import build_panel, features_at


def _panel_frame(rng: np.random.Generator, grids: list[str], rates: np.ndarray, weeks: int, start: str
                 ) -> pd.DataFrame:
    day_list, grid_list = [], []
    monday = np.datetime64(start)
    for g, lam in zip(grids, rates, strict=True):
        for w in range(weeks):
            k = rng.poisson(lam)
            day_list.append(monday + 7 * w + rng.integers(0, 7, k))
            grid_list += [g] * k
    days = np.concatenate(day_list).astype("datetime64[D]")
    return pd.DataFrame({"reported_day": days, "grid_id": pd.Categorical(grid_list),
                         "category_code": pd.Categorical(["SG-0101"] * len(days)),
                         "overdue": rng.random(len(days)) < 0.1})


def test_precision_at_ten_percent_counts_ties_at_their_expected_value() -> None:
    actual = np.array([9, 8, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], dtype=float)  # top 2: 9, 8
    assert precision_at(actual, actual) == 1.0
    assert precision_at(actual[::-1], actual) == 0.0
    flat = np.ones(20)  # a predictor that cannot tell the grids apart: 2 of 20 by chance
    assert precision_at(flat, actual) == pytest.approx(0.1)
    assert spearman(flat, actual) == 0.0


def test_features_read_only_the_weeks_before_the_target() -> None:
    grids = ["00000000-0000-0000-0000-000000000001"]
    days = np.array(["2026-01-05", "2026-01-12", "2026-01-12", "2026-01-19"], dtype="datetime64[D]")
    frame = pd.DataFrame({"reported_day": days, "grid_id": pd.Categorical(grids * 4),
                          "category_code": pd.Categorical(["SG-0101"] * 4), "overdue": np.zeros(4, bool)})
    panel = build_panel(frame, grids, until=dt.date(2026, 1, 25))
    assert panel.counts.tolist() == [[1, 2, 1]] and panel.last_fraction == 1.0
    x = features_at(panel, 2)  # target: the week of 19 January
    assert x["last_1w"].iloc[0] == 2 and x["mean_2w"].iloc[0] == 1.5
    partial = build_panel(frame, grids, until=dt.date(2026, 1, 20))  # Tuesday: two days of the last week seen
    assert partial.last_fraction == pytest.approx(2 / 7)
    assert features_at(partial, partial.weeks)["last_1w"].iloc[0] == pytest.approx(3.5)  # scaled to a week


def test_backtest_beats_or_matches_the_naive_baselines_on_persistent_differences() -> None:
    rng = np.random.default_rng(7)
    n = 120
    grids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(n)]
    rates = rng.gamma(1.2, 2.5, n)  # each grid keeps its own weekly rate
    frame = _panel_frame(rng, grids, rates, weeks=44, start="2025-06-02")
    static = pd.DataFrame({"population": rates * 800 * rng.lognormal(0, 0.4, n)}, index=grids)
    bt = backtest(frame, static, weeks=8)
    assert bt["weeks"] == 8 and bt["grids"] == n and len(bt["per_week"]) == 8
    model, last, mean4 = bt["model"], bt["last_week"], bt["mean_4w"]
    assert model["spearman"] > last["spearman"] and model["spearman"] >= mean4["spearman"] - 0.01
    assert model["p_at_10"] >= last["p_at_10"] and model["p_at_10"] >= mean4["p_at_10"] - 0.05
    assert model["spearman"] > 0.6  # a real signal, not only "no worse than naive"


def test_a_backtest_without_enough_history_is_refused_in_chinese() -> None:
    rng = np.random.default_rng(1)
    grids = ["00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"]
    frame = _panel_frame(rng, grids, np.array([3.0, 5.0]), weeks=6, start="2026-01-05")
    with pytest.raises(ValidationFailed) as refused:
        backtest(frame, pd.DataFrame(index=grids), weeks=8)
    assert refused.value.code == "risk_no_history" and "历史数据不足" in refused.value.message


# -- in the database ---------------------------------------------------------------------------------------------

def _principal(db, world, who):
    from zhili.users.service import principal_for_user

    return principal_for_user(db, user=world.users[who])


@pytest.fixture
def history(db, world):
    """20 weeks of cases: grid ga busy (3 a day), gb quiet (1 every other day), gc in between (2 a day, many
    overdue and many of category SG-01)."""
    from zhili.core.clock import today

    end = today() - dt.timedelta(days=1)
    rng = np.random.default_rng(9)
    days = days_back(end, 140)
    u = world.units
    rows = case_rows(u["ga"], n=3, days=days, lon=119.1, lat=31.1, category="SJ-0101", rng=rng)
    rows += case_rows(u["gb"], n=1, days=days[::2], lon=119.3, lat=31.1, category="SJ-0101", rng=rng)
    rows += case_rows(u["gc"], n=1, days=days, lon=119.6, lat=31.1, category="SG-0101", overdue=True, rng=rng)
    rows += case_rows(u["gc"], n=1, days=days, lon=119.6, lat=31.1, category="SJ-0101", rng=rng)
    insert_cases(db, rows)
    return world


def test_ranking_is_stored_once_per_week_and_explained_in_chinese(db, history) -> None:
    from sqlalchemy import func, select

    from zhili.core.clock import today
    from zhili.intel.models import RiskScore

    world = history
    zhihui = _principal(db, world, "zhihui")
    rows = rank_grids(db, principal=zhihui)
    week = next_monday(today())
    assert [r.rank for r in rows] == [1, 2, 3] and all(r.week_start == week for r in rows)
    assert [r.grid_id for r in rows] == [world.units[g].id for g in ("ga", "gc", "gb")]
    assert rows[0].score == pytest.approx(21, rel=0.25)  # about 3 a day
    rank_grids(db, principal=zhihui)  # again: replaces, does not add
    assert db.scalar(select(func.count()).select_from(RiskScore).where(RiskScore.week_start == week)) == 3
    listing = risk_for(db, principal=zhihui)
    assert [r["grid_name"] for r in listing] == ["金陵社区第1网格", "画溪村第1网格", "金陵社区第2网格"]
    assert listing[0]["community"] == "金陵社区" and listing[0]["week_start"] == week.isoformat()
    names = {d["name"] for r in listing for d in r["drivers"]}
    assert names and all(any("\u4e00" <= ch <= "\u9fff" for ch in n) for n in names)  # readable Chinese names
    assert all(d["factor"] > 1 for r in listing for d in r["drivers"])


def test_a_community_reads_only_its_own_grids(db, history) -> None:
    world = history
    rank_grids(db, principal=_principal(db, world, "zhihui"))
    mine = risk_for(db, principal=_principal(db, world, "shequ1"))
    assert [r["grid_name"] for r in mine] == ["金陵社区第1网格", "金陵社区第2网格"]
    assert [r["rank"] for r in mine] == [1, 3] and [r["local_rank"] for r in mine] == [1, 2]  # district rank kept
    assert risk_for(db, principal=_principal(db, world, "jiedao2"))[0]["grid_name"] == "画溪村第1网格"


def test_only_intel_admins_compute_and_a_monday_is_required(db, history) -> None:
    with pytest.raises(Forbidden):
        rank_grids(db, principal=_principal(db, history, "shequ1"))  # reads, but may not compute
    with pytest.raises(Forbidden):
        risk_for(db, principal=_principal(db, history, "wangge_a"))
    with pytest.raises(ValidationFailed):
        rank_grids(db, principal=_principal(db, history, "zhihui"), week_start=dt.date(2026, 3, 4))


def test_evaluation_rows_compare_with_the_baselines(db, history) -> None:
    rows = evaluate(db, principal=_principal(db, history, "zhihui"))
    risk = [r for r in rows if r["model"] == "risk"]
    assert {(r["metric"], r["baseline_name"]) for r in risk} == {
        ("p_at_10", "last_week"), ("p_at_10", "mean_4w"), ("spearman", "last_week"), ("spearman", "mean_4w")}
    assert all(r["n"] == 8 and r["value"] is not None for r in risk)
    hot = [r for r in rows if r["model"] == "hotspots"]
    assert {r["baseline_name"] for r in hot} == {"area_share", "top_count_cells"}
    assert all(set(r) == {"model", "metric", "value", "baseline_name", "baseline_value", "n", "note"} for r in rows)


def test_a_cold_start_ranks_by_the_recent_mean_and_evaluation_says_why_it_cannot_score(db, world) -> None:
    from zhili.core.clock import today

    rows = case_rows(world.units["gb"], n=2, days=days_back(today() - dt.timedelta(days=1), 10), lon=119.3,
                     lat=31.1)
    insert_cases(db, rows)
    zhihui = _principal(db, world, "zhihui")
    ranked = rank_grids(db, principal=zhihui)
    assert ranked[0].grid_id == world.units["gb"].id and ranked[0].method.startswith("naive:")
    assert all(r.drivers["items"] == [] for r in ranked)
    risk = [r for r in evaluate(db, principal=zhihui) if r["model"] == "risk"]
    assert risk[0]["value"] is None and "历史数据不足" in risk[0]["note"]
