"""Case routes: intake, list/search/export, detail and timeline, workflow actions, attachments, supervision,
notifications, taxonomy and the responsibility list."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Header, Query, Request, Response, UploadFile

from zhili.cases import attachments, dispatch, engine, export, service, supervision, sweep, taxonomy, views
from zhili.cases import inbox as case_inbox
from zhili.cases.models import CaseState, Channel
from zhili.cases.schemas import (
    ActionIn,
    AttachmentOut,
    AvailableAction,
    CaseCreated,
    CaseDetail,
    CaseIn,
    CaseOut,
    CategoryCreate,
    CategoryOut,
    CategoryPatch,
    DepartmentOut,
    DuplicateOut,
    EventOut,
    NotificationOut,
    ReporterOut,
    RevealIn,
    RuleIn,
    RuleOut,
    RulePatch,
    RuleTestIn,
    RuleTestOut,
    SubTaskOut,
    SupervisionOut,
)
from zhili.cases.workflow import ACTIONS
from zhili.cases.writer import IntakeWriter, default_writer
from zhili.core.db import utcnow
from zhili.core.jurisdiction import authorize
from zhili.core.schemas import Page
from zhili.core.security import Perm
from zhili.core.settings import get_settings
from zhili.http.bodylimit import MARGIN, body_limit
from zhili.http.deps import CachedAuth, CurrentUser, Db, Paging, ReplicaDb
from zhili.org import service as org

router = APIRouter(tags=["事件办理"])
config_router = APIRouter(tags=["事件分类与派单规则"])


async def get_intake_writer() -> IntakeWriter:
    """The process's group-commit intake writer (tests override this with a writer on their session)."""
    return default_writer()


Writer = Annotated[IntakeWriter, Depends(get_intake_writer)]


def _filters(
    state: Annotated[list[CaseState] | None, Query(description="状态，可多选")] = None,
    category: Annotated[str | None, Query(description="类别代码或大类前缀")] = None,
    unit_id: Annotated[uuid.UUID | None, Query(description="该单位之下")] = None,
    channel: Channel | None = None,
    since: Annotated[dt.datetime | None, Query(description="上报时间起")] = None,
    until: Annotated[dt.datetime | None, Query(description="上报时间止")] = None,
    overdue: bool | None = None,
    warning: Annotated[str | None, Query(pattern="^(none|yellow|red)$")] = None,
    q: Annotated[str | None, Query(max_length=100, description="关键字或事件编号")] = None,
    department: Annotated[str | None, Query(max_length=32)] = None,
    open_only: bool = False,
    number: Annotated[str | None, Query(max_length=32, description="事件编号（精确）")] = None,
    supervised: Annotated[bool, Query(description="仅督办中（有未反馈的督办单）")] = False,
    history: Annotated[bool | None, Query(description="true：仅历史导入；false：仅实时工单；不填：全部")] = None,
) -> service.CaseFilter:
    return service.CaseFilter(state=state, category=category, unit_id=unit_id, channel=channel, since=since,
                              until=until, overdue=overdue, warning=warning, keyword=q, department=department,
                              open_only=open_only, number=number, supervised=supervised, history=history)


Filters = Annotated[service.CaseFilter, Depends(_filters)]


@router.post("/cases", response_model=CaseCreated, status_code=201, summary="上报事件")
async def report_case(body: CaseIn, auth: CachedAuth, writer: Writer, response: Response,
                      idempotency_key: Annotated[str | None, Header(max_length=128)] = None) -> CaseCreated:
    principal = auth.principal
    view, created, dups = await service.submit_report(writer=writer, principal=principal, channel=body.channel,
                                                data=body.model_dump(exclude={"channel"}),
                                                idempotency_key=idempotency_key, auth=auth)
    if not created:
        response.status_code = 200
    return CaseCreated(**view, duplicate_candidates=[DuplicateOut.of(c) for c, _ in dups])


@router.get("/cases", response_model=Page[CaseOut], summary="事件列表与检索")
def list_cases(session: Db, principal: CurrentUser, paging: Paging, filters: Filters) -> Page[CaseOut]:
    rows, total, exact = service.list_cases(session, principal=principal, filters=filters, **paging.model_dump())
    names = org.department_names(session)
    return Page(items=[CaseOut(**views.case_view(session, c, departments=names)) for c in rows], total=total,
                total_exact=exact, page=paging.page, page_size=paging.page_size)


@router.get("/cases/export.xlsx", summary="导出事件（Excel）", response_class=Response)
def export_cases(session: ReplicaDb, principal: CurrentUser, filters: Filters) -> Response:
    data = export.export_cases_xlsx(session, principal=principal, filters=filters)
    name = f"cases-{utcnow():%Y%m%d%H%M}.xlsx"
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/cases/summary", summary="我的待办数量")
def summary(session: Db, principal: CurrentUser) -> dict[str, int]:
    return service.pending_for(session, principal=principal)


