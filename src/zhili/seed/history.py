"""Synthetic case history for the demo: a realistic mix of categories, channels, places, timelines, deadlines met
and missed, and ratings, written with bulk inserts — with structure planted in it for the intelligence features
(:mod:`zhili.intel`) to learn from and find.

Small ≈ 6,000 cases over a year (the 4E scorecards show twelve months); medium ≈ 60,000 over a year; large ≈
1,000,000 over two years. Every case has a full timeline (case_event rows) consistent with the workflow table,
deadlines computed with the working calendar, and the statistics table is rebuilt from the cases at the end.

Texts (:mod:`zhili.seed.texts`): varied complaints per category in the voice of the channel, naming the grid's
compounds, roads, shops and schools; ~5 % written like a confusable category. Residents' and hotline cases carry
a reporter (fake numbers, encrypted and blind-indexed as intake does): a pool of frequent reporters living in the
grids — some file many cases — and one-off reporters (:class:`zhili.seed.plant.Reporters`). A few dozen
registered resident accounts support (附议) cases: ``support_count`` counts their ``case_support`` rows.

Planted, relative to ``now`` (``seed_cases(...)["planted"]``, also in the ``seed.cases`` audit entry's ``after``;
each structure lists its case ``numbers``; ``plant=False`` writes the background only):

``hot_issues``  (a) two or three hot issues — 15–30 reports each over two or three weeks about one named place
                and subject (a restaurant's fumes and noise at night; a building site working at night; the school
                run jamming the street), worded differently, from many distinct reporters, filed under several
                categories, with supports; a quarter without coordinates (address and grid only). Keys: ``key``,
                ``subject``, ``place``, ``names``, ``grid``, ``grid_path``, ``categories``, ``first``, ``last``.
``surge``       (b) one community (``community_path``) × one category group (``group``, a taxonomy parent) at
                about five times its usual daily count (``baseline_per_day``, measured over the four weeks
                before) over the last ``days`` days.
``dispute``     (c) an escalating neighbour dispute: one reporter (``reporter_phone_bidx``) at one ``address``
                filing six 邻里纠纷 cases within ``within_days`` days, each angrier than the last.
``duplicates``  (d) ~1.5 % of cases re-report a still-open case 3 h – 3 days later within ~100 m, paraphrased; about
                half are merged into their master as the workflow's ``merge`` does (state merged,
                ``master_case_id``, the master's ``merged_count``, a ``merge`` timeline step), the rest stay open
                duplicates. ``pairs``: [duplicate number, master number, "merged" | "open"] (the audit entry keeps
                the first 1,000).
``hotspot``     (e) an emerging spatial hotspot: ``cases`` reports of one ``category`` within ``radius_m`` of
                ``center`` (lon, lat) over the last ``weeks`` weeks, denser in the most recent ones.
``busy_grids``  (f) every grid's rate is its population times a persistent factor (lognormal, σ 0.45): the
                busiest grids' factors are listed.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Literal, cast

import numpy as np
from sqlalchemy import Engine, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from zhili.cases.effects import PLACEHOLDER_LEVELS
from zhili.cases.models import Case, CaseCounter, CaseEvent, CaseState, CaseSupport, Category, Channel, Urgency
from zhili.cases.scope import geo_cell
from zhili.cases.tally import rebuild_stats
from zhili.core import audit, names, partitions
from zhili.core.bulk import BulkWriter
from zhili.core.clock import district_tz, local_day
from zhili.core.crypto import FieldCipher, get_cipher
from zhili.core.db import utcnow
from zhili.core.ids import id_at
from zhili.org.models import Department
from zhili.regions.models import OPEN_END, Unit, UnitLevel
from zhili.registry.models import Person
from zhili.seed.plant import GridPlaces, Planter, Reporters, Spec, load_places, make_supporters
from zhili.seed.texts import Texts
from zhili.worktime.service import WorkCalendar, load_calendar

Scale = Literal["small", "medium", "large"]
SIZES: dict[str, tuple[int, int]] = {"small": (6_000, 365), "medium": (60_000, 365), "large": (1_000_000, 730)}

_CHANNELS = [(Channel.resident, 0.33), (Channel.grid_worker, 0.32), (Channel.hotline, 0.25), (Channel.iot, 0.03),
             (Channel.department, 0.05), (Channel.open311, 0.02)]
# Channels whose reporter leaves a phone number; channels whose problems get reported twice.
_WITH_PHONE = frozenset({Channel.resident, Channel.hotline})
_REPORTED_AGAIN = frozenset({Channel.resident, Channel.hotline, Channel.grid_worker})
_NOT_REPORTED_AGAIN = frozenset({"SG-11", "SG-14"})  # questions and thanks are not problems reported twice
_DUP_SHARE = 0.015  # re-reports of an open case, as a share of all cases
_SUPPORTERS = 40  # registered residents who support (附议) cases
_AUDIT_PAIRS = 1000  # duplicate pairs kept in the audit entry (the returned dict has them all)
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
               progress: Callable[[str, int, int], None] | None = None, batch: int = 5000,
               cipher: FieldCipher | None = None, plant: bool = True) -> dict[str, Any]:
    """Generate historical cases into a seeded database; returns row counts and, under ``planted``, what was
    planted (see the module docstring). ``plant=False``: the background history only."""
    n, span = SIZES[scale]
    n, span = count or n, days or span
    now = now or utcnow()
    cipher = cipher or get_cipher()
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    with Session(engine) as s:
        grids = s.execute(select(Unit.id, Unit.path, Unit.center_lon, Unit.center_lat, Unit.name)
                          .where(Unit.level == UnitLevel.grid, Unit.valid_to == OPEN_END).order_by(Unit.path)).all()
        if not grids:
            raise ValueError("no grids: seed the district first")
        pop = dict(s.execute(select(Person.grid_id, func.count()).group_by(Person.grid_id)).all())
        cats = s.scalars(select(Category).where(Category.is_current.is_(True), Category.is_leaf.is_(True),
                                                Category.is_active.is_(True)).order_by(Category.code)).all()
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
        places = load_places(s.connection(), grids)

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
    # (f) Busier grids: population, times a persistent factor of the place (markets, old compounds, main roads).
    busy = nrng.lognormal(0.0, 0.45, len(grids))
    gw = np.array([pop.get(g.id, 1) + 50 for g in grids], dtype=float) * busy
    gw /= gw.sum()
    cw = np.array([_KIND_WEIGHT.get(c.kind, 0.2) * (0.5 if c.urgency != Urgency.normal else 1.0) for c in cats])
    # A few categories dominate, as in real 12345 data.
    cw *= nrng.pareto(2.5, len(cats)) + 0.3
    cw /= cw.sum()
    texts = Texts(cats)
    reporters = Reporters(cipher, gw, max(300, min(6000, n // 10)), nrng)
    tz = district_tz()
    planter = Planter(rng, now, span, tz, grids, places, cats, texts, reporters, gw)
    hotspot_n = max(25, min(150, n // 60))
    if plant:
        planter.hot_issues()
        planter.dispute()
    planned = len(planter.specs) + (hotspot_n if plant else 0) + (20 if plant else 0)
    n_bg = max(n // 2, round(n / (1 + _DUP_SHARE)) - planned) if plant else n
    grid_idx = nrng.choice(len(grids), size=n_bg, p=gw)
    cat_idx = nrng.choice(len(cats), size=n_bg, p=cw)
    # Reported times: uniform days with a mild upward trend, daytime-heavy hours.
    day_offsets = np.floor(span * np.sqrt(nrng.random(n_bg))).astype(int)  # more recent days slightly denser
    hours = nrng.choice(24, size=n_bg, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
    minutes = nrng.integers(0, 60, size=n_bg)
    start_day = (now.astimezone(tz) - dt.timedelta(days=span)).date()
    if plant:
        planter.surge(grid_idx, cat_idx, day_offsets, cw, gw)
        planter.hotspot(hotspot_n)
    order = np.lexsort((minutes, hours, day_offsets))
    jitter_lon = nrng.normal(0, 0.004, n_bg)
    jitter_lat = nrng.normal(0, 0.003, n_bg)
    ch_names = [c for c, _ in _CHANNELS]
    ch_p = np.array([w for _, w in _CHANNELS])
    channels = nrng.choice(len(ch_names), size=n_bg, p=ch_p / ch_p.sum())
    due = _MinuteCalendar(cal, start_day - dt.timedelta(days=2), span + 120).due
    h = _History(rng, now, tz, district, Counter(existing), grids, cats, places, texts, reporters, cipher, due,
                 assignee, plant)
    pending: list[tuple[dt.datetime, int, Spec]] = [(sp.reported, k, sp) for k, sp in enumerate(planter.specs)
                                                    if sp.reported < now]
    heapq.heapify(pending)
    h.pending = pending
    written_cases = written_events = 0

    def flush(writer: BulkWriter) -> None:
        nonlocal written_cases, written_events
        written_cases += writer.insert(Case.__table__, h.case_rows)
        written_events += writer.insert(CaseEvent.__table__, h.event_rows)
        h.case_rows, h.event_rows = [], []
        if progress:
            progress("cases", written_cases, n)

    with engine.begin() as conn:
        # PostgreSQL: the timeline's months made before the rows come (else they wait in DEFAULT for the job)
        partitions.ensure_range(conn, dt.datetime.combine(start_day - dt.timedelta(days=2), dt.time(), tzinfo=dt.UTC),
                                now)
        writer = BulkWriter(conn)
        supporters = make_supporters(conn, cipher, _SUPPORTERS, now) if plant else []
        for i in order:
            local = dt.datetime.combine(start_day + dt.timedelta(days=int(day_offsets[i])),
                                        dt.time(int(hours[i]), int(minutes[i])), tz)
            reported = local.astimezone(dt.UTC)
            if reported > now:
                reported = now - dt.timedelta(minutes=rng.randint(1, 600))
            while pending and pending[0][0] <= reported:
                h.planned(heapq.heappop(pending)[2])
            h.background(int(grid_idx[i]), int(cat_idx[i]), ch_names[channels[i]], reported,
                         float(jitter_lon[i]), float(jitter_lat[i]))
            if len(h.case_rows) >= batch:
                flush(writer)
        while pending:
            h.planned(heapq.heappop(pending)[2])
        flush(writer)
        if h.merged_into:
            table = cast(Table, Case.__table__)
            conn.execute(update(table).where(table.c.id == bindparam("mid")).values(merged_count=bindparam("cnt")),
                         [{"mid": k, "cnt": v} for k, v in h.merged_into.items()])
        support_rows = h.supports(supporters)
        if support_rows:
            writer.insert(CaseSupport.__table__, support_rows)
        if existing:
            conn.execute(delete(CaseCounter))
        conn.execute(insert(CaseCounter), [{"district": d, "day": day, "last": c} for (d, day),
                                           c in h.counters.items()])
    planted = h.report(planter.info, busy) if plant else {}
    with Session(engine) as s:
        stats = rebuild_stats(s)
        audit.record(s, actor=audit.SYSTEM, action="seed.cases", object_type="system",
                     after={"cases": written_cases, "events": written_events, "scale": scale,
                            "planted": _for_audit(planted)})
        s.commit()
    if engine.dialect.name == "sqlite":  # fold the multi-GB write-ahead log back into the database file
        # On the raw connection: a SQLAlchemy connection would begin a (write) transaction first, and SQLite
        # refuses to checkpoint inside one ("database table is locked").
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    return {"case": written_cases, "case_event": written_events, "case_stat": stats,
            "case_support": len(support_rows), "seconds": int(time.perf_counter() - t0), "planted": planted}


def _for_audit(planted: dict[str, Any]) -> dict[str, Any]:
    """The planted structures for the audit entry: case numbers kept, the duplicates' pairs capped."""
    out = {k: v for k, v in planted.items() if k != "duplicates"}
    if "duplicates" in planted:
        d = dict(planted["duplicates"])
        d["pairs"] = d["pairs"][:_AUDIT_PAIRS]
        out["duplicates"] = d
    return out


