"""What the OpenAPI document says of every JSON route besides its success: the answers of the one error hierarchy."""

from __future__ import annotations

from typing import Any

from zhili.core.schemas import ErrorBody

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text} for status, text in (
        (401, "未登录或会话已过期（session_expired 等）"),
        (403, "无此权限（permission_denied、role_not_allowed、guard_failed 等）"),
        (404, "记录不存在或不在您的管辖范围内（二者答复相同）"),
        (409, "与当前状态冲突（version_conflict、transition_not_allowed 等）"),
        (422, "输入不合法（validation_failed 及各业务校验代码）"),
    )
}
