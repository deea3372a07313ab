"""Reporting periods of the 4E evaluation: a month ``2026-10``, a quarter ``2026-Q4`` or a year ``2026``.

:func:`parse_period` reads the text (refusing anything else with a Chinese message), :class:`Period` knows its
first and last day, its months, the period before it and the day its report is due (``due_day`` of the month after
it)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from zhili.core.errors import ValidationFailed

KINDS = {"month": "月", "quarter": "季度", "year": "年"}
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
YEAR_MIN, YEAR_MAX = 2000, 2100
QUARTER_NAMES = {1: "第一季度", 2: "第二季度", 3: "第三季度", 4: "第四季度"}


@dataclass(frozen=True, order=True)
class Period:
    """One period: ``kind`` month|quarter|year, the year, and the month (1–12) or quarter (1–4); 0 for a year."""

    year: int
    kind: str
    index: int = 0

    @property
    def text(self) -> str:
        if self.kind == "month":
            return f"{self.year:04d}-{self.index:02d}"
        if self.kind == "quarter":
            return f"{self.year:04d}-Q{self.index}"
        return f"{self.year:04d}"

    def __str__(self) -> str:
        return self.text

    @property
    def key(self) -> str:
        """The stored text (``Run.period``): 2026-10, 2026-Q4, 2026."""
        return self.text

    @property
    def label(self) -> str:
        """The Chinese name: 2026年10月, 2026年第四季度, 2026年."""
        if self.kind == "month":
            return f"{self.year}年{self.index}月"
        if self.kind == "quarter":
            return f"{self.year}年{QUARTER_NAMES[self.index]}"
        return f"{self.year}年"

    @property
    def first_month(self) -> int:
        return self.index if self.kind == "month" else (3 * self.index - 2 if self.kind == "quarter" else 1)

    @property
    def last_month(self) -> int:
        return self.index if self.kind == "month" else (3 * self.index if self.kind == "quarter" else 12)

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, self.first_month, 1)

    @property
    def end(self) -> dt.date:
        """The last day (inclusive)."""
        nxt = _next_month(self.year, self.last_month)
        return dt.date(nxt[0], nxt[1], 1) - dt.timedelta(days=1)

    def months(self) -> list[Period]:
        return [Period(self.year, "month", m) for m in range(self.first_month, self.last_month + 1)]

    def previous(self) -> Period:
        return previous_period(self)

    def due_date(self, due_day: int) -> dt.date:
        """``due_day`` of the month after the period (the month's last day when it is shorter)."""
        y, m = _next_month(self.year, self.last_month)
        last = (dt.date(*_next_month(y, m), 1) - dt.timedelta(days=1)).day
        return dt.date(y, m, max(1, min(due_day, last)))


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def parse_period(text: object, kind: str | None = None) -> Period:
    """``2026-10`` / ``2026-Q4`` / ``2026`` as a :class:`Period`; ``kind`` (if given) must match."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed("请填写期间，如 2026-10（月）、2026-Q4（季度）或 2026（年）", code="bad_period")
    s = text.strip()
    p: Period | None = None
    if m := _MONTH.match(s):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise ValidationFailed(f"期间“{s[:20]}”的月份应为 1–12", code="bad_period")
        p = Period(year, "month", month)
    elif m := _QUARTER.match(s):
        p = Period(int(m.group(1)), "quarter", int(m.group(2)))
    elif m := _YEAR.match(s):
        p = Period(int(m.group(1)), "year", 0)
    if p is None:
        raise ValidationFailed(f"期间“{s[:20]}”格式不正确，应为 2026-10（月）、2026-Q4（季度）或 2026（年）",
                               code="bad_period")
    if not YEAR_MIN <= p.year <= YEAR_MAX:
        raise ValidationFailed(f"期间的年份应在 {YEAR_MIN}–{YEAR_MAX} 之间", code="bad_period")
    if kind is not None and p.kind != kind:
        raise ValidationFailed(f"该报表按{KINDS.get(kind, kind)}填报，期间“{s[:20]}”不是{KINDS.get(kind, kind)}",
                               code="bad_period")
    return p


def format_period(p: Period) -> str:
    return p.text


def previous_period(p: Period) -> Period:
    """The period before ``p`` of the same kind (2026-01 → 2025-12, 2026-Q1 → 2025-Q4, 2026 → 2025)."""
    if p.kind == "month":
        return Period(p.year - 1, "month", 12) if p.index == 1 else Period(p.year, "month", p.index - 1)
    if p.kind == "quarter":
        return Period(p.year - 1, "quarter", 4) if p.index == 1 else Period(p.year, "quarter", p.index - 1)
    return Period(p.year - 1, "year", 0)


def period_of(day: dt.date, kind: str) -> Period:
    """The period of ``kind`` holding ``day``."""
    if kind == "month":
        return Period(day.year, "month", day.month)
    if kind == "quarter":
        return Period(day.year, "quarter", (day.month - 1) // 3 + 1)
    return Period(day.year, "year", 0)


def months_between(start: dt.date, end: dt.date) -> list[Period]:
    """The months from ``start``'s to ``end``'s, inclusive."""
    out: list[Period] = []
    y, m = start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append(Period(y, "month", m))
        y, m = _next_month(y, m)
    return out


# -- what the scoring and its pages use ------------------------------------------------------------------------

def parse(text: object) -> Period:
    """Any period (month, quarter or year)."""
    return parse_period(text)


def month_of(day: dt.date) -> Period:
    return period_of(day, "month")


def quarter_of(day: dt.date) -> Period:
    return period_of(day, "quarter")


def year_of(day: dt.date) -> Period:
    return period_of(day, "year")


def last_periods(end: Period, n: int) -> list[Period]:
    """The ``n`` periods of ``end``'s kind ending with ``end``, oldest first."""
    out = [end]
    while len(out) < n:
        out.append(out[-1].previous())
    return out[::-1]
