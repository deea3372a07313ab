"""Duplicate suggestions measured (重复件识别评测): precision and recall of the scored suggestions
(:mod:`zhili.cases.duplicates`) against the old distance-only rule, in the same run, on labelled pairs.

A *query* is a new report, its candidates (earlier cases it might repeat) and the truth (which of them are the same
problem). Each method suggests up to ``k`` candidates:

* ``distance_only`` — the rule before issue 17: the same category, both with a point, within the radius and the
  time window; nearest first;
* ``scored`` — the platform's rule today (:func:`zhili.cases.duplicates.match`): text + nearness + recency + place
  at or above the threshold; best score first.

precision = correct suggestions / suggestions; recall = queries with at least one correct suggestion / queries
that have a true duplicate among their earlier reports (also those the search cannot reach: too far, too late,
another category — they count against both methods).

Labelled pairs come from
* the database (:func:`evaluate`): every case merged into a master (合并重复件) is a query whose truth is its master
  and the other cases merged into it; its candidates are the cases of its category (and related ones) reported in
  the time window before it that were still open then — the ones staff did not merge are the negatives;
* generated history (:func:`evaluate_pairs` on :func:`zhili.intel.duplicates_synth.generate`): planted
  re-reports are the duplicates, planted near-misses the hard negatives.
"""

from __future__ import annotations

import bisect
import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from zhili.cases import duplicates as dup
from zhili.cases import similarity
from zhili.cases.models import Case
from zhili.cases.scope import visibility
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.core.validators import usable_point
from zhili.intel.duplicates_synth import CATEGORIES, Report


@dataclass
class Query:
    """A new report, the earlier cases it may repeat, and which of them truly are the same problem."""

    report: dict[str, Any]
    candidates: list[dict[str, Any]]
    truth: set[Any]


@dataclass
class Tally:
    """One method's counts over the queries."""

    suggested: int = 0
    correct: int = 0
    with_duplicate: int = 0  # queries with a true duplicate among their earlier reports
    found: int = 0  # … of which at least one was suggested
    queries: int = 0

    @property
    def precision(self) -> float:
        return self.correct / self.suggested if self.suggested else 0.0

    @property
    def recall(self) -> float:
        return self.found / self.with_duplicate if self.with_duplicate else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "suggested": self.suggested, "correct": self.correct, "with_duplicate": self.with_duplicate,
                "found": self.found, "queries": self.queries}


def distance_only(report: Mapping[str, Any], candidates: Iterable[Mapping[str, Any]], *, rule: dup.Rule,
                  k: int) -> list[Any]:
    """The rule before issue 17: same category, both points, within the radius and the window; nearest first."""
    from zhili.regions.geo import haversine_m

    point = usable_point(report["lon"], report["lat"])
    if point is None:
        return []
    found = []
    for c in candidates:
        other = usable_point(c["lon"], c["lat"])
        if c["category_code"] != report["category_code"] or other is None or c["id"] == report["id"]:
            continue
        if abs((report["reported_at"] - c["reported_at"]).total_seconds()) > rule.window_hours * 3600:
            continue
        d = haversine_m(*point, *other)
        if d <= rule.radius_m:
            found.append((d, c["id"]))
    return [cid for _, cid in sorted(found, key=lambda f: f[0])[:k]]


def scored(report: Mapping[str, Any], candidates: Iterable[Mapping[str, Any]], *, rule: dup.Rule, k: int,
           categories: Mapping[str, Any], weights: similarity.Weights = similarity.DEFAULT_WEIGHTS,
           profiles: dup.Profiles | None = None) -> list[Any]:
    """The platform's rule (:func:`zhili.cases.duplicates.match`), best score first."""
    probe = dup.probe_of(report, categories)
    names = {code: c.name for code, c in categories.items()}
    profiles = profiles or dup.Profiles(names)
    found = []
    for c in candidates:
        m = dup.match(probe, c, profiles, category_names=names, rule=rule, weights=weights)
        if m is not None:
            found.append((c, m))
    return [c["id"] for c, _ in dup.rank(found, k)]


def evaluate_queries(queries: Iterable[Query], *, categories: Mapping[str, Any], rule: dup.Rule | None = None,
                     k: int = 3, weights: similarity.Weights = similarity.DEFAULT_WEIGHTS) -> dict[str, Tally]:
    """Both methods over the same queries: {"scored": Tally, "distance_only": Tally}."""
    rule = rule or dup.Rule()
    out = {"scored": Tally(), "distance_only": Tally()}
    profiles = dup.Profiles({code: c.name for code, c in categories.items()})
    for q in queries:
        picks = {"scored": scored(q.report, q.candidates, rule=rule, k=k, categories=categories, weights=weights,
                                  profiles=profiles),
                 "distance_only": distance_only(q.report, q.candidates, rule=rule, k=k)}
        for name, ids in picks.items():
            t = out[name]
            t.queries += 1
            t.suggested += len(ids)
            hits = sum(1 for i in ids if i in q.truth)
            t.correct += hits
            if q.truth:
                t.with_duplicate += 1
                t.found += hits > 0
    return out


