"""Helpers of the manual-data (填报) tests: principals of the small world and a form that passes every rule."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from zhili.core.jurisdiction import Principal
from zhili.users.service import principal_for_user

DS = "it_monthly"
C1, C2 = "330522001001", "330522002001"  # 金陵社区 (雉城街道), 画溪村 (画溪街道)


def who(db: Session, world: Any, name: str) -> Principal:
    return principal_for_user(db, user=world.users[name])


def good(**over: Any) -> dict[str, Any]:
    """A month's form that passes every range and rule."""
    values: dict[str, Any] = {"info_staff": 4, "trained_staff": 3, "training_hours": 12, "it_budget": 40,
                              "it_spent": 3.5, "talent_fund": 0.5, "terminals": 12, "multi_satisfaction": 88}
    values.update(over)
    return values
