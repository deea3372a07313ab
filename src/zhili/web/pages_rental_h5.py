"""The resident portal's rental pages (mobile first): 我的出租房 for a landlord — my rooms, register a room (the
building found by address), a room with its tenants, check a tenant in, check out — and 我的租住 for a tenant — my
stays with the police delivery state and my electronic key, check in with the room's check-in code (入住码), and
the way to 申领居住证 with the stay as evidence. Thin routes over :mod:`zhili.rental` (see
:mod:`zhili.web.pages_rental`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from zhili.core.settings import get_settings
from zhili.http.bodylimit import MARGIN, body_limit
from zhili.http.deps import Db
from zhili.rental import rooms
from zhili.web import casepages as cp
from zhili.web import pages_rental as pr
from zhili.web.deps import Resident
from zhili.web.render import render

router = APIRouter(prefix="/h5/rental")
P = pr.H5


@router.get("/rooms")
def my_rooms(request: Request, session: Db, pu: Resident) -> Response:
    rows = rooms.my_rooms(session, principal=pu.principal)
    occupied = rooms.occupancy(session, [r.id for r in rows])
    return render(request, "rental/h5_rooms.html", {
        "rooms": [rooms.room_view(session, r, occupied=occupied.get(r.id, 0)) for r in rows]})


@router.get("/rooms/new")
def room_new(request: Request, session: Db, pu: Resident,
             q: Annotated[str | None, Query(max_length=50)] = None) -> Response:
    return pr.room_form(request, session, pu, P, q=q or "")


@router.post("/rooms/new")
@body_limit(lambda: pr.ROOM_PHOTOS * get_settings().max_upload_bytes + MARGIN)
def room_create(request: Request, session: Db, pu: Resident, form: cp.PostedForm) -> Response:
    return pr.submit_room(request, session, pu, P, form)


@router.get("/rooms/{room_id}/photos/{attachment_id}")
def room_photo(session: Db, pu: Resident, room_id: uuid.UUID, attachment_id: uuid.UUID) -> Response:
    return pr.room_photo(session, pu, room_id, attachment_id)


@router.get("/rooms/{room_id}")
def room(request: Request, session: Db, pu: Resident, room_id: uuid.UUID) -> Response:
    return pr.room_page(request, session, pu, P, room_id)


@router.get("/rooms/{room_id}/checkin")
def room_checkin(request: Request, session: Db, pu: Resident, room_id: uuid.UUID) -> Response:
    return pr.checkin_form(request, session, pu, P, room_id=room_id)


@router.post("/rooms/{room_id}/checkin")
@body_limit(pr.PHOTO_MAX + MARGIN)
def room_checkin_submit(request: Request, session: Db, pu: Resident, room_id: uuid.UUID,
                        form: cp.PostedForm) -> Response:
    return pr.submit_checkin(request, session, pu, P, form, room_id=room_id)


@router.post("/stays/{stay_id}/checkout")
def checkout(request: Request, session: Db, pu: Resident, stay_id: uuid.UUID, form: cp.PostedForm) -> Response:
    """退租 by the landlord (from the room page) or by the tenant (from 我的租住)."""
    back = f"{P.prefix}/stays" if cp.text(form, "from", 10) == "stays" else None
    return pr.submit_checkout(request, session, pu, P, stay_id, form, back=back)


@router.get("/stays")
def my_stays(request: Request, session: Db, pu: Resident) -> Response:
    return render(request, "rental/h5_stays.html", pr.tenant_context(session, pu))


@router.post("/keys/{key_id}/renew")
def renew_key(request: Request, session: Db, pu: Resident, key_id: uuid.UUID) -> Response:
    """换钥匙: the holder's key replaced by one with a new code (shown once), e.g. when the landlord checked the
    tenant in and saw the first code, or a code was lost."""
    return pr.renew_key(request, session, pu, P, key_id)


@router.get("/checkin")
def self_checkin(request: Request, session: Db, pu: Resident) -> Response:
    return pr.checkin_form(request, session, pu, P, room_id=None)


@router.post("/checkin")
@body_limit(pr.PHOTO_MAX + MARGIN)
def self_checkin_submit(request: Request, session: Db, pu: Resident, form: cp.PostedForm) -> Response:
    return pr.submit_checkin(request, session, pu, P, form, room_id=None)


@router.post("/stays/{stay_id}/extend")
def extend(request: Request, session: Db, pu: Resident, stay_id: uuid.UUID, form: cp.PostedForm) -> Response:
    """续租: a new expected move-out for a tenant of the room."""
    return pr.submit_extend(request, session, pu, P, stay_id, form)


@router.post("/rooms/{room_id}/checkin-code")
def checkin_code(session: Db, pu: Resident, room_id: uuid.UUID) -> Response:
    """更换入住码: the room's check-in code replaced (e.g. after a tenant moved out)."""
    return pr.renew_checkin_code(session, pu, P, room_id)
