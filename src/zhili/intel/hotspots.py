"""Spatial hotspots (热点区域): where cases cluster more than chance allows, and where they are rising.

Cases are counted on a tessellation — H3 hexagons (``level="h3"``, resolution 8 ≈ 0.74 km² by default) or the
grids (``level="grid"``) — over a window of local days, overall or for one category and everything below it
(``SG-01`` = 矛盾纠纷 and its sub-categories). Then, per cell:

* **Getis-Ord Gi*** (:mod:`zhili.intel.hotspots_stats`): the cell together with its neighbours (H3: the ring of
  six around it, ``grid_disk(cell, 1)``; grids: the grids whose boundaries touch, or the six nearest centres where a
  grid has no boundary) against the whole study area. The study area is every cell with at least one case of any
  category in the window inside the caller's jurisdiction — a category's empty cells count as zeros. p-values are
  analytical (normal) unless ``permutations`` asks for conditional randomisation.
* **False-discovery-rate control**: Benjamini–Hochberg over the cells; the class follows the adjusted q —
  ``hot99`` q ≤ 0.01, ``hot95`` q ≤ 0.05, ``hot90`` q ≤ 0.10 (``cold…`` for negative z), else ``ns``.
  ``significant`` means q ≤ ``alpha``. Without the control, 5 % of the cells of a pure-noise map come out "hot or
  cold at 95 %"; with it, almost none do (tests/intel/test_hotspots.py measures both).
* **Emerging** (a cell rising against its own history): the last ``recent_days`` (14) against the rest of the
  window with the exact conditional binomial test (see :func:`zhili.intel.hotspots_stats.emerging_test`), BH over
  the cells with any case, flagged when q ≤ ``alpha`` and at least ``MIN_RECENT`` recent cases. The weekly counts
  and a Mann–Kendall τ come along as trend information for the popup.

The result is ready for a Leaflet layer: each cell carries its boundary ring (``[lon, lat]`` pairs), its centre,
its class colour and Chinese label, and :meth:`HotspotResult.geojson` gives a FeatureCollection.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import h3
import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases.models import Category
from zhili.core.clock import today
from zhili.core.errors import Forbidden, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.intel.caseframe import day_numbers, load_cases, load_grid_shapes, load_grids
from zhili.intel.hotspots_stats import (
    bh_qvalues,
    emerging_test,
    gi_star,
    gi_star_permutation,
    mann_kendall,
    neighbour_matrix,
)

LEVELS = ("h3", "grid")
RECENT_DAYS = 14
MIN_RECENT = 3
KNN = 6
CLASSES: dict[str, tuple[str, str]] = {  # class → (Chinese label, fill colour)
    "hot99": ("热点（99% 置信）", "#b2182b"), "hot95": ("热点（95% 置信）", "#ef8a62"),
    "hot90": ("热点（90% 置信）", "#fddbc7"), "ns": ("不显著", "#f7f7f7"),
    "cold90": ("冷点（90% 置信）", "#d1e5f0"), "cold95": ("冷点（95% 置信）", "#67a9cf"),
    "cold99": ("冷点（99% 置信）", "#2166ac"),
}
LEVEL_NAMES = {"h3": "六边形格网", "grid": "网格"}


@dataclass
class HotspotResult:
    """Cells with their counts, Gi* z, p, FDR q, class and emerging flag; ``summary`` counts them."""

    level: str
    resolution: int | None
    category: str | None
    category_name: str | None
    since: dt.date
    until: dt.date
    alpha: float
    permutations: int
    cells: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "level_name": LEVEL_NAMES[self.level], "resolution": self.resolution,
                "category": self.category, "category_name": self.category_name, "since": self.since.isoformat(),
                "until": self.until.isoformat(), "alpha": self.alpha, "permutations": self.permutations,
                "summary": self.summary, "cells": self.cells}

    def geojson(self, *, only_significant: bool = False) -> dict[str, Any]:
        """A GeoJSON FeatureCollection: one Polygon per cell, the cell's figures as properties."""
        features = []
        for c in self.cells:
            if only_significant and c["cls"] == "ns" and not c["emerging"]:
                continue
            ring = c["boundary"] or [[c["lon"], c["lat"]]]
            if ring[0] != ring[-1]:
                ring = [*ring, ring[0]]
            props = {k: v for k, v in c.items() if k != "boundary"}
            features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                             "properties": props})
        return {"type": "FeatureCollection", "features": features,
                "properties": {k: v for k, v in self.to_dict().items() if k != "cells"}}


