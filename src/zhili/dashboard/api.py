"""Dashboard JSON routes (``/api/v1/dashboard/…``) for the command-centre screen; statistics-table figures only."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from zhili.dashboard import service
from zhili.http.deps import CurrentUser, ReplicaDb
from zhili.regions.models import UnitLevel

router = APIRouter(prefix="/api/v1/dashboard", tags=["指挥大屏"])

UnitId = Annotated[uuid.UUID | None, Query(description="单位；缺省为本人管辖的最上级单位")]
Since = Annotated[dt.date | None, Query(description="起始日（含），缺省为近30天")]
Until = Annotated[dt.date | None, Query(description="截止日（含），缺省为今天")]


@router.get("/kpis", summary="核心指标")
def kpis(session: ReplicaDb, principal: CurrentUser, unit_id: UnitId = None) -> dict[str, Any]:
    return service.kpis(session, principal=principal, unit_id=unit_id)


@router.get("/breakdown", summary="下级单位分项统计")
def breakdown(session: ReplicaDb, principal: CurrentUser, unit_id: UnitId = None, since: Since = None,
              until: Until = None) -> dict[str, Any]:
    return service.breakdown_by_child(session, principal=principal, unit_id=unit_id, since=since, until=until)


@router.get("/trend", summary="趋势")
def trend(session: ReplicaDb, principal: CurrentUser, unit_id: UnitId = None,
          days: Annotated[int, Query(ge=1, le=366)] = 30,
          by: Annotated[Literal["day", "week"], Query()] = "day") -> dict[str, Any]:
    return service.trend(session, principal=principal, unit_id=unit_id, days=days, by=by)


@router.get("/categories", summary="类别分布")
def categories(session: ReplicaDb, principal: CurrentUser, unit_id: UnitId = None, since: Since = None,
               until: Until = None, top: Annotated[int, Query(ge=1, le=50)] = 10) -> dict[str, Any]:
    return service.categories(session, principal=principal, unit_id=unit_id, since=since, until=until, top=top)


@router.get("/ranking", summary="按时办结率排名")
def ranking(session: ReplicaDb, principal: CurrentUser, level: Annotated[UnitLevel, Query()] = UnitLevel.street,
            since: Since = None, until: Until = None) -> dict[str, Any]:
    return service.ranking(session, principal=principal, level=level, since=since, until=until)


@router.get("/grids/{grid_id}/cases", summary="网格内在办事件点位")
def grid_cases(grid_id: uuid.UUID, session: ReplicaDb, principal: CurrentUser,
               limit: Annotated[int, Query(ge=1, le=5000)] = 2000) -> dict[str, Any]:
    return service.cases_in_grid(session, principal=principal, grid_id=grid_id, limit=limit)
