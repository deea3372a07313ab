"""智能分拨: the platform's own routing models — trained from its cases, plugged into the case loop, and the
suggestions shown on a case with one click to take them.

Two text models, each a versioned row of :mod:`zhili.intel.store` trained by :mod:`zhili.intel.textmodel`:

* ``category`` — the category (小类) of a report from its title and description;
* ``department`` — the department that handled such a report in the end.

Training data (:func:`training_rows`): the platform's cases whose outcome is known — closed, verified, rated or
resolved (the category and department they ended with, after every correction) and the historical cases the data
hub imported (12345 archives) — within a window. A **correction** is a case the system classified (its ``classify``
event) or a staff member was shown suggestions for (:class:`~zhili.intel.models.CaseSuggestion`) whose final label
differs from the top suggestion: the next retrain counts it :data:`CORRECTION_WEIGHT` times, so the model learns
first from its own mistakes.

Evaluation is time-ordered (:func:`train_platform`): the oldest 80 % of the window trains, the newest 20 % tests —
what a model trained today would have done on next month's reports — next to the majority class and a TF-IDF +
logistic-regression baseline fitted on the same split. The model kept is then refitted on the whole window.

:class:`TextRouter` is what the case loop calls (:mod:`zhili.cases.suggest`): it reads the active version of each
model (one indexed query, remembered for a few seconds) and caches the loaded models by version id.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases import flows, suggest
from zhili.cases.models import Case, CaseEvent, CaseState
from zhili.cases.service import get_case
from zhili.cases.taxonomy import list_categories
from zhili.core import audit
from zhili.core.db import utcnow
from zhili.core.errors import ValidationFailed
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.intel import store
from zhili.intel.models import CaseSuggestion, ModelVersion
from zhili.org.service import department_names

log = logging.getLogger(__name__)

TARGETS = ("category", "department")
CORRECTION_WEIGHT = 3.0
MIN_ROWS = 30  # fewer known outcomes than this: nothing to learn from yet (the loop goes on without a model)
MIN_CLASS_ROWS = 2  # labels seen fewer times than this are left out of training (nothing to generalise from)
_KNOWN = (CaseState.closed, CaseState.verified, CaseState.rated, CaseState.resolved)


def case_text(title: str | None, description: str | None) -> str:
    """The text a routing model reads of a case (the same at training and at prediction)."""
    title, description = (title or "").strip(), (description or "").strip()
    if title and description.startswith(title):
        return description
    return f"{title}。{description}" if title else description


# -- training data ----------------------------------------------------------------------------------------------

@dataclass
class Rows:
    texts: list[str]
    labels: list[str]
    times: list[dt.datetime]
    weights: list[float]
    corrections: int


def _corrected_cases(session: Session, target: str) -> dict[uuid.UUID, str]:
    """Case → the label the model suggested first, for cases whose suggestion was taken or shown."""
    out: dict[uuid.UUID, str] = {}
    if target == "category":
        for case_id, payload in session.execute(select(CaseEvent.case_id, CaseEvent.payload)
                                                .where(CaseEvent.action == "classify")):
            top = (payload or {}).get("suggestions") or []
            if top and isinstance(top[0], dict) and top[0].get("code"):
                out[case_id] = str(top[0]["code"])
    for case_id, top in session.execute(select(CaseSuggestion.case_id, CaseSuggestion.top)
                                        .where(CaseSuggestion.target == target)):
        if top and isinstance(top[0], dict) and top[0].get("label"):
            out.setdefault(case_id, str(top[0]["label"]))
    return out


def training_rows(session: Session, target: str, *, since: dt.datetime | None = None,
                  until: dt.datetime | None = None, limit: int = 300_000) -> Rows:
    """The cases whose outcome is known, oldest first (the newest ``limit`` of the window), with their final label
    and weight (corrections count :data:`CORRECTION_WEIGHT` times)."""
    label_col = Case.category_code if target == "category" else Case.assignee_department
    stmt = (select(Case.id, Case.title, Case.description, label_col, Case.reported_at)
            .where(Case.master_case_id.is_(None), label_col.is_not(None), Case.flow == flows.EVENT,  # events
                   Case.state.in_(_KNOWN) | Case.is_history.is_(True)))
    if since is not None:
        stmt = stmt.where(Case.reported_at >= since)
    if until is not None:
        stmt = stmt.where(Case.reported_at < until)
    got = list(session.execute(stmt.order_by(Case.reported_at.desc()).limit(limit)))
    got.reverse()
    suggested = _corrected_cases(session, target)
    rows = Rows([], [], [], [], 0)
    for cid, title, description, label, at in got:
        text = case_text(title, description)
        if not text:
            continue
        weight = 1.0
        first = suggested.get(cid)
        if first is not None and first != label:
            weight = CORRECTION_WEIGHT
            rows.corrections += 1
        rows.texts.append(text)
        rows.labels.append(str(label))
        rows.times.append(at)
        rows.weights.append(weight)
    counts: dict[str, int] = {}
    for label in rows.labels:
        counts[label] = counts.get(label, 0) + 1
    keep = [i for i, label in enumerate(rows.labels) if counts[label] >= MIN_CLASS_ROWS]
    if len(keep) != len(rows.labels):
        rows = Rows([rows.texts[i] for i in keep], [rows.labels[i] for i in keep], [rows.times[i] for i in keep],
                    [rows.weights[i] for i in keep], rows.corrections)
    return rows


# -- training ---------------------------------------------------------------------------------------------------

@dataclass
class Trained:
    """One routing model fitted from the platform's cases, not stored yet (:func:`fit_platform`)."""

    target: str
    model: Any
    metrics: dict[str, Any]
    data_from: dt.datetime
    data_to: dt.datetime
    n_train: int
    seconds: float