@router.get("/cases/by-number/{number}", response_model=CaseDetail, summary="按编号查看事件")
def get_by_number(number: str, session: Db, principal: CurrentUser) -> CaseDetail:
    case = service.get_case_by_number(session, principal=principal, number=number)
    return _detail(session, principal, case)


@router.get("/cases/{case_id}", response_model=CaseDetail, summary="事件详情")
def get_case(case_id: uuid.UUID, session: Db, principal: CurrentUser) -> CaseDetail:
    return _detail(session, principal, service.get_case(session, principal=principal, case_id=case_id))


def _detail(session: Any, principal: Any, case: Any) -> CaseDetail:
    return CaseDetail(**views.case_view(session, case),
                      actions=[AvailableAction(**a) for a in engine.available_actions(session, principal=principal,
                                                                                         case=case)],
                      subtasks=[SubTaskOut.model_validate(s) for s in service.subtasks(session, case=case)])


@router.get("/cases/{case_id}/timeline", response_model=list[EventOut], summary="办理过程")
def case_timeline(case_id: uuid.UUID, session: Db, principal: CurrentUser) -> list[EventOut]:
    return [EventOut.model_validate(e).model_copy(update={"action_label": ACTIONS.get(e.action, e.action)})
            for e in service.timeline(session, principal=principal, case_id=case_id)]


@router.get("/cases/{case_id}/duplicates", response_model=list[DuplicateOut], summary="疑似重复件")
def case_duplicates(case_id: uuid.UUID, session: Db, principal: CurrentUser) -> list[DuplicateOut]:
    case = service.get_case(session, principal=principal, case_id=case_id)
    return [DuplicateOut.of(c) for c, _ in service.find_duplicates(session, principal=principal, case=case)]


@router.post("/cases/{case_id}/actions/{action}", response_model=CaseDetail, summary="办理操作（按流程表）")
def act(case_id: uuid.UUID, action: str, body: ActionIn, session: Db, principal: CurrentUser) -> CaseDetail:
    payload = body.model_dump(exclude={"version"}, exclude_none=True)
    case = engine.transition(session, principal=principal, case_id=case_id, action=action, payload=payload,
                              expected_version=body.version)
    return _detail(session, principal, case)


@router.post("/cases/{case_id}/reporter", response_model=ReporterOut, summary="查看上报人（回访用，留痕）")
def reveal_reporter(case_id: uuid.UUID, body: RevealIn, session: Db, principal: CurrentUser) -> ReporterOut:
    return ReporterOut(**service.reveal_reporter(session, principal=principal, case_id=case_id, reason=body.reason))


@router.post("/attachments", response_model=AttachmentOut, status_code=201, summary="上传附件（照片等）")
@body_limit(lambda: get_settings().max_upload_bytes + MARGIN)
async def upload(request: Request, session: Db, principal: CurrentUser,
                 file: Annotated[UploadFile, File(description="图片/PDF/视频")]) -> AttachmentOut:
    from zhili.core.settings import get_settings

    data = await file.read(get_settings().max_upload_bytes + 1)
    return AttachmentOut.model_validate(attachments.set_attachment(session, principal=principal, data=data,
                                                               filename=file.filename or ""))


@router.get("/attachments/{attachment_id}", summary="下载附件", response_class=Response)
def download(attachment_id: uuid.UUID, session: Db, principal: CurrentUser) -> Response:
    att, data = attachments.read_attachment(session, principal=principal, attachment_id=attachment_id)
    return Response(data, media_type=att.content_type)  # no-store: the caching rule in app.py


@router.get("/supervisions", response_model=Page[SupervisionOut], summary="督办单")
def supervisions(session: Db, principal: CurrentUser, paging: Paging, open_only: bool = True
                 ) -> Page[SupervisionOut]:
    rows, total = supervision.list_supervisions(session, principal=principal, open_only=open_only, page=paging.page,
                                            page_size=paging.page_size)
    return Page(items=[SupervisionOut.model_validate(s) for s in rows], total=total, page=paging.page,
                page_size=paging.page_size)


@router.post("/cases/sweep", summary="立即执行期限巡检（预警、超期督办）")
def run_sweep(session: Db, principal: CurrentUser) -> dict[str, int]:
    authorize(principal, Perm.config_write)
    r = sweep.sweep_deadlines(session)
    return {"yellow": r.yellow, "red": r.red, "escalated": r.escalated}


@router.get("/notifications", response_model=list[NotificationOut], summary="我的消息")
def notifications(session: Db, principal: CurrentUser, unread_only: bool = False) -> list[NotificationOut]:
    return [NotificationOut.model_validate(n) for n in case_inbox.inbox(session, principal=principal,
                                                                      unread_only=unread_only)]


