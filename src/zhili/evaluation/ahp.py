"""The analytic hierarchy process (AHP, 层次分析法): weights from pairwise comparisons.

An expert compares the ``n`` criteria of one node two at a time on Saaty's 1–9 scale (1 equally important, 3
moderately, 5 strongly, 7 very strongly, 9 extremely more important; 2, 4, 6, 8 between; the reciprocals for "less
important"). The judgements form a positive reciprocal matrix ``A`` (``a_ii = 1``, ``a_ji = 1/a_ij``). Were the
judgements perfectly consistent (``a_ij = w_i / w_j``), ``A w = n w``; in general the weights are the principal
(Perron) eigenvector of ``A`` normalised to sum 1, and its eigenvalue ``λ_max ≥ n`` measures the inconsistency:

* consistency index ``CI = (λ_max − n) / (n − 1)``;
* random index ``RI``: the mean CI of random reciprocal matrices of that size (Saaty's table, below);
* consistency ratio ``CR = CI / RI`` — judgements with ``CR < 0.1`` are accepted; for ``n ≤ 2`` every reciprocal
  matrix is consistent and ``CR = 0``.

When ``CR ≥ 0.1`` the helper names the judgement that deviates most from the weights it produced: the pair
``(i, j)`` maximising ``max(ε, 1/ε)`` with ``ε = a_ij · w_j / w_i`` — the one to reconsider first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from zhili.core.errors import ValidationFailed

# Saaty's random consistency index for n = 1 … 15, as commonly reproduced from T. L. Saaty, The Analytic Hierarchy
# Process (McGraw-Hill 1980); RI(8) = 1.41 is the value behind the C.R. = 0.238 / 1.41 = 0.169 of the house example
# in Saaty, "How to make a decision: the analytic hierarchy process", EJOR 48 (1990) 9–26 (tests/evaluation).
RANDOM_INDEX: dict[int, float] = {1: 0.0, 2: 0.0, 3: 0.58, 4: 0.90, 5: 1.12, 6: 1.24, 7: 1.32, 8: 1.41, 9: 1.45,
                                  10: 1.49, 11: 1.51, 12: 1.48, 13: 1.56, 14: 1.57, 15: 1.59}
MAX_SIZE = 15
CR_LIMIT = 0.1
RECIPROCAL_TOLERANCE = 1e-6
SCALE_MIN, SCALE_MAX = 1 / 9, 9.0


class AhpMatrixInvalid(ValidationFailed):
    """The comparison matrix is not a positive reciprocal matrix of size 1–15."""

    code = "ahp_matrix_invalid"
    default_message = "判断矩阵无效"


class AhpPairsInvalid(ValidationFailed):
    """The pairwise judgements are incomplete, repeated, off Saaty's scale or name unknown criteria."""

    code = "ahp_pairs_invalid"
    default_message = "两两比较判断无效"


class AhpInconsistent(ValidationFailed):
    """The judgements' consistency ratio is 0.1 or more."""

    code = "ahp_inconsistent"
    default_message = "判断矩阵未通过一致性检验"


@dataclass(frozen=True)
class AhpResult:
    """Weights (summing to 1, in the order of ``labels``), ``λ_max``, CI, RI and CR; ``worst_pair`` is the
    judgement deviating most from ``w_i / w_j`` (``None`` for ``n ≤ 2``) and ``worst_deviation`` its factor."""

    labels: list[str]
    weights: list[float]
    lambda_max: float
    ci: float
    ri: float
    cr: float
    worst_pair: tuple[str, str] | None
    worst_deviation: float

    @property
    def consistent(self) -> bool:
        """True if ``CR < 0.1``."""
        return self.cr < CR_LIMIT

    def weight_of(self) -> dict[str, float]:
        """The weights by label."""
        return dict(zip(self.labels, self.weights, strict=True))


def _label_list(n: int, labels: Sequence[str] | None) -> list[str]:
    if labels is None:
        return [f"C{i + 1}" for i in range(n)]
    names = [str(x) for x in labels]
    if len(names) != n:
        raise AhpMatrixInvalid(f"判断矩阵为 {n} 阶，但给出了 {len(names)} 个指标名称", details={"size": n})
    if len(set(names)) != n:
        raise AhpMatrixInvalid("指标名称有重复")
    return names