def train_platform(session: Session, *, principal: Principal, targets: Sequence[str] = TARGETS,
                   since: dt.datetime | None = None, until: dt.datetime | None = None,
                   activate: str = "better") -> list[ModelVersion]:
    """Train the routing models from the platform's cases (``zhili ml train``): evaluate on a time-ordered split,
    refit on the whole window, store a new version. ``activate``: ``"always"``, ``"never"``, or ``"better"`` — when
    there is no active version, or the new one's time-split top-1 is at least the active one's (measured when it was
    trained) and above the baselines'. (The scheduled job fits in a read-only transaction and stores in a short
    write one: :func:`fit_platform` then :func:`store_platform`.)"""
    trained = fit_platform(session, principal=principal, targets=targets, since=since, until=until)
    return store_platform(session, principal=principal, trained=trained, activate=activate)


def fit_platform(session: Session, *, principal: Principal, targets: Sequence[str] = TARGETS,
                 since: dt.datetime | None = None, until: dt.datetime | None = None) -> list[Trained]:
    """Fit (and evaluate) the routing models from the cases; reads only — minutes of training must not hold the
    database's write lock (on SQLite every other writer — intake, the sensors' ingest — would wait on it)."""
    authorize(principal, Perm.intel_admin)
    from zhili.intel import textmodel

    out: list[Trained] = []
    for target in targets:
        if target not in TARGETS:
            raise ValidationFailed(f"未知的分拨模型：{target}", code="unknown_model")
        t0 = time.perf_counter()
        rows = training_rows(session, target, since=since, until=until)
        if len(rows.texts) < MIN_ROWS or len(set(rows.labels)) < 2:
            log.info("routing model %s: %d rows with a known outcome, not enough to train", target, len(rows.texts))
            continue
        metrics = textmodel.time_split(rows.texts, rows.labels, rows.times, test_fraction=0.2)
        metrics["corrections"] = rows.corrections
        model = textmodel.fit(rows.texts, rows.labels, weights=rows.weights)
        out.append(Trained(target, model, metrics, rows.times[0], rows.times[-1], len(rows.texts),
                           time.perf_counter() - t0))
    return out


def store_platform(session: Session, *, principal: Principal, trained: Sequence[Trained],
                   activate: str = "better") -> list[ModelVersion]:
    """Store fitted models as new versions, activating each by ``activate`` (see :func:`train_platform`)."""
    authorize(principal, Perm.intel_admin)
    if activate not in ("always", "never", "better"):
        raise ValidationFailed("启用方式只能是 always、never 或 better", code="bad_activate")
    made: list[ModelVersion] = []
    for t in trained:
        current = store.active(session, t.target)
        top1 = float(t.metrics.get("top1", 0))
        baseline = max((float(b.get("top1", 0)) for b in (t.metrics.get("baselines") or {}).values()), default=0.0)
        better = current is None or (top1 >= float((current.metrics or {}).get("top1", 0)) and top1 >= baseline)
        version = store.save(
            session, principal=principal, name=t.target, model=t.model, source="platform",
            params={"target": t.target, "text": "title+description", "correction_weight": CORRECTION_WEIGHT},
            metrics=t.metrics, data_from=t.data_from, data_to=t.data_to, n_train=t.n_train,
            seconds=t.seconds, activate=activate == "always" or (activate == "better" and better),
            note=None if better else "时间外推评估未优于当前启用版本，未自动启用")
        made.append(version)
    return made


