"""Synthetic demo boundaries: district outline and equal-area partitions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import shapely
from shapely import Polygon

from zhili.seed.geometry import approx_area_km2, district_outline, partition

CHANGXING = (119.91, 31.01)


@pytest.fixture(scope="module")
def outline() -> Polygon:
    return district_outline(*CHANGXING, 1430.0, seed=11)


def _assert_tiles(parent: Polygon, pieces: list[Polygon], n: int) -> None:
    """Pieces are n single valid polygons, pairwise non-overlapping, whose union is the parent."""
    assert len(pieces) == n
    assert all(isinstance(p, Polygon) and p.is_valid and not p.is_empty for p in pieces)
    total = sum(p.area for p in pieces)
    assert total == pytest.approx(parent.area, rel=1e-7)
    overlap = sum(a.intersection(b).area for a, b in itertools.combinations(pieces, 2))
    assert overlap < parent.area * 1e-9
    union = shapely.union_all(pieces)
    assert shapely.symmetric_difference(union, parent).area < parent.area * 1e-7


def test_district_outline_is_a_simple_polygon_of_the_requested_area(outline: Polygon) -> None:
    assert isinstance(outline, Polygon)
    assert outline.is_valid
    assert outline.exterior.is_simple
    assert outline.exterior.is_ccw
    assert approx_area_km2(outline) == pytest.approx(1430.0, rel=0.01)
    assert outline.centroid.distance(shapely.Point(*CHANGXING)) < 0.1


def test_district_outline_is_irregular_not_a_circle(outline: Polygon) -> None:
    # Isoperimetric quotient: 1.0 for a circle; noise and lobes pull it down.
    quotient = 4 * np.pi * outline.area / outline.length**2
    assert 0.4 < quotient < 0.97


def test_district_outline_is_deterministic_per_seed() -> None:
    assert district_outline(*CHANGXING, 100.0, seed=3).equals_exact(
        district_outline(*CHANGXING, 100.0, seed=3), 0
    )
    assert not district_outline(*CHANGXING, 100.0, seed=3).equals(district_outline(*CHANGXING, 100.0, seed=4))


def test_district_outline_refuses_a_non_positive_area() -> None:
    with pytest.raises(ValueError):
        district_outline(*CHANGXING, 0.0, seed=1)


def test_partition_tiles_the_parent_without_overlaps_or_gaps(outline: Polygon) -> None:
    pieces = partition(outline, 10, seed=1)
    _assert_tiles(outline, pieces, 10)


def test_partition_pieces_have_roughly_equal_areas(outline: Polygon) -> None:
    areas = np.array([p.area for p in partition(outline, 12, seed=2)])
    assert areas.std() / areas.mean() < 0.25
    assert areas.max() / areas.min() < 2.5


def test_partition_is_deterministic_per_seed(outline: Polygon) -> None:
    first = partition(outline, 8, seed=5)
    again = partition(outline, 8, seed=5)
    other = partition(outline, 8, seed=6)
    assert all(a.equals_exact(b, 0) for a, b in zip(first, again, strict=True))
    assert not all(a.equals(b) for a, b in zip(first, other, strict=True))


def test_partition_into_one_piece_returns_the_parent(outline: Polygon) -> None:
    (piece,) = partition(outline, 1, seed=0)
    assert piece.equals(outline)


def test_partition_of_a_concave_parent_merges_slivers_into_single_polygons() -> None:
    # A comb: Voronoi cells clipped to it fall apart into disconnected teeth, which must be re-attached.
    teeth = [shapely.box(120.0 + i * 0.02, 30.0, 120.01 + i * 0.02, 30.08) for i in range(6)]
    comb = shapely.union_all([shapely.box(120.0, 30.0, 120.11, 30.01), *teeth])
    assert isinstance(comb, Polygon)
    for seed in range(5):
        _assert_tiles(comb, partition(comb, 7, seed=seed), 7)


def test_partition_handles_a_parent_with_a_hole() -> None:
    donut = Polygon(
        [(120.0, 30.0), (120.1, 30.0), (120.1, 30.1), (120.0, 30.1)],
        [[(120.03, 30.03), (120.07, 30.03), (120.07, 30.07), (120.03, 30.07)]],
    )
    _assert_tiles(donut, partition(donut, 9, seed=4), 9)


def test_partition_refuses_bad_arguments(outline: Polygon) -> None:
    with pytest.raises(ValueError):
        partition(outline, 0, seed=1)
    with pytest.raises(ValueError):
        partition(Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]), 3, seed=1)


def test_large_demo_hierarchy_nests_and_is_built_quickly(outline: Polygon) -> None:
    import time

    started = time.perf_counter()
    streets = partition(outline, 10, seed=1)
    communities = [c for i, s in enumerate(streets) for c in partition(s, 12, seed=100 + i)]
    grids = [g for j, c in enumerate(communities) for g in partition(c, 12 + (j % 2), seed=1000 + j)]
    elapsed = time.perf_counter() - started
    assert (len(streets), len(communities), len(grids)) == (10, 120, 1500)
    assert all(isinstance(g, Polygon) and g.is_valid for g in grids)
    areas = np.array([g.area for g in grids])
    assert areas.sum() == pytest.approx(outline.area, rel=1e-6)
    # Every grid lies inside its district; sum of grid areas equals the district (no overlaps, no gaps).
    assert shapely.union_all(grids).symmetric_difference(outline).area < outline.area * 1e-6
    assert elapsed < 20.0  # a few seconds on a 2-core machine; generous bound against CI noise
