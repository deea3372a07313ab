"""Data hub routes (``/api/v1/hub``): sources, templates, imports, quarantine, quality, resolution, lineage; and
(``register_router``) the register's Excel import, ``/api/v1/registry/{kind}/import``, which is a hub source
(:mod:`zhili.datahub.register_import`) — its routes keep the register's paths but live here, above the register.

Thin: each route loads, calls one service function (which checks permission and jurisdiction itself), answers.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Response, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from zhili.core.db import utcnow
from zhili.core.jurisdiction import authorize
from zhili.core.schemas import Page
from zhili.core.security import Perm
from zhili.datahub import (
    address,
    changes,
    golden,
    imports,
    lineage,
    quality,
    quarantine,
    register_import,
    review,
    sources,
    survivorship,
    templates,
)
from zhili.datahub.import_schemas import (
    DiscardIn,
    FixIn,
    ImportAccepted,
    ImportOut,
    QuarantineRowOut,
    RerunIn,
    RerunOut,
)
from zhili.datahub.imports import UPLOAD_LIMIT
from zhili.datahub.mapping import describe_spec
from zhili.datahub.models import CandidateStatus, DeliveryStatus, EntityType, ImportStatus, QuarantineStatus, Target
from zhili.datahub.schemas import (
    AddressIn,
    AddressOut,
    AddressPartsOut,
    PlacementOut,
    PreviewOut,
    SourceIn,
    SourceOut,
    SourcePatch,
    TemplateDetail,
    TemplateField,
    TemplateIn,
    TemplateOut,
)
from zhili.datahub.schemas_golden import (
    CandidateDetail,
    CandidateOut,
    CandidatePage,
    CompareRow,
    DeliveryOut,
    FieldValue,
    GoldenOut,
    LineageOut,
    MergeOut,
    RecordsLineageOut,
    ResolveIn,
    RuleIn,
    RuleOut,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)
from zhili.http.bodylimit import MARGIN, body_limit
from zhili.http.deps import CurrentUser, Db, Paging
from zhili.registry import excel
from zhili.registry.models import RegisterKind
from zhili.registry.schemas import ImportBatchOut

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


router = APIRouter(prefix="/hub", tags=["数据中台"])
register_router = APIRouter(prefix="/registry", tags=["基础数据"])

# -- the register's Excel import (a hub source) ---------------------------------------------------------------

RegisterKindPath = Annotated[RegisterKind, Path(description="buildings 楼栋 / households 房屋 / persons 人员 / "
                                                            "organisations 组织")]


@register_router.post("/{kind}/import", response_model=ImportBatchOut, status_code=201,
                      summary="Excel 导入（经数据中台逐行校验，导入有效行，未通过的行进入隔离区并说明原因）")
@body_limit(excel.MAX_IMPORT_BYTES + MARGIN)
def import_register(kind: RegisterKindPath, session: Db, principal: CurrentUser,
                    file: Annotated[UploadFile, File(description="按导入模板填写的 .xlsx 文件")]) -> ImportBatchOut:
    imp = register_import.import_register_workbook(session, principal=principal, kind=kind,
                                                   filename=file.filename or "",
                                                   data=file.file.read(excel.MAX_IMPORT_BYTES + 1))
    return ImportBatchOut(**register_import.register_import_view(session, imp=imp))


@register_router.get("/imports/{batch_id}", response_model=ImportBatchOut, summary="导入批次结果（上传人查看）")
def get_register_import(batch_id: uuid.UUID, session: Db, principal: CurrentUser) -> ImportBatchOut:
    imp = register_import.get_register_import(session, principal=principal, import_id=batch_id)
    return ImportBatchOut(**register_import.register_import_view(session, imp=imp))


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
    out.fields = [TemplateField(**r) for r in describe_spec(templates.stored_spec(tmpl))]
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
                 version: Annotated[int | None, Query(ge=1, le=templates.MAX_VERSION)] = None) -> TemplateDetail:
    return _detail(templates.get_template(session, principal=principal, name=name, version=version))


@router.get("/templates/{name}/versions", response_model=list[TemplateOut], summary="映射模板的历史版本")
def template_versions(session: Db, principal: CurrentUser, name: str) -> list[TemplateOut]:
    return [TemplateOut.model_validate(r) for r in templates.template_versions(session, principal=principal,
                                                                                 name=name)]


@router.get("/templates/{name}/export", summary="导出映射模板（JSON）")
def export_template(session: Db, principal: CurrentUser, name: str,
                    version: Annotated[int | None, Query(ge=1, le=templates.MAX_VERSION)] = None) -> Response:
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

# Imports run as jobs (committing per batch): a small upload is imported before the answer (201), a large one in a
# background thread (202 with the id to poll).


@router.post("/imports", response_model=ImportOut, status_code=201,
             summary="上传文件导入（小文件即时完成，大文件后台导入）",
             responses={202: {"model": ImportAccepted, "description": "大文件：已在后台导入，请轮询"}})
@body_limit(UPLOAD_LIMIT + MARGIN)
def create_import(session: Db, principal: CurrentUser, file: Annotated[UploadFile, File(description="CSV/Excel/JSON")],
                  source_id: Annotated[uuid.UUID, Form(description="数据源")],
                  template: Annotated[str | None, Form(description="映射模板名称（默认：数据源的默认模板）")] = None,
                  dry_run: Annotated[bool, Form(description="只校验和统计，不写入")] = False,
                  encoding: Annotated[str | None, Form(description="文件编码（默认自动识别）")] = None,
                  sheet: Annotated[str | None, Form(description="Excel 工作表")] = None) -> Any:
    authorize(principal, Perm.hub_import, "没有导入数据的权限", code="hub_import_denied")
    sources.get_source(session, principal=principal, source_id=source_id)  # 404 before spooling anything
    path, digest, size = imports.spool(iter(lambda: file.file.read(1 << 20), b""), file.filename or "upload.csv")
    imp, import_id = imports.start_import(session, principal=principal, source_id=source_id, path=path,
                                          file_hash=digest, size=size, filename=file.filename or path.name,
                                          template=template, dry_run=dry_run, encoding=encoding, sheet=sheet)
    if imp is None:
        body = ImportAccepted(id=import_id, poll=f"/api/v1/hub/imports/{import_id}")
        return JSONResponse(body.model_dump(mode="json"), status_code=202)
    return ImportOut(**imports.import_view(session, imp))


@router.get("/imports", response_model=Page[ImportOut], summary="导入历史")
def list_imports(session: Db, principal: CurrentUser, paging: Paging, source_id: uuid.UUID | None = None,
                 status: ImportStatus | None = None) -> Page[ImportOut]:
    rows, total = imports.list_imports(session, principal=principal, source_id=source_id, status=status,
                                       page=paging.page, page_size=paging.page_size)
    return Page(items=[ImportOut(**imports.import_view(session, r)) for r in rows], total=total, page=paging.page,
                page_size=paging.page_size)


@router.get("/imports/{import_id}", response_model=ImportOut, summary="导入批次（计数、用时、进度）")
def get_import(session: Db, principal: CurrentUser, import_id: uuid.UUID) -> ImportOut:
    return ImportOut(**imports.import_view(session, imports.get_import(session, principal=principal,
                                                                       import_id=import_id)))


@router.get("/quarantine", response_model=Page[QuarantineRowOut], summary="隔离区（未通过校验的数据行）")
def list_quarantine(session: Db, principal: CurrentUser, paging: Paging, source_id: uuid.UUID | None = None,
                    import_id: uuid.UUID | None = None, rule: str | None = None,
                    status: QuarantineStatus | None = QuarantineStatus.open) -> Page[QuarantineRowOut]:
    rows, total = quarantine.list_rows(session, principal=principal, source_id=source_id, import_id=import_id,
                                       rule=rule, status=status, page=paging.page, page_size=paging.page_size)
    return Page(items=[QuarantineRowOut(**quarantine.row_view(session, r)) for r in rows], total=total,
                page=paging.page, page_size=paging.page_size)


@router.get("/quarantine/download", summary="导出待处理的隔离行（.xlsx，含原因列；无查看权限时脱敏，留痕）",
            response_class=Response)
def download_quarantine(session: Db, principal: CurrentUser, source_id: uuid.UUID | None = None,
                        import_id: uuid.UUID | None = None, rule: str | None = None) -> Response:
    data, _, _ = quarantine.download(session, principal=principal, source_id=source_id, import_id=import_id,
                                     rule=rule)
    name = f"quarantine-{utcnow():%Y%m%d%H%M}.xlsx"
    return Response(data, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/quarantine/rerun", response_model=RerunOut, summary="重新校验并导入待处理的隔离行")
def rerun_quarantine(session: Db, principal: CurrentUser, body: RerunIn) -> RerunOut:
    return RerunOut(**quarantine.rerun(session, principal=principal, import_id=body.import_id,
                                       source_id=body.source_id))


@router.get("/quarantine/{row_id}", response_model=QuarantineRowOut, summary="隔离行")
def get_quarantine_row(session: Db, principal: CurrentUser, row_id: uuid.UUID) -> QuarantineRowOut:
    return QuarantineRowOut(**quarantine.row_view(session, quarantine.get_row(session, principal=principal,
                                                                              row_id=row_id)))


@router.post("/quarantine/{row_id}/fix", response_model=QuarantineRowOut, summary="修正隔离行并重新导入")
def fix_quarantine_row(session: Db, principal: CurrentUser, row_id: uuid.UUID, body: FixIn) -> QuarantineRowOut:
    row = quarantine.fix_row(session, principal=principal, row_id=row_id, cells=body.cells)
    return QuarantineRowOut(**quarantine.row_view(session, row))


@router.post("/quarantine/{row_id}/discard", response_model=QuarantineRowOut, summary="作废隔离行（保留记录）")
def discard_quarantine_row(session: Db, principal: CurrentUser, row_id: uuid.UUID, body: DiscardIn
                           ) -> QuarantineRowOut:
    row = quarantine.discard_row(session, principal=principal, row_id=row_id, reason=body.reason)
    return QuarantineRowOut(**quarantine.row_view(session, row))


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


def _golden_out(view: dict[str, Any]) -> GoldenOut:
    g = view["golden"]
    return GoldenOut(id=g.id, entity_type=g.entity_type, register_id=g.register_id, path=g.path,
                     merged_into=g.merged_into, register_note=g.register_note, version=g.version,
                     values=[FieldValue(**v) for v in view["values"]])


@router.post("/resolve", summary="对尚未归并的源记录做主数据归并")
def resolve_records(session: Db, principal: CurrentUser, body: ResolveIn) -> dict[str, int]:
    return golden.resolve(session, principal=principal, entity=body.entity, source_id=body.source_id)


@router.get("/review", response_model=CandidatePage, summary="待复核的疑似重复记录")
def list_candidates(session: Db, principal: CurrentUser, paging: Paging,
                    status: CandidateStatus | None = CandidateStatus.pending,
                    entity: EntityType | None = None) -> CandidatePage:
    rows, total = review.list_candidates(session, principal=principal, status=status, entity=entity,
                                         page=paging.page, page_size=paging.page_size)
    return CandidatePage(items=[CandidateOut.model_validate(r) for r in rows], total=total)


@router.get("/review/{candidate_id}", response_model=CandidateDetail, summary="疑似重复记录对比（脱敏）")
def get_candidate(session: Db, principal: CurrentUser, candidate_id: uuid.UUID) -> CandidateDetail:
    v = review.candidate_view(session, principal=principal, candidate_id=candidate_id)
    return CandidateDetail(candidate=CandidateOut.model_validate(v["candidate"]),
                           source=v["source"].title if v["source"] else None,
                           rows=[CompareRow(**r) for r in v["rows"]], weight=v["weight"])


@router.post("/review/{candidate_id}/merge", response_model=MergeOut, summary="合并")
def merge_candidate(session: Db, principal: CurrentUser, candidate_id: uuid.UUID) -> MergeOut:
    return MergeOut.model_validate(review.merge(session, principal=principal, candidate_id=candidate_id))


@router.post("/review/{candidate_id}/keep-apart", response_model=CandidateOut, summary="保持独立")
def keep_apart(session: Db, principal: CurrentUser, candidate_id: uuid.UUID) -> CandidateOut:
    return CandidateOut.model_validate(review.keep_apart(session, principal=principal, candidate_id=candidate_id))


@router.post("/merges/{merge_id}/undo", response_model=MergeOut, summary="撤销合并")
def undo_merge(session: Db, principal: CurrentUser, merge_id: uuid.UUID) -> MergeOut:
    return MergeOut.model_validate(review.undo_merge(session, principal=principal, merge_id=merge_id))


@router.get("/golden/{golden_id}", response_model=GoldenOut, summary="主数据（脱敏）")
def get_golden(session: Db, principal: CurrentUser, golden_id: uuid.UUID) -> GoldenOut:
    return _golden_out(lineage.golden_view(session, principal=principal, golden_id=golden_id))


@router.get("/golden/{golden_id}/lineage", response_model=LineageOut, summary="主数据字段血缘与合并历史")
def golden_lineage(session: Db, principal: CurrentUser, golden_id: uuid.UUID) -> LineageOut:
    v = lineage.golden_lineage(session, principal=principal, golden_id=golden_id)
    return LineageOut(golden_id=v["golden"].id, fields=jsonable_encoder(v["fields"]),
                      links=jsonable_encoder(v["links"]), merges=jsonable_encoder(v["merges"]))


@router.post("/golden/{golden_id}/resurvive", response_model=GoldenOut, summary="按当前存活规则重新计算")
def resurvive(session: Db, principal: CurrentUser, golden_id: uuid.UUID) -> GoldenOut:
    golden.resurvive(session, principal=principal, golden_ids=[golden_id])
    return _golden_out(lineage.golden_view(session, principal=principal, golden_id=golden_id))


def _records_lineage(session: Db, principal: CurrentUser, kind: str, object_id: uuid.UUID) -> RecordsLineageOut:
    v = lineage.register_lineage(session, principal=principal, kind=kind, register_id=object_id)
    return RecordsLineageOut(golden_id=v["golden"].id if v["golden"] else None,
                             records=jsonable_encoder(v["records"]))


@router.get("/lineage/person/{person_id}", response_model=RecordsLineageOut, summary="人员登记的数据来源")
def person_lineage(session: Db, principal: CurrentUser, person_id: uuid.UUID) -> RecordsLineageOut:
    return _records_lineage(session, principal, "person", person_id)


@router.get("/lineage/organisation/{organisation_id}", response_model=RecordsLineageOut,
            summary="组织登记的数据来源")
def organisation_lineage(session: Db, principal: CurrentUser, organisation_id: uuid.UUID) -> RecordsLineageOut:
    return _records_lineage(session, principal, "organisation", organisation_id)


@router.get("/lineage/building/{building_id}", response_model=RecordsLineageOut, summary="楼栋登记的数据来源")
def building_lineage(session: Db, principal: CurrentUser, building_id: uuid.UUID) -> RecordsLineageOut:
    return _records_lineage(session, principal, "building", building_id)


@router.get("/lineage/household/{household_id}", response_model=RecordsLineageOut, summary="房屋登记的数据来源")
def household_lineage(session: Db, principal: CurrentUser, household_id: uuid.UUID) -> RecordsLineageOut:
    return _records_lineage(session, principal, "household", household_id)


@router.get("/lineage/case/{case_id}", response_model=RecordsLineageOut, summary="导入的历史事件的数据来源")
def case_lineage(session: Db, principal: CurrentUser, case_id: uuid.UUID) -> RecordsLineageOut:
    v = lineage.case_lineage(session, principal=principal, case_id=case_id)
    return RecordsLineageOut(records=jsonable_encoder(v["records"]))


@router.get("/survivorship/{entity}", response_model=list[RuleOut], summary="存活规则")
def list_rules(session: Db, principal: CurrentUser, entity: EntityType) -> list[RuleOut]:
    return [RuleOut(**r) for r in survivorship.list_rules(session, principal=principal, entity=entity)]


@router.put("/survivorship/{entity}/{field}", response_model=RuleOut, summary="修改存活规则")
def set_rule(session: Db, principal: CurrentUser, entity: EntityType, field: str, body: RuleIn) -> RuleOut:
    survivorship.set_rule(session, principal=principal, entity=entity, field=field, rule=body.rule)
    [row] = [r for r in survivorship.list_rules(session, principal=principal, entity=entity) if r["field"] == field]
    return RuleOut(**row)


# -- change subscriptions (changes.py) ----------------------------------------------------------------------------


@router.get("/subscriptions", response_model=list[SubscriptionOut], summary="变更订阅")
def list_subscriptions(session: Db, principal: CurrentUser) -> list[SubscriptionOut]:
    return [SubscriptionOut.model_validate(s) for s in changes.list_subscriptions(session, principal=principal)]


@router.post("/subscriptions", response_model=SubscriptionOut, status_code=201, summary="新增变更订阅")
def create_subscription(session: Db, principal: CurrentUser, body: SubscriptionIn) -> SubscriptionOut:
    data = body.model_dump()
    data["entity_types"] = [e.value for e in body.entity_types]
    return SubscriptionOut.model_validate(changes.create_subscription(session, principal=principal, data=data))


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut, summary="变更订阅详情")
def get_subscription(session: Db, principal: CurrentUser, subscription_id: uuid.UUID) -> SubscriptionOut:
    return SubscriptionOut.model_validate(changes.get_subscription(session, principal=principal,
                                                                   subscription_id=subscription_id))


@router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionOut, summary="修改变更订阅")
def update_subscription(session: Db, principal: CurrentUser, subscription_id: uuid.UUID,
                        body: SubscriptionPatch) -> SubscriptionOut:
    data = body.model_dump(exclude_unset=True)
    if body.entity_types is not None:
        data["entity_types"] = [e.value for e in body.entity_types]
    return SubscriptionOut.model_validate(changes.update_subscription(
        session, principal=principal, subscription_id=subscription_id, changes=data))


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="删除变更订阅")
def delete_subscription(session: Db, principal: CurrentUser, subscription_id: uuid.UUID) -> Response:
    changes.delete_subscription(session, principal=principal, subscription_id=subscription_id)
    return Response(status_code=204)


@router.get("/subscriptions/{subscription_id}/deliveries", response_model=list[DeliveryOut],
            summary="推送记录（含失败的死信）")
def list_deliveries(session: Db, principal: CurrentUser, subscription_id: uuid.UUID,
                    status: DeliveryStatus | None = None) -> list[DeliveryOut]:
    rows = changes.list_deliveries(session, principal=principal, subscription_id=subscription_id, status=status)
    return [DeliveryOut(id=d.id, change_key=e.key, kind=e.kind, fields=list(e.fields or []), status=d.status,
                        attempts=d.attempts, last_error=d.last_error, next_try_at=d.next_try_at,
                        delivered_at=d.delivered_at) for d, e in rows]


# -- addresses (address.py) ---------------------------------------------------------------------------------------


# -- addresses (address.py) ---------------------------------------------------------------------------------------


@router.post("/address/parse", response_model=AddressOut, summary="地址解析与落位")
def parse_address(session: Db, principal: CurrentUser, body: AddressIn) -> AddressOut:
    got = address.place_address(session, principal=principal, text=body.address)
    pl, names = got["placement"], got["names"]
    return AddressOut(
        parts=AddressPartsOut(**{**got["parts"].as_dict(), "fixes": list(got["parts"].fixes)}),
        placement=PlacementOut(placed=pl.unit_id is not None, unit_id=pl.unit_id, building_id=pl.building_id,
                               entrance_id=pl.entrance_id, household_id=pl.household_id, confidence=pl.confidence,
                               reason=pl.reason, units=[u["name"] for u in names["units"]],
                               building=names["building"], entrance=names["entrance"], room=names["room"]))
