"""Coordinate systems used in China, conversions between them, and great-circle distances.

The platform stores every coordinate in **WGS-84** (EPSG:4326, what GPS receivers and PostGIS speak).
Other sources use obfuscated datums required by Chinese surveying regulations:

* **GCJ-02** ("Mars coordinates", 国测局坐标): phones' built-in map SDKs, Amap (高德), Tencent Maps (腾讯),
  WeChat ``wx.getLocation(type="gcj02")``. It is WGS-84 plus a non-linear offset of a few hundred metres.
* **BD-09** (百度坐标): Baidu Maps, an extra transform applied on top of GCJ-02.

Convert at the edge: whatever arrives from a client or an import is converted to WGS-84 before it is
stored or compared with boundaries, and converted back only when handing coordinates to a map SDK that
expects GCJ-02 or BD-09.

The GCJ-02 offset is, by the published algorithm, applied only inside a rough bounding rectangle of China
(:func:`out_of_china`); points outside it pass through unchanged in both directions. BD-09 is applied
everywhere, as Baidu does.

WGS-84 → GCJ-02 and GCJ-02 → BD-09 are closed-form. Their inverses are not: :func:`gcj02_to_wgs84` and
:func:`bd09_to_gcj02` solve by fixed-point iteration until the residual is below 1e-9 degrees
(about 0.1 mm); the round-trip error is therefore far below 0.5 m (typically < 1 mm) everywhere in China.

Scalar functions take and return ``float``; the ``*_array`` variants take anything numpy can broadcast
and return ``float64`` arrays. Arguments are always ``(lon, lat)`` in degrees, in that order.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "EARTH_RADIUS_M",
    "bd09_to_gcj02",
    "bd09_to_gcj02_array",
    "bd09_to_wgs84",
    "bd09_to_wgs84_array",
    "gcj02_to_bd09",
    "gcj02_to_bd09_array",
    "gcj02_to_wgs84",
    "gcj02_to_wgs84_array",
    "haversine_m",
    "haversine_m_array",
    "out_of_china",
    "out_of_china_array",
    "wgs84_to_bd09",
    "wgs84_to_bd09_array",
    "wgs84_to_gcj02",
    "wgs84_to_gcj02_array",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Mean Earth radius (IUGG), metres.
EARTH_RADIUS_M = 6_371_008.8

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 algorithm.
_A = 6_378_245.0
_EE = 0.006_693_421_622_965_943_23
_PI = math.pi
_X_PI = math.pi * 3000.0 / 180.0

# Bounding rectangle of the published algorithm (includes some neighbouring countries; that is the standard).
_LON_MIN, _LON_MAX = 72.004, 137.8347
_LAT_MIN, _LAT_MAX = 0.8293, 55.8271

# Inverse iterations: stop once every point moved less than this (degrees), or after this many rounds.
_INVERSE_TOL_DEG = 1e-9
_INVERSE_MAX_ITER = 30


def out_of_china(lon: float, lat: float) -> bool:
    """True when the point lies outside the rectangle where GCJ-02 applies its offset."""
    return not (_LON_MIN <= lon <= _LON_MAX and _LAT_MIN <= lat <= _LAT_MAX)


def out_of_china_array(lon: npt.ArrayLike, lat: npt.ArrayLike) -> BoolArray:
    """Vectorised :func:`out_of_china`."""
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    inside = (x >= _LON_MIN) & (x <= _LON_MAX) & (y >= _LAT_MIN) & (y <= _LAT_MAX)
    return np.asarray(~inside)


def _gcj_delta_scalar(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 offset (dlon, dlat) in degrees at a WGS-84 point (no out-of-China check)."""
    x = lon - 105.0
    y = lat - 35.0
    sx = math.sqrt(abs(x))
    common = (20.0 * math.sin(6.0 * x * _PI) + 20.0 * math.sin(2.0 * x * _PI)) * 2.0 / 3.0
    tlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
    tlat += (20.0 * math.sin(y * _PI) + 40.0 * math.sin(y / 3.0 * _PI)) * 2.0 / 3.0
    tlat += (160.0 * math.sin(y / 12.0 * _PI) + 320.0 * math.sin(y * _PI / 30.0)) * 2.0 / 3.0
    tlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
    tlon += (20.0 * math.sin(x * _PI) + 40.0 * math.sin(x / 3.0 * _PI)) * 2.0 / 3.0
    tlon += (150.0 * math.sin(x / 12.0 * _PI) + 300.0 * math.sin(x / 30.0 * _PI)) * 2.0 / 3.0
    rad = lat / 180.0 * _PI
    magic = 1.0 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (tlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * _PI)
    dlon = (tlon * 180.0) / (_A / sqrt_magic * math.cos(rad) * _PI)
    return dlon, dlat


