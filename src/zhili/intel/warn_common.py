"""What every early-warning rule hands to :mod:`zhili.intel.warnings`: a finding (one cause, its unit, why, the
cases behind it), the unit tree as the rules read it, and the Chinese number formats their reasons share."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.regions.models import OPEN_END, Unit, UnitLevel

WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


@dataclass(frozen=True)
class UnitRef:
    """A unit as the rules need it."""

    id: uuid.UUID
    code: str
    name: str
    path: str
    level: UnitLevel
    parent_path: str | None


@dataclass
class Finding:
    """One cause for a warning, before it is raised (``cause_key`` decides whether it is new)."""

    kind: str  # a key of zhili.intel.warnings.KINDS
    cause_key: str
    unit: UnitRef
    title: str
    reason: str
    detail: dict[str, Any]
    case_ids: list[str] = field(default_factory=list)
    severity: str = "yellow"
    category_code: str | None = None
    period_start: dt.date | None = None
    period_end: dt.date | None = None


class UnitTree:
    """Every unit by path (the current row where a path had several), for placing case and person paths."""

    def __init__(self, session: Session, paths: Iterable[str] | None = None) -> None:
        """Every unit, or (``paths``) only the units on those paths — a caller raising a few findings (a lock event,
        the rental rules) need not read the whole tree."""
        stmt = select(Unit.id, Unit.code, Unit.name, Unit.path, Unit.level, Unit.valid_to).order_by(Unit.valid_to)
        if paths is not None:
            wanted: set[str] = set()
            for p in paths:
                parts = p.split("/")
                wanted.update("/".join(parts[:k]) for k in range(1, len(parts) + 1))
            stmt = stmt.where(Unit.path.in_(sorted(wanted)))
        rows = session.execute(stmt).all()
        self.by_path: dict[str, UnitRef] = {}
        for r in rows:  # later (current, OPEN_END) rows win
            parent = r.path.rsplit("/", 1)[0] if "/" in r.path else None
            self.by_path[r.path] = UnitRef(r.id, r.code, r.name, r.path, UnitLevel(r.level), parent)
        self.current = {r.path for r in rows if r.valid_to == OPEN_END}
        self._cache: dict[str, dict[UnitLevel, UnitRef]] = {}

    def ancestors(self, path: str) -> dict[UnitLevel, UnitRef]:
        """The units on ``path`` (itself included) by level."""
        found = self._cache.get(path)
        if found is None:
            found = {}
            parts = path.split("/")
            for k in range(1, len(parts) + 1):
                u = self.by_path.get("/".join(parts[:k]))
                if u is not None:
                    found[u.level] = u
            self._cache[path] = found
        return found

    def at(self, path: str, level: UnitLevel) -> UnitRef | None:
        """The unit of ``level`` on ``path``, if any."""
        return self.ancestors(path).get(level)

    def parent(self, unit: UnitRef) -> UnitRef | None:
        return self.by_path.get(unit.parent_path) if unit.parent_path else None


def recipients(tree: UnitTree, unit: UnitRef) -> list[str]:
    """Whose inbox a warning on ``unit`` reaches: the unit's own queue (its code), and for a grid also its community
    (grid workers hold no warning permissions); the district's warnings go to the command centre."""
    if unit.level in (UnitLevel.district, UnitLevel.city, UnitLevel.province):
        return ["command_centre"]
    out = [unit.code]
    if unit.level == UnitLevel.grid:
        parent = tree.parent(unit)
        if parent is not None:
            out.append(parent.code)
    return out


def day_text(day: dt.date) -> str:
    """``2026年3月5日（周四）``."""
    return f"{day.year}年{day.month}月{day.day}日（{WEEKDAYS[day.weekday()]}）"


def short_day(day: dt.date) -> str:
    return f"{day.month}月{day.day}日"


def pct(p: float) -> str:
    """A probability as people read it: ``0.02%``, ``<0.01%``."""
    if p < 0.0001:
        return "<0.01%"
    return f"{p * 100:.2f}%".replace(".00%", "%")


def num(x: float) -> str:
    return f"{x:.1f}".removesuffix(".0")
