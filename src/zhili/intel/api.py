"""Intelligence routes (``/api/v1/intel``): routing suggestions on a case and for a text being written, taking a
suggestion, and the model versions (list, activate, roll back). Thin: each route calls one service function,
which checks permission and jurisdiction itself."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Query

from zhili.http.deps import CurrentUser, Db, ReplicaDb
from zhili.intel import hot_cases, hotspots, risk, routing, store, warnings
from zhili.intel.schemas import CaseAdviceOut, DismissIn, ModelOut, ShownOut, SuggestIn, TakeIn, WarningOut

router = APIRouter(prefix="/intel", tags=["智能研判"])


@router.get("/cases/{case_id}/suggestions", response_model=CaseAdviceOut, summary="事件的智能分拨建议")
def case_suggestions(case_id: uuid.UUID, session: Db, principal: CurrentUser) -> CaseAdviceOut:
    return CaseAdviceOut(**asdict(routing.suggestions_for_case(session, principal=principal, case_id=case_id)))


@router.post("/suggest", response_model=list[ShownOut], summary="按描述推荐事件类别（填写上报时）")
def suggest_text(body: SuggestIn, session: Db, principal: CurrentUser) -> list[ShownOut]:
    return [ShownOut(**asdict(s)) for s in routing.suggest_text(session, principal=principal, title=body.title,
                                                                  description=body.description)]


@router.post("/cases/{case_id}/take", summary="采纳分拨建议（受理并/或派遣）")
def take(case_id: uuid.UUID, body: TakeIn, session: Db, principal: CurrentUser) -> dict[str, str]:
    case = routing.take_suggestion(session, principal=principal, case_id=case_id, category_code=body.category_code,
                                   department=body.department, expected_version=body.expected_version)
    return {"id": str(case.id), "state": case.state.value}


@router.get("/models", response_model=list[ModelOut], summary="模型版本")
def models(session: Db, principal: CurrentUser, name: str | None = None) -> list[ModelOut]:
    return [ModelOut.model_validate(v) for v in store.list_versions(session, principal=principal, name=name)]


@router.post("/models/{model}/{version}/activate", response_model=ModelOut, summary="启用模型版本")
def activate(model: str, version: int, session: Db, principal: CurrentUser) -> ModelOut:
    v = store.activate(session, principal=principal, name=model, version=version)
    routing.ROUTER.forget()
    return ModelOut.model_validate(v)


@router.post("/models/{model}/rollback", response_model=ModelOut, summary="回退到上一个启用的版本")
def rollback(model: str, session: Db, principal: CurrentUser) -> ModelOut:
    v = store.rollback(session, principal=principal, name=model)
    routing.ROUTER.forget()
    return ModelOut.model_validate(v)


@router.get("/hotspots", summary="热点区域（Getis-Ord Gi*，FDR 控制；GeoJSON）")
def hotspot_layer(session: ReplicaDb, principal: CurrentUser, level: str = "h3",
                  resolution: int = Query(8, ge=5, le=10), category: str | None = Query(None, max_length=32),
                  days: int = Query(90, ge=7, le=730), until: dt.date | None = None) -> dict[str, Any]:
    return hotspots.hotspots_for(session, principal=principal, level=level, resolution=resolution,
                                 category=category, days=days, until=until).geojson()


@router.get("/risk", summary="网格风险排名（下周预计事件数）")
def risk_ranking(session: ReplicaDb, principal: CurrentUser, week_start: dt.date | None = None,
                 limit: int = Query(50, ge=1, le=5000)) -> list[dict[str, Any]]:
    return risk.risk_for(session, principal=principal, week_start=week_start, limit=limit)


@router.get("/hot-issues", summary="热点问题（按地点与诉求聚类，按热度排序）")
def hot_issues(session: ReplicaDb, principal: CurrentUser, since: dt.datetime | None = None,
               until: dt.datetime | None = None, top: int = Query(10, ge=1, le=100),
               unit_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    return [{**asdict(i), "size": i.size} for i in hot_cases.hot_issues_for(
        session, principal=principal, since=since, until=until, top=top, unit_id=unit_id)]


@router.get("/warnings", response_model=list[WarningOut], summary="预警（本辖区）")
def list_warnings(session: ReplicaDb, principal: CurrentUser, state: str | None = Query("open", max_length=16),
                  kind: str | None = Query(None, max_length=32),
                  limit: int = Query(200, ge=1, le=1000)) -> list[WarningOut]:
    return [WarningOut.model_validate(w) for w in warnings.list_warnings(
        session, principal=principal, state=state if state != "all" else None, kind=kind, limit=limit)]


@router.post("/warnings/{warning_id}/dismiss", response_model=WarningOut, summary="排除预警（须说明理由）")
def dismiss_warning(warning_id: uuid.UUID, body: DismissIn, session: Db, principal: CurrentUser) -> WarningOut:
    return WarningOut.model_validate(warnings.dismiss(session, principal=principal, warning_id=warning_id,
                                                      reason=body.reason))


@router.post("/warnings/{warning_id}/convert", summary="预警转为事件")
def convert_warning(warning_id: uuid.UUID, session: Db, principal: CurrentUser) -> dict[str, str]:
    case = warnings.convert(session, principal=principal, warning_id=warning_id)
    return {"id": str(case.id), "number": case.number}
