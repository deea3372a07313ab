"""Surge warnings (数量异常): per unit (community, street, district) × category group (and all categories) daily
series from one query over the cases, the model of :mod:`zhili.intel.baselines`, and the days and ISO weeks that
rise above it.

A finding is kept at the most specific place that explains it: a street's flag is dropped when one of its
communities is flagged for the same category and day, a unit's "all categories" flag when one of its groups is, and
a week's flag when one of its days already is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases.models import Case, Category
from zhili.core.clock import local_midnight
from zhili.intel import baselines as bl
from zhili.intel.warn_common import Finding, UnitRef, UnitTree, day_text, num, pct, short_day
from zhili.regions.models import UnitLevel
from zhili.worktime.service import WorkCalendar

ALL = "*"  # the "all categories" group
LEVELS = (UnitLevel.community, UnitLevel.street, UnitLevel.district)
CASE_IDS_MAX = 200


DISPERSION_SPAN = 91  # days of one-step-ahead forecasts behind the dispersion


@dataclass
class CaseDays:
    """Cases as parallel arrays: each one's day index (from ``origin``), path index and category index."""

    origin: dt.date
    n_days: int
    day: bl.I64
    path: bl.I64
    paths: list[str]
    category: bl.I64
    categories: list[str | None]


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _raw_rows(session: Session, sql: str, first: dt.date, last: dt.date) -> list[tuple[object, ...]]:
    """Rows straight from the driver's cursor (no SQLAlchemy row objects, no per-value type conversion): a million
    rows come back in a fraction of the time. ``sql`` has two ``?`` placeholders, the first and last day."""
    conn = session.connection()
    sqlite = conn.dialect.name == "sqlite"
    params: tuple[object, ...] = (first.isoformat(), last.isoformat()) if sqlite else (first, last)
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(sql, params)
        return list(cur.fetchall())
    finally:
        cur.close()


def load_case_days(session: Session, first: dt.date, last: dt.date, *, origin: dt.date | None = None) -> CaseDays:
    """One query for the cases reported from ``first`` to ``last`` (local days): only the day, the place and the
    category come back, then factorised. Day indexes count from ``origin`` (default ``first``)."""
    origin = origin or first
    rows = _raw_rows(session, 'SELECT reported_day, path, category_code FROM "case" '
                              "WHERE reported_day >= ? AND reported_day <= ?", first, last)
    n_days = (last - origin).days + 1
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return CaseDays(origin, n_days, empty, empty, [], empty, [])
    frame = pd.DataFrame.from_records(rows, columns=["day", "path", "category"])
    d_codes, d_uniques = pd.factorize(frame["day"], sort=False)
    offsets = np.array([(_as_date(v) - origin).days for v in d_uniques], dtype=np.int64)
    p_codes, p_uniques = pd.factorize(frame["path"], sort=False)
    c_codes, c_uniques = pd.factorize(frame["category"], sort=False, use_na_sentinel=True)
    return CaseDays(origin, n_days, offsets[d_codes], p_codes.astype(np.int64), [str(p) for p in p_uniques],
                    c_codes.astype(np.int64), [None if c is None else str(c) for c in c_uniques])


def category_groups(session: Session) -> tuple[dict[str, str], dict[str, str]]:
    """(any code → its top-level group code, group code → name), from every version of the taxonomy."""
    rows = session.execute(select(Category.code, Category.parent_code, Category.name, Category.is_current)
                           .order_by(Category.is_current, Category.version)).all()
    parent: dict[str, str | None] = {}
    names: dict[str, str] = {}
    for r in rows:  # current versions last: they win
        parent[r.code] = r.parent_code
        names[r.code] = r.name
    top: dict[str, str] = {}
    for code in parent:
        seen, c = set(), code
        while parent.get(c) and c not in seen:
            seen.add(c)
            c = parent[c]  # type: ignore[assignment]
        top[code] = c
    return top, {g: names.get(g, g) for g in set(top.values())}


