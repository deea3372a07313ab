"""Working hours between many pairs of moments at once.

The calendar (:class:`zhili.worktime.service.WorkCalendar`) answers one pair at a time by walking days — right for a
deadline, slow for the medians of a year of cases (three durations for each of ≈ 500,000 cases). Here the working
periods of the days covered are laid end to end once, with the working seconds accumulated before each period; the
working time up to any moment is then a binary search and one subtraction, for a whole array in numpy. The result
equals :meth:`WorkCalendar.working_hours_between` for every pair (tests/evaluation/test_worktime_index.py checks it
on random moments across holidays and weekends).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from zhili.worktime.service import WorkCalendar

_US = 1_000_000


class WorkingClock:
    """Cumulative working time over the local days ``first`` … ``last`` of ``calendar``."""

    def __init__(self, calendar: WorkCalendar, first: dt.date, last: dt.date) -> None:
        starts: list[int] = []
        ends: list[int] = []
        day = first
        while day <= last:
            for a, b in calendar.periods_on(day):
                starts.append(_micros(a))
                ends.append(_micros(b))
            day += dt.timedelta(days=1)
        self.starts = np.array(starts, dtype=np.int64)
        self.ends = np.array(ends, dtype=np.int64)
        lengths = self.ends - self.starts
        self.before = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(lengths) else np.zeros(0, np.int64)
        self.first, self.last = first, last

    def working_micros(self, moments: np.ndarray) -> np.ndarray:
        """Working microseconds from the start of ``first`` up to each moment (int64 microseconds since the epoch,
        UTC); moments past the last day count up to its end."""
        if not len(self.starts):
            return np.zeros(len(moments), dtype=np.int64)
        i = np.searchsorted(self.starts, moments, side="right") - 1
        inside = np.clip(moments - self.starts[np.maximum(i, 0)], 0,
                         (self.ends - self.starts)[np.maximum(i, 0)])
        return np.where(i >= 0, self.before[np.maximum(i, 0)] + inside, 0)

    def hours_between(self, start: pd.Series | pd.DatetimeIndex, end: pd.Series | pd.DatetimeIndex) -> np.ndarray:
        """Working hours from each ``start`` to its ``end`` (NaN where either is missing)."""
        a, a_na = _as_micros(start)
        b, b_na = _as_micros(end)
        hours = (self.working_micros(b) - self.working_micros(a)) / (3600 * _US)
        return np.where(a_na | b_na, np.nan, hours)


def _micros(moment: dt.datetime) -> int:
    return int(moment.timestamp() * _US)


def _as_micros(values: pd.Series | pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    idx = pd.DatetimeIndex(values)
    na = np.asarray(idx.isna())
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    micros = idx.as_unit("us").asi8
    return np.where(na, 0, micros), na
