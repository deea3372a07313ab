"""Region tree routes: units, tree, boundaries, locate."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Query

from zhili.core.errors import NotFound
from zhili.core.jurisdiction import authorize
from zhili.core.schemas import Page
from zhili.core.security import Perm
from zhili.http.bodylimit import BOUNDARY_LIMIT, body_limit
from zhili.http.deps import CurrentUser, Db, Paging
from zhili.regions import service
from zhili.regions.models import UnitLevel
from zhili.regions.schemas import (
    BoundaryIn,
    BoundaryOut,
    LocateBatchIn,
    LocateBatchOut,
    LocateOut,
    TreeNode,
    UnitCreate,
    UnitDetail,
    UnitOut,
    UnitRedraw,
    UnitRetire,
    UnitUpdate,
)

router = APIRouter(prefix="/regions", tags=["区划与网格"])

AsOf = Annotated[dt.date | None, Query(description="查询该日期有效的版本（默认今天）")]


@router.get("/units", response_model=Page[UnitOut], summary="单位列表（区县/街道/社区/网格）")
def list_units(
    session: Db, principal: CurrentUser, paging: Paging, as_of: AsOf = None,
    level: Annotated[UnitLevel | None, Query(description="层级")] = None,
    parent_id: Annotated[uuid.UUID | None, Query(description="上级单位ID（直接下级）")] = None,
    under_id: Annotated[uuid.UUID | None, Query(description="某单位之下的全部单位")] = None,
    code: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=64, description="名称或代码关键字")] = None,
) -> Page[UnitOut]:
    rows, total = service.list_units(session, principal=principal, level=level, parent_id=parent_id,
                                     under_id=under_id, code=code, q=q, as_of=as_of, page=paging.page,
                                     page_size=paging.page_size, sort=paging.sort)
    return Page(items=[UnitOut.model_validate(u) for u in rows], total=total, page=paging.page,
                page_size=paging.page_size)


@router.get("/units/{unit_id}", response_model=UnitDetail, summary="单位详情")
def get_unit(unit_id: uuid.UUID, session: Db, principal: CurrentUser, as_of: AsOf = None) -> UnitDetail:
    unit = service.get_unit(session, principal=principal, unit_id=unit_id)
    return UnitDetail.model_validate(unit).model_copy(update={
        "ancestors": [UnitOut.model_validate(a) for a in service.unit_ancestors(session, unit=unit, as_of=as_of)],
        "children_count": service.count_children(session, unit=unit, as_of=as_of),
        "has_boundary": service.has_boundary(session, unit=unit, as_of=as_of),
    })


@router.post("/units", response_model=UnitOut, status_code=201, summary="新增单位")
@body_limit(BOUNDARY_LIMIT)
def create_unit(body: UnitCreate, session: Db, principal: CurrentUser) -> UnitOut:
    return UnitOut.model_validate(service.create_unit(session, principal=principal, **body.model_dump()))


@router.patch("/units/{unit_id}", response_model=UnitOut, summary="修改单位名称/备注")
def update_unit(unit_id: uuid.UUID, body: UnitUpdate, session: Db, principal: CurrentUser) -> UnitOut:
    return UnitOut.model_validate(service.update_unit(session, principal=principal, unit_id=unit_id,
                                                      changes=body.model_dump(exclude_unset=True)))


@router.post("/units/{unit_id}/retire", response_model=UnitOut, summary="撤销单位（保留历史）")
def retire_unit(unit_id: uuid.UUID, body: UnitRetire, session: Db, principal: CurrentUser) -> UnitOut:
    return UnitOut.model_validate(service.retire_unit(session, principal=principal, unit_id=unit_id,
                                                      valid_to=body.valid_to, reason=body.reason))


@router.post("/units/{unit_id}/redraw", response_model=UnitOut, status_code=201, summary="重新划定（新版本）")
@body_limit(BOUNDARY_LIMIT)
def redraw_unit(unit_id: uuid.UUID, body: UnitRedraw, session: Db, principal: CurrentUser) -> UnitOut:
    return UnitOut.model_validate(service.redraw_unit(session, principal=principal, unit_id=unit_id,
                                                      **body.model_dump()))


@router.get("/tree", response_model=list[TreeNode], summary="区划树（可按日期查询历史）")
def get_tree(
    session: Db, principal: CurrentUser, as_of: AsOf = None,
    root_id: Annotated[uuid.UUID | None, Query()] = None,
    max_level: Annotated[UnitLevel, Query(description="展开到的最低层级")] = UnitLevel.community,
) -> list[Any]:
    return service.get_tree(session, principal=principal, root_id=root_id, as_of=as_of, max_level=max_level)


@router.put("/units/{unit_id}/boundary", response_model=BoundaryOut, summary="设置边界（新版本）")
@body_limit(BOUNDARY_LIMIT)
def set_boundary(unit_id: uuid.UUID, body: BoundaryIn, session: Db, principal: CurrentUser) -> BoundaryOut:
    b = service.set_boundary(session, principal=principal, unit_id=unit_id, geojson=body.geojson,
                             valid_from=body.valid_from, crs=body.crs)
    return _boundary_out(b)


@router.get("/units/{unit_id}/boundaries", response_model=list[BoundaryOut], summary="边界历史")
def boundary_history(unit_id: uuid.UUID, session: Db, principal: CurrentUser) -> list[BoundaryOut]:
    return [_boundary_out(b) for b in service.get_boundary_history(session, principal=principal, unit_id=unit_id)]


@router.get("/boundaries", summary="边界 GeoJSON（地图用）")
def boundaries(
    session: Db, principal: CurrentUser, as_of: AsOf = None,
    parent_id: Annotated[uuid.UUID | None, Query(description="取该单位的直接下级")] = None,
    level: Annotated[UnitLevel | None, Query()] = None,
) -> dict[str, Any]:
    return service.list_boundaries(session, principal=principal, parent_id=parent_id, level=level, as_of=as_of)


@router.get("/locate", response_model=LocateOut, summary="坐标定位所属网格")
def locate(
    session: Db, principal: CurrentUser,
    lon: Annotated[float, Query(ge=-180, le=180, description="经度")],
    lat: Annotated[float, Query(ge=-90, le=90, description="纬度")],
    crs: Annotated[Literal["wgs84", "gcj02"], Query(description="坐标系：wgs84 或 gcj02（手机地图）")] = "wgs84",
    as_of: AsOf = None,
) -> LocateOut:
    authorize(principal, Perm.region_read)
    wlon, wlat, grid = service.locate(session, lon=lon, lat=lat, crs=crs, as_of=as_of)
    if grid is not None and not service.visible(principal, grid):
        raise NotFound("该位置不在您的管辖范围内", code="outside_jurisdiction")
    chain = service.unit_ancestors(session, unit=grid, as_of=as_of) if grid else []
    return LocateOut(lon=wlon, lat=wlat, grid=UnitOut.model_validate(grid) if grid else None,
                     chain=[UnitOut.model_validate(u) for u in chain])


@router.post("/locate", response_model=LocateBatchOut, summary="批量定位（导入用）")
def locate_batch(body: LocateBatchIn, session: Db, principal: CurrentUser) -> LocateBatchOut:
    lons = np.array([p.lon for p in body.points], dtype=float)
    lats = np.array([p.lat for p in body.points], dtype=float)
    ids = service.locate_batch(session, lons=lons, lats=lats, crs=body.crs, as_of=body.as_of)
    codes = service.codes_for(session, principal=principal, unit_ids=ids)
    return LocateBatchOut(grid_ids=[i if c else None for i, c in zip(ids, codes, strict=True)], grid_codes=codes)


def _boundary_out(b: Any) -> BoundaryOut:
    return BoundaryOut(id=b.id, unit_id=b.unit_id, geojson=json.loads(b.geojson), valid_from=b.valid_from,
                       valid_to=b.valid_to, area_m2=b.area_m2)
