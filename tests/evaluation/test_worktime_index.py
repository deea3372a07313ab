"""The vectorised working clock (zhili.evaluation.worktime_index) agrees with the calendar's own day walk
(WorkCalendar.working_hours_between) on random moments across weekends, 中秋 (Fri 2026-09-25), the make-up
working Sunday 2026-09-20 and 国庆 (Oct 1–7, with the make-up Saturday Oct 10) — the package calendar for 2026."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from zhili.evaluation.worktime_index import WorkingClock
from zhili.worktime.service import WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")
FIRST, LAST = dt.date(2026, 9, 14), dt.date(2026, 10, 20)


def calendar() -> WorkCalendar:
    return WorkCalendar(tz=TZ)  # no overrides: the national arrangement packaged in chinesecalendar


def test_the_package_knows_the_2026_holidays() -> None:
    cal = calendar()
    assert not cal.is_workday(dt.date(2026, 10, 1)) and not cal.is_workday(dt.date(2026, 10, 7))
    assert cal.is_workday(dt.date(2026, 10, 10))  # Saturday worked for 国庆
    assert cal.is_workday(dt.date(2026, 9, 20))  # Sunday worked for 中秋/国庆
    assert not cal.is_workday(dt.date(2026, 9, 25))  # 中秋


def random_moments(rng: random.Random, n: int) -> list[dt.datetime]:
    span = int((dt.datetime.combine(LAST, dt.time()) - dt.datetime.combine(FIRST, dt.time())).total_seconds())
    start = dt.datetime.combine(FIRST, dt.time(), tzinfo=TZ)
    out = []
    for i in range(n):
        if i % 5 == 0:  # a fifth exactly on a period's edge, where off-by-one errors live
            day = FIRST + dt.timedelta(days=rng.randrange((LAST - FIRST).days))
            edge = rng.choice([dt.time(8, 30), dt.time(12, 0), dt.time(13, 30), dt.time(17, 30), dt.time(0, 0)])
            out.append(dt.datetime.combine(day, edge, tzinfo=TZ))
        else:
            out.append(start + dt.timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(1_000_000)))
    return out


def test_hours_between_equals_the_calendar_on_random_pairs() -> None:
    rng = random.Random(20261001)
    cal = calendar()
    a = random_moments(rng, 500)
    b = random_moments(rng, 500)
    clock = WorkingClock(cal, FIRST, LAST)
    got = clock.hours_between(pd.Series(pd.to_datetime(a, utc=True)), pd.Series(pd.to_datetime(b, utc=True)))
    want = np.array([cal.working_hours_between(x, y) for x, y in zip(a, b, strict=True)])
    assert (want < 0).any() and (want > 0).any()  # both orders occur
    assert np.abs(got - want).max() < 1e-6
    # spot checks by hand: Wed Sep 30 17:00 → Thu Oct 8 09:00 = 0.5 h before the holiday + 0.5 h after it
    pair = [dt.datetime(2026, 9, 30, 17, 0, tzinfo=TZ)], [dt.datetime(2026, 10, 8, 9, 0, tzinfo=TZ)]
    assert clock.hours_between(pd.DatetimeIndex(pair[0]), pd.DatetimeIndex(pair[1]))[0] == pytest.approx(1.0)
    # Fri Oct 9 17:00 → Sat Oct 10 (worked) 09:00 = 0.5 + 0.5
    sat = [dt.datetime(2026, 10, 9, 17, 0, tzinfo=TZ)], [dt.datetime(2026, 10, 10, 9, 0, tzinfo=TZ)]
    assert clock.hours_between(pd.DatetimeIndex(sat[0]), pd.DatetimeIndex(sat[1]))[0] == pytest.approx(1.0)


def test_missing_moments_give_nan() -> None:
    clock = WorkingClock(calendar(), FIRST, LAST)
    t = pd.Timestamp("2026-10-12 09:00", tz=TZ)
    start = pd.Series([t, pd.NaT, t], dtype="datetime64[us, UTC]")
    end = pd.Series([t + pd.Timedelta(hours=1), t, pd.NaT], dtype="datetime64[us, UTC]")
    got = clock.hours_between(start, end)
    assert got[0] == pytest.approx(1.0)
    assert np.isnan(got[1]) and np.isnan(got[2])


def test_an_empty_clock_and_empty_input() -> None:
    holiday = WorkingClock(calendar(), dt.date(2026, 10, 1), dt.date(2026, 10, 7))  # no working period at all
    t = pd.Series(pd.to_datetime(["2026-10-02 09:00", "2026-10-03 10:00"]).tz_localize(TZ))
    assert list(holiday.hours_between(t, t[::-1].reset_index(drop=True))) == [0.0, 0.0]
    empty = pd.Series([], dtype="datetime64[us, UTC]")
    assert len(WorkingClock(calendar(), FIRST, LAST).hours_between(empty, empty)) == 0
