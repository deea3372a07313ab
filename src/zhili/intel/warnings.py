"""Early warning (预警): the scheduled scan that raises warnings, and what staff do with them.

* :func:`scan` — the job, run as the system: surge warnings (:mod:`zhili.intel.warn_surge` over the model of
  :mod:`zhili.intel.baselines`) and the rules (:mod:`zhili.intel.warn_rules`: repeated complaints, special-care
  residents not visited, grids overdue far above their peers). Every finding carries a ``cause_key``; a key that
  already has a warning — open, dismissed or turned into a case — raises nothing, so scanning again is harmless and a
  dismissed cause stays dismissed. Each new warning reaches the responsible unit's inbox through the case loop's
  notifications (one message per unit and scan, naming the new warnings).
* :func:`list_warnings` / :func:`get_warning` — ``intel:read``, the principal's jurisdiction (a warning outside it
  is *not found*).
* :func:`dismiss` — ``intel:warn``, with a reason (排除理由).
* :func:`convert` — ``intel:warn`` + ``case:report``: a case filed through the intake every channel uses, whose
  description explains the warning and whose timeline says it came from an early warning; the warning keeps the
  link.
* :func:`evaluate` — the detector's measured false-alarm rate and detection, and a backtest on the database's own
  history (:mod:`zhili.intel.warn_eval`), as rows for ``zhili ml eval``.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.cases import notify
from zhili.cases import service as cases
from zhili.cases.limits import DESCRIPTION_MAX
from zhili.cases.models import Case
from zhili.cases.reads import case_numbers
from zhili.cases.taxonomy import reportable_category
from zhili.core import audit
from zhili.core.clock import local_day, utcnow
from zhili.core.errors import Conflict, NotFound, ValidationFailed
from zhili.core.jurisdiction import Principal, authorize, in_scope, not_found, scoped
from zhili.core.security import Perm
from zhili.core.settings import get_settings
from zhili.intel import warn_rules, warn_surge
from zhili.intel.baselines import SurgeParams
from zhili.intel.models import Warning, WarningState
from zhili.intel.warn_common import Finding, UnitTree, recipients
from zhili.regions.models import UnitLevel
from zhili.worktime.service import load_calendar

KINDS: dict[str, str] = {"surge": "数量异常", "repeat": "重复反映", "unvisited": "超期未走访", "overdue": "超期率异常",
                         # raised by zhili.rental (its rules and the lock events) through raise_and_notify
                         "rental_overcrowded": "群租", "rental_double": "重复登记", "rental_overstay": "逾期未退租",
                         "rental_vacant_activity": "空置房异常活动", "rental_permit_due": "居住登记到期",
                         "rental_unknown_unlock": "陌生凭证开锁"}
SCANNED = ("surge", "repeat", "unvisited", "overdue")  # the kinds :func:`scan` itself looks for
STATES: dict[str, str] = {WarningState.open: "待处理", WarningState.dismissed: "已排除",
                          WarningState.converted: "已转为事件"}
SEVERITIES: dict[str, str] = {"yellow": "黄色", "orange": "橙色", "red": "红色"}
REASON_MIN, REASON_MAX = 2, 500
LIST_MAX = 1000
ORIGIN = "intel_warning"  # the case's system attribute ``origin``: intake names it in the timeline


@dataclass
class ScanReport:
    """What one scan found and raised, per kind, and how long each part took."""

    found: dict[str, int] = field(default_factory=dict)
    raised: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    notified: int = 0
    total_seconds: float = 0.0

    @property
    def total_raised(self) -> int:
        return sum(self.raised.values())


def surge_params() -> SurgeParams:
    """The surge detector's parameters from the settings (``ZHILI_WARN_SURGE_*``)."""
    s = get_settings()
    return SurgeParams(alpha=s.warn_surge_alpha, window=s.warn_surge_window_days,
                       min_expected=s.warn_surge_min_expected, min_expected_week=s.warn_surge_min_expected_week,
                       min_count=s.warn_surge_min_count)


# -- the scan ------------------------------------------------------------------------------------------------------

