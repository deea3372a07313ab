"""Point-in-grid lookup: which grid (网格) contains a WGS-84 point, for one point or millions at once.

:class:`Locator` indexes a fixed set of unit polygons. Lookup is exact (same answer as testing every polygon
with shapely) and fast, in two stages:

1. **Cell raster.** The bounding box of all polygons is cut into square cells (by default up to 4 million,
   ~16 MB). Polygon boundaries are densified to half a cell and every cell within one cell of a boundary
   sample is marked *ambiguous* — a conservative superset of the cells any boundary touches. Every other
   cell lies wholly inside or wholly outside each polygon, so its answer is the answer at its centre,
   computed once by a vectorised even-odd scanline. A point in such a cell is resolved by array indexing.
2. **Exact test.** Points in ambiguous cells (typically 10–20 %) go through a shapely 2 ``STRtree`` query
   with the ``intersects`` predicate (i.e. *covers*: boundary included).

Rules (identical in the scalar and batch paths):

* A point is located in a unit when the unit's geometry **covers** it (interior or boundary).
* When several units cover it — a point exactly on an edge shared by two grids, a vertex shared by four, or
  overlapping input — the unit that came **first in the input sequence** (lowest index) wins. Callers that
  need stable answers across rebuilds should pass units in a stable order (e.g. by unit code).
* A point in a polygon's hole is not in that polygon; it is ``None`` unless another unit covers it.
* Points outside every unit, and NaN coordinates, give ``None`` (index ``-1``).

Geometries are expected to be valid (see :func:`build_geometry`); results for invalid ones follow shapely.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely import MultiPolygon, Polygon

from zhili.core.errors import ValidationFailed

__all__ = ["Locator", "build_geometry"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_AMBIGUOUS = -2
_NONE = -1
# Default cell budget: the raster costs ~5 bytes per cell while built and 4 bytes per cell afterwards.
_DEFAULT_MAX_CELLS = 4_000_000
_MAX_CELLS_LIMIT = 1 << 26  # keeps every cell number well inside int32
_CELLS_PER_UNIT = 2_500
_MIN_CELLS = 1_024


@dataclass(frozen=True, slots=True)
class _Raster:
    """Cell raster over the units' bounding box.

    ``codes[row * nx + col]`` is a unit index (>= 0), -1 (no unit), or ``-2 - slot`` for an ambiguous cell
    whose candidate units (those whose bounding box meets the cell) are
    ``candidates[offsets[slot]:offsets[slot + 1]]``.
    """

    x0: float
    y0: float
    inv_size: float
    nx: int
    ny: int
    codes: npt.NDArray[np.int32]
    offsets: npt.NDArray[np.int64]
    candidates: npt.NDArray[np.int32]


def _raster_shape(bounds: tuple[float, float, float, float], target_cells: int) -> tuple[float, int, int]:
    """Cell size and grid dimensions (one padding cell on each side) for a cell budget."""
    minx, miny, maxx, maxy = bounds
    width, height = maxx - minx, maxy - miny
    # The second bound keeps extremely thin extents from exploding the cell count (then <= ~7x budget).
    size = max(math.sqrt(width * height / target_cells), max(width, height) / target_cells)
    nx = math.ceil(width / size) + 2
    ny = math.ceil(height / size) + 2
    return size, nx, ny


def _boundary_cells(
    rings: npt.NDArray[np.object_], x0: float, y0: float, size: float, nx: int, ny: int
) -> npt.NDArray[np.bool_]:
    """Boolean (ny, nx) mask of cells within one cell of any ring (conservative: never misses a cell)."""
    # Samples at most half a cell apart: any boundary point lies within half a cell of a sample, so the
    # 3x3 neighbourhood of the samples' cells contains every cell the boundary touches.
    dense = shapely.segmentize(rings, max_segment_length=size * 0.5)
    xy = shapely.get_coordinates(dense)
    col = np.floor((xy[:, 0] - x0) / size).astype(np.int64)
    row = np.floor((xy[:, 1] - y0) / size).astype(np.int64)
    np.clip(col, 0, nx - 1, out=col)
    np.clip(row, 0, ny - 1, out=row)
    mask = np.zeros((ny, nx), dtype=np.bool_)
    mask[row, col] = True
    grown = mask.copy()
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    out = grown.copy()
    out[1:, :] |= grown[:-1, :]
    out[:-1, :] |= grown[1:, :]
    return out


def _centre_owners(
    rings: npt.NDArray[np.object_], ring_unit: IntArray, x0: float, y0: float, size: float, nx: int, ny: int
) -> npt.NDArray[np.int32] | None:
    """Lowest unit index whose polygon contains each cell centre (even-odd scanline per unit), else -1."""
    n_units = int(ring_unit.max()) + 1 if len(ring_unit) else 0
    owners = np.full(nx * ny, np.iinfo(np.int32).max, dtype=np.int32)
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    if len(xy) < 2:
        return np.full(nx * ny, _NONE, dtype=np.int32)
    same = ring_of[:-1] == ring_of[1:]
    x1, y1 = xy[:-1, 0][same], xy[:-1, 1][same]
    x2, y2 = xy[1:, 0][same], xy[1:, 1][same]
    unit = ring_unit[ring_of[:-1][same]]
    # Row j (centre y0 + (j + 0.5) * size) crosses an edge iff min(y1, y2) <= y_centre < max(y1, y2).
    lo = np.ceil((np.minimum(y1, y2) - y0) / size - 0.5).astype(np.int64)
    hi = np.ceil((np.maximum(y1, y2) - y0) / size - 0.5).astype(np.int64)
    count = np.maximum(hi - lo, 0)
    edge = np.repeat(np.arange(len(count)), count)
    starts = np.cumsum(count) - count
    row = lo[edge] + (np.arange(len(edge)) - starts[edge])
    yc = y0 + (row + 0.5) * size
    ex1, ey1, ex2, ey2 = x1[edge], y1[edge], x2[edge], y2[edge]
    xc = ex1 + (yc - ey1) * (ex2 - ex1) / (ey2 - ey1)
    eu = unit[edge]
    order = np.lexsort((xc, row, eu))
    xc, row, eu = xc[order], row[order], eu[order]
    # Closed rings cross every row an even number of times, so crossings pair up (in, out) within each
    # (unit, row) group; holes and multiple parts fall out of the even-odd rule.
    if len(xc) % 2 or not (np.array_equal(row[0::2], row[1::2]) and np.array_equal(eu[0::2], eu[1::2])):
        return None  # Not closed rings (corrupt input): let every point take the exact path.
    xa, xb, span_row, span_unit = xc[0::2], xc[1::2], row[0::2], eu[0::2]
    c_lo = np.clip(np.ceil((xa - x0) / size - 0.5).astype(np.int64), 0, nx)
    c_hi = np.clip(np.ceil((xb - x0) / size - 0.5).astype(np.int64), 0, nx)
    width = np.where((span_row >= 0) & (span_row < ny), np.maximum(c_hi - c_lo, 0), 0)
    span = np.repeat(np.arange(len(width)), width)
    span_starts = np.cumsum(width) - width
    cells = span_row[span] * nx + c_lo[span] + (np.arange(len(span)) - span_starts[span])
    np.minimum.at(owners, cells, span_unit[span].astype(np.int32))
    owners[owners >= n_units] = _NONE
    return owners


def _ambiguous_candidates(
    geometries: npt.NDArray[np.object_],
    ambiguous: npt.NDArray[np.bool_],
    raster: tuple[float, float, float, int, int],
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """Slot numbers of ambiguous cells, and CSR lists of the units whose bounding box meets each of them."""
    x0, y0, inv_size, nx, ny = raster
    bounds = shapely.bounds(geometries)

    def cell_range(lo: FloatArray, hi: FloatArray, origin: float, n: int) -> tuple[Any, Any]:
        # Same arithmetic as the lookup, so a point inside a unit's bbox lands in one of its bbox cells.
        first = np.floor((lo - origin) * inv_size).clip(0, n - 1).astype(np.int32)
        last = np.floor((hi - origin) * inv_size).clip(0, n - 1).astype(np.int32)
        return first, last

    c0, c1 = cell_range(bounds[:, 0], bounds[:, 2], x0, nx)
    r0, r1 = cell_range(bounds[:, 1], bounds[:, 3], y0, ny)
    # One span per (unit, raster row) of the unit's bbox, then one pair per cell of each span.
    rows = r1 - r0 + 1
    span_unit = np.repeat(np.arange(len(geometries), dtype=np.int32), rows)
    span_row = r0[span_unit] + (
        np.arange(len(span_unit), dtype=np.int32) - np.repeat(np.cumsum(rows) - rows, rows)
    )
    span_width = (c1 - c0 + 1)[span_unit]
    span_start = span_row * np.int32(nx) + c0[span_unit]
    first = np.cumsum(span_width) - span_width
    n_pairs = int(first[-1] + span_width[-1]) if len(first) else 0
    cell = np.repeat(span_start - first.astype(np.int32), span_width) + np.arange(n_pairs, dtype=np.int32)
    unit = np.repeat(span_unit, span_width)
    keep = ambiguous[cell]
    cell, unit = cell[keep], unit[keep]
    slot_of_cell = np.cumsum(ambiguous, dtype=np.int64) - 1
    n_slots = int(slot_of_cell[-1]) + 1 if len(slot_of_cell) else 0
    slot = slot_of_cell[cell]
    order = np.argsort(slot, kind="stable")  # stable: candidates stay in ascending unit order per cell
    offsets = np.zeros(n_slots + 1, dtype=np.int64)
    np.cumsum(np.bincount(slot, minlength=n_slots), out=offsets[1:])
    codes = np.where(ambiguous, -2 - slot_of_cell, 0).astype(np.int32)
    return codes, offsets, unit[order]


def _build_raster(geometries: npt.NDArray[np.object_], max_cells: int) -> _Raster | None:
    """Build the cell raster for the units, or None when there is nothing to index."""
    if len(geometries) == 0 or max_cells < 1:
        return None
    minx, miny, maxx, maxy = (float(v) for v in shapely.total_bounds(geometries))
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)) or (maxx - minx) + (maxy - miny) <= 0:
        return None
    target = min(max_cells, _MAX_CELLS_LIMIT, max(_MIN_CELLS, _CELLS_PER_UNIT * len(geometries)))
    size, nx, ny = _raster_shape((minx, miny, maxx, maxy), target)
    x0, y0 = minx - size, miny - size
    parts, part_unit = shapely.get_parts(geometries, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    ring_unit = part_unit[ring_part].astype(np.int64)
    owners = _centre_owners(rings, ring_unit, x0, y0, size, nx, ny)
    if owners is None:
        return None
    boundary = _boundary_cells(rings, x0, y0, size, nx, ny).ravel()
    inv_size = 1.0 / size
    ambiguous_codes, offsets, candidates = _ambiguous_candidates(
        geometries, boundary, (x0, y0, inv_size, nx, ny)
    )
    codes = np.where(boundary, ambiguous_codes, owners).astype(np.int32)
    return _Raster(
        x0=x0, y0=y0, inv_size=inv_size, nx=nx, ny=ny, codes=codes, offsets=offsets, candidates=candidates
    )


class Locator:
    """Exact, vectorised point-in-unit lookup over a fixed set of (unit id, polygon) pairs."""

    __slots__ = ("_geometries", "_id_objects", "_ids", "_raster", "_tree")

    def __init__(
        self,
        units: Iterable[tuple[uuid.UUID, Polygon | MultiPolygon]],
        *,
        max_cells: int = _DEFAULT_MAX_CELLS,
    ) -> None:
        """Index the units (earlier units win shared boundaries); ``max_cells`` caps the raster's size."""
        ids: list[uuid.UUID] = []
        geoms: list[Polygon | MultiPolygon] = []
        for unit_id, geometry in units:
            if not isinstance(geometry, Polygon | MultiPolygon) or geometry.is_empty:
                raise ValueError(f"unit {unit_id}: geometry must be a non-empty Polygon or MultiPolygon")
            ids.append(unit_id)
            geoms.append(geometry)
        if len(set(ids)) != len(ids):
            raise ValueError("unit ids must be unique")
        self._ids: tuple[uuid.UUID, ...] = tuple(ids)
        self._geometries = np.array(geoms, dtype=object)
        shapely.prepare(self._geometries)
        if geoms:
            # GEOS builds a prepared polygon's point-in-area index lazily on first use; build it now so that
            # concurrent lookups from several threads only ever read it.
            inner = shapely.point_on_surface(self._geometries)
            shapely.intersects_xy(self._geometries, shapely.get_x(inner), shapely.get_y(inner))
        self._tree = shapely.STRtree(self._geometries)
        # Object array with a trailing None so that index -1 maps to None in one fancy-indexing step.
        self._id_objects = np.array([*ids, None], dtype=object)
        self._raster = _build_raster(self._geometries, max_cells)

    def __len__(self) -> int:
        """Number of indexed units."""
        return len(self._ids)

    @property
    def unit_ids(self) -> tuple[uuid.UUID, ...]:
        """Unit ids in input order (position = index returned by the ``*_index`` methods)."""
        return self._ids

    def geometry(self, index: int) -> Polygon | MultiPolygon:
        """The geometry of the unit at an index."""
        geom: Polygon | MultiPolygon = self._geometries[index]
        return geom

    def locate_index(self, lon: float, lat: float) -> int:
        """Index of the unit covering the point (lowest index on shared boundaries), or -1."""
        raster = self._raster
        if raster is not None:
            fx = (lon - raster.x0) * raster.inv_size
            fy = (lat - raster.y0) * raster.inv_size
            if not (0.0 <= fx < raster.nx and 0.0 <= fy < raster.ny):
                return _NONE
            code = int(raster.codes[int(fy) * raster.nx + int(fx)])
            if code > _AMBIGUOUS:
                return code
            slot = _AMBIGUOUS - code
            candidates = raster.candidates[raster.offsets[slot] : raster.offsets[slot + 1]]
        elif not self._ids or not (math.isfinite(lon) and math.isfinite(lat)):
            return _NONE
        else:
            candidates = self._tree.query(shapely.Point(lon, lat))
        for index in np.sort(candidates):
            if shapely.intersects_xy(self._geometries[index], lon, lat):
                return int(index)
        return _NONE

    def locate(self, lon: float, lat: float) -> uuid.UUID | None:
        """Id of the unit covering the WGS-84 point, or None."""
        index = self.locate_index(lon, lat)
        return self._ids[index] if index >= 0 else None

    def locate_many_index(self, lons: npt.ArrayLike, lats: npt.ArrayLike) -> IntArray:
        """Vectorised :meth:`locate_index`: an int64 array of unit indexes, -1 where no unit covers."""
        x = np.ascontiguousarray(lons, dtype=np.float64).ravel()
        y = np.ascontiguousarray(lats, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError("lons and lats must have the same number of elements")
        result = np.full(len(x), _NONE, dtype=np.int64)
        if not self._ids or len(x) == 0:
            return result
        raster = self._raster
        if raster is None:
            which = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
            point_i, unit_i = self._tree.query(shapely.points(x[which], y[which]))
            self._resolve_pairs(x, y, which, point_i, unit_i, result)
            return result
        fx = (x - raster.x0) * raster.inv_size
        fy = (y - raster.y0) * raster.inv_size
        inside = (fx >= 0.0) & (fx < raster.nx) & (fy >= 0.0) & (fy < raster.ny)
        where = np.flatnonzero(inside)
        codes = raster.codes[fy[where].astype(np.int64) * raster.nx + fx[where].astype(np.int64)]
        result[where] = codes
        ambiguous = codes <= _AMBIGUOUS
        which = where[ambiguous]
        slot = _AMBIGUOUS - codes[ambiguous].astype(np.int64)
        start = raster.offsets[slot]
        count = raster.offsets[slot + 1] - start
        point_i = np.repeat(np.arange(len(which)), count)
        pair_start = np.cumsum(count) - count
        unit_i = raster.candidates[start[point_i] + (np.arange(len(point_i)) - pair_start[point_i])]
        self._resolve_pairs(x, y, which, point_i, unit_i, result)
        return result

    def locate_many(self, lons: npt.ArrayLike, lats: npt.ArrayLike) -> list[uuid.UUID | None]:
        """Vectorised :meth:`locate`: one unit id (or None) per point, in input order."""
        index = self.locate_many_index(lons, lats)
        found: list[uuid.UUID | None] = self._id_objects[index].tolist()
        return found

    def _resolve_pairs(
        self, x: FloatArray, y: FloatArray, which: IntArray, point_i: Any, unit_i: Any, result: IntArray
    ) -> None:
        """Set ``result[which]`` from candidate (point, unit) pairs: the lowest covering unit, else -1."""
        if len(which) == 0:
            return
        px, py = x[which][point_i], y[which][point_i]
        hit = shapely.intersects_xy(self._geometries[unit_i], px, py)
        best = np.full(len(which), len(self._ids), dtype=np.int64)
        np.minimum.at(best, point_i[hit], unit_i[hit].astype(np.int64))
        best[best == len(self._ids)] = _NONE
        result[which] = best


# GEOS validity reasons (prefix of shapely.is_valid_reason) and their Chinese wording.
_REASONS_ZH = {
    "Ring Self-intersection": "环自相交",
    "Self-intersection": "边界自相交",
    "Too few points": "环的点数过少",
    "Hole lies outside shell": "内环（洞）位于外环之外",
    "Nested holes": "内环（洞）相互嵌套",
    "Nested shells": "多个面相互嵌套",
    "Interior is disconnected": "面的内部不连通",
    "Duplicate Rings": "存在重复的环",
    "Invalid Coordinate": "坐标无效",
    "Ring is not closed": "环未闭合",
}


def _refuse(message: str, **details: Any) -> ValidationFailed:
    """A ``boundary_invalid`` error with a Chinese message."""
    return ValidationFailed(f"边界数据无效：{message}", code="boundary_invalid", details=details or None)


def _parse_ring(raw: Any, where: str) -> list[tuple[float, float]]:
    """Check one GeoJSON linear ring (closed, ≥ 4 positions, finite lon/lat in range) and return it 2-D."""
    if not isinstance(raw, list):
        raise _refuse(f"{where}不是坐标数组", path=where)
    ring: list[tuple[float, float]] = []
    for k, pos in enumerate(raw):
        if (
            not isinstance(pos, list | tuple)
            or len(pos) < 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos[:2])
        ):
            raise _refuse(f"{where}第 {k + 1} 个坐标格式不正确，应为 [经度, 纬度]", path=where, position=k)
        lon, lat = float(pos[0]), float(pos[1])
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise _refuse(f"{where}第 {k + 1} 个坐标不是有限数值", path=where, position=k)
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            raise _refuse(
                f"{where}第 {k + 1} 个坐标超出经纬度范围（经度 -180~180，纬度 -90~90）：{lon}, {lat}",
                path=where,
                position=k,
                coordinate=[lon, lat],
            )
        ring.append((lon, lat))
    if len(ring) < 4:
        raise _refuse(f"{where}至少需要 4 个坐标（首尾相同），实际 {len(ring)} 个", path=where)
    if ring[0] != ring[-1]:
        raise _refuse(f"{where}未闭合：首尾坐标必须相同", path=where)
    return ring


