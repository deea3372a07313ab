"""Synthetic but plausible boundaries for demo data: an irregular district outline and its subdivision.

Everything is in WGS-84 degrees (lon, lat) and deterministic for a given ``seed``.

* :func:`district_outline` draws a simple, noisy star-shaped ring of a requested area.
* :func:`partition` splits a polygon into ``n`` contiguous, non-overlapping, gap-free pieces of roughly
  equal area: a centroidal Voronoi tessellation (Lloyd's algorithm) computed in a locally isotropic frame
  (longitude scaled by cos(latitude)), clipped to the parent with snap-rounding to a 1e-9° grid so that
  neighbouring pieces share identical edge vertices. Clipping a Voronoi cell to a non-convex parent may
  leave disconnected slivers; each sliver is merged into the neighbour it shares the longest edge with, so
  every piece is a single valid :class:`~shapely.Polygon`.

Applying :func:`partition` level by level (district → streets → communities → grids) gives a nested
hierarchy whose children tile their parent up to the 1e-9° (≈0.1 mm) snapping grid.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import shapely
from shapely import MultiPolygon, Polygon

__all__ = ["GRID_SIZE_DEG", "approx_area_km2", "district_outline", "partition"]

# Snap-rounding grid for clipped pieces, degrees (≈0.1 mm on the ground).
GRID_SIZE_DEG = 1e-9

# Kilometres per degree of latitude, and of longitude at the equator (local equirectangular approximation).
_KM_PER_DEG_LAT = 110.574
_KM_PER_DEG_LON_EQ = 111.320

# Small n: k-means on random sample points (cheap, numpy), polished by a few exact Lloyd rounds on clipped
# Voronoi cells. Large n (distance matrix too big): exact Lloyd from random seeds. Measured on the demo
# hierarchy: area coefficient of variation ≈ 0.10 within one partition.
_SAMPLES_PER_PIECE = 40
_KMEANS_ITERATIONS = 10
_KMEANS_MAX_ELEMENTS = 4_000_000
_LLOYD_POLISH_ITERATIONS = 6
_LLOYD_ITERATIONS = 20
_MAX_FRAGMENT_ROUNDS = 10_000


def approx_area_km2(geometry: Polygon | MultiPolygon) -> float:
    """Area in km² by a local equirectangular projection at the centroid latitude (fine at district scale)."""
    lat0 = shapely.get_y(shapely.centroid(geometry))
    return float(shapely.area(geometry)) * _KM_PER_DEG_LAT * _KM_PER_DEG_LON_EQ * math.cos(math.radians(lat0))


def district_outline(center_lon: float, center_lat: float, area_km2: float, seed: int) -> Polygon:
    """An irregular simple polygon (noisy star-shaped ring) of about ``area_km2`` centred on the point."""
    if area_km2 <= 0:
        raise ValueError("area_km2 must be positive")
    rng = np.random.default_rng(seed)
    m = 96
    step = 2.0 * math.pi / m
    # Strictly increasing angles and positive radii keep a star-shaped ring simple.
    theta = np.arange(m) * step + rng.uniform(-0.3, 0.3, m) * step
    radius = np.ones(m)
    for h in range(2, 8):
        radius += rng.uniform(0.0, 0.22 / h**0.8) * np.cos(h * theta + rng.uniform(0.0, 2.0 * math.pi))
    radius += rng.normal(0.0, 0.025, m)
    radius = np.clip(radius, 0.35, None)
    x = radius * np.cos(theta)
    y = radius * np.sin(theta)
    unit_area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    scale = math.sqrt(area_km2 / unit_area)
    km_per_deg_lon = _KM_PER_DEG_LON_EQ * math.cos(math.radians(center_lat))
    lon = np.round(center_lon + x * scale / km_per_deg_lon, 7)
    lat = np.round(center_lat + y * scale / _KM_PER_DEG_LAT, 7)
    ring = np.column_stack([lon, lat])
    return shapely.orient_polygons(Polygon(ring), exterior_cw=False)


def _random_points_in(
    polygon: Polygon | MultiPolygon, count: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """``count`` uniformly random points inside the polygon, as an (count, 2) array."""
    minx, miny, maxx, maxy = polygon.bounds
    shapely.prepare(polygon)
    found: list[npt.NDArray[np.float64]] = []
    have = 0
    while have < count:
        batch = max(64, 2 * (count - have))
        xs = rng.uniform(minx, maxx, batch)
        ys = rng.uniform(miny, maxy, batch)
        inside = shapely.contains_xy(polygon, xs, ys)
        pts = np.column_stack([xs[inside], ys[inside]])
        found.append(pts)
        have += len(pts)
    return np.concatenate(found)[:count]


def _clipped_voronoi(
    parent: Polygon | MultiPolygon, seeds: npt.NDArray[np.float64], kx: float, snap: bool
) -> npt.NDArray[np.object_]:
    """Voronoi cells of ``seeds`` (isotropic in the x-scaled frame), clipped to the parent, in seed order."""
    scaled = seeds * np.array([kx, 1.0])
    minx, miny, maxx, maxy = parent.bounds
    pad = max(maxx - minx, maxy - miny)
    frame = shapely.box(minx * kx - pad, miny - pad, maxx * kx + pad, maxy + pad)
    diagram = shapely.voronoi_polygons(shapely.multipoints(scaled), extend_to=frame, ordered=True)
    cells = shapely.get_parts(diagram)
    if len(cells) != len(seeds):
        raise RuntimeError("duplicate partition seeds")
    cells = shapely.transform(cells, lambda c: c / np.array([kx, 1.0]))
    clipped: npt.NDArray[np.object_] = shapely.intersection(
        cells, parent, grid_size=GRID_SIZE_DEG if snap else None
    )
    return clipped


def _polygon_parts(geometry: shapely.Geometry) -> list[Polygon]:
    """The non-empty polygonal parts of a geometry, largest first."""
    parts = [
        p for p in shapely.get_parts(geometry) if isinstance(p, Polygon) and not p.is_empty and p.area > 0
    ]
    return sorted(parts, key=lambda p: -p.area)


def _merge_fragments(pieces: list[Polygon], fragments: list[Polygon]) -> list[Polygon]:
    """Merge each fragment into the piece sharing the longest edge with it, until all pieces are single."""
    eps = GRID_SIZE_DEG * 10
    queue = sorted(fragments, key=lambda p: -p.area)
    for _ in range(_MAX_FRAGMENT_ROUNDS):
        if not queue:
            return pieces
        frag = queue.pop(0)
        boundaries = shapely.boundary(np.array(pieces, dtype=object))
        shared = shapely.length(shapely.intersection(boundaries, shapely.buffer(frag, eps)))
        if float(shared.max()) <= 0.0:
            # Degenerate contact (corner only): fall back to the nearest piece.
            shared = -shapely.distance(np.array(pieces, dtype=object), frag)
        target = int(np.argmax(shared))
        merged = _polygon_parts(shapely.union(pieces[target], frag, grid_size=GRID_SIZE_DEG))
        if not merged:
            continue
        pieces[target] = merged[0]
        queue.extend(merged[1:])
    raise RuntimeError("could not merge partition fragments")


def _nearest(points: npt.NDArray[np.float64], centres: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """Index of the nearest centre for every point."""
    dx = points[:, 0, None] - centres[None, :, 0]
    dy = points[:, 1, None] - centres[None, :, 1]
    return np.asarray((dx * dx + dy * dy).argmin(axis=1))


def _kmeans_centres(
    points: npt.NDArray[np.float64], n: int, rng: np.random.Generator, iterations: int
) -> npt.NDArray[np.float64] | None:
    """Lloyd's k-means on sample points (k-means++ start); None unless every centre owns a point."""
    centres = np.empty((n, 2))
    centres[0] = points[rng.integers(len(points))]
    d2 = ((points - centres[0]) ** 2).sum(axis=1)
    for k in range(1, n):
        centres[k] = points[rng.choice(len(points), p=d2 / d2.sum())]
        d2 = np.minimum(d2, ((points - centres[k]) ** 2).sum(axis=1))
    labels = _nearest(points, centres)
    for _ in range(iterations):
        counts = np.bincount(labels, minlength=n)
        if counts.min() == 0:
            return None
        sx = np.bincount(labels, weights=points[:, 0], minlength=n)
        sy = np.bincount(labels, weights=points[:, 1], minlength=n)
        updated = np.column_stack([sx / counts, sy / counts])
        new_labels = _nearest(points, updated)
        if np.bincount(new_labels, minlength=n).min() == 0:
            break
        centres = updated
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    # Every centre owns a sample point, so its Voronoi cell meets the parent and clipping cannot empty it.
    return centres


