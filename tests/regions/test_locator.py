"""Point-in-grid lookup (:class:`Locator`) and GeoJSON boundary parsing (:func:`build_geometry`)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import numpy as np
import pytest
import shapely
from shapely import MultiPolygon, Polygon, box

from zhili.core.errors import ValidationFailed
from zhili.regions.locator import Locator, build_geometry
from zhili.seed.geometry import district_outline, partition

A, B, C, D, E = (uuid.UUID(int=i) for i in range(1, 6))
X0, Y0, S = 120.0, 30.0, 0.01  # a 2 x 2 block of 0.01° squares; shared vertex at (120.01, 30.01)


def _square(col: int, row: int) -> Polygon:
    return box(X0 + col * S, Y0 + row * S, X0 + (col + 1) * S, Y0 + (row + 1) * S)


def _four_squares(order: tuple[int, ...] = (0, 1, 2, 3)) -> tuple[Locator, list[uuid.UUID]]:
    cells = [(A, _square(0, 0)), (B, _square(1, 0)), (C, _square(0, 1)), (D, _square(1, 1))]
    units = [cells[i] for i in order]
    return Locator(units), [u for u, _ in units]


def _brute_force(geometries: list[Polygon | MultiPolygon], lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Reference answer: lowest index whose geometry covers the point, else -1."""
    result = np.full(len(lons), -1, dtype=np.int64)
    for index in reversed(range(len(geometries))):
        result[shapely.intersects_xy(geometries[index], lons, lats)] = index
    return result


def _demo_grids() -> list[Polygon]:
    outline = district_outline(119.91, 31.01, 60.0, seed=5)
    grids: list[Polygon] = []
    for i, community in enumerate(partition(outline, 6, seed=6)):
        grids.extend(partition(community, 9, seed=100 + i))
    return grids


def test_point_inside_a_grid_is_located() -> None:
    locator, _ = _four_squares()
    assert locator.locate(120.005, 30.005) == A
    assert locator.locate(120.015, 30.015) == D
    assert locator.locate_index(120.015, 30.005) == 1


def test_point_outside_every_grid_is_not_located() -> None:
    locator = Locator([(A, _square(0, 0)), (D, _square(1, 1))])
    assert locator.locate(121.0, 31.0) is None  # far outside the bounding box
    assert locator.locate(120.015, 30.005) is None  # inside the bounding box, between the two grids
    assert locator.locate_index(120.015, 30.005) == -1


def test_point_on_the_outer_boundary_is_located() -> None:
    locator, _ = _four_squares()
    assert locator.locate(120.0, 30.005) == A
    assert locator.locate(120.02, 30.02) == D


def test_point_in_a_hole_is_not_located() -> None:
    donut = Polygon(
        [(120.0, 30.0), (120.03, 30.0), (120.03, 30.03), (120.0, 30.03)],
        [[(120.01, 30.01), (120.02, 30.01), (120.02, 30.02), (120.01, 30.02)]],
    )
    locator = Locator([(A, donut)])
    assert locator.locate(120.015, 30.015) is None
    assert locator.locate(120.005, 30.015) == A
    assert locator.locate(120.01, 30.015) == A  # the hole's edge belongs to the polygon


def test_point_in_a_hole_covered_by_another_grid_is_located_in_that_grid() -> None:
    hole = [(120.01, 30.01), (120.02, 30.01), (120.02, 30.02), (120.01, 30.02)]
    donut = Polygon([(120.0, 30.0), (120.03, 30.0), (120.03, 30.03), (120.0, 30.03)], [hole])
    locator = Locator([(A, donut), (B, Polygon(hole))])
    assert locator.locate(120.015, 30.015) == B
    assert locator.locate(120.005, 30.005) == A
    assert locator.locate(120.01, 30.015) == A  # shared edge: the earlier unit wins


def test_point_on_a_shared_edge_goes_to_the_grid_listed_first() -> None:
    locator, _ = _four_squares()
    assert locator.locate(120.01, 30.005) == A
    swapped, _ = _four_squares(order=(1, 0, 2, 3))
    assert swapped.locate(120.01, 30.005) == B


def test_point_on_a_vertex_shared_by_four_grids_goes_to_the_grid_listed_first() -> None:
    for order in [(0, 1, 2, 3), (3, 2, 1, 0), (2, 0, 3, 1)]:
        locator, ids = _four_squares(order)
        assert locator.locate(120.01, 30.01) == ids[0]
        assert locator.locate_many([120.01], [30.01]) == [ids[0]]


def test_multipolygon_grid_locates_points_in_each_part() -> None:
    two_islands = MultiPolygon([_square(0, 0), _square(2, 2)])
    locator = Locator([(A, two_islands), (B, _square(1, 1))])
    assert locator.locate(120.005, 30.005) == A
    assert locator.locate(120.025, 30.025) == A
    assert locator.locate(120.015, 30.015) == B
    assert locator.locate(120.025, 30.005) is None


