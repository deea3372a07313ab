"""AHP weights and consistency (zhili.evaluation.ahp) against a published example and hand-worked cases."""

from __future__ import annotations

import math

import pytest

from zhili.evaluation.ahp import (
    RANDOM_INDEX,
    AhpInconsistent,
    AhpMatrixInvalid,
    AhpPairsInvalid,
    ahp_weights,
    matrix_from_pairs,
)

# T. L. Saaty, "How to make a decision: The Analytic Hierarchy Process", European Journal of Operational Research
# 48 (1990) 9–26, the house-buying example: a family compares eight criteria — (1) size of house, (2) transportation
# (location to bus), (3) neighbourhood, (4) age of house, (5) yard space, (6) modern facilities, (7) general
# condition, (8) financing — and the paper prints the judgement matrix with its priority vector
# (.173, .054, .188, .018, .031, .036, .167, .333) and λmax = 9.669, C.I. = 0.238, C.R. = 0.169 (RI(8) = 1.41).
# The paper's figures are rounded to three decimals, hence the tolerances of 1e-3.
HOUSE_LABELS = ["房屋面积", "交通", "邻里环境", "房龄", "院落", "现代设施", "总体状况", "融资条件"]
HOUSE = [
    [1, 5, 3, 7, 6, 6, 1 / 3, 1 / 4],
    [1 / 5, 1, 1 / 3, 5, 3, 3, 1 / 5, 1 / 7],
    [1 / 3, 3, 1, 6, 3, 4, 6, 1 / 5],
    [1 / 7, 1 / 5, 1 / 6, 1, 1 / 3, 1 / 4, 1 / 7, 1 / 8],
    [1 / 6, 1 / 3, 1 / 3, 3, 1, 1 / 2, 1 / 5, 1 / 6],
    [1 / 6, 1 / 3, 1 / 4, 4, 2, 1, 1 / 5, 1 / 6],
    [3, 5, 1 / 6, 7, 5, 5, 1, 1 / 2],
    [4, 7, 5, 8, 6, 6, 2, 1],
]
HOUSE_WEIGHTS = [0.173, 0.054, 0.188, 0.018, 0.031, 0.036, 0.167, 0.333]


def _power_iteration(a: list[list[float]], steps: int = 200) -> tuple[list[float], float]:
    """An independent check of the eigenvector: iterate w ← A w / Σ(A w) (Perron–Frobenius: converges for a
    positive matrix); λmax = Σ_i (A w)_i when Σ w = 1."""
    n = len(a)
    w = [1 / n] * n
    lam = float(n)
    for _ in range(steps):
        aw = [sum(a[i][j] * w[j] for j in range(n)) for i in range(n)]
        lam = sum(aw)
        w = [v / lam for v in aw]
    return w, lam


def test_weights_and_consistency_ratio_match_saatys_house_example() -> None:
    r = ahp_weights(HOUSE, HOUSE_LABELS)
    assert r.weights == pytest.approx(HOUSE_WEIGHTS, abs=1e-3)
    assert sum(r.weights) == pytest.approx(1.0, abs=1e-12)
    assert r.lambda_max == pytest.approx(9.669, abs=1e-3)
    assert r.ci == pytest.approx(0.238, abs=1e-3)  # (9.669 − 8) / 7 = 0.2384
    assert r.ri == 1.41
    assert r.cr == pytest.approx(0.169, abs=1e-3)  # 0.2384 / 1.41 = 0.1691
    assert not r.consistent
    # the same by power iteration, to the digits numpy gives
    w, lam = _power_iteration(HOUSE)
    assert r.weights == pytest.approx(w, abs=1e-9)
    assert r.lambda_max == pytest.approx(lam, abs=1e-9)


def test_the_house_example_is_refused_when_consistency_is_required_naming_the_worst_judgement() -> None:
    # the deviation a_ij · w_j / w_i is largest for neighbourhood vs general condition: the family wrote 6, the
    # weights make it 0.188 / 0.167 ≈ 1.13 (6 × 0.167 / 0.188 ≈ 5.3 times too strong)
    with pytest.raises(AhpInconsistent) as refused:
        ahp_weights(HOUSE, HOUSE_LABELS, require_consistent=True)
    e = refused.value
    assert e.code == "ahp_inconsistent" and e.status == 422
    assert "CR = 0.169" in e.message and "未通过一致性检验" in e.message
    assert "「邻里环境」相对「总体状况」" in e.message and "填写为 6" in e.message and "1.13" in e.message
    assert e.details["pair"] == ["邻里环境", "总体状况"]
    assert e.details["cr"] == pytest.approx(0.169, abs=1e-3)


