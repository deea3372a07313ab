"""Working-time arithmetic for case time limits (受理/处置/核查时限) and the calendar overrides behind it.

Which days are workdays: an administrator's override wins; otherwise the national arrangement packaged in
``chinesecalendar`` (holidays and 调休 make-up working days); for a year the package does not know yet,
Monday to Friday, with the year recorded so callers can show "YYYY年节假日安排尚未收录，按周末计算".

Within a workday only the configured working periods count (default 08:30–12:00 and 13:30–17:30 in the
district's time zone, :func:`zhili.core.clock.district_tz`, i.e. 7.5 hours a day). Every datetime going in
must be timezone-aware; every datetime coming out is UTC. Arithmetic walks day by day (whole days skipped in one
step, each day's status cached), never minute by minute.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import chinese_calendar
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.core import audit
from zhili.core.clock import district_tz, utcnow
from zhili.core.errors import NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.worktime.models import CalendarOverride

DEFAULT_PERIODS: tuple[tuple[dt.time, dt.time], ...] = (
    (dt.time(8, 30), dt.time(12, 0)),
    (dt.time(13, 30), dt.time(17, 30)),
)
# Upper bound on one limit, so a typo cannot send the day walk decades ahead.
MAX_HOURS = 100_000.0
MAX_DAYS_LISTED = 400
WEEKDAY_NAMES = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
_HOUR = dt.timedelta(hours=1)
_HOLIDAY_CHINESE: dict[str, str] = {h.value: h.chinese for h in chinese_calendar.Holiday}


class DaySource(enum.StrEnum):
    """Where a day's workday status came from."""

    override = "override"
    package = "package"
    fallback = "fallback"


DAY_SOURCE_LABELS: dict[DaySource, str] = {
    DaySource.override: "本地调整",
    DaySource.package: "国家法定安排",
    DaySource.fallback: "未收录年份，按周末计算",
}


@dataclass(frozen=True)
class DayInfo:
    """One calendar day: workday or not, why, and the holiday or override name if any."""

    day: dt.date
    is_workday: bool
    source: DaySource
    name: str | None = None

    @property
    def weekday_name(self) -> str:
        return WEEKDAY_NAMES[self.day.weekday()]


@dataclass(frozen=True)
class CalendarWarning:
    """A year whose national holiday arrangement is not packaged yet."""

    year: int
    message: str
    overrides: int = 0


def unknown_year_message(year: int) -> str:
    """The warning shown for a year computed with the Monday–Friday fallback."""
    return f"{year}年节假日安排尚未收录，按周末计算"


MIN_YEAR, MAX_YEAR = 1900, 9999
"""The calendar years any caller may ask about (a year outside has no dates the database can hold usefully)."""


