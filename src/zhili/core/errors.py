"""The domain exception hierarchy: every error has a stable ``code``, a Chinese ``message`` and an HTTP status.

Services raise these; one handler in ``zhili.app`` turns them into ``{"code", "message", "details"}``.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of all errors the platform reports to a caller."""

    status = 400
    code = "bad_request"
    default_message = "请求有误"

    def __init__(self, message: str | None = None, *, code: str | None = None, details: Any = None) -> None:
        self.message = message or self.default_message
        if code:
            self.code = code
        self.details = details
        super().__init__(self.message)


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"
    default_message = "数据校验未通过"


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_message = "记录不存在或无权访问"


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"
    default_message = "未登录或登录已过期"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    default_message = "没有执行此操作的权限"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    default_message = "数据冲突，请刷新后重试"


class Locked(DomainError):
    status = 423
    code = "account_locked"
    default_message = "账号已被锁定，请稍后再试"


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"
    default_message = "请求过于频繁"


class Unavailable(DomainError):
    status = 503
    code = "service_unavailable"
    default_message = "服务暂时不可用，请稍后重试"


class DatabaseBusy(Unavailable):
    """The database stayed busy past every wait (SQLite's lock, a PostgreSQL lock or serialization conflict)."""

    code = "database_busy"
    default_message = "系统繁忙，数据正被其他操作占用，请稍后重试"
    retry_after_s = 2


class DatabaseUnavailable(Unavailable):
    """The database cannot be reached (down, restarting, the connection lost mid-request): nothing was done, or —
    for a connection lost while committing — it may have been; a retry with the same Idempotency-Key is safe."""

    code = "database_unavailable"
    default_message = "数据库暂时无法连接（可能正在重启），请稍后重试；重新提交时请携带同一 Idempotency-Key"
    retry_after_s = 5
