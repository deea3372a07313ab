"""Data hub routes (``/api/v1/hub``): sources, templates, imports, quarantine, quality, resolution, lineage.

Thin: each route loads, calls one service function (which checks permission and jurisdiction itself), answers.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response
from fastapi.encoders import jsonable_encoder

from zhili.datahub import changes, golden, lineage, review, sources, survivorship
from zhili.datahub.models import CandidateStatus, DeliveryStatus, EntityType, Target
from zhili.datahub.schemas import SourceIn, SourceOut, SourcePatch
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
def list_candidates(session: Db, principal: CurrentUser, status: CandidateStatus | None = CandidateStatus.pending,
                    entity: EntityType | None = None, page: int = 1, page_size: int = 50) -> CandidatePage:
    rows, total = review.list_candidates(session, principal=principal, status=status, entity=entity, page=page,
                                         page_size=page_size)
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