class _History:
    """The writing loop's state: rows to insert, day counters, the planted reports as they come due, duplicates
    scheduled from earlier cases, merges and supports."""

    def __init__(self, rng: random.Random, now: dt.datetime, tz: Any, district: str, counters: Counter[Any],
                 grids: Sequence[Any], cats: Sequence[Category], places: list[GridPlaces], texts: Texts,
                 reporters: Reporters, cipher: FieldCipher, due: Callable[[dt.datetime, float, bool], dt.datetime],
                 assignee: Callable[[str | None, str], dict[str, Any]], plant: bool) -> None:
        self.rng, self.now, self.tz, self.district, self.counters = rng, now, tz, district, counters
        self.grids, self.cats, self.places, self.texts = grids, cats, places, texts
        self.reporters, self.cipher, self.due, self.assignee = reporters, cipher, due, assignee
        self.dup_share = _DUP_SHARE if plant else 0.0
        self.case_rows: list[dict[str, Any]] = []
        self.event_rows: list[dict[str, Any]] = []
        self.pending: list[tuple[dt.datetime, int, Spec]] = []
        self.seq = 10**9  # heap tie-breaker for duplicates (planted specs use their index)
        self.merged_into: Counter[uuid.UUID] = Counter()
        self.tagged: dict[str, list[str]] = {}
        self.pairs: list[list[Any]] = []
        self.to_support: list[tuple[uuid.UUID, dt.datetime, dt.datetime, int]] = []

    def _number(self, reported: dt.datetime) -> str:
        day = reported.astimezone(self.tz).date()
        self.counters[(self.district, day)] += 1
        return f"{self.district}-{day:%Y%m%d}-{self.counters[(self.district, day)]:06d}"

    def _reporter(self, row: dict[str, Any], who: tuple[str, str]) -> None:
        row["reporter_phone_enc"] = self.cipher.encrypt(who[0], table="case", column="reporter_phone",
                                                        row_id=row["id"])
        row["reporter_phone_bidx"] = who[1]

    def background(self, gi: int, ci: int, channel: Channel, reported: dt.datetime, jlon: float, jlat: float) -> None:
        rng = self.rng
        g, cat = self.grids[gi], self.cats[ci]
        row, evs = _one_case(rng, cat, g, channel, reported, self.now, self._number(reported), jlon, jlat, self.due,
                             self.assignee)
        title, desc, where = self.texts.case(rng, ci, self.places[gi].places, channel.value)
        row.update(title=title, description=desc, address="长兴县" + where[0])
        if channel in _WITH_PHONE:
            self._reporter(row, self.reporters.pick(rng, gi))
        self.case_rows.append(row)
        self.event_rows.extend(evs)
        if (row["state"] != CaseState.rejected and channel in _REPORTED_AGAIN
                and cat.parent_code not in _NOT_REPORTED_AGAIN and rng.random() < self.dup_share * 1.6):
            self._schedule_duplicate(row, gi, ci, where)
        elif self.dup_share and rng.random() < 0.004 and row["is_public"] and channel == Channel.resident:
            row["support_count"] = 1 + int(rng.random() * 2)  # a neighbour or two support it (附议)
            self.to_support.append((row["id"], reported, row["closed_at"] or self.now, row["support_count"]))

    def _schedule_duplicate(self, master: dict[str, Any], gi: int, ci: int, where: tuple[str, str, bool]) -> None:
        """(d) Someone else reports the same problem again within 1–3 days, while the master is still open."""
        rng = self.rng
        open_until = min(master["closed_at"] or self.now, self.now)
        at = master["reported_at"] + dt.timedelta(hours=rng.uniform(3, 72))
        if at >= open_until - dt.timedelta(minutes=20):
            return
        merge_at = at + dt.timedelta(minutes=rng.uniform(10, 240))
        merge = rng.random() < 0.55 and merge_at < open_until
        lon, lat = master["lon"], master["lat"]
        sp = Spec(at, gi, ci, Channel.hotline if rng.random() < 0.45 else Channel.resident, "duplicate",
                  where=where, again=rng.random() < 0.5,
                  lonlat=(round(lon + rng.gauss(0, 0.00035), 6), round(lat + rng.gauss(0, 0.0003), 6)),
                  master={"id": master["id"], "number": master["number"], "merge_at": merge_at if merge else None})
        self.seq += 1
        heapq.heappush(self.pending, (at, self.seq, sp))

    def planned(self, sp: Spec) -> None:
        rng = self.rng
        g, cat = self.grids[sp.grid], self.cats[sp.cat]
        number = self._number(sp.reported)
        merge_at = sp.master["merge_at"] if sp.master else None
        row, evs = _one_case(rng, cat, g, sp.channel, sp.reported,
                             sp.reported + dt.timedelta(seconds=1) if merge_at else self.now, number, 0.0, 0.0,
                             self.due, self.assignee)
        if sp.title is None or sp.description is None:
            title, desc, where = self.texts.case(rng, sp.cat, self.places[sp.grid].places, sp.channel.value,
                                                 where=sp.where, again=sp.again)
            row.update(title=title, description=desc, address=sp.address or "长兴县" + where[0])
        else:
            row.update(title=sp.title, description=sp.description, address=sp.address)
        if sp.lonlat is not None:
            lon, lat = sp.lonlat
            row.update(lon=lon, lat=lat, geo_cell=geo_cell(lon, lat))
        elif not sp.located:
            row.update(lon=None, lat=None, geo_cell=None)
        if sp.channel in _WITH_PHONE:
            self._reporter(row, sp.reporter or self.reporters.pick(rng, sp.grid))
        if merge_at is not None and sp.master is not None:
            self._merge(row, evs, sp.master, merge_at)
        if sp.master is not None:
            self.pairs.append([number, sp.master["number"], merge_at is not None])
        else:
            self.tagged.setdefault(sp.tag, []).append(number)
        if sp.supports:
            row["support_count"] = sp.supports
            self.to_support.append((row["id"], sp.reported, row["closed_at"] or self.now, sp.supports))
        self.case_rows.append(row)
        self.event_rows.extend(evs)

    def _merge(self, row: dict[str, Any], evs: list[dict[str, Any]], master: dict[str, Any],
               merge_at: dt.datetime) -> None:
        """The duplicate is merged into its master exactly as the workflow's ``merge`` does (from reported or
        accepted; the master, still open, counts it)."""
        rng = self.rng
        state = "reported"
        if rng.random() < 0.4:
            t_acc = row["reported_at"] + (merge_at - row["reported_at"]) * rng.uniform(0.2, 0.8)
            evs.append(_event(rng, row["id"], len(evs) + 1, "accept", t_acc, "reported", "accepted"))
            row.update(accepted_at=t_acc)
            state = "accepted"
        evs.append(_event(rng, row["id"], len(evs) + 1, "merge", merge_at, state, "merged",
                          payload={"master_id": str(master["id"]), "master": master["number"]}))
        row.update(state=CaseState.merged, master_case_id=master["id"], closed_at=merge_at, updated_at=merge_at)
        self.merged_into[master["id"]] += 1

    def supports(self, supporters: list[uuid.UUID]) -> list[dict[str, Any]]:
        """The residents' supports (附议) of the cases that have some: one row per supporter, as ``support_count``
        says (set when the case was written; at most one per resident and case)."""
        rows: list[dict[str, Any]] = []
        rng = self.rng
        for case_id, start, end, k in self.to_support:
            for uid in rng.sample(supporters, k):
                at = start + (max(end, start + dt.timedelta(minutes=5)) - start) * rng.uniform(0.05, 0.95)
                rows.append({"id": uuid.uuid4(), "case_id": case_id, "user_id": uid, "created_at": min(at, self.now)})
        return rows

    def report(self, info: dict[str, Any], busy: np.ndarray) -> dict[str, Any]:
        out = dict(info)
        for hot in out.get("hot_issues", []):
            hot["numbers"] = self.tagged.get(f"hot:{hot['key']}", [])
        for key in ("surge", "dispute", "hotspot"):
            if key in out:
                out[key]["numbers"] = self.tagged.get(key, [])
                out[key]["cases"] = len(out[key]["numbers"])
        merged = sum(1 for p in self.pairs if p[2])
        out["duplicates"] = {"cases": len(self.pairs), "merged": merged, "unmerged": len(self.pairs) - merged,
                             "max_distance_m": 100, "within_days": 3,
                             "pairs": [[d, m, "merged" if x else "open"] for d, m, x in self.pairs]}
        top = np.argsort(-busy)[:5]
        out["busy_grids"] = {"cases": 0, "factor_sigma": 0.45,
                             "top": [{"grid": self.grids[int(i)].name, "grid_path": self.grids[int(i)].path,
                                      "factor": round(float(busy[int(i)]), 2)} for i in top]}
        return out


def _event(rng: random.Random, case_id: uuid.UUID, seq: int, action: str, at: dt.datetime, frm: str, to: str,
           payload: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": id_at(at, randbits=rng.getrandbits), "case_id": case_id, "seq": seq, "at": at, "action": action,
            "from_state": frm, "to_state": to, "actor_id": None, "actor_name": "指挥中心坐席",
            "actor_role": "command_centre", "actor_unit": None, "comment": None, "payload": payload or {},
            "attachment_ids": [], "public": True}


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
        "id": cid, "number": number, "channel": channel, "flow": "event", "state": CaseState.reported,
        "category_id": cat.id,
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
