"""IoT perception pages (物联感知, iot:read within one's jurisdiction): the device map (Leaflet, markers coloured
by status 在线/离线/告警/停用), the device list (type, status, unit, search, pages), a device's page (its facts, its
recent messages — rejected ones with the Chinese reason — and its alerts with their cases) and the alerts list
(open first). The administrators' pages (rules, types, import) are :mod:`pages_iot_rules`. Thin routes over
:mod:`zhili.iot`; every name is looked up here from the services that own it (types, units, categories, cases),
so no page shows a code or an id."""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, Response

from zhili.cases import reads as case_reads
from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError, NotFound
from zhili.core.security import Perm, Role
from zhili.http.deps import Db
from zhili.iot import alerts as iot_alerts
from zhili.iot import devices as iot_devices
from zhili.iot import rules as iot_rules
from zhili.iot import types as iot_types
from zhili.iot import views as iot_views
from zhili.regions import picker as unit_picker
from zhili.registry import service as registry
from zhili.rental import locks as rental_locks
from zhili.web import casepages as cp
from zhili.web import iotview as iv
from zhili.web.adminkit import query_text
from zhili.web.deps import PageUser
from zhili.web.render import env, redirect, render, safe_next, tr

router = APIRouter(prefix="/console/iot")

PAGE_SIZE = 30
MAP_MAX = 2000  # the points the map loads (the summary says when there are more: filter by type or status)
DEVICE_ALERTS, DEVICE_MESSAGES = 50, 50

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
    """What the IoT pages look up once per request from the services that own it: the device types and unit names
    (devices, alerts and counts come paged and counted from the services, never filtered here)."""

    def __init__(self, session: Any, pu: PageUser) -> None:
        self.session, self.pu = session, pu
        self.types = sorted(iot_types.list_types(session, principal=pu.principal), key=lambda t: t.name)
        self.type_by_id = {t.id: t for t in self.types}
        self.type_by_code = {t.code: t for t in self.types}
        self._units: dict[uuid.UUID, str] = {}

    def units(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        missing = [i for i in set(ids) if i and i not in self._units]
        if missing:
            self._units.update({u.id: u.name for u in unit_picker.units_named(self.session, ids=missing)})
        return self._units

    def rows(self, devices: list[Any]) -> list[DeviceRow]:
        """The devices as rows, 告警 for those (of these) with an open alert."""
        alarmed = iot_alerts.alarmed_devices(self.session, principal=self.pu.principal,
                                             device_ids=[d.id for d in devices]) if devices else set()
        return [DeviceRow(id=v["id"], device_key=v["device_key"], name=v["name"], type_name=v["type_name"] or "—",
                          unit_name=v["unit_name"] or "—", address=v["address"],
                          display_status=display_status(d, alarmed), last_seen_at=v["last_seen_at"], lon=v["lon"],
                          lat=v["lat"]) for d, v in zip(devices, iot_views.device_views(self.session, devices),
                                                        strict=True)]


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


def _device_page(session: Any, pu: PageUser, f: dict[str, str], *, page: int, page_size: int,
                 placed: bool | None = None) -> tuple[list[Any], int, int]:
    """One page of the jurisdiction's devices matching the filters (in the service's query), its total and the
    page number (the last one when ``page`` is past it)."""
    kw: dict[str, Any] = {"type_code": f["type"] or None, "shown": f["status"] or None,
                          "unit_path": _unit_path(session, pu, f.get("unit_id", "")), "q": f.get("q") or None,
                          "placed": placed}
    devices, total = iot_devices.page_devices(session, principal=pu.principal, page=page, page_size=page_size, **kw)
    last = cp.pages(total, page_size)
    if page > last:
        page = last
        devices, total = iot_devices.page_devices(session, principal=pu.principal, page=page, page_size=page_size,
                                                  **kw)
    return devices, total, page


def _filters(type_: str | None, status: str | None, unit_id: str | None, q: str | None) -> dict[str, str]:
    st = query_text(status, 16)
    return {"type": query_text(type_, 32), "status": st if st in iv.STATUSES else "",
            "unit_id": query_text(unit_id, 40), "q": query_text(q, 64)}


# -- the map ------------------------------------------------------------------------------------------------

@router.get("/")
def home(request: Request, session: Db, pu: iv.ReadUser) -> Response:
    names = Names(session, pu)
    figures = iot_devices.device_figures(session, principal=pu.principal)
    open_alerts = sum(iot_alerts.open_alerts_by_type(session, principal=pu.principal).values())
    return render(request, "iot/map.html", {
        "can_admin": iv.can_admin(pu), "types": names.types, "statuses": iv.STATUSES,
        "summary": {"total": figures.total, "by_status": figures.by_shown, "open_alerts": open_alerts}})


@router.get("/devices.geojson")
def devices_geojson(request: Request, session: Db, pu: iv.ReadUser,
                    type: Annotated[str | None, Query(max_length=32)] = None,
                    status: Annotated[str | None, Query(max_length=16)] = None) -> Response:
    """The placed devices as GeoJSON points (names and the status to colour them by; the popup is built from
    text by ``static/iot.js``) — at most :data:`MAP_MAX`, and the summary says so when there are more."""
    f = _filters(type, status, None, None)
    names = Names(session, pu)
    devices, placed_total, _ = _device_page(session, pu, f, page=1, page_size=MAP_MAX, placed=True)
    unplaced = iot_devices.count_devices(session, principal=pu.principal, type_code=f["type"] or None,
                                         shown=f["status"] or None, placed=False)
    rows = [r for r in names.rows(devices) if _on_globe(r.lon, r.lat)]
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]},
                 "properties": {"name": r.name, "type": r.type_name, "unit": r.unit_name,
                                "status": r.display_status,
                                "status_name": tr(request, f"iot.status.{r.display_status}"),
                                "last_seen": _seen(request, r.last_seen_at), "url": f"/console/iot/devices/{r.id}"}}
                for r in rows]
    summary = tr(request, "iot.map.count", shown=len(rows), unplaced=unplaced + len(devices) - len(rows))
    if placed_total > len(devices):
        summary += tr(request, "iot.map.capped", n=len(devices), total=placed_total)
    return JSONResponse({"type": "FeatureCollection", "features": features, "summary": summary},
                        headers={"Cache-Control": "no-store"})


