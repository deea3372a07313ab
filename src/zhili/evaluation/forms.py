"""Manual indicators (填报): DHIS2-style data sets filled per community and period, with validation and an
approval workflow.

* A data set (:class:`DataSet`, shipped ones from :data:`zhili.evaluation.catalog.DATASETS` by
  :func:`ensure_datasets`) has fields (``int``/``float``, required, a range) and rules — :mod:`zhili.core.expr`
  expressions over the fields, ``prev_<field>`` (the same unit's previous period, approved or locked) and
  ``period_month`` (the period's first month) that must hold.
* A unit of the data set's level (a community) fills one form per period: :func:`save` keeps a draft as long as
  every value reads as a number (range and rule failures come back as warnings); submitting refuses any error.
* The workflow: ``draft|returned → submitted`` (``eval:fill``, the unit's staff), ``submitted → approved`` and
  ``submitted|approved → returned`` with a reason (``eval:approve``, by the unit above: a principal whose
  jurisdiction holds the unit but is not the unit itself), ``approved → locked`` (``eval:approve`` or
  ``eval:admin``), ``locked → approved`` with a reason (``eval:admin``). A step out of order is refused with code
  ``submission_state`` naming the current state. Every step is a :class:`SubmissionEvent`.
* Reading and validating values: :mod:`zhili.evaluation.forms_check`; completeness, reminders and the approved
  figures for the scoring engine: :mod:`zhili.evaluation.forms_status`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.core import audit, clock
from zhili.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, ensure_in_scope, in_scope
from zhili.core.security import Perm
from zhili.evaluation import catalog
from zhili.evaluation.forms_check import Check, fields_of, parse_values, refusal, validate
from zhili.evaluation.models import DataSet, Submission, SubmissionEvent, SubmissionState
from zhili.evaluation.periods import Period, parse_period, previous_period
from zhili.regions.models import LEVEL_LABELS, OPEN_END, Unit, UnitLevel

S = SubmissionState
MISSING = "missing"  # no row yet (未填报)
STATE_NAMES: dict[str, str] = {MISSING: "未填报", S.draft: "草稿", S.submitted: "待审核", S.returned: "已退回",
                               S.approved: "已审核", S.locked: "已锁定"}
ACTION_NAMES: dict[str, str] = {"save": "保存草稿", "submit": "上报", "approve": "审核通过", "return": "退回修改",
                                "lock": "锁定", "unlock": "解锁"}
REPORTED = frozenset({S.submitted.value, S.approved.value, S.locked.value})  # counts as reported
FINAL = frozenset({S.approved.value, S.locked.value})  # counts in the scores
EDITABLE = frozenset({S.draft.value, S.returned.value})
REASON_MIN, REASON_MAX = 2, 500
FORM = "填报表"


# -- data sets -----------------------------------------------------------------------------------------------------

def ensure_datasets(session: Session) -> int:
    """Create or update the shipped data sets (:data:`catalog.DATASETS`) by code; the number created or changed.
    Run by the system (seed, start-up): idempotent, and a data set an administrator made is left alone."""
    have = {d.code: d for d in session.scalars(select(DataSet))}
    changed = 0
    for spec in catalog.DATASETS:
        data = {"name": spec.name, "description": spec.description, "period_kind": spec.period_kind,
                "level": spec.level, "fields": [f.as_dict() for f in spec.fields],
                "rules": [dict(r) for r in spec.rules], "due_day": spec.due_day}
        row = have.get(spec.code)
        if row is None:
            session.add(DataSet(code=spec.code, builtin=True, is_active=True, **data))
            changed += 1
        elif row.builtin and any(getattr(row, k) != v for k, v in data.items()):
            for k, v in data.items():
                setattr(row, k, v)
            changed += 1
    if changed:
        session.flush()
        audit.record(session, actor=audit.SYSTEM, action="eval.datasets_install", object_type="eval_dataset",
                     after={"changed": changed})
    return changed


def dataset_of(session: Session, code: Any) -> DataSet:
    code = str(code)[:40]
    ds = session.scalar(select(DataSet).where(DataSet.code == code))
    if ds is None and any(spec.code == code for spec in catalog.DATASETS):
        ensure_datasets(session)  # a fresh database: the shipped data sets appear on first use
        ds = session.scalar(select(DataSet).where(DataSet.code == code))
    if ds is None or not ds.is_active:
        raise NotFound("报表不存在或已停用")
    return ds


def list_datasets(session: Session, *, principal: Principal) -> list[DataSet]:
    """The active data sets (``eval:read``)."""
    authorize(principal, Perm.eval_read)
    if not session.scalar(select(DataSet.id).limit(1)):
        ensure_datasets(session)
    return list(session.scalars(select(DataSet).where(DataSet.is_active.is_(True)).order_by(DataSet.code)))


def period_in(ds: DataSet, text: Any) -> Period:
    return parse_period(text, ds.period_kind)




# -- units ---------------------------------------------------------------------------------------------------------

def _unit(session: Session, principal: Principal, ds: DataSet, code: Any) -> Unit:
    """The current unit ``code`` of the data set's level inside the caller's jurisdiction (else not found)."""
    if not isinstance(code, str) or not code or len(code) > 32:
        raise NotFound("填报单位不存在或不在您的管辖范围内")
    unit = session.scalar(select(Unit).where(Unit.code == code, Unit.valid_to == OPEN_END))
    if unit is None:
        raise NotFound("填报单位不存在或不在您的管辖范围内")
    ensure_in_scope(principal, unit.path, "填报单位")
    if unit.level.value != ds.level:
        level = LEVEL_LABELS.get(UnitLevel(ds.level), ds.level) if ds.level in UnitLevel.__members__ else ds.level
        raise ValidationFailed(f"“{ds.name}”由{level}填报，{unit.name}不是{level}", code="wrong_level")
    return unit


def _is_above(principal: Principal, unit: Unit) -> bool:
    """The caller's jurisdiction holds the unit from above (not only the unit itself)."""
    return any(unit.path.startswith(p + "/") for p in principal.scope_paths)