# -- the router the case loop calls -------------------------------------------------------------------------------

class TextRouter:
    """:class:`zhili.cases.suggest.Router` over the active ``category`` and ``department`` models."""

    ttl = 5.0  # seconds an active-version lookup is trusted (activation elsewhere is seen within this)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (database, name) -> (when looked up, (version id, "name@N", model) or None)
        self._active: dict[tuple[str, str], tuple[float, tuple[uuid.UUID, str, Any] | None]] = {}

    def _model(self, session: Session, name: str) -> tuple[uuid.UUID, str, Any] | None:
        key = (str(session.get_bind().engine.url), name)
        now = time.monotonic()
        with self._lock:
            hit = self._active.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        got = store.load_active(session, name)  # the row without its artifact; the model from the process cache
        found = (got[0].id, f"{got[0].name}@{got[0].version}", got[1]) if got is not None else None
        with self._lock:
            self._active[key] = (now, found)
        return found

    def forget(self) -> None:
        with self._lock:
            self._active.clear()

    def advise(self, session: Session, reports: Sequence[suggest.ReportText], *,
               targets: Sequence[str] = ("category",), allowed: dict[str, set[str]] | None = None,
               k: int = 3) -> list[dict[str, suggest.Advice]]:
        out: list[dict[str, suggest.Advice]] = [{} for _ in reports]
        texts = [case_text(r.title, r.description) for r in reports]
        for target in targets:
            found = self._model(session, target)
            if found is None:
                continue
            model_id, label, model = found
            probs = model.proba(texts)
            ok = (allowed or {}).get(target)
            for i, row in enumerate(probs):
                order = [j for j in row.argsort()[::-1] if ok is None or model.labels[j] in ok][:k]
                guesses = tuple(suggest.Guess(code=model.labels[j], p=float(row[j]),
                                              terms=tuple(model.explain(texts[i], model.labels[j], k=4)))
                                for j in order)
                out[i][target] = suggest.Advice(target=target, model_id=model_id, model_label=label,
                                                guesses=guesses)
        return out


ROUTER = TextRouter()


def install() -> None:
    """Plug the routing models into the case loop (the application and the CLI call this at start)."""
    suggest.install(ROUTER)


# -- suggestions on a case, and taking them ---------------------------------------------------------------------

@dataclass(frozen=True)
class Shown:
    code: str
    name: str
    p: float
    terms: list[str]


@dataclass(frozen=True)
class CaseAdvice:
    category: list[Shown]
    department: list[Shown]
    category_model: str | None
    department_model: str | None
    auto_threshold: float
    case_state: str  # what one click may do now (accept under a category, dispatch to a department)
    case_version: int


def _names(session: Session) -> tuple[dict[str, str], dict[str, str]]:
    """The categories a case may be filed under (current, active leaves) and the departments, code → name."""
    return ({c.code: c.name for c in list_categories(session, leaves_only=True)}, department_names(session))


def suggest_text(session: Session, *, principal: Principal, title: str | None, description: str) -> list[Shown]:
    """The top-3 categories for a report being written (the report forms' 智能推荐), by name, with the words that
    drove each; empty without an active model or a description of a few characters. Nothing is stored."""
    authorize(principal, Perm.case_report)
    description = (description or "").strip()[:2000]
    if len(description) < 4:
        return []
    cats, _ = _names(session)
    advice = suggest.advise(session, [suggest.ReportText(title=(title or "")[:200], description=description)],
                            targets=("category",), allowed={"category": set(cats)})[0].get("category")
    return [Shown(g.code, cats[g.code], round(g.p, 3), list(g.terms)) for g in (advice.guesses if advice else ())]