@dataclass
class Layer:
    """A tessellation of the study area: cell keys, names, centres, boundaries and neighbour lists."""

    keys: list[str]
    names: list[str]
    lon: np.ndarray
    lat: np.ndarray
    boundaries: list[list[list[float]] | None]
    neighbours: list[list[int]]
    case_cell: np.ndarray  # per row of the frame: the cell's position in ``keys`` (−1: not placed)
    _weights: Any = None

    @property
    def weights(self) -> Any:
        """The binary Gi* weights (diagonal included), built once."""
        if self._weights is None:
            self._weights = neighbour_matrix(self.neighbours, len(self.keys))
        return self._weights


# -- layers ---------------------------------------------------------------------------------------------------

def h3_cells(lon: np.ndarray, lat: np.ndarray, resolution: int) -> np.ndarray:
    """The H3 cell (as a 64-bit integer) of each point; 0 where a coordinate is missing or not on the globe (a
    stored value written past the validators — an old version, an import, a hand edit — must not stop the map)."""
    from h3.api import numpy_int

    out = np.zeros(len(lon), dtype=np.uint64)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    to_cell = numpy_int.latlng_to_cell
    out[ok] = [to_cell(a, b, resolution) for a, b in zip(lat[ok].tolist(), lon[ok].tolist(), strict=True)]
    return out


def h3_layer(frame: pd.DataFrame, resolution: int, grid_names: dict[str, str] | None = None) -> Layer:
    """Cells of every case with coordinates; the study area is the set of occupied cells. A cell's name is the
    name of the grid most of its cases belong to (where ``grid_names`` knows it)."""
    ints = h3_cells(frame["lon"].to_numpy(dtype=np.float64), frame["lat"].to_numpy(dtype=np.float64), resolution)
    placed = ints != 0
    codes = np.full(len(ints), -1, dtype=np.int64)
    uniq, inv = np.unique(ints[placed], return_inverse=True)
    codes[placed] = inv
    keys = [h3.int_to_str(int(c)) for c in uniq]
    pos = {k: i for i, k in enumerate(keys)}
    neighbours = [[pos[n] for n in h3.grid_disk(k, 1) if n != k and n in pos] for k in keys]
    centres = [h3.cell_to_latlng(k) for k in keys]
    boundaries: list[list[list[float]] | None] = [
        [[round(lng, 6), round(lt, 6)] for lt, lng in h3.cell_to_boundary(k)] for k in keys]
    names = [""] * len(keys)
    if grid_names and "grid_id" in frame.columns and len(keys):
        sub = pd.DataFrame({"cell": codes[placed], "grid": frame["grid_id"].to_numpy()[placed]}).dropna()
        if len(sub):
            top = sub.groupby(["cell", "grid"], observed=True).size().reset_index(name="n")
            top = top.sort_values("n", ascending=False).drop_duplicates("cell")
            for cell, grid in zip(top["cell"].tolist(), top["grid"].tolist(), strict=True):
                names[int(cell)] = grid_names.get(str(grid), "")
    return Layer(keys=keys, names=names, lon=np.array([c[1] for c in centres]), lat=np.array([c[0] for c in centres]),
                 boundaries=boundaries, neighbours=neighbours, case_cell=codes)