def scan(session: Session, *, now: dt.datetime | None = None, kinds: Sequence[str] | None = None) -> ScanReport:
    """Run every rule (or ``kinds``) as the system and raise the warnings whose cause is new. Idempotent."""
    t_start = time.perf_counter()
    now = now or utcnow()
    s = get_settings()
    report = ScanReport()
    tree = UnitTree(session)
    wanted = set(kinds or SCANNED)
    found: list[Finding] = []
    parts = {
        "surge": lambda: warn_surge.scan_surges(
            session, tree=tree, calendar=load_calendar(session), today=local_day(now), params=surge_params(),
            history_days=s.warn_surge_history_days, lookback_days=s.warn_surge_lookback_days),
        "repeat": lambda: warn_rules.scan_repeats(session, tree=tree, now=now, count=s.warn_repeat_count,
                                                  days=s.warn_repeat_days),
        "unvisited": lambda: warn_rules.scan_unvisited(session, tree=tree, now=now, default_days=s.warn_unvisited_days,
                                                       by_tag=dict(s.warn_unvisited_days_by_tag)),
        "overdue": lambda: warn_rules.scan_overdue(session, tree=tree, now=now, days=s.warn_overdue_days,
                                                   alpha=s.warn_overdue_alpha, min_cases=s.warn_overdue_min_cases,
                                                   min_ratio=s.warn_overdue_min_ratio),
    }
    for kind, run in parts.items():
        if kind not in wanted:
            continue
        t0 = time.perf_counter()
        got = run()
        report.found[kind] = len(got)
        found.extend(got)
        report.seconds[kind] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    new = raise_findings(session, tree, found, now)
    report.raised = dict(Counter(w.kind for w in new))
    for kind in report.found:
        report.raised.setdefault(kind, 0)
    report.notified = _notify(session, tree, found, new)
    audit.record(session, actor=audit.SYSTEM, action="intel.warn_scan", object_type="intel_warning",
                 after={"found": report.found, "raised": report.raised})
    session.flush()
    report.seconds["raise"] = round(time.perf_counter() - t0, 3)
    report.total_seconds = round(time.perf_counter() - t_start, 3)
    return report


def raise_findings(session: Session, tree: UnitTree, found: Sequence[Finding], now: dt.datetime) -> list[Warning]:
    """A warning for every finding whose cause has none yet (whatever became of an earlier one)."""
    by_key: dict[str, Finding] = {}
    for f in found:
        by_key.setdefault(f.cause_key, f)
    keys = list(by_key)
    existing: set[str] = set()
    for i in range(0, len(keys), 500):
        existing.update(session.scalars(select(Warning.cause_key).where(Warning.cause_key.in_(keys[i:i + 500]))))
    new = []
    for key, f in by_key.items():
        if key in existing:
            continue
        w = Warning(kind=f.kind, cause_key=key[:200], unit_id=f.unit.id, path=f.unit.path,
                    category_code=f.category_code, title=f.title[:200], reason=f.reason, detail=f.detail,
                    case_ids=f.case_ids, severity=f.severity, period_start=f.period_start, period_end=f.period_end,
                    raised_at=now, state=WarningState.open)
        session.add(w)
        new.append(w)
    session.flush()
    return new


def _notify(session: Session, tree: UnitTree, found: Sequence[Finding], new: Sequence[Warning]) -> int:
    """One inbox message per receiving unit and scan, naming its new warnings."""
    units = {f.cause_key: f.unit for f in found}
    to: dict[str, list[Warning]] = defaultdict(list)
    for w in new:
        for r in recipients(tree, units[w.cause_key]):
            to[r].append(w)
    for recipient, items in to.items():
        lines = [f"【{SEVERITIES.get(w.severity, w.severity)}·{KINDS.get(w.kind, w.kind)}】{w.title}"
                 for w in items[:10]]
        more = f"\n……共 {len(items)} 条" if len(items) > 10 else ""
        title = items[0].title if len(items) == 1 else f"新增预警 {len(items)} 条"
        notify.deliver(session, notify.Message(kind="intel_warning", title=title[:200],
                                               body="\n".join(lines) + more + "\n请在研判页查看原因并处理。",
                                               recipient=recipient))
    return len(to)


