"""Departments: loading the shipped defaults and reading them."""

from __future__ import annotations

import json
from importlib import resources

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core.errors import ValidationFailed
from zhili.org.models import Department


def load_default_departments(session: Session) -> int:
    """Insert the shipped departments (fixtures/departments.json) where missing; returns how many were added."""
    shipped = json.loads(resources.files("zhili.fixtures").joinpath("departments.json").read_text(encoding="utf-8"))
    have = set(session.scalars(select(Department.code)))
    added = [d for d in shipped if d["code"] not in have]
    for d in added:
        session.add(Department(code=d["code"], name=d["name"], short_name=d.get("short_name"),
                               kind=d.get("kind", "department")))
    return len(added)


def list_departments(session: Session, *, include_inactive: bool = False) -> list[Department]:
    """Handling departments."""
    stmt = select(Department)
    if not include_inactive:
        stmt = stmt.where(Department.is_active.is_(True))
    return list(session.scalars(stmt.order_by(Department.code)))


def get_department(session: Session, *, code: str) -> Department:
    """A department by code."""
    d = session.scalar(select(Department).where(Department.code == code))
    if d is None:
        raise ValidationFailed(f"部门 {code} 不存在", code="department_not_found")
    return d


def department_names(session: Session) -> dict[str, str]:
    """Department code → name."""
    return {c: n for c, n in session.execute(select(Department.code, Department.name))}
