"""The figures (metrics) every indicator formula reads, for every unit of a district and one period.

:func:`compute` returns ``{unit path: {metric name: number | None}}`` for every unit of the tree (district, streets,
communities, grids). Each metric is measured where it arises and added up the tree:

* **counts** (cases by channel and outcome, persons, households, visits, supervisions, devices …) are counted per
  row's own path in one grouped query or one column-wise frame, then summed into every ancestor. A row whose path is
  not a unit of the tree (a unit retired since) counts for its nearest ancestor that is.
* **medians** (working hours to accept, dispatch, resolve) are taken over the cases of each unit's whole subtree —
  the median of a community is not a sum of its grids' medians. Working hours follow the district's work calendar
  (:mod:`zhili.evaluation.worktime_index`).
* **dispersion** across a unit's grids (Gini of resolve time, Theil of per-capita service, worst-decile gap) for
  communities and above; a grid reads its community's (the indicators using them have scope ``community``).
* **manual figures** (填报) of a community come from its approved submissions; above a community they are summed
  (head counts, money, hours) or population-weighted (scores), as each field's ``aggregate`` says.

"No data" is ``None``, never 0: a source the district has not got at all (no device registered, no department
data imported, no subscription to share data with) gives ``None`` for every unit, so its indicators show 无数据;
a unit that simply had none of something while others did gets a true 0.

Periods are local days ``start`` … ``end`` (both inclusive). Case figures are of the cases *reported* in the period
(as the statistics tables count them), as they stand now (a case closed after the period's end counts as closed);
flows (supervisions, suggestions, warnings, deliveries) are those dated in the period; visit coverage and data
freshness look back 30/90/365 days from the period's end (a register row checked since then counts: the register
keeps only its last check). Stock figures (population, households, special-care residents, devices, grid workers,
merged records, the responsibility list) are the register as it stands: the register keeps no history of who lived
where when, so a past period is scored on today's denominators.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import String, and_, cast, distinct, func, or_, select
from sqlalchemy.orm import Session

from zhili.cases import flows
from zhili.cases.models import Case, Category, DispatchRule, Supervision
from zhili.core.clock import local_midnight
from zhili.core.jurisdiction import path_predicate
from zhili.core.security import Role
from zhili.datahub.models import ChangeEvent, Delivery, DeliveryStatus, EntityType, GoldenRecord, Subscription
from zhili.evaluation import equity
from zhili.evaluation.worktime_index import WorkingClock
from zhili.intel.caseframe import load_cases
from zhili.intel.models import CaseSuggestion, Warning, WarningState
from zhili.iot.models import Device, DeviceStatus
from zhili.participation.models import Suggestion
from zhili.regions.models import Unit, UnitLevel
from zhili.regions.service import valid_on
from zhili.registry.counts import totals_by_path
from zhili.registry.models import Household, Person, PersonStatus
from zhili.users.models import User, UserUnit
from zhili.visits.models import Visit, VisitPerson
from zhili.worktime.service import WorkCalendar

CHANNELS = ("resident", "grid_worker", "hotline", "department", "iot", "open311", "staff")
MEDIANS: dict[str, tuple[str, str]] = {
    "accept_hours_p50": ("reported_at", "accepted_at"),
    "dispatch_hours_p50": ("accepted_at", "dispatched_at"),
    "resolve_hours_p50": ("reported_at", "resolved_at"),
}
DISPERSION = ("gini_resolve", "theil_service", "gap_resolve")
CASE_COUNTS = ("cases", *(f"cases_{c}" for c in CHANNELS), "accepted", "dispatched", "resolved", "closed",
               "closed_on_time", "overdue", "reopened", "rated", "rating_sum", "rating_good")
# every metric the platform computes (manual fields come on top, named by their codes)
PLATFORM_METRICS: tuple[str, ...] = (
    "population", "households", "care_persons", "persons_complete", "persons_updated_365", "golden_persons",
    "grid_workers", "devices", "households_visited_30", "households_visited_90", "care_visited_90",
    *CASE_COUNTS, *MEDIANS, "supervisions", "supervisions_answered", "routed", "routed_correct", "warnings",
    "warnings_handled", "hub_deliveries", "suggestions", "suggestions_replied", "categories_total",
    "categories_covered", *DISPERSION,
)
_CLOSED_STATES = ("closed",)
_RESOLVED_STATES = ("resolved", "verified", "rated", "closed")


@dataclass
class UnitNode:
    id: Any
    code: str
    name: str
    level: str
    path: str
    parent_path: str | None
    depth: int
    children: list[str] = field(default_factory=list)


@dataclass
class Tree:
    """The units of one district valid on a day, by path."""

    root: str
    units: dict[str, UnitNode]

    @property
    def grids(self) -> list[UnitNode]:
        return [u for u in self.units.values() if u.level == UnitLevel.grid.value]

    def nearest(self, path: str) -> str | None:
        """The deepest unit of the tree at or above ``path``."""
        p = path
        while p:
            if p in self.units:
                return p
            if "/" not in p:
                return None
            p = p.rsplit("/", 1)[0]
        return None

    def ancestors(self, path: str) -> list[str]:
        """``path`` (a unit of the tree) and every unit above it, up to the root."""
        out = []
        p: str | None = path
        while p is not None and p in self.units:
            out.append(p)
            p = self.units[p].parent_path
        return out

    def grids_under(self, path: str) -> list[UnitNode]:
        return [g for g in self.grids if g.path == path or g.path.startswith(path + "/")]

    def community_of(self, path: str) -> str | None:
        for p in self.ancestors(path):
            if self.units[p].level == UnitLevel.community.value:
                return p
        return None


def load_tree(session: Session, root_path: str, as_of: dt.date) -> Tree:
    """The district ``root_path`` and every unit below it valid on ``as_of``."""
    rows = session.execute(
        select(Unit.id, Unit.code, Unit.name, Unit.level, Unit.path, Unit.depth)
        .where(path_predicate(Unit.path, (root_path,)), valid_on(Unit, as_of))
        .order_by(Unit.depth, Unit.code)).all()
    units: dict[str, UnitNode] = {}
    for r in rows:
        parent = r.path.rsplit("/", 1)[0] if "/" in r.path and r.path != root_path else None
        units[r.path] = UnitNode(r.id, r.code, r.name, str(r.level.value if hasattr(r.level, "value") else r.level),
                                 r.path, parent, r.depth)
    for u in units.values():
        if u.parent_path is not None and u.parent_path not in units:
            u.parent_path = _nearest_in(units, u.parent_path)
        if u.parent_path is not None:
            units[u.parent_path].children.append(u.path)
    return Tree(root=root_path, units=units)


def _nearest_in(units: Mapping[str, Any], path: str) -> str | None:
    p = path
    while "/" in p:
        if p in units:
            return p
        p = p.rsplit("/", 1)[0]
    return p if p in units else None


class _Sums:
    """Counts per unit of the tree, each row's count added to its unit and every ancestor."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.values: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._chain: dict[str, list[str]] = {}

    def chain(self, path: str) -> list[str]:
        got = self._chain.get(path)
        if got is None:
            near = self.tree.nearest(path)
            got = self.tree.ancestors(near) if near else []
            self._chain[path] = got
        return got

    def add(self, path: str, name: str, value: float) -> None:
        if not value:
            return
        for p in self.chain(path):
            self.values[p][name] += value


