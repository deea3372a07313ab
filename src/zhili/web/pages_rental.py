"""What the rental pages of the three portals share (出租房屋): reading the room and check-in forms, placing the
service's refusals beside their fields, the mobile room page, the check-in form and its one-time result, check-out.

The pages are a second front door over :mod:`zhili.rental` (rooms, stays, keys, police): every read and write goes
through those services, which decide who may see and change what (a landlord their rooms, a tenant their stays,
staff their jurisdiction; anything else is *not found*). The portals differ only in where they live
(:class:`Portal`): the resident's ``/h5/rental`` (landlord and tenant), the grid worker's ``/gw/rental`` and the
console's ``/console/rental``.

Personal data is shown as the services give it: names, ID and phone numbers masked. The one place a full value is
seen is the electronic key's code right after it is issued (the service keeps only a keyed hash of it), on the
answer to the form that issued it — never in a URL, never again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from zhili.cases import attachments, files
from zhili.core import clock
from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError, ValidationFailed
from zhili.core.ids import new_id
from zhili.core.security import Perm
from zhili.core.settings import get_settings
from zhili.rental import keys, police, rooms, stays
from zhili.rental.common import aware
from zhili.rental.models import StayState
from zhili.web import casepages as cp
from zhili.web import formkit as fk
from zhili.web import messages_rental  # noqa: F401  (registers the UI text)
from zhili.web.deps import PageUser
from zhili.web.render import error_page, redirect, render, tr

ROOM_PHOTOS = cp.PHOTO_LIMIT  # photos one room form may carry (the service takes up to rooms.MAX_PHOTOS)
PHOTO_MAX = stays.PHOTO_MAX_BYTES


@dataclass(frozen=True)
class Portal:
    """Where one portal's rental pages live and what they are called there."""

    prefix: str  # /h5/rental, /gw/rental, /console/rental
    room_template: str
    checkin_template: str
    room_form_template: str


# the answer page of a form that issued a key (its code shown this once), by what was done
HEADINGS = {"room": "rental.room_saved", "stay": "rental.checked_in", "renewed": "rental.key_renewed"}
H5 = Portal("/h5/rental", "rental/room.html", "rental/checkin.html", "rental/room_form.html")
GW = Portal("/gw/rental", "rental/room.html", "rental/checkin.html", "rental/room_form.html")


def key_view(session: Any, key: Any) -> dict[str, Any]:
    """A key as shown (``keys.key_view``) with the local days it is valid: a tenant's key ends at the midnight after
    the expected move-out, which is the last day it opens the door."""
    view = keys.key_view(session, key)
    start, end = aware(view["valid_from"]), aware(view["valid_to"])
    view["first_day"] = clock.local_day(start) if start else None
    view["last_day"] = clock.local_day(end - dt.timedelta(microseconds=1)) if end else None
    return view


# -- reading forms ------------------------------------------------------------------------------------------------

CHECKIN_FIELDS = ("name", "id_number", "phone", "move_in", "expected_move_out", "note")
ROOM_FIELDS = ("building_id", "door", "label", "capacity", "area_m2", "rent_yuan", "contract_start", "contract_end",
               "note", "landlord_name", "landlord_id_number", "landlord_phone")
# the service names a landlord's fields landlord.<field>; the form landlord_<field>
_SERVICE_FIELD = {"landlord.name": "landlord_name", "landlord.id_number": "landlord_id_number",
                  "landlord.phone": "landlord_phone", "household_id": "building_id", "entrance_id": "building_id"}
# refusals about one field that carry no details.fields (codes of zhili.rental)
_CODE_FIELD = {"already_checked_in": "id_number", "checkin_code_unknown": "code", "room_exists": "label"}


def field_errors(exc: DomainError, known: tuple[str, ...]) -> tuple[dict[str, str], str | None]:
    """A service refusal as (message beside each field it names, message above the form). ``details.fields`` of
    :mod:`zhili.rental` name every bad field; a field the form does not have goes above it."""
    named = (exc.details or {}).get("fields") if isinstance(exc.details, dict) else None
    errors: dict[str, str] = {}
    rest: list[str] = []
    if isinstance(named, dict):
        for key, message in named.items():
            name = _SERVICE_FIELD.get(str(key), str(key))
            if name in known:
                errors[name] = str(message)
            else:
                rest.append(str(message))
    elif exc.code in _CODE_FIELD and _CODE_FIELD[exc.code] in known:
        errors[_CODE_FIELD[exc.code]] = exc.message
    if errors:
        return errors, "；".join(rest) or None
    return {}, exc.message