def raise_and_notify(session: Session, findings: Sequence[Finding], *, now: dt.datetime | None = None
                     ) -> list[Warning]:
    """Raise findings made by a package above this one (the rental rules, lock events): a warning for each whose
    ``cause_key`` has none yet — whatever became of an earlier one — and one inbox message per responsible unit
    naming the new ones, exactly as :func:`scan` does. The finding's unit must be read with :class:`UnitTree`
    (``UnitTree(session, paths)`` reads only the units on those paths). Returns the new warnings."""
    if not findings:
        return []
    now = now or utcnow()
    tree = UnitTree(session, {f.unit.path for f in findings})
    new = raise_findings(session, tree, findings, now)
    _notify(session, tree, findings, new)
    return new


# -- reading -------------------------------------------------------------------------------------------------------

def list_warnings(session: Session, *, principal: Principal, state: str | None = "open", kind: str | None = None,
                  limit: int = 200) -> list[Warning]:
    """The warnings in the principal's jurisdiction, newest first (``state`` / ``kind`` None: every one)."""
    authorize(principal, Perm.intel_read)
    stmt = scoped(select(Warning), principal, Warning.path)
    return _filtered(session, stmt, state=state, kind=kind, limit=limit)


def system_warnings(session: Session, *, state: str | None = "open", kind: str | None = None,
                    limit: int = 200) -> list[Warning]:
    """Every warning of the district (the command line, run as the system)."""
    return _filtered(session, select(Warning), state=state, kind=kind, limit=limit)


def _filtered(session: Session, stmt: Any, *, state: str | None, kind: str | None, limit: int) -> list[Warning]:
    if state:
        if state not in STATES:
            raise ValidationFailed("预警状态只能是：待处理（open）、已排除（dismissed）、已转为事件（converted）",
                                   code="bad_state", details={"state": state})
        stmt = stmt.where(Warning.state == WarningState(state))
    if kind:
        if kind not in KINDS:
            raise ValidationFailed("预警类型只能是：" + "、".join(f"{v}（{k}）" for k, v in KINDS.items()),
                                   code="bad_kind", details={"kind": kind})
        stmt = stmt.where(Warning.kind == kind)
    limit = max(1, min(int(limit), LIST_MAX))
    return list(session.scalars(stmt.order_by(Warning.raised_at.desc(), Warning.id).limit(limit)))


def get_warning(session: Session, *, principal: Principal, warning_id: uuid.UUID) -> Warning:
    """One warning in the principal's jurisdiction (404 otherwise: existence does not leak)."""
    authorize(principal, Perm.intel_read)
    return _load(session, principal, warning_id)


def _load(session: Session, principal: Principal, warning_id: uuid.UUID) -> Warning:
    w = session.get(Warning, warning_id)
    if w is None or not in_scope(principal, w.path):
        raise not_found("预警")
    return w


def counts_by_state(session: Session, *, principal: Principal) -> dict[str, int]:
    """Warnings in the jurisdiction per state (the 研判 page's badges)."""
    authorize(principal, Perm.intel_read)
    stmt = scoped(select(Warning.state, func.count()).group_by(Warning.state), principal, Warning.path)
    got = {str(getattr(s, "value", s)): n for s, n in session.execute(stmt)}
    return {s: got.get(s, 0) for s in STATES}


# -- deciding --------------------------------------------------------------------------------------------------------

def _open(w: Warning) -> None:
    if w.state != WarningState.open:
        raise Conflict(f"该预警已处理（{STATES[w.state]}），不能重复处理", code="warning_decided",
                       details={"state": w.state.value})


def dismiss(session: Session, *, principal: Principal, warning_id: uuid.UUID, reason: str) -> Warning:
    """排除: close an open warning with a reason; the same cause is never raised again."""
    authorize(principal, Perm.intel_warn)
    text = (reason or "").strip()
    if len(text) < REASON_MIN:
        raise ValidationFailed("请填写排除理由（至少2个字）", code="reason_required")
    if len(text) > REASON_MAX:
        raise ValidationFailed(f"排除理由不能超过{REASON_MAX}字（现为{len(text)}字）", code="reason_too_long",
                               details={"max": REASON_MAX, "length": len(text)})
    w = _load(session, principal, warning_id)
    _open(w)
    w.state = WarningState.dismissed
    w.dismiss_reason = text
    w.decided_by = principal.username
    w.decided_at = utcnow()
    audit.record(session, actor=principal.actor, action="intel.warning_dismiss", object_type="intel_warning",
                 object_id=w.id, after={"kind": w.kind, "reason": text})
    session.flush()
    return w