def load_pooled(session: Session, first: dt.date, last: dt.date, top: dict[str, str], groups: list[str]) -> bl.F64:
    """District-wide daily totals per group (ALL last) from ``first`` to ``last``, counted by the database (one
    GROUP BY over days and categories: a few hundred thousand rows at most, whatever the number of cases)."""
    rows = _raw_rows(session, 'SELECT reported_day, category_code, COUNT(*) FROM "case" '
                              "WHERE reported_day >= ? AND reported_day <= ? GROUP BY reported_day, category_code",
                     first, last)
    t_n = (last - first).days + 1
    g_index = {g: i for i, g in enumerate(groups)}
    out = np.zeros((len(groups), t_n))
    days: dict[object, int] = {}
    for day, code, n in rows:
        t = days.get(day)
        if t is None:
            t = days[day] = (_as_date(day) - first).days
        g = g_index.get(top.get(str(code), "")) if code is not None else None
        if g is not None and g != len(groups) - 1:
            out[g, t] += n
        out[-1, t] += n
    return out


def group_list(top: dict[str, str]) -> list[str]:
    """The category groups of the taxonomy, ALL last."""
    return [*sorted(set(top.values())), ALL]


@dataclass
class Series:
    """The unit × group series: ``counts[s, t]`` with each series' unit and group."""

    counts: bl.F64
    units: list[UnitRef]
    groups: list[str]  # group codes, ALL last
    unit_of: bl.I64
    group_of: bl.I64


def build_series(cd: CaseDays, tree: UnitTree, top: dict[str, str], groups: list[str]) -> Series:
    """Count the cases into every (community | street | district) × (group | all) series they belong to (a case
    of a category the taxonomy does not know counts under all categories only)."""
    g_all = len(groups) - 1
    g_index = {g: i for i, g in enumerate(groups)}
    cat_group = np.array([g_index.get(top.get(c, ""), g_all) if c else g_all for c in cd.categories] or [g_all],
                         dtype=np.int64)
    case_group = cat_group[np.maximum(cd.category, 0)] if cd.category.size else cd.category
    case_group = np.where(cd.category < 0, g_all, case_group)
    units: list[UnitRef] = []
    u_index: dict[str, int] = {}
    path_units = np.full((max(len(cd.paths), 1), len(LEVELS)), -1, dtype=np.int64)
    for p_i, p in enumerate(cd.paths):
        anc = tree.ancestors(p)
        for l_i, level in enumerate(LEVELS):
            u = anc.get(level)
            if u is not None:
                if u.path not in u_index:
                    u_index[u.path] = len(units)
                    units.append(u)
                path_units[p_i, l_i] = u_index[u.path]
    n_g, t_n = len(groups), cd.n_days
    n_s = len(units) * n_g
    counts = np.zeros(n_s * t_n)
    for l_i in range(len(LEVELS)):
        at_level = path_units[cd.path, l_i] if cd.path.size else cd.path
        ok = at_level >= 0
        uu, gg, dd = at_level[ok], case_group[ok], cd.day[ok]
        known = gg != g_all
        for flat in ((uu[known] * n_g + gg[known]) * t_n + dd[known], (uu * n_g + g_all) * t_n + dd):
            counts += np.bincount(flat, minlength=n_s * t_n)
    idx = np.arange(n_s, dtype=np.int64)
    return Series(counts=counts.reshape(n_s, t_n), units=units, groups=groups, unit_of=idx // n_g,
                  group_of=idx % n_g)


@dataclass
class Flag:
    """A series' day or week above its baseline."""

    series: int
    start: int  # day index
    length: int  # 1 or 7
    observed: int
    expected: float
    p_value: float
    upper: int  # the 1 − alpha quantile of the predictive count
    factor: float  # the day-class × season multiplier (days) or its weekly sum


