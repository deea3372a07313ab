"""Demo manual indicators (填报) for the 4E evaluation: the monthly 信息化建设月报 of every community for the months
given, through the forms service (the same validation and workflow a community meets), as a district-wide system
principal that may fill, approve and lock.

Communities differ persistently — each draws a staffing level once (some well staffed and funded, some thin) that
drives its head counts, training, budget (10–80 万元 a year), terminals and the multi-actor satisfaction score
(70–98). Every month but the latest is approved (the last two) or locked (older); in the latest month about 80 %
have reported (submitted or approved), a few are drafts, one was returned with a reason, and the rest have not
reported — so the completeness tracker looks real. Submission, approval and lock times are set within the month
after each period, before its due day mostly. Idempotent: a (community, month) that has a form is left alone.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core import clock
from zhili.core.jurisdiction import Principal
from zhili.core.security import Role
from zhili.evaluation import forms
from zhili.evaluation.models import Submission, SubmissionEvent
from zhili.evaluation.periods import Period, parse_period
from zhili.regions.models import OPEN_END, Unit, UnitLevel

DATASET = "it_monthly"
RETURN_REASONS = ("本月信息化支出与台账不一致，请核对后重新上报", "参训人数与培训签到表不符，请核实",
                  "智能终端设备数量较上月变化较大，请补充说明")


@dataclass
class _Profile:
    """A community's persistent character: how well staffed and funded it is (0.25–1)."""

    level: float
    budget: float  # 万元 a year
    terminals: int


def _system(district: Unit) -> Principal:
    return Principal(user_id=uuid.UUID(int=0), username="system", display_name="系统（演示数据）",
                     role=Role.street_staff, scope_paths=(district.path,), unit_ids=(district.id,))


def _values(rng: random.Random, prof: _Profile, p: Period, prev: dict[str, Any] | None) -> dict[str, Any]:
    s = prof.level
    staff = max(1, round(1 + 9 * s + rng.choice((-1, 0, 0, 0, 1))))
    if prev and abs(staff - prev["info_staff"]) > max(5, prev["info_staff"]):
        staff = prev["info_staff"]
    if rng.random() < 0.12 * (1.2 - s):  # a month without training, more often in thin communities
        trained, hours = 0, 0.0
    else:
        trained = rng.randint(max(1, round(staff * 0.4)), staff + round(6 * s) + 1)
        hours = round(trained * rng.uniform(1.5, 2 + 8 * s), 1)
    if p.index == 1 and prev is not None:  # a new year's budget
        prof.budget = round(min(80.0, max(10.0, prof.budget * rng.uniform(0.9, 1.15))), 1)
    budget = prof.budget
    spent = round(min(budget, budget / 12 * rng.uniform(0.3, 1.7)), 2)
    talent = round(budget * 0.06 / 12 * rng.uniform(0.0, 2.0) * s, 2)
    prof.terminals += rng.choice((0, 0, 0, 1, 1, 2)) if s > 0.5 else rng.choice((0, 0, 0, 0, 1))
    satisfaction = round(min(98.0, max(70.0, 70 + 26 * s + rng.gauss(0, 2.2))), 1)
    return {"info_staff": staff, "trained_staff": trained, "training_hours": hours, "it_budget": budget,
            "it_spent": spent, "talent_fund": talent, "terminals": prof.terminals,
            "multi_satisfaction": satisfaction}


def _moment(day: dt.date, rng: random.Random, now: dt.datetime) -> dt.datetime:
    wall = dt.datetime.combine(day, dt.time(rng.randint(8, 17), rng.randint(0, 59)))
    return min(clock.from_local(wall), now - dt.timedelta(minutes=rng.randint(5, 600)))