def _require_above(principal: Principal, unit: Unit) -> None:
    if not _is_above(principal, unit):
        raise Forbidden(f"{unit.name}的填报须由上级单位审核，不能由本单位自行审核", code="own_unit")


# -- reading a form --------------------------------------------------------------------------------------------------

@dataclass
class FieldView:
    code: str
    name: str
    unit: str
    kind: str
    min: float | None
    max: float | None
    required: bool
    aggregate: str
    value: float | int | None
    prev: float | int | None
    error: str | None = None


@dataclass
class EventView:
    at: dt.datetime
    action: str
    action_name: str
    from_state: str | None
    to_state: str
    actor: str | None
    actor_name: str | None
    comment: str | None


@dataclass
class FormView:
    dataset_code: str
    dataset_name: str
    unit_code: str
    unit_name: str
    unit_path: str
    period: str
    period_label: str
    prev_period: str
    state: str  # "missing" when nothing was saved yet
    state_name: str
    version: int | None
    fields: list[FieldView]
    rules: list[str]  # the failed rules' messages
    actions: list[str]
    events: list[EventView]
    due_date: dt.date
    overdue: bool
    submitted_by: str | None = None
    submitted_at: dt.datetime | None = None
    approved_by: str | None = None
    approved_at: dt.datetime | None = None
    return_reason: str | None = None
    via: str | None = None

    @property
    def values(self) -> dict[str, float | int | None]:
        return {f.code: f.value for f in self.fields}

    @property
    def field_errors(self) -> dict[str, str]:
        return {f.code: f.error for f in self.fields if f.error}


def submission_of(session: Session, ds: DataSet, unit: Unit, period: Period) -> Submission | None:
    return session.scalar(select(Submission).where(Submission.dataset_code == ds.code,
                                                   Submission.unit_id == unit.id, Submission.period == period.text))


def stored_values(values: Any) -> dict[str, int | float]:
    """A form's stored values that are finite numbers (a row written past the service reads without the rest)."""
    if not isinstance(values, Mapping):
        return {}
    return {str(k): v for k, v in values.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= 1e12}


def _prev_values(session: Session, ds: DataSet, unit: Unit, period: Period) -> dict[str, Any]:
    prev = submission_of(session, ds, unit, previous_period(period))
    return stored_values(prev.values) if prev is not None and prev.state in FINAL else {}


