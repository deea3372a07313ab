"""Demo activity: visits, notices and suggestions made through the services as the demo accounts."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.core.audit import AuditEvent, verify_chain
from zhili.core.crypto import FieldCipher
from zhili.core.db import make_engine
from zhili.core.migrate import upgrade
from zhili.core.settings import new_key_material
from zhili.participation import service as participation
from zhili.participation.models import Notice, Suggestion
from zhili.seed.activity import VISITS_PER_WORKER_MAX, seed_activity
from zhili.seed.demo import seed_demo
from zhili.users.models import User
from zhili.users.service import principal_for_user
from zhili.visits import service as visits
from zhili.visits.models import Visit


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Any:
    url = f"sqlite:///{(tmp_path_factory.mktemp('activity') / 'demo.db').as_posix()}"
    upgrade(url=url)
    engine = make_engine(url)
    seed_demo(engine, scale="small", cipher=FieldCipher.from_material(new_key_material()), workers=0)
    with Session(engine) as s:
        counts = seed_activity(s, scale="small")
        s.commit()
    yield engine, counts
    engine.dispose()


def _p(s: Session, username: str) -> Any:
    return principal_for_user(s, user=s.scalar(select(User).where(User.username == username)))


def test_each_demo_grid_worker_has_visited_part_of_their_own_grid_in_the_last_month(district: Any) -> None:
    engine, counts = district
    with Session(engine) as s:
        by_worker = Counter(s.scalars(select(Visit.worker_name)))
        assert sum(by_worker.values()) == counts["visit"] > 0
        for username in ("wangge1", "wangge2"):
            worker = _p(s, username)
            mine = s.scalars(select(Visit).where(Visit.worker_id == worker.user_id)).all()
            assert 0 < len(mine) <= VISITS_PER_WORKER_MAX
            assert all(v.grid_id in worker.unit_ids for v in mine)  # only their own grid
            cover = visits.coverage(s, principal=worker)
            assert 0.2 < cover["rate_30d"] < 1.0  # some households visited, some not yet
        assert len({v.kind for v in s.scalars(select(Visit))}) >= 4


def test_notices_at_three_levels_reach_the_demo_resident(district: Any) -> None:
    engine, counts = district
    with Session(engine) as s:
        assert counts["notice"] == s.scalar(select(func.count()).select_from(Notice)) == 5
        seen = participation.notices_for(s, principal=_p(s, "jumin"))
        titles = [n.title for n in seen]
        assert len(titles) == 5 and "小区二次供水设施清洗停水通知" in titles


def test_the_residents_suggestions_go_to_their_community_and_some_are_answered(district: Any) -> None:
    engine, counts = district
    with Session(engine) as s:
        rows = s.scalars(select(Suggestion)).all()
        assert len(rows) == counts["suggestion"] == 4
        assert Counter(r.status for r in rows) == {"replied": 2, "open": 2}
        staff = _p(s, "shequ")
        assert all(any(r.path == p or r.path.startswith(p + "/") for p in staff.scope_paths) for r in rows)


def test_everything_seeded_is_in_an_intact_audit_chain(district: Any) -> None:
    engine, counts = district
    with Session(engine) as s:
        actions = Counter(s.scalars(select(AuditEvent.action)))
        assert actions["visit.create"] == counts["visit"]
        assert actions["notice.create"] == counts["notice"]
        assert actions["suggestion.reply"] == counts["suggestion_reply"]
        assert verify_chain(s).ok
