"""IoT perception pages (物联感知, iot:read within one's jurisdiction): the device map (Leaflet, markers coloured
by status 在线/离线/告警/停用), the device list (type, status, unit, search, pages), a device's page (its facts, its
recent messages — rejected ones with the Chinese reason — and its alerts with their cases) and the alerts list
(open first). The administrators' pages (rules, types, import) are :mod:`pages_iot_rules`. Thin routes over
:mod:`zhili.iot`; every name is looked up here from the services that own it (types, units, categories, cases),
so no page shows a code or an id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, Response

from zhili.core.security import Role
from zhili.http.deps import Db
from zhili.iot import alerts as iot_alerts
from zhili.iot import devices as iot_devices
from zhili.iot import types as iot_types
from zhili.regions import picker as unit_picker
from zhili.web import casepages as cp
from zhili.web import iotview as iv
from zhili.web.adminkit import query_text
from zhili.web.deps import PageUser
from zhili.web.render import render, tr

router = APIRouter(prefix="/console/iot")

PAGE_SIZE = 30

# where a role opens a case: the console's case page, or the grid worker's own
CASE_PAGES = {Role.command_centre: "/console/cases/", Role.street_staff: "/console/cases/",
              Role.community_staff: "/console/cases/", Role.leader: "/console/cases/", Role.admin: "/console/cases/",
              Role.grid_worker: "/gw/cases/"}


@dataclass(frozen=True)
class DeviceRow:
    """A device as the list, the map and its page show it: names, not codes."""

    id: uuid.UUID
    device_key: str
    name: str
    type_name: str
    unit_name: str
    address: str | None
    display_status: str
    last_seen_at: Any
    lon: float | None
    lat: float | None


class Names:
    """The names the IoT pages need, read once per request from the services that own them."""

    def __init__(self, session: Any, pu: PageUser) -> None:
        self.types = sorted(iot_types.list_types(session, principal=pu.principal), key=lambda t: t.name)
        self.type_by_id = {t.id: t for t in self.types}
        self.session = session
        self._units: dict[uuid.UUID, str] = {}

    def units(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        missing = [i for i in set(ids) if i not in self._units]
        if missing:
            self._units.update({u.id: u.name for u in unit_picker.units_named(self.session, ids=missing)})
        return self._units

    def rows(self, devices: list[Any], alarmed: set[uuid.UUID]) -> list[DeviceRow]:
        units = self.units([d.unit_id for d in devices])
        return [DeviceRow(id=d.id, device_key=d.device_key, name=d.name,
                          type_name=getattr(self.type_by_id.get(d.type_id), "name", "—"),
                          unit_name=units.get(d.unit_id, "—"), address=d.address,
                          display_status=display_status(d, alarmed), last_seen_at=d.last_seen_at, lon=d.lon,
                          lat=d.lat) for d in devices]


def display_status(device: Any, alarmed: set[uuid.UUID]) -> str:
    """停用 over 告警 over 离线 over 在线."""
    status = getattr(device.status, "value", device.status)
    if status == "disabled":
        return "disabled"
    if device.id in alarmed:
        return "alarm"
    return "offline" if status == "offline" else "active"


def _unit_path(session: Any, pu: PageUser, unit_id: str) -> str | None:
    """The path of a unit chosen in a filter (only one of the principal's filter units counts)."""
    if not unit_id:
        return None
    for u in unit_picker.filter_units(session, principal=pu.principal):
        if str(u.id) == unit_id:
            return str(u.path)
    return None


def _devices(session: Any, pu: PageUser, *, type_code: str = "", status: str = "", unit_id: str = "",
             q: str = "") -> tuple[Names, list[DeviceRow]]:
    """The jurisdiction's devices matching the filters, with their names; status 告警 = an open alert."""
    names = Names(session, pu)
    alarmed = iot_alerts.alerted_device_ids(session, principal=pu.principal)
    stored = "" if status == "alarm" else status
    devices = iot_devices.list_devices(session, principal=pu.principal, type_code=type_code or None,
                                       status=stored or None, unit_path=_unit_path(session, pu, unit_id),
                                       q=q or None, limit=iot_devices.LIST_MAX)
    rows = names.rows(devices, alarmed)
    if status:
        rows = [r for r in rows if r.display_status == status]
    return names, rows


def _filters(type_: str | None, status: str | None, unit_id: str | None, q: str | None) -> dict[str, str]:
    st = query_text(status, 16)
    return {"type": query_text(type_, 32), "status": st if st in iv.STATUSES else "",
            "unit_id": query_text(unit_id, 40), "q": query_text(q, 64)}


# -- the map ------------------------------------------------------------------------------------------------

@router.get("/")
def home(request: Request, session: Db, pu: iv.ReadUser) -> Response:
    names = Names(session, pu)
    counts = iot_devices.count_by_status(session, principal=pu.principal)
    alarmed = iot_alerts.alerted_device_ids(session, principal=pu.principal)
    open_alerts = iot_alerts.count_open(session, principal=pu.principal)
    by_status = {"active": counts.get("active", 0), "offline": counts.get("offline", 0),
                 "disabled": counts.get("disabled", 0), "alarm": len(alarmed)}
    return render(request, "iot/map.html", {
        "can_admin": iv.can_admin(pu), "types": names.types, "statuses": iv.STATUSES,
        "summary": {"total": sum(counts.values()), "by_status": by_status, "open_alerts": open_alerts}})


@router.get("/devices.geojson")
def devices_geojson(request: Request, session: Db, pu: iv.ReadUser,
                    type: Annotated[str | None, Query(max_length=32)] = None,  # noqa: A002 (the query name)
                    status: Annotated[str | None, Query(max_length=16)] = None) -> Response:
    """The placed devices as GeoJSON points (names and the status to colour them by; the popup is built from
    text by ``static/iot.js``)."""
    f = _filters(type, status, None, None)
    _, rows = _devices(session, pu, type_code=f["type"], status=f["status"])
    placed = [r for r in rows if r.lon is not None and r.lat is not None]
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]},
                 "properties": {"name": r.name, "type": r.type_name, "unit": r.unit_name,
                                "status": r.display_status, "status_name": tr(request, f"iot.status.{r.display_status}"),
                                "last_seen": _seen(request, r.last_seen_at), "url": f"/console/iot/devices/{r.id}"}}
                for r in placed]
    return JSONResponse({"type": "FeatureCollection", "features": features,
                         "summary": tr(request, "iot.map.count", shown=len(placed), unplaced=len(rows) - len(placed))},
                        headers={"Cache-Control": "no-store"})