def detect(series: Series, fitted: bl.Fitted, day_idx: bl.I64, week_idx: bl.I64) -> list[Flag]:
    """Days ``day_idx`` and weeks starting at ``week_idx`` above their baseline (p ≤ alpha, enough cases)."""
    p = fitted.params
    flags: list[Flag] = []
    for length, idx, floor in ((1, day_idx, p.min_expected), (7, week_idx, p.min_expected_week)):
        if idx.size == 0:
            continue
        if length == 1:
            mean, size, prob = fitted.day_predictive(idx)
            x = series.counts[:, idx]
            mult = fitted.mult[series.group_of][:, idx]
        else:
            mean, size, prob = fitted.week_predictive(idx)
            cum = fitted.count_cum
            x = cum[:, idx + 7] - cum[:, idx]
            mult = (fitted.exposure_cum[:, idx + 7] - fitted.exposure_cum[:, idx])[series.group_of]
        candidate = (x >= p.min_count) & (x > mean)
        s_i, t_i = np.nonzero(candidate)
        if s_i.size == 0:
            continue
        pv = bl.p_value(x[s_i, t_i], size[s_i, t_i], prob[s_i, t_i], floor)
        hit = pv <= p.alpha
        s_i, t_i, pv = s_i[hit], t_i[hit], pv[hit]
        upper = bl.upper_bound(p.alpha, size[s_i, t_i], prob[s_i, t_i], floor)
        for k in range(s_i.size):
            s, t = int(s_i[k]), int(t_i[k])
            flags.append(Flag(series=s, start=int(idx[t]), length=length, observed=int(x[s, t]),
                              expected=float(mean[s, t]), p_value=float(pv[k]), upper=int(upper[k]),
                              factor=float(mult[s, t])))
    return _most_specific(series, flags)


def _most_specific(series: Series, flags: list[Flag]) -> list[Flag]:
    g_all = len(series.groups) - 1
    days = {(series.unit_of[f.series], series.group_of[f.series], f.start) for f in flags if f.length == 1}
    by_day: dict[tuple[int, int], list[str]] = {}
    for f in flags:
        if f.length == 1:
            by_day.setdefault((int(series.group_of[f.series]), f.start), []).append(
                series.units[series.unit_of[f.series]].path)
    kept = []
    for f in flags:
        u, g = int(series.unit_of[f.series]), int(series.group_of[f.series])
        path = series.units[u].path
        span = range(f.start, f.start + f.length)
        same_unit_groups = g == g_all and any((u, gg, t) in days for gg in range(g_all) for t in span)
        below = any(q.startswith(path + "/") for t in span for q in by_day.get((g, t), ()))
        week_has_day = f.length == 7 and any((u, g, t) in days for t in span)
        if not (same_unit_groups or below or week_has_day):
            kept.append(f)
    return kept


def severity(p_value: float, alpha: float, ratio: float) -> str:
    if p_value <= alpha / 100 and ratio >= 3:
        return "red"
    if p_value <= alpha / 10:
        return "orange"
    return "yellow"


def findings(session: Session, *, series: Series, fitted: bl.Fitted, flags: Sequence[Flag], first: dt.date,
             classes: NDArray[np.int8], top: dict[str, str], group_names: dict[str, str]) -> list[Finding]:
    """Each flag as a finding: its unit, the Chinese reason (observed vs expected and the numbers behind it) and the
    cases behind it."""
    out: list[Finding] = []
    p = fitted.params
    behind = _CasesBehind(session, [first + dt.timedelta(days=f.start) for f in flags],
                          [first + dt.timedelta(days=f.start + f.length - 1) for f in flags])
    for f in flags:
        unit = series.units[int(series.unit_of[f.series])]
        g_code = series.groups[int(series.group_of[f.series])]
        start = first + dt.timedelta(days=f.start)
        end = start + dt.timedelta(days=f.length - 1)
        what = "全部类别" if g_code == ALL else f"「{group_names.get(g_code, g_code)}」类"
        ratio = f.observed / max(f.expected, 1e-9)
        if f.length == 1:
            kind = bl.CLASS_NAMES[int(classes[f.start])]
            when = day_text(start)
            base = f"按{unit.name}近{p.window // 7}周的水平及{kind}的规律（系数 {f.factor:.2f}）"
            key = f"surge:{unit.path}:{g_code}:{start.isoformat()}"
            title = f"{unit.name}{what}事件数量异常升高（{short_day(start)}）"
        else:
            iso = start.isocalendar()
            when = f"{iso.year}年第{iso.week}周（{short_day(start)}—{short_day(end)}）"
            base = f"按{unit.name}此前{p.window // 7}周的水平及周内、节假日规律"
            key = f"surge-week:{unit.path}:{g_code}:{iso.year}-W{iso.week:02d}"
            title = f"{unit.name}{what}事件数量本周异常升高（第{iso.week}周）"
        reason = (f"{when}{unit.name}{what}事件共 {f.observed} 件；{base}，预计约 {num(f.expected)} 件"
                  f"（正常波动上限 {f.upper} 件），为预计的 {num(ratio)} 倍。在此基线下出现不少于 {f.observed} 件的概率"
                  f"为 {pct(f.p_value)}，低于预警阈值 {pct(p.alpha)}。")
        detail = {"method": "poisson-gamma-negbin", "observed": f.observed, "expected": round(f.expected, 3),
                  "upper": f.upper, "p_value": f.p_value, "alpha": p.alpha, "window_days": p.window,
                  "days": f.length, "multiplier": round(f.factor, 3),
                  "dispersion": round(float(fitted.phi[int(series.group_of[f.series])]), 3),
                  "group": g_code, "unit_level": unit.level.value}
        codes = None if g_code == ALL else {c for c, g in top.items() if g == g_code}
        out.append(Finding(kind="surge", cause_key=key, unit=unit, title=title, reason=reason, detail=detail,
                           case_ids=behind.ids(unit.path, start, end, codes),
                           severity=severity(f.p_value, p.alpha, ratio),
                           category_code=None if g_code == ALL else g_code, period_start=start, period_end=end))
    return out