def _upload(form: FormData, name: str) -> list[UploadFile]:
    return [f for f in form.getlist(name) if isinstance(f, UploadFile) and f.filename]


def _date(request: Request, raw: str, errors: dict[str, str], name: str) -> dt.date | None:
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        errors[name] = tr(request, "rental.bad_date")
        return None


def _int(request: Request, raw: str, errors: dict[str, str], name: str) -> int | None:
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        errors[name] = tr(request, "rental.bad_integer")
        return None


def _float(request: Request, raw: str, errors: dict[str, str], name: str) -> float | None:
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        errors[name] = tr(request, "error.bad_number")
        return None
    if value != value or value in (float("inf"), float("-inf")):
        errors[name] = tr(request, "error.bad_number")
        return None
    return value


def blank_checkin() -> dict[str, str]:
    today = clock.today()
    return {"name": "", "id_number": "", "phone": "", "move_in": today.isoformat(),
            "expected_move_out": (today + dt.timedelta(days=365)).isoformat(), "note": "", "code": "",
            "idem": str(new_id())}


def read_checkin(request: Request, form: FormData) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    """(what was typed, the service's data, the form's own errors). The service checks every field again."""
    values = {k: fk.form_text(form, k)[:200] for k in (*CHECKIN_FIELDS, "code")}
    values["idem"] = cp.text(form, "idem", 64) or str(new_id())
    errors: dict[str, str] = {}
    photos = _upload(form, "photo")
    photo = photos[0].file.read(PHOTO_MAX + 1) if photos else None
    if not photos:
        errors["photo"] = tr(request, "rental.photo_required")
    data: dict[str, Any] = {k: values[k] for k in ("name", "id_number", "phone", "move_in", "expected_move_out")}
    data.update(photo=photo, note=values["note"] or None)
    return values, data, errors


def blank_room() -> dict[str, str]:
    return {k: "" for k in ROOM_FIELDS} | {"capacity": "1", "label": ""}


def read_room(request: Request, session: Any, pu: PageUser, form: FormData
              ) -> tuple[dict[str, str], dict[str, Any], dict[str, str], list[UploadFile]]:
    """(what was typed, the service's data without photos, the form's own errors, the photo files)."""
    values = {k: fk.form_text(form, k)[:200] for k in ROOM_FIELDS}
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"door": values["door"], "label": values["label"], "note": values["note"] or None,
                            "landlord": {"name": values["landlord_name"], "id_number": values["landlord_id_number"],
                                         "phone": values["landlord_phone"] or None}}
    if values["building_id"]:
        try:
            data["building_id"] = uuid.UUID(values["building_id"])
        except ValueError:
            errors["building_id"] = tr(request, "rental.choose_building")
    else:
        errors["building_id"] = tr(request, "rental.choose_building")
    data["capacity"] = _int(request, values["capacity"], errors, "capacity")
    for name in ("rent_yuan",):
        value = _int(request, values[name], errors, name)
        if value is not None:
            data[name] = value
    area = _float(request, values["area_m2"], errors, "area_m2")
    if area is not None:
        data["area_m2"] = area
    for name in ("contract_start", "contract_end"):
        day = _date(request, values[name], errors, name)
        if day is not None:
            data[name] = day
    photos = _upload(form, "photos")
    if len(photos) > ROOM_PHOTOS:
        errors["photos"] = tr(request, "error.too_many_photos", n=ROOM_PHOTOS)
    return values, data, errors, photos


def store_room_photos(session: Any, pu: PageUser, photos: list[UploadFile]) -> list[str]:
    """The photos as attachments of the caller (on no case yet), which the room then names."""
    limit = get_settings().max_upload_bytes
    out = []
    for f in photos:
        data = f.file.read(limit + 1)
        files.require_image(files.check_upload(data)[0], "房屋照片")
        out.append(str(attachments.set_attachment(session, principal=pu.principal, data=data,
                                                  filename=f.filename or "").id))
    return out


# -- the room form (landlord, or staff on a landlord's behalf) -----------------------------------------------------

