"""Valid report data for tests that file cases in the shipped taxonomy's categories."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

_SAMPLE = {"number": 1, "datetime": "2026-03-02T09:00:00+08:00", "string": "测试", "text": "测试"}


def required_attributes(session: Session, category_code: str) -> dict[str, Any]:
    """An answer to every attribute the category requires (the first declared value of a list), so a test report is
    a valid one; attributes the category does not require are left out."""
    from zhili.cases.models import Category

    cat = session.scalar(select(Category).where(Category.code == category_code, Category.is_current.is_(True)))
    out: dict[str, Any] = {}
    for a in (cat.attributes if cat else None) or []:
        if not a.get("required"):
            continue
        values = a.get("values") or []
        if a.get("datatype") == "multivaluelist":
            out[a["code"]] = [values[0]["key"]]
        elif values:
            out[a["code"]] = values[0]["key"]
        else:
            out[a["code"]] = _SAMPLE.get(a.get("datatype", "string"), "测试")
    return out
