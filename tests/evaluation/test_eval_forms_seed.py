"""The demo's manual data (填报): every community every month through the forms service, earlier months approved or
locked, the latest one partly reported — and the figures reach the scoring engine."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from evalformkit import DS, who
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.evaluation import forms_status
from zhili.evaluation.models import Submission
from zhili.regions.models import Unit, UnitLevel
from zhili.seed.evaluation import seed_submissions

MONTHS = ["2026-07", "2026-08", "2026-09", "2026-10"]


def _more_communities(db: Session, world: Any, n: int) -> None:
    s1 = world.units["s1"]
    for i in range(n):
        code = f"330522001{i + 2:03d}"
        db.add(Unit(parent_id=s1.id, level=UnitLevel.community, code=code, name=f"演示{i + 2}社区",
                    path=f"{s1.path}/{code}", depth=s1.depth + 1, valid_from=dt.date(2020, 1, 1)))
    db.flush()


def test_the_demo_fills_every_month_and_leaves_the_latest_partly_reported(db: Session, world: Any) -> None:
    _more_communities(db, world, 18)  # 20 communities
    counts = seed_submissions(db, months=MONTHS, rng=random.Random(7),
                              now=dt.datetime(2026, 11, 8, 3, tzinfo=dt.UTC))
    assert counts["locked"] == 20 and counts["approved"] > 20  # July locked; August, September approved
    by_state = dict(db.execute(select(Submission.state, func.count()).where(Submission.period == "2026-10")
                               .group_by(Submission.state)).all())
    assert by_state.get("returned") == 1 and by_state.get("draft", 0) >= 1
    assert set(db.scalars(select(Submission.state).where(Submission.period != "2026-10"))) <= {"approved", "locked"}
    c = forms_status.completeness(db, who(db, world, "zhihui"), DS, "2026-10", today=dt.date(2026, 11, 8))
    assert c.expected == 20 and 0.7 <= (c.rate or 0) <= 0.9 and c.counts["missing"] >= 1
    got = forms_status.form_metrics(db, root_path="330522", period_kind="quarter", start_day=dt.date(2026, 7, 1),
                             end_day=dt.date(2026, 9, 30))
    assert len(got) == 20
    for values in got.values():
        assert 10 <= values["it_budget"] <= 80 and 70 <= values["multi_satisfaction"] <= 98
    # communities differ persistently: the best staffed has clearly more staff than the thinnest
    staff = sorted(v["info_staff"] for v in got.values())
    assert staff[-1] >= staff[0] + 3
    # submitted before now, and a second run adds nothing
    latest = db.scalar(select(func.max(Submission.submitted_at)))
    assert latest is not None
    assert seed_submissions(db, months=MONTHS, rng=random.Random(7)).get("approved", 0) == 0
