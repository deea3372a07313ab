"""The data hub's home (``/console/hub/``): the sources of the caller's area with their last import, links to
every hub page, and the form that registers a source (``hub:admin``). Everything goes through
:mod:`zhili.datahub.sources`; the sections' own pages live in ``pages_hub_*``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import func, select
from starlette.responses import Response

from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError, Forbidden
from zhili.core.security import Perm
from zhili.datahub import sources
from zhili.datahub.models import Import, SecurityLevel, Target
from zhili.http.deps import Db
from zhili.web import messages_hub  # noqa: F401  (registers the UI text)
from zhili.web.deps import CurrentPageUser, PageUser
from zhili.web.render import redirect, render, tr

router = APIRouter()


def rule_label(code: str) -> str:
    """The Chinese name of a quarantine rule (:func:`zhili.datahub.rules.rule_name`: the one table)."""
    from zhili.datahub.rules import rule_name

    return rule_name(code)


def name_rules(items: list[dict[str, Any]], key: str = "rule", name: str = "name") -> list[dict[str, Any]]:
    """``items`` with ``name`` set to :func:`rule_label` of their ``key`` (copies; the input is left alone)."""
    return [{**it, name: rule_label(str(it.get(key) or ""))} for it in items]


def _hub_gate(request: Request, pu: CurrentPageUser) -> PageUser:
    if not pu.principal.can(Perm.hub_read):
        raise Forbidden(tr(request, "hub.forbidden"), code="wrong_portal")
    return pu


HubReader = Annotated[PageUser, Depends(_hub_gate)]


def _last_imports(session: Any, source_ids: list[uuid.UUID]) -> dict[uuid.UUID, Import]:
    if not source_ids:
        return {}
    latest = (select(Import.source_id, func.max(Import.started_at).label("at"))
              .where(Import.source_id.in_(source_ids)).group_by(Import.source_id).subquery())
    rows = session.scalars(select(Import).join(latest, (Import.source_id == latest.c.source_id)
                                               & (Import.started_at == latest.c.at)))
    return {r.source_id: r for r in rows}


def _home(request: Request, session: Any, pu: PageUser, *, errors: dict[str, str] | None = None,
          values: dict[str, Any] | None = None, status: int = 200) -> Response:
    rows = sources.list_sources(session, principal=pu.principal)
    units = [(u_id, path) for u_id, path in zip(pu.principal.unit_ids, pu.principal.scope_paths, strict=False)]
    from zhili.regions.models import Unit

    unit_names = {u.id: u.name for u in session.scalars(select(Unit).where(Unit.id.in_([u for u, _ in units])))}
    return render(request, "hub/home.html", {
        "sources": rows, "last": _last_imports(session, [r.id for r in rows]),
        "can_admin": pu.principal.can(Perm.hub_admin), "can_review": pu.principal.can(Perm.hub_review),
        "targets": [t.value for t in Target],
        "levels": [lv.value for lv in SecurityLevel], "units": [(u, unit_names.get(u, "")) for u, _ in units],
        "errors": errors or {}, "values": values or {"security_level": "internal", "trust": 50},
    }, status=status)


@router.get("/console/hub/")
def hub_home(request: Request, session: Db, pu: HubReader) -> Response:
    return _home(request, session, pu)


@router.post("/console/hub/sources")
def hub_source_create(request: Request, session: Db, pu: HubReader, name: Annotated[str, Form()] = "",
                      title: Annotated[str, Form()] = "", target: Annotated[str, Form()] = "",
                      security_level: Annotated[str, Form()] = "internal",
                      unit_id: Annotated[str, Form()] = "", system_name: Annotated[str, Form()] = "",
                      contact: Annotated[str, Form()] = "", refresh_days: Annotated[str, Form()] = "",
                      trust: Annotated[str, Form()] = "50") -> Response:
    values = {"name": name.strip(), "title": title.strip(), "target": target, "security_level": security_level,
              "unit_id": unit_id, "system_name": system_name.strip() or None, "contact": contact.strip() or None,
              "refresh_days": refresh_days, "trust": trust}
    errors: dict[str, str] = {}
    try:
        data: dict[str, Any] = dict(values)
        data["unit_id"] = uuid.UUID(unit_id) if unit_id else (pu.principal.unit_ids or [None])[0]
        data["refresh_days"] = int(refresh_days) if refresh_days.strip() else None
        data["trust"] = int(trust) if trust.strip() else 50
        if target not in Target.__members__:
            errors["target"] = tr(request, "hub.source_target")
        if security_level not in SecurityLevel.__members__:
            errors["security_level"] = tr(request, "hub.source_security")
        if not title.strip():
            errors["title"] = tr(request, "hub.source_title")
        if not errors:
            sources.create_source(session, principal=pu.principal, data=data)
            return redirect("/console/hub/?msg=hub_source_created")
    except ValueError:
        errors["form"] = tr(request, "error.invalid_data")
    except DomainError as exc:
        roll_back_refused(session)
        if isinstance(exc, Forbidden):
            raise
        errors["form"] = exc.message
    return _home(request, session, pu, errors=errors, values=values, status=422)
