"""Household visit routes (``/api/v1/visits``): record, list, look up, coverage, photos, 转为事件."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from zhili.core.schemas import Page
from zhili.http.deps import CurrentUser, Db, Paging
from zhili.visits import service
from zhili.visits.models import VisitKind
from zhili.visits.schemas import CoverageOut, FollowUpIn, VisitCaseOut, VisitIn, VisitOut

router = APIRouter(prefix="/visits", tags=["入户走访"])

UnitFilter = Annotated[uuid.UUID | None, Query(description="只看该单位（街道/社区/网格）之下")]


@router.get("", response_model=Page[VisitOut], summary="走访记录列表")
def list_visits(session: Db, principal: CurrentUser, paging: Paging, unit_id: UnitFilter = None,
                household_id: uuid.UUID | None = None, kind: VisitKind | None = None,
                mine: Annotated[bool, Query(description="只看本人的走访")] = False,
                since: Annotated[dt.datetime | None, Query(description="走访时间起")] = None,
                until: Annotated[dt.datetime | None, Query(description="走访时间止")] = None) -> Page[VisitOut]:
    rows, total = service.list_visits(session, principal=principal, household_id=household_id, unit_id=unit_id,
                                      worker_id=principal.user_id if mine else None, kind=kind, since=since,
                                      until=until, page=paging.page, page_size=paging.page_size)
    return Page(items=[VisitOut(**v) for v in service.visit_views(session, rows)], total=total, page=paging.page,
                page_size=paging.page_size)


@router.post("", response_model=VisitOut, status_code=201, summary="记录走访（网格员，本网格的房屋/户）")
def record_visit(body: VisitIn, session: Db, principal: CurrentUser) -> VisitOut:
    follow_up = service.FollowUp(**body.follow_up.model_dump()) if body.follow_up else None
    visit = service.record_visit(session, principal=principal, household_id=body.household_id, kind=body.kind,
                                 summary=body.summary, findings=body.findings, visited_at=body.visited_at,
                                 person_ids=body.person_ids, attachment_ids=body.attachment_ids, follow_up=follow_up)
    return VisitOut(**service.visit_view(session, visit))


@router.get("/coverage", response_model=CoverageOut, summary="走访覆盖：近30/90天走访过的户数")
def coverage(session: Db, principal: CurrentUser, unit_id: UnitFilter = None) -> CoverageOut:
    return CoverageOut(**service.coverage(session, principal=principal, unit_id=unit_id))


@router.get("/{visit_id}", response_model=VisitOut, summary="走访记录详情")
def get_visit(visit_id: uuid.UUID, session: Db, principal: CurrentUser) -> VisitOut:
    return VisitOut(**service.visit_view(session, service.get_visit(session, principal=principal,
                                                                    visit_id=visit_id)))


@router.post("/{visit_id}/case", response_model=VisitCaseOut, status_code=201, summary="转为事件")
def escalate_visit(visit_id: uuid.UUID, body: FollowUpIn, session: Db, principal: CurrentUser) -> VisitCaseOut:
    case = service.escalate_visit(session, principal=principal, visit_id=visit_id,
                                  follow_up=service.FollowUp(**body.model_dump()))
    return VisitCaseOut(visit_id=visit_id, case_id=case.id, case_number=case.number)


@router.get("/{visit_id}/photos/{attachment_id}", summary="走访照片", response_class=Response)
def photo(visit_id: uuid.UUID, attachment_id: uuid.UUID, session: Db, principal: CurrentUser) -> Response:
    att, data = service.read_photo(session, principal=principal, visit_id=visit_id, attachment_id=attachment_id)
    return Response(data, media_type=att.content_type)  # no-store: the caching rule in app.py