def _gcj_delta_array(x0: FloatArray, y0: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Vectorised :func:`_gcj_delta_scalar` (no out-of-China check)."""
    x = x0 - 105.0
    y = y0 - 35.0
    sx = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * _PI) + 20.0 * np.sin(2.0 * x * _PI)) * 2.0 / 3.0
    tlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
    tlat += (20.0 * np.sin(y * _PI) + 40.0 * np.sin(y / 3.0 * _PI)) * 2.0 / 3.0
    tlat += (160.0 * np.sin(y / 12.0 * _PI) + 320.0 * np.sin(y * _PI / 30.0)) * 2.0 / 3.0
    tlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
    tlon += (20.0 * np.sin(x * _PI) + 40.0 * np.sin(x / 3.0 * _PI)) * 2.0 / 3.0
    tlon += (150.0 * np.sin(x / 12.0 * _PI) + 300.0 * np.sin(x / 30.0 * _PI)) * 2.0 / 3.0
    rad = y0 / 180.0 * _PI
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (tlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * _PI)
    dlon = (tlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * _PI)
    return dlon, dlat


def _as_float_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Broadcast two coordinate inputs to float64 arrays of one shape (copies, safe to modify)."""
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """Convert a WGS-84 point to GCJ-02; points outside China are returned unchanged."""
    if out_of_china(lon, lat):
        return lon, lat
    dlon, dlat = _gcj_delta_scalar(lon, lat)
    return lon + dlon, lat + dlat


def wgs84_to_gcj02_array(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Vectorised :func:`wgs84_to_gcj02`."""
    x, y = _as_float_arrays(lon, lat)
    dlon, dlat = _gcj_delta_array(x, y)
    keep = out_of_china_array(x, y)
    return np.where(keep, x, x + dlon), np.where(keep, y, y + dlat)


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Convert a GCJ-02 point to WGS-84 by fixed-point iteration (error < 1e-9°, far below 0.5 m)."""
    if out_of_china(lon, lat):
        return lon, lat
    wlon, wlat = lon, lat
    for _ in range(_INVERSE_MAX_ITER):
        glon, glat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = glon - lon, glat - lat
        wlon -= elon
        wlat -= elat
        if abs(elon) < _INVERSE_TOL_DEG and abs(elat) < _INVERSE_TOL_DEG:
            break
    return wlon, wlat


def gcj02_to_wgs84_array(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Vectorised :func:`gcj02_to_wgs84` (same iteration, run until every point has converged)."""
    x, y = _as_float_arrays(lon, lat)
    keep = out_of_china_array(x, y)
    wx, wy = x.copy(), y.copy()
    for _ in range(_INVERSE_MAX_ITER):
        gx, gy = wgs84_to_gcj02_array(wx, wy)
        ex, ey = gx - x, gy - y
        wx -= ex
        wy -= ey
        if not (np.any(np.abs(ex) >= _INVERSE_TOL_DEG) or np.any(np.abs(ey) >= _INVERSE_TOL_DEG)):
            break
    return np.where(keep, x, wx), np.where(keep, y, wy)


def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """Convert a GCJ-02 point to Baidu BD-09."""
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def gcj02_to_bd09_array(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Vectorised :func:`gcj02_to_bd09`."""
    x, y = _as_float_arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_to_gcj02_closed_form(lon: float, lat: float) -> tuple[float, float]:
    """The customary closed-form BD-09 → GCJ-02 approximation (error up to a few metres)."""
    x = lon - 0.0065
    y = lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return z * math.cos(theta), z * math.sin(theta)


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """Convert a BD-09 point to GCJ-02: closed-form start refined by iteration (error < 1e-9°)."""
    glon, glat = _bd09_to_gcj02_closed_form(lon, lat)
    for _ in range(_INVERSE_MAX_ITER):
        blon, blat = gcj02_to_bd09(glon, glat)
        elon, elat = blon - lon, blat - lat
        glon -= elon
        glat -= elat
        if abs(elon) < _INVERSE_TOL_DEG and abs(elat) < _INVERSE_TOL_DEG:
            break
    return glon, glat


def bd09_to_gcj02_array(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Vectorised :func:`bd09_to_gcj02`."""
    bx, by = _as_float_arrays(lon, lat)
    x = bx - 0.0065
    y = by - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    gx, gy = z * np.cos(theta), z * np.sin(theta)
    for _ in range(_INVERSE_MAX_ITER):
        cx, cy = gcj02_to_bd09_array(gx, gy)
        ex, ey = cx - bx, cy - by
        gx -= ex
        gy -= ey
        if not (np.any(np.abs(ex) >= _INVERSE_TOL_DEG) or np.any(np.abs(ey) >= _INVERSE_TOL_DEG)):
            break
    return gx, gy


def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """Convert a WGS-84 point to BD-09 (via GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def wgs84_to_bd09_array(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Vectorised :func:`wgs84_to_bd09`."""
    return gcj02_to_bd09_array(*wgs84_to_gcj02_array(lon, lat))


def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Convert a BD-09 point to WGS-84 (via GCJ-02)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def bd09_to_wgs84_array(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Vectorised :func:`bd09_to_wgs84`."""
    return gcj02_to_wgs84_array(*bd09_to_gcj02_array(lon, lat))


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres between two points on a sphere of mean Earth radius."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2.0) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def haversine_m_array(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> FloatArray:
    """Vectorised :func:`haversine_m` (inputs broadcast against each other)."""
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dl = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    h = np.sin((p2 - p1) / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    return np.asarray(2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(1.0, h))), dtype=np.float64)
