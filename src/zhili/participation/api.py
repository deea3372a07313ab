"""Resident participation routes: SMS codes, registration and password reset, public nearby cases and 附议,
notices, the monthly disclosure, suggestions and replies."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from zhili.core.schemas import Page
from zhili.http.deps import CurrentUser, Db, Paging, client_ip
from zhili.http.openapi import THROTTLED
from zhili.participation import service
from zhili.participation.schemas import (
    CodeRequest,
    CodeSent,
    DisclosureOut,
    NoticeIn,
    NoticeOut,
    NoticePatch,
    PasswordResetIn,
    PublicCaseOut,
    Registered,
    RegisterIn,
    ReplyIn,
    ReplyOut,
    SuggestionIn,
    SuggestionOut,
    SuggestionThreadOut,
)
from zhili.participation.settings import participation_settings

router = APIRouter(prefix="/participation", tags=["居民参与"])


@router.post("/sms-codes", response_model=CodeSent, status_code=202, summary="获取短信验证码", responses=THROTTLED)
def request_code(body: CodeRequest, request: Request, session: Db) -> CodeSent:
    service.request_code(session, phone=body.phone, purpose=body.purpose, ip=client_ip(request))
    s = participation_settings()
    return CodeSent(expires_in=s.sms_code_ttl_s, resend_after=s.sms_resend_s)


@router.post("/register", response_model=Registered, status_code=201, summary="手机号注册居民账号", responses=THROTTLED)
def register(body: RegisterIn, request: Request, session: Db) -> Registered:
    token, auth, user = service.register_resident(
        session, phone=body.phone, code=body.code, password=body.password, display_name=body.display_name,
        community_id=body.community_id, ip=client_ip(request), user_agent=request.headers.get("user-agent"))
    return Registered(access_token=token, expires_at=auth.expires_at, user_id=user.id)


@router.post("/password-reset", status_code=204, summary="短信验证找回密码", responses=THROTTLED)
def reset_password(body: PasswordResetIn, request: Request, session: Db) -> Response:
    service.reset_password_with_code(session, phone=body.phone, code=body.code, password=body.password,
                                     ip=client_ip(request))
    return Response(status_code=204)


@router.get("/cases/nearby", response_model=list[PublicCaseOut], summary="附近的公开事件")
def nearby(
    session: Db, principal: CurrentUser,
    lon: Annotated[float | None, Query(ge=-180, le=180, description="经度（WGS-84）")] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90, description="纬度（WGS-84）")] = None,
    radius_m: Annotated[float | None, Query(ge=100, le=5000, description="半径（米）")] = None,
    community_id: uuid.UUID | None = None,
    category: Annotated[str | None, Query(max_length=32, description="类别代码或大类前缀")] = None,
) -> list[PublicCaseOut]:
    rows = service.nearby_cases(session, principal=principal, lon=lon, lat=lat, radius_m=radius_m,
                                community_id=community_id, category=category)
    return [PublicCaseOut.model_validate(r) for r in rows]


@router.get("/cases/{case_id}", response_model=PublicCaseOut, summary="公开事件详情")
def public_case(case_id: uuid.UUID, session: Db, principal: CurrentUser) -> PublicCaseOut:
    return PublicCaseOut.model_validate(service.get_public_case(session, principal=principal, case_id=case_id))


@router.post("/cases/{case_id}/support", response_model=PublicCaseOut, status_code=201, summary="附议")
def support(case_id: uuid.UUID, session: Db, principal: CurrentUser) -> PublicCaseOut:
    return PublicCaseOut.model_validate(service.support_case(session, principal=principal, case_id=case_id))


@router.get("/notices", response_model=list[NoticeOut], summary="本社区及上级的公告（居民）")
def notices(session: Db, principal: CurrentUser, community_id: uuid.UUID | None = None) -> list[NoticeOut]:
    return [NoticeOut.model_validate(n) for n in service.notices_for(session, principal=principal,
                                                                      community_id=community_id)]


@router.get("/notices/manage", response_model=Page[NoticeOut], summary="管辖范围内的公告（工作人员）")
def manage_notices(session: Db, principal: CurrentUser, paging: Paging) -> Page[NoticeOut]:
    rows, total = service.list_notices(session, principal=principal, page=paging.page, page_size=paging.page_size)
    return Page(items=[NoticeOut.model_validate(n) for n in rows], total=total, page=paging.page,
                page_size=paging.page_size)


@router.post("/notices", response_model=NoticeOut, status_code=201, summary="发布公告")
def create_notice(body: NoticeIn, session: Db, principal: CurrentUser) -> NoticeOut:
    return NoticeOut.model_validate(service.create_notice(session, principal=principal, data=body.model_dump()))


@router.patch("/notices/{notice_id}", response_model=NoticeOut, summary="修改公告")
def update_notice(notice_id: uuid.UUID, body: NoticePatch, session: Db, principal: CurrentUser) -> NoticeOut:
    return NoticeOut.model_validate(service.update_notice(session, principal=principal, notice_id=notice_id,
                                                          changes=body.model_dump(exclude_unset=True)))


@router.delete("/notices/{notice_id}", status_code=204, summary="撤回公告")
def withdraw_notice(notice_id: uuid.UUID, session: Db, principal: CurrentUser) -> Response:
    service.withdraw_notice(session, principal=principal, notice_id=notice_id)
    return Response(status_code=204)


@router.get("/disclosure", response_model=DisclosureOut, summary="社区上月办件公开")
def disclosure(session: Db, principal: CurrentUser, community_id: uuid.UUID | None = None) -> DisclosureOut:
    return DisclosureOut.model_validate(service.disclosure(session, principal=principal, community_id=community_id))


@router.post("/suggestions", response_model=SuggestionOut, status_code=201, summary="提交建议")
def submit_suggestion(body: SuggestionIn, session: Db, principal: CurrentUser) -> SuggestionOut:
    return SuggestionOut.model_validate(service.submit_suggestion(session, principal=principal, title=body.title,
                                                                  body=body.body, unit_id=body.unit_id))


@router.get("/suggestions/mine", response_model=Page[SuggestionOut], summary="我的建议")
def my_suggestions(session: Db, principal: CurrentUser, paging: Paging) -> Page[SuggestionOut]:
    rows, total = service.my_suggestions(session, principal=principal, page=paging.page,
                                         page_size=paging.page_size)
    return Page(items=[SuggestionOut.model_validate(s) for s in rows], total=total, page=paging.page,
                page_size=paging.page_size)


@router.get("/suggestions", response_model=Page[SuggestionOut], summary="管辖范围内的居民建议（工作人员）")
def list_suggestions(session: Db, principal: CurrentUser, paging: Paging,
                     status: Annotated[str | None, Query(pattern="^(open|replied)$")] = None) -> Page[SuggestionOut]:
    rows, total = service.list_suggestions(session, principal=principal, status=status, page=paging.page,
                                           page_size=paging.page_size)
    return Page(items=[SuggestionOut.model_validate(s) for s in rows], total=total, page=paging.page,
                page_size=paging.page_size)


@router.get("/suggestions/{suggestion_id}", response_model=SuggestionThreadOut, summary="建议及答复")
def get_suggestion(suggestion_id: uuid.UUID, session: Db, principal: CurrentUser) -> SuggestionThreadOut:
    t = service.get_suggestion(session, principal=principal, suggestion_id=suggestion_id)
    return SuggestionThreadOut(suggestion=SuggestionOut.model_validate(t.suggestion), unit_name=t.unit_name,
                               replies=[ReplyOut.model_validate(r) for r in t.replies])


@router.post("/suggestions/{suggestion_id}/replies", response_model=ReplyOut, status_code=201, summary="答复建议")
def reply(suggestion_id: uuid.UUID, body: ReplyIn, session: Db, principal: CurrentUser) -> ReplyOut:
    return ReplyOut.model_validate(service.reply_suggestion(session, principal=principal,
                                                            suggestion_id=suggestion_id, body=body.body))
