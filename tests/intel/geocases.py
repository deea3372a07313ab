"""Generated cases for the spatial-analysis tests: points on H3 cells as a data frame (no database), and case rows
inserted in bulk into the test database (the shape of the demo history's rows)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from typing import Any

import h3
import numpy as np
import pandas as pd
from sqlalchemy import insert
from sqlalchemy.orm import Session

CENTRE = h3.latlng_to_cell(31.0, 119.9, 8)
END = dt.date(2026, 3, 29)  # a Sunday: the end of a complete week
_numbers = itertools.count(1)


def disk(radius: int, centre: str = CENTRE) -> list[str]:
    return sorted(h3.grid_disk(centre, radius))


def frame_from_counts(counts: dict[str, int] | Iterable[tuple[str, int]], rng: np.random.Generator, *,
                      days: int = 90, end: dt.date = END, category: str = "SG-0101",
                      recent: dict[str, int] | None = None, recent_days: int = 14) -> pd.DataFrame:
    """Cases at the centres of H3 cells (jittered a few metres): ``counts[cell]`` spread uniformly over the last
    ``days`` days up to ``end``, plus ``recent[cell]`` more in the last ``recent_days``."""
    lat: list[float] = []
    lon: list[float] = []
    day: list[int] = []
    end_n = (end - dt.date(1970, 1, 1)).days
    items = counts.items() if isinstance(counts, dict) else counts
    for cell, k in items:
        la, lo = h3.cell_to_latlng(cell)
        lat.extend(la + rng.normal(0, 2e-4, k))
        lon.extend(lo + rng.normal(0, 2e-4, k))
        day.extend(end_n - rng.integers(0, days, k))
    for cell, k in (recent or {}).items():
        la, lo = h3.cell_to_latlng(cell)
        lat.extend([la] * k)
        lon.extend([lo] * k)
        day.extend(end_n - rng.integers(0, recent_days, k))
    return pd.DataFrame({
        "reported_day": np.array(day, dtype="datetime64[D]"),
        "category_code": pd.Categorical([category] * len(day)),
        "grid_id": pd.Categorical([None] * len(day), categories=pd.Index([], dtype=object)),
        "lon": np.array(lon), "lat": np.array(lat),
    })


def case_rows(grid: Any, *, n: int, days: Iterable[dt.date], lon: float, lat: float, category: str = "SG-0101",
              overdue: bool = False, spread: float = 0.002, rng: np.random.Generator | None = None
              ) -> list[dict[str, Any]]:
    """``n`` case rows of ``grid`` per day in ``days`` around (lon, lat), reported at 10:00 local time."""
    from zhili.cases.models import CaseState, Channel, Urgency
    from zhili.core.clock import local_midnight
    from zhili.core.ids import new_id

    rng = rng or np.random.default_rng(0)
    rows = []
    for d in days:
        for _ in range(n):
            at = local_midnight(d) + dt.timedelta(hours=10)
            rows.append({
                "id": new_id(), "number": f"T-{next(_numbers):09d}", "channel": Channel.grid_worker,
                "state": CaseState.closed, "category_code": category, "title": "测试事件", "description": "测试事件",
                "urgency": Urgency.normal, "path": grid.path, "grid_id": grid.id, "attributes": {},
                "lon": lon + float(rng.normal(0, spread)), "lat": lat + float(rng.normal(0, spread)),
                "anonymous": False, "is_public": True, "is_joint": False, "warning_level": "none",
                "overdue": overdue, "reopen_count": 0, "support_count": 0, "reported_at": at, "reported_day": d,
                "created_at": at, "updated_at": at, "version": 1})
    return rows


def insert_cases(db: Session, rows: list[dict[str, Any]]) -> None:
    from zhili.cases.models import Case

    for start in range(0, len(rows), 2000):
        db.execute(insert(Case), rows[start:start + 2000])
    db.flush()


def days_back(end: dt.date, count: int) -> list[dt.date]:
    return [end - dt.timedelta(days=i) for i in range(count)]