def room_form(request: Request, session: Any, pu: PageUser, portal: Portal, *, q: str = "",
              values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
              error: str | None = None, status: int = 200) -> Response:
    """The register-a-room form with the building search (by address, through ``rooms.find_buildings``; a form
    shown again searches again with the words its building was chosen from)."""
    values = values or blank_room()
    q = q.strip()[:50]
    found: list[Any] = []
    search_error = None
    if q:
        try:
            found = rooms.find_buildings(session, principal=pu.principal, q=q)
        except DomainError as exc:
            search_error = exc.message
    return render(request, portal.room_form_template, {
        "portal": portal, "q": q, "buildings": found, "search_error": search_error, "values": values,
        "errors": errors or {}, "error": error, "photo_limit": ROOM_PHOTOS, **cp.photo_picker(),
        "staff": _is_staff(pu),
        "max_capacity": rooms.MAX_CAPACITY, "label_max": rooms.LABEL_MAX}, status=status)


def _is_staff(pu: PageUser) -> bool:
    return pu.principal.can(Perm.rental_write)


def submit_room(request: Request, session: Any, pu: PageUser, portal: Portal, form: FormData) -> Response:
    values, data, errors, photos = read_room(request, session, pu, form)
    q = cp.text(form, "q", 50)  # the search the building was chosen from: its choices are shown again
    if errors:
        return room_form(request, session, pu, portal, q=q, values=values, errors=errors, status=422)
    try:
        data["photos"] = store_room_photos(session, pu, photos)
        done = rooms.register_room(session, principal=pu.principal, data=data)
    except DomainError as exc:
        roll_back_refused(session)
        if exc.status == 404:
            raise
        errors, message = field_errors(exc, (*ROOM_FIELDS, "photos"))
        if exc.code in fk.PHOTO_REFUSALS:
            errors, message = {"photos": exc.message}, None
        return room_form(request, session, pu, portal, q=q, values=values, errors=errors, error=message,
                         status=422 if errors else exc.status)
    room = done.room
    return render(request, "rental/issued.html", {"HEADINGS": HEADINGS,
        "portal": portal, "kind": "room", "room": rooms.room_view(session, room, show_code=True),
        "key": key_view(session, done.landlord_key.key), "code": done.landlord_key.code,
        "next_url": f"{portal.prefix}/rooms/{room.id}"})


# -- the room page (mobile: landlord and grid worker) ---------------------------------------------------------------

def room_context(session: Any, pu: PageUser, room_id: uuid.UUID) -> dict[str, Any]:
    room = rooms.get_room(session, principal=pu.principal, room_id=room_id)
    landlord = room.landlord_user_id == pu.principal.user_id
    rows, _ = stays.list_stays(session, principal=pu.principal, room_id=room.id, page_size=200)
    views = [stays.stay_view(session, s) for s in rows]
    key_rows = keys.list_keys(session, principal=pu.principal, room_id=room.id) if (landlord or _is_staff(pu)) \
        else []
    return {"room": rooms.room_view(session, room, show_code=landlord or _is_staff(pu)),
            "active": [v for v in views if v["state"] == StayState.active.value],
            "closed": [v for v in views if v["state"] != StayState.active.value],
            "keys": [key_view(session, k) for k in key_rows], "is_landlord": landlord,
            "can_write": landlord or _is_staff(pu), "staff": _is_staff(pu), "today": clock.today().isoformat()}


def room_page(request: Request, session: Any, pu: PageUser, portal: Portal, room_id: uuid.UUID, *,
              error: str | None = None, error_for: uuid.UUID | None = None, status: int = 200) -> Response:
    ctx = room_context(session, pu, room_id)
    return render(request, portal.room_template, {**ctx, "portal": portal, "error": error, "error_for": error_for},
                  status=status)


def room_photo(session: Any, pu: PageUser, room_id: uuid.UUID, attachment_id: uuid.UUID) -> Response:
    """One of a room's photos, as the service serves it (re-encoded without metadata): whoever may see the room."""
    ctype, data = rooms.room_photo(session, principal=pu.principal, room_id=room_id, attachment_id=attachment_id)
    return Response(data, media_type=ctype if ctype in files.IMAGE_TYPES else "application/octet-stream")


def stay_photo(session: Any, pu: PageUser, stay_id: uuid.UUID) -> Response:
    """The tenant's check-in photo (the service records every view in the audit log), for checking a person
    against their registration; opened from a link, never embedded, so that only a look someone chose is
    recorded."""
    ctype, data = stays.stay_photo(session, principal=pu.principal, stay_id=stay_id)
    return Response(data, media_type=ctype)


