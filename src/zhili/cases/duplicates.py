"""The duplicate search (疑似重复件): which open cases a new report (or a case on its page) may repeat, scored and
explained by :mod:`zhili.cases.similarity`, in the viewer's jurisdiction.

Candidates — open, unmerged cases reported within the time window (``ZHILI_DUPLICATE_WINDOW_HOURS``) — come from
one statement per batch, three index seeks:

* **nearby**: for a report with a point, the cases of its category in the lattice cells around it
  (``ix_case_nearby``: category, cell, time — one seek per (category, cell) pair, as before), kept within the radius
  (``ZHILI_DUPLICATE_RADIUS_M``);
* **without a point**: the cases of its category that have no point (the same index, ``geo_cell IS NULL``) — an
  address-only report filed earlier;
* **by category**: for a report without a point, the cases of its category in the window (``ix_case_category``:
  category, time) — kept when they lie in the same grid, or name the same address or 小区, and their text is
  similar (``ZHILI_DUPLICATE_TEXT_WITHOUT_POINT``).

Related categories (the same parent) are searched the same way, but only those the report's text names (their name
or a keyword: a report filed as 上水井盖 that says 污水井盖), and kept only when the text is very similar
(``ZHILI_DUPLICATE_TEXT_RELATED``). Every candidate must score at least ``ZHILI_DUPLICATE_MIN_SCORE``; the viewer
must be allowed to see it (:func:`zhili.cases.scope.can_see_values`, exactly as before). Best score first.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, TextualSelect, bindparam, text
from sqlalchemy.orm import Session

from zhili.cases import similarity
from zhili.cases.models import OPEN_STATES, Case, CaseState
from zhili.cases.scope import can_see_values, cells_around, co_departments_of, duplicate_box
from zhili.core.settings import get_settings
from zhili.core.validators import usable_point


@dataclass(frozen=True)
class Probe:
    """A report (or a case) looking for its duplicates."""

    id: uuid.UUID | None
    category_code: str | None
    at: dt.datetime
    point: tuple[float, float] | None  # usable (lon, lat), or None
    grid_id: uuid.UUID | None
    profile: similarity.Profile
    related: Mapping[str, str]  # code → name of the related categories searched too


@dataclass(frozen=True)
class Suggestion:
    """A duplicate candidate with its score and why (the explanation, in Chinese)."""

    id: uuid.UUID
    number: str
    title: str
    state: CaseState
    reported_at: dt.datetime
    category_code: str | None
    score: float
    explanation: str
    distance_m: float | None


def related_categories(categories: Mapping[str, Any], code: str | None, text_: similarity.Profile | str
                       ) -> dict[str, str]:
    """The other current leaf categories under ``code``'s parent that the report's text names — a word of their
    name or keywords (two characters of 污水井盖 in 井盖松动) — where a reporter's choice of category may differ
    from an earlier reporter's."""
    cat = categories.get(code or "")
    if cat is None or not cat.parent_code:
        return {}
    grams = text_.terms.keys() if isinstance(text_, similarity.Profile) else \
        similarity.bigrams(similarity.normalise(text_))
    return {other.code: other.name for other in _siblings(categories, cat.parent_code, cat.code)
            if not grams.isdisjoint(_keyword_grams(other))}


_FAMILIES: dict[int, tuple[Mapping[str, Any], dict[str, list[Any]]]] = {}


def _siblings(categories: Mapping[str, Any], parent: str, code: str) -> list[Any]:
    """The active leaves under ``parent`` but ``code`` (the families are worked out once per categories mapping —
    intake's snapshot keeps one per configuration version)."""
    got = _FAMILIES.get(id(categories))
    if got is None or got[0] is not categories:
        families: dict[str, list[Any]] = {}
        for c in categories.values():
            if c.parent_code and c.is_leaf and c.is_active:
                families.setdefault(c.parent_code, []).append(c)
        if len(_FAMILIES) > 16:
            _FAMILIES.clear()
        got = _FAMILIES[id(categories)] = (categories, families)
    return [c for c in got[1].get(parent, ()) if c.code != code]


