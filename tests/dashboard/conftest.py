"""Fixtures for the dashboard tests: a small taxonomy and departments as ORM rows, a fake notification channel,
and a scenario of four cases driven through the case service (so the statistics rows are the real ones)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.orm import Session

from zhili.cases import notify
from zhili.cases.models import Category
from zhili.core.jurisdiction import Principal
from zhili.org.models import Department

DEPARTMENTS = [("CG", "城管局"), ("SW", "水务局"), ("GA", "公安局")]
CATEGORIES: list[dict[str, Any]] = [
    dict(code="TA-01", name="市容环境", kind="event", parent_code=None, is_leaf=False),
    dict(code="TA-0101", name="暴露垃圾", kind="event", parent_code="TA-01", default_department="CG",
         accept_hours=2, handle_hours=16, verify_hours=8),
    dict(code="TA-0102", name="占道经营", kind="event", parent_code="TA-01", default_department="CG",
         accept_hours=2, handle_hours=4, verify_hours=8),
    dict(code="TB-02", name="公用设施", kind="component", parent_code=None, is_leaf=False),
    dict(code="TB-0201", name="井盖破损", kind="component", parent_code="TB-02", default_department="SW",
         accept_hours=1, handle_hours=24, verify_hours=4),
    dict(code="TC-03", name="社会治安", kind="social", parent_code=None, is_leaf=False),
    dict(code="TC-0301", name="噪声扰民", kind="social", parent_code="TC-03", default_department="GA",
         accept_hours=1, handle_hours=8, verify_hours=4),
]


def add_taxonomy(db: Session) -> None:
    for code, name in DEPARTMENTS:
        db.add(Department(code=code, name=name, short_name=name[:2]))
    for spec in CATEGORIES:
        db.add(Category(version=1, is_current=True, taxonomy_version="test", created_by="test",
                        **{"is_leaf": True, "is_active": True, "time_mode": "natural", "keywords": [],
                           "attributes": [], **spec}))
    db.flush()


@dataclass
class Scenario:
    """Four cases: A (s1/ga, today, closed on time, rated 4), B (s1/ga, yesterday, dispatched and overdue),
    C (s1/gb, today, still reported), D (s2/gc, today, rejected)."""

    db: Session
    world: Any
    cases: dict[str, Any] = field(default_factory=dict)

    def principal(self, who: str) -> Principal:
        from zhili.users.service import principal_for_user

        return principal_for_user(self.db, user=self.world.users[who])

    def report(self, who: str, *, category: str, lon: float, lat: float, now: dt.datetime | None = None) -> Any:
        from zhili.cases import service
        from zhili.cases.models import Channel

        channel = {"jumin": Channel.resident, "zhihui": Channel.staff}.get(who, Channel.grid_worker)
        case, _ = service.report_case(self.db, principal=self.principal(who), channel=channel, now=now,
                                      data={"category_code": category, "description": f"{category} 测试事件",
                                            "lon": lon, "lat": lat})
        self.db.flush()
        return case

    def act(self, who: str, case: Any, action: str, **payload: Any) -> Any:
        from zhili.cases import engine

        out = engine.transition(self.db, principal=self.principal(who), case_id=case.id, action=action,
                                 payload=payload)
        self.db.flush()
        return out


@pytest.fixture
def fake_channel() -> Iterator[notify.FakeChannel]:
    fake = notify.FakeChannel()
    notify.set_channels([fake])
    yield fake
    notify.set_channels(None)


@pytest.fixture
def scenario(db: Session, world: Any, fake_channel: Any) -> Scenario:
    from zhili.cases import sweep

    add_taxonomy(db)
    world.users["bumen"].department = "CG"
    db.flush()
    s = Scenario(db=db, world=world)
    now = dt.datetime.now(dt.UTC)
    a = s.report("jumin", category="TA-0101", lon=119.1, lat=31.1)
    s.act("zhihui", a, "accept")
    s.act("zhihui", a, "dispatch", department="CG")
    s.act("bumen", a, "start")
    s.act("bumen", a, "resolve", result="已清运")
    s.act("jumin", a, "verify")
    s.act("jumin", a, "rate", rating=4)
    s.act("zhihui", a, "close")
    b = s.report("wangge_a", category="TB-0201", lon=119.2, lat=31.2, now=now - dt.timedelta(days=1))
    s.act("zhihui", b, "accept")
    s.act("zhihui", b, "dispatch", department="CG")
    b.handle_due_at, b.handle_warn_at = now - dt.timedelta(hours=1), now - dt.timedelta(hours=3)
    db.flush()
    sweep.sweep_deadlines(db, now=now)
    c = s.report("wangge_b", category="TA-0102", lon=119.3, lat=31.1)
    d = s.report("zhihui", category="TC-0301", lon=119.6, lat=31.1)
    s.act("zhihui", d, "reject", reason="不属于受理范围")
    s.cases = {"A": a, "B": b, "C": c, "D": d}
    return s