def grid_layer(frame: pd.DataFrame, grids: pd.DataFrame | None = None, shapes: dict[str, Any] | None = None) -> Layer:
    """The grids as cells: every grid of ``grids`` (from :func:`zhili.intel.caseframe.load_grids`; without it, every
    grid that has a case in the frame). Neighbours: grids whose boundaries touch; a grid without a boundary gets its
    ``KNN`` nearest centres (centres from ``grids``, else the mean of the grid's case coordinates)."""
    case_grid = frame["grid_id"].astype(object).to_numpy()
    if grids is None:
        sub = pd.DataFrame({"g": case_grid, "lon": frame["lon"].to_numpy(dtype=np.float64),
                            "lat": frame["lat"].to_numpy(dtype=np.float64)}).dropna(subset=["g"])
        means = sub.groupby("g")[["lon", "lat"]].mean().sort_index()
        grids = pd.DataFrame({"name": means.index.astype(str), "lon": means["lon"], "lat": means["lat"]},
                             index=means.index.astype(str))
    keys = [str(i) for i in grids.index]
    pos = {k: i for i, k in enumerate(keys)}
    codes = np.array([pos.get(g, -1) if isinstance(g, str) else -1 for g in case_grid], dtype=np.int64)
    shapes = shapes or {}
    lon = grids["lon"].to_numpy(dtype=np.float64).copy()
    lat = grids["lat"].to_numpy(dtype=np.float64).copy()
    boundaries: list[list[list[float]] | None] = []
    geoms: list[Any] = []
    for i, k in enumerate(keys):
        g = shapes.get(k)
        geoms.append(g)
        if g is None:
            boundaries.append(None)
            continue
        outer = max(getattr(g, "geoms", [g]), key=lambda p: p.area)
        boundaries.append([[round(x, 6), round(y, 6)] for x, y in outer.exterior.coords])
        if math.isnan(lon[i]) or math.isnan(lat[i]):
            c = g.representative_point()
            lon[i], lat[i] = c.x, c.y
    neighbours = _adjacency(geoms, lon, lat)
    return Layer(keys=keys, names=[str(n) for n in grids["name"].tolist()], lon=lon, lat=lat, boundaries=boundaries,
                 neighbours=neighbours, case_cell=codes)


def _adjacency(geoms: list[Any], lon: np.ndarray, lat: np.ndarray) -> list[list[int]]:
    from shapely import STRtree

    n = len(geoms)
    out: list[set[int]] = [set() for _ in range(n)]
    have = [i for i, g in enumerate(geoms) if g is not None]
    if have:
        tree = STRtree([geoms[i] for i in have])
        for i in have:
            for b in tree.query(geoms[i].buffer(1e-6), predicate="intersects"):
                j = have[int(b)]
                if j != i:
                    out[i].add(j)
                    out[j].add(i)
    located = np.where(~(np.isnan(lon) | np.isnan(lat)))[0]
    if len(located) > 1:
        scale = math.cos(math.radians(float(np.nanmean(lat[located]))))
        pts = np.column_stack([lon[located] * scale, lat[located]])
        for i in range(n):
            if geoms[i] is not None or math.isnan(lon[i]):
                continue
            d = np.hypot(pts[:, 0] - lon[i] * scale, pts[:, 1] - lat[i])
            for b in np.argsort(d)[1:KNN + 1]:
                j = int(located[b])
                out[i].add(j)
                out[j].add(i)
    return [sorted(s) for s in out]


# -- the analysis ---------------------------------------------------------------------------------------------

