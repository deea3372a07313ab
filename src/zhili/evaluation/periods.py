"""Evaluation periods: a month ``2026-10``, a quarter ``2026-Q4`` or a year ``2026`` — parsed, listed, stepped."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from zhili.core.errors import ValidationFailed

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
KIND_LABELS = {"month": "月度", "quarter": "季度", "year": "年度"}


class PeriodInvalid(ValidationFailed):
    code = "period_invalid"


@dataclass(frozen=True, order=True)
class Period:
    start: dt.date
    end: dt.date
    kind: str
    key: str

    @property
    def label(self) -> str:
        """Chinese: 2026年10月, 2026年第四季度, 2026年."""
        if self.kind == "month":
            return f"{self.start.year}年{self.start.month}月"
        if self.kind == "quarter":
            return f"{self.start.year}年第{'一二三四'[(self.start.month - 1) // 3]}季度"
        return f"{self.start.year}年"

    def previous(self) -> Period:
        return of_kind(self.kind, self.start - dt.timedelta(days=1))

    def next(self) -> Period:
        return of_kind(self.kind, self.end + dt.timedelta(days=1))

    def months(self) -> list[Period]:
        out, p = [], month_of(self.start)
        while p.start <= self.end:
            out.append(p)
            p = p.next()
        return out


def _month_end(year: int, month: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def month_of(day: dt.date) -> Period:
    return Period(dt.date(day.year, day.month, 1), _month_end(day.year, day.month), "month",
                  f"{day.year}-{day.month:02d}")


def quarter_of(day: dt.date) -> Period:
    q = (day.month - 1) // 3 + 1
    return Period(dt.date(day.year, 3 * q - 2, 1), _month_end(day.year, 3 * q), "quarter", f"{day.year}-Q{q}")


def year_of(day: dt.date) -> Period:
    return Period(dt.date(day.year, 1, 1), dt.date(day.year, 12, 31), "year", str(day.year))


def of_kind(kind: str, day: dt.date) -> Period:
    if kind == "month":
        return month_of(day)
    if kind == "quarter":
        return quarter_of(day)
    if kind == "year":
        return year_of(day)
    raise PeriodInvalid("周期类型只能是月度、季度或年度")


def parse(text: str | None) -> Period:
    """``2026-10`` / ``2026-Q4`` / ``2026``; anything else is refused in Chinese."""
    value = (text or "").strip()
    if m := _MONTH.match(value):
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12:
            raise PeriodInvalid(f"月份“{month}”不存在")
        return month_of(dt.date(_year(year), month, 1))
    if m := _QUARTER.match(value):
        return quarter_of(dt.date(_year(int(m[1])), 3 * int(m[2]) - 2, 1))
    if m := _YEAR.match(value):
        return year_of(dt.date(_year(int(m[1])), 1, 1))
    raise PeriodInvalid("评估周期格式应为 2026-10（月）、2026-Q4（季度）或 2026（年）")


def _year(year: int) -> int:
    if not 2000 <= year <= 2100:
        raise PeriodInvalid(f"年份“{year}”超出范围（2000–2100）")
    return year


def last_months(end: Period, n: int) -> list[Period]:
    """The ``n`` periods of ``end``'s kind ending with ``end``, oldest first."""
    out = [end]
    while len(out) < n:
        out.append(out[-1].previous())
    return out[::-1]
