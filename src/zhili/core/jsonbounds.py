"""Bounds on free-form JSON that the platform stores: depth, key count and serialized size.

Every schema field or service argument that accepts JSON without a fixed shape (``dict[str, Any]``) goes through
:func:`check_free_json` — in schemas as the :data:`FreeJson` / :data:`FreeJsonList` types — so that no stored value
can be too deep or too large to be read back (a 256-level document once made every case list answer 500).
The walk is iterative: a hostile document cannot exhaust the interpreter's recursion limit while being checked.
:func:`readable_json` is the read-side guard for rows stored before the bounds existed.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator

from zhili.core.errors import ValidationFailed

log = logging.getLogger(__name__)

MAX_DEPTH = 8
MAX_KEYS = 64
MAX_BYTES = 16 * 1024

T = TypeVar("T")


def check_free_json(value: T, *, name: str, max_depth: int = MAX_DEPTH, max_keys: int = MAX_KEYS,
                    max_bytes: int = MAX_BYTES) -> T:
    """``value`` unchanged if it is plain JSON (objects with string keys, arrays, strings, finite numbers, booleans,
    null) nested at most ``max_depth`` levels, with at most ``max_keys`` object keys in all and at most
    ``max_bytes`` bytes serialized; else :class:`ValidationFailed` naming ``name``."""
    keys = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict | list):
            if depth > max_depth:
                raise ValidationFailed(f"{name} 嵌套层数超过 {max_depth} 层", code="json_too_deep")
            if isinstance(v, dict):
                keys += len(v)
                if keys > max_keys:
                    raise ValidationFailed(f"{name} 的键超过 {max_keys} 个", code="json_too_many_keys")
                if not all(isinstance(k, str) for k in v):
                    raise ValidationFailed(f"{name} 的键必须是文本", code="json_bad_value")
                stack.extend((x, depth + 1) for x in v.values())
            else:
                stack.extend((x, depth + 1) for x in v)
        elif isinstance(v, float) and not math.isfinite(v):
            raise ValidationFailed(f"{name} 含有无效数字", code="json_bad_value")
        elif not (v is None or isinstance(v, str | int | float | bool)):
            raise ValidationFailed(f"{name} 含有无法保存的值", code="json_bad_value")
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > max_bytes:
        raise ValidationFailed(f"{name} 超过 {max_bytes // 1024} KB", code="json_too_large")
    return value


def _bounded(value: T) -> T:
    return check_free_json(value, name="JSON 字段")


# Schema types for free JSON. A refusal is raised as the domain error itself (not a pydantic ValueError), so the
# caller gets its stable code and Chinese message.
FreeJson = Annotated[dict[str, Any], AfterValidator(_bounded)]
FreeJsonList = Annotated[list[dict[str, Any]], AfterValidator(_bounded)]


def readable_json(value: Any, *, what: str, default: Any) -> Any:
    """``value`` if it can be served back (within generous read bounds), else ``default`` with a warning: a row
    stored before the bounds existed must not break every list and export it appears in. A value of another shape
    than ``default`` (a list or ``null`` where an object belongs) is served as ``default`` too."""
    if value is None:
        return default
    if default is not None and not isinstance(value, type(default)):
        log.warning("stored JSON in %s is a %s, not a %s: served as empty", what, type(value).__name__,
                    type(default).__name__)
        return default
    try:
        return check_free_json(value, name=what, max_depth=64, max_keys=10_000, max_bytes=1024 * 1024)
    except ValidationFailed as exc:
        log.warning("unreadable stored JSON in %s (%s): served as empty", what, exc.code)
        return default