def suggestions_for_case(session: Session, *, principal: Principal, case_id: uuid.UUID) -> CaseAdvice:
    """The top-3 categories and departments the active models suggest for a case (empty lists without a model),
    with names and the words that drove each; remembered on the case (:class:`CaseSuggestion`) so the staff's
    final choice can later be compared with them. For staff of 研判 (``intel:read``) who may see the case."""
    from zhili.core.settings import get_settings

    authorize(principal, Perm.intel_read)
    case = get_case(session, principal=principal, case_id=case_id)
    cats, depts = _names(session)
    advice = suggest.advise(session, [suggest.ReportText(title=case.title, description=case.description,
                                                         channel=case.channel.value, path=case.path,
                                                         at=case.reported_at)],
                            targets=TARGETS, allowed={"category": set(cats), "department": set(depts)})[0]
    shown: dict[str, list[Shown]] = {}
    for target, names in (("category", cats), ("department", depts)):
        a = advice.get(target)
        shown[target] = [Shown(g.code, names.get(g.code, g.code), round(g.p, 3), list(g.terms))
                         for g in (a.guesses if a else ())]
        if a is not None and a.guesses:
            _remember(session, case.id, a)
    return CaseAdvice(category=shown["category"], department=shown["department"],
                      category_model=advice["category"].model_label if "category" in advice else None,
                      department_model=advice["department"].model_label if "department" in advice else None,
                      auto_threshold=get_settings().intel_auto_confidence, case_state=case.state.value,
                      case_version=case.version)


def _remember(session: Session, case_id: uuid.UUID, advice: suggest.Advice) -> None:
    row = session.scalar(select(CaseSuggestion).where(CaseSuggestion.case_id == case_id,
                                                      CaseSuggestion.target == advice.target))
    top = [{"label": g.code, "p": round(g.p, 4), "terms": list(g.terms)} for g in advice.guesses]
    if row is None:
        session.add(CaseSuggestion(case_id=case_id, target=advice.target, model_id=advice.model_id, top=top,
                                   confidence=advice.guesses[0].p))
    elif row.final_label is None:  # a decided suggestion is history: not overwritten by a later model
        row.model_id, row.top, row.confidence = advice.model_id, top, advice.guesses[0].p
    session.flush()


def take_suggestion(session: Session, *, principal: Principal, case_id: uuid.UUID, category_code: str | None = None,
                    department: str | None = None, expected_version: int | None = None) -> Case:
    """One click on a suggestion (采纳): accept the case under ``category_code`` (when it is still 待受理) and/or
    dispatch it to ``department`` (when it is 已受理/退回), through the case engine as that person's own steps —
    who may do it is the workflow's business. The choice is recorded against the suggestions shown."""
    from zhili.cases import engine

    authorize(principal, Perm.intel_read)
    case = get_case(session, principal=principal, case_id=case_id)
    steps: list[tuple[str, dict[str, Any]]] = []
    if category_code and case.state == CaseState.reported:
        steps.append(("accept", {"category_code": category_code, "comment": "采纳智能分拨建议的类别"}))
    if department and case.state in (CaseState.reported, CaseState.accepted, CaseState.returned):
        steps.append(("dispatch", {"department": department, "comment": "采纳智能分拨建议的处置部门"}))
    if not steps:
        raise ValidationFailed("该事件当前状态不能采纳分拨建议", code="suggestion_not_applicable")
    case = engine.take_steps(session, principal=principal, case_id=case_id, steps=steps,
                             expected_version=expected_version)
    now = utcnow()
    for target, chosen in (("category", category_code), ("department", department)):
        if not chosen:
            continue
        row = session.scalar(select(CaseSuggestion).where(CaseSuggestion.case_id == case_id,
                                                          CaseSuggestion.target == target))
        if row is not None and row.final_label is None:
            top = row.top[0].get("label") if row.top else None
            row.final_label, row.corrected = chosen, chosen != top
            row.decided_by, row.decided_at = principal.username, now
    audit.record(session, actor=principal.actor, action="intel.take_suggestion", object_type="case",
                 object_id=case_id, after={"category": category_code, "department": department})
    session.flush()
    return case


def settle_suggestions(session: Session) -> int:
    """Record the final label of every remembered suggestion whose case has moved on (accepted under a category,
    dispatched to a department) — corrections made by the ordinary accept and dispatch steps. Run before training;
    returns the rows settled."""
    n = 0
    pending = session.execute(
        select(CaseSuggestion, Case.category_code, Case.assignee_department, Case.state)
        .join(Case, Case.id == CaseSuggestion.case_id).where(CaseSuggestion.final_label.is_(None))).all()
    for row, category, department, state in pending:
        final = category if row.target == "category" and state != CaseState.reported else \
            department if row.target == "department" else None
        if final:
            top = row.top[0].get("label") if row.top else None
            row.final_label, row.corrected, row.decided_at = final, final != top, utcnow()
            n += 1
    session.flush()
    return n
