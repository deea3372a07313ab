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
ALERTS_MAX = 1000  # the alerts a list reads (the service's own cap)
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
    """What the IoT pages look up once per request from the services that own it: the device types, unit names,
    the jurisdiction's open alerts (a device with one shows 告警) and, for the alerts, its devices."""

    def __init__(self, session: Any, pu: PageUser) -> None:
        self.session, self.pu = session, pu
        self.types = sorted(iot_types.list_types(session, principal=pu.principal), key=lambda t: t.name)
        self.type_by_id = {t.id: t for t in self.types}
        self.type_by_code = {t.code: t for t in self.types}
        self._units: dict[uuid.UUID, str] = {}
        self._open: list[Any] | None = None
        self._devices: dict[uuid.UUID, Any] | None = None
        self.capped = False  # the device list reached the service's cap (narrow the filters to see the rest)

    def units(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        missing = [i for i in set(ids) if i and i not in self._units]
        if missing:
            self._units.update({u.id: u.name for u in unit_picker.units_named(self.session, ids=missing)})
        return self._units

    def open_alerts(self) -> list[Any]:
        if self._open is None:
            self._open = iot_alerts.list_alerts(self.session, principal=self.pu.principal, state="open",
                                                limit=ALERTS_MAX)
        return self._open

    def alarmed(self) -> set[uuid.UUID]:
        return {a.device_id for a in self.open_alerts()}

    def know(self, devices: list[Any]) -> None:
        """The devices the alerts to be named belong to, when the page has them already."""
        self._devices = {d.id: d for d in devices}

    def devices(self) -> dict[uuid.UUID, Any]:
        """The jurisdiction's devices by id (for naming the devices of alerts)."""
        if self._devices is None:
            self._devices = {d.id: d for d in iot_devices.list_devices(self.session, principal=self.pu.principal,
                                                                       limit=iot_devices.LIST_MAX)}
        return self._devices

    def rows(self, devices: list[Any]) -> list[DeviceRow]:
        alarmed = self.alarmed()
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


def _devices(session: Any, pu: PageUser, *, type_code: str = "", status: str = "", unit_id: str = "",
             q: str = "") -> tuple[Names, list[DeviceRow]]:
    """The jurisdiction's devices matching the filters, with their names; status 告警 = an open alert."""
    names = Names(session, pu)
    stored = "" if status == "alarm" else status
    devices = iot_devices.list_devices(session, principal=pu.principal, type_code=type_code or None,
                                       status=stored or None, unit_path=_unit_path(session, pu, unit_id),
                                       q=q or None, limit=iot_devices.LIST_MAX)
    names.capped = len(devices) >= iot_devices.LIST_MAX
    rows = names.rows(devices)
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
    names, rows = _devices(session, pu)
    by_status = {st: sum(1 for r in rows if r.display_status == st) for st in iv.STATUSES}
    return render(request, "iot/map.html", {
        "can_admin": iv.can_admin(pu), "types": names.types, "statuses": iv.STATUSES, "capped": names.capped,
        "list_max": iot_devices.LIST_MAX,
        "summary": {"total": len(rows), "by_status": by_status, "open_alerts": len(names.open_alerts())}})


@router.get("/devices.geojson")
def devices_geojson(request: Request, session: Db, pu: iv.ReadUser,
                    type: Annotated[str | None, Query(max_length=32)] = None,
                    status: Annotated[str | None, Query(max_length=16)] = None) -> Response:
    """The placed devices as GeoJSON points (names and the status to colour them by; the popup is built from
    text by ``static/iot.js``)."""
    f = _filters(type, status, None, None)
    _, rows = _devices(session, pu, type_code=f["type"], status=f["status"])
    placed = [r for r in rows if _on_globe(r.lon, r.lat)]
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]},
                 "properties": {"name": r.name, "type": r.type_name, "unit": r.unit_name,
                                "status": r.display_status,
                                "status_name": tr(request, f"iot.status.{r.display_status}"),
                                "last_seen": _seen(request, r.last_seen_at), "url": f"/console/iot/devices/{r.id}"}}
                for r in placed]
    return JSONResponse({"type": "FeatureCollection", "features": features,
                         "summary": tr(request, "iot.map.count", shown=len(placed), unplaced=len(rows) - len(placed))},
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
    names, rows = _devices(session, pu, type_code=f["type"], status=f["status"], unit_id=f["unit_id"], q=f["q"])
    pages = cp.pages(len(rows), PAGE_SIZE)
    page = min(page, pages)
    return render(request, "iot/devices.html", {
        "can_admin": iv.can_admin(pu), "rows": rows[(page - 1) * PAGE_SIZE:page * PAGE_SIZE], "total": len(rows),
        "filters": f, "types": names.types, "statuses": iv.STATUSES, "capped": names.capped,
        "list_max": iot_devices.LIST_MAX,
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
    names.know([d])  # the alerts below are this device's
    alerts = _open_first(session, pu, device_id=d.id, limit=DEVICE_ALERTS)
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
        "alerts": _alert_rows(session, names, alerts),
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

def _open_first(session: Any, pu: PageUser, *, device_id: uuid.UUID | None = None, state: str = "",
                limit: int = ALERTS_MAX) -> list[Any]:
    """Open alerts first (latest hit first), then closed ones."""
    out: list[Any] = []
    for st in ("open", "closed"):
        if state and state != st:
            continue
        out += iot_alerts.list_alerts(session, principal=pu.principal, state=st, device_id=device_id,
                                      limit=limit)
    return out


def _alert_type(names: Names, a: Any, rule_types: dict[uuid.UUID, str]) -> Any:
    dev = names.devices().get(a.device_id)
    if dev is not None:
        return names.type_by_id.get(dev.type_id)
    return names.type_by_code.get(rule_types.get(a.rule_id, "")) if a.rule_id else None


def _alert_rows(session: Any, names: Names, alerts: list[Any]) -> list[dict[str, Any]]:
    """Alerts with the names of their device, type, unit and rule, and the number of their case."""
    rules = {r.id: r for r in iot_rules.list_rules(session, principal=names.pu.principal)} if alerts else {}
    numbers = case_reads.case_numbers(session, case_ids=[a.case_id for a in alerts if a.case_id])
    units = names.units([a.unit_id for a in alerts])
    devices = names.devices()
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
    listed = _open_first(session, pu, state=f["state"])
    if f["severity"]:
        listed = [a for a in listed if _value(a.severity) == f["severity"]]
    path = _unit_path(session, pu, f["unit_id"])
    if path:
        listed = [a for a in listed if a.path == path or a.path.startswith(path + "/")]
    if f["type"]:
        rule_types = {r.id: r.type_code for r in iot_rules.list_rules(session, principal=pu.principal)}
        want = names.type_by_code.get(f["type"])
        listed = [a for a in listed if want is not None and _alert_type(names, a, rule_types) is want]
    pages = cp.pages(len(listed), PAGE_SIZE)
    page = min(page, pages)
    shown = listed[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    return render(request, "iot/alerts.html", {
        "can_admin": iv.can_admin(pu), "alerts": _alert_rows(session, names, shown), "total": len(listed),
        "filters": f, "types": names.types, "severities": iv.SEVERITIES, "alert_states": iv.ALERT_STATES,
        "alert_kinds": iv.ALERT_KINDS, "case_base": CASE_PAGES.get(pu.principal.role, ""), "error": error,
        "units": unit_picker.filter_units(session, principal=pu.principal) if pu.principal.scope_paths else [],
        "page": page, "pages": pages, "pager_query": _pager_query(f)}, status=status)


# -- the command-centre screen's panel ------------------------------------------------------------------------

def screen_figures(session: Any, pu: PageUser, *, unit_path: str) -> dict[str, Any]:
    """What the screen's device-alert panel shows for the unit on screen: open alerts by device type (most
    first), and how many of its devices are offline, of how many."""
    names = Names(session, pu)
    devices = iot_devices.list_devices(session, principal=pu.principal, unit_path=unit_path,
                                       limit=iot_devices.LIST_MAX)
    names.know(devices)
    rule_types = {r.id: r.type_code for r in iot_rules.list_rules(session, principal=pu.principal)}
    by_type: dict[str, int] = {}
    open_alerts = [a for a in names.open_alerts() if a.path == unit_path or a.path.startswith(unit_path + "/")]
    for a in open_alerts:
        dtype = _alert_type(names, a, rule_types)
        key = getattr(dtype, "name", None) or "—"
        by_type[key] = by_type.get(key, 0) + 1
    return {"open": len(open_alerts), "devices": len(devices),
            "offline": sum(1 for d in devices if _value(d.status) == "offline"),
            "by_type": [{"name": k, "count": n} for k, n in sorted(by_type.items(), key=lambda kv: -kv[1])]}