def _backdate(session: Session, sub: Submission, p: Period, rng: random.Random, now: dt.datetime) -> None:
    """Submission, approval and lock times within the month after the period (most before the due day), and the
    events' times to match."""
    due = p.due_date(5)
    submitted = _moment(due - dt.timedelta(days=rng.choice((0, 1, 2, 2, 3, 4, -1, -3))), rng, now)
    approved = _moment(submitted.date() + dt.timedelta(days=rng.randint(1, 3)), rng, now)
    locked = _moment(approved.date() + dt.timedelta(days=rng.randint(4, 9)), rng, now)
    saved = submitted - dt.timedelta(hours=rng.randint(1, 72))
    times = {"save": saved, "submit": submitted, "approve": approved, "return": approved, "lock": locked}
    if sub.submitted_at is not None:
        sub.submitted_at = submitted
    if sub.approved_at is not None:
        sub.approved_at = approved
    if sub.locked_at is not None:
        sub.locked_at = locked
    for e in session.scalars(select(SubmissionEvent).where(SubmissionEvent.submission_id == sub.id)):
        e.at = times.get(e.action, e.at)
        if e.action == "submit" and e.from_state == "returned":
            e.at = approved + dt.timedelta(hours=2)


def seed_submissions(session: Session, *, months: list[str], rng: random.Random,
                     now: dt.datetime | None = None) -> dict[str, int]:
    """Fill ``it_monthly`` for every community for each of ``months`` (``2026-10`` …); the counts by state."""
    forms.ensure_datasets(session)
    moment = now or clock.utcnow()
    periods = sorted({parse_period(m, "month") for m in months})
    if not periods:
        return {}
    district = session.scalar(select(Unit).where(Unit.level == UnitLevel.district, Unit.valid_to == OPEN_END))
    if district is None:
        return {}
    system = _system(district)
    communities = list(session.scalars(select(Unit).where(Unit.level == UnitLevel.community,
                                                          Unit.valid_to == OPEN_END).order_by(Unit.path)))
    have = {(u, p) for u, p in session.execute(select(Submission.unit_id, Submission.period)
                                               .where(Submission.dataset_code == DATASET))}
    profiles: dict[uuid.UUID, _Profile] = {}
    for c in communities:
        level = rng.betavariate(2.2, 1.6) * 0.75 + 0.25
        profiles[c.id] = _Profile(level=level, budget=round(10 + 70 * level * rng.uniform(0.75, 1.0), 1),
                                  terminals=round(4 + 40 * level * rng.uniform(0.7, 1.1)))
    # the latest month: who has reported what (about 80 % submitted or approved)
    order = list(communities)
    rng.shuffle(order)
    n = len(order)
    latest_state: dict[uuid.UUID, str] = {}
    missing = max(1, round(n * 0.1)) if n >= 5 else 0
    drafts = max(1, round(n * 0.06)) if n >= 5 else 0
    for i, c in enumerate(order):
        if i < missing:
            latest_state[c.id] = "missing"
        elif i < missing + drafts:
            latest_state[c.id] = "draft"
        elif i == missing + drafts and n >= 3:
            latest_state[c.id] = "returned"
        else:
            latest_state[c.id] = "approved" if rng.random() < 0.5 else "submitted"
    counts: dict[str, int] = {}
    prev_values: dict[uuid.UUID, dict[str, Any]] = {}
    last = periods[-1]
    for k, p in enumerate(periods):
        for c in communities:
            values = _values(rng, profiles[c.id], p, prev_values.get(c.id))
            prev_values[c.id] = values
            if (c.id, p.text) in have:
                continue
            state = latest_state[c.id] if p == last else ("approved" if k >= len(periods) - 3 else "locked")
            if state == "missing":
                counts["missing"] = counts.get("missing", 0) + 1
                continue
            forms.save(session, system, DATASET, c.code, p.text, values, submit=state != "draft",
                              via="seed", audit_it=False)
            if state == "returned":
                forms.return_(session, system, DATASET, c.code, p.text, rng.choice(RETURN_REASONS))
            elif state in ("approved", "locked"):
                forms.approve(session, system, DATASET, c.code, p.text)
                if state == "locked":
                    forms.lock(session, system, DATASET, c.code, p.text)
            sub = session.scalar(select(Submission).where(Submission.dataset_code == DATASET,
                                                          Submission.unit_id == c.id, Submission.period == p.text))
            if sub is not None:
                sub.via = "seed"
                _backdate(session, sub, p, rng, moment)
            counts[state] = counts.get(state, 0) + 1
        session.flush()
    return counts
