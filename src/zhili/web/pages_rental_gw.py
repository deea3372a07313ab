"""The grid worker's rental pages (出租房屋, mobile first): the rooms and stays of my grid with search, a room with
its tenants, checking a tenant in or out on a visit, registering a room on a landlord's behalf, and the rental
warnings of my grid. Thin routes over :mod:`zhili.rental` (see :mod:`zhili.web.pages_rental`)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError
from zhili.core.schemas import MAX_PAGE
from zhili.core.settings import get_settings
from zhili.core.validators import personal_number_kind
from zhili.http.bodylimit import MARGIN, body_limit
from zhili.http.deps import Db, reads_only
from zhili.rental import rooms, stays
from zhili.web import casepages as cp
from zhili.web import pages_rental as pr
from zhili.web.deps import GridWorker, PageUser
from zhili.web.render import render
from zhili.web.rentalwarn import rental_warnings

router = APIRouter(prefix="/gw/rental")
P = pr.GW
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Text = Annotated[str | None, Query(max_length=100)]


@router.get("")
def rooms_page(request: Request, session: Db, pu: GridWorker, q: Text = None, over: Text = None,
               page: Page = 1) -> Response:
    """The rooms of my grid: by address or room keyword, or only those over capacity (群租)."""
    query = (q or "").strip()
    over_only = over == "1"
    rows, total = rooms.list_rooms(session, principal=pu.principal, q=query or None, over_capacity=over_only or None,
                                   page=page, page_size=cp.PAGE_SIZE)
    occupied = rooms.occupancy(session, [r.id for r in rows])
    pager = {k: v for k, v in (("q", query), ("over", "1" if over_only else "")) if v}
    return render(request, "rental/gw_rooms.html", {
        "tab": "rooms", "rooms": [rooms.room_view(session, r, occupied=occupied.get(r.id, 0)) for r in rows],
        "total": total, "page": page, "pages": cp.pages(total), "q": query, "over": over_only,
        "pager_query": (urlencode(pager) + "&") if pager else ""})


@router.get("/stays")
def stays_page(request: Request, session: Db, pu: GridWorker, q: Text = None, state: Text = None,
               page: Page = 1) -> Response:
    return _stays(request, session, pu, (q or "").strip(), state or "active", page, posted=False)


@router.post("/stays")
@reads_only
def stays_search(request: Request, session: Db, pu: GridWorker, form: cp.PostedForm) -> Response:
    """The tenant search posted from the search box: a name, or an ID number or phone (which so stays out of the
    URL)."""
    return _stays(request, session, pu, cp.text(form, "q", 100), cp.text(form, "state", 10) or "active", 1,
                  posted=True)


def _stays(request: Request, session: Any, pu: PageUser, q: str, state: str, page: int, *, posted: bool
           ) -> Response:
    state = state if state in (*stays.STATES, "all") else "active"
    kind = personal_number_kind(q)
    error, status = None, 200
    rows: list[Any] = []
    total = 0
    if kind and not posted:  # a personal number arrived in the URL: neither searched nor echoed
        q, error, status = "", cp.NUMBER_IN_URL, 422
    else:
        search = {kind: q} if kind else {"name": q or None}
        try:
            rows, total = stays.list_stays(session, principal=pu.principal, state=None if state == "all" else state,
                                           page=page, page_size=cp.PAGE_SIZE, **search)
        except DomainError as exc:
            roll_back_refused(session)
            error, status = exc.message, exc.status
    return render(request, "rental/gw_stays.html", {
        "tab": "stays", "stays": [stays.stay_view(session, s) for s in rows], "q": q, "state": state,
        "total": total, "page": page, "pages": cp.pages(total), "error": error,
        # the pager's links carry the search in their URL: never a personal number (an exact match is one page)
        "pager_query": urlencode({"state": state, **({"q": q} if q and not kind else {})}) + "&"}, status=status)


@router.get("/warnings")
def warnings_page(request: Request, session: Db, pu: GridWorker) -> Response:
    return render(request, "rental/gw_warnings.html", {
        "tab": "warnings", "warnings": rental_warnings(session, principal=pu.principal)})


@router.get("/rooms/new")
def room_new(request: Request, session: Db, pu: GridWorker,
             q: Annotated[str | None, Query(max_length=50)] = None) -> Response:
    return pr.room_form(request, session, pu, P, q=q or "")


@router.post("/rooms/new")
@body_limit(lambda: pr.ROOM_PHOTOS * get_settings().max_upload_bytes + MARGIN)
def room_create(request: Request, session: Db, pu: GridWorker, form: cp.PostedForm) -> Response:
    return pr.submit_room(request, session, pu, P, form)


@router.get("/rooms/{room_id}/photos/{attachment_id}")
def room_photo(session: Db, pu: GridWorker, room_id: uuid.UUID, attachment_id: uuid.UUID) -> Response:
    return pr.room_photo(session, pu, room_id, attachment_id)


@router.get("/rooms/{room_id}")
def room(request: Request, session: Db, pu: GridWorker, room_id: uuid.UUID) -> Response:
    return pr.room_page(request, session, pu, P, room_id)


@router.get("/rooms/{room_id}/checkin")
def room_checkin(request: Request, session: Db, pu: GridWorker, room_id: uuid.UUID) -> Response:
    return pr.checkin_form(request, session, pu, P, room_id=room_id)


@router.post("/rooms/{room_id}/checkin")
@body_limit(pr.PHOTO_MAX + MARGIN)
def room_checkin_submit(request: Request, session: Db, pu: GridWorker, room_id: uuid.UUID,
                        form: cp.PostedForm) -> Response:
    return pr.submit_checkin(request, session, pu, P, form, room_id=room_id)


@router.get("/stays/{stay_id}/photo")
def stay_photo(session: Db, pu: GridWorker, stay_id: uuid.UUID) -> Response:
    return pr.stay_photo(session, pu, stay_id)


@router.post("/stays/{stay_id}/checkout")
def checkout(request: Request, session: Db, pu: GridWorker, stay_id: uuid.UUID, form: cp.PostedForm) -> Response:
    return pr.submit_checkout(request, session, pu, P, stay_id, form)


@router.post("/stays/{stay_id}/extend")
def extend(request: Request, session: Db, pu: GridWorker, stay_id: uuid.UUID, form: cp.PostedForm) -> Response:
    """续租: a new expected move-out for a tenant of the room."""
    return pr.submit_extend(request, session, pu, P, stay_id, form)


@router.post("/rooms/{room_id}/checkin-code")
def checkin_code(session: Db, pu: GridWorker, room_id: uuid.UUID) -> Response:
    """更换入住码: the room's check-in code replaced (e.g. after a tenant moved out)."""
    return pr.renew_checkin_code(session, pu, P, room_id)
