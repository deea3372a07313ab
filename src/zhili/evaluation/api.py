"""4E evaluation API (``/api/v1/eval``): the periods scored, a unit's scorecard, an indicator's drill-down and the
rankings (with the units' boundaries as GeoJSON) — thin routes over :mod:`zhili.evaluation.reads`, which check
``eval:read`` and the caller's jurisdiction."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from zhili.evaluation import reads
from zhili.http.deps import CurrentUser, ReplicaDb

router = APIRouter(prefix="/eval", tags=["4E 评估"])
Code = Annotated[str | None, Query(max_length=40)]


@router.get("/periods", summary="已评估的周期（新的在前）")
def list_periods(session: ReplicaDb, principal: CurrentUser) -> list[dict[str, Any]]:
    return reads.periods(session, principal=principal)


@router.get("/scorecard", summary="单位记分卡：综合得分、四个维度、分项、指标、下级单位、趋势")
def scorecard(session: ReplicaDb, principal: CurrentUser, unit: Code = None, period: Code = None) -> dict[str, Any]:
    return reads.scorecard(session, principal=principal, unit_code=unit, period=period)


@router.get("/indicator", summary="指标下钻：定义、公式、计分方法、基础数据、下级单位、相关事件")
def indicator(session: ReplicaDb, principal: CurrentUser, indicator: Annotated[str, Query(max_length=40)],
              unit: Code = None, period: Code = None) -> dict[str, Any]:
    return reads.indicator_detail(session, principal=principal, unit_code=unit, period=period, indicator=indicator)


@router.get("/ranking", summary="同级单位排名（含边界 GeoJSON）")
def ranking(session: ReplicaDb, principal: CurrentUser, period: Code = None,
            level: Annotated[str, Query(max_length=16)] = "community", parent: Code = None,
            node: Annotated[str, Query(max_length=40)] = "total") -> dict[str, Any]:
    return reads.ranking(session, principal=principal, period=period, level=level, parent_code=parent, node=node)
