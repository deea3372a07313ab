"""The region tree: subtree queries by materialized path, validity over time, boundaries and locate()."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from typing import Any

import numpy as np
import shapely
from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.orm import Session

from zhili.core import audit, clock
from zhili.core.db import utcnow
from zhili.core.errors import Conflict, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, ensure_in_scope, in_scope, not_found, path_predicate, scoped
from zhili.core.query import contains_text, paginate, starts_with_text
from zhili.core.security import Perm
from zhili.regions.geo import gcj02_to_wgs84, gcj02_to_wgs84_array
from zhili.regions.locator import Locator, build_geometry
from zhili.regions.models import LEVEL_ORDER, OPEN_END, GeoVersion, Unit, UnitBoundary, UnitLevel


def today() -> dt.date:
    """Today's date in the district (the default 'as of'): not the host's, which is a day behind from 16:00 UTC
    for a district in China."""
    return clock.today()


def valid_on(model: Any, day: dt.date) -> ColumnElement[bool]:
    """Rows of a versioned table valid on ``day`` (valid_from inclusive, valid_to exclusive)."""
    return and_(model.valid_from <= day, model.valid_to > day)


def subtree_predicate(path: str) -> ColumnElement[bool]:
    """Units at or below ``path``."""
    return path_predicate(Unit.path, (path,))


def child_level(level: UnitLevel) -> UnitLevel | None:
    """The level directly below ``level`` (None for grids)."""
    order = LEVEL_ORDER[level]
    for lvl, i in LEVEL_ORDER.items():
        if i == order + 1:
            return lvl
    return None


# -- reading ---------------------------------------------------------------------------------------------

def list_units(
    session: Session, *, principal: Principal, level: UnitLevel | None = None, parent_id: uuid.UUID | None = None,
    under_id: uuid.UUID | None = None, code: str | None = None, q: str | None = None, as_of: dt.date | None = None,
    page: int = 1, page_size: int = 50, sort: str | None = None,
) -> tuple[list[Unit], int]:
    """Units in the principal's jurisdiction valid on ``as_of``, filtered."""
    authorize(principal, Perm.region_read)
    stmt = scoped(select(Unit), principal, Unit.path).where(valid_on(Unit, as_of or today()))
    if level:
        stmt = stmt.where(Unit.level == level)
    if parent_id:
        stmt = stmt.where(Unit.parent_id == parent_id)
    if under_id:
        root = get_unit(session, principal=principal, unit_id=under_id)
        stmt = stmt.where(subtree_predicate(root.path))
    if code:
        stmt = stmt.where(Unit.code == code)
    if q:
        stmt = stmt.where(contains_text(Unit.name, q) | starts_with_text(Unit.code, q))
    return paginate(session, stmt, page=page, page_size=page_size, sort=sort,
                    sortable={"code": Unit.code, "name": Unit.name, "level": Unit.level,
                              "valid_from": Unit.valid_from},
                    default_sort=[Unit.path])


def get_unit(session: Session, *, principal: Principal, unit_id: uuid.UUID) -> Unit:
    """One unit in the principal's jurisdiction (any version)."""
    authorize(principal, Perm.region_read)
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise not_found("单位")
    ensure_in_scope(principal, unit.path, "单位")
    return unit


def unit_ancestors(session: Session, *, unit: Unit, as_of: dt.date | None = None) -> list[Unit]:
    """The unit's ancestors, top first, by the codes in its path."""
    codes = unit.path.split("/")[:-1]
    if not codes:
        return []
    rows = session.scalars(select(Unit).where(Unit.code.in_(codes), valid_on(Unit, as_of or today()))).all()
    by_code = {u.code: u for u in rows}
    return [by_code[c] for c in codes if c in by_code]


def count_children(session: Session, *, unit: Unit, as_of: dt.date | None = None) -> int:
    """Number of direct children valid on ``as_of``."""
    return int(session.scalar(select(func.count()).select_from(Unit).where(
        Unit.parent_id == unit.id, valid_on(Unit, as_of or today()))) or 0)


def has_boundary(session: Session, *, unit: Unit, as_of: dt.date | None = None) -> bool:
    """True if the unit has a boundary valid on ``as_of``."""
    return session.scalar(select(UnitBoundary.id).where(
        UnitBoundary.unit_id == unit.id, valid_on(UnitBoundary, as_of or today())).limit(1)) is not None