_GRAMS: dict[tuple[int, str], frozenset[str]] = {}


def _keyword_grams(cat: Any) -> frozenset[str]:
    """The bigrams of a category's name and keywords, less the generic words (cached per category version)."""
    key = (id(cat), cat.code)
    got = _GRAMS.get(key)
    if got is None:
        words = [similarity.normalise(w) for w in (cat.name, *(cat.keywords or [])) if w]
        got = frozenset().union(*(similarity.bigrams(similarity.strip_generic(w)) for w in words))
        if len(_GRAMS) > 10_000:
            _GRAMS.clear()
        _GRAMS[key] = got
    return got


def probe_of(row: Mapping[str, Any], categories: Mapping[str, Any]) -> Probe:
    """A probe from a case row (its values as intake plans them or as the table holds them)."""
    cat = categories.get(row["category_code"] or "")
    prof = Profiles({cat.code: cat.name} if cat is not None else None).of(row)
    return Probe(id=row["id"], category_code=row["category_code"], at=row["reported_at"],
                 point=usable_point(row["lon"], row["lat"]), grid_id=row.get("grid_id"), profile=prof,
                 related=related_categories(categories, row["category_code"], prof))


# -- the candidate query ----------------------------------------------------------------------------------------

_COLS = ("id", "number", "title", "description", "address", "state", "lon", "lat", "reported_at", "category_code",
         "grid_id", "path", "assignee_path", "assignee_department", "reporter_user_id")
# The inputs: ``pairs`` [[category, cell], …], ``bare`` [category, …] (their cases without a point), ``wide``
# [category, …] (all their cases in the window) — bound as one value each, so the statement is the same text for
# every batch (compiled once, cached). SQLite takes JSON arrays. PostgreSQL takes arrays through unnest(), whose
# row count the planner knows from the bound value: with jsonb_array_elements (assumed 100 rows) it hashed the whole
# time window of every category instead of seeking ix_case_nearby (measured on 1,000,000 cases: 433 rows read and
# filtered for 2 pairs, against 2 index seeks).
_INPUTS = {
    "sqlite": ("SELECT json_extract(value, '$[0]') AS cat, json_extract(value, '$[1]') AS cell "
               "FROM json_each(:pairs)",
               "SELECT value AS cat FROM json_each(:bare)", "SELECT value AS cat FROM json_each(:wide)"),
    "postgresql": ("SELECT * FROM unnest(CAST(:pair_cats AS text[]), CAST(:pair_cells AS bigint[])) AS u(cat, cell)",
                   "SELECT * FROM unnest(CAST(:bare AS text[])) AS u(cat)",
                   "SELECT * FROM unnest(CAST(:wide AS text[])) AS u(cat)"),
}


@functools.lru_cache(maxsize=4)
def candidate_statement(dialect: str) -> TextualSelect:
    """The duplicate query on ``dialect`` (module docstring): bound ``pairs``, ``bare``, ``wide``, ``lo``, ``hi``."""
    t = cast(Table, Case.__table__)
    cols = tuple(t.c[name] for name in _COLS)
    states = ", ".join(f"'{s.value}'" for s in sorted(OPEN_STATES))
    select_ = ", ".join(f"c.{c.name}" for c in cols)
    where = (f"c.reported_at >= :lo AND c.reported_at <= :hi AND c.state IN ({states}) "
             "AND c.master_case_id IS NULL")
    pairs, bare, wide = _INPUTS[dialect]
    return text(
        f"WITH near AS ({pairs}), bare AS ({bare}), wide AS ({wide}) "
        f"SELECT {select_} FROM near JOIN \"case\" AS c ON c.category_code = near.cat AND c.geo_cell = near.cell "
        f"WHERE {where} "
        f"UNION ALL SELECT {select_} FROM bare JOIN \"case\" AS c ON c.category_code = bare.cat "
        f"AND c.geo_cell IS NULL WHERE {where} "
        f"UNION ALL SELECT {select_} FROM wide JOIN \"case\" AS c ON c.category_code = wide.cat WHERE {where}"
    ).bindparams(bindparam("lo", type_=t.c.reported_at.type), bindparam("hi", type_=t.c.reported_at.type)
                 ).columns(*cols)


