"""The grid × week panel and the features of the risk model (风险研判).

A :class:`Panel` holds, for every grid of the study area and every Monday-based local week, the number of cases
reported, split by top-level category (``SG-01`` …) and by whether they went overdue, and the household visits; plus
the grids' static register figures. :func:`features_at` turns the weeks *before* a target week into one feature row
per grid — nothing from the target week or later is read, so a backtest that slides the target week is honest.

Features (readable names in :data:`FEATURE_NAMES`):

* recent history — cases last week, the mean of the last 2, 4 and 12 weeks, the trend (log ratio of the 4-week to
  the 12-week mean);
* category mix — the share of each of the largest top-level categories among the last 12 weeks' cases;
* overdue share — of the cases reported 2–12 weeks before (the last week's cases have not had time to go overdue);
* register — residents, households, the share of rented households, of floating residents, special-care residents
  per 1,000, buildings, organisations (today's register: a snapshot, not a history);
* visits — household visits in the last 12 weeks per household.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import String, case, cast, func, select
from sqlalchemy.orm import Session

from zhili.cases.models import Category
from zhili.core.clock import local_midnight
from zhili.core.jurisdiction import path_predicate
from zhili.intel.caseframe import day_numbers
from zhili.registry.models import Building, Household, HouseholdUse, Organisation, Person, PersonStatus, ResidentType
from zhili.visits.models import Visit

HISTORY_WEEKS = 12
TOP_CATEGORIES = 8
STATIC_COLUMNS = ("population", "households", "rented_share", "floating_share", "care_per_1000", "buildings",
                  "organisations")
FEATURE_NAMES: dict[str, str] = {
    "last_1w": "上周事件数", "mean_2w": "近2周周均事件数", "mean_4w": "近4周周均事件数",
    "mean_12w": "近12周周均事件数", "trend": "近期上升趋势（近4周对近12周）", "overdue_share": "超期事件占比",
    "population": "实有人口", "households": "户数", "rented_share": "出租房屋占比", "floating_share": "流动人口占比",
    "care_per_1000": "重点人群密度（每千人）", "buildings": "楼栋数", "organisations": "单位（组织）数",
    "visits_per_household": "近12周每户走访次数",
}


def week_number(day_numbers_: np.ndarray | int) -> np.ndarray | int:
    """Monday-based week number of a day number (day 0 = 1970-01-01, a Thursday)."""
    return (np.asarray(day_numbers_) + 3) // 7 if not isinstance(day_numbers_, int) else (day_numbers_ + 3) // 7


def week_monday(week: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=week * 7 - 3)


@dataclass
class Panel:
    """Grid × week counts (weeks ``week0`` … ``week0 + W − 1``); the last week may be partial (``last_fraction``
    of it observed)."""

    grids: pd.Index
    week0: int
    counts: np.ndarray  # G × W
    by_category: np.ndarray  # G × W × C
    categories: list[str]
    overdue: np.ndarray  # G × W
    visits: np.ndarray  # G × W
    static: pd.DataFrame  # G × STATIC_COLUMNS (aligned with grids)
    last_fraction: float = 1.0

    @property
    def weeks(self) -> int:
        return int(self.counts.shape[1])

    def monday(self, t: int) -> dt.date:
        return week_monday(self.week0 + t)


def build_panel(frame: pd.DataFrame, grids: Sequence[str] | pd.Index, *, until: dt.date,
                static: pd.DataFrame | None = None, visits: pd.DataFrame | None = None,
                categories: Sequence[str] | None = None) -> Panel:
    """The panel of ``frame``'s cases (columns ``reported_day``, ``grid_id``, ``category_code``, ``overdue``) on
    ``grids``, from the frame's first week to the week of ``until``. ``visits``: a frame with ``grid_id`` and
    ``visited_day``. Cases of other grids are ignored."""
    index = pd.Index([str(g) for g in grids])
    g_n = len(index)
    until_n = (until - dt.date(1970, 1, 1)).days
    days = day_numbers(frame["reported_day"].to_numpy()) if len(frame) else np.zeros(0, dtype=np.int64)
    keep_days = days <= until_n
    w_last = int(week_number(until_n))
    w0 = int(week_number(int(days[keep_days].min()))) if keep_days.any() else w_last
    n_weeks = w_last - w0 + 1
    gpos = index.get_indexer(frame["grid_id"].astype(object).to_numpy()) if len(frame) else np.zeros(0, np.int64)
    ok = keep_days & (gpos >= 0)
    wk = np.asarray(week_number(days[ok])) - w0
    gi = gpos[ok]
    counts = np.zeros((g_n, n_weeks))
    np.add.at(counts, (gi, wk), 1)
    cc = frame["category_code"]
    cc = cc if isinstance(cc.dtype, pd.CategoricalDtype) else cc.astype("category")
    top_of = np.array([str(c)[:5] for c in cc.cat.categories], dtype=object)
    codes = cc.cat.codes.to_numpy()[ok]
    if categories is None:
        volume = pd.Series(np.bincount(codes[codes >= 0], minlength=len(top_of)), index=top_of)
        volume = volume.groupby(level=0).sum().sort_values(ascending=False, kind="stable")
        categories = [str(c) for c in volume.index[:TOP_CATEGORIES] if volume[c] > 0]
    cats = list(categories)
    top_pos = np.append(pd.Index(cats).get_indexer(top_of), -1)  # code −1 (no category) → −1
    cpos = top_pos[codes]
    by_cat = np.zeros((g_n, n_weeks, len(cats)))
    has = cpos >= 0
    np.add.at(by_cat, (gi[has], wk[has], cpos[has]), 1)
    overdue = np.zeros((g_n, n_weeks))
    if "overdue" in frame.columns:
        od = frame["overdue"].to_numpy(dtype=bool)[ok]
        np.add.at(overdue, (gi[od], wk[od]), 1)
    vis = np.zeros((g_n, n_weeks))
    if visits is not None and len(visits):
        vdays = day_numbers(visits["visited_day"].to_numpy())
        vpos = index.get_indexer(visits["grid_id"].astype(object).to_numpy())
        vw = np.asarray(week_number(vdays)) - w0
        vok = (vpos >= 0) & (vw >= 0) & (vw < n_weeks)
        np.add.at(vis, (vpos[vok], vw[vok]), 1)
    st = (static.reindex(index) if static is not None else pd.DataFrame(index=index)).copy()
    for col in STATIC_COLUMNS:
        if col not in st.columns:
            st[col] = 0.0
    st = st[list(STATIC_COLUMNS)].fillna(0.0).astype(np.float64)
    observed = until_n - (w_last * 7 - 3) + 1  # days of the last week up to ``until``
    return Panel(grids=index, week0=w0, counts=counts, by_category=by_cat, categories=cats, overdue=overdue,
                 visits=vis, static=st, last_fraction=min(1.0, observed / 7))


def feature_names(panel: Panel) -> list[str]:
    return ["last_1w", "mean_2w", "mean_4w", "mean_12w", "trend",
            *[f"share:{c}" for c in panel.categories], "overdue_share", *STATIC_COLUMNS, "visits_per_household"]


def features_at(panel: Panel, t: int) -> pd.DataFrame:
    """One row per grid from the weeks before week column ``t`` (``t`` may be ``panel.weeks``: the next week).
    A partial last week (when ``t`` is right after it) is scaled to a whole week."""
    counts = panel.counts[:, :t].copy()
    if t == panel.weeks and panel.last_fraction < 1.0 and t > 0:
        counts[:, -1] = counts[:, -1] / max(panel.last_fraction, 1 / 7)
    g_n = counts.shape[0]

    def mean_last(k: int) -> np.ndarray:
        k_eff = min(k, counts.shape[1])
        return counts[:, counts.shape[1] - k_eff:].mean(axis=1) if k_eff else np.zeros(g_n)

    m4, m12 = mean_last(4), mean_last(HISTORY_WEEKS)
    out: dict[str, np.ndarray] = {
        "last_1w": counts[:, -1] if counts.shape[1] else np.zeros(g_n), "mean_2w": mean_last(2), "mean_4w": m4,
        "mean_12w": m12, "trend": np.log((m4 + 0.5) / (m12 + 0.5)),
    }
    lo = max(0, t - HISTORY_WEEKS)
    cat12 = panel.by_category[:, lo:t, :].sum(axis=1)
    tot12 = np.maximum(panel.counts[:, lo:t].sum(axis=1), 1.0)
    for j, c in enumerate(panel.categories):
        out[f"share:{c}"] = cat12[:, j] / tot12
    od_hi = max(lo, t - 1)
    out["overdue_share"] = panel.overdue[:, lo:od_hi].sum(axis=1) / np.maximum(panel.counts[:, lo:od_hi].sum(axis=1),
                                                                                1.0)
    for col in STATIC_COLUMNS:
        out[col] = panel.static[col].to_numpy()
    out["visits_per_household"] = panel.visits[:, lo:t].sum(axis=1) / np.maximum(panel.static["households"]
                                                                                 .to_numpy(), 1.0)
    return pd.DataFrame(out, index=panel.grids)[feature_names(panel)]


def feature_label(session: Session | None, key: str, category_names: dict[str, str] | None = None) -> str:
    """The Chinese name of a feature (a category share names its category)."""
    if key.startswith("share:"):
        code = key.split(":", 1)[1]
        name = (category_names or {}).get(code)
        if name is None and session is not None:
            name = session.scalar(select(Category.name).where(Category.code == code, Category.is_current.is_(True)))
        return f"「{name or code}」类事件占比"
    return FEATURE_NAMES.get(key, key)


# -- loading the register and the visits ------------------------------------------------------------------------

def _grid_counts(session: Session, model: type, paths: tuple[str, ...] | None, *extra: object,
                 where: Iterable[object] = ()) -> pd.DataFrame:
    cols = [func.count().label("n"), *extra]
    stmt = select(cast(model.grid_id, String()).label("g"), *cols)  # type: ignore[attr-defined]
    for w in where:
        stmt = stmt.where(w)  # type: ignore[arg-type]
    if paths is not None:
        stmt = stmt.where(path_predicate(model.path, paths))  # type: ignore[attr-defined]
    rows = session.execute(stmt.group_by(model.grid_id)).all()  # type: ignore[attr-defined]
    frame = pd.DataFrame([tuple(r) for r in rows], columns=["g", "n", *[getattr(e, "name", "x") for e in extra]])
    frame["g"] = [_uuid_text(g) for g in frame["g"]]
    return frame.set_index("g")


def _uuid_text(value: object) -> str:
    import uuid

    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def load_static(session: Session, *, path_prefix: str | Iterable[str] | None = None) -> pd.DataFrame:
    """Per grid: residents, households, rented share, floating share, special-care per 1,000, buildings and
    organisations (grid ids as dashed text)."""
    paths = None if path_prefix is None else ((path_prefix,) if isinstance(path_prefix, str) else tuple(path_prefix))
    persons = _grid_counts(
        session, Person, paths,
        func.sum(case((Person.resident_type != ResidentType.registered, 1), else_=0)).label("floating"),
        func.sum(case((cast(Person.care_tags, String()) != "[]", 1), else_=0)).label("care"),
        where=[Person.status == PersonStatus.active])
    households = _grid_counts(session, Household, paths,
                              func.sum(case((Household.use == HouseholdUse.rented, 1), else_=0)).label("rented"))
    buildings = _grid_counts(session, Building, paths)
    orgs = _grid_counts(session, Organisation, paths)
    index = persons.index.union(households.index).union(buildings.index).union(orgs.index)
    pop = persons["n"].reindex(index).fillna(0).astype(float)
    hh = households["n"].reindex(index).fillna(0).astype(float)
    return pd.DataFrame({
        "population": pop, "households": hh,
        "rented_share": households["rented"].reindex(index).fillna(0).astype(float) / np.maximum(hh, 1),
        "floating_share": persons["floating"].reindex(index).fillna(0).astype(float) / np.maximum(pop, 1),
        "care_per_1000": 1000 * persons["care"].reindex(index).fillna(0).astype(float) / np.maximum(pop, 1),
        "buildings": buildings["n"].reindex(index).fillna(0).astype(float),
        "organisations": orgs["n"].reindex(index).fillna(0).astype(float),
    }, index=index)


def load_visits(session: Session, *, since: dt.date, until: dt.date,
                path_prefix: str | Iterable[str] | None = None) -> pd.DataFrame:
    """Household visits (``grid_id``, ``visited_day`` as the UTC date — a visit's week is what matters) in the
    window."""
    stmt = select(cast(Visit.grid_id, String()), cast(Visit.visited_at, String())).where(
        Visit.visited_at >= local_midnight(since), Visit.visited_at < local_midnight(until + dt.timedelta(days=1)))
    if path_prefix is not None:
        paths = (path_prefix,) if isinstance(path_prefix, str) else tuple(path_prefix)
        stmt = stmt.where(path_predicate(Visit.path, paths))
    rows = session.execute(stmt).all()
    return pd.DataFrame({"grid_id": [_uuid_text(r[0]) for r in rows],
                         "visited_day": np.array([str(r[1])[:10] for r in rows], dtype="datetime64[D]")})