class _CasesBehind:
    """The cases of the flagged days, read once (by the reported-at index) and handed out per finding."""

    def __init__(self, session: Session, starts: list[dt.date], ends: list[dt.date]) -> None:
        self.rows: list[tuple[str, str, str | None, dt.date]] = []
        if not starts:
            return
        lo, hi = local_midnight(min(starts)), local_midnight(max(ends) + dt.timedelta(days=1))
        c = Case
        self.rows = [(str(r.id), r.path, r.category_code, r.reported_day) for r in session.execute(
            select(c.id, c.path, c.category_code, c.reported_day).where(c.reported_at >= lo, c.reported_at < hi)
            .order_by(c.reported_at))]

    def ids(self, path: str, start: dt.date, end: dt.date, codes: set[str] | None) -> list[str]:
        """At most CASE_IDS_MAX, earliest first."""
        below = path + "/"
        out = [i for i, p, code, day in self.rows if start <= day <= end and (p == path or p.startswith(below))
               and (codes is None or code in codes)]
        return out[:CASE_IDS_MAX]


def fit_window(history_days: int, lookback_days: int, params: bl.SurgeParams) -> int:
    """How many recent days of single cases a scan reads: the days checked (and their weeks), the level's window and
    the span behind the dispersion (older days enter only as district totals)."""
    return min(history_days, lookback_days + 7 + params.window + DISPERSION_SPAN + 7)


def scan_surges(session: Session, *, tree: UnitTree, calendar: WorkCalendar, today: dt.date,
                params: bl.SurgeParams, history_days: int, lookback_days: int) -> list[Finding]:
    """Surge findings for the ``lookback_days`` completed days before ``today`` and the completed ISO weeks among
    them, against baselines fitted on ``history_days`` of cases (district totals per day and category group for the
    day-class and season factors; single cases for the recent days each series is tested on)."""
    last = today - dt.timedelta(days=1)
    first = last - dt.timedelta(days=history_days - 1)
    recent = last - dt.timedelta(days=fit_window(history_days, lookback_days, params) - 1)
    cd = load_case_days(session, recent, last, origin=first)
    if cd.day.size == 0:
        return []
    top, group_names = category_groups(session)
    groups = group_list(top)
    series = build_series(cd, tree, top, groups)
    pooled = load_pooled(session, first, last, top, groups)
    days = [first + dt.timedelta(days=i) for i in range(cd.n_days)]
    classes = bl.classes_for(days, calendar)
    t_n = cd.n_days
    day_idx = np.arange(max(t_n - lookback_days, params.window), t_n, dtype=np.int64)
    asof = int(day_idx[0]) if day_idx.size else t_n
    mondays = [i for i in range(max(t_n - lookback_days - 6, params.window), t_n - 6) if days[i].weekday() == 0]
    week_idx = np.array(mondays, dtype=np.int64)
    if week_idx.size:
        asof = min(asof, int(week_idx[0]))
    fitted = bl.fit(series.counts, series.group_of, pooled, classes, days, params, asof=asof,
                    dispersion_span=DISPERSION_SPAN)
    flags = detect(series, fitted, day_idx, week_idx)
    return findings(session, series=series, fitted=fitted, flags=flags, first=first, classes=classes, top=top,
                    group_names=group_names)