def _midnight_after(day: dt.date) -> dt.datetime:
    return local_midnight(day + dt.timedelta(days=1))


def compute(session: Session, tree: Tree, *, start: dt.date, end: dt.date, calendar: WorkCalendar,
            forms: Mapping[str, Mapping[str, float | None]] | None = None,
            form_fields: Iterable[Mapping[str, Any]] = ()) -> dict[str, dict[str, float | None]]:
    """Every metric for every unit of ``tree`` over the local days ``start`` … ``end``."""
    sums = _Sums(tree)
    present: dict[str, bool] = {}
    root = (tree.root,)
    end_at = _midnight_after(end)
    _registry(session, sums, root, end_at)
    present["iot"] = _devices(session, sums, root, end_at)
    present["hub_golden"] = _golden(session, sums, root, end_at)
    present["hub_share"] = _deliveries(session, sums, root, local_midnight(start), end_at)
    _grid_workers(session, sums, root)
    _visits(session, sums, root, end, end_at)
    frame = load_cases(session, since=start, until=end, path_prefix=tree.root, flow=flows.EVENT,
                       columns=("id", "path", "channel", "state", "reported_at", "accepted_at", "dispatched_at",
                                "resolved_at", "closed_on_time", "overdue", "reopen_count", "rating"))
    _case_counts(frame, sums)
    medians = _case_medians(frame, tree, calendar, start, end)
    _supervisions(session, sums, root, local_midnight(start), end_at)
    _suggestions_routed(session, sums, root, start, end)
    _warnings(session, sums, root, local_midnight(start), end_at)
    _participation(session, sums, root, local_midnight(start), end_at)
    coverage = _duty_list(session, tree)

    out: dict[str, dict[str, float | None]] = {}
    for path in tree.units:
        row: dict[str, float | None] = {name: 0.0 for name in PLATFORM_METRICS}
        row.update(sums.values.get(path, {}))
        for name in MEDIANS:
            row[name] = medians.get(path, {}).get(name)
        row["categories_total"], row["categories_covered"] = coverage.get(path, (None, None))
        if not present["iot"]:
            row["devices"] = None
        if not present["hub_golden"]:
            row["golden_persons"] = None
        if not present["hub_share"]:
            row["hub_deliveries"] = None
        out[path] = row
    _dispersion(tree, out)
    _forms(tree, out, forms or {}, form_fields)
    return out


