"""Data-quality pages (数据质量): the overview of the caller's sources (``/console/hub/quality``) and one source's
report with its trend chart (``/console/hub/quality/{source_id}``). Everything comes from
:mod:`zhili.datahub.quality`; the import page includes ``hub/_import_quality.html`` (see that template)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from starlette.responses import Response

from zhili.datahub import quality
from zhili.http.deps import Db
from zhili.web import messages_hub_quality  # noqa: F401  (registers the UI text)
from zhili.web.pages_hub import HubReader, name_rules
from zhili.web.render import render

router = APIRouter()


@router.get("/console/hub/quality")
def quality_overview(request: Request, session: Db, pu: HubReader) -> Response:
    rows = quality.overview(session, principal=pu.principal)
    return render(request, "hub/quality.html", {"rows": rows})


@router.get("/console/hub/quality/{source_id}")
def quality_source(request: Request, session: Db, pu: HubReader, source_id: uuid.UUID) -> Response:
    report = quality.source_quality(session, principal=pu.principal, source_id=source_id)
    if report.get("validity"):
        report = {**report, "validity": {**report["validity"], "rules": name_rules(report["validity"]["rules"])}}
    if report.get("open_quarantine"):
        report = {**report, "open_quarantine": name_rules(report["open_quarantine"])}
    chart = [{"at": p["at_local"], "completeness": p["completeness"], "validity": p["validity"],
              "quarantined": p["quarantined"]} for p in report["trend"]]
    return render(request, "hub/quality_source.html", {"q": report, "chart": chart})
