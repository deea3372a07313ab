"""The equity measures of zhili.evaluation.equity against hand-worked figures (the arithmetic is in the tests)."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from zhili.evaluation.equity import decile_gap, gini, lagging_units, lorenz, theil, theil_decomposition

# -- Gini --------------------------------------------------------------------------------------------------------


def test_gini_of_equal_values_is_zero() -> None:
    assert gini([5, 5, 5, 5]) == 0.0
    assert gini([3.2] * 17, weights=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]) == 0.0


@pytest.mark.parametrize("n", [2, 3, 4, 5, 10, 1500])
def test_gini_when_one_unit_has_everything_is_n_minus_1_over_n(n: int) -> None:
    # x = (0, …, 0, T): Σ_i Σ_j |x_i − x_j| = 2 (n − 1) T, μ = T / n, so G = 2 (n − 1) T / (2 n² T / n) = (n − 1)/n
    assert gini([0.0] * (n - 1) + [7.0]) == pytest.approx((n - 1) / n, abs=1e-12)


def test_gini_by_hand() -> None:
    # x = (1, 2, 3, 4): unordered differences 1, 2, 3, 1, 2, 1 → Σ_i Σ_j |x_i − x_j| = 2 × 10 = 20; n = 4, μ = 2.5
    # G = 20 / (2 × 16 × 2.5) = 20 / 80 = 0.25
    assert gini([4, 1, 3, 2]) == pytest.approx(0.25, abs=1e-15)
    # x = (1, 1, 2): differences 0, 1, 1 → 4 ordered; μ = 4/3; G = 4 / (2 × 9 × 4/3) = 4 / 24 = 1/6
    assert gini([1, 1, 2]) == pytest.approx(1 / 6, abs=1e-15)


def test_weighted_gini_equals_gini_of_the_units_repeated_by_their_weight() -> None:
    # (1, 2, 3) weighted (2, 1, 3) is the population (1, 1, 2, 3, 3, 3)
    assert gini([1, 2, 3], weights=[2, 1, 3]) == pytest.approx(gini([1, 1, 2, 3, 3, 3]), abs=1e-14)
    rng = random.Random(19)
    for _ in range(20):
        values = [rng.choice([0.0, rng.uniform(0, 50)]) for _ in range(rng.randint(2, 30))]
        weights = [rng.randint(0, 6) for _ in values]
        if not any(v * w for v, w in zip(values, weights, strict=True)):
            continue
        repeated = [v for v, w in zip(values, weights, strict=True) for _ in range(w)]
        assert gini(values, weights) == pytest.approx(gini(repeated), abs=1e-12)
        assert theil(values, weights) == pytest.approx(theil(repeated), abs=1e-12)


def test_gini_is_undefined_without_units_or_with_a_zero_total_or_a_negative_value() -> None:
    assert gini([]) is None
    assert gini([0, 0, 0]) is None
    assert gini([1, -1, 3]) is None
    assert gini([1, 2], weights=[0, 0]) is None
    with pytest.raises(ValueError):
        gini([1, float("nan")])
    with pytest.raises(ValueError):
        gini([1, 2], weights=[1])


# -- Lorenz ------------------------------------------------------------------------------------------------------


def test_lorenz_runs_from_origin_to_one_one_through_the_sorted_shares() -> None:
    # sorted (1, 2, 3), total 6: after one unit (1/3, 1/6), two (2/3, 3/6), three (1, 1)
    assert lorenz([3, 1, 2]) == [(0.0, 0.0), (pytest.approx(1 / 3), pytest.approx(1 / 6)),
                                 (pytest.approx(2 / 3), pytest.approx(1 / 2)), (1.0, 1.0)]
    # weighted: (1, 3) with weights (3, 1): population shares 3/4, 1; value 3 of 6, then 6 of 6
    assert lorenz([3, 1], weights=[1, 3]) == [(0.0, 0.0), (0.75, 0.5), (1.0, 1.0)]
    assert lorenz([]) == []
    assert lorenz([0, 0]) == []


def test_gini_is_twice_the_area_between_the_lorenz_curve_and_the_diagonal() -> None:
    rng = random.Random(7)
    values = [rng.uniform(0, 10) for _ in range(40)]
    weights = [rng.randint(1, 9) for _ in values]
    for w in (None, weights):
        points = lorenz(values, w)
        assert points[0] == (0.0, 0.0) and points[-1] == (1.0, 1.0)
        assert all(b[0] >= a[0] and b[1] >= a[1] for a, b in itertools.pairwise(points))
        assert all(y <= x + 1e-12 for x, y in points)  # never above the line of equality
        area_under = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in itertools.pairwise(points))
        assert gini(values, w) == pytest.approx(1 - 2 * area_under, abs=1e-12)


# -- Theil -------------------------------------------------------------------------------------------------------


def test_theil_by_hand() -> None:
    # x = (1, 1, 2): μ = 4/3, x/μ = (0.75, 0.75, 1.5)
    # T = (1/3)(0.75 ln 0.75 + 0.75 ln 0.75 + 1.5 ln 1.5) = 0.5 (ln 0.75 + ln 1.5) = 0.5 ln 1.125 ≈ 0.0588915
    assert theil([1, 1, 2]) == pytest.approx(0.5 * math.log(1.125), abs=1e-15)
    assert theil([4, 4, 4]) == 0.0
    # one of n holds all: x/μ = n for that unit, zeros contribute 0 → T = (1/n) n ln n = ln n
    assert theil([0, 0, 0, 5]) == pytest.approx(math.log(4), abs=1e-15)
    assert theil([]) is None and theil([0, 0]) is None


def test_theil_decomposition_by_hand() -> None:
    # (1, 1 | 3, 3): equal inside each group, so within = 0 and everything is between.
    # μ = 2; value shares s_a = 2/8 = 0.25, s_b = 6/8 = 0.75; between = 0.25 ln(1/2) + 0.75 ln(3/2)
    d = theil_decomposition([1, 1, 3, 3], ["a", "a", "b", "b"])
    assert d is not None
    expected = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert d.within == pytest.approx(0.0, abs=1e-15)
    assert d.between == pytest.approx(expected, abs=1e-15)
    assert d.total == pytest.approx(expected, abs=1e-15)
    assert d.between_share == pytest.approx(1.0)
    a, b = d.groups
    assert (a.group, a.units, a.share, a.population_share, a.mean) == ("a", 2, 0.25, 0.5, 1.0)
    assert (b.group, b.units, b.share, b.population_share, b.mean) == ("b", 2, 0.75, 0.5, 3.0)


def test_theil_decomposition_sums_to_the_total() -> None:
    rng = random.Random(2026)
    for _ in range(50):
        n = rng.randint(2, 60)
        values = [rng.choice([0.0, rng.uniform(0, 100)]) for _ in range(n)]
        groups = [rng.choice("ABCDE") for _ in range(n)]
        weights = [rng.uniform(0, 500) for _ in range(n)]
        for w in (None, weights):
            d = theil_decomposition(values, groups, w)
            if d is None:
                assert theil(values, w) is None
                continue
            assert d.between + d.within == pytest.approx(d.total, abs=1e-12)
            assert d.total == pytest.approx(theil(values, w), abs=1e-15)
            assert d.within == pytest.approx(sum(g.contribution for g in d.groups), abs=1e-12)
            assert sum(g.share for g in d.groups) == pytest.approx(1.0)
            assert sum(g.population_share for g in d.groups) == pytest.approx(1.0)


def test_a_group_with_nothing_contributes_nothing() -> None:
    d = theil_decomposition([0, 0, 2, 4], ["z", "z", "p", "p"])
    assert d is not None
    z = d.groups[0]
    assert (z.share, z.theil, z.contribution, z.between) == (0.0, None, 0.0, 0.0)
    assert d.between + d.within == pytest.approx(d.total, abs=1e-12)


# -- decile gap ---------------------------------------------------------------------------------------------------


def test_decile_gap() -> None:
    values = list(range(1, 21))  # 1 … 20: median (10 + 11)/2 = 10.5; the worst tenth is ceil(20/10) = 2 units
    lower = decile_gap(values, "lower")  # lower is better: worst = 19, 20 → mean 19.5; ratio 19.5 / 10.5
    assert lower is not None
    assert (lower.worst_units, lower.worst_mean, lower.median) == (2, 19.5, 10.5)
    assert lower.ratio == pytest.approx(19.5 / 10.5)
    higher = decile_gap(values, "higher")  # higher is better: worst = 1, 2 → mean 1.5; ratio 10.5 / 1.5 = 7
    assert higher is not None
    assert (higher.worst_mean, higher.ratio, higher.difference) == (1.5, 7.0, 9.0)
    five = decile_gap([3, 9, 4, 5, 6], "lower")  # ceil(5/10) = 1: worst 9, median 5 → 1.8
    assert five is not None and five.worst_units == 1 and five.ratio == pytest.approx(1.8)
    assert decile_gap([4.0, 4.0, 4.0], "lower").ratio == 1.0  # type: ignore[union-attr]
    assert decile_gap([0, 0, 5], "higher").ratio is None  # type: ignore[union-attr]  # worst mean 0
    assert decile_gap([3.0], "lower") is None
    assert decile_gap([], "higher") is None
    with pytest.raises(ValueError):
        decile_gap([1, 2], "sideways")


# -- lagging units -------------------------------------------------------------------------------------------------

WEIGHTS = {"a": 0.5, "b": 0.3, "c": 0.2}


def _unit(code: str, a: float | None, b: float | None, c: float | None) -> dict[str, object]:
    scores = {"a": a, "b": b, "c": c}
    total = sum(WEIGHTS[k] * v for k, v in scores.items() if v is not None)
    return {"code": code, "name": f"网格{code}", "total": total, "scores": scores}


UNITS = [_unit("1", 90, 90, 90), _unit("2", 80, 80, 80), _unit("3", 70, 70, 70), _unit("4", 60, 60, 60),
         _unit("5", 20, 70, 60),  # total 0.5×20 + 0.3×70 + 0.2×60 = 10 + 21 + 12 = 43
         {"code": "6", "name": "网格6", "total": None, "scores": {"a": 0}}]  # no total: left out


def test_lagging_units_with_their_drivers() -> None:
    # totals 90, 80, 70, 60, 43 → median 70. Peer medians: a of (90, 80, 70, 60, 20) = 70; b of (90, 80, 70, 60,
    # 70) = 70; c of (90, 80, 70, 60, 60) = 70. share 0.2 of 5 = 1 unit: "5", gap 43 − 70 = −27.
    # Its drivers: a 0.5 × (70 − 20) = 25; b 0.3 × (70 − 70) = 0 (not a driver); c 0.2 × (70 − 60) = 2.
    [u] = lagging_units(UNITS, WEIGHTS, share=0.2)
    assert (u["code"], u["name"], u["total"], u["median_total"]) == ("5", "网格5", pytest.approx(43), 70)
    assert u["gap"] == pytest.approx(-27)
    assert [(d["indicator"], d["effect"]) for d in u["drivers"]] == [("a", pytest.approx(25)), ("c", pytest.approx(2))]
    assert u["drivers"][0] | {"effect": 0} == {"indicator": "a", "weight": 0.5, "score": 20.0, "peer_median": 70.0,
                                               "effect": 0}


def test_lagging_units_share_top_and_at_least_one() -> None:
    # share 0.4 of 5 = 2 units, lowest first: "5" then "4" (60: a 0.5×10 = 5, b 0.3×10 = 3, c 0.2×10 = 2 → top 2)
    five, four = lagging_units(UNITS, WEIGHTS, share=0.4, top=2)
    assert (five["code"], four["code"]) == ("5", "4")
    assert [d["indicator"] for d in four["drivers"]] == ["a", "b"]
    assert len(lagging_units(UNITS, WEIGHTS, share=0.01)) == 1  # at least one
    assert lagging_units([], WEIGHTS) == []
    # an indicator the unit has no score for is not a driver
    [u] = lagging_units([*UNITS[:4], _unit("5", None, 70, 60)], WEIGHTS, share=0.2)
    assert [d["indicator"] for d in u["drivers"]] == ["c"]