def check_year(year: int) -> int:
    """``year`` itself, or a 422 ``bad_year`` when it lies outside MIN_YEAR..MAX_YEAR."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValidationFailed(f"年份须在 {MIN_YEAR} 到 {MAX_YEAR} 之间", code="bad_year", details={"year": str(year)})
    return year


@functools.lru_cache(maxsize=512)
def package_knows_year(year: int) -> bool:
    """True if the installed ``chinesecalendar`` has the holiday arrangement for ``year``."""
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def _require_aware(moment: dt.datetime, what: str = "时间") -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationFailed(f"{what}必须带时区", code="naive_datetime")
    return moment.astimezone(dt.UTC)


def _hours_delta(hours: float) -> dt.timedelta:
    if not math.isfinite(hours) or hours < 0:
        raise ValidationFailed("时长必须是非负数", code="invalid_duration")
    if hours > MAX_HOURS:
        raise ValidationFailed(f"时长不能超过{MAX_HOURS:g}小时", code="invalid_duration")
    return dt.timedelta(hours=hours)


class WorkCalendar:
    """Workdays (override → package → Mon–Fri fallback) and working-time arithmetic over them.

    Cheap to build; build one per request or job from :func:`load_calendar` and reuse it for every deadline.
    ``unknown_years`` collects the years that needed the fallback so far.
    """

    def __init__(
        self,
        overrides: Mapping[dt.date, bool] | None = None,
        *,
        override_names: Mapping[dt.date, str] | None = None,
        periods: Sequence[tuple[dt.time, dt.time]] = DEFAULT_PERIODS,
        tz: dt.tzinfo | None = None,
    ) -> None:
        self.tz = tz or district_tz()
        self.overrides: dict[dt.date, bool] = dict(overrides or {})
        self.override_names: dict[dt.date, str] = dict(override_names or {})
        self.periods: tuple[tuple[dt.time, dt.time], ...] = _validate_periods(periods)
        self.unknown_years: set[int] = set()
        self._days: dict[dt.date, DayInfo] = {}
        self._periods: dict[dt.date, tuple[tuple[dt.datetime, dt.datetime], ...]] = {}
        self._offsets = tuple((_since_midnight(s), _since_midnight(e)) for s, e in self.periods)
        self.day_length: dt.timedelta = sum((e - s for s, e in self._offsets), dt.timedelta())

    @property
    def hours_per_day(self) -> float:
        """Working hours in one workday (7.5 with the default periods)."""
        return self.day_length / _HOUR

    # -- days ------------------------------------------------------------------------------------------------

    def describe(self, day: dt.date) -> DayInfo:
        """The day's status and its source (cached)."""
        info = self._days.get(day)
        if info is None:
            info = self._days[day] = self._classify(day)
        if info.source is DaySource.fallback:
            self.unknown_years.add(day.year)
        return info

    def is_workday(self, day: dt.date) -> bool:
        """True if ``day`` (a local date) is a working day."""
        return self.describe(day).is_workday

    def days(self, start: dt.date, end: dt.date) -> list[DayInfo]:
        """Every day from ``start`` to ``end`` inclusive."""
        return [self.describe(start + dt.timedelta(days=i)) for i in range((end - start).days + 1)]

    @property
    def warnings(self) -> list[str]:
        """One message per year that was computed with the weekend fallback."""
        return [unknown_year_message(y) for y in sorted(self.unknown_years)]

    def _classify(self, day: dt.date) -> DayInfo:
        if day in self.overrides:
            return DayInfo(day, self.overrides[day], DaySource.override, self.override_names.get(day))
        if not package_knows_year(day.year):
            return DayInfo(day, day.weekday() < 5, DaySource.fallback)
        try:
            workday = bool(chinese_calendar.is_workday(day))
            _, holiday = chinese_calendar.get_holiday_detail(day)
        except NotImplementedError:
            return DayInfo(day, day.weekday() < 5, DaySource.fallback)
        name = _HOLIDAY_CHINESE.get(holiday, holiday) if holiday else None
        if name and workday and day.weekday() >= 5:
            name = f"{name}调休上班"
        elif name and workday:
            name = None  # a weekday inside a holiday's range that is worked normally
        return DayInfo(day, workday, DaySource.package, name)

    # -- moments ---------------------------------------------------------------------------------------------

    def periods_on(self, day: dt.date) -> tuple[tuple[dt.datetime, dt.datetime], ...]:
        """The working periods of a local date as UTC intervals (empty on a rest day; cached, like the day)."""
        periods = self._periods.get(day)
        if periods is None:
            periods = ()
            if self.is_workday(day):
                midnight = dt.datetime.combine(day, dt.time(), tzinfo=self.tz)
                utc = dt.UTC
                periods = tuple(((midnight + s).astimezone(utc), (midnight + e).astimezone(utc))
                                for s, e in self._offsets)
            self._periods[day] = periods
        return periods

    def local(self, moment: dt.datetime) -> dt.datetime:
        """``moment`` in the calendar's time zone."""
        return _require_aware(moment).astimezone(self.tz)

    def next_working_moment(self, moment: dt.datetime) -> dt.datetime:
        """``moment`` itself if it lies in working time, else the start of the next working period (UTC)."""
        return self._advance(_require_aware(moment), dt.timedelta())

    def add_working_hours(self, start: dt.datetime, hours: float) -> dt.datetime:
        """The moment ``hours`` of working time after ``start`` (a start outside working time counts from the
        next working period; a limit used up exactly at a period's end is due at that end)."""
        return self._advance(_require_aware(start), _hours_delta(hours))

    def add_working_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """``days`` working days after ``start``: the same point of working time that many workdays later
        (``days`` × :attr:`hours_per_day` working hours; Mon 10:00 + 1 → Tue 10:00)."""
        if days < 0:
            raise ValidationFailed("天数必须是非负整数", code="invalid_duration")
        _hours_delta(days * self.hours_per_day)
        return self._advance(_require_aware(start), self.day_length * days)

    def add_hours(self, start: dt.datetime, hours: float) -> dt.datetime:
        """``hours`` natural hours after ``start`` (24×7: holidays and nights count), UTC."""
        return _require_aware(start) + _hours_delta(hours)

    def deadline(self, start: dt.datetime, hours: float, *, natural: bool = False) -> dt.datetime:
        """A time limit of ``hours`` from ``start``: natural hours if ``natural``, else working hours."""
        return self.add_hours(start, hours) if natural else self.add_working_hours(start, hours)

    def working_hours_between(self, a: dt.datetime, b: dt.datetime) -> float:
        """Working hours from ``a`` to ``b`` (negative if ``b`` is before ``a``)."""
        a, b = _require_aware(a), _require_aware(b)
        if b < a:
            return -self.working_hours_between(b, a)
        total = dt.timedelta()
        day, last = a.astimezone(self.tz).date(), b.astimezone(self.tz).date()
        while day <= last:
            periods = self.periods_on(day)
            if periods and a <= periods[0][0] and periods[-1][1] <= b:
                total += self.day_length
            else:
                for s, e in periods:
                    if min(e, b) > max(s, a):
                        total += min(e, b) - max(s, a)
            day += dt.timedelta(days=1)
        return total / _HOUR

    def hours_between(self, a: dt.datetime, b: dt.datetime, *, natural: bool = False) -> float:
        """Hours from ``a`` to ``b``, natural if ``natural`` else working (negative if ``b`` < ``a``)."""
        if natural:
            return (_require_aware(b) - _require_aware(a)) / _HOUR
        return self.working_hours_between(a, b)

    def _advance(self, start: dt.datetime, remaining: dt.timedelta) -> dt.datetime:
        """Consume ``remaining`` working time from ``start`` (UTC), one day per step."""
        day = start.astimezone(self.tz).date()
        while True:
            periods = self.periods_on(day)
            if periods and start <= periods[0][0] and remaining > self.day_length:
                remaining -= self.day_length  # a whole workday, in one step
            else:
                for s, e in periods:
                    if e <= start:
                        continue
                    s = max(s, start)
                    if remaining <= e - s:
                        return s + remaining
                    remaining -= e - s
            day += dt.timedelta(days=1)