# -- check-in (landlord, grid worker, or the tenant with the room's check-in code) ----------------------------------

def checkin_form(request: Request, session: Any, pu: PageUser, portal: Portal, *, room_id: uuid.UUID | None,
                 values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                 error: str | None = None, status: int = 200) -> Response:
    room = None
    if room_id is not None:
        room = rooms.room_view(session, rooms.get_room(session, principal=pu.principal, room_id=room_id))
    action = f"{portal.prefix}/rooms/{room_id}/checkin" if room_id is not None else f"{portal.prefix}/checkin"
    return render(request, portal.checkin_template, {
        "portal": portal, "room": room, "values": values or blank_checkin(), "errors": errors or {},
        "error": error, "action_url": action, "by_code": room_id is None, **cp.photo_picker(),
        "max_day": (clock.today() + dt.timedelta(days=stays.MOVE_IN_FUTURE_DAYS)).isoformat(),
        "note_max": stays.NOTE_MAX}, status=status)


def submit_checkin(request: Request, session: Any, pu: PageUser, portal: Portal, form: FormData, *,
                   room_id: uuid.UUID | None) -> Response:
    """Check the tenant in through ``stays.check_in`` and show the key's code once; on refusal the form again with
    what was typed and each message beside its field."""
    values, data, errors = read_checkin(request, form)
    if room_id is None and not values["code"]:
        errors["code"] = tr(request, "formcheck.required", label=tr(request, "rental.checkin_code_label"))
    if errors:
        if room_id is not None:
            rooms.get_room(session, principal=pu.principal, room_id=room_id)  # a room not one's own: 404 first
        return checkin_form(request, session, pu, portal, room_id=room_id, values=values, errors=errors, status=422)
    try:
        done = stays.check_in(session, principal=pu.principal, data=data, room_id=room_id,
                              checkin_code=values["code"] if room_id is None else None)
    except DomainError as exc:
        roll_back_refused(session)
        if exc.status in (403, 404) and exc.code != "checkin_code_unknown":
            raise
        errors, message = field_errors(exc, (*CHECKIN_FIELDS, "photo", "code"))
        return checkin_form(request, session, pu, portal, room_id=room_id, values=values, errors=errors,
                            error=message, status=422 if errors else exc.status)
    stay = done.stay
    next_url = f"{portal.prefix}/rooms/{stay.room_id}" if room_id is not None else f"{portal.prefix}/stays"
    return render(request, "rental/issued.html", {"HEADINGS": HEADINGS,
        "portal": portal, "kind": "stay", "stay": stays.stay_view(session, stay),
        "key": key_view(session, done.key.key), "code": done.key.code, "next_url": next_url,
        "by_tenant": room_id is None})


def submit_checkout(request: Request, session: Any, pu: PageUser, portal: Portal, stay_id: uuid.UUID,
                    form: FormData, *, back: str | None = None) -> Response:
    """退租 through ``stays.check_out`` (which checks the permission before it looks the stay up, so a refusal
    cannot tell whether the stay exists); back to the room page (or ``back``) with the outcome."""
    errors: dict[str, str] = {}
    day = _date(request, cp.text(form, "moved_out", 10), errors, "moved_out")
    note = fk.form_text(form, "note")[:stays.NOTE_MAX + 1] or None
    try:
        if errors:
            stays.get_stay(session, principal=pu.principal, stay_id=stay_id)  # not one's own: 404 first
            raise_first(errors)
        stay = stays.check_out(session, principal=pu.principal, stay_id=stay_id, moved_out=day, note=note)
    except DomainError as exc:
        roll_back_refused(session)
        if exc.status in (403, 404):
            raise
        fields, message = field_errors(exc, ("moved_out", "note"))
        text = message or "；".join(fields.values())
        if back is not None:
            return refused(request, text, exc.status)
        room_id = stays.get_stay(session, principal=pu.principal, stay_id=stay_id).room_id
        return room_page(request, session, pu, portal, room_id, error=text, error_for=stay_id,
                         status=422 if fields else exc.status)
    return redirect((back or f"{portal.prefix}/rooms/{stay.room_id}") + "?msg=rental_checked_out")


