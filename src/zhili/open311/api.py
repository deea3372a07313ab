"""Open311 GeoReport v2 endpoints at ``/open311/v2/`` (XML required, JSON too), errors in the spec's format."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError
from zhili.core.schemas import ErrorBody
from zhili.http.deps import Db
from zhili.open311 import render, service

_ERRORS_SCHEMA: dict[str, Any] = {
    "type": "array", "items": {"type": "object", "required": ["code", "description"],
                               "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}}}
_BOTH: dict[str, Any] = {render.JSON_TYPE.split(";")[0]: {}, render.XML_TYPE.split(";")[0]: {}}
_OPEN311_ERROR = {render.JSON_TYPE.split(";")[0]: {"schema": _ERRORS_SCHEMA},
                  render.XML_TYPE.split(";")[0]: {"schema": {"type": "string"}}}
# What every Open311 route answers, as the spec has it: XML or JSON by the path's format, errors as
# ``[{"code", "description"}]`` (400 bad input or unknown jurisdiction, 403 api_key, 404 unknown or unsupported
# format), and the platform's own 422 when a path parameter fails its type.
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "XML 或 JSON（按路径中的格式）", "content": _BOTH},
    **{status: {"description": text, "content": _OPEN311_ERROR} for status, text in (
        (400, "请求有误（Open311 错误格式）"), (403, "api_key 无效（Open311 错误格式）"),
        (404, "不存在或格式不受支持（Open311 错误格式）"))},
    422: {"model": ErrorBody, "description": "路径参数类型不符（平台统一错误格式）"},
}

router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"], responses=RESPONSES)


def _fmt(fmt: str) -> str | None:
    return fmt if fmt in ("xml", "json") else None


def _run(fmt: str, root: str, item: str | None, fn: Callable[[], Any]) -> Response:
    f = _fmt(fmt)
    if f is None:
        return render.error("xml", 404, f"format {fmt} is not supported; use xml or json")
    try:
        return render.respond(f, root, item, fn())
    except DomainError as exc:
        return render.error(f, service.status_for(exc), exc.message)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/discovery.{fmt}", summary="Service discovery")
def discovery(fmt: str, request: Request) -> Response:
    def build() -> dict[str, Any]:
        return {
            "changeset": "2026-11-23T00:00:00+08:00",
            "contact": "长兴县社会治理指挥中心（Open311 接入请向指挥中心申请 api_key）",
            "key_service": "由指挥中心通过 zhili apikey create 签发",
            "endpoints": [{
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": f"{_base(request)}/open311/v2",
                "changeset": "2026-11-23T00:00:00+08:00",
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }],
        }
    return _run(fmt, "discovery", None, build)


@router.get("/services.{fmt}", summary="GET services")
def services(fmt: str, session: Db, jurisdiction_id: str | None = None) -> Response:
    def build() -> list[dict[str, Any]]:
        service.check_jurisdiction(jurisdiction_id)
        return service.list_services(session)
    return _run(fmt, "services", "service", build)


@router.get("/services/{service_code}.{fmt}", summary="GET service definition")
def service_definition(service_code: str, fmt: str, session: Db, jurisdiction_id: str | None = None) -> Response:
    def build() -> dict[str, Any]:
        service.check_jurisdiction(jurisdiction_id)
        return service.service_definition(session, service_code=service_code)
    return _run(fmt, "service_definition", None, build)


@router.post("/requests.{fmt}", summary="POST service request (application/x-www-form-urlencoded)")
async def post_request(fmt: str, request: Request, session: Db) -> Response:
    f = _fmt(fmt)
    if f is None:  # refuse before filing anything: a 404 must not leave a case behind
        return render.error("xml", 404, f"format {fmt} is not supported; use xml or json")
    try:
        form = await request.form()
        pairs = service.request_parameters(form.multi_items(), request.query_params.multi_items())
        fields = dict(pairs)
        service.check_jurisdiction(fields.get("jurisdiction_id"))
        key = service.check_api_key(session, token=fields.get("api_key"))
        data = service.create_request(session, key=key, form=pairs,
                                      idempotency_key=request.headers.get("idempotency-key"))
    except DomainError as exc:
        roll_back_refused(session)
        return render.error(f, service.status_for(exc), exc.message)
    return render.respond(f, "service_requests", "request", data)


@router.get("/requests.{fmt}", summary="GET service requests")
def get_requests(fmt: str, request: Request, session: Db) -> Response:
    params = dict(service.request_parameters(request.query_params.multi_items()))
    def build() -> list[dict[str, Any]]:
        service.check_jurisdiction(params.get("jurisdiction_id"))
        return service.list_requests(session, params=params, base_url=_base(request))
    return _run(fmt, "service_requests", "request", build)


@router.get("/requests/{service_request_id}.{fmt}", summary="GET service request")
def get_request(service_request_id: str, fmt: str, request: Request, session: Db,
                jurisdiction_id: str | None = None, extensions: str | None = None) -> Response:
    def build() -> list[dict[str, Any]]:
        service.check_jurisdiction(jurisdiction_id)
        return service.get_request(session, number=service_request_id, base_url=_base(request),
                                   extensions=extensions == "true")
    return _run(fmt, "service_requests", "request", build)


@router.get("/tokens/{token}.{fmt}", summary="GET service_request_id from a token")
def get_token(token: str, fmt: str, session: Db, jurisdiction_id: str | None = None) -> Response:
    def build() -> list[dict[str, Any]]:
        service.check_jurisdiction(jurisdiction_id)
        return service.token_lookup(session, token=token)
    return _run(fmt, "service_requests", "request", build)


@router.get("/media/{attachment_id}", summary="A public case photo (media_url)",
            responses={200: {"description": "图片（已去除元数据）", "content": {"image/jpeg": {}, "image/png": {}}}})
def media(attachment_id: uuid.UUID, session: Db) -> Response:
    from zhili.cases.files import served_bytes

    try:
        att = service.public_media(session, attachment_id=attachment_id)
    except DomainError as exc:
        return render.error("json", 404, exc.message)
    return Response(served_bytes(att), media_type=att.content_type)