def _parse_polygon(raw: Any, where: str) -> Polygon:
    """Build a Polygon from GeoJSON ``coordinates`` (outer ring first, then holes)."""
    if not isinstance(raw, list) or not raw:
        raise _refuse(f"{where}缺少坐标环", path=where)
    rings = [_parse_ring(r, f"{where}第 {i + 1} 个环" if i else f"{where}外环") for i, r in enumerate(raw)]
    return Polygon(rings[0], rings[1:])


def _unwrap_geometry(obj: Any) -> Mapping[str, Any]:
    """The geometry object inside a GeoJSON Feature / single-feature FeatureCollection / bare geometry."""
    if not isinstance(obj, Mapping):
        raise _refuse("应为 GeoJSON 对象")
    kind = obj.get("type")
    if kind == "FeatureCollection":
        features = obj.get("features")
        if not isinstance(features, list) or len(features) != 1:
            raise _refuse("FeatureCollection 必须恰好包含一个要素", type=kind)
        return _unwrap_geometry(features[0])
    if kind == "Feature":
        geometry = obj.get("geometry")
        if not isinstance(geometry, Mapping):
            raise _refuse("Feature 缺少 geometry", type=kind)
        return geometry
    return obj


def build_geometry(geojson: Mapping[str, Any] | str) -> Polygon | MultiPolygon:
    """Parse and validate a GeoJSON Polygon/MultiPolygon (bare, Feature or one-feature collection)."""
    if isinstance(geojson, str):
        try:
            parsed: Any = json.loads(geojson)
        except ValueError as exc:
            raise _refuse(f"不是合法的 JSON（{exc.args[0] if exc.args else exc}）") from exc
    else:
        parsed = geojson
    obj = _unwrap_geometry(parsed)
    kind = obj.get("type")
    coordinates = obj.get("coordinates")
    geometry: Polygon | MultiPolygon
    if kind == "Polygon":
        geometry = _parse_polygon(coordinates, "")
    elif kind == "MultiPolygon":
        if not isinstance(coordinates, list) or not coordinates:
            raise _refuse("MultiPolygon 缺少坐标", type=kind)
        geometry = MultiPolygon([_parse_polygon(p, f"第 {i + 1} 个面的") for i, p in enumerate(coordinates)])
    else:
        raise _refuse(f"几何类型必须是 Polygon 或 MultiPolygon，收到 {kind!r}", type=kind)
    if not shapely.is_valid(geometry):
        reason = str(shapely.is_valid_reason(geometry))
        label = next((zh for en, zh in _REASONS_ZH.items() if reason.startswith(en)), "几何不合法")
        details: dict[str, Any] = {"reason": reason}
        location = reason[reason.find("[") + 1 : reason.rfind("]")].split() if "[" in reason else []
        if len(location) >= 2:
            details["location"] = [float(location[0]), float(location[1])]
            label += f"（位置约 {location[0]}, {location[1]}）"
        raise _refuse(label, **details)
    if shapely.area(geometry) <= 0:
        raise _refuse("面积为零", type=kind)
    oriented: Polygon | MultiPolygon = shapely.orient_polygons(geometry, exterior_cw=False)
    return oriented
