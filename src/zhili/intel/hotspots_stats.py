"""The statistics behind the hotspot map: Getis-Ord Gi*, Benjamini–Hochberg, and the emerging-hotspot test.

* :func:`gi_star` — Getis & Ord's Gi* z-score (1992/1995) with binary weights that include the cell itself:
  ``z_i = (Σ_j w_ij x_j − x̄ Σ_j w_ij) / (S √((n Σ_j w_ij² − (Σ_j w_ij)²) / (n − 1)))``, ``S² = Σx²/n − x̄²``.
  It equals ``esda.G_Local(y, w, transform="B", star=True).Zs`` (the test checks it), computed with one sparse
  product. The p-value is two-sided under the normal approximation (esda's ``p_norm`` is the one-sided half).
* :func:`gi_star_permutation` — the conditional-randomisation p-value (the cell's own value fixed, its
  neighbours' values drawn from the other cells), through esda (the reference implementation), folded and doubled
  to a two-sided p.
* :func:`bh_qvalues` — Benjamini–Hochberg adjusted p-values (q): a cell is significant at false-discovery rate α
  when ``q ≤ α``. Valid for the positively dependent tests of overlapping neighbourhoods (Benjamini & Yekutieli
  2001, PRDS).
* :func:`emerging_test` — is a cell's recent window above its own history? Under "the cell's rate did not change",
  given the cell's ``N`` cases over the whole window, the recent count is ``Binomial(N, recent_days / days)``:
  the conditional test for comparing two Poisson rates, exact, and it needs no estimate of the baseline (so a
  short or sparse history cannot make it over-confident, as a Poisson tail around an estimated mean would). The
  p-value is the upper tail ``P(X ≥ recent)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import sparse, stats

FloatArray = npt.NDArray[np.float64]


def neighbour_matrix(neighbours: Sequence[Sequence[int]], n: int) -> sparse.csr_matrix:
    """Binary weights with the diagonal set (each cell is its own neighbour, as Gi* wants)."""
    rows = [i for i in range(n) for _ in neighbours[i]]
    cols = [j for i in range(n) for j in neighbours[i]]
    w = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    w = ((w + sparse.identity(n, format="csr")) > 0).astype(np.float64)
    return w.tocsr()


def gi_star(y: npt.ArrayLike, w: sparse.csr_matrix) -> tuple[FloatArray, FloatArray]:
    """(z, two-sided p) of Gi* for values ``y`` on weights ``w`` (binary, diagonal included)."""
    x = np.asarray(y, dtype=np.float64)
    n = len(x)
    if n < 3:
        return np.zeros(n), np.ones(n)
    mean = x.mean()
    s = np.sqrt(max((x * x).mean() - mean * mean, 0.0))
    if s <= 0:
        return np.zeros(n), np.ones(n)
    wsum = np.asarray(w.sum(axis=1)).ravel()
    w2sum = np.asarray(w.multiply(w).sum(axis=1)).ravel()
    lag = w @ x
    denom = s * np.sqrt(np.maximum(n * w2sum - wsum * wsum, 0.0) / (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(denom > 0, (lag - mean * wsum) / denom, 0.0)
    return z, 2.0 * stats.norm.sf(np.abs(z))


def gi_star_permutation(y: npt.ArrayLike, neighbours: Sequence[Sequence[int]], *, permutations: int,
                        seed: int = 20261123) -> FloatArray:
    """Two-sided conditional-randomisation p-values of Gi* (esda's ``G_Local``, ``star=True``, binary weights)."""
    import warnings

    from esda.getisord import G_Local
    from libpysal.weights import W

    x = np.asarray(y, dtype=np.float64)
    n = len(x)
    if n < 3 or np.all(x == x[0]):
        return np.ones(n)
    nb = {i: [int(j) for j in neighbours[i] if j != i] for i in range(n)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # islands (cells with no neighbour) are allowed; esda warns about them
        w = W(nb, {i: [1.0] * len(v) for i, v in nb.items()}, silence_warnings=True)
        g = G_Local(x, w, transform="B", star=True, permutations=permutations, seed=seed, n_jobs=1,
                    keep_simulations=False)
    return np.asarray(np.minimum(1.0, 2.0 * g.p_sim), dtype=np.float64)


def bh_qvalues(p: npt.ArrayLike) -> FloatArray:
    """Benjamini–Hochberg adjusted p-values (``q_(i) = min_{k ≥ i} p_(k) · m / k``, capped at 1)."""
    pv = np.asarray(p, dtype=np.float64)
    m = len(pv)
    if m == 0:
        return pv.copy()
    order = np.argsort(pv)
    ranked = pv[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def emerging_test(recent: npt.ArrayLike, total: npt.ArrayLike, recent_share: float) -> tuple[FloatArray, FloatArray]:
    """(upper-tail p, rate ratio recent : earlier) of each cell's ``recent`` count out of ``total`` when the recent
    window is ``recent_share`` of the time."""
    r = np.asarray(recent, dtype=np.int64)
    t = np.asarray(total, dtype=np.int64)
    p = np.where(t > 0, stats.binom.sf(r - 1, t, recent_share), 1.0)
    earlier = (t - r) / max(1.0 - recent_share, 1e-9)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(earlier > 0, (r / recent_share) / earlier, np.where(r > 0, np.inf, 1.0))
    return p, ratio


def mann_kendall(series: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Kendall's τ-a (S ÷ pairs) of each row of ``series`` (cells × periods) against time, and the Mann–Kendall
    two-sided p (normal approximation, tie and continuity corrections) — the monotone trend shown next to the
    emerging test."""
    s_arr = np.asarray(series, dtype=np.float64)
    if s_arr.ndim == 1:
        s_arr = s_arr[None, :]
    m, t = s_arr.shape
    if t < 3:
        return np.zeros(m), np.ones(m)
    i, j = np.triu_indices(t, k=1)
    signs = np.sign(s_arr[:, j] - s_arr[:, i])
    s = signs.sum(axis=1)
    n_pairs = t * (t - 1) / 2
    var = np.full(m, t * (t - 1) * (2 * t + 5) / 18.0)
    if np.all(s_arr >= 0) and np.all(s_arr == np.round(s_arr)) and s_arr.max() < 10_000:
        # counts: each row's ties from one bincount over (row, value)
        width = int(s_arr.max()) + 1
        ties = np.bincount((np.arange(m)[:, None] * width + s_arr.astype(np.int64)).ravel(),
                           minlength=m * width).reshape(m, width).astype(np.float64)
        var -= (ties * (ties - 1) * (2 * ties + 5)).sum(axis=1) / 18.0
    else:
        for r in range(m):  # tie correction, per row
            _, counts = np.unique(s_arr[r], return_counts=True)
            counts = counts[counts > 1]
            if len(counts):
                var[r] -= float(np.sum(counts * (counts - 1) * (2 * counts + 5))) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, (s - np.sign(s)) / np.sqrt(var), 0.0)
    return s / n_pairs, 2.0 * stats.norm.sf(np.abs(z))