def fetch_candidates(session: Session, probes: Sequence[Probe]) -> list[dict[str, Any]]:
    """The open, unmerged cases that may repeat any of ``probes``, each once: a superset that :func:`suggest`
    narrows per probe and viewer."""
    if not probes:
        return []
    pairs: set[tuple[str, int]] = set()
    bare: set[str] = set()
    wide: set[str] = set()
    window = dt.timedelta(hours=get_settings().duplicate_window_hours)
    for p in probes:
        cats = {c for c in (p.category_code, *p.related) if c}
        if p.point is not None:
            dlon, dlat, window, _ = duplicate_box(*p.point)
            cells = cells_around(p.point[0], p.point[1], dlon, dlat)
            pairs.update((c, cell) for c in cats for cell in cells)
            bare.update(cats)
        else:
            wide.update(cats)
    bare -= wide  # the wide seek reads those cases too
    times = [p.at for p in probes]
    conn = session.connection()
    params: dict[str, Any] = {"lo": min(times) - window, "hi": max(times) + window}
    if conn.dialect.name == "postgresql":
        ordered = sorted(pairs)
        params.update(pair_cats=[c for c, _ in ordered], pair_cells=[cell for _, cell in ordered],
                      bare=sorted(bare), wide=sorted(wide))
    else:
        params.update(pairs=json.dumps(sorted(pairs)), bare=json.dumps(sorted(bare)), wide=json.dumps(sorted(wide)))
    rows = conn.execute(candidate_statement(conn.dialect.name), params)
    seen: set[uuid.UUID] = set()
    out = []
    for r in rows:
        if r.id not in seen:
            seen.add(r.id)
            out.append(r._asdict())
    return out


# -- scoring ----------------------------------------------------------------------------------------------------

# Each case's prepared text, kept per process: intake profiles a report when it is filed and finds it again as a
# candidate of the reports after it within the window. Keyed by what the profile is made of (a case's title and
# description never change; a 定位 may change its address). Bounded: the oldest entries go first.
_PROFILE_CACHE: dict[tuple[Any, ...], similarity.Profile] = {}
PROFILE_CACHE_SIZE = 8192


