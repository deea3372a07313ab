"""The per-unit rollup (``case_stat_unit``): the screen figures read from it equal the figures summed from
``case_stat`` the way the screen computed them before the rollup existed; incremental upkeep equals a rebuild;
an upgraded database gets its rollup filled from the existing statistics."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, text

from zhili.cases import rollup, tally
from zhili.cases import service as cases
from zhili.cases.models import CaseStat, CaseStatUnit
from zhili.cases.stats import FIGURES, Figures
from zhili.core.jurisdiction import Principal, path_predicate
from zhili.dashboard import service
from zhili.dashboard.service import local_today
from zhili.regions.models import Unit, UnitLevel
from zhili.regions.service import valid_on

# -- the figures as the screen computed them from case_stat (grid path rows folded in Python) ----------------


def _old_rows(db: Any, roots: tuple[str, ...], since: dt.date, until: dt.date) -> list[tuple[str, tuple[int, ...]]]:
    rows = db.execute(select(CaseStat.path, *[getattr(CaseStat, f) for f in FIGURES])
                      .where(path_predicate(CaseStat.path, roots), CaseStat.day >= since, CaseStat.day <= until)).all()
    return [(r[0], tuple(int(v) for v in r[1:])) for r in rows]


def _old_unit(db: Any, unit: Any, since: dt.date, until: dt.date) -> Figures:
    f = Figures()
    for _, row in _old_rows(db, (unit.path,), since, until):
        f.add(row)
    return f


def _old_breakdown(db: Any, unit: Any, since: dt.date, until: dt.date) -> dict[str, dict[str, Any]]:
    children = db.scalars(select(Unit).where(Unit.parent_id == unit.id, valid_on(Unit, local_today()))).all()
    depth = unit.path.count("/") + 1
    figures = {c.code: Figures() for c in children}
    for path, row in _old_rows(db, (unit.path,), since, until):
        parts = path.split("/")
        if len(parts) > depth and parts[depth] in figures:
            figures[parts[depth]].add(row)
    return {code: f.as_dict() for code, f in figures.items()}


def _old_ranking(db: Any, p: Principal, level: UnitLevel, since: dt.date, until: dt.date) -> list[tuple[Any, ...]]:
    units = db.scalars(select(Unit).where(Unit.level == level, valid_on(Unit, local_today()),
                                          path_predicate(Unit.path, p.scope_paths))).all()
    figures = {u.path: Figures() for u in units}
    for path, row in _old_rows(db, p.scope_paths, since, until):
        parts = path.split("/")
        for i in range(len(parts), 0, -1):
            if "/".join(parts[:i]) in figures:
                figures["/".join(parts[:i])].add(row)
                break
    items = [{"code": u.code, **figures[u.path].as_dict()} for u in units]
    items.sort(key=lambda it: (it["on_time_rate"] is None, -(it["on_time_rate"] or 0), -it["closed"], it["code"]))
    return [tuple(sorted(it.items())) for it in items]


def _new_ranking(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    keep = {"code", "reported", "closed", "closed_on_time", "overdue", "on_time_rate", "overdue_rate", "satisfaction"}
    return [tuple(sorted((k, v) for k, v in it.items() if k in keep)) for it in items]


@pytest.fixture
def busy(scenario: Any) -> Any:
    """The four scenario cases plus cases on other days and grids, one placed by address only (district row),
    one reported outside the 30-day window, closed / rated / overdue ones."""
    s = scenario
    now = dt.datetime.now(dt.UTC)
    e = s.report("jumin", category="TB-0201", lon=119.3, lat=31.2, now=now - dt.timedelta(days=3))
    s.act("zhihui", e, "accept")
    s.act("zhihui", e, "dispatch", department="SW")
    f = s.report("wangge_a", category="TA-0101", lon=119.05, lat=31.05, now=now - dt.timedelta(days=10))
    s.act("zhihui", f, "accept")
    s.act("zhihui", f, "dispatch", department="CG")
    s.act("bumen", f, "start")
    s.act("bumen", f, "resolve", result="已清运")
    s.act("zhihui", f, "verify")
    s.act("zhihui", f, "close")
    s.report("jumin", category="TC-0301", lon=119.6, lat=31.2, now=now - dt.timedelta(days=45))
    from zhili.cases.models import Channel

    cases.report_case(s.db, principal=s.principal("zhihui"), channel=Channel.hotline,
                      data={"category_code": "TA-0102", "description": "只有地址", "address": "县前街1号"})
    s.db.flush()
    return s


def test_screen_figures_from_the_rollup_equal_those_summed_from_case_stat(busy: Any) -> None:
    db, w = busy.db, busy.world.units
    today = local_today()
    since = today - dt.timedelta(days=service.WINDOW_DAYS - 1)
    assert db.scalar(select(CaseStat.path).where(CaseStat.path == w["district"].path)) is not None  # district row
    for who in ("zhihui", "lingdao", "jiedao1", "jiedao2", "shequ1"):
        p = busy.principal(who)
        for name, unit in w.items():
            if not any(unit.path == s or unit.path.startswith(s + "/") for s in p.scope_paths):
                continue
            k = service.kpis(db, principal=p, unit_id=unit.id)
            old = _old_unit(db, unit, since, today)
            assert (k["reported_30d"], k["closed_30d"], k["on_time_rate"]) == (
                old.reported, old.closed, old.as_dict()["on_time_rate"]), (who, name)
            assert k["reported_today"] == _old_unit(db, unit, today, today).reported, (who, name)
            b = service.breakdown_by_child(db, principal=p, unit_id=unit.id)
            new = {c["code"]: {f: c[f] for f in old.as_dict()} for c in b["children"]}
            assert new == _old_breakdown(db, unit, since, today), (who, name)
            for days in (1, 7, 30, 60):
                t = service.trend(db, principal=p, unit_id=unit.id, days=days)
                start = today - dt.timedelta(days=days - 1)
                assert sum(pt["reported"] for pt in t["points"]) == _old_unit(db, unit, start, today).reported
                assert [pt["reported"] for pt in t["points"]] == [
                    _old_unit(db, unit, start + dt.timedelta(days=i), start + dt.timedelta(days=i)).reported
                    for i in range(days)]
        for level in (UnitLevel.street, UnitLevel.community, UnitLevel.grid):
            for window in ((None, None), (today - dt.timedelta(days=60), today)):
                r = service.ranking(db, principal=p, level=level, since=window[0], until=window[1])
                lo, hi = window[0] or since, today
                assert _new_ranking(r["items"]) == _old_ranking(db, p, level, lo, hi), (who, level, window)
    # A–D, E, F and the address-only one; not the 45-day-old one
    assert service.kpis(db, principal=busy.principal("zhihui"))["reported_30d"] == 7


def _rollup(db: Any) -> dict[tuple[str, dt.date], tuple[int, ...]]:
    db.expire_all()
    rows = {(r.path, r.day): tuple(getattr(r, f) for f in FIGURES) for r in db.scalars(select(CaseStatUnit))}
    return {k: v for k, v in rows.items() if any(v)}


def _folded(db: Any) -> dict[tuple[str, dt.date], tuple[int, ...]]:
    out: dict[tuple[str, dt.date], list[int]] = defaultdict(lambda: [0] * len(FIGURES))
    for s in db.scalars(select(CaseStat)):
        for prefix in rollup.prefixes(s.path):
            acc = out[(prefix, s.day)]
            for i, f in enumerate(FIGURES):
                acc[i] += getattr(s, f)
    return {k: tuple(v) for k, v in out.items() if any(v)}


def test_the_rollup_is_case_stat_summed_per_unit_and_a_rebuild_gives_the_same_rows(busy: Any) -> None:
    db = busy.db
    incremental = _rollup(db)
    assert incremental == _folded(db) and incremental
    depths = {path: d for path, d in db.execute(select(CaseStatUnit.path, CaseStatUnit.depth))}
    assert all(d == path.count("/") for path, d in depths.items())
    assert tally.rebuild_stats(db) > 0
    assert _rollup(db) == incremental
    db.execute(delete(CaseStatUnit))
    rollup.rebuild(db)
    assert _rollup(db) == incremental


def test_prefixes_are_the_unit_paths_a_statistics_path_belongs_to() -> None:
    assert rollup.prefixes("330522/330522001/330522001001") == ["330522", "330522/330522001",
                                                              "330522/330522001/330522001001"]
    assert rollup.prefixes("330522") == ["330522"]


def test_upgrading_a_database_with_statistics_fills_the_rollup(tmp_path: Path) -> None:
    import os
    import uuid

    from zhili.core import migrate
    from zhili.core.db import make_engine

    url = os.environ.get("ZHILI_TEST_DATABASE_URL") or ""
    schema = None
    if url.startswith("postgresql"):
        schema = f"zr_{uuid.uuid4().hex[:10]}"
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        eng = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    else:
        eng = make_engine(f"sqlite:///{tmp_path / 'upgrade.db'}")
    try:
        with eng.begin() as conn:
            migrate.upgrade("0002", connection=conn)
            day = dt.date(2026, 11, 20)
            rows = [("330522/330522001/330522001001/330522001001001", "A-01", 3, 1), ("330522", "A-01", 1, 0),
                    ("330522/330522001/330522001001/330522001001002", "A-01", 2, 2),
                    ("330522/330522001/330522001001/330522001001002", "B-02", 5, 0),
                    ("330522/330522002/330522002001/330522002001001", "A-01", 7, 4)]
            for path, cat, reported, closed in rows:
                conn.execute(text("INSERT INTO case_stat (path, day, category_code, reported, accepted, closed, "
                                  "closed_on_time, overdue, rating_sum, rating_count) VALUES (:p, :d, :c, :r, 0, "
                                  ":cl, 0, 0, 0, 0)"), {"p": path, "d": day, "c": cat, "r": reported, "cl": closed})
            migrate.upgrade("head", connection=conn)
            got = {(r[0], r[1]): (r[2], r[3]) for r in conn.execute(text(
                "SELECT path, depth, reported, closed FROM case_stat_unit"))}
        assert got == {
            ("330522", 0): (18, 7), ("330522/330522001", 1): (10, 3), ("330522/330522002", 1): (7, 4),
            ("330522/330522001/330522001001", 2): (10, 3), ("330522/330522002/330522002001", 2): (7, 4),
            ("330522/330522001/330522001001/330522001001001", 3): (3, 1),
            ("330522/330522001/330522001001/330522001001002", 3): (7, 2),
            ("330522/330522002/330522002001/330522002001001", 3): (7, 4)}
    finally:
        eng.dispose()
        if schema:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