def _actions(principal: Principal, unit: Unit, state: str) -> list[str]:
    out: list[str] = []
    own = in_scope(principal, unit.path)
    above = _is_above(principal, unit)
    if own and principal.can(Perm.eval_fill) and state in (MISSING, *EDITABLE):
        out += ["save", "submit"]
    if above and principal.can(Perm.eval_approve):
        if state == S.submitted:
            out.append("approve")
        if state in (S.submitted, S.approved):
            out.append("return")
    if above and (principal.can(Perm.eval_approve) or principal.can(Perm.eval_admin)) and state == S.approved:
        out.append("lock")
    if above and principal.can(Perm.eval_admin) and state == S.locked:
        out.append("unlock")
    return out


def today_or(today: dt.date | None) -> dt.date:
    return today or clock.today()


def _view(session: Session, principal: Principal, ds: DataSet, unit: Unit, period: Period,
          sub: Submission | None, *, values: Mapping[str, Any] | None = None, check: Check | None = None,
          today: dt.date | None = None) -> FormView:
    prev = _prev_values(session, ds, unit, period)
    vals = stored_values(values if values is not None else (sub.values if sub is not None else {}))
    state = sub.state if sub is not None else MISSING
    if check is None:
        check = validate(ds, vals, prev, period) if sub is not None else Check()
    fields = [FieldView(code=f["code"], name=f.get("name") or f["code"], unit=f.get("unit") or "",
                        kind=f.get("kind") or "float", min=f.get("min"), max=f.get("max"),
                        required=bool(f.get("required", True)), aggregate=f.get("aggregate") or "sum",
                        value=vals.get(f["code"]), prev=prev.get(f["code"]), error=check.fields.get(f["code"]))
              for f in fields_of(ds)]
    events: list[EventView] = []
    if sub is not None:
        for e in session.scalars(select(SubmissionEvent).where(SubmissionEvent.submission_id == sub.id)
                                 .order_by(SubmissionEvent.at, SubmissionEvent.id)):
            events.append(EventView(at=e.at, action=e.action, action_name=ACTION_NAMES.get(e.action, e.action),
                                    from_state=e.from_state, to_state=e.to_state, actor=e.actor,
                                    actor_name=e.actor_name, comment=e.comment))
    due = period.due_date(ds.due_day)
    return FormView(
        dataset_code=ds.code, dataset_name=ds.name, unit_code=unit.code, unit_name=unit.name, unit_path=unit.path,
        period=period.text, period_label=period.label, prev_period=previous_period(period).text, state=state,
        state_name=STATE_NAMES.get(state, state), version=sub.version if sub is not None else None, fields=fields,
        rules=list(check.rules), actions=_actions(principal, unit, state), events=events, due_date=due,
        overdue=state not in REPORTED and today_or(today) > due,
        submitted_by=sub.submitted_by if sub else None, submitted_at=sub.submitted_at if sub else None,
        approved_by=sub.approved_by if sub else None, approved_at=sub.approved_at if sub else None,
        return_reason=sub.return_reason if sub else None, via=sub.via if sub else None)


def get_form(session: Session, principal: Principal, dataset_code: str, unit_code: str, period: str
             ) -> FormView:
    """A community's form for a period (``eval:read``, in jurisdiction): the saved values (an empty draft when
    nothing was saved), last period's approved values, what fails validation, the caller's next steps and the
    history."""
    authorize(principal, Perm.eval_read)
    ds = dataset_of(session, dataset_code)
    unit = _unit(session, principal, ds, unit_code)
    p = period_in(ds, period)
    return _view(session, principal, ds, unit, p, submission_of(session, ds, unit, p))


# -- changing a form ---------------------------------------------------------------------------------------------------

def _event(session: Session, principal: Principal, sub: Submission, action: str, from_state: str | None,
           comment: str | None = None) -> None:
    session.add(SubmissionEvent(submission_id=sub.id, at=clock.utcnow(), action=action, from_state=from_state,
                                to_state=sub.state, actor=principal.username, actor_name=principal.display_name,
                                comment=comment))