# -- the register, users, devices, the data hub ------------------------------------------------------------------

def _registry(session: Session, sums: _Sums, root: tuple[str, ...], end_at: dt.datetime) -> None:
    year_before = end_at - dt.timedelta(days=365)
    has_care = cast(Person.care_tags, String) != "[]"
    complete = and_(Person.phone_bidx.is_not(None), Person.household_id.is_not(None),
                    Person.ethnicity.is_not(None), Person.relation.is_not(None))
    stmt = (select(Person.path, func.count(),
                   func.sum(_case_int(has_care)), func.sum(_case_int(complete)),
                   func.sum(_case_int(Person.updated_at >= year_before)))
            .where(path_predicate(Person.path, root), Person.status == PersonStatus.active)
            .group_by(Person.path))
    for path, n, care, done, fresh in session.execute(stmt):
        sums.add(path, "population", n)
        sums.add(path, "care_persons", care or 0)
        sums.add(path, "persons_complete", done or 0)
        sums.add(path, "persons_updated_365", fresh or 0)
    for path, n in totals_by_path(session, root, "households").items():  # the maintained per-grid counts
        sums.add(path, "households", n)


def _case_int(cond: Any) -> Any:
    from sqlalchemy import case as sql_case
    return sql_case((cond, 1), else_=0)


def _devices(session: Session, sums: _Sums, root: tuple[str, ...], end_at: dt.datetime) -> bool:
    stmt = (select(Device.path, func.count())
            .where(path_predicate(Device.path, root), Device.status != DeviceStatus.disabled)
            .group_by(Device.path))
    rows = session.execute(stmt).all()
    for path, n in rows:
        sums.add(path, "devices", n)
    return bool(rows)


def _golden(session: Session, sums: _Sums, root: tuple[str, ...], end_at: dt.datetime) -> bool:
    """Active residents of the register with a golden record (counted where the resident lives, like the
    population they are a share of); present when the district has any person golden record at all."""
    g = GoldenRecord
    alive = (path_predicate(g.path, root), g.entity_type == EntityType.person, g.register_id.is_not(None),
             g.merged_into.is_(None))
    if session.execute(select(g.id).where(*alive).limit(1)).first() is None:
        return False
    stmt = (select(Person.path, func.count(distinct(Person.id)))
            .select_from(g).join(Person, Person.id == g.register_id)
            .where(*alive, path_predicate(Person.path, root), Person.status == PersonStatus.active)
            .group_by(Person.path))
    for path, n in session.execute(stmt):
        sums.add(path, "golden_persons", n)
    return True


def _deliveries(session: Session, sums: _Sums, root: tuple[str, ...], start_at: dt.datetime,
                end_at: dt.datetime) -> bool:
    any_subscription = session.execute(
        select(func.count()).select_from(Subscription).where(Subscription.created_at < end_at)).scalar_one()
    if not any_subscription:
        return False
    stmt = (select(ChangeEvent.path, func.count())
            .join(Delivery, Delivery.change_id == ChangeEvent.id)
            .where(path_predicate(ChangeEvent.path, root), Delivery.status == DeliveryStatus.delivered,
                   Delivery.delivered_at >= start_at, Delivery.delivered_at < end_at)
            .group_by(ChangeEvent.path))
    for path, n in session.execute(stmt):
        sums.add(path, "hub_deliveries", n)
    return True