def hotspots(frame: pd.DataFrame, *, level: str = "h3", resolution: int = 8, category: str | None = None,
             since: dt.date | None = None, until: dt.date | None = None, alpha: float = 0.05,
             permutations: int = 0, layer: Layer | None = None, recent_days: int = RECENT_DAYS,
             category_name: str | None = None) -> HotspotResult:
    """Gi* hotspots, FDR-controlled, and emerging cells of the cases in ``frame`` (columns ``reported_day``,
    ``category_code``, and ``lon``/``lat`` for H3 or ``grid_id`` for grids — :func:`zhili.intel.caseframe.load_cases`)
    on the local days ``since`` … ``until`` (default: the frame's first and last day).

    ``layer`` (from :func:`h3_layer` / :func:`grid_layer` over the same frame) saves rebuilding the tessellation
    when several categories are analysed; the study area is always the layer's cells."""
    if level not in LEVELS:
        raise ValidationFailed("层级只能是 h3（六边形格网）或 grid（网格）", code="bad_level")
    if not 0 < alpha < 1:
        raise ValidationFailed("显著性水平须在 0 与 1 之间", code="bad_alpha")
    days = day_numbers(frame["reported_day"].to_numpy()) if len(frame) else np.zeros(0, dtype=np.int64)
    first = int(days.min()) if len(days) else 0
    last = int(days.max()) if len(days) else 0
    d0 = _day_number(since) if since else first
    d1 = _day_number(until) if until else last
    in_window = (days >= d0) & (days <= d1)
    if layer is None:
        scope = frame[in_window]
        layer = h3_layer(scope, resolution) if level == "h3" else grid_layer(scope)
        cell_of = np.full(len(frame), -1, dtype=np.int64)
        cell_of[np.where(in_window)[0]] = layer.case_cell
    else:
        cell_of = layer.case_cell
    keep = in_window & (cell_of >= 0)
    if category:
        keep &= category_mask(frame["category_code"], category)
    n = len(layer.keys)
    cells = cell_of[keep]
    counts = np.bincount(cells, minlength=n).astype(np.int64)
    z, p = gi_star(counts, layer.weights) if n else (np.zeros(0), np.zeros(0))
    if permutations > 0 and n:
        p = gi_star_permutation(counts, layer.neighbours, permutations=permutations)
    q = bh_qvalues(p)
    trend = _emerging(cells, days[keep], n, d0, d1, recent_days, alpha)
    since_day = _from_number(d0)
    until_day = _from_number(d1)
    out_cells: list[dict[str, Any]] = []
    trend_cols = {k: _column(v) for k, v in trend.items() if k != "emerging"}
    emerging = trend["emerging"].tolist()
    zs, ps, qs = np.round(z, 3).tolist(), _sig(p), _sig(q)
    lons, lats = np.round(layer.lon, 6).tolist(), np.round(layer.lat, 6).tolist()
    for i, cnt in enumerate(counts.tolist()):
        cls = _cls(zs[i], qs[i])
        label, colour = CLASSES[cls]
        out_cells.append({
            "cell": layer.keys[i], "name": layer.names[i], "count": cnt, "z": zs[i], "p": ps[i], "q": qs[i],
            "cls": cls, "label": label, "colour": colour, "significant": qs[i] <= alpha, "emerging": emerging[i],
            "trend": {k: v[i] for k, v in trend_cols.items()}, "lon": lons[i], "lat": lats[i],
            "boundary": layer.boundaries[i]})
    out_cells.sort(key=lambda c: (-c["z"], c["cell"]))
    summary = {
        "cases": int(keep.sum()), "cells": n,
        "hot": sum(1 for c in out_cells if c["significant"] and c["z"] > 0),
        "cold": sum(1 for c in out_cells if c["significant"] and c["z"] < 0),
        "emerging": sum(1 for c in out_cells if c["emerging"]),
        "raw_significant": int((p <= alpha).sum()),
        "classes": {k: sum(1 for c in out_cells if c["cls"] == k) for k in CLASSES},
        "recent_days": recent_days,
    }
    return HotspotResult(level=level, resolution=resolution if level == "h3" else None, category=category,
                         category_name=category_name, since=since_day, until=until_day, alpha=alpha,
                         permutations=permutations, cells=out_cells, summary=summary)


def category_mask(codes: pd.Series, prefix: str) -> np.ndarray:
    """Rows whose category is ``prefix`` or lies below it (the check runs once per distinct code)."""
    cat = codes if isinstance(codes.dtype, pd.CategoricalDtype) else codes.astype("category")
    match = np.array([str(c).startswith(prefix) for c in cat.cat.categories] + [False], dtype=bool)
    return match[cat.cat.codes.to_numpy()]  # code −1 (no category) reads the trailing False


def prepare_layer(frame: pd.DataFrame, *, level: str = "h3", resolution: int = 8,
                  grids: pd.DataFrame | None = None, shapes: dict[str, Any] | None = None,
                  grid_names: dict[str, str] | None = None) -> Layer:
    """The tessellation of ``frame`` once, for several :func:`hotspots` calls (overall and per category)."""
    if level == "h3":
        names = grid_names if grid_names is not None else (
            {str(k): str(v) for k, v in grids["name"].items()} if grids is not None else None)
        return h3_layer(frame, resolution, names)
    if level == "grid":
        return grid_layer(frame, grids, shapes)
    raise ValidationFailed("层级只能是 h3（六边形格网）或 grid（网格）", code="bad_level")