def _staterefusal(sub: Submission | None, doing: str) -> Conflict:
    state = sub.state if sub is not None else MISSING
    return Conflict(f"该填报表当前状态为“{STATE_NAMES.get(state, state)}”，不能{doing}", code="submission_state",
                    details={"state": state})


def _check_version(sub: Submission | None, expected_version: int | None) -> None:
    if expected_version is not None and (sub is None or sub.version != expected_version):
        raise Conflict("该填报表已被他人修改，请刷新后重试", code="stale_version")


def _audit(session: Session, principal: Principal, action: str, sub: Submission, **after: Any) -> None:
    audit.record(session, actor=principal.actor, action=f"eval.form_{action}", object_type="eval_submission",
                 object_id=sub.id, after={"dataset": sub.dataset_code, "unit": sub.path.rsplit("/", 1)[-1],
                                          "period": sub.period, "state": sub.state, **after})


def save(session: Session, principal: Principal, dataset_code: str, unit_code: str, period: str,
         values: Mapping[str, Any], *, submit: bool = False, expected_version: int | None = None,
         via: str = "form", audit_it: bool = True) -> FormView:
    """Save a community's form (``eval:fill``, a unit of the data set's level in jurisdiction, in draft or returned).
    A draft is kept as long as every value reads as a number — range and rule failures come back in the view as
    warnings; ``submit`` refuses any failure (:class:`ValidationFailed` with ``details={"fields": {code:
    message}, "rules": [message]}``) and moves the form to 待审核."""
    authorize(principal, Perm.eval_fill)
    ds = dataset_of(session, dataset_code)
    unit = _unit(session, principal, ds, unit_code)
    p = period_in(ds, period)
    sub = submission_of(session, ds, unit, p)
    if sub is not None and sub.state not in EDITABLE:
        raise _staterefusal(sub, "上报" if submit else "修改")
    _check_version(sub, expected_version)
    parsed, errors = parse_values(ds, values)
    if errors:
        raise refusal(Check(fields=errors), submit=submit)
    prev = _prev_values(session, ds, unit, p)
    check = validate(ds, parsed, prev, p)
    if submit and not check.ok:
        raise refusal(check, submit=True)
    stored = {k: v for k, v in parsed.items() if v is not None}
    before = sub.state if sub is not None else None
    if sub is None:
        sub = Submission(dataset_code=ds.code, unit_id=unit.id, path=unit.path, period=p.text, values=stored,
                         state=S.draft.value, via=via)
        session.add(sub)
        session.flush()
    else:
        sub.values = stored
        sub.via = via
    if submit:
        sub.state = S.submitted.value
        sub.submitted_by, sub.submitted_at = principal.username, clock.utcnow()
    _event(session, principal, sub, "submit" if submit else "save", before,
           "Excel 导入" if via == "excel" else None)
    session.flush()
    if audit_it:
        _audit(session, principal, "submit" if submit else "save", sub, via=via)
    return _view(session, principal, ds, unit, p, sub, check=check)


def submit(session: Session, principal: Principal, dataset_code: str, unit_code: str, period: str, *,
           expected_version: int | None = None) -> FormView:
    """Submit the saved values as they are (``eval:fill``): refused while any of them fails validation."""
    authorize(principal, Perm.eval_fill)
    ds = dataset_of(session, dataset_code)
    unit = _unit(session, principal, ds, unit_code)
    p = period_in(ds, period)
    sub = submission_of(session, ds, unit, p)
    if sub is None or sub.state not in EDITABLE:
        raise _staterefusal(sub, "上报")
    return save(session, principal, dataset_code, unit_code, period, {k: v for k, v in stored_values(sub.values).items()
                                                                      if k in {f["code"] for f in fields_of(ds)}},
                submit=True, expected_version=expected_version)


def _step(session: Session, principal: Principal, dataset_code: str, unit_code: str, period: str, *,
          action: str, allowed_from: Sequence[str], doing: str, comment: str | None = None,
          expected_version: int | None = None) -> tuple[DataSet, Unit, Period, Submission]:
    ds = dataset_of(session, dataset_code)
    unit = _unit(session, principal, ds, unit_code)
    p = period_in(ds, period)
    _require_above(principal, unit)
    sub = submission_of(session, ds, unit, p)
    if sub is None or sub.state not in allowed_from:
        raise _staterefusal(sub, doing)
    _check_version(sub, expected_version)
    return ds, unit, p, sub