def validate_matrix(matrix: Sequence[Sequence[float]], labels: Sequence[str] | None = None
                    ) -> tuple[np.ndarray, list[str]]:
    """``matrix`` as an array after checking it is a positive reciprocal matrix of size 1–15 (diagonal 1,
    ``a_ji = 1/a_ij`` within 1e-6), with its labels; :class:`AhpMatrixInvalid` with a Chinese message otherwise."""
    try:
        rows = [list(row) for row in matrix]
    except TypeError:
        raise AhpMatrixInvalid("判断矩阵必须是由行组成的方阵") from None
    n = len(rows)
    if not 1 <= n <= MAX_SIZE:
        raise AhpMatrixInvalid(f"判断矩阵的阶数须在 1 到 {MAX_SIZE} 之间（现为 {n}）", details={"size": n})
    if any(len(row) != n for row in rows):
        raise AhpMatrixInvalid("判断矩阵必须是方阵（行数与列数相等）")
    names = _label_list(n, labels)
    try:
        a = np.array([[float(v) for v in row] for row in rows], dtype=float)
    except (TypeError, ValueError):
        raise AhpMatrixInvalid("判断矩阵的每一项都必须是数字") from None
    if not np.isfinite(a).all() or (a <= 0).any():
        raise AhpMatrixInvalid("判断矩阵的每一项都必须是有限的正数")
    for i in range(n):
        if abs(a[i, i] - 1.0) > RECIPROCAL_TOLERANCE:
            raise AhpMatrixInvalid(f"判断矩阵对角线须为 1（「{names[i]}」与自身比较）", details={"row": i})
        for j in range(i + 1, n):
            if abs(a[i, j] * a[j, i] - 1.0) > RECIPROCAL_TOLERANCE:
                raise AhpMatrixInvalid(
                    f"判断矩阵不满足互反性：「{names[i]}」对「{names[j]}」为 {a[i, j]:g}，"
                    f"反过来应为 {1 / a[i, j]:.4g}，实为 {a[j, i]:g}", details={"row": i, "column": j})
    return a, names


def _principal(a: np.ndarray) -> tuple[np.ndarray, float]:
    """The principal eigenvector (positive, summing to 1) and its eigenvalue."""
    values, vectors = np.linalg.eig(a)
    k = int(np.argmax(values.real))
    w = np.abs(vectors[:, k].real)
    return w / w.sum(), float(values[k].real)


def _worst_pair(a: np.ndarray, w: np.ndarray) -> tuple[tuple[int, int] | None, float]:
    """The judgement ``a_ij`` (i < j) deviating most from ``w_i / w_j``, and its deviation factor (≥ 1)."""
    n = len(a)
    best: tuple[int, int] | None = None
    worst = 1.0
    for i in range(n):
        for j in range(i + 1, n):
            eps = a[i, j] * w[j] / w[i]
            dev = max(eps, 1 / eps)
            if best is None or dev > worst + 1e-12:
                best, worst = (i, j), dev
    return best, float(worst)


def _scale_text(v: float) -> str:
    """A judgement as written on Saaty's scale: ``5`` or ``1/3``."""
    if v >= 1:
        return f"{v:.3g}"
    return f"1/{1 / v:.3g}"


def ahp_weights(matrix: Sequence[Sequence[float]], labels: Sequence[str] | None = None, *,
                require_consistent: bool = False) -> AhpResult:
    """Weights of the criteria from a pairwise comparison matrix by the principal eigenvector, with λ_max, CI,
    RI and CR. With ``require_consistent`` a matrix with ``CR ≥ 0.1`` is refused (:class:`AhpInconsistent`) by a
    Chinese message stating the CR and the pair of criteria to reconsider."""
    a, names = validate_matrix(matrix, labels)
    n = len(a)
    if n == 1:
        return AhpResult(names, [1.0], 1.0, 0.0, 0.0, 0.0, None, 1.0)
    w, lam = _principal(a)
    ci = max(0.0, (lam - n) / (n - 1))
    ri = RANDOM_INDEX[n]
    cr = ci / ri if ri > 0 else 0.0
    pair, deviation = _worst_pair(a, w) if n > 2 else (None, 1.0)
    result = AhpResult(labels=names, weights=[float(v) for v in w], lambda_max=lam, ci=ci, ri=ri, cr=cr,
                       worst_pair=(names[pair[0]], names[pair[1]]) if pair else None, worst_deviation=deviation)
    if require_consistent and cr >= CR_LIMIT:
        raise inconsistency(result, a)
    return result


