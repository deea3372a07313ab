"""The command-centre screen (``/screen``): a dark dashboard drawn by ``static/screen.js`` from the
``/api/v1/dashboard`` figures and the region boundaries; the page itself only carries the starting unit. Designed
for the 1920×1080 command-centre wall, it scales with the window from a 1280 px laptop to a 3840 px wall
(``static/screen.css``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, Response

from zhili.core.errors import Forbidden
from zhili.core.security import Perm
from zhili.dashboard import service as dashboard
from zhili.http.deps import ReplicaDb
from zhili.web import pages_iot
from zhili.web.deps import CurrentPageUser
from zhili.web.pages_console import CASE_ROLES
from zhili.web.render import render, tr

router = APIRouter()

REFRESH_SECONDS = 60


@router.get("/screen")
def screen(request: Request, session: ReplicaDb, pu: CurrentPageUser,
           unit_id: Annotated[uuid.UUID | None, Query()] = None) -> Response:
    """The screen, starting at the principal's top unit or at ``unit_id`` (a deep link; 404 outside the area)."""
    if not pu.principal.can(Perm.dashboard_read) or not pu.principal.scope_paths:
        raise Forbidden(tr(request, "screen.forbidden"), code="wrong_portal")
    start = dashboard.resolve_unit(session, pu.principal, unit_id)
    return render(request, "screen/screen.html", {
        "root": dashboard.unit_ref(start), "stack": dashboard.breadcrumb(session, pu.principal, start),
        "refresh_seconds": REFRESH_SECONDS,
        "can_intel": pu.principal.can(Perm.intel_read),  # the 热点问题 list (zhili.intel)
        "can_iot": pu.principal.can(Perm.iot_read),  # the device-alert panel (zhili.iot)
        "can_console": pu.principal.role.value in ("command_centre", "street_staff", "community_staff", "admin"),
        # a case dot at grid level opens the case page, for the roles that have one (the dots are cases of a grid
        # in the viewer's jurisdiction, so the page opens for them)
        "case_url": "/console/cases/" if pu.principal.role in CASE_ROLES else "",
    })


@router.get("/screen/iot.json")
def screen_iot(request: Request, session: ReplicaDb, pu: CurrentPageUser,
               unit_id: Annotated[uuid.UUID | None, Query()] = None) -> Response:
    """The device-alert panel's figures for the unit on screen (物联感知: open alerts by type, offline devices)."""
    if not (pu.principal.can(Perm.dashboard_read) and pu.principal.can(Perm.iot_read)) \
            or not pu.principal.scope_paths:
        raise Forbidden(tr(request, "screen.forbidden"), code="wrong_portal")
    unit = dashboard.resolve_unit(session, pu.principal, unit_id)
    return JSONResponse(pages_iot.screen_figures(session, pu, unit_path=unit.path),
                        headers={"Cache-Control": "no-store"})