def _grid_workers(session: Session, sums: _Sums, root: tuple[str, ...]) -> None:
    stmt = (select(Unit.path, func.count(distinct(User.id)))
            .join(UserUnit, UserUnit.user_id == User.id).join(Unit, Unit.id == UserUnit.unit_id)
            .where(User.role == Role.grid_worker, User.is_active.is_(True), path_predicate(Unit.path, root))
            .group_by(Unit.path))
    for path, n in session.execute(stmt):
        sums.add(path, "grid_workers", n)


def _visits(session: Session, sums: _Sums, root: tuple[str, ...], end: dt.date, end_at: dt.datetime) -> None:
    # households counted where they are on the register (the denominator's place), each once however many
    # visits, whatever grid a visit was filed under
    for days in (30, 90):
        since = local_midnight(end - dt.timedelta(days=days - 1))
        stmt = (select(Household.path, func.count(distinct(Household.id)))
                .select_from(Visit).join(Household, Household.id == Visit.household_id)
                .where(path_predicate(Household.path, root), Visit.visited_at >= since, Visit.visited_at < end_at)
                .group_by(Household.path))
        for path, n in session.execute(stmt):
            sums.add(path, f"households_visited_{days}", n)
    since = local_midnight(end - dt.timedelta(days=89))
    stmt = (select(Person.path, func.count(distinct(Person.id)))
            .join(VisitPerson, VisitPerson.person_id == Person.id).join(Visit, Visit.id == VisitPerson.visit_id)
            .where(path_predicate(Person.path, root), Visit.visited_at >= since, Visit.visited_at < end_at,
                   Person.status == PersonStatus.active, cast(Person.care_tags, String) != "[]")
            .group_by(Person.path))
    for path, n in session.execute(stmt):
        sums.add(path, "care_visited_90", n)


# -- cases --------------------------------------------------------------------------------------------------------

def _case_counts(frame: pd.DataFrame, sums: _Sums) -> None:
    if frame.empty:
        return
    state = frame["state"].astype(str)
    rating = frame["rating"].to_numpy()
    resolved = frame["resolved_at"].notna() | state.isin(_RESOLVED_STATES)
    cols = pd.DataFrame({
        "path": frame["path"].astype(str),
        "cases": 1,
        "accepted": frame["accepted_at"].notna().to_numpy(),
        "dispatched": frame["dispatched_at"].notna().to_numpy(),
        "resolved": resolved.to_numpy(),
        "closed": state.isin(_CLOSED_STATES).to_numpy(),
        "closed_on_time": (state.isin(_CLOSED_STATES) & frame["closed_on_time"].fillna(False).astype(bool))
        .to_numpy(),
        "overdue": frame["overdue"].to_numpy(),
        # among the resolved, as E3_REOPEN's denominator: a case reopened and back in work is not resolved
        "reopened": ((frame["reopen_count"] > 0) & resolved).to_numpy(),
        "rated": ~np.isnan(rating),
        "rating_sum": np.nan_to_num(rating),
        "rating_good": np.nan_to_num(rating) >= 4,
    })
    channel = frame["channel"].astype(str)
    for ch in CHANNELS:
        cols[f"cases_{ch}"] = (channel == ch).to_numpy()
    grouped = cols.groupby("path", sort=False).sum(numeric_only=True)
    for path, row in grouped.iterrows():
        for name, value in row.items():
            sums.add(str(path), str(name), float(value))