def test_a_consistent_matrix_gives_back_its_weights_with_cr_zero() -> None:
    # w = (4, 2, 1)/7 and a_ij = w_i / w_j: A w = 3 w exactly, so λmax = n = 3, CI = 0, CR = 0
    r = ahp_weights([[1, 2, 4], [1 / 2, 1, 2], [1 / 4, 1 / 2, 1]], ["甲", "乙", "丙"], require_consistent=True)
    assert r.weights == pytest.approx([4 / 7, 2 / 7, 1 / 7], abs=1e-12)
    assert r.lambda_max == pytest.approx(3.0, abs=1e-12)
    assert r.cr == pytest.approx(0.0, abs=1e-12) and r.consistent
    assert r.weight_of() == {"甲": pytest.approx(4 / 7), "乙": pytest.approx(2 / 7), "丙": pytest.approx(1 / 7)}
    five = [0.4, 0.25, 0.2, 0.1, 0.05]
    r5 = ahp_weights([[wi / wj for wj in five] for wi in five])
    assert r5.weights == pytest.approx(five, abs=1e-12) and r5.cr == pytest.approx(0.0, abs=1e-12)


def test_a_three_by_three_inconsistent_matrix_by_the_closed_form() -> None:
    # For n = 3 with a12 = a, a13 = c, a23 = b: λmax = 1 + ρ^(1/3) + ρ^(−1/3) with ρ = a b / c, and the
    # eigenvector is the rows' geometric means. a = 2, b = 3, c = 1/5 → ρ = 30, ρ^(1/3) = 3.1072:
    # λmax = 1 + 3.1072 + 0.3218 = 4.4291, CI = 1.4291 / 2 = 0.7145, CR = 0.7145 / 0.58 = 1.232
    # weights ∝ (0.4^(1/3), 1.5^(1/3), (5/3)^(1/3)) = (0.7368, 1.1447, 1.1856) / 3.0671 = (0.2402, 0.3732, 0.3866)
    m = [[1, 2, 1 / 5], [1 / 2, 1, 3], [5, 1 / 3, 1]]
    r = ahp_weights(m, ["响应速度", "群众满意", "服务覆盖"])
    rho = 30 ** (1 / 3)
    assert r.lambda_max == pytest.approx(1 + rho + 1 / rho, abs=1e-12)
    assert r.cr == pytest.approx((rho + 1 / rho - 2) / 2 / 0.58, abs=1e-12)
    g = [0.4 ** (1 / 3), 1.5 ** (1 / 3), (5 / 3) ** (1 / 3)]
    assert r.weights == pytest.approx([x / sum(g) for x in g], abs=1e-12)
    with pytest.raises(AhpInconsistent) as refused:
        ahp_weights(m, ["响应速度", "群众满意", "服务覆盖"], require_consistent=True)
    msg = refused.value.message
    assert "CR = 1.232" in msg and "不小于 0.1" in msg and "请先重新比较这两项" in msg
    # with three criteria every judgement deviates by the same factor ρ^(1/3) (changing any one restores
    # consistency); a pair is named all the same
    pair = refused.value.details["pair"]
    assert len(pair) == 2 and set(pair) <= {"响应速度", "群众满意", "服务覆盖"}
    assert f"「{pair[0]}」相对「{pair[1]}」" in msg


def test_one_reversed_judgement_is_the_one_named() -> None:
    # consistent w ∝ (8, 4, 2, 1) except that A vs D was entered the wrong way round (1/8 instead of 8)
    w = [8, 4, 2, 1]
    m = [[w[i] / w[j] for j in range(4)] for i in range(4)]
    m[0][3], m[3][0] = 1 / 8, 8
    with pytest.raises(AhpInconsistent) as refused:
        ahp_weights(m, ["A", "B", "C", "D"], require_consistent=True)
    assert refused.value.details["pair"] == ["A", "D"]
    assert "「A」相对「D」的判断：填写为 1/8" in refused.value.message