def test_overlapping_grids_resolve_to_the_grid_listed_first() -> None:
    locator = Locator([(A, box(120.0, 30.0, 120.02, 30.02)), (B, box(120.01, 30.01, 120.03, 30.03))])
    assert locator.locate(120.015, 30.015) == A
    assert locator.locate(120.025, 30.025) == B


def test_batch_locate_equals_scalar_and_brute_force_on_random_points() -> None:
    grids = _demo_grids()
    locator = Locator([(uuid.UUID(int=i + 1), g) for i, g in enumerate(grids)])
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = shapely.total_bounds(np.array(grids, dtype=object))
    lons = rng.uniform(minx - 0.01, maxx + 0.01, 20_000)
    lats = rng.uniform(miny - 0.01, maxy + 0.01, 20_000)
    batch = locator.locate_many_index(lons, lats)
    np.testing.assert_array_equal(batch, _brute_force(grids, lons, lats))
    scalar = np.array([locator.locate_index(float(x), float(y)) for x, y in zip(lons, lats, strict=True)])
    np.testing.assert_array_equal(batch, scalar)
    assert 0.3 < (batch >= 0).mean() < 0.95


def test_every_grid_vertex_is_located_and_batch_equals_scalar_on_boundaries() -> None:
    grids = _demo_grids()
    locator = Locator([(uuid.UUID(int=i + 1), g) for i, g in enumerate(grids)])
    vertices = shapely.get_coordinates(np.array(grids, dtype=object))
    # Points on edges (midpoints) as well as on vertices, where two, three or more grids meet.
    rings = shapely.get_coordinates(
        shapely.get_exterior_ring(np.array(grids, dtype=object)), return_index=True
    )
    xy, ring = rings
    same = ring[:-1] == ring[1:]
    midpoints = ((xy[:-1] + xy[1:]) / 2)[same]
    points = np.vstack([vertices, midpoints])
    batch = locator.locate_many_index(points[:, 0], points[:, 1])
    assert (batch[: len(vertices)] >= 0).all()
    np.testing.assert_array_equal(batch, _brute_force(grids, points[:, 0], points[:, 1]))
    scalar = [locator.locate_index(float(x), float(y)) for x, y in points]
    np.testing.assert_array_equal(batch, scalar)


@pytest.mark.parametrize("max_cells", [0, 1, 5_000])
def test_any_raster_budget_gives_the_same_answers(max_cells: int) -> None:
    grids = _demo_grids()
    units = [(uuid.UUID(int=i + 1), g) for i, g in enumerate(grids)]
    rng = np.random.default_rng(8)
    minx, miny, maxx, maxy = shapely.total_bounds(np.array(grids, dtype=object))
    lons, lats = rng.uniform(minx, maxx, 5_000), rng.uniform(miny, maxy, 5_000)
    expected = Locator(units).locate_many_index(lons, lats)
    small = Locator(units, max_cells=max_cells)
    np.testing.assert_array_equal(small.locate_many_index(lons, lats), expected)
    assert [
        small.locate_index(float(x), float(y)) for x, y in zip(lons[:500], lats[:500], strict=True)
    ] == list(expected[:500])


def test_locate_many_returns_ids_in_input_order() -> None:
    locator, _ = _four_squares()
    lons = np.array([120.015, 121.0, 120.005, 120.015])
    lats = np.array([30.015, 30.0, 30.005, 30.005])
    assert locator.locate_many(lons, lats) == [D, None, A, B]
    np.testing.assert_array_equal(locator.locate_many_index(lons, lats), [3, -1, 0, 1])
    assert locator.locate_many_index(lons, lats).dtype == np.int64


def test_nan_coordinates_and_empty_batches_are_not_located() -> None:
    locator, _ = _four_squares()
    assert locator.locate(float("nan"), 30.005) is None
    assert locator.locate_many([float("nan"), 120.005], [30.005, float("inf")]) == [None, None]
    assert locator.locate_many([], []) == []


def test_a_locator_without_units_locates_nothing() -> None:
    locator = Locator([])
    assert len(locator) == 0
    assert locator.locate(120.0, 30.0) is None
    assert locator.locate_many([120.0], [30.0]) == [None]


def test_mismatched_batch_lengths_are_refused() -> None:
    locator, _ = _four_squares()
    with pytest.raises(ValueError, match="same number"):
        locator.locate_many_index([120.0, 120.1], [30.0])


def test_duplicate_ids_and_non_polygons_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        Locator([(A, _square(0, 0)), (A, _square(1, 0))])
    with pytest.raises(ValueError, match="Polygon"):
        Locator([(A, shapely.Point(120.0, 30.0))])


def test_locator_exposes_ids_and_geometries_in_input_order() -> None:
    locator, ids = _four_squares(order=(2, 0, 1, 3))
    assert locator.unit_ids == tuple(ids)
    assert locator.geometry(0).equals(_square(0, 1))


# --- build_geometry -----------------------------------------------------------------------------------------