def inconsistency(result: AhpResult, matrix: np.ndarray) -> AhpInconsistent:
    """The refusal of an inconsistent matrix: the CR, and which judgement to revisit (what was entered and what the
    derived weights would make it)."""
    message = (f"判断矩阵一致性比率 CR = {result.cr:.3f}（λmax = {result.lambda_max:.3f}，CI = {result.ci:.3f}，"
               f"RI = {result.ri:.2f}），不小于 0.1，未通过一致性检验。")
    details: dict[str, object] = {"cr": result.cr, "ci": result.ci, "ri": result.ri, "lambda_max": result.lambda_max}
    if result.worst_pair is not None:
        i, j = result.labels.index(result.worst_pair[0]), result.labels.index(result.worst_pair[1])
        given = float(matrix[i, j])
        implied = result.weights[i] / result.weights[j]
        message += (f"与各项权重之比偏离最大的是「{result.worst_pair[0]}」相对「{result.worst_pair[1]}」的判断："
                    f"填写为 {_scale_text(given)}，按综合权重推算约为 {_scale_text(implied)}，"
                    f"请先重新比较这两项。")
        details.update(pair=list(result.worst_pair), given=given, implied=implied)
    return AhpInconsistent(message, details=details)


def matrix_from_pairs(labels: Sequence[str], pairs: Mapping[tuple[str, str], float]) -> list[list[float]]:
    """The reciprocal matrix from one judgement per pair of criteria: ``{(a, b): v}`` means "a is v times as
    important as b" on Saaty's scale (``1/9 ≤ v ≤ 9``); either orientation may be given, each pair exactly once.
    :class:`AhpPairsInvalid` names any unknown criterion, repeated or missing pair, or value off the scale."""
    names = [str(x) for x in labels]
    if not 1 <= len(names) <= MAX_SIZE:
        raise AhpPairsInvalid(f"比较的指标数须在 1 到 {MAX_SIZE} 之间（现为 {len(names)}）")
    if len(set(names)) != len(names):
        raise AhpPairsInvalid("指标名称有重复")
    pos = {name: i for i, name in enumerate(names)}
    n = len(names)
    a = [[1.0] * n for _ in range(n)]
    seen: set[frozenset[str]] = set()
    for (first, second), raw in pairs.items():
        for name in (first, second):
            if name not in pos:
                raise AhpPairsInvalid(f"「{name}」不在参与比较的指标中")
        if first == second:
            raise AhpPairsInvalid(f"「{first}」不能与自身比较")
        key = frozenset((first, second))
        if key in seen:
            raise AhpPairsInvalid(f"「{first}」与「{second}」的比较重复给出")
        seen.add(key)
        try:
            v = float(raw)
        except (TypeError, ValueError):
            raise AhpPairsInvalid(f"「{first}」相对「{second}」的判断须为数字") from None
        if not (math.isfinite(v) and SCALE_MIN - 1e-9 <= v <= SCALE_MAX + 1e-9):
            raise AhpPairsInvalid(f"「{first}」相对「{second}」的判断须在 1/9 到 9 之间（Saaty 1–9 标度），"
                                  f"现为 {raw}")
        i, j = pos[first], pos[second]
        a[i][j], a[j][i] = v, 1.0 / v
    missing = [(names[i], names[j]) for i in range(n) for j in range(i + 1, n)
               if frozenset((names[i], names[j])) not in seen]
    if missing:
        shown = "、".join(f"「{x}」与「{y}」" for x, y in missing[:5])
        more = f"等 {len(missing)} 对" if len(missing) > 5 else ""
        raise AhpPairsInvalid(f"尚未比较：{shown}{more}", details={"missing": [list(p) for p in missing]})
    return a