def _since_midnight(t: dt.time) -> dt.timedelta:
    return dt.timedelta(hours=t.hour, minutes=t.minute, seconds=t.second, microseconds=t.microsecond)


def _validate_periods(periods: Sequence[tuple[dt.time, dt.time]]) -> tuple[tuple[dt.time, dt.time], ...]:
    out = tuple((s, e) for s, e in periods)
    if not out:
        raise ValidationFailed("至少需要一个工作时段", code="invalid_work_periods")
    for i, (s, e) in enumerate(out):
        if s.tzinfo is not None or e.tzinfo is not None:
            raise ValidationFailed("工作时段使用不带时区的当地时间", code="invalid_work_periods")
        if not s < e:
            raise ValidationFailed(f"工作时段 {s:%H:%M}–{e:%H:%M} 的开始必须早于结束",
                                   code="invalid_work_periods")
        if i and out[i - 1][1] > s:
            raise ValidationFailed("工作时段必须按时间先后排列且互不重叠", code="invalid_work_periods")
    return out


def format_local(moment: dt.datetime, *, tz: dt.tzinfo | None = None) -> str:
    """A moment as Chinese local text (the district's time zone unless ``tz``), e.g. ``2025年2月6日（星期四）16:00``."""
    m = _require_aware(moment).astimezone(tz or district_tz())
    return f"{m.year}年{m.month}月{m.day}日（{WEEKDAY_NAMES[m.weekday()]}）{m:%H:%M}"