def boundary_geometry(session: Session, *, unit_id: uuid.UUID | None, as_of: dt.date | None = None
                      ) -> dict[str, Any] | None:
    """The GeoJSON geometry of a unit's boundary valid on ``as_of`` (None without one) — for drawing the grid of
    something the caller has already been allowed to see, such as a case's grid on its page."""
    if unit_id is None:
        return None
    gj = session.scalar(select(UnitBoundary.geojson).where(UnitBoundary.unit_id == unit_id,
                                                           valid_on(UnitBoundary, as_of or today())).limit(1))
    return json.loads(gj) if gj else None


def get_tree(
    session: Session, *, principal: Principal, root_id: uuid.UUID | None = None, as_of: dt.date | None = None,
    max_level: UnitLevel = UnitLevel.grid,
) -> list[dict[str, Any]]:
    """The tree (nested dicts) as of a date, under ``root_id`` or the principal's units, down to ``max_level``."""
    authorize(principal, Perm.region_read)
    day = as_of or today()
    stmt = scoped(select(Unit), principal, Unit.path).where(valid_on(Unit, day))
    if root_id:
        stmt = stmt.where(subtree_predicate(get_unit(session, principal=principal, unit_id=root_id).path))
    levels = [lvl for lvl, i in LEVEL_ORDER.items() if i <= LEVEL_ORDER[max_level]]
    rows = session.scalars(stmt.where(Unit.level.in_(levels)).order_by(Unit.path)).all()
    nodes: dict[str, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    for u in rows:
        node = {"id": u.id, "code": u.code, "name": u.name, "level": u.level, "children": []}
        nodes[u.path] = node
        parent_path = u.path.rsplit("/", 1)[0] if "/" in u.path else None
        if parent_path and parent_path in nodes:
            nodes[parent_path]["children"].append(node)
        else:
            roots.append(node)
    return roots


# -- writing ---------------------------------------------------------------------------------------------

def _overlapping_code(session: Session, code: str, start: dt.date, exclude: uuid.UUID | None = None) -> bool:
    stmt = select(Unit.id).where(Unit.code == code, Unit.valid_to > start)
    if exclude:
        stmt = stmt.where(Unit.id != exclude)
    return session.scalar(stmt.limit(1)) is not None


def create_unit(
    session: Session, *, principal: Principal, parent_id: uuid.UUID, level: UnitLevel, code: str, name: str,
    valid_from: dt.date | None = None, boundary: dict[str, Any] | None = None, note: str | None = None,
) -> Unit:
    """Add a unit under a parent in the principal's jurisdiction."""
    authorize(principal, Perm.region_write)
    parent = get_unit(session, principal=principal, unit_id=parent_id)
    start = valid_from or today()
    if not (parent.valid_from <= start < parent.valid_to):
        raise ValidationFailed("上级单位在该生效日期无效", code="parent_not_valid")
    expected = child_level(parent.level)
    if level != expected:
        raise ValidationFailed(f"“{parent.name}”的下级应为 {expected}，而不是 {level}", code="bad_level",
                               details={"expected": expected})
    if not code.startswith(parent.code) or len(code) <= len(parent.code):
        raise ValidationFailed(f"代码应以上级代码 {parent.code} 开头并更长", code="bad_code")
    if _overlapping_code(session, code, start):
        raise Conflict(f"代码 {code} 已被有效单位使用", code="code_taken")
    unit = Unit(parent_id=parent.id, level=level, code=code, name=name, path=f"{parent.path}/{code}",
                depth=parent.depth + 1, valid_from=start, valid_to=OPEN_END, note=note)
    session.add(unit)
    session.flush()
    audit.record(session, actor=principal.actor, action="unit.create", object_type="unit", object_id=unit.id,
                 after={"code": code, "name": name, "level": level.value, "parent": parent.code})
    if boundary:
        set_boundary(session, principal=principal, unit_id=unit.id, geojson=boundary, valid_from=start)
    return unit


def update_unit(session: Session, *, principal: Principal, unit_id: uuid.UUID, changes: dict[str, Any]) -> Unit:
    """Rename or annotate a unit (a redrawn boundary is :func:`redraw_unit`)."""
    authorize(principal, Perm.region_write)
    unit = get_unit(session, principal=principal, unit_id=unit_id)
    expected_version = changes.pop("version", None)
    if expected_version is not None and expected_version != unit.version:
        raise Conflict("单位已被他人修改，请刷新后重试", details={"current_version": unit.version})
    for k, v in changes.items():
        if v is None and not Unit.__table__.c[k].nullable:
            raise ValidationFailed(f"“{k}”为必填项，不能清空", code="required_field", details={"field": k})
    before = {k: getattr(unit, k) for k in changes}
    for k, v in changes.items():
        setattr(unit, k, v)
    session.flush()
    audit.record(session, actor=principal.actor, action="unit.update", object_type="unit", object_id=unit.id,
                 before=before, after=changes)
    return unit


def retire_unit(session: Session, *, principal: Principal, unit_id: uuid.UUID, valid_to: dt.date, reason: str) -> Unit:
    """End a unit's validity (it stays in history); refused while it still has valid children."""
    authorize(principal, Perm.region_write)
    unit = get_unit(session, principal=principal, unit_id=unit_id)
    if valid_to <= unit.valid_from:
        raise ValidationFailed("停止日期必须晚于生效日期", code="bad_period")
    live_children = session.scalar(select(func.count()).select_from(Unit).where(
        Unit.parent_id == unit.id, Unit.valid_to > valid_to))
    if live_children:
        raise Conflict(f"该单位仍有{live_children}个有效下级单位，请先调整下级", code="has_children")
    before = unit.valid_to
    unit.valid_to = valid_to
    session.execute(update(UnitBoundary).where(UnitBoundary.unit_id == unit.id, UnitBoundary.valid_to > valid_to)
                    .values(valid_to=valid_to))
    _bump_geo_version(session)
    session.flush()
    audit.record(session, actor=principal.actor, action="unit.retire", object_type="unit", object_id=unit.id,
                 before={"valid_to": before}, after={"valid_to": valid_to}, reason=reason)
    return unit


def redraw_unit(
    session: Session, *, principal: Principal, unit_id: uuid.UUID, effective: dt.date, reason: str,
    name: str | None = None, boundary: dict[str, Any] | None = None,
) -> Unit:
    """Start a new version of a unit from ``effective`` (old row ends; records keep pointing at the old one)."""
    authorize(principal, Perm.region_write)
    old = get_unit(session, principal=principal, unit_id=unit_id)
    if old.valid_to != OPEN_END:
        raise Conflict("只能对当前有效的单位版本重新划定", code="not_current")
    if effective <= old.valid_from:
        raise ValidationFailed("新版本生效日期必须晚于原版本生效日期", code="bad_period")
    new = Unit(parent_id=old.parent_id, level=old.level, code=old.code, name=name or old.name, path=old.path,
               depth=old.depth, valid_from=effective, valid_to=OPEN_END, center_lon=old.center_lon,
               center_lat=old.center_lat, note=old.note)
    session.add(new)
    session.flush()
    old.valid_to = effective
    old.successor_id = new.id
    session.execute(update(Unit).where(Unit.parent_id == old.id, Unit.valid_to > effective)
                    .values(parent_id=new.id))
    session.execute(update(UnitBoundary).where(UnitBoundary.unit_id == old.id, UnitBoundary.valid_to > effective)
                    .values(valid_to=effective))
    if boundary is None:
        current = session.scalars(select(UnitBoundary).where(UnitBoundary.unit_id == old.id)
                                  .order_by(UnitBoundary.valid_from.desc()).limit(1)).first()
        if current is not None:
            boundary = json.loads(current.geojson)
    session.flush()
    audit.record(session, actor=principal.actor, action="unit.redraw", object_type="unit", object_id=old.id,
                 after={"successor": new.id, "effective": effective, "name": new.name}, reason=reason)
    if boundary is not None:
        set_boundary(session, principal=principal, unit_id=new.id, geojson=boundary, valid_from=effective)
    else:
        _bump_geo_version(session)
    return new


def _to_wgs84(geom: Any) -> Any:
    coords = shapely.get_coordinates(geom)
    lon, lat = gcj02_to_wgs84_array(coords[:, 0], coords[:, 1])
    return shapely.set_coordinates(geom, np.column_stack([lon, lat]))


def set_boundary(
    session: Session, *, principal: Principal, unit_id: uuid.UUID, geojson: dict[str, Any] | str,
    valid_from: dt.date | None = None, crs: str = "wgs84",
) -> UnitBoundary:
    """Give a unit a new boundary from ``valid_from``; the previous boundary ends that day."""
    authorize(principal, Perm.region_write)
    unit = get_unit(session, principal=principal, unit_id=unit_id)
    geom = build_geometry(geojson)
    if crs == "gcj02":
        geom = _to_wgs84(geom)
    start = valid_from or today()
    if not (unit.valid_from <= start < unit.valid_to):
        raise ValidationFailed("边界生效日期不在单位有效期内", code="bad_period")
    _check_sibling_overlap(session, unit=unit, geom=geom, day=start)
    session.execute(update(UnitBoundary).where(UnitBoundary.unit_id == unit.id, UnitBoundary.valid_to > start)
                    .values(valid_to=start))
    minx, miny, maxx, maxy = geom.bounds
    b = UnitBoundary(unit_id=unit.id, geojson=json.dumps(shapely.geometry.mapping(geom), ensure_ascii=False),
                     min_lon=minx, min_lat=miny, max_lon=maxx, max_lat=maxy, area_m2=approx_area_m2(geom),
                     valid_from=start, valid_to=OPEN_END)
    session.add(b)
    c = geom.representative_point()
    unit.center_lon, unit.center_lat = float(c.x), float(c.y)
    _bump_geo_version(session)
    session.flush()
    audit.record(session, actor=principal.actor, action="unit.boundary", object_type="unit", object_id=unit.id,
                 after={"valid_from": start, "bounds": [minx, miny, maxx, maxy]})
    return b


def _check_sibling_overlap(session: Session, *, unit: Unit, geom: Any, day: dt.date) -> None:
    if unit.parent_id is None:
        return
    rows = session.execute(
        select(Unit.code, Unit.name, UnitBoundary.geojson).join(UnitBoundary, UnitBoundary.unit_id == Unit.id)
        .where(Unit.parent_id == unit.parent_id, Unit.code != unit.code, valid_on(Unit, day),
               valid_on(UnitBoundary, day),
               UnitBoundary.min_lon <= geom.bounds[2], UnitBoundary.max_lon >= geom.bounds[0],
               UnitBoundary.min_lat <= geom.bounds[3], UnitBoundary.max_lat >= geom.bounds[1])
    ).all()
    area = geom.area
    for code, name, gj in rows:
        overlap = geom.intersection(build_geometry(gj)).area
        if area > 0 and overlap / area > 0.001:
            raise ValidationFailed(f"边界与同级单位“{name}”（{code}）重叠", code="boundary_overlap",
                                   details={"unit_code": code, "overlap_ratio": round(overlap / area, 4)})


def approx_area_m2(geom: Any) -> float:
    """Area in m² by a local equirectangular projection (good to ~0.5% at district scale)."""
    c = geom.centroid
    kx = 111_320.0 * np.cos(np.radians(c.y))
    ky = 110_574.0
    scaled = shapely.transform(geom, lambda xy: np.column_stack([(xy[:, 0] - c.x) * kx, (xy[:, 1] - c.y) * ky]))
    return float(scaled.area)


def _bump_geo_version(session: Session) -> None:
    session.execute(update(GeoVersion).where(GeoVersion.id == 1)
                    .values(version=GeoVersion.version + 1, changed_at=utcnow()))


def list_boundaries(
    session: Session, *, principal: Principal, parent_id: uuid.UUID | None = None, level: UnitLevel | None = None,
    as_of: dt.date | None = None, limit: int = 5000,
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of boundaries (children of ``parent_id`` or one level) for maps."""
    authorize(principal, Perm.region_read)
    day = as_of or today()
    stmt = scoped(select(Unit, UnitBoundary.geojson), principal, Unit.path).join(
        UnitBoundary, UnitBoundary.unit_id == Unit.id).where(valid_on(Unit, day), valid_on(UnitBoundary, day))
    if parent_id:
        parent = get_unit(session, principal=principal, unit_id=parent_id)
        stmt = stmt.where(Unit.parent_id == parent.id)
    if level:
        stmt = stmt.where(Unit.level == level)
    features = [
        {"type": "Feature", "id": str(u.id), "geometry": json.loads(gj),
         "properties": {"id": str(u.id), "code": u.code, "name": u.name, "level": u.level.value}}
        for u, gj in session.execute(stmt.order_by(Unit.path).limit(limit)).all()
    ]
    return {"type": "FeatureCollection", "features": features}


def get_boundary_history(session: Session, *, principal: Principal, unit_id: uuid.UUID) -> list[UnitBoundary]:
    """Every boundary version of a unit, newest first."""
    authorize(principal, Perm.region_read)
    unit = get_unit(session, principal=principal, unit_id=unit_id)
    return list(session.scalars(select(UnitBoundary).where(UnitBoundary.unit_id == unit.id)
                                .order_by(UnitBoundary.valid_from.desc())))


# -- locate ----------------------------------------------------------------------------------------------

_locator_lock = threading.Lock()
_locator_cache: dict[tuple[Any, ...], Locator] = {}


def _grid_polygons(session: Session, day: dt.date) -> list[tuple[uuid.UUID, Any]]:
    rows = session.execute(
        select(Unit.id, UnitBoundary.geojson).join(UnitBoundary, UnitBoundary.unit_id == Unit.id)
        .where(Unit.level == UnitLevel.grid, valid_on(Unit, day), valid_on(UnitBoundary, day))
    ).all()
    return [(uid, build_geometry(gj)) for uid, gj in rows]


def get_locator(session: Session, *, as_of: dt.date | None = None) -> Locator:
    """The grid locator for a date, rebuilt whenever the boundaries' version changes (any process)."""
    day = as_of or today()
    ver = session.execute(select(GeoVersion.version, GeoVersion.changed_at).where(GeoVersion.id == 1)).first()
    key = (day, ver[0] if ver else 0, ver[1] if ver else None, str(session.get_bind().engine.url))
    with _locator_lock:
        loc = _locator_cache.get(key)
    if loc is None:
        loc = Locator(_grid_polygons(session, day))
        with _locator_lock:
            if len(_locator_cache) > 8:
                _locator_cache.clear()
            _locator_cache[key] = loc
    return loc


def locate(
    session: Session, *, lon: float, lat: float, crs: str = "wgs84", as_of: dt.date | None = None
) -> tuple[float, float, Unit | None]:
    """The grid containing a point (WGS-84, or GCJ-02 converted first); returns (lon, lat, grid)."""
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValidationFailed("经纬度超出范围", code="bad_coordinates")
    if crs == "gcj02":
        lon, lat = gcj02_to_wgs84(lon, lat)
    grid_id = get_locator(session, as_of=as_of).locate(lon, lat)
    return lon, lat, (session.get(Unit, grid_id) if grid_id else None)


def locate_batch(
    session: Session, *, lons: np.ndarray, lats: np.ndarray, crs: str = "wgs84", as_of: dt.date | None = None
) -> list[uuid.UUID | None]:
    """Grids for arrays of points (imports)."""
    if crs == "gcj02":
        lons, lats = gcj02_to_wgs84_array(lons, lats)
    return get_locator(session, as_of=as_of).locate_many(np.asarray(lons, float), np.asarray(lats, float))


def visible(principal: Principal, unit: Unit | None) -> bool:
    """True if a unit is inside the principal's jurisdiction."""
    return unit is not None and in_scope(principal, unit.path)


def codes_for(session: Session, *, principal: Principal, unit_ids: list[uuid.UUID | None]) -> list[str | None]:
    """Codes of the given units, None for units outside the principal's jurisdiction."""
    authorize(principal, Perm.region_read)
    wanted = {i for i in unit_ids if i is not None}
    rows = session.execute(select(Unit.id, Unit.code, Unit.path).where(Unit.id.in_(wanted))).all() if wanted else []
    codes = {i: c for i, c, p in rows if in_scope(principal, p)}
    return [codes.get(i) if i else None for i in unit_ids]