SQUARE = [[120.0, 30.0], [120.01, 30.0], [120.01, 30.01], [120.0, 30.01], [120.0, 30.0]]


def test_a_geojson_polygon_is_parsed_and_oriented_counter_clockwise() -> None:
    geom = build_geometry({"type": "Polygon", "coordinates": [list(reversed(SQUARE))]})
    assert isinstance(geom, Polygon)
    assert geom.exterior.is_ccw
    assert geom.area == pytest.approx(1e-4)


def test_a_feature_a_json_string_and_a_one_feature_collection_are_accepted() -> None:
    polygon = {"type": "Polygon", "coordinates": [SQUARE]}
    feature = {"type": "Feature", "properties": {"name": "一网格"}, "geometry": polygon}
    assert build_geometry(feature).equals(box(120.0, 30.0, 120.01, 30.01))
    assert build_geometry(json.dumps(feature)).equals(box(120.0, 30.0, 120.01, 30.01))
    assert build_geometry({"type": "FeatureCollection", "features": [feature]}).equals(
        box(120.0, 30.0, 120.01, 30.01)
    )


def test_a_multipolygon_with_holes_and_3d_positions_is_accepted() -> None:
    outer = [
        [x, y, 12.5]
        for x, y in [[120.0, 30.0], [120.03, 30.0], [120.03, 30.03], [120.0, 30.03], [120.0, 30.0]]
    ]
    hole = [[120.01, 30.01], [120.01, 30.02], [120.02, 30.02], [120.02, 30.01], [120.01, 30.01]]
    island = [[x + 0.1, y] for x, y in SQUARE]
    geom = build_geometry({"type": "MultiPolygon", "coordinates": [[outer, hole], [island]]})
    assert isinstance(geom, MultiPolygon)
    assert len(geom.geoms) == 2
    assert not geom.has_z
    assert geom.geoms[0].area == pytest.approx(9e-4 - 1e-4)


BOWTIE = [[120.0, 30.0], [120.01, 30.01], [120.01, 30.0], [120.0, 30.01], [120.0, 30.0]]

INVALID_CASES: list[tuple[str, Any, str]] = [
    ("self_intersection", {"type": "Polygon", "coordinates": [BOWTIE]}, "自相交"),
    ("unclosed_ring", {"type": "Polygon", "coordinates": [SQUARE[:-1]]}, "未闭合"),
    (
        "too_few_points",
        {"type": "Polygon", "coordinates": [[[120.0, 30.0], [120.01, 30.0], [120.0, 30.0]]]},
        "至少",
    ),
    ("wrong_type", {"type": "LineString", "coordinates": SQUARE}, "Polygon 或 MultiPolygon"),
    ("point_type", {"type": "Point", "coordinates": [120.0, 30.0]}, "Polygon 或 MultiPolygon"),
    (
        "lon_out_of_range",
        {"type": "Polygon", "coordinates": [[[200.0, 30.0], *SQUARE[1:-1], [200.0, 30.0]]]},
        "超出",
    ),
    (
        "lat_out_of_range",
        {"type": "Polygon", "coordinates": [[[120.0, 95.0], *SQUARE[1:-1], [120.0, 95.0]]]},
        "超出",
    ),
    ("not_a_number", {"type": "Polygon", "coordinates": [[["120", 30.0], *SQUARE[1:]]]}, "格式不正确"),
    ("missing_coordinates", {"type": "Polygon"}, "缺少"),
    ("not_json", "{type: Polygon", "JSON"),
    ("not_an_object", [1, 2, 3], "GeoJSON 对象"),
    ("empty_feature", {"type": "Feature", "geometry": None}, "geometry"),
    (
        "hole_outside_shell",
        {
            "type": "Polygon",
            "coordinates": [SQUARE, [[121.0, 31.0], [121.01, 31.0], [121.01, 31.01], [121.0, 31.0]]],
        },
        "洞",
    ),
    (
        "overlapping_parts",
        {
            "type": "MultiPolygon",
            "coordinates": [[SQUARE], [[[120.005, 30.005], *SQUARE[1:-1], [120.005, 30.005]]]],
        },
        "边界数据无效",
    ),
]


@pytest.mark.parametrize(("case", "geojson", "expected"), INVALID_CASES, ids=[c[0] for c in INVALID_CASES])
def test_invalid_geojson_is_refused_with_a_chinese_message_and_code(
    case: str, geojson: Any, expected: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        build_geometry(geojson)
    error = caught.value
    assert error.code == "boundary_invalid"
    assert error.status == 422
    assert error.message.startswith("边界数据无效")
    assert expected in error.message, error.message


def test_a_self_intersection_reports_the_geos_reason_and_location() -> None:
    with pytest.raises(ValidationFailed) as caught:
        build_geometry({"type": "Polygon", "coordinates": [BOWTIE]})
    details = caught.value.details
    assert details["reason"].startswith("Self-intersection")
    assert details["location"] == pytest.approx([120.005, 30.005])
