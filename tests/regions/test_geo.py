"""Coordinate conversions (WGS-84 / GCJ-02 / BD-09) and great-circle distance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zhili.regions import geo

TIANANMEN_WGS = (116.391, 39.907)
CHANGXING_WGS = (119.91, 31.01)


def test_wgs84_to_gcj02_shifts_tiananmen_by_the_known_offset() -> None:
    lon, lat = geo.wgs84_to_gcj02(*TIANANMEN_WGS)
    assert lon - TIANANMEN_WGS[0] == pytest.approx(0.00624, abs=2e-5)
    assert lat - TIANANMEN_WGS[1] == pytest.approx(0.00140, abs=2e-5)


def test_gcj02_offset_in_changxing_is_a_few_hundred_metres() -> None:
    shifted = geo.wgs84_to_gcj02(*CHANGXING_WGS)
    assert 300 < geo.haversine_m(*CHANGXING_WGS, *shifted) < 700


@pytest.mark.parametrize(
    "point", [TIANANMEN_WGS, CHANGXING_WGS, (87.6, 43.8), (126.6, 45.75), (109.5, 18.25)]
)
def test_gcj02_round_trip_error_is_below_half_a_metre(point: tuple[float, float]) -> None:
    back = geo.gcj02_to_wgs84(*geo.wgs84_to_gcj02(*point))
    assert geo.haversine_m(*point, *back) < 0.5


def test_gcj02_round_trip_is_accurate_across_china_vectorised() -> None:
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(73.0, 135.0, 20_000), rng.uniform(18.0, 53.0, 20_000)
    back_lon, back_lat = geo.gcj02_to_wgs84_array(*geo.wgs84_to_gcj02_array(lon, lat))
    assert geo.haversine_m_array(lon, lat, back_lon, back_lat).max() < 0.01


@pytest.mark.parametrize("point", [(2.35, 48.85), (-74.0, 40.7), (151.2, -33.9), (139.0, 60.0)])
def test_points_outside_china_pass_through_unchanged(point: tuple[float, float]) -> None:
    assert geo.out_of_china(*point)
    assert geo.wgs84_to_gcj02(*point) == point
    assert geo.gcj02_to_wgs84(*point) == point
    lon, lat = geo.wgs84_to_gcj02_array([point[0]], [point[1]])
    assert (lon[0], lat[0]) == point


def test_out_of_china_uses_the_standard_rectangle() -> None:
    assert not geo.out_of_china(*TIANANMEN_WGS)
    assert geo.out_of_china(72.0, 30.0)
    assert geo.out_of_china(120.0, 56.0)
    np.testing.assert_array_equal(geo.out_of_china_array([116.4, 2.35], [39.9, 48.85]), [False, True])


def test_vectorised_conversions_match_scalar_ones() -> None:
    rng = np.random.default_rng(2)
    lon, lat = rng.uniform(70.0, 140.0, 200), rng.uniform(0.0, 58.0, 200)
    pairs = [
        (geo.wgs84_to_gcj02, geo.wgs84_to_gcj02_array),
        (geo.gcj02_to_wgs84, geo.gcj02_to_wgs84_array),
        (geo.gcj02_to_bd09, geo.gcj02_to_bd09_array),
        (geo.bd09_to_gcj02, geo.bd09_to_gcj02_array),
        (geo.wgs84_to_bd09, geo.wgs84_to_bd09_array),
        (geo.bd09_to_wgs84, geo.bd09_to_wgs84_array),
    ]
    for scalar, vectorised in pairs:
        vx, vy = vectorised(lon, lat)
        expected = np.array([scalar(float(x), float(y)) for x, y in zip(lon, lat, strict=True)])
        np.testing.assert_allclose(vx, expected[:, 0], rtol=0, atol=1e-9, err_msg=scalar.__name__)
        np.testing.assert_allclose(vy, expected[:, 1], rtol=0, atol=1e-9, err_msg=scalar.__name__)


def test_vectorised_conversions_accept_scalars_and_broadcast() -> None:
    lon, lat = geo.wgs84_to_gcj02_array(116.391, [39.9, 39.907])
    assert lon.shape == lat.shape == (2,)


def test_bd09_is_gcj02_plus_the_baidu_offset() -> None:
    gcj = geo.wgs84_to_gcj02(*TIANANMEN_WGS)
    bd = geo.gcj02_to_bd09(*gcj)
    assert bd[0] - gcj[0] == pytest.approx(0.0064, abs=5e-4)
    assert bd[1] - gcj[1] == pytest.approx(0.0060, abs=5e-4)
    assert geo.wgs84_to_bd09(*TIANANMEN_WGS) == bd


def test_bd09_round_trips_to_wgs84_within_a_centimetre() -> None:
    for point in (TIANANMEN_WGS, CHANGXING_WGS):
        back = geo.bd09_to_wgs84(*geo.wgs84_to_bd09(*point))
        assert geo.haversine_m(*point, *back) < 0.01


def test_haversine_matches_known_distances() -> None:
    assert geo.haversine_m(*TIANANMEN_WGS, *TIANANMEN_WGS) == 0.0
    # One degree of latitude on the mean sphere.
    assert geo.haversine_m(120.0, 30.0, 120.0, 31.0) == pytest.approx(math.radians(1) * geo.EARTH_RADIUS_M)
    # Beijing - Shanghai, about 1,068 km.
    assert geo.haversine_m(116.391, 39.907, 121.47, 31.23) == pytest.approx(1_068_000, rel=0.01)
    # Antipodes do not fail on rounding.
    assert geo.haversine_m(0.0, 0.0, 180.0, 0.0) == pytest.approx(math.pi * geo.EARTH_RADIUS_M)


def test_haversine_vectorised_matches_scalar_and_broadcasts() -> None:
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(73.0, 135.0, 100), rng.uniform(18.0, 53.0, 100)
    distances = geo.haversine_m_array(lon, lat, 119.91, 31.01)
    expected = [geo.haversine_m(float(x), float(y), 119.91, 31.01) for x, y in zip(lon, lat, strict=True)]
    np.testing.assert_allclose(distances, expected, rtol=1e-12)
