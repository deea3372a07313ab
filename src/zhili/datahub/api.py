"""Data hub routes (``/api/v1/hub``): sources, templates, imports, quarantine, quality, resolution, lineage.

Thin: each route loads, calls one service function (which checks permission and jurisdiction itself), answers.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Response, UploadFile

from zhili.datahub import sources, templates
from zhili.datahub.mapping import TemplateSpec, describe_spec
from zhili.datahub.models import Target
from zhili.datahub.schemas import (
    PreviewOut,
    SourceIn,
    SourceOut,
    SourcePatch,
    TemplateDetail,
    TemplateField,
    TemplateIn,
    TemplateOut,
)
from zhili.http.bodylimit import MARGIN, body_limit
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


def _detail(tmpl: Any) -> TemplateDetail:
    out = TemplateDetail.model_validate(tmpl)
    out.fields = [TemplateField(**r) for r in describe_spec(TemplateSpec.model_validate(tmpl.spec))]
    return out


@router.get("/templates", response_model=list[TemplateOut], summary="映射模板列表")
def list_templates(session: Db, principal: CurrentUser, target: Target | None = None) -> list[TemplateOut]:
    rows = templates.list_templates(session, principal=principal, target=target)
    return [TemplateOut.model_validate(r) for r in rows]


@router.post("/templates", response_model=TemplateDetail, status_code=201, summary="保存映射模板（新版本）")
def save_template(session: Db, principal: CurrentUser, body: TemplateIn) -> TemplateDetail:
    tmpl = templates.save_template(session, principal=principal, name=body.name, title=body.title, spec=body.spec,
                                   source_id=body.source_id)
    return _detail(tmpl)


@router.post("/templates/import", response_model=TemplateDetail, status_code=201, summary="导入映射模板（JSON）")
def import_template(session: Db, principal: CurrentUser, body: dict[str, Any]) -> TemplateDetail:
    return _detail(templates.import_template(session, principal=principal, data=body))


@router.get("/templates/{name}", response_model=TemplateDetail, summary="映射模板详情")
def get_template(session: Db, principal: CurrentUser, name: str,
                 version: Annotated[int | None, Query(ge=1)] = None) -> TemplateDetail:
    return _detail(templates.get_template(session, principal=principal, name=name, version=version))


@router.get("/templates/{name}/versions", response_model=list[TemplateOut], summary="映射模板的历史版本")
def template_versions(session: Db, principal: CurrentUser, name: str) -> list[TemplateOut]:
    return [TemplateOut.model_validate(r) for r in templates.template_versions(session, principal=principal,
                                                                                 name=name)]


@router.get("/templates/{name}/export", summary="导出映射模板（JSON）")
def export_template(session: Db, principal: CurrentUser, name: str,
                    version: Annotated[int | None, Query(ge=1)] = None) -> Response:
    data = templates.export_template(session, principal=principal, name=name, version=version)
    body = json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")
    filename = f"{data['name']}-v{data['version']}.json"
    return Response(body, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.post("/templates/{name}/preview", response_model=PreviewOut, summary="按模板预览样例文件（不写入）")
@body_limit(templates.PREVIEW_MAX_BYTES + MARGIN)
def preview_template(session: Db, principal: CurrentUser, name: str,
                     file: Annotated[UploadFile, File(description="CSV 或 .xlsx 样例文件（5MB 以内）")],
                     limit: Annotated[int, Query(ge=1, le=200)] = 20) -> PreviewOut:
    _, mapper = templates.compiled(session, principal=principal, name=name)
    data = file.file.read(templates.PREVIEW_MAX_BYTES + 1)
    return PreviewOut.model_validate(templates.preview_file(mapper, data, file.filename or "", limit=limit))

# -- imports and quarantine (pipeline.py / quarantine.py) -------------------------------------------------------

# -- quality (quality.py) -----------------------------------------------------------------------------------------

# -- resolution, golden records, review queue, lineage (golden.py / review.py / lineage.py) -----------------------

# -- addresses (address.py) ---------------------------------------------------------------------------------------
