"""What the configuration, account and supervision pages share: permission gates (the 403 page for the wrong
role), reading typed values from posted forms with Chinese errors, the unit picker, and the nav items."""

from __future__ import annotations

import dataclasses
import math
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request

from zhili.core.errors import Forbidden, ValidationFailed
from zhili.core.security import ROLE_PERMISSIONS, Perm, Role
from zhili.web import (
    messages_admin,  # noqa: F401  (registers this feature's messages)
    messages_evaladmin,  # noqa: F401  (the 4E section's name in the navigation)
    messages_iot,  # noqa: F401  (the IoT section's name in the navigation)
)
from zhili.web.casepages import text
from zhili.web.deps import CurrentPageUser, PageUser
from zhili.web.render import env, tr

SUPERVISION_ROLES = frozenset({Role.department_handler, Role.community_staff, Role.street_staff,
                               Role.command_centre, Role.leader})


def perm_gate(allowed: Callable[[PageUser], bool], message_key: str) -> Callable[[Request, PageUser], PageUser]:
    """A dependency admitting the users ``allowed`` accepts (others get the 403 page with the message)."""

    def gate(request: Request, pu: CurrentPageUser) -> PageUser:
        if not allowed(pu):
            raise Forbidden(tr(request, message_key), code="wrong_portal")
        return pu

    return gate


def _can(perm: Perm) -> Callable[[PageUser], bool]:
    return lambda pu: pu.principal.can(perm)


ConfigUser = Annotated[PageUser, Depends(perm_gate(_can(Perm.config_write), "admin.forbidden_config"))]
AccountAdmin = Annotated[PageUser, Depends(perm_gate(_can(Perm.user_write), "admin.forbidden_users"))]
SupervisionUser = Annotated[PageUser, Depends(perm_gate(lambda pu: pu.principal.role in SUPERVISION_ROLES,
                                                        "admin.forbidden_supervision"))]
AdminHubUser = Annotated[PageUser, Depends(perm_gate(
    lambda pu: pu.principal.can(Perm.config_write) or pu.principal.can(Perm.user_write), "admin.forbidden_config"))]
StaffUser = Annotated[PageUser, Depends(perm_gate(
    lambda pu: pu.principal.role != Role.resident and pu.principal.can(Perm.region_read), "admin.forbidden_config"))]


# -- navigation ---------------------------------------------------------------------------------------------

def admin_sections(role: Any) -> list[tuple[str, str]]:
    """The configuration and supervision pages a role may open, as (href, message id)."""
    r = Role(getattr(role, "value", role))
    perms = ROLE_PERMISSIONS[r]
    out: list[tuple[str, str]] = []
    if Perm.user_write in perms:
        out.append(("/console/admin/users", "admin.users.title"))
    if Perm.config_write in perms:
        out += [("/console/admin/categories", "admin.cat.title"), ("/console/admin/rules", "admin.rule.title"),
                ("/console/admin/calendar", "admin.cal.title")]
    if r in SUPERVISION_ROLES:
        out.append(("/console/supervisions", "admin.sup.title"))
    if Perm.intel_admin in perms:
        out.append(("/console/intel/models", "intel.models.title"))
    return out


def admin_nav(role: Any) -> list[tuple[str, str]]:
    """Main-navigation items this feature adds for a role (``base.html``)."""
    r = Role(getattr(role, "value", role))
    out: list[tuple[str, str]] = []
    if r in SUPERVISION_ROLES:
        out.append(("/console/supervisions", "admin.nav.supervision"))
    if Perm.intel_read in ROLE_PERMISSIONS[r]:
        out.append(("/console/intel/", "intel.nav"))
    if Perm.iot_read in ROLE_PERMISSIONS[r]:
        out.append(("/console/iot/", "iot.nav"))
    if Perm.eval_read in ROLE_PERMISSIONS[r]:
        out.append(("/console/eval/", "eval.nav"))
    if Perm.config_write in ROLE_PERMISSIONS[r] or Perm.user_write in ROLE_PERMISSIONS[r]:
        out.append(("/console/admin/", "admin.nav.config"))
    return out


env.globals.update(admin_nav=admin_nav, admin_sections=admin_sections)


# -- reading forms ------------------------------------------------------------------------------------------

