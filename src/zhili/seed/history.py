"""Synthetic case history for the demo: a realistic mix of categories, channels, places, timelines, deadlines met
and missed, and ratings, written with bulk inserts.

Small ≈ 2,000 cases over 90 days; medium ≈ 60,000 over a year; large ≈ 1,000,000 over two years. Every case
has a full timeline (case_event rows) consistent with the workflow table, deadlines computed with the working
calendar, and the statistics table is rebuilt from the cases at the end.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import Session

from zhili.cases.effects import PLACEHOLDER_LEVELS
from zhili.cases.models import Case, CaseCounter, CaseEvent, CaseState, Category, Channel, Urgency
from zhili.cases.scope import geo_cell
from zhili.cases.tally import rebuild_stats
from zhili.core import audit, names
from zhili.core.bulk import BulkWriter
from zhili.core.clock import district_tz, local_day
from zhili.core.db import utcnow
from zhili.core.ids import id_at
from zhili.org.models import Department
from zhili.regions.models import OPEN_END, Unit, UnitLevel
from zhili.registry.models import Person
from zhili.worktime.service import WorkCalendar, load_calendar

Scale = Literal["small", "medium", "large"]
SIZES: dict[str, tuple[int, int]] = {"small": (2_000, 90), "medium": (60_000, 365), "large": (1_000_000, 730)}

_CHANNELS = [(Channel.resident, 0.33), (Channel.grid_worker, 0.32), (Channel.hotline, 0.25), (Channel.iot, 0.03),
             (Channel.department, 0.05), (Channel.open311, 0.02)]
_KIND_WEIGHT = {"social": 0.5, "event": 0.35, "component": 0.15}
_HOUR_WEIGHTS = np.array([1, 0.5, 0.3, 0.3, 0.4, 0.8, 2, 4, 7, 9, 9, 8, 6, 7, 8, 8, 7, 6, 5, 5, 4, 3, 2, 1.5])
_DETAILS = ["情况已持续数日，影响居民出行", "附近居民多次反映", "存在安全隐患，请尽快处理", "希望有关部门尽快处理",
            "晚上尤为明显", "已拍照留存", "老人小孩经过较多，请关注", "上周反映过一次仍未解决", "巡查中发现",
            "影响周边商户正常经营"]
_RESOLUTIONS = ["已现场处置完毕，恢复正常", "已联系责任单位整改到位", "已清理完毕并加强巡查", "已调解，双方达成一致",
                "已维修更换", "已督促当事人整改，后续持续关注", "经现场核实已处理，群众表示认可"]
# Who files a case of each channel, as its first timeline step names them (names, never codes; a resident is 上报人).
_REPORTERS: dict[Channel, tuple[str, str | None]] = {
    Channel.resident: ("上报人", "resident"), Channel.grid_worker: ("网格员", "grid_worker"),
    Channel.hotline: ("热线坐席", "command_centre"), Channel.department: ("部门移交人员", "department_handler"),
    Channel.iot: ("物联感知设备", None), Channel.staff: ("指挥中心坐席", "command_centre"),
}
_COMMENTS = {5: ["处理很及时，非常满意", "感谢网格员和工作人员", "效率很高"], 4: ["基本满意", "处理得不错"],
             3: ["一般，速度可以再快些"], 2: ["处理较慢"], 1: ["问题没有彻底解决"]}


def seed_cases(engine: Engine, *, scale: Scale = "small", count: int | None = None, days: int | None = None,
               seed: int = 20261123, now: dt.datetime | None = None,
               progress: Callable[[str, int, int], None] | None = None, batch: int = 5000) -> dict[str, int]:
    """Generate historical cases into a seeded database; returns row counts."""
    n, span = SIZES[scale]
    n, span = count or n, days or span
    now = now or utcnow()
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    with Session(engine) as s:
        grids = s.execute(select(Unit.id, Unit.path, Unit.center_lon, Unit.center_lat, Unit.name)
                          .where(Unit.level == UnitLevel.grid, Unit.valid_to == OPEN_END)).all()
        if not grids:
            raise ValueError("no grids: seed the district first")
        pop = dict(s.execute(select(Person.grid_id, func.count()).group_by(Person.grid_id)).all())
        cats = s.scalars(select(Category).where(Category.is_current.is_(True), Category.is_leaf.is_(True),
                                                Category.is_active.is_(True))).all()
        if not cats:
            raise ValueError("no categories: load the taxonomy first")
        cal = load_calendar(s)
        existing = {(d, day): last for d, day, last in s.execute(select(CaseCounter.district, CaseCounter.day,
                                                                        CaseCounter.last))}
        district_unit = s.scalar(select(Unit).where(Unit.level == UnitLevel.district, Unit.valid_to == OPEN_END))
        district = district_unit.code if district_unit else "330522"
        # Placeholder departments (社区 / 街道) are dispatched to the unit that holds the case, as the engine does.
        placeholders = {code: PLACEHOLDER_LEVELS[kind] for code, kind in s.execute(
            select(Department.code, Department.kind)) if kind in PLACEHOLDER_LEVELS}
        holders = {(u.code, u.level): (u.id, u.path) for u in s.execute(
            select(Unit.id, Unit.code, Unit.level, Unit.path).where(
                Unit.level.in_((UnitLevel.community, UnitLevel.street)), Unit.valid_to == OPEN_END))}

    def assignee(dept: str | None, grid_path: str) -> dict[str, Any]:
        level = placeholders.get(dept or "")
        if level is None:
            return {"assignee_department": dept}
        for code in grid_path.split("/"):
            held = holders.get((code, level))
            if held is not None:
                return {"assignee_department": None, "assignee_unit_id": held[0], "assignee_path": held[1],
                        "escalation_level": "street" if level == UnitLevel.street else "community"}
        return {"assignee_department": None}
    gw = np.array([pop.get(g.id, 1) + 50 for g in grids], dtype=float)
    gw /= gw.sum()
    cw = np.array([_KIND_WEIGHT.get(c.kind, 0.2) * (0.5 if c.urgency != Urgency.normal else 1.0) for c in cats])
    # A few categories dominate, as in real 12345 data.
    cw *= nrng.pareto(2.5, len(cats)) + 0.3
    cw /= cw.sum()
    grid_idx = nrng.choice(len(grids), size=n, p=gw)
    cat_idx = nrng.choice(len(cats), size=n, p=cw)
    # Reported times: uniform days with a mild upward trend, daytime-heavy hours.
    day_offsets = np.floor(span * np.sqrt(nrng.random(n))).astype(int)  # more recent days slightly denser
    hours = nrng.choice(24, size=n, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
    minutes = nrng.integers(0, 60, size=n)
    tz = district_tz()
    start_day = (now.astimezone(tz) - dt.timedelta(days=span)).date()
    order = np.lexsort((minutes, hours, day_offsets))
    jitter_lon = nrng.normal(0, 0.004, n)
    jitter_lat = nrng.normal(0, 0.003, n)
    counters: Counter[tuple[str, dt.date]] = Counter(existing)
    case_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    written_cases = written_events = 0
    ch_names = [c for c, _ in _CHANNELS]
    ch_p = np.array([w for _, w in _CHANNELS])
    channels = nrng.choice(len(ch_names), size=n, p=ch_p / ch_p.sum())
    due = _MinuteCalendar(cal, start_day - dt.timedelta(days=2), span + 120).due

    def flush(writer: BulkWriter) -> None:
        nonlocal case_rows, event_rows, written_cases, written_events
        written_cases += writer.insert(Case.__table__, case_rows)
        written_events += writer.insert(CaseEvent.__table__, event_rows)
        case_rows, event_rows = [], []
        if progress:
            progress("cases", written_cases, n)

    with engine.begin() as conn:
        writer = BulkWriter(conn)
        for i in order:
            g = grids[grid_idx[i]]
            cat = cats[cat_idx[i]]
            local = dt.datetime.combine(start_day + dt.timedelta(days=int(day_offsets[i])),
                                        dt.time(int(hours[i]), int(minutes[i])), tz)
            reported = local.astimezone(dt.UTC)
            if reported > now:
                reported = now - dt.timedelta(minutes=rng.randint(1, 600))
            counters[(district, local.date())] += 1
            number = f"{district}-{local:%Y%m%d}-{counters[(district, local.date())]:06d}"
            row, evs = _one_case(rng, cat, g, ch_names[channels[i]], reported, now, number,
                                 float(jitter_lon[i]), float(jitter_lat[i]), due, assignee)
            case_rows.append(row)
            event_rows.extend(evs)
            if len(case_rows) >= batch:
                flush(writer)
        flush(writer)
        if existing:
            conn.execute(delete(CaseCounter))
        conn.execute(insert(CaseCounter), [{"district": d, "day": day, "last": c} for (d, day), c in counters.items()])
    with Session(engine) as s:
        stats = rebuild_stats(s)
        audit.record(s, actor=audit.SYSTEM, action="seed.cases", object_type="system",
                     after={"cases": written_cases, "events": written_events, "scale": scale})
        s.commit()
    if engine.dialect.name == "sqlite":  # fold the multi-GB write-ahead log back into the database file
        # On the raw connection: a SQLAlchemy connection would begin a (write) transaction first, and SQLite
        # refuses to checkpoint inside one ("database table is locked").
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    return {"case": written_cases, "case_event": written_events, "case_stat": stats,
            "seconds": int(time.perf_counter() - t0)}


def _one_case(rng: random.Random, cat: Category, grid: Any, channel: Channel, reported: dt.datetime,
              now: dt.datetime, number: str, jlon: float, jlat: float,
              due: Callable[[dt.datetime, float, bool], dt.datetime],
              assignee: Callable[[str | None, str], dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    cid = id_at(reported, randbits=rng.getrandbits)
    natural = cat.time_mode == "natural"
    accept_h = cat.accept_hours or 2.0
    handle_h = cat.handle_hours or 40.0
    verify_h = cat.verify_hours or 8.0
    lon = (grid.center_lon or 119.9) + jlon * 0.3
    lat = (grid.center_lat or 31.0) + jlat * 0.3
    detail = rng.choice(_DETAILS)
    kw = (cat.keywords or [cat.name])[0]
    desc = f"{grid.name}附近发现{kw}问题，{detail}。"
    events: list[dict[str, Any]] = []
    seq = 0

    def ev(action: str, at: dt.datetime, frm: str | None, to: str, actor: str, role: str | None,
           comment: str | None = None, public: bool = True, payload: dict[str, Any] | None = None) -> None:
        nonlocal seq
        seq += 1
        events.append({"id": id_at(at, randbits=rng.getrandbits), "case_id": cid, "seq": seq, "at": at,
                       "action": action, "from_state": frm,
                       "to_state": to, "actor_id": None, "actor_name": actor, "actor_role": role,
                       "actor_unit": None, "comment": comment, "payload": payload or {}, "attachment_ids": [],
                       "public": public})

    row: dict[str, Any] = {
        "id": cid, "number": number, "channel": channel, "state": CaseState.reported, "category_id": cat.id,
        "category_code": cat.code, "title": f"{cat.name}：{grid.name}"[:200], "description": desc,
        "urgency": cat.urgency, "lon": lon, "lat": lat, "geo_cell": geo_cell(lon, lat),
        "address": f"长兴县{grid.name}附近", "grid_id": grid.id,
        "path": grid.path, "attributes": {}, "reporter_user_id": None, "reporter_name_enc": None,
        "reporter_phone_enc": None, "reporter_phone_bidx": None, "anonymous": channel in (Channel.iot,),
        "is_public": channel != Channel.department, "api_client_id": None, "external_id":
        f"12345-{number[-12:]}" if channel == Channel.hotline else None, "assignee_department": None,
        "assignee_unit_id": None, "assignee_path": None, "escalation_level": None, "dispatch_rule_id": None,
        "is_joint": False, "master_case_id": None, "resolution": None, "reject_reason": None, "rating": None,
        "rating_comment": None, "reported_at": reported,
        "reported_day": local_day(reported), "accepted_at": None, "dispatched_at": None,
        "resolved_at": None, "verified_at": None, "closed_at": None,
        "accept_due_at": due(reported, accept_h, natural), "handle_due_at": None, "handle_warn_at": None,
        "verify_due_at": None, "warning_level": "none", "overdue": False, "closed_on_time": None,
        "reopen_count": 0, "support_count": 0, "merged_count": 0, "is_history": False, "created_at": reported,
        "updated_at": reported, "version": 1,
    }
    reporter, reporter_role = _REPORTERS.get(channel, (names.SYSTEM_NAME, None))
    ev("report", reported, None, "reported", reporter, reporter_role, names.name("channel_report", channel))
    # Outcome: reject a few; the rest go through the loop as far as their age allows.
    if rng.random() < 0.03:
        t = reported + dt.timedelta(minutes=rng.randint(10, 120))
        if t < now:
            row.update(state=CaseState.rejected, accepted_at=None, closed_at=t, updated_at=t,
                       reject_reason="不属于受理范围，已告知诉求人")
            ev("reject", t, "reported", "rejected", "指挥中心坐席", "command_centre", row["reject_reason"])
        return row, events
    t_acc = reported + dt.timedelta(hours=accept_h * rng.uniform(0.05, 0.9))
    if t_acc >= now:
        return row, events
    row.update(state=CaseState.accepted, accepted_at=t_acc, updated_at=t_acc)
    ev("accept", t_acc, "reported", "accepted", "指挥中心坐席", "command_centre")
    t_dis = t_acc + dt.timedelta(minutes=rng.randint(1, 45))
    if t_dis >= now:
        return row, events
    due_at = due(t_dis, handle_h, natural)
    warn_at = due(t_dis, handle_h * 0.8, natural)
    row.update(state=CaseState.dispatched, dispatched_at=t_dis, handle_due_at=due_at, handle_warn_at=warn_at,
               updated_at=t_dis, **assignee(cat.default_department, grid.path))
    ev("dispatch", t_dis, "accepted", "dispatched", names.SYSTEM_NAME, "command_centre", "按权责清单派遣")
    t_start = t_dis + dt.timedelta(minutes=rng.randint(5, 240))
    if t_start >= now:
        _mark_warning(row, now)
        return row, events
    row.update(state=CaseState.in_progress, updated_at=t_start)
    ev("start", t_start, "dispatched", "in_progress", "处置人员", "department_handler")
    # Handling time: most well inside the limit, ~12% late (heavier tail in busy categories).
    span = (due_at - t_dis).total_seconds()
    late = rng.random() < 0.12
    frac = rng.uniform(1.02, 2.5) if late else min(0.98, rng.betavariate(2, 3))
    t_res = max(t_start + dt.timedelta(minutes=10), t_dis + dt.timedelta(seconds=span * frac))
    if t_res >= now:
        _mark_warning(row, now)
        return row, events
    on_time = t_res <= due_at
    row.update(state=CaseState.resolved, resolved_at=t_res, resolution=rng.choice(_RESOLUTIONS),
               closed_on_time=on_time, verify_due_at=due(t_res, verify_h, natural), updated_at=t_res,
               overdue=not on_time, warning_level="red" if not on_time else "none")
    ev("resolve", t_res, "in_progress", "resolved", "处置人员", "department_handler", row["resolution"])
    t_ver = t_res + dt.timedelta(hours=rng.uniform(0.5, verify_h))
    if t_ver >= now:
        return row, events
    row.update(state=CaseState.verified, verified_at=t_ver, updated_at=t_ver)
    ev("verify", t_ver, "resolved", "verified", "网格员", "grid_worker", "现场核查属实")
    t_last = t_ver
    if channel in (Channel.resident, Channel.hotline) and rng.random() < 0.75:
        t_rate = t_ver + dt.timedelta(hours=rng.uniform(1, 48))
        if t_rate >= now:
            return row, events
        r = 5 if on_time and rng.random() < 0.7 else rng.choices([1, 2, 3, 4, 5], [4, 6, 12, 30, 48])[0]
        row.update(state=CaseState.rated, rating=r, rating_comment=rng.choice(_COMMENTS[r]), updated_at=t_rate)
        ev("rate", t_rate, "verified", "rated", "上报人" if channel == Channel.resident else "热线回访",
           "resident" if channel == Channel.resident else "command_centre", row["rating_comment"],
           payload={"rating": r})
        t_last = t_rate
    t_close = t_last + dt.timedelta(hours=rng.uniform(0.2, 24))
    if t_close >= now:
        return row, events
    row.update(state=CaseState.closed, closed_at=t_close, updated_at=t_close)
    ev("close", t_close, row_state_before_close(events), "closed", "指挥中心", "command_centre")
    return row, events


def row_state_before_close(events: list[dict[str, Any]]) -> str:
    """The state a case was in just before closing."""
    return str(events[-1]["to_state"])


def _mark_warning(row: dict[str, Any], now: dt.datetime) -> None:
    if row["handle_due_at"] and row["handle_due_at"] <= now:
        row.update(overdue=True, warning_level="red")
    elif row["handle_warn_at"] and row["handle_warn_at"] <= now:
        row["warning_level"] = "yellow"




class _MinuteCalendar:
    """Working-time deadlines at one-minute resolution by binary search over cumulative working minutes.

    Exactly the calendar's working periods, precomputed once for the whole history span, so a million deadlines
    cost a million array look-ups instead of a million walks over days.
    """

    def __init__(self, cal: WorkCalendar, first_day: dt.date, days: int) -> None:
        self.base = dt.datetime.combine(first_day, dt.time(0, 0), cal.tz).astimezone(dt.UTC)
        work = np.zeros(days * 1440, dtype=np.int32)
        for d in range(days):
            day = first_day + dt.timedelta(days=d)
            for a, b in cal.periods_on(day):
                i = int((a - self.base).total_seconds() // 60)
                j = int((b - self.base).total_seconds() // 60)
                work[max(i, 0):max(j, 0)] = 1
        self.cum = np.concatenate([[0], np.cumsum(work)])
        self.limit = len(work)

    def due(self, start: dt.datetime, hours: float, natural: bool) -> dt.datetime:
        if natural:
            return start + dt.timedelta(hours=hours)
        m = int((start - self.base).total_seconds() // 60)
        if not 0 <= m < self.limit:
            return start + dt.timedelta(hours=hours * 24 / 7.5)
        target = self.cum[m] + round(hours * 60)
        j = int(np.searchsorted(self.cum, target, side="left"))
        return self.base + dt.timedelta(minutes=j)
