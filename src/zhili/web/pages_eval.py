"""4E evaluation pages (4E 评估): a unit's scorecard (unit and period pickers, a radar of the four dimensions, the
indicator table with value, target, score, rank and trend arrow, the units below, a 12-period trend), an
indicator's drill-down (definition, formula, scoring, the figures behind the value, the units below, the period's
cases), the ranking page with its map coloured by score, and the report as Excel or PDF. Thin routes over
:mod:`zhili.evaluation.reads` and :mod:`zhili.evaluation.report`; units and periods travel in links by code, the
pages show names."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import JSONResponse, Response

from zhili.core.errors import NotFound
from zhili.core.security import Perm
from zhili.evaluation import labels as lb
from zhili.evaluation import reads
from zhili.evaluation import report as eval_report
from zhili.http.deps import ReplicaDb
from zhili.web import (
    messages_eval,  # noqa: F401  (registers this page's messages)
    messages_evaladmin,  # noqa: F401  (the section's tabs and shared words)
)
from zhili.web.adminkit import perm_gate
from zhili.web.deps import PageUser
from zhili.web.pages_console import CASE_ROLES
from zhili.web.render import render

router = APIRouter(prefix="/console/eval")
Reader = Annotated[PageUser, Depends(perm_gate(lambda pu: pu.principal.can(Perm.eval_read), "eval.forbidden"))]
Text = Annotated[str | None, Query(max_length=40)]


def _link(path: str, **params: Any) -> str:
    pairs = [(k, str(v)) for k, v in params.items() if v not in (None, "")]
    return f"/console/eval{path}" + (f"?{urlencode(pairs)}" if pairs else "")


def _frame(pu: PageUser, section: str) -> dict[str, Any]:
    """What the section's frame (``eval/_layout.html``) needs: the current tab, whether to show the admin tabs."""
    return {"section": section, "can_admin": pu.principal.can(Perm.eval_admin)}


def _empty(request: Request, pu: PageUser, title_key: str, section: str) -> Response:
    return render(request, "eval/empty.html", {"title_key": title_key, **_frame(pu, section)})


@router.get("/")
def scorecard(request: Request, session: ReplicaDb, pu: Reader, unit: Text = None, period: Text = None) -> Response:
    p = pu.principal
    try:
        card = reads.scorecard(session, principal=p, unit_code=unit or None, period=period or None)
    except NotFound as exc:
        if exc.code != "eval_no_run":
            raise
        return _empty(request, pu, "eval.title", "scorecard")
    per, code = card["run"]["period"], card["unit"]["code"]
    chart = {"radar": [{"name": d["name"], "value": d["score"]} for d in card["dimensions"]],
             "trend": {"labels": [t["label"] for t in card["trend"]],
                       "series": [{"name": "综合得分", "data": [t["total"] for t in card["trend"]]}] + [
                           {"name": name, "data": [t["dimensions"].get(c) for t in card["trend"]]}
                           for c, name in card["dimension_names"].items()]}}
    return render(request, "eval/scorecard.html", {
        **_frame(pu, "scorecard"), "card": card, "chart": chart,
        "periods": reads.periods(session, principal=p),
        "units": reads.unit_choices(session, principal=p, period=per),
        "link": _link, "fmt_score": lb.format_score, "fmt_num": lb.format_number,
        "xlsx_url": _link("/report", unit=code, period=per, format="xlsx"),
        "pdf_url": _link("/report", unit=code, period=per, format="pdf"),
        "ranking_url": _link("/ranking", period=per, level=card["unit"]["level"]),
    })


@router.get("/indicator")
def indicator(request: Request, session: ReplicaDb, pu: Reader, indicator: Text = None, unit: Text = None,
              period: Text = None) -> Response:
    try:
        d = reads.indicator_detail(session, principal=pu.principal, unit_code=unit or None, period=period or None,
                                   indicator=indicator or "")
    except NotFound as exc:
        if exc.code != "eval_no_run":
            raise
        return _empty(request, pu, "eval.detail_title", "scorecard")
    can_cases = pu.principal.role in CASE_ROLES
    return render(request, "eval/indicator.html", {
        **_frame(pu, "scorecard"), "d": d, "link": _link, "fmt_score": lb.format_score, "fmt_num": lb.format_number,
        "cases_url": d["cases_url"] if can_cases else None,
        "back_url": _link("/", unit=d["unit"]["code"], period=d["run"]["period"]),
    })


@router.get("/ranking")
def ranking(request: Request, session: ReplicaDb, pu: Reader, period: Text = None, level: Text = None,
            node: Text = None, parent: Text = None) -> Response:
    p = pu.principal
    try:
        data = reads.ranking(session, principal=p, period=period or None, level=level or "community",
                             parent_code=parent or None, node=node or "total", geo=False)
    except NotFound as exc:
        if exc.code != "eval_no_run":
            raise
        return _empty(request, pu, "eval.ranking_title", "ranking")
    run = data["run"]
    params = {"period": run["period"], "level": data["level"], "node": data["node"], "parent": parent or None}
    return render(request, "eval/ranking.html", {
        **_frame(pu, "ranking"), "data": data, "periods": reads.periods(session, principal=p), "nodes": data["nodes"],
        "levels": [(lv, lb.LEVEL_NAMES[lv]) for lv in lb.LEVEL_ORDER],
        "units": reads.unit_choices(session, principal=p, period=run["period"]), "parent": parent or "",
        "geo_url": _link("/ranking.geojson", **params), "link": _link, "fmt_score": lb.format_score,
        "fmt_num": lb.format_number,
    })


@router.get("/ranking.geojson")
def ranking_geojson(session: ReplicaDb, pu: Reader, period: Text = None, level: Text = None, node: Text = None,
                    parent: Text = None) -> Response:
    data = reads.ranking(session, principal=pu.principal, period=period or None, level=level or "community",
                         parent_code=parent or None, node=node or "total")
    return JSONResponse(data["geojson"], headers={"Cache-Control": "private, max-age=60"})


def attachment(name: str, fallback: str) -> str:
    """A Content-Disposition naming the file in Chinese (RFC 5987 ``filename*``) with an ASCII fallback."""
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get("/report")
def report(session: ReplicaDb, pu: Reader, unit: Text = None, period: Text = None, format: Text = None) -> Response:
    """The unit's report for the period as an Excel workbook or a PDF (audited by the service)."""
    fmt = (format or "xlsx").lower()
    data, media, name = eval_report.report(session, principal=pu.principal, unit_code=unit or None,
                                           period=period or None, fmt=fmt)
    return Response(data, media_type=media, headers={
        "Content-Disposition": attachment(name, f"eval-report.{fmt}"), "Cache-Control": "no-store"})