def submit_extend(request: Request, session: Any, pu: PageUser, portal: Portal, stay_id: uuid.UUID,
                  form: FormData) -> Response:
    """续租 through ``stays.extend_stay`` (the landlord or staff; the tenant's key follows the new date); back to the
    room page with the outcome."""
    errors: dict[str, str] = {}
    day = _date(request, cp.text(form, "expected_move_out", 10), errors, "expected_move_out")
    if day is None and not errors:
        errors["expected_move_out"] = tr(request, "formcheck.required", label=tr(request, "rental.expected_move_out"))
    raw_version = cp.text(form, "version", 12)
    try:
        if day is None:
            stays.get_stay(session, principal=pu.principal, stay_id=stay_id)  # not one's own: 404 first
            raise_first(errors)
        assert day is not None
        stay = stays.extend_stay(session, principal=pu.principal, stay_id=stay_id, expected_move_out=day,
                                 version=int(raw_version) if raw_version.isdigit() else None)
    except DomainError as exc:
        roll_back_refused(session)
        if exc.status in (403, 404):
            raise
        fields, message = field_errors(exc, ("expected_move_out",))
        room_id = stays.get_stay(session, principal=pu.principal, stay_id=stay_id).room_id
        return room_page(request, session, pu, portal, room_id, error=message or "；".join(fields.values()),
                         error_for=stay_id, status=422 if fields else exc.status)
    return redirect(f"{portal.prefix}/rooms/{stay.room_id}?msg=rental_extended")


def renew_checkin_code(session: Any, pu: PageUser, portal: Portal, room_id: uuid.UUID) -> Response:
    """A new 入住码 for the room (the old one stops working), through ``rooms.renew_checkin_code``."""
    room = rooms.renew_checkin_code(session, principal=pu.principal, room_id=room_id)
    return redirect(f"{portal.prefix}/rooms/{room.id}?msg=rental_code_renewed")


def raise_first(errors: dict[str, str]) -> None:
    """The form's own first error as the refusal (with every field named, as the services do)."""
    raise ValidationFailed(next(iter(errors.values())), code="rental_invalid", details={"fields": errors})


def refused(request: Request, message: str, status: int) -> Response:
    """A refusal shown on the error page (its back link returns to the form's page): for the forms that sit on a
    page listing several stays (我的租住, the console's stay page)."""
    return error_page(request, status if status >= 400 else 422, message=message)


def renew_key(request: Request, session: Any, pu: PageUser, portal: Portal, key_id: uuid.UUID) -> Response:
    """A new code for a key through ``keys.renew_key`` (the old code stops working), shown once."""
    try:
        issued = keys.renew_key(session, principal=pu.principal, key_id=key_id)
    except DomainError as exc:
        roll_back_refused(session)
        if exc.status in (403, 404):
            raise
        return refused(request, exc.message, exc.status)
    key = issued.key
    stay = stays.stay_view(session, stays.get_stay(session, principal=pu.principal, stay_id=key.stay_id)) \
        if key.stay_id else None
    return render(request, "rental/issued.html", {"HEADINGS": HEADINGS,
        "portal": portal, "kind": "renewed", "stay": stay, "key": key_view(session, key), "code": issued.code,
        "next_url": f"{portal.prefix}/stays" if stay else f"{portal.prefix}/rooms/{key.room_id}", "by_tenant": True})


# -- what the tenant sees -------------------------------------------------------------------------------------------

def tenant_context(session: Any, pu: PageUser) -> dict[str, Any]:
    """我的租住: the caller's stays (newest first) with the keys of each, and the police delivery state."""
    rows = stays.my_stays(session, principal=pu.principal)
    key_rows = keys.my_keys(session, principal=pu.principal)
    by_stay: dict[Any, list[dict[str, Any]]] = {}
    for k in key_rows:
        if k.stay_id is not None:
            by_stay.setdefault(k.stay_id, []).append(key_view(session, k))
    views = []
    for s in rows:
        v = stays.stay_view(session, s)
        # my_keys holds the keys in force; a stay without one has its key ended: revoked at check-out, or expired
        # with the expected move-out
        v["keys"] = by_stay.get(s.id, [])
        v["key_ended"] = None if v["keys"] else ("revoked" if v["state"] != StayState.active.value else "expired")
        views.append(v)
    return {"stays": views, "police_states": police.STATES}
