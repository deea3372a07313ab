"""What the OpenAPI document says of every JSON route besides its success: the answers of the one error hierarchy."""

from __future__ import annotations

from typing import Any

from zhili.core.schemas import ErrorBody

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text} for status, text in (
        (400, "请求体无法解析（bad_request，如非 UTF-8 的 JSON）"),
        (401, "未登录或会话已过期（session_expired 等）"),
        (403, "无此权限（permission_denied、role_not_allowed、guard_failed 等）"),
        (404, "记录不存在或不在您的管辖范围内（二者答复相同）"),
        (409, "与当前状态冲突（version_conflict、transition_not_allowed 等）"),
        (422, "输入不合法（validation_failed 及各业务校验代码）"),
        (503, "服务暂时不可用（数据库繁忙等），请稍后重试"),
    )
}
# Answers only some routes give, declared on those routes.
LOCKED: dict[int | str, dict[str, Any]] = {
    423: {"model": ErrorBody, "description": "账号因连续输错密码已锁定（locked）"}}
THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorBody, "description": "请求过于频繁或验证码已失效（sms_too_soon、code_locked 等）"}}