def _on_globe(lon: float | None, lat: float | None) -> bool:
    """A point a map can place (a stored NaN, infinity or off-globe value is left off, like a missing one)."""
    return lon is not None and lat is not None and math.isfinite(lon) and math.isfinite(lat) \
        and -180 <= lon <= 180 and -90 <= lat <= 90


def _seen(request: Request, at: Any) -> str:
    return env.filters["localtime"](at) if at else tr(request, "iot.status.never")


# -- the list -----------------------------------------------------------------------------------------------

@router.get("/devices")
def devices(request: Request, session: Db, pu: iv.ReadUser,
            type: Annotated[str | None, Query(max_length=32)] = None,
            status: Annotated[str | None, Query(max_length=16)] = None,
            unit_id: Annotated[str | None, Query(max_length=40)] = None,
            q: Annotated[str | None, Query(max_length=64)] = None,
            page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    f = _filters(type, status, unit_id, q)
    names = Names(session, pu)
    devices, total, page = _device_page(session, pu, f, page=page, page_size=PAGE_SIZE)
    return render(request, "iot/devices.html", {
        "can_admin": iv.can_admin(pu), "rows": names.rows(devices), "total": total,
        "filters": f, "types": names.types, "statuses": iv.STATUSES,
        "units": unit_picker.filter_units(session, principal=pu.principal) if pu.principal.scope_paths else [],
        "page": page, "pages": cp.pages(total, PAGE_SIZE), "pager_query": _pager_query(f)})


def _pager_query(filters: dict[str, str]) -> str:
    q = urlencode({k: v for k, v in filters.items() if v})
    return q + "&" if q else ""


# -- a device -----------------------------------------------------------------------------------------------

@router.get("/devices/{device_id}")
def device(request: Request, session: Db, pu: iv.ReadUser, device_id: uuid.UUID) -> Response:
    d = iot_devices.get_device(session, principal=pu.principal, device_id=device_id)
    names = Names(session, pu)
    dtype = names.type_by_id.get(d.type_id)
    alerts, alerts_total = iot_alerts.page_alerts(session, principal=pu.principal, device_id=d.id,
                                                  page_size=DEVICE_ALERTS)  # open first: an open one is here
    alarmed = {d.id} if any(_value(a.state) == "open" for a in alerts) else set()
    messages = iot_devices.recent_messages(session, principal=pu.principal, device_id=d.id, limit=DEVICE_MESSAGES)
    building = _building(session, pu, d.building_id)
    return render(request, "iot/device.html", {
        "can_admin": iv.can_admin(pu),
        "device": {"id": d.id, "name": d.name, "device_key": d.device_key, "type_name": getattr(dtype, "name", "—"),
                   "unit_name": names.units([d.unit_id]).get(d.unit_id, "—"), "address": d.address,
                   "building_name": _building_name(building), "room_bound": d.room_id is not None,
                   "room_address": _room_address(session, d.room_id),
                   "owner": d.owner, "heartbeat_s": d.heartbeat_s or getattr(dtype, "heartbeat_s", 0),
                   "last_seen_at": d.last_seen_at, "installed_at": d.installed_at, "lon": d.lon, "lat": d.lat,
                   "note": d.note, "display_status": display_status(d, alarmed)},
        "alerts": _alert_rows(session, names, alerts, known={d.id: d}), "alerts_total": alerts_total,
        "messages": [{"received_at": m.received_at, "kind": m.kind, "accepted": m.accepted, "reason": m.reason,
                      "payload_text": iv.payload_text(m.payload, m.raw)} for m in messages],
        "message_kinds": iv.MESSAGE_KINDS, "alert_kinds": iv.ALERT_KINDS,
        "case_base": CASE_PAGES.get(pu.principal.role, "")})


def _building(session: Any, pu: PageUser, building_id: uuid.UUID | None) -> Any:
    """The device's building from the register (None when unbound, or when the viewer may not read the register)."""
    if building_id is None or not pu.principal.can(Perm.registry_read):
        return None
    try:
        return registry.get_building(session, principal=pu.principal, building_id=building_id)
    except NotFound:
        return None


def _room_address(session: Any, room_id: uuid.UUID | None) -> str | None:
    """The address of the rental room a lock or meter is bound to (the device is in the viewer's jurisdiction:
    where it hangs is part of it), through the rental register's lock interface."""
    if room_id is None:
        return None
    where = rental_locks.room_location(session, room_id)
    return where.address if where is not None else None


def _building_name(b: Any) -> str | None:
    if b is None:
        return None
    if b.address and b.name and b.name in b.address:
        return str(b.address)
    return " ".join(x for x in (b.address, b.name) if x) or None


def _value(v: Any) -> str:
    return str(getattr(v, "value", v))


# -- alerts -------------------------------------------------------------------------------------------------

def _alert_rows(session: Any, names: Names, alerts: list[Any], *, known: dict[uuid.UUID, Any] | None = None
                ) -> list[dict[str, Any]]:
    """Alerts with the names of their device, type, unit and rule, and the number of their case (the devices
    read by id for this page only, unless ``known``)."""
    rules = {r.id: r for r in iot_rules.list_rules(session, principal=names.pu.principal)} if alerts else {}
    numbers = case_reads.case_numbers(session, case_ids=[a.case_id for a in alerts if a.case_id])
    units = names.units([a.unit_id for a in alerts])
    devices = dict(known or {})
    wanted = [a.device_id for a in alerts if a.device_id not in devices]
    if wanted:
        devices.update(iot_devices.get_devices(session, principal=names.pu.principal, device_ids=wanted))
    out = []
    for a in alerts:
        dev = devices.get(a.device_id)
        rule = rules.get(a.rule_id) if a.rule_id else None
        dtype = names.type_by_id.get(dev.type_id) if dev is not None else \
            (names.type_by_code.get(rule.type_code) if rule is not None else None)
        detail = a.detail if isinstance(a.detail, dict) else {}
        out.append({"id": a.id, "title": a.title, "kind": a.kind, "close_reason": a.close_reason,
                    "rule_name": rule.name if rule else None,
                    "device_id": a.device_id, "type_name": getattr(dtype, "name", "—"),
                    "device_name": dev.name if dev is not None else str(detail.get("device_name") or "—"),
                    "unit_name": units.get(a.unit_id, "—"), "severity": _value(a.severity),
                    "state": _value(a.state), "count": a.count, "first_at": a.first_at, "last_at": a.last_at,
                    "closed_at": a.closed_at, "case_id": a.case_id, "case_number": numbers.get(a.case_id)})
    return out


@router.get("/alerts")
def alerts(request: Request, session: Db, pu: iv.ReadUser,
           state: Annotated[str | None, Query(max_length=16)] = None,
           type: Annotated[str | None, Query(max_length=32)] = None,
           severity: Annotated[str | None, Query(max_length=16)] = None,
           unit_id: Annotated[str | None, Query(max_length=40)] = None,
           page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    f = {"state": query_text(state, 16), "type": query_text(type, 32), "severity": query_text(severity, 16),
         "unit_id": query_text(unit_id, 40)}
    return _alerts_page(request, session, pu, f, page=page)


@router.post("/alerts/{alert_id}/close")
def alert_close(request: Request, session: Db, pu: iv.AdminUser, alert_id: uuid.UUID,
                form: cp.PostedForm) -> Response:
    """关闭告警 by hand, with a reason (its case, if any, follows its own loop); back to where it was asked."""
    try:
        iot_alerts.close_alert(session, principal=pu.principal, alert_id=alert_id,
                               reason=cp.text(form, "reason", 255))
    except DomainError as exc:
        roll_back_refused(session)
        return _alerts_page(request, session, pu, dict.fromkeys(("state", "type", "severity", "unit_id"), ""),
                            error=exc.message, status=exc.status)
    back = safe_next(cp.text(form, "next", 400)) or "/console/iot/alerts"
    back = re.sub(r"([?&])msg=[^&]*&?", r"\1", back).rstrip("?&")
    return redirect(back + ("&" if "?" in back else "?") + "msg=iot_alert_closed")


@router.post("/devices/{device_id}/status")
def device_status(request: Request, session: Db, pu: iv.AdminUser, device_id: uuid.UUID,
                  form: cp.PostedForm) -> Response:
    """启用 / 停用 a device."""
    iot_devices.set_device_status(session, principal=pu.principal, device_id=device_id,
                                  enabled=cp.text(form, "enabled", 1) == "1")
    return redirect(f"/console/iot/devices/{device_id}?msg=iot_device_saved")


def _alerts_page(request: Request, session: Any, pu: PageUser, f: dict[str, str], *, page: int = 1,
                 error: str | None = None, status: int = 200) -> Response:
    f["state"] = f["state"] if f["state"] in iv.ALERT_STATES else ""
    f["severity"] = f["severity"] if f["severity"] in iv.SEVERITIES else ""
    names = Names(session, pu)
    kw: dict[str, Any] = {"state": f["state"] or None, "type_code": f["type"] or None,
                          "severity": f["severity"] or None, "unit_path": _unit_path(session, pu, f["unit_id"])}
    shown, total = iot_alerts.page_alerts(session, principal=pu.principal, page=page, page_size=PAGE_SIZE, **kw)
    pages = cp.pages(total, PAGE_SIZE)
    if page > pages:
        page = pages
        shown, total = iot_alerts.page_alerts(session, principal=pu.principal, page=page, page_size=PAGE_SIZE,
                                              **kw)
    return render(request, "iot/alerts.html", {
        "can_admin": iv.can_admin(pu), "alerts": _alert_rows(session, names, shown), "total": total,
        "filters": f, "types": names.types, "severities": iv.SEVERITIES, "alert_states": iv.ALERT_STATES,
        "alert_kinds": iv.ALERT_KINDS, "case_base": CASE_PAGES.get(pu.principal.role, ""), "error": error,
        "units": unit_picker.filter_units(session, principal=pu.principal) if pu.principal.scope_paths else [],
        "page": page, "pages": pages, "pager_query": _pager_query(f)}, status=status)


# -- the command-centre screen's panel ------------------------------------------------------------------------

def screen_figures(session: Any, pu: PageUser, *, unit_path: str) -> dict[str, Any]:
    """What the screen's device-alert panel shows for the unit on screen: open alerts by device type (most
    first), and how many of its devices are offline, of how many — counted by the services' grouped queries."""
    names = Names(session, pu)
    figures = iot_devices.device_figures(session, principal=pu.principal, unit_path=unit_path)
    by_type: dict[str, int] = {}
    for type_id, n in iot_alerts.open_alerts_by_type(session, principal=pu.principal, unit_path=unit_path).items():
        key = getattr(names.type_by_id.get(type_id), "name", None) or "—"
        by_type[key] = by_type.get(key, 0) + n
    return {"open": sum(by_type.values()), "devices": figures.total, "offline": figures.offline,
            "by_type": [{"name": k, "count": n} for k, n in sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))]}