def _reason(reason: Any, what: str) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if len(text) < REASON_MIN:
        raise ValidationFailed(f"请填写{what}（至少 {REASON_MIN} 个字）", code="reason_required",
                               details={"fields": {"reason": f"请填写{what}"}, "rules": []})
    if len(text) > REASON_MAX:
        raise ValidationFailed(f"{what}不能超过 {REASON_MAX} 个字", code="reason_too_long",
                               details={"fields": {"reason": f"{what}过长"}, "rules": []})
    return text


def approve(session: Session, principal: Principal, dataset_code: str, unit_code: str, period: str, *,
            comment: str | None = None, expected_version: int | None = None) -> FormView:
    """待审核 → 已审核 (``eval:approve``, by the unit above)."""
    authorize(principal, Perm.eval_approve)
    ds, unit, p, sub = _step(session, principal, dataset_code, unit_code, period, action="approve",
                             allowed_from=(S.submitted,), doing="审核通过", expected_version=expected_version)
    before = sub.state
    sub.state = S.approved.value
    sub.approved_by, sub.approved_at = principal.username, clock.utcnow()
    sub.return_reason = None
    note = comment.strip()[:REASON_MAX] if isinstance(comment, str) and comment.strip() else None
    _event(session, principal, sub, "approve", before, note)
    session.flush()
    _audit(session, principal, "approve", sub)
    return _view(session, principal, ds, unit, p, sub)


def return_(session: Session, principal: Principal, dataset_code: str, unit_code: str, period: str, reason: str,
            *, expected_version: int | None = None) -> FormView:
    """待审核 or 已审核 → 已退回 with the reason (``eval:approve``, by the unit above)."""
    authorize(principal, Perm.eval_approve)
    ds, unit, p, sub = _step(session, principal, dataset_code, unit_code, period, action="return",
                             allowed_from=(S.submitted, S.approved), doing="退回",
                             expected_version=expected_version)
    text = _reason(reason, "退回原因")
    before = sub.state
    sub.state = S.returned.value
    sub.return_reason = text
    sub.approved_by = sub.approved_at = None
    _event(session, principal, sub, "return", before, text)
    session.flush()
    _audit(session, principal, "return", sub, reason=text)
    return _view(session, principal, ds, unit, p, sub)


def lock(session: Session, principal: Principal, dataset_code: str, unit_code: str, period: str, *,
         expected_version: int | None = None) -> FormView:
    """已审核 → 已锁定 (``eval:approve`` or ``eval:admin``, from above): the figures count as final."""
    if not (principal.can(Perm.eval_approve) or principal.can(Perm.eval_admin)):
        raise Forbidden(f"当前角色（{principal.role.value}）没有锁定填报表的权限", code="permission_denied")
    ds, unit, p, sub = _step(session, principal, dataset_code, unit_code, period, action="lock",
                             allowed_from=(S.approved,), doing="锁定", expected_version=expected_version)
    before = sub.state
    sub.state = S.locked.value
    sub.locked_at = clock.utcnow()
    _event(session, principal, sub, "lock", before)
    session.flush()
    _audit(session, principal, "lock", sub)
    return _view(session, principal, ds, unit, p, sub)


def unlock(session: Session, principal: Principal, dataset_code: str, unit_code: str, period: str, reason: str,
           *, expected_version: int | None = None) -> FormView:
    """已锁定 → 已审核 with the reason (``eval:admin``)."""
    authorize(principal, Perm.eval_admin)
    ds, unit, p, sub = _step(session, principal, dataset_code, unit_code, period, action="unlock",
                             allowed_from=(S.locked,), doing="解锁", expected_version=expected_version)
    text = _reason(reason, "解锁原因")
    before = sub.state
    sub.state = S.approved.value
    sub.locked_at = None
    _event(session, principal, sub, "unlock", before, text)
    session.flush()
    _audit(session, principal, "unlock", sub, reason=text)
    return _view(session, principal, ds, unit, p, sub)

