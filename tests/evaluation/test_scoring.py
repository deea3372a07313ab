"""The scoring engine's pure functions (zhili.evaluation.scoring): normalisation, weighting with missing
indicators, effective weights, the population-weighted roll-up, competition ranks and the inputs' hash — each
against numbers worked out by hand."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from zhili.evaluation import catalog, scoring
from zhili.evaluation.metrics import UnitNode


def ind(code: str, sub: str = "E1.1", *, direction: str = "higher", scope: str = "grid",
        normalisation: str = "minmax", target: float | None = None, threshold: float | None = None,
        formula: str | None = None) -> scoring.IndicatorDef:
    return scoring.IndicatorDef(
        code=code, name=code, dimension=catalog.SUB_DIMENSIONS[sub][0], sub_dimension=sub, unit="",
        direction=direction, formula=formula or code.lower(), scope=scope, normalisation=normalisation,
        target=target, threshold=threshold, source="", definition="")


def shipped() -> list[scoring.IndicatorDef]:
    return [ind(s.code, s.sub_dimension, direction=s.direction, scope=s.scope, normalisation=s.normalisation,
                target=s.target, threshold=s.threshold, formula=s.formula) for s in catalog.INDICATORS]


# -- normalisation ---------------------------------------------------------------------------------------------------

def test_minmax_both_directions() -> None:
    peers = [10.0, 20.0, 30.0]
    assert scoring.normalise(ind("X"), 25, peers) == pytest.approx(100 * (25 - 10) / (30 - 10))  # 75
    assert scoring.normalise(ind("X", direction="lower"), 25, peers) == pytest.approx(100 * (30 - 25) / (30 - 10))
    assert scoring.normalise(ind("X"), 10, peers) == 0.0
    assert scoring.normalise(ind("X", direction="lower"), 10, peers) == 100.0
    assert scoring.normalise(ind("X"), None, peers) is None


def test_minmax_all_equal_scores_100() -> None:
    assert scoring.normalise(ind("X"), 7, [7.0, 7.0, 7.0]) == 100.0
    assert scoring.normalise(ind("X", direction="lower"), 7, [7.0]) == 100.0


def test_target_normalisation_clamps_both_directions() -> None:
    up = ind("X", normalisation="target", target=95, threshold=70)  # higher is better: 70 → 0, 95 → 100
    assert scoring.normalise(up, 82.5, []) == pytest.approx(100 * (82.5 - 70) / (95 - 70))  # 50
    assert scoring.normalise(up, 99, []) == 100.0  # above the target: clamped
    assert scoring.normalise(up, 60, []) == 0.0  # below the threshold: clamped
    down = ind("X", direction="lower", normalisation="target", target=0.5, threshold=4)  # 4 h → 0, 0.5 h → 100
    assert scoring.normalise(down, 2.25, []) == pytest.approx(100 * (2.25 - 4) / (0.5 - 4))  # 50
    assert scoring.normalise(down, 0.2, []) == 100.0
    assert scoring.normalise(down, 6, []) == 0.0
    assert scoring.normalise(ind("X", normalisation="target", target=None, threshold=1), 5, []) is None


# -- weights ----------------------------------------------------------------------------------------------------------

def test_aggregate_shares_a_missing_indicators_weight_among_the_rest() -> None:
    defs = shipped()
    w = scoring.sibling_weights(defs, {**catalog.default_weights(), "E1_PERSON_COMPLETE": 3.0})
    scores: dict[str, float | None] = {"E1_PERSON_COMPLETE": 80.0, "E1_IOT_DENSITY": None,
                                       "E1_ACTIVE_DISCOVERY": 50.0, "E1_DATA_FRESH": 40.0}
    scoring.aggregate(defs, w, scores)
    # E1.1: weights 3 (80), 1 (missing), 1 (50) → (3·80 + 1·50)/(3 + 1), not (3·80 + 0 + 50)/5
    assert scores["E1.1"] == pytest.approx((3 * 80 + 1 * 50) / (3 + 1))  # 72.5
    # E1.2 has only E1_DATA_FRESH scored
    assert scores["E1.2"] == pytest.approx(40)
    # E1 over the sub-dimensions that have a score: E1.1 (0.3) and E1.2 (0.3); E1.3, E1.4 have none
    assert scores["E1"] == pytest.approx((0.3 * 72.5 + 0.3 * 40) / (0.3 + 0.3))
    assert scores["E2"] is None
    assert scores["total"] == pytest.approx(scores["E1"])  # the only dimension with a score


def test_effective_weights_sum_to_one() -> None:
    defs = shipped()
    eff = scoring.effective_weights(defs, catalog.default_weights())
    assert set(eff) == {d.code for d in defs}
    assert math.fsum(eff.values()) == pytest.approx(1, abs=1e-5)
    # E2_ON_TIME: E2 0.3 of 1.0 × E2.2 0.6 of (0.4 + 0.6) × 1.5 of the E2.2 indicators' 1 + 1 + 1.5 + 1.5 + 0.5·3
    assert eff["E2_ON_TIME"] == pytest.approx(0.3 / 1.0 * 0.6 / 1.0 * 1.5 / 6.5, abs=1e-6)
    # unequal custom weights still sum to 1
    odd = {"E1": 5, "E2": 1, "E3": 0, "E4": 2, "E2.2": 7, "E1_IOT_DENSITY": 9}
    assert math.fsum(scoring.effective_weights(defs, odd).values()) == pytest.approx(1, abs=1e-5)


# -- roll-up and ranks -----------------------------------------------------------------------------------------

def tree() -> dict[str, UnitNode]:
    """D → S → C1 (g1, g2), C2 (g3)."""
    units = {
        "D": UnitNode(1, "D", "D", "district", "D", None, 0),
        "D/S": UnitNode(2, "S", "S", "street", "D/S", "D", 1),
        "D/S/C1": UnitNode(3, "C1", "C1", "community", "D/S/C1", "D/S", 2),
        "D/S/C2": UnitNode(4, "C2", "C2", "community", "D/S/C2", "D/S", 2),
        "D/S/C1/g1": UnitNode(5, "g1", "g1", "grid", "D/S/C1/g1", "D/S/C1", 3),
        "D/S/C1/g2": UnitNode(6, "g2", "g2", "grid", "D/S/C1/g2", "D/S/C1", 3),
        "D/S/C2/g3": UnitNode(7, "g3", "g3", "grid", "D/S/C2/g3", "D/S/C2", 3),
    }
    for u in units.values():
        if u.parent_path:
            units[u.parent_path].children.append(u.path)
    return units


DEFS = [ind("X", "E1.1"), ind("Y", "E2.2", direction="lower"),
        ind("Z", "E3.1", scope="community", normalisation="target", target=100, threshold=50)]
VALUES: dict[str, dict[str, float | None]] = {
    "D/S/C1/g1": {"X": 10, "Y": 1}, "D/S/C1/g2": {"X": 20, "Y": 3}, "D/S/C2/g3": {"X": 30, "Y": 2},
    "D/S/C1": {"Z": 90}, "D/S/C2": {"Z": 75},
}
POPULATION = {"D/S/C1/g1": 100.0, "D/S/C1/g2": 300.0, "D/S/C2/g3": 600.0}


def test_roll_up_matches_a_hand_computation() -> None:
    s = scoring.score_units(DEFS, {}, tree(), VALUES, POPULATION).scores
    # grid scores. X (higher, min–max over 10..30): g1 0, g2 50, g3 100. Y (lower, over 1..3): g1 100, g2 0,
    # g3 50. Z (community scope, target 100 / threshold 50): C1 (90−50)/50 = 80 → g1, g2; C2 (75−50)/50 = 50 → g3
    grid = {"g1": (0, 100, 80), "g2": (50, 0, 80), "g3": (100, 50, 50)}
    for g, (x, y, z) in grid.items():
        path = next(p for p in s if p.endswith("/" + g))
        assert (s[path]["X"], s[path]["Y"], s[path]["Z"]) == (x, y, z)
        # all weights 1: each dimension has one indicator; the total is the mean of E1, E2, E3 (E4 has none)
        assert s[path]["total"] == pytest.approx((x + y + z) / 3, abs=0.005)
    t1, t2, t3 = (0 + 100 + 80) / 3, (50 + 0 + 80) / 3, (100 + 50 + 50) / 3  # 60, 43.33, 66.67
    # a community: the population-weighted mean of its grids (g1 100 residents, g2 300)
    assert s["D/S/C1"]["total"] == pytest.approx((t1 * 100 + t2 * 300) / (100 + 300), abs=0.01)  # 47.5
    assert s["D/S/C1"]["X"] == pytest.approx((0 * 100 + 50 * 300) / 400)  # 37.5
    assert s["D/S/C2"]["total"] == pytest.approx(t3, abs=0.01)
    # the district (and its one street): over all grids, not over the communities' means
    hand = (t1 * 100 + t2 * 300 + t3 * 600) / (100 + 300 + 600)  # 59.0
    assert s["D"]["total"] == pytest.approx(hand, abs=0.01)
    assert s["D/S"]["total"] == pytest.approx(hand, abs=0.01)
    assert s["D"]["E1"] == pytest.approx((0 * 100 + 50 * 300 + 100 * 600) / 1000)  # 75


def test_roll_up_without_residents_is_the_plain_mean() -> None:
    s = scoring.score_units(DEFS, {}, tree(), VALUES, {}).scores
    assert s["D/S/C1"]["X"] == pytest.approx((0 + 50) / 2)
    assert s["D"]["X"] == pytest.approx((0 + 50 + 100) / 3)


def test_ranks() -> None:
    scored = scoring.score_units(DEFS, {}, tree(), VALUES, POPULATION)
    # grids: g3 66.67, g1 60, g2 43.33; communities: C2 66.67, C1 47.5
    assert scored.rank["D/S/C2/g3"] == 1 and scored.rank["D/S/C1/g1"] == 2 and scored.rank["D/S/C1/g2"] == 3
    assert scored.peers["D/S/C1/g1"] == 3
    assert scored.rank["D/S/C2"] == 1 and scored.rank["D/S/C1"] == 2
    assert scored.rank_siblings["D/S/C1/g1"] == 1 and scored.rank_siblings["D/S/C1/g2"] == 2
    assert scored.rank_siblings["D/S/C2/g3"] == 1


def test_competition_ranks_with_ties() -> None:
    got = scoring.competition_ranks({"a": 90.0, "b": 80.0, "c": 80.0, "d": 70.0, "e": None, "f": 80.0})
    assert got == {"a": 1, "b": 2, "c": 2, "f": 2, "d": 5, "e": None}
    assert scoring.competition_ranks({}) == {}


# -- the inputs' hash -----------------------------------------------------------------------------------------

def test_inputs_hash_is_stable_and_sensitive() -> None:
    units = tree()
    metrics_a: dict[str, dict[str, Any]] = {"D/S/C1/g1": {"cases": 3.0, "population": 100.0},
                                            "D/S/C1/g2": {"population": 300.0, "cases": None}}
    metrics_b: dict[str, dict[str, Any]] = {"D/S/C1/g2": {"cases": None, "population": 300.0},
                 "D/S/C1/g1": {"population": 100.0, "cases": 3.0}}
    weights_a = {"E1": 0.2, "E2": 0.3}
    weights_b = {"E2": 0.3, "E1": 0.2}
    units_b = dict(reversed(list(units.items())))
    h = scoring.inputs_hash(metrics_a, DEFS, weights_a, units)
    assert h == scoring.inputs_hash(metrics_b, list(reversed(DEFS)), weights_b, units_b)
    changed = {**metrics_a, "D/S/C1/g1": {"cases": 4.0, "population": 100.0}}
    assert scoring.inputs_hash(changed, DEFS, weights_a, units) != h
    assert scoring.inputs_hash(metrics_a, DEFS, {**weights_a, "E1": 0.25}, units) != h
    other_def = [dataclasses.replace(DEFS[0], target=1.0), *DEFS[1:]]
    assert scoring.inputs_hash(metrics_a, other_def, weights_a, units) != h


def test_indicator_values_missing_figures_are_none_and_grids_carry_community_scope() -> None:
    defs = [ind("A", formula="pct(a, b)"), ind("B", scope="community", formula="per1000(x, population)")]
    figures: dict[str, dict[str, float | None]] = {
        "D/S/C1": {"a": 1, "b": 4, "x": 3, "population": 6},
        "D/S/C1/g1": {"a": 1, "b": 0, "x": 3, "population": 2},
        "D/S/C1/g2": {"a": None, "b": 2, "x": 3, "population": 4},
    }
    got = scoring.indicator_values(defs, figures, tree()).by_unit
    assert got["D/S/C1"] == {"A": 25.0, "B": 500.0}  # 100·1/4; 1000·3/6
    assert got["D/S/C1/g1"] == {"A": None, "B": 500.0}  # no denominator → no data; the community's B
    assert got["D/S/C1/g2"] == {"A": None, "B": 500.0}