# -- overrides (database) ----------------------------------------------------------------------------------

def load_calendar(
    session: Session, *, periods: Sequence[tuple[dt.time, dt.time]] = DEFAULT_PERIODS,
    tz: dt.tzinfo | None = None,
) -> WorkCalendar:
    """A calendar with every override applied (one small query; build once per request or job)."""
    c = CalendarOverride
    rows = session.execute(select(c.day, c.is_workday, c.name)).all()
    return WorkCalendar({r.day: r.is_workday for r in rows}, override_names={r.day: r.name for r in rows},
                        periods=periods, tz=tz)


def list_overrides(
    session: Session, *, start: dt.date | None = None, end: dt.date | None = None, year: int | None = None,
) -> list[CalendarOverride]:
    """Overrides ordered by day, optionally within ``start``..``end`` (inclusive) or one year."""
    stmt = select(CalendarOverride).order_by(CalendarOverride.day)
    if year is not None:
        check_year(year)
        stmt = stmt.where(CalendarOverride.day.between(dt.date(year, 1, 1), dt.date(year, 12, 31)))
    if start is not None:
        stmt = stmt.where(CalendarOverride.day >= start)
    if end is not None:
        stmt = stmt.where(CalendarOverride.day <= end)
    return list(session.scalars(stmt))


def get_override(session: Session, *, day: dt.date) -> CalendarOverride | None:
    """The override for ``day``, if any."""
    return session.scalar(select(CalendarOverride).where(CalendarOverride.day == day))


def set_override(
    session: Session, *, principal: Principal, day: dt.date, is_workday: bool, name: str,
) -> CalendarOverride:
    """Declare ``day`` a workday or a rest day (insert or replace), audited."""
    authorize(principal, Perm.config_write)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed("请填写调整说明（1–100字），如“春节调休上班”", code="override_name_required")
    row = get_override(session, day=day)
    before = None if row is None else {"day": day, "is_workday": row.is_workday, "name": row.name}
    if row is None:
        row = CalendarOverride(day=day, is_workday=is_workday, name=name, created_by=principal.user_id,
                               updated_by=principal.user_id)
        session.add(row)
    else:
        row.is_workday, row.name = is_workday, name
        row.updated_by, row.updated_at = principal.user_id, utcnow()
    session.flush()
    audit.record(session, actor=principal.actor, action="calendar.override.set",
                 object_type="calendar_override", object_id=day.isoformat(), before=before,
                 after={"day": day, "is_workday": is_workday, "name": name})
    return row


def delete_override(session: Session, *, principal: Principal, day: dt.date) -> None:
    """Remove the override for ``day`` (the package or fallback applies again), audited."""
    authorize(principal, Perm.config_write)
    row = get_override(session, day=day)
    if row is None:
        raise NotFound(f"{day.isoformat()} 没有本地调整", code="calendar_override_not_found")
    before = {"day": day, "is_workday": row.is_workday, "name": row.name}
    session.delete(row)
    session.flush()
    audit.record(session, actor=principal.actor, action="calendar.override.delete",
                 object_type="calendar_override", object_id=day.isoformat(), before=before)


def calendar_warnings(session: Session, *, years: Iterable[int]) -> list[CalendarWarning]:
    """A warning for each of ``years`` the package has no holiday arrangement for, with its override count."""
    missing = sorted({y for y in map(check_year, years) if not package_knows_year(y)})
    out = []
    for y in missing:
        n = session.scalar(select(func.count()).select_from(CalendarOverride).where(
            CalendarOverride.day.between(dt.date(y, 1, 1), dt.date(y, 12, 31))))
        out.append(CalendarWarning(year=y, message=unknown_year_message(y), overrides=int(n or 0)))
    return out