def generated_queries(reports: Sequence[Report], *, categories: Mapping[str, Any] = CATEGORIES,
                      rule: dup.Rule | None = None) -> list[Query]:
    """One query per generated report: the earlier reports of its category and the related ones within the time
    window as candidates (the superset the database search reads), and every earlier report of its incident —
    reachable or not — as the truth."""
    rule = rule or dup.Rule()
    window = dt.timedelta(hours=rule.window_hours)
    by_cat: dict[str, list[Report]] = defaultdict(list)
    times: dict[str, list[dt.datetime]] = defaultdict(list)
    seen: dict[int, set[uuid.UUID]] = defaultdict(set)
    out = []
    for r in sorted(reports, key=lambda r: r.reported_at):
        row = r.row()
        related = dup.related_categories(categories, r.category_code, f"{r.title}，{r.description}")
        cands: list[dict[str, Any]] = []
        for code in (r.category_code, *related):
            lo = bisect.bisect_left(times[code], r.reported_at - window)
            cands.extend(c.row() for c in by_cat[code][lo:])
        out.append(Query(report=row, candidates=cands, truth=set(seen[r.incident])))
        by_cat[r.category_code].append(r)
        times[r.category_code].append(r.reported_at)
        seen[r.incident].add(r.id)
    return out


def evaluate_pairs(reports: Sequence[Report], *, categories: Mapping[str, Any] = CATEGORIES, k: int = 3,
                   rule: dup.Rule | None = None, weights: similarity.Weights = similarity.DEFAULT_WEIGHTS
                   ) -> dict[str, dict[str, float]]:
    """Precision and recall of both methods on generated reports (:mod:`zhili.intel.duplicates_synth`):
    {"scored": {...}, "distance_only": {...}}."""
    rule = rule or dup.Rule()
    tallies = evaluate_queries(generated_queries(reports, categories=categories, rule=rule), categories=categories,
                               rule=rule, k=k, weights=weights)
    return {name: t.as_dict() for name, t in tallies.items()}


# -- on the database's merged cases -----------------------------------------------------------------------------

_COLS = ("id", "number", "title", "description", "address", "state", "lon", "lat", "reported_at", "category_code",
         "grid_id", "master_case_id", "closed_at")


@dataclass
class _Merged:
    queries: list[Query] = field(default_factory=list)
    skipped: int = 0


def _merged_queries(session: Session, principal: Principal, *, rule: dup.Rule, categories: Mapping[str, Any],
                    limit: int) -> _Merged:
    cols = [getattr(Case, c) for c in _COLS]
    merged = session.execute(select(*cols).where(Case.master_case_id.is_not(None), visibility(principal))
                             .order_by(Case.reported_at.desc()).limit(limit)).all()
    out = _Merged()
    window = dt.timedelta(hours=rule.window_hours)
    for m in merged:
        row = m._asdict()
        related = dup.related_categories(categories, row["category_code"], f"{row['title']}，{row['description']}")
        cats = [c for c in (row["category_code"], *related) if c]
        at = row["reported_at"]
        cands = [c._asdict() for c in session.execute(select(*cols).where(
            Case.category_code.in_(cats), Case.reported_at >= at - window, Case.reported_at <= at, Case.id != row["id"],
            or_(Case.closed_at.is_(None), Case.closed_at > at, Case.master_case_id == row["master_case_id"]),
            or_(Case.master_case_id.is_(None), Case.master_case_id == row["master_case_id"]),
            visibility(principal)))]
        truth = {c["id"] for c in cands
                 if c["id"] == row["master_case_id"] or c["master_case_id"] == row["master_case_id"]}
        master = session.get(Case, row["master_case_id"])
        if not truth and master is not None and master.reported_at > at:  # merged into a later case: the later
            out.skipped += 1  # one is no earlier candidate — not a question the suggestions could have answered
            continue
        out.queries.append(Query(report=row, candidates=cands, truth=truth))
    return out


def evaluate(session: Session, *, principal: Principal, k: int = 3, limit: int = 2000) -> list[dict[str, Any]]:
    """The duplicate suggestions against the distance-only rule on the database's merged cases (the most recent
    ``limit`` in the principal's jurisdiction): rows {model, metric, value, baseline_name, baseline_value, n,
    note} for ``zhili ml eval``."""
    from zhili.cases.intake import snapshot

    authorize(principal, Perm.intel_admin)
    rule = dup.Rule.from_settings()
    categories = snapshot(session).categories
    got = _merged_queries(session, principal, rule=rule, categories=categories, limit=limit)
    t = evaluate_queries(got.queries, categories=categories, rule=rule, k=k)
    new, old = t["scored"], t["distance_only"]
    note = (f"合并件作为新上报、其主件及并入同一主件的事件为真重复，同类/相近类别、时间窗内当时未办结的其他事件为负例；"
            f"前{k}条建议；评分阈值{rule.min_score}")
    if got.skipped:
        note += f"；{got.skipped}件并入更晚主件，未计入"
    if not got.queries:
        note = "数据库中还没有合并的重复件（合并重复件后即可评估）"
    return [
        {"model": "duplicates", "metric": f"precision@{k}", "value": round(new.precision, 4),
         "baseline_name": "distance_only", "baseline_value": round(old.precision, 4), "n": len(got.queries),
         "note": note},
        {"model": "duplicates", "metric": f"recall@{k}", "value": round(new.recall, 4),
         "baseline_name": "distance_only", "baseline_value": round(old.recall, 4), "n": new.with_duplicate,
         "note": note},
    ]