def test_small_matrices() -> None:
    assert ahp_weights([[1]]).weights == [1.0]
    r = ahp_weights([[1, 3], [1 / 3, 1]], require_consistent=True)  # n = 2 is always consistent: CR = 0
    assert r.weights == pytest.approx([0.75, 0.25]) and r.cr == 0.0 and r.worst_pair is None


def test_random_index_table() -> None:
    assert [RANDOM_INDEX[n] for n in range(1, 11)] == [0, 0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49]
    assert sorted(RANDOM_INDEX) == list(range(1, 16))


@pytest.mark.parametrize(("matrix", "words"), [
    ([[1, 2, 3], [1 / 2, 1, 2], [1 / 3, 0.4, 1]], "不满足互反性"),  # a23 · a32 = 2 × 0.4 = 0.8 ≠ 1
    ([[1, 2], [1 / 2, 1], [1, 1]], "方阵"),
    ([[1, 2, 3], [1 / 2, 1]], "方阵"),
    ([], "阶数"),
    ([[1.0] * 16 for _ in range(16)], "阶数"),
    ([[1, 0], [0, 1]], "正数"),
    ([[1, -2], [-0.5, 1]], "正数"),
    ([[1, math.inf], [0, 1]], "正数"),
    ([[2, 1], [1, 2]], "对角线"),
    ([[1, "x"], [1, 1]], "数字"),
])
def test_invalid_matrices_are_refused(matrix: list[list[float]], words: str) -> None:
    with pytest.raises(AhpMatrixInvalid) as refused:
        ahp_weights(matrix)
    assert refused.value.code == "ahp_matrix_invalid"
    assert words in refused.value.message


def test_the_reciprocity_refusal_names_the_criteria() -> None:
    with pytest.raises(AhpMatrixInvalid) as refused:
        ahp_weights([[1, 2, 3], [1 / 2, 1, 2], [1 / 3, 0.4, 1]], ["经济", "效率", "效益"])
    assert "「效率」对「效益」为 2" in refused.value.message
    with pytest.raises(AhpMatrixInvalid):
        ahp_weights([[1, 2], [1 / 2, 1]], ["经济"])  # labels must match the size


def test_matrix_from_pairs() -> None:
    labels = ["经济", "效率", "效益", "公平"]
    pairs = {("经济", "效率"): 1 / 3, ("经济", "效益"): 1 / 5, ("公平", "经济"): 2,  # either orientation
             ("效率", "效益"): 1 / 2, ("效率", "公平"): 1, ("效益", "公平"): 3}
    m = matrix_from_pairs(labels, pairs)
    assert m[0] == [1.0, 1 / 3, 1 / 5, 0.5]
    assert m[3][0] == 2 and m[2][1] == 2 and m[3][2] == pytest.approx(1 / 3)
    assert all(m[i][j] * m[j][i] == pytest.approx(1.0) for i in range(4) for j in range(4))
    r = ahp_weights(m, labels, require_consistent=True)
    assert r.labels == labels and sum(r.weights) == pytest.approx(1.0)


@pytest.mark.parametrize(("pairs", "words"), [
    ({("甲", "乙"): 3, ("甲", "丙"): 5}, "尚未比较：「乙」与「丙」"),
    ({("甲", "乙"): 3, ("乙", "甲"): 1 / 3, ("甲", "丙"): 5, ("乙", "丙"): 1}, "重复"),
    ({("甲", "乙"): 10, ("甲", "丙"): 5, ("乙", "丙"): 1}, "1/9 到 9"),
    ({("甲", "乙"): 1 / 10, ("甲", "丙"): 5, ("乙", "丙"): 1}, "1/9 到 9"),
    ({("甲", "丁"): 3, ("甲", "丙"): 5, ("乙", "丙"): 1}, "「丁」不在"),
    ({("甲", "甲"): 1, ("甲", "乙"): 5, ("甲", "丙"): 5, ("乙", "丙"): 1}, "自身"),
])
def test_bad_pairs_are_refused(pairs: dict[tuple[str, str], float], words: str) -> None:
    with pytest.raises(AhpPairsInvalid) as refused:
        matrix_from_pairs(["甲", "乙", "丙"], pairs)
    assert refused.value.code == "ahp_pairs_invalid"
    assert words in refused.value.message


def test_the_scale_ends_are_allowed() -> None:
    m = matrix_from_pairs(["甲", "乙"], {("甲", "乙"): 1 / 9})
    assert m == [[1.0, 1 / 9], [9.0, 1.0]]
