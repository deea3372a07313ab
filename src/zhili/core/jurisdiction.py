"""Jurisdiction scoping in one place: every list, search, export and analytics query goes through here.

A principal holds the materialized paths of the units it is bound to. A row is in scope when its path equals
one of them or lies below it — one indexed range scan on SQLite and PostgreSQL (see :class:`_Under`).
A single object out of scope is reported as *not found* (404), never as forbidden, so existence never leaks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Boolean, ColumnElement, Select, and_, collate, false, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from zhili.core.audit import Actor
from zhili.core.db import PATH_COLLATION
from zhili.core.errors import Forbidden, NotFound
from zhili.core.security import ROLE_PERMISSIONS, Perm, Role

S = TypeVar("S", bound=Select[*tuple[Any, ...]])  # any select, whatever its row shape


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: identity, role and the unit paths it may see."""

    user_id: uuid.UUID
    username: str
    display_name: str
    role: Role
    scope_paths: tuple[str, ...] = ()
    unit_ids: tuple[uuid.UUID, ...] = ()
    ip: str | None = None
    department: str | None = None
    extra_perms: frozenset[Perm] = field(default_factory=frozenset)

    @property
    def permissions(self) -> frozenset[Perm]:
        return ROLE_PERMISSIONS[self.role] | self.extra_perms

    def can(self, perm: Perm) -> bool:
        """True if the role grants ``perm``."""
        return perm in self.permissions

    @property
    def actor(self) -> Actor:
        """This principal as an audit actor."""
        return Actor(id=self.user_id, name=self.username, role=self.role.value, ip=self.ip)


def authorize(principal: Principal, perm: Perm, message: str | None = None, *, code: str = "permission_denied"
              ) -> None:
    """Raise :class:`Forbidden` (code ``permission_denied`` unless a feature has its own) unless the principal
    holds ``perm``.

    The one permission check: every service function that reads or changes protected data calls it first, so a
    caller without a route in between (jobs, imports, models, sensors) meets the same rule as the API and pages."""
    if not principal.can(perm):
        raise Forbidden(message or f"当前角色（{principal.role.value}）没有此权限：{perm.value}", code=code)


class _Under(ColumnElement[bool]):
    """``column`` equals ``path`` or lies below it, in the form each database answers from an index on ``column``.

    ``LIKE 'path/%'`` reads like a prefix seek but is not one: SQLite uses an index for LIKE only when the index's
    collation matches ``case_sensitive_like`` (NOCASE by default — ours are BINARY), and PostgreSQL only under the
    "C" collation or a ``text_pattern_ops`` index (``C.UTF-8`` does not count). Both scanned the whole table —
    measured on the large demo: 0.48 s to count one community's 8,785 persons among 1,000,000. The predicate is the
    equivalent ``path <= column < path0 AND (column = path OR column >= path/)`` ('0' follows '/'; byte order): one
    range, an index seek — or, where another index serves the query better (a covering day index on the
    statistics), a filter on it; an OR of an equality and a range became a multi-index OR that fetched every row by
    rowid. On PostgreSQL the comparisons carry ``COLLATE "C"``, so the range means byte order whatever the operand
    (a literal, a column of another collation); every path column is declared in that collation
    (``core.db.path_string``, migration 0022), so its btree index serves the range."""

    inherit_cache = True
    _traverse_internals = [("range_form", InternalTraversal.dp_clauseelement),
                           ("c_range_form", InternalTraversal.dp_clauseelement)]
    _is_implicitly_boolean = True  # a condition, not a boolean column: no "= 1" where booleans are not native
    type = Boolean()

    def __init__(self, column: Any, path: str) -> None:
        # one range the planner can seek (or leave to a better index); the OR only drops "path-x"-like siblings
        self.range_form = and_(column >= path, column < path + "0", or_(column == path, column >= path + "/"))
        c = collate(column, PATH_COLLATION)
        self.c_range_form = and_(c >= path, c < path + "0", or_(c == path, c >= path + "/"))


@compiles(_Under)
def _under_range(element: _Under, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.range_form.self_group(), **kw))


@compiles(_Under, "postgresql")
def _under_c_range(element: _Under, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.c_range_form.self_group(), **kw))


def path_predicate(column: Any, paths: tuple[str, ...]) -> ColumnElement[bool]:
    """``column`` equals one of ``paths`` or lies below one of them (an index range scan on SQLite and PostgreSQL;
    see :class:`_Under`)."""
    if not paths:
        return false()
    return or_(*(_Under(column, p) for p in _minimal(paths)))


def like_prefix(value: str) -> str:
    """``value`` with LIKE wildcards escaped (backslash), so a code can never act as a pattern."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def scoped(stmt: S, principal: Principal, path_column: Any) -> S:
    """Restrict a select to rows whose ``path_column`` lies in the principal's jurisdiction."""
    return stmt.where(path_predicate(path_column, principal.scope_paths))


def in_scope(principal: Principal, path: str | None) -> bool:
    """True if a single object's path lies in the principal's jurisdiction."""
    if path is None:
        return False
    return any(path == p or path.startswith(p + "/") for p in principal.scope_paths)


def not_found(what: str = "记录") -> NotFound:
    """The one answer for an object that does not exist *or* lies outside the caller's jurisdiction: the two must be
    indistinguishable, so a service raises this for an unknown id as well as through :func:`ensure_in_scope`."""
    return NotFound(f"{what}不存在或不在您的管辖范围内")


def ensure_in_scope(principal: Principal, path: str | None, what: str = "记录") -> None:
    """Raise :class:`NotFound` (not Forbidden: existence must not leak) for an object out of scope."""
    if not in_scope(principal, path):
        raise not_found(what)


def _minimal(paths: tuple[str, ...]) -> list[str]:
    """Drop paths already covered by an ancestor in the list."""
    out: list[str] = []
    for p in sorted(set(paths), key=len):
        if not any(p == q or p.startswith(q + "/") for q in out):
            out.append(p)
    return out
