"""The 4E equity page (公平性分析, eval:read): for one indicator of a period's current run, the Lorenz curve, Gini and
Theil across the grids of the caller's area (or a chosen unit), Theil's split between and within communities, the
worst decile's gap, and the lagging grids with the indicators behind their gap. A thin route over
:func:`zhili.evaluation.analysis.equity_report`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from starlette.responses import Response

from zhili.core.clock import today
from zhili.core.errors import DomainError
from zhili.core.security import Perm
from zhili.evaluation import analysis, periods
from zhili.evaluation.models import Run
from zhili.http.deps import ReplicaDb
from zhili.web import messages_evaladmin  # noqa: F401  (registers this section's messages)
from zhili.web.adminkit import perm_gate, query_text
from zhili.web.deps import PageUser
from zhili.web.render import render

router = APIRouter(prefix="/console/eval")

EvalReader = Annotated[PageUser, Depends(perm_gate(lambda pu: pu.principal.can(Perm.eval_read),
                                                   "eval.forbidden"))]
DEFAULT_INDICATOR = "E2_RESOLVE_TIME"


def _periods(session: Any) -> list[tuple[str, str, bool]]:
    """(period, label, whether it has ended), newest first."""
    rows = session.execute(select(Run.period, Run.end_day).where(Run.is_current.is_(True))
                           .order_by(Run.end_day.desc(), Run.period_kind)).all()
    out: list[tuple[str, str, bool]] = []
    for k, end in dict.fromkeys((r.period, r.end_day) for r in rows):
        try:
            out.append((k, periods.parse(k).label, end < today()))
        except DomainError:
            continue
    return out


@router.get("/equity")
def equity_page(request: Request, session: ReplicaDb, pu: EvalReader,
                period: Annotated[str | None, Query(max_length=10)] = None,
                indicator: Annotated[str | None, Query(max_length=40)] = None,
                unit: Annotated[str | None, Query(max_length=32)] = None,
                weighting: Annotated[str | None, Query(max_length=12)] = None) -> Response:
    choices = _periods(session)
    months = [(k, ended) for k, _label, ended in choices if "-" in k and "Q" not in k]
    # the newest month that has ended: the month in progress lacks its data sets and half its cases
    chosen = query_text(period, 10) or next((k for k, ended in months if ended), months[0][0] if months else "")
    code = query_text(indicator, 40) or DEFAULT_INDICATOR
    report: dict[str, Any] | None = None
    error: str | None = None
    indicators: list[dict[str, Any]] = []
    if chosen:
        try:
            run = analysis.current_run(session, pu.principal, chosen)
            indicators = list(run.framework.get("indicators") or [])
            report = analysis.equity_report(session, pu.principal, period=chosen, indicator=code,
                                            unit_code=query_text(unit, 32) or None,
                                            weighting=query_text(weighting, 12) or "population")
        except DomainError as exc:
            error = exc.message
    chart = None
    if report:
        chart = {"lorenz": report["lorenz"],
                 "groups": [{"name": g["name"], "contribution": g["contribution"]}
                            for g in ((report.get("decomposition") or {}).get("groups") or [])]}
    return render(request, "eval/equity.html", {
        "section": "equity", "can_admin": pu.principal.can(Perm.eval_admin), "periods": choices,
        "period": chosen, "indicator": code, "indicators": indicators, "unit": query_text(unit, 32),
        "weighting": query_text(weighting, 12) or "population", "report": report, "error": error, "chart": chart,
    })
