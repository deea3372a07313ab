"""The deadline policy: which limit applies to which step of a case, on which calendar, and when the warning comes.

Every deadline a case carries is computed here and nowhere else:

* accept (受理): the category's ``accept_hours``; no warning.
* handle (处置), at dispatch: the hours the dispatch names (a rule's or the dispatcher's), else the category's
  ``handle_hours``, else 40; yellow warning at ``warning_fraction`` of the limit.
* handle, after an approved extension: the previous deadline (or now) plus the granted hours; warning at
  ``warning_fraction`` of the granted hours.
* verify (核查): the category's ``verify_hours``, else 8.
* escalation supervision (升级督办): ``escalate_after_hours`` working hours past the handling deadline.
* residence permit (居住证申领), at acceptance: issued within :data:`PERMIT_ISSUE_DAYS` working days
  (《居住证暂行条例》第十三条, counted in working days as 《行政许可法》第八十二条 counts a licence's limits),
  always on the working calendar; yellow warning at ``warning_fraction`` of it. Stored as the case's handling
  deadline (``handle_due_at`` / ``handle_warn_at``), so the sweep warns, supervises and escalates a late permit as
  it does a late event — in the states the flow names (:mod:`zhili.cases.flows`).

Each limit runs on the category's ``time_mode``: ``working`` (the district's working calendar:
Chinese holidays, 调休) or ``natural`` (emergencies: the clock runs day and night).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from zhili.core.settings import get_settings
from zhili.worktime.service import WorkCalendar

DEFAULT_HANDLE_HOURS = 40.0
DEFAULT_VERIFY_HOURS = 8.0
PERMIT_ISSUE_DAYS = 15  # 《居住证暂行条例》第十三条: 自受理之日起15日内制作发放居住证


def due(cal: WorkCalendar, start: dt.datetime, hours: float | None, mode: str) -> dt.datetime | None:
    """The moment ``hours`` after ``start`` in working time (natural time for ``mode == "natural"``)."""
    if hours is None:
        return None
    return cal.deadline(start, hours, natural=mode == "natural")


def _mode(category: Any) -> str:
    return category.time_mode if category is not None else "working"


def accept_due(cal: WorkCalendar, category: Any, now: dt.datetime) -> dt.datetime | None:
    """When a new report must be accepted (受理期限); None when the category sets no limit."""
    return due(cal, now, category.accept_hours if category is not None else None, _mode(category))


def handle_hours(category: Any, given: Any = None) -> float:
    """The handling limit of a dispatch: the hours it names (a rule's or the dispatcher's), else the category's."""
    return float(given or (category.handle_hours if category is not None else None) or DEFAULT_HANDLE_HOURS)


def handle_window(cal: WorkCalendar, category: Any, start: dt.datetime, hours: float
                  ) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(deadline, warning time) of a handling period of ``hours`` that starts at ``start``."""
    mode = _mode(category)
    return due(cal, start, hours, mode), due(cal, start, hours * get_settings().warning_fraction, mode)


def verify_due(cal: WorkCalendar, category: Any, now: dt.datetime) -> dt.datetime | None:
    """When a resolved case must be verified (核查期限)."""
    hours = (category.verify_hours if category is not None else None) or DEFAULT_VERIFY_HOURS
    return due(cal, now, hours, _mode(category))


def escalation_due(cal: WorkCalendar, handle_due_at: dt.datetime) -> dt.datetime:
    """When an overdue case's supervision goes up to the superior (升级督办)."""
    return cal.deadline(handle_due_at, get_settings().escalate_after_hours)


def permit_issue_window(cal: WorkCalendar, accepted: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """(deadline, warning time) for issuing a residence permit accepted at ``accepted``: 15 working days."""
    due_at = cal.add_working_days(accepted, PERMIT_ISSUE_DAYS)
    hours = PERMIT_ISSUE_DAYS * cal.hours_per_day * get_settings().warning_fraction
    return due_at, cal.add_working_hours(accepted, hours)