def _seen(request: Request, at: Any) -> str:
    from zhili.web.render import env

    return env.filters["localtime"](at) if at else tr(request, "iot.status.never")


# -- the list -----------------------------------------------------------------------------------------------

@router.get("/devices")
def devices(request: Request, session: Db, pu: iv.ReadUser,
            type: Annotated[str | None, Query(max_length=32)] = None,  # noqa: A002
            status: Annotated[str | None, Query(max_length=16)] = None,
            unit_id: Annotated[str | None, Query(max_length=40)] = None,
            q: Annotated[str | None, Query(max_length=64)] = None,
            page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    f = _filters(type, status, unit_id, q)
    names, rows = _devices(session, pu, type_code=f["type"], status=f["status"], unit_id=f["unit_id"], q=f["q"])
    pages = cp.pages(len(rows), PAGE_SIZE)
    page = min(page, pages)
    return render(request, "iot/devices.html", {
        "can_admin": iv.can_admin(pu), "rows": rows[(page - 1) * PAGE_SIZE:page * PAGE_SIZE], "total": len(rows),
        "filters": f, "types": names.types, "statuses": iv.STATUSES,
        "units": unit_picker.filter_units(session, principal=pu.principal) if pu.principal.scope_paths else [],
        "page": page, "pages": pages, "pager_query": _pager_query(f)})


def _pager_query(filters: dict[str, str]) -> str:
    q = urlencode({k: v for k, v in filters.items() if v})
    return q + "&" if q else ""


# -- a device -----------------------------------------------------------------------------------------------

@router.get("/devices/{device_id}")
def device(request: Request, session: Db, pu: iv.ReadUser, device_id: uuid.UUID) -> Response:
    d = iot_devices.get_device(session, principal=pu.principal, device_id=device_id)
    names = Names(session, pu)
    dtype = names.type_by_id.get(d.type_id)
    alerts = iot_alerts.list_alerts(session, principal=pu.principal, device_id=d.id, limit=50)
    alarmed = {d.id} if any(getattr(a.state, "value", a.state) == "open" for a in alerts) else set()
    messages = iot_devices.recent_messages(session, principal=pu.principal, device_id=d.id, limit=50)
    view = iot_devices.device_facts(session, principal=pu.principal, device=d)
    return render(request, "iot/device.html", {
        "can_admin": iv.can_admin(pu),
        "device": {"name": d.name, "device_key": d.device_key, "type_name": getattr(dtype, "name", "—"),
                   "unit_name": names.units([d.unit_id]).get(d.unit_id, "—"), "address": d.address,
                   "building_name": view.get("building_name"), "room_address": view.get("room_address"),
                   "owner": d.owner, "heartbeat_s": d.heartbeat_s or getattr(dtype, "heartbeat_s", 0),
                   "last_seen_at": d.last_seen_at, "installed_at": d.installed_at, "lon": d.lon, "lat": d.lat,
                   "note": d.note, "display_status": display_status(d, alarmed)},
        "alerts": _alert_rows(session, pu, names, alerts),
        "messages": [{"received_at": m.received_at, "kind": m.kind, "accepted": m.accepted, "reason": m.reason,
                      "payload_text": iv.payload_text(m.payload, m.raw)} for m in messages],
        "message_kinds": iv.MESSAGE_KINDS, "alert_kinds": iv.ALERT_KINDS,
        "case_base": CASE_PAGES.get(pu.principal.role, "")})


# -- alerts -------------------------------------------------------------------------------------------------

def _alert_rows(session: Any, pu: PageUser, names: Names, alerts: list[Any]) -> list[dict[str, Any]]:
    """Alerts with the names of their device, type, unit, rule and the number of their case."""
    views = iot_alerts.alert_views(session, principal=pu.principal, alerts=alerts)
    units = names.units([a.unit_id for a in alerts])
    out = []
    for a, v in zip(alerts, views, strict=True):
        out.append({"title": a.title, "kind": a.kind, "rule_name": v.get("rule_name"), "device_id": a.device_id,
                    "device_name": v.get("device_name", "—"), "type_name": v.get("type_name", "—"),
                    "unit_name": units.get(a.unit_id, "—"), "severity": getattr(a.severity, "value", a.severity),
                    "state": getattr(a.state, "value", a.state), "count": a.count, "first_at": a.first_at,
                    "last_at": a.last_at, "closed_at": a.closed_at, "case_id": a.case_id,
                    "case_number": v.get("case_number")})
    return out


@router.get("/alerts")
def alerts(request: Request, session: Db, pu: iv.ReadUser,
           state: Annotated[str | None, Query(max_length=16)] = None,
           type: Annotated[str | None, Query(max_length=32)] = None,  # noqa: A002
           severity: Annotated[str | None, Query(max_length=16)] = None,
           unit_id: Annotated[str | None, Query(max_length=40)] = None,
           page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    f = {"state": query_text(state, 16), "type": query_text(type, 32), "severity": query_text(severity, 16),
         "unit_id": query_text(unit_id, 40)}
    f["state"] = f["state"] if f["state"] in iv.ALERT_STATES else ""
    f["severity"] = f["severity"] if f["severity"] in iv.SEVERITIES else ""
    names = Names(session, pu)
    listed = iot_alerts.list_alerts(session, principal=pu.principal, state=f["state"] or None,
                                    type_code=f["type"] or None, severity=f["severity"] or None,
                                    unit_path=_unit_path(session, pu, f["unit_id"]), limit=iot_alerts.LIST_MAX)
    pages = cp.pages(len(listed), PAGE_SIZE)
    page = min(page, pages)
    shown = listed[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    return render(request, "iot/alerts.html", {
        "can_admin": iv.can_admin(pu), "alerts": _alert_rows(session, pu, names, shown), "total": len(listed),
        "filters": f, "types": names.types, "severities": iv.SEVERITIES, "alert_states": iv.ALERT_STATES,
        "alert_kinds": iv.ALERT_KINDS, "case_base": CASE_PAGES.get(pu.principal.role, ""),
        "units": unit_picker.filter_units(session, principal=pu.principal) if pu.principal.scope_paths else [],
        "page": page, "pages": pages, "pager_query": _pager_query(f)})
