"""Manual indicators (填报): which communities have reported a data set for a period (:func:`completeness`),
reminders to those that have not (:func:`send_reminders` by staff, :func:`remind_due` by the scheduler after the
due day), and the approved figures the scoring engine reads (:func:`form_metrics`, months combined into quarters
and years by each field's ``aggregate``)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases import notify
from zhili.cases.models import Notification
from zhili.core import audit, clock
from zhili.core.errors import NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, ensure_in_scope, path_predicate
from zhili.core.query import contains_text
from zhili.core.security import Perm
from zhili.evaluation.forms import (
    FINAL,
    MISSING,
    REPORTED,
    STATE_NAMES,
    S,
    dataset_of,
    period_in,
    stored_values,
    today_or,
)
from zhili.evaluation.forms_check import fields_of
from zhili.evaluation.models import DataSet, Submission
from zhili.evaluation.periods import Period, parse_period, period_of, previous_period
from zhili.regions.models import OPEN_END, Unit, UnitLevel

# -- completeness and reminders ----------------------------------------------------------------------------------------

@dataclass
class UnitStatus:
    unit_code: str
    unit_name: str
    unit_path: str
    parent_name: str
    state: str
    state_name: str
    submitted_at: dt.datetime | None
    updated_at: dt.datetime | None
    overdue: bool
    return_reason: str | None = None


@dataclass
class Completeness:
    dataset_code: str
    dataset_name: str
    period: str
    period_label: str
    due_date: dt.date
    rows: list[UnitStatus]
    counts: dict[str, int]  # state (and "missing") → units
    expected: int
    reported: int  # submitted, approved or locked

    @property
    def rate(self) -> float | None:
        return self.reported / self.expected if self.expected else None

    @property
    def overdue(self) -> int:
        return sum(1 for r in self.rows if r.overdue)


def _units_of(session: Session, paths: Sequence[str], level: str) -> list[Unit]:
    stmt = select(Unit).where(Unit.level == UnitLevel(level), Unit.valid_to == OPEN_END,
                              path_predicate(Unit.path, tuple(paths))).order_by(Unit.path)
    return list(session.scalars(stmt))


def _scope_paths(session: Session, principal: Principal, unit_code: str | None) -> tuple[str, ...]:
    if not unit_code:
        return principal.scope_paths
    unit = session.scalar(select(Unit).where(Unit.code == unit_code, Unit.valid_to == OPEN_END))
    if unit is None:
        raise NotFound("单位不存在或不在您的管辖范围内")
    ensure_in_scope(principal, unit.path, "单位")
    return (unit.path,)


def status_rows(session: Session, ds: DataSet, p: Period, paths: Sequence[str], today: dt.date
            ) -> list[UnitStatus]:
    units = _units_of(session, paths, ds.level)
    subs = {s.unit_id: s for s in session.scalars(
        select(Submission).where(Submission.dataset_code == ds.code, Submission.period == p.text,
                                 path_predicate(Submission.path, tuple(paths))))}
    parents = {u.id: u.name for u in session.scalars(
        select(Unit).where(Unit.id.in_({u.parent_id for u in units if u.parent_id})))} if units else {}
    overdue = today > p.due_date(ds.due_day)
    out: list[UnitStatus] = []
    for u in units:
        s = subs.get(u.id)
        state = s.state if s is not None else MISSING
        out.append(UnitStatus(unit_code=u.code, unit_name=u.name, unit_path=u.path,
                              parent_name=parents.get(u.parent_id, "") if u.parent_id else "",
                              state=state, state_name=STATE_NAMES.get(state, state),
                              submitted_at=s.submitted_at if s else None, updated_at=s.updated_at if s else None,
                              overdue=overdue and state not in REPORTED,
                              return_reason=s.return_reason if s and state == S.returned else None))
    return out


def completeness(session: Session, principal: Principal, dataset_code: str, period: str, *,
                 unit_code: str | None = None, today: dt.date | None = None) -> Completeness:
    """Every unit of the data set's level in the caller's jurisdiction (or under ``unit_code``) with its form's
    state (未填报 without one), the totals per state and the reporting rate (``eval:read``)."""
    authorize(principal, Perm.eval_read)
    ds = dataset_of(session, dataset_code)
    p = period_in(ds, period)
    paths = _scope_paths(session, principal, unit_code)
    rows = status_rows(session, ds, p, paths, today_or(today))
    counts = {k: 0 for k in STATE_NAMES}
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    return Completeness(dataset_code=ds.code, dataset_name=ds.name, period=p.text, period_label=p.label,
                        due_date=p.due_date(ds.due_day), rows=rows, counts=counts, expected=len(rows),
                        reported=sum(1 for r in rows if r.state in REPORTED))


def _remind(session: Session, ds: DataSet, p: Period, rows: Sequence[UnitStatus], *, kind: str,
            overdue: bool) -> int:
    due = p.due_date(ds.due_day)
    n = 0
    for r in rows:
        if r.state in REPORTED:
            continue
        if overdue:
            title = f"【催报】{r.unit_name}{p.label}“{ds.name}”已逾期未报"
        else:
            title = f"【提醒】请尽快填报{p.label}“{ds.name}”"
        what = {MISSING: "尚未填报", S.draft: "已保存草稿但尚未上报", S.returned: "已被退回，尚未重新上报"}.get(
            r.state, "尚未上报")
        body = (f"{r.unit_name}{p.label}的“{ds.name}”{what}，截止日期为 {due.month} 月 {due.day} 日。"
                f"请在“考核填报”页填写并上报。")
        if r.state == S.returned and r.return_reason:
            body += f"\n退回原因：{r.return_reason}"
        notify.deliver(session, notify.Message(kind=kind, title=title[:200], body=body, recipient=r.unit_code))
        n += 1
    session.flush()
    return n


def send_reminders(session: Session, principal: Principal, dataset_code: str, period: str, *,
                   unit_code: str | None = None) -> int:
    """An inbox notification (催报) to each unit in the caller's jurisdiction that has not reported the period
    (``eval:approve``); the number sent."""
    authorize(principal, Perm.eval_approve)
    ds = dataset_of(session, dataset_code)
    p = period_in(ds, period)
    paths = _scope_paths(session, principal, unit_code)
    today = clock.today()
    rows = status_rows(session, ds, p, paths, today)
    n = _remind(session, ds, p, rows, kind="eval_remind", overdue=today > p.due_date(ds.due_day))
    audit.record(session, actor=principal.actor, action="eval.form_remind", object_type="eval_dataset",
                 object_id=ds.id, after={"dataset": ds.code, "period": p.text, "sent": n,
                                         "scope": list(paths)[:10]})
    return n


def remind_due(session: Session, now: dt.datetime | None = None) -> int:
    """The daily reminder for the sweeper: for each active data set, once its latest closed period is past due, an
    inbox notification to every unit that has not reported it — at most once a day per unit. The number sent."""
    moment = now or clock.utcnow()
    today = clock.local_day(moment)
    since = clock.local_midnight(today)
    total = 0
    for ds in session.scalars(select(DataSet).where(DataSet.is_active.is_(True))):
        p = previous_period(period_of(today, ds.period_kind))
        if today <= p.due_date(ds.due_day):
            continue
        district = session.scalars(select(Unit.path).where(Unit.level == UnitLevel.district,
                                                           Unit.valid_to == OPEN_END)).all()
        rows = status_rows(session, ds, p, tuple(district), today)
        marker = f"{p.label}“{ds.name}”"
        done = set(session.scalars(select(Notification.recipient).where(
            Notification.kind == "eval_overdue", Notification.created_at >= since,
            contains_text(Notification.title, marker))))
        rows = [r for r in rows if r.unit_code not in done]
        n = _remind(session, ds, p, rows, kind="eval_overdue", overdue=True)
        if n:
            audit.record(session, actor=audit.SYSTEM, action="eval.form_remind", object_type="eval_dataset",
                         object_id=ds.id, after={"dataset": ds.code, "period": p.text, "sent": n, "auto": True})
        total += n
    return total


# -- the approved figures, for the scoring engine ------------------------------------------------------------------

def _combine(how: str, values: list[float]) -> float | None:
    if not values:
        return None
    if how == "last":
        return values[-1]
    if how == "mean":
        return sum(values) / len(values)
    return float(sum(values))


def form_metrics(session: Session, *, root_path: str, period_kind: str, start_day: dt.date, end_day: dt.date
                 ) -> dict[str, dict[str, float | None]]:
    """unit path → field code → value of the approved or locked forms of every active data set whose period lies
    within [``start_day``, ``end_day``] under ``root_path``; the periods of a unit combined (months into a quarter or
    a year) by each field's ``aggregate``: ``sum``, ``last`` (the latest period's) or ``mean``. A field no
    approved form gave is absent. ``period_kind`` names the scored period (the days decide)."""
    del period_kind  # the days say which periods count
    datasets = {d.code: d for d in session.scalars(select(DataSet).where(DataSet.is_active.is_(True)))}
    if not datasets:
        return {}
    how: dict[str, str] = {}
    for d in datasets.values():
        for f in fields_of(d):
            how[f["code"]] = f.get("aggregate") or "sum"
    rows = session.execute(
        select(Submission.path, Submission.dataset_code, Submission.period, Submission.values)
        .where(Submission.dataset_code.in_(list(datasets)), Submission.state.in_(list(FINAL)),
               path_predicate(Submission.path, (root_path,)))).all()
    series: dict[str, dict[str, list[tuple[Period, float]]]] = defaultdict(lambda: defaultdict(list))
    for path, code, period_text, values in rows:
        try:
            p = parse_period(period_text, datasets[code].period_kind)
        except ValidationFailed:
            continue
        if p.start < start_day or p.end > end_day:
            continue
        for k, v in stored_values(values).items():
            if k in how:
                series[path][k].append((p, float(v)))
    out: dict[str, dict[str, float | None]] = {}
    for path, by_field in series.items():
        out[path] = {k: _combine(how[k], [v for _, v in sorted(pts, key=lambda t: t[0].start)])
                     for k, pts in by_field.items()}
    return out