def _case_medians(frame: pd.DataFrame, tree: Tree, calendar: WorkCalendar, start: dt.date,
                  end: dt.date) -> dict[str, dict[str, float | None]]:
    """Median working hours per unit (over its subtree's cases)."""
    if frame.empty:
        return {}
    latest = max((frame[c].max() for c in ("accepted_at", "dispatched_at", "resolved_at")
                  if frame[c].notna().any()), default=None)
    last = max(end, latest.tz_convert(calendar.tz).date() if latest is not None else end)
    clock = WorkingClock(calendar, start - dt.timedelta(days=1), last + dt.timedelta(days=1))
    hours = {name: clock.hours_between(frame[a], frame[b]) for name, (a, b) in MEDIANS.items()}
    paths = frame["path"].astype(str).to_numpy()
    sums = _Sums(tree)
    uniques, codes = np.unique(paths, return_inverse=True)
    chains = [sums.chain(str(p)) for p in uniques]
    depth_of = {p: tree.units[p].depth for p in tree.units}
    out: dict[str, dict[str, float | None]] = defaultdict(dict)
    # for each depth, the ancestor at that depth of every case; a median per ancestor
    depths = sorted({depth_of[p] for chain in chains for p in chain})
    for depth in depths:
        by_unique = np.array([next((p for p in chain if depth_of[p] == depth), "") for chain in chains],
                             dtype=object)
        anc = by_unique[codes]
        for name, values in hours.items():
            s = pd.Series(values)
            keep = ~np.isnan(values) & (anc != "")
            if not keep.any():
                continue
            med = s[keep].groupby(anc[keep]).median()
            for p, v in med.items():
                out[str(p)][name] = round(float(v), 4)
    return out


def _supervisions(session: Session, sums: _Sums, root: tuple[str, ...], start_at: dt.datetime,
                  end_at: dt.datetime) -> None:
    stmt = (select(Case.path, func.count(), func.sum(_case_int(Supervision.acknowledged_at.is_not(None))))
            .join(Case, Case.id == Supervision.case_id)
            .where(path_predicate(Case.path, root), Supervision.issued_at >= start_at,
                   Supervision.issued_at < end_at, Case.flow == flows.EVENT)
            .group_by(Case.path))
    for path, n, answered in session.execute(stmt):
        sums.add(path, "supervisions", n)
        sums.add(path, "supervisions_answered", answered or 0)


def _suggestions_routed(session: Session, sums: _Sums, root: tuple[str, ...], start: dt.date, end: dt.date) -> None:
    s = CaseSuggestion
    stmt = (select(Case.path, func.count(), func.sum(_case_int(s.corrected.is_(False))))
            .join(Case, Case.id == s.case_id)
            .where(path_predicate(Case.path, root), s.target == "category", s.final_label.is_not(None),
                   Case.reported_day >= start, Case.reported_day <= end, Case.flow == flows.EVENT)
            .group_by(Case.path))
    for path, n, correct in session.execute(stmt):
        sums.add(path, "routed", n)
        sums.add(path, "routed_correct", correct or 0)


def _flow(session: Session, sums: _Sums, *, path: Any, at: Any, done: Any, names: tuple[str, str],
          root: tuple[str, ...], start_at: dt.datetime, end_at: dt.datetime) -> None:
    """Rows dated in the period, and those of them ``done``, counted at each row's path."""
    stmt = (select(path, func.count(), func.sum(_case_int(done)))
            .where(path_predicate(path, root), at >= start_at, at < end_at).group_by(path))
    for row_path, n, finished in session.execute(stmt):
        sums.add(row_path, names[0], n)
        sums.add(row_path, names[1], finished or 0)


def _warnings(session: Session, sums: _Sums, root: tuple[str, ...], start_at: dt.datetime,
              end_at: dt.datetime) -> None:
    _flow(session, sums, path=Warning.path, at=Warning.raised_at, done=Warning.state != WarningState.open,
          names=("warnings", "warnings_handled"), root=root, start_at=start_at, end_at=end_at)


def _participation(session: Session, sums: _Sums, root: tuple[str, ...], start_at: dt.datetime,
                   end_at: dt.datetime) -> None:
    _flow(session, sums, path=Suggestion.path, at=Suggestion.created_at, done=Suggestion.replied_at.is_not(None),
          names=("suggestions", "suggestions_replied"), root=root, start_at=start_at, end_at=end_at)