def _emerging(cells: np.ndarray, days: np.ndarray, n: int, d0: int, d1: int, recent_days: int, alpha: float
              ) -> dict[str, np.ndarray]:
    span = d1 - d0 + 1
    total = np.bincount(cells, minlength=n)
    if span <= recent_days or n == 0:
        zeros = np.zeros(n)
        return {"emerging": np.zeros(n, dtype=bool), "recent": zeros, "expected": zeros, "ratio": zeros + 1,
                "p": np.ones(n), "q": np.ones(n), "tau": zeros, "weekly": np.array([[]] * n)}
    recent_mask = days > d1 - recent_days
    recent = np.bincount(cells[recent_mask], minlength=n)
    share = recent_days / span
    p, ratio = emerging_test(recent, total, share)
    q = np.ones(n)
    tested = total > 0
    q[tested] = bh_qvalues(p[tested])
    expected = (total - recent) * recent_days / (span - recent_days)
    weeks = span // 7
    week_of = (d1 - days) // 7  # 0 = the last 7 days
    ok = week_of < weeks
    weekly = np.zeros((n, weeks), dtype=np.int64)
    np.add.at(weekly, (cells[ok], weeks - 1 - week_of[ok]), 1)
    tau, _ = mann_kendall(weekly) if weeks >= 3 else (np.zeros(n), np.ones(n))
    emerging = (q <= alpha) & (recent >= MIN_RECENT) & (ratio > 1)
    return {"emerging": emerging, "recent": recent, "expected": expected, "ratio": ratio, "p": p, "q": q,
            "tau": tau, "weekly": weekly}


def _cls(z: float, q: float) -> str:
    side = "hot" if z > 0 else "cold"
    for level, name in ((0.01, "99"), (0.05, "95"), (0.10, "90")):
        if q <= level and z != 0:
            return side + name
    return "ns"


def _sig(v: np.ndarray) -> list[float]:
    """Four significant digits, as plain floats."""
    return [float(f"{x:.4g}") for x in v.tolist()]


def _column(v: np.ndarray) -> list[Any]:
    """A trend column as JSON-ready values: weekly rows as int lists, counts as ints, ratios with 4 digits
    (an infinite ratio — cases only recently — as None)."""
    if v.ndim == 2:
        return v.astype(np.int64).tolist()
    if np.issubdtype(v.dtype, np.integer):
        return v.tolist()
    return [None if math.isinf(x) else float(f"{x:.4g}") for x in v.tolist()]


def _day_number(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def _from_number(n: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=n)


# -- the service ----------------------------------------------------------------------------------------------

def require_intel(principal: Principal) -> None:
    """研判 reading: the permission, and a jurisdiction to read."""
    authorize(principal, Perm.intel_read, "当前角色无权查看智能研判", code="intel_forbidden")
    if not principal.scope_paths:
        raise Forbidden("当前账号未绑定管辖单位，无法查看智能研判", code="intel_forbidden")


def category_label(session: Session, code: str | None) -> str | None:
    """The current name of a category code (None for none)."""
    if not code:
        return None
    name = session.scalar(select(Category.name).where(Category.code == code, Category.is_current.is_(True)))
    if name is None:
        raise ValidationFailed("事件分类不存在", code="unknown_category")
    return str(name)


def hotspots_for(session: Session, *, principal: Principal, level: str = "h3", resolution: int = 8,
                 category: str | None = None, days: int = 90, until: dt.date | None = None,
                 alpha: float = 0.05, permutations: int = 0) -> HotspotResult:
    """Hotspots of the cases in the principal's jurisdiction over the last ``days`` local days up to ``until``
    (today): H3 cells or grids, overall or for ``category`` (a code; its sub-categories included)."""
    require_intel(principal)
    if level not in LEVELS:
        raise ValidationFailed("层级只能是 h3（六边形格网）或 grid（网格）", code="bad_level")
    if not 5 <= resolution <= 10:
        raise ValidationFailed("六边形分辨率须在 5 到 10 之间", code="bad_resolution")
    if not 2 * RECENT_DAYS <= days <= 731:
        raise ValidationFailed(f"分析天数须在 {2 * RECENT_DAYS} 到 731 之间", code="bad_days")
    if not 0 <= permutations <= 9999:
        raise ValidationFailed("置换次数须在 0 到 9999 之间", code="bad_permutations")
    name = category_label(session, category)
    until = until or today()
    since = until - dt.timedelta(days=days - 1)
    frame = load_cases(session, since=since, until=until, path_prefix=principal.scope_paths,
                       columns=("reported_day", "category_code", "grid_id", "lon", "lat"))
    grids = load_grids(session, path_prefix=principal.scope_paths)
    shapes = load_grid_shapes(session, grids.index) if level == "grid" else None
    layer = prepare_layer(frame, level=level, resolution=resolution, grids=grids, shapes=shapes)
    return hotspots(frame, level=level, resolution=resolution, category=category, since=since, until=until,
                    alpha=alpha, permutations=permutations, layer=layer, category_name=name)