@router.post("/notifications/{notification_id}/read", status_code=204, summary="标记已读")
def read_notification(notification_id: uuid.UUID, session: Db, principal: CurrentUser) -> Response:
    case_inbox.mark_read(session, principal=principal, notification_id=notification_id)
    return Response(status_code=204)


# -- taxonomy and rules -------------------------------------------------------------------------------------

@config_router.get("/categories", response_model=list[CategoryOut], summary="事件分类")
def categories(session: Db, principal: CurrentUser, kind: str | None = None, parent: str | None = None,
               leaves_only: bool = False, q: Annotated[str | None, Query(max_length=50)] = None,
               include_inactive: bool = False) -> list[CategoryOut]:
    return [CategoryOut.model_validate(c) for c in taxonomy.list_categories(
        session, kind=kind, parent=parent, leaves_only=leaves_only, q=q, include_inactive=include_inactive)]


@config_router.post("/categories", response_model=CategoryOut, status_code=201, summary="新增分类")
def create_category(body: CategoryCreate, session: Db, principal: CurrentUser) -> CategoryOut:
    return CategoryOut.model_validate(taxonomy.create_category(session, principal=principal, data=body.model_dump()))


@config_router.patch("/categories/{code}", response_model=CategoryOut, summary="修改分类（生成新版本）")
def update_category(code: str, body: CategoryPatch, session: Db, principal: CurrentUser) -> CategoryOut:
    return CategoryOut.model_validate(taxonomy.update_category(session, principal=principal, code=code,
                                                               changes=body.model_dump(exclude_unset=True)))


@config_router.get("/categories/{code}/history", response_model=list[CategoryOut], summary="分类版本历史")
def category_history(code: str, session: Db, principal: CurrentUser) -> list[CategoryOut]:
    return [CategoryOut.model_validate(c) for c in taxonomy.category_history(session, code=code)]


@config_router.get("/departments", response_model=list[DepartmentOut], summary="职能部门")
def departments(session: Db, principal: CurrentUser) -> list[DepartmentOut]:
    return [DepartmentOut.model_validate(d) for d in org.list_departments(session)]


@config_router.get("/dispatch-rules", response_model=list[RuleOut], summary="派单规则（权责清单）")
def rules(session: Db, principal: CurrentUser) -> list[RuleOut]:
    authorize(principal, Perm.case_read)
    return [RuleOut.model_validate(r) for r in dispatch.current_rules(session)]


@config_router.post("/dispatch-rules", response_model=RuleOut, status_code=201, summary="新增派单规则")
def create_rule(body: RuleIn, session: Db, principal: CurrentUser) -> RuleOut:
    return RuleOut.model_validate(dispatch.create_rule(session, principal=principal, data=body.model_dump()))


@config_router.patch("/dispatch-rules/{rule_key}", response_model=RuleOut, summary="修改派单规则（生成新版本）")
def update_rule(rule_key: uuid.UUID, body: RulePatch, session: Db, principal: CurrentUser) -> RuleOut:
    return RuleOut.model_validate(dispatch.update_rule(session, principal=principal, rule_key=rule_key,
                                                       changes=body.model_dump(exclude_unset=True)))


@config_router.get("/dispatch-rules/{rule_key}/history", response_model=list[RuleOut], summary="规则版本历史")
def rule_history(rule_key: uuid.UUID, session: Db, principal: CurrentUser) -> list[RuleOut]:
    authorize(principal, Perm.case_read)
    return [RuleOut.model_validate(r) for r in dispatch.rule_history(session, rule_key=rule_key)]


@config_router.post("/dispatch-rules/test", response_model=RuleTestOut, summary="试算：这件事会派给谁？")
def test_rule(body: RuleTestIn, session: Db, principal: CurrentUser) -> RuleTestOut:
    authorize(principal, Perm.case_read)
    unit_path = None
    if body.unit_id:
        from zhili.regions.service import get_unit

        unit_path = get_unit(session, principal=principal, unit_id=body.unit_id).path
    m, path = dispatch.preview(session, category_code=body.category_code, description=body.description,
                               lon=body.lon, lat=body.lat, unit_path=unit_path,
                               reported_at=body.reported_at or utcnow())
    from zhili.core.settings import get_settings

    return RuleTestOut(matched=m.rule is not None, rule=RuleOut.model_validate(m.rule) if m.rule else None,
                       department=m.rule.target_department if m.rule else None,
                       unit_id=m.rule.target_unit_id if m.rule else None, confidence=m.confidence,
                       auto_dispatch=m.rule is not None and m.confidence >= get_settings().auto_dispatch_confidence,
                       reasons=m.reasons, path=path)
