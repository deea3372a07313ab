"""The console's rental register (出租房屋): rooms with filters (unit, status, over capacity) and search, stays with
filters and the tenant search (a name, or an ID number or phone through the blind indexes, posted so that it stays
out of URLs), a room's and a stay's page, the masked and audited Excel export, and the police deliveries (报送公安)
with the dead-letter list and 重新报送. Thin routes over :mod:`zhili.rental`; everything is scoped to the caller's
jurisdiction by the services (a record outside it is a 404)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from zhili.core.db import roll_back_refused, utcnow
from zhili.core.errors import DomainError, Forbidden, NotFound, ValidationFailed
from zhili.core.schemas import MAX_PAGE
from zhili.core.security import Perm, Role
from zhili.core.validators import personal_number_kind
from zhili.http.deps import Db, reads_only
from zhili.registry import overview
from zhili.rental import export, keys, police, rooms, stays
from zhili.web import casepages as cp
from zhili.web import pages_rental as pr
from zhili.web.deps import CurrentPageUser, PageUser
from zhili.web.render import redirect, render, tr
from zhili.web.rentalwarn import rental_warnings

router = APIRouter(prefix="/console/rental")
BASE = "/console/rental"
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Text = Annotated[str | None, Query(max_length=100)]
PORTALS = frozenset({Role.resident, Role.grid_worker})  # they have their own rental pages


def _gate(request: Request, pu: CurrentPageUser) -> PageUser:
    if pu.principal.role in PORTALS or not pu.principal.can(Perm.rental_read):
        raise Forbidden(tr(request, "rental.forbidden"), code="wrong_portal")
    return pu


Staff = Annotated[PageUser, Depends(_gate)]


def _page(request: Request, pu: PageUser, template: str, context: dict[str, Any], *, status: int = 200
          ) -> Response:
    p = pu.principal
    return render(request, template, {"base": BASE, "can_write": p.can(Perm.rental_write),
                                      "can_export": p.can(Perm.rental_export), "can_reveal": p.can(Perm.pii_reveal),
                                      **context}, status=status)


def _unit(raw: str) -> uuid.UUID | None:
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ValidationFailed("筛选的区域无效", code="bad_filter") from None


# -- rooms ----------------------------------------------------------------------------------------------------------

@dataclass
class RoomQuery:
    q: str = ""
    unit_id: str = ""
    status: str = ""
    over: str = ""

    def typed(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


def room_query(q: Text = None, unit_id: Text = None, status: Text = None, over: Text = None) -> RoomQuery:
    return RoomQuery(**{k: (v or "").strip() for k, v in locals().items()})


@router.get("/")
def rooms_page(request: Request, session: Db, pu: Staff, query: Annotated[RoomQuery, Depends(room_query)],
               page: Page = 1) -> Response:
    error, status = None, 200
    rows: list[Any] = []
    total = 0
    try:
        rows, total = rooms.list_rooms(session, principal=pu.principal, unit_id=_unit(query.unit_id),
                                       q=query.q or None, status=query.status if query.status in rooms.STATUSES
                                       else None, over_capacity=query.over == "1" or None, page=page,
                                       page_size=cp.PAGE_SIZE)
    except (ValidationFailed, NotFound) as exc:
        roll_back_refused(session)
        error, status = exc.message, 422
    occupied = rooms.occupancy(session, [r.id for r in rows])
    typed = query.typed()
    return _page(request, pu, "rental/console_rooms.html", {
        "section": "rooms", "rooms": [rooms.room_view(session, r, occupied=occupied.get(r.id, 0)) for r in rows],
        "total": total, "page": page, "pages": cp.pages(total), "query": query, "error": error,
        "pager_query": (urlencode(typed) + "&") if typed else "", "statuses": list(rooms.STATUSES),
        "units": overview.unit_options(session, principal=pu.principal),
        "grid_names": overview.unit_names(session, principal=pu.principal, unit_ids=[r.unit_id for r in rows]),
        "counts": stays.active_counts(session, principal=pu.principal)}, status=status)


@router.get("/rooms/{room_id}/photos/{attachment_id}")
def room_photo(session: Db, pu: Staff, room_id: uuid.UUID, attachment_id: uuid.UUID) -> Response:
    return pr.room_photo(session, pu, room_id, attachment_id)


@router.get("/rooms/{room_id}")
def room(request: Request, session: Db, pu: Staff, room_id: uuid.UUID) -> Response:
    ctx = pr.room_context(session, pu, room_id)
    ctx["grid_name"] = overview.unit_names(session, principal=pu.principal,
                                           unit_ids=[ctx["room"]["unit_id"]]).get(ctx["room"]["unit_id"])
    return _page(request, pu, "rental/console_room.html", {"section": "rooms", **ctx})


# -- stays ----------------------------------------------------------------------------------------------------------

@dataclass
class StayQuery:
    q: str = ""
    unit_id: str = ""
    state: str = "active"
    overdue: str = ""

    def typed(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


def stay_query(q: Text = None, unit_id: Text = None, state: Text = None, overdue: Text = None) -> StayQuery:
    return StayQuery(q=(q or "").strip(), unit_id=(unit_id or "").strip(), state=(state or "active").strip(),
                     overdue="1" if overdue == "1" else "")


def _stays_page(request: Request, session: Any, pu: PageUser, query: StayQuery, page: int, *, posted: bool
                ) -> Response:
    state = query.state if query.state in (*stays.STATES, "all") else "active"
    query = replace(query, state=state)
    kind = personal_number_kind(query.q)
    error, status = None, 200
    rows: list[Any] = []
    total = 0
    if kind and not posted:  # an ID number or phone arrived in the URL: refuse rather than search (or echo)
        query = replace(query, q="")
        error, status, kind = cp.NUMBER_IN_URL, 422, None
    else:
        search = {kind: query.q} if kind else {"name": query.q or None}
        try:
            rows, total = stays.list_stays(session, principal=pu.principal, unit_id=_unit(query.unit_id),
                                           state=None if state == "all" else state,
                                           overdue=query.overdue == "1", page=page,
                                           page_size=cp.PAGE_SIZE, **search)
        except (ValidationFailed, NotFound) as exc:
            roll_back_refused(session)
            error, status = exc.message, 422
    typed = query.typed()
    if kind:  # links carry the filters in their URL: not the posted number (an exact match is one page)
        typed.pop("q", None)
    export_query = {k: v for k, v in (("unit_id", query.unit_id), ("state", "" if state == "all" else state)) if v}
    return _page(request, pu, "rental/console_stays.html", {
        "section": "stays", "stays": [stays.stay_view(session, s) for s in rows], "total": total, "page": page,
        "pages": cp.pages(total), "query": query, "error": error,
        "pager_query": (urlencode(typed) + "&") if typed else "", "states": list(stays.STATES),
        "units": overview.unit_options(session, principal=pu.principal),
        "export_url": f"{BASE}/export.xlsx" + (f"?{urlencode(export_query)}" if export_query else ""),
        "max_export": export.MAX_EXPORT_ROWS}, status=status)


@router.get("/stays")
def stays_list(request: Request, session: Db, pu: Staff, query: Annotated[StayQuery, Depends(stay_query)],
               page: Page = 1) -> Response:
    return _stays_page(request, session, pu, query, page, posted=False)


@router.post("/stays")
@reads_only
def stays_search(request: Request, session: Db, pu: Staff, form: cp.PostedForm) -> Response:
    """The tenant search posted from the search box, so an ID number or phone stays out of the URL."""
    query = StayQuery(q=cp.text(form, "q", 100), unit_id=cp.text(form, "unit_id", 40),
                      state=cp.text(form, "state", 10) or "active",
                      overdue="1" if cp.text(form, "overdue", 1) == "1" else "")
    return _stays_page(request, session, pu, query, 1, posted=True)


def _stay_page(request: Request, session: Any, pu: PageUser, stay_id: uuid.UUID, *,
               revealed: dict[str, Any] | None = None, error: str | None = None, status: int = 200) -> Response:
    stay = stays.get_stay(session, principal=pu.principal, stay_id=stay_id)
    view = stays.stay_view(session, stay)
    room_row = rooms.get_room(session, principal=pu.principal, room_id=stay.room_id)
    deliveries = police.list_deliveries(session, principal=pu.principal, stay_id=stay.id)
    return _page(request, pu, "rental/console_stay.html", {
        "section": "stays", "stay": view, "room": rooms.room_view(session, room_row),
        "deliveries": [police.delivery_view(d) for d in deliveries], "revealed": revealed, "reveal_error": error,
        "keys": [pr.key_view(session, k) for k in keys.list_keys(session, principal=pu.principal,
                                                                   room_id=room_row.id, include_ended=True)
                 if k.stay_id == stay.id]}, status=status)


@router.get("/stays/{stay_id}")
def stay(request: Request, session: Db, pu: Staff, stay_id: uuid.UUID) -> Response:
    return _stay_page(request, session, pu, stay_id)


@router.post("/stays/{stay_id}/reveal")
def stay_reveal(request: Request, session: Db, pu: Staff, stay_id: uuid.UUID, form: cp.PostedForm) -> Response:
    """The tenant's full ID number and check-in phone, with a reason (audited; the service checks permission first,
    so a refused role learns nothing of whether the stay exists)."""
    try:
        data = stays.reveal_stay(session, principal=pu.principal, stay_id=stay_id,
                                 reason=cp.text(form, "reason", 500))
    except DomainError as exc:
        roll_back_refused(session)
        if isinstance(exc, Forbidden | NotFound):
            raise
        return _stay_page(request, session, pu, stay_id, error=exc.message, status=exc.status)
    return _stay_page(request, session, pu, stay_id, revealed=data)


@router.get("/stays/{stay_id}/photo")
def stay_photo(session: Db, pu: Staff, stay_id: uuid.UUID) -> Response:
    return pr.stay_photo(session, pu, stay_id)


@router.post("/stays/{stay_id}/checkout")
def checkout(request: Request, session: Db, pu: Staff, stay_id: uuid.UUID, form: cp.PostedForm) -> Response:
    return pr.submit_checkout(request, session, pu, pr.Portal(BASE, "", "", ""), stay_id, form,
                              back=f"{BASE}/stays/{stay_id}")


@router.get("/export.xlsx")
def export_xlsx(request: Request, session: Db, pu: Staff, unit_id: Text = None, state: Text = None) -> Response:
    """The rental register as a workbook (rooms and stays, masked); the service checks ``rental:export`` and records
    the export in the audit log."""
    query = StayQuery(unit_id=(unit_id or "").strip(), state=(state or "").strip())
    try:
        data, _ = export.export_register(session, principal=pu.principal, unit_id=_unit(query.unit_id),
                                         state=query.state if query.state in stays.STATES else None)
    except (ValidationFailed, NotFound) as exc:
        roll_back_refused(session)
        return _page(request, pu, "rental/console_error.html", {"section": "stays", "message": exc.message},
                     status=422)
    return Response(data, media_type=export.XLSX, headers={
        "Content-Disposition": f"attachment; filename=\"rental-{utcnow():%Y%m%d%H%M}.xlsx\"",
        "Cache-Control": "no-store"})


# -- warnings and police deliveries ---------------------------------------------------------------------------------

@router.get("/warnings")
def warnings_page(request: Request, session: Db, pu: Staff) -> Response:
    return _page(request, pu, "rental/console_warnings.html", {
        "section": "warnings", "warnings": rental_warnings(session, principal=pu.principal),
        "intel_url": "/console/intel/" if pu.principal.can(Perm.intel_read) else None})


def _deliveries_page(request: Request, session: Any, pu: PageUser, state: str, *, error: str | None = None,
                     status: int = 200) -> Response:
    state = state if state in police.STATES else ""
    rows = police.list_deliveries(session, principal=pu.principal, state=state or None, limit=200)
    dead = police.list_deliveries(session, principal=pu.principal, state="dead", limit=200)
    ids = {d.stay_id for d in [*rows, *dead]}
    names = {}
    for sid in ids:
        try:
            v = stays.stay_view(session, stays.get_stay(session, principal=pu.principal, stay_id=sid))
        except NotFound:
            continue
        names[sid] = {"name": v["name"], "address": v["address"], "room_label": v["room_label"]}
    return _page(request, pu, "rental/console_deliveries.html", {
        "section": "deliveries", "state": state, "states": list(police.STATES), "error": error,
        "deliveries": [police.delivery_view(d) for d in rows], "dead": [police.delivery_view(d) for d in dead],
        "stays": names}, status=status)


@router.get("/deliveries")
def deliveries(request: Request, session: Db, pu: Staff, state: Text = None) -> Response:
    return _deliveries_page(request, session, pu, (state or "").strip())


@router.post("/deliveries/{delivery_id}/redeliver")
def redeliver(request: Request, session: Db, pu: Staff, delivery_id: uuid.UUID) -> Response:
    """重新报送 a dead delivery (``rental:write`` in jurisdiction; audited): back to the list, sent after commit."""
    try:
        police.redeliver(session, principal=pu.principal, delivery_id=delivery_id)
    except DomainError as exc:
        roll_back_refused(session)
        if exc.status in (403, 404):
            raise
        return _deliveries_page(request, session, pu, "", error=exc.message, status=exc.status)
    return redirect(f"{BASE}/deliveries?msg=rental_redelivered")