def invalid(request: Request, key: str, **params: Any) -> ValidationFailed:
    """A validation error with a catalogue message."""
    return ValidationFailed(tr(request, key, **params), code="invalid_form")


def number(request: Request, raw: str, label_key: str, *, integer: bool = False, low: float | None = None,
           high: float | None = None, above: float | None = None) -> float | int | None:
    """A number typed into a form ('' → None); out of range or not a number → a Chinese error naming the field."""
    if raw == "":
        return None
    name = tr(request, label_key)
    try:
        value: float | int = int(raw) if integer else float(raw)
    except ValueError as exc:
        raise invalid(request, "admin.err.integer" if integer else "admin.err.number", field=name) from exc
    if not math.isfinite(value):
        raise invalid(request, "admin.err.number", field=name)
    if above is not None and value <= above:
        raise invalid(request, "admin.err.above", field=name, n=f"{above:g}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise invalid(request, "admin.err.range", field=name, low=f"{low:g}", high=f"{high:g}")
    return value


def required(request: Request, raw: str, label_key: str, limit: int) -> str:
    """A required text field of at most ``limit`` characters."""
    if not raw:
        raise invalid(request, "admin.err.required", field=tr(request, label_key))
    if len(raw) > limit:
        raise invalid(request, "admin.err.too_long", field=tr(request, label_key), n=limit)
    return raw


def optional_uuid(request: Request, raw: str, label_key: str) -> uuid.UUID | None:
    """A UUID from a form ('' → None)."""
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise invalid(request, "admin.err.choice", field=tr(request, label_key)) from exc


_SPLIT = re.compile(r"[,，、;；\s]+")


def words(raw: str, *, limit: int = 50, each: int = 50) -> list[str]:
    """Keywords typed as one line (separated by commas, 、 or spaces), without duplicates."""
    out: list[str] = []
    for w in _SPLIT.split(raw):
        if w and w[:each] not in out:
            out.append(w[:each])
    return out[:limit]


def query_text(value: str | None, limit: int = 100) -> str:
    """A stripped query-string value ('' when absent)."""
    return (value or "").strip()[:limit]


def form_values(form: Any, names: Iterable[str], limit: int = 4000) -> dict[str, str]:
    """The posted strings of a form's fields, to show the form again unchanged after a refusal."""
    return {n: text(form, n, limit) for n in names}


# -- the unit picker ----------------------------------------------------------------------------------------

@dataclass
class Picker:
    """One unit picker on a form: a search (htmx) over the viewer's jurisdiction and radio buttons (one unit,
    ``multi=False``) or checkboxes (several). ``mode='path'`` posts the unit's path (a region subtree), else
    its id."""

    field: str
    label: str
    mode: str = "id"
    multi: bool = False
    empty_label: str | None = None  # single choice: the "none / any" option
    chosen: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    results: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def idp(self) -> str:
        return "pick-" + self.field.replace("_", "-")

    @property
    def search_url(self) -> str:
        return "/console/admin/units/pick?" + urlencode({"field": self.field, "mode": self.mode,
                                                          "multi": "1" if self.multi else "0"})


def unit_option(unit: Any, mode: str) -> dict[str, Any]:
    return {"value": unit.path if mode == "path" else str(unit.id), "name": unit.name, "code": unit.code,
            "level": getattr(unit.level, "value", unit.level)}


def picker(field_name: str, label: str, *, units: list[Any], chosen_values: Iterable[str], mode: str = "id",
           multi: bool = False, empty_label: str | None = None, offered: list[Any] | None = None) -> Picker:
    """A picker showing the chosen units (checked) and the ``offered`` ones to choose from."""
    wanted = [v for v in chosen_values if v]
    by_value = {unit_option(u, mode)["value"]: unit_option(u, mode) for u in units}
    # a value whose unit is gone (retired) stays chosen under its raw value, so saving never drops it silently
    chosen = [by_value.get(v) or {"value": v, "name": v, "code": "", "level": ""} for v in dict.fromkeys(wanted)]
    taken = {c["value"] for c in chosen}
    results = [o for o in (unit_option(u, mode) for u in offered or []) if o["value"] not in taken]
    return Picker(field=field_name, label=label, mode=mode, multi=multi, empty_label=empty_label, chosen=chosen,
                  results=results)