def _lloyd_seeds(
    polygon: Polygon | MultiPolygon, seeds: npt.NDArray[np.float64], kx: float, iterations: int
) -> npt.NDArray[np.float64]:
    """Lloyd's algorithm on exact clipped Voronoi cells (used when n is too large for sample k-means)."""
    n = len(seeds)
    for _ in range(iterations):
        cells = _clipped_voronoi(polygon, seeds, kx, snap=False)
        empty = shapely.is_empty(cells)
        centroids = shapely.centroid(cells)
        outside = ~empty & ~shapely.contains(polygon, centroids)
        centroids[outside] = shapely.point_on_surface(cells[outside])
        if empty.any():
            break
        moved = shapely.get_coordinates(centroids)
        if len(moved) != n or len({(float(x), float(y)) for x, y in moved}) != n:
            break
        seeds = moved
    return seeds


def partition(polygon: Polygon | MultiPolygon, n: int, seed: int) -> list[Polygon]:
    """Split a polygon into ``n`` contiguous, non-overlapping, gap-free pieces of roughly equal area."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if not isinstance(polygon, Polygon | MultiPolygon) or polygon.is_empty or not polygon.is_valid:
        raise ValueError("partition needs a valid, non-empty Polygon or MultiPolygon")
    if n == 1:
        parts = _polygon_parts(polygon)
        if len(parts) != 1:
            raise ValueError("a MultiPolygon cannot be one contiguous piece")
        return parts
    rng = np.random.default_rng(seed)
    kx = math.cos(math.radians(shapely.get_y(shapely.centroid(polygon))))
    shapely.prepare(polygon)
    scale = np.array([kx, 1.0])
    centres: npt.NDArray[np.float64] | None = None
    if n * n * _SAMPLES_PER_PIECE <= _KMEANS_MAX_ELEMENTS:
        samples = _random_points_in(polygon, n * _SAMPLES_PER_PIECE, rng) * scale
        centres = _kmeans_centres(samples, n, rng, _KMEANS_ITERATIONS)
    if centres is not None:
        seeds = _lloyd_seeds(polygon, centres / scale, kx, _LLOYD_POLISH_ITERATIONS)
    else:
        seeds = _lloyd_seeds(polygon, _random_points_in(polygon, n, rng), kx, _LLOYD_ITERATIONS)
    cells = _clipped_voronoi(polygon, seeds, kx, snap=True)
    pieces: list[Polygon] = []
    fragments: list[Polygon] = []
    for cell in cells:
        parts = _polygon_parts(cell)
        if not parts:
            raise RuntimeError("a partition piece vanished while clipping")
        pieces.append(parts[0])
        fragments.extend(parts[1:])
    pieces = _merge_fragments(pieces, fragments)
    return [shapely.orient_polygons(p, exterior_cw=False) for p in pieces]