class Profiles:
    """Each candidate's text prepared once (without its category's name: ``category_names``)."""

    def __init__(self, category_names: Mapping[str, str] | None = None) -> None:
        self._names = category_names or {}

    def _key(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        return row["id"], row["category_code"], row["title"], row.get("address")

    def of(self, row: Mapping[str, Any]) -> similarity.Profile:
        key = self._key(row)
        got = _PROFILE_CACHE.get(key)
        if got is None:
            name = self._names.get(row["category_code"] or "")
            got = similarity.profile(row["title"], row.get("description"), row.get("address"),
                                     drop=(name,) if name else ())
            _remember(key, got)
        return got


def _remember(key: tuple[Any, ...], profile: similarity.Profile) -> None:
    while len(_PROFILE_CACHE) >= PROFILE_CACHE_SIZE:
        try:
            del _PROFILE_CACHE[next(iter(_PROFILE_CACHE))]
        except (KeyError, RuntimeError, StopIteration):  # another thread evicted it first
            break
    _PROFILE_CACHE[key] = profile


@dataclass(frozen=True)
class Rule:
    """The duplicate rule's bounds and thresholds (``ZHILI_DUPLICATE_*``, :mod:`zhili.core.settings`)."""

    radius_m: float = 150.0
    window_hours: float = 72.0
    min_score: float = 0.4
    text_without_point: float = 0.1
    text_related: float = 0.5

    @classmethod
    def from_settings(cls) -> Rule:
        s = get_settings()
        return cls(radius_m=s.duplicate_radius_m, window_hours=s.duplicate_window_hours,
                   min_score=s.duplicate_min_score, text_without_point=s.duplicate_text_without_point,
                   text_related=s.duplicate_text_related)


def match(probe: Probe, row: Mapping[str, Any], profiles: Profiles, *, category_names: Mapping[str, str],
          rule: Rule | None = None, weights: similarity.Weights = similarity.DEFAULT_WEIGHTS
          ) -> similarity.Match | None:
    """The duplicate rule for one candidate, before jurisdiction: its match if it scores at least the threshold
    under the conditions of the module docstring, else None. ``rule``: the settings' by default."""
    s = rule or Rule.from_settings()
    if row["id"] == probe.id:
        return None
    related = None
    if row["category_code"] != probe.category_code:
        if row["category_code"] not in probe.related:
            return None
        related = category_names.get(row["category_code"]) or probe.related[row["category_code"]]
    hours = (probe.at - row["reported_at"]).total_seconds() / 3600
    if abs(hours) > s.window_hours:
        return None
    point = usable_point(row["lon"], row["lat"])
    distance = None
    same_grid = probe.grid_id is not None and probe.grid_id == row.get("grid_id")
    if probe.point is not None and point is not None:
        from zhili.regions.geo import haversine_m

        distance = haversine_m(*probe.point, *point)
        if distance > s.radius_m:
            return None
        prof = profiles.of(row)
    else:  # without two points: the same grid, address or 小区 instead
        prof = profiles.of(row)
        if not (same_grid or (probe.profile.address is not None and probe.profile.address == prof.address)
                or similarity.shared_place(probe.profile, prof)):
            return None
    m = similarity.score(probe.profile, prof, distance_m=distance, hours=hours, same_grid=same_grid,
                         related=related, w=weights, explain_from=s.min_score)
    if related is not None and m.text < s.text_related:
        return None
    if distance is None and m.text < s.text_without_point:
        return None
    return m if m.score >= s.min_score else None


def visible(principal: Any, row: Mapping[str, Any], co_departments: Collection[str]) -> bool:
    return can_see_values(principal, reporter_user_id=row["reporter_user_id"], path=row["path"],
                          assignee_path=row["assignee_path"], assignee_department=row["assignee_department"],
                          co_departments=co_departments)


def rank(found: Iterable[tuple[Any, similarity.Match]], limit: int) -> list[tuple[Any, similarity.Match]]:
    """Best score first; nearer, then more recent on a tie."""
    return sorted(found, key=lambda f: (-f[1].score, math.inf if f[1].distance_m is None else f[1].distance_m,
                                        f[1].hours))[:limit]


def suggestion(row: Mapping[str, Any], m: similarity.Match) -> Suggestion:
    """The suggestion shown for a candidate row (a batch mate's row is numbered once its batch is written)."""
    return Suggestion(id=row["id"], number=row["number"], title=row["title"], state=row["state"],
                      reported_at=row["reported_at"], category_code=row["category_code"], score=m.score,
                      explanation=m.explanation,
                      distance_m=None if m.distance_m is None else round(m.distance_m, 1))


def suggest(session: Session, *, principal: Any, probe: Probe, category_names: Mapping[str, str],
            limit: int = 10) -> list[Suggestion]:
    """The duplicate suggestions of one probe for this principal (the caller has checked ``case:read``)."""
    rows = fetch_candidates(session, [probe])
    co = co_departments_of(session, rows=rows, principals=[principal])
    profiles = Profiles(category_names)
    rule = Rule.from_settings()
    found = []
    for r in rows:
        if visible(principal, r, co.get(r["id"], [])):
            m = match(probe, r, profiles, category_names=category_names, rule=rule)
            if m is not None:
                found.append((r, m))
    return [suggestion(r, m) for r, m in rank(found, limit)]
