"""A timeline as each viewer reads it (:mod:`zhili.cases.timeline`): the reporter is 上报人 to everyone, the
system 系统, staff by name to staff and by department or role to residents; older coded comments read as names."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from zhili.cases.models import CaseEvent
from zhili.cases.timeline import event_views, readable_comment
from zhili.core.security import Role

DEPTS = {"HW": "县环境卫生管理中心", "CG": "县综合行政执法局"}


def _ev(seq: int, action: str, name: str | None, role: str | None, unit: str | None = None,
        comment: str | None = None, payload: dict[str, Any] | None = None) -> CaseEvent:
    return CaseEvent(id=uuid.uuid4(), case_id=uuid.uuid4(), seq=seq, at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
                     action=action, from_state=None, to_state="reported", actor_id=None, actor_name=name,
                     actor_role=role, actor_unit=unit, comment=comment, payload=payload or {}, attachment_ids=[],
                     public=True)


EVENTS = [_ev(1, "report", "张小明", "resident", comment="居民上报"), _ev(2, "dispatch", "系统", "command_centre"),
          _ev(3, "start", "孙处置", "department_handler", "HW"), _ev(4, "verify", "赵网格", "grid_worker"),
          _ev(5, "rate", "张小明", "resident", payload={"rating": 4}), _ev(6, "close", "system", "system")]


@pytest.mark.parametrize(("viewer", "shown"), [
    (Role.command_centre, ["上报人", "系统", "孙处置", "赵网格", "上报人", "系统"]),
    (Role.department_handler, ["上报人", "系统", "孙处置", "赵网格", "上报人", "系统"]),
    (Role.resident, ["上报人", "系统", "县环境卫生管理中心", "网格员", "上报人", "系统"]),
])
def test_who_each_viewer_sees(viewer: Role, shown: list[str]) -> None:
    views = event_views(EVENTS, viewer=viewer, departments=DEPTS)
    assert [v.actor_name for v in views] == shown
    assert views[2].actor_unit == "县环境卫生管理中心"  # the department by name, never its code
    assert [v.rating for v in views] == [None, None, None, None, 4, None]


def test_a_rating_stored_without_its_stars_takes_the_cases() -> None:
    views = event_views([_ev(1, "rate", "热线回访", "command_centre")], viewer=Role.resident, departments=DEPTS,
                        case_rating=3)
    assert views[0].rating == 3 and views[0].actor_name == "指挥中心"


@pytest.mark.parametrize(("stored", "read"), [
    ("通过grid_worker上报", "网格员巡查上报"),
    ("通过hotline上报", "12345热线转办"),
    ("通过居民上报上报", "居民上报"),
    ("按派单规则“垃圾满溢 → HW”自动派遣", "按派单规则“垃圾满溢 → 县环境卫生管理中心”自动派遣"),
    ("路口 → XY 方向堵塞", "路口 → XY 方向堵塞"),  # not a department: left alone
    ("已清运完毕", "已清运完毕"),
])
def test_older_comments_read_as_names(stored: str, read: str) -> None:
    assert readable_comment(stored, DEPTS) == read
