"""Data hub routes (``/api/v1/hub``): sources, templates, imports, quarantine, quality, resolution, lineage.

Thin: each route loads, calls one service function (which checks permission and jurisdiction itself), answers.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from zhili.datahub import quality, sources
from zhili.datahub.models import Target
from zhili.datahub.schemas import SourceIn, SourceOut, SourcePatch
from zhili.http.deps import CurrentUser, Db

router = APIRouter(prefix="/hub", tags=["数据中台"])

# -- sources ---------------------------------------------------------------------------------------------------


@router.get("/sources", response_model=list[SourceOut], summary="数据源列表")
def list_sources(session: Db, principal: CurrentUser, target: Target | None = None) -> list[SourceOut]:
    rows = sources.list_sources(session, principal=principal, target=target)
    return [SourceOut.model_validate(r) for r in rows]


@router.post("/sources", response_model=SourceOut, status_code=201, summary="登记数据源")
def create_source(session: Db, principal: CurrentUser, body: SourceIn) -> SourceOut:
    return SourceOut.model_validate(sources.create_source(session, principal=principal, data=body.model_dump()))


@router.get("/sources/{source_id}", response_model=SourceOut, summary="数据源详情")
def get_source(session: Db, principal: CurrentUser, source_id: uuid.UUID) -> SourceOut:
    return SourceOut.model_validate(sources.get_source(session, principal=principal, source_id=source_id))


@router.patch("/sources/{source_id}", response_model=SourceOut, summary="修改数据源")
def update_source(session: Db, principal: CurrentUser, source_id: uuid.UUID, body: SourcePatch) -> SourceOut:
    src = sources.update_source(session, principal=principal, source_id=source_id,
                                changes=body.model_dump(exclude_unset=True))
    return SourceOut.model_validate(src)

# -- templates (mapping.py / templates.py) ----------------------------------------------------------------------

# -- imports and quarantine (pipeline.py / quarantine.py) -------------------------------------------------------

# -- quality (quality.py) -----------------------------------------------------------------------------------------


@router.get("/quality", summary="数据质量总览：管辖范围内各数据源的评分、完整性、有效性、时效")
def quality_overview(session: Db, principal: CurrentUser) -> list[dict[str, Any]]:
    return quality.overview(session, principal=principal)


@router.get("/quality/sources/{source_id}", summary="数据源的数据质量报告（含趋势与跨源一致性）")
def quality_of_source(session: Db, principal: CurrentUser, source_id: uuid.UUID,
                      imports: Annotated[int, Query(ge=1, le=100, description="趋势包含的最近导入批次数")] = 12,
                      ) -> dict[str, Any]:
    return quality.source_quality(session, principal=principal, source_id=source_id, trend_imports=imports)


@router.get("/quality/imports/{import_id}", summary="导入批次的数据质量")
def quality_of_import(session: Db, principal: CurrentUser, import_id: uuid.UUID) -> dict[str, Any]:
    return quality.import_quality(session, principal=principal, import_id=import_id)

# -- resolution, golden records, review queue, lineage (golden.py / review.py / lineage.py) -----------------------

# -- addresses (address.py) ---------------------------------------------------------------------------------------