def _duty_list(session: Session, tree: Tree) -> dict[str, tuple[float, float]]:
    """(leaf event categories in use, those the responsibility list can dispatch in the whole unit) per unit.

    A category is covered in a unit when it has a default department or an enabled current rule whose category
    matches it (its code or a major class above it) and whose region is the unit or above it (or the district)."""
    cats = session.execute(
        select(Category.code, Category.default_department)
        .where(Category.is_current.is_(True), Category.is_active.is_(True), Category.is_leaf.is_(True),
               Category.kind != flows.SERVICE_KIND)).all()
    if not cats:
        return {}
    rules = session.execute(
        select(DispatchRule.category_code, DispatchRule.region_path)
        .where(DispatchRule.is_current.is_(True), DispatchRule.enabled.is_(True),
               or_(DispatchRule.target_department.is_not(None), DispatchRule.target_unit_id.is_not(None)))).all()
    everywhere = {code for code, dept in cats if dept}
    regional: list[tuple[str | None, str | None]] = [(r.category_code, r.region_path) for r in rules]
    # per category, the regions its rules cover (None: the whole district) — a few per category, so a unit's
    # coverage is categories × a few prefix tests, not categories × rules
    regions: dict[str, list[str | None]] = {}
    for code, _dept in cats:
        if code in everywhere:
            continue
        regions[code] = [rp for rc, rp in regional if rc is None or code == rc or code.startswith(rc)]
    always = sum(1 for code, _dept in cats if code in everywhere or None in regions.get(code, []))
    partial = {code: [rp for rp in rps if rp is not None] for code, rps in regions.items() if None not in rps}
    partial = {code: rps for code, rps in partial.items() if rps}
    out: dict[str, tuple[float, float]] = {}
    total = float(len(cats))
    for path in tree.units:
        covered = always + sum(1 for rps in partial.values()
                               if any(path == rp or path.startswith(rp + "/") for rp in rps))
        out[path] = (total, float(covered))
    return out


# -- dispersion across grids, manual figures ----------------------------------------------------------------------

def _dispersion(tree: Tree, out: dict[str, dict[str, float | None]]) -> None:
    for path, unit in tree.units.items():
        if unit.level == UnitLevel.grid.value:
            continue
        grids = tree.grids_under(path)
        resolve = [out[g.path]["resolve_hours_p50"] for g in grids]
        resolve_known = [v for v in resolve if v is not None]
        pops = [out[g.path]["population"] or 0 for g in grids]
        service = [(out[g.path]["closed"] or 0) / p * 1000 if p else None for g, p in zip(grids, pops, strict=True)]
        kept = [(s, p) for s, p in zip(service, pops, strict=True) if s is not None]
        out[path]["gini_resolve"] = _round(equity.gini(resolve_known)) if len(resolve_known) >= 2 else None
        out[path]["theil_service"] = (_round(equity.theil([s for s, _ in kept], [p for _, p in kept]))
                                      if len(kept) >= 2 else None)
        gap = equity.decile_gap(resolve_known, "lower") if len(resolve_known) >= 2 else None
        out[path]["gap_resolve"] = _round(gap.ratio) if gap is not None else None
    for g in tree.grids:
        community = tree.community_of(g.path)
        for name in DISPERSION:
            out[g.path][name] = out[community][name] if community else None


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 6)


def _forms(tree: Tree, out: dict[str, dict[str, float | None]], forms: Mapping[str, Mapping[str, float | None]],
           form_fields: Iterable[Mapping[str, Any]]) -> None:
    """Manual figures: a community's own; a grid reads its community's; above, summed or population-weighted."""
    fields = {f["code"]: f.get("aggregate", "sum") for f in form_fields}
    if not fields:
        return
    for path, unit in tree.units.items():
        if unit.level == UnitLevel.community.value:
            own = forms.get(path, {})
            for code in fields:
                out[path][code] = _num(own.get(code))
    for g in tree.grids:
        community = tree.community_of(g.path)
        for code in fields:
            out[g.path][code] = out[community].get(code) if community else None
    for path, unit in sorted(tree.units.items(), key=lambda kv: -kv[1].depth):
        if unit.level in (UnitLevel.grid.value, UnitLevel.community.value):
            continue
        communities = [p for p, u in tree.units.items()
                       if u.level == UnitLevel.community.value and p.startswith(path + "/")]
        for code, how in fields.items():
            known: list[tuple[float, float]] = []
            for c in communities:
                v = out[c].get(code)
                if v is not None:
                    known.append((v, out[c]["population"] or 0.0))
            if not known:
                out[path][code] = None
            elif how == "mean":
                weight = sum(p for _, p in known)
                out[path][code] = (sum(v * p for v, p in known) / weight if weight
                                   else sum(v for v, _ in known) / len(known))
            else:
                out[path][code] = float(sum(v for v, _ in known))


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