def convert(session: Session, *, principal: Principal, warning_id: uuid.UUID, category_code: str | None = None,
            attributes: dict[str, Any] | None = None, now: dt.datetime | None = None) -> Case:
    """转为事件: file a case about the warning through the intake (the principal reports it; the category is
    ``category_code`` or the one the warning suggests: its cases' most common; ``attributes`` answer the category's
    declared attributes — a category requiring one refuses the case without it, in Chinese), and link it."""
    authorize(principal, Perm.intel_warn)
    authorize(principal, Perm.case_report)
    w = _load(session, principal, warning_id)
    _open(w)
    code = category_code or w.detail.get("convert_category") or _common_category(session, w)
    if not code:
        raise ValidationFailed("该预警没有对应的事件类别，请选择事件类别", code="category_required")
    try:
        reportable_category(session, code=code)
    except NotFound as exc:
        raise ValidationFailed("所选事件类别不存在或已停用，请重新选择", code="category_not_found") from exc
    suggested = w.detail.get("convert_attributes") if code == w.detail.get("convert_category") else None
    data: dict[str, Any] = {"category_code": code, "title": f"【预警转办】{w.title}"[:200],
                            "attributes": {**(suggested or {}), **(attributes or {})},
                            "description": _description(session, w),
                            "system_attributes": {"origin": ORIGIN, "warning_id": str(w.id)},
                            **_location(session, w)}
    case, _ = cases.report_case(session, principal=principal, channel=None, data=data, now=now)
    w.state = WarningState.converted
    w.case_id = case.id
    w.decided_by = principal.username
    w.decided_at = utcnow()
    audit.record(session, actor=principal.actor, action="intel.warning_convert", object_type="intel_warning",
                 object_id=w.id, after={"case": case.number})
    session.flush()
    return case


def _ids(w: Warning) -> list[uuid.UUID]:
    out = []
    for s in w.case_ids or []:
        try:
            out.append(uuid.UUID(str(s)))
        except ValueError:
            continue
    return out


def _common_category(session: Session, w: Warning) -> str | None:
    ids = _ids(w)
    if not ids:
        return None
    got = session.execute(select(Case.category_code, func.count()).where(Case.id.in_(ids))
                          .group_by(Case.category_code).order_by(func.count().desc()).limit(1)).first()
    return got[0] if got else None


def _location(session: Session, w: Warning) -> dict[str, Any]:
    """Where the case is: the warning's grid, else its grid-level building, else the grid most of its cases lie in,
    else the unit's name as the address (the command centre places it)."""
    from zhili.regions.models import Unit

    unit = session.get(Unit, w.unit_id) if w.unit_id else None
    if unit is not None and unit.level == UnitLevel.grid:
        return {"grid_id": unit.id}
    building = w.detail.get("convert_building")
    if building:
        return {"building_id": uuid.UUID(str(building))}
    ids = _ids(w)
    if ids:
        got = session.execute(select(Case.grid_id, func.count()).where(Case.id.in_(ids), Case.grid_id.is_not(None))
                              .group_by(Case.grid_id).order_by(func.count().desc()).limit(1)).first()
        if got:
            return {"grid_id": got[0]}
    return {"address": unit.name if unit is not None else "辖区"}


def _description(session: Session, w: Warning) -> str:
    numbers = case_numbers(session, case_ids=_ids(w)[:20])
    listed = "、".join(numbers.values())
    text = f"本事件由智能预警转办。预警：{w.title}。\n原因：{w.reason}"
    if listed:
        more = f"等 {len(w.case_ids)} 件" if len(w.case_ids) > len(numbers) else ""
        text += f"\n相关事件：{listed}{more}"
    return text[:DESCRIPTION_MAX]


# -- evaluation ------------------------------------------------------------------------------------------------------

def evaluate(session: Session, *, principal: Principal) -> list[dict[str, Any]]:
    """The surge detector measured: false alarms on pure noise against the nominal rate, spikes found, both next to
    the robust median/MAD baseline, and a backtest on the database's own history."""
    authorize(principal, Perm.intel_admin)
    from zhili.intel import warn_eval

    return warn_eval.evaluate(session, params=surge_params(), history_days=get_settings().warn_surge_history_days,
                              today=local_day(utcnow()))
