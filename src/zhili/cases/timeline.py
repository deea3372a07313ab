"""A case's timeline as one viewer reads it: names, never codes, and never the reporter's identity.

The stored events (``case_event``, append-only) keep who took each step as it was then. What a viewer is shown:

* **the reporter** (a resident's steps: the report, a verification, the rating) — 上报人, to every viewer. The
  report form promises that contact details are not shown to the handling departments; the command centre, which
  calls reporters back, reads the name and phone through its audited reveal (``service.reveal_reporter``), never
  from the timeline;
* **the system** (automatic dispatch, the deadline sweep; stored as "system", 系统自动 …) — 系统;
* **staff** — their display name to staff; to a resident the department they act for, else their role's name
  (residents never see staff accounts);
* comments the platform wrote before it named things (``通过grid_worker上报``, ``通过居民上报上报``, a rule name
  ``… → HW``) are shown with names, the stored row untouched;
* a rating step carries its stars (``rating``).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from zhili.cases.models import CaseEvent
from zhili.core import names
from zhili.core.security import Role

_CODED_CHANNEL = re.compile(r"通过([a-z][a-z0-9_]*)上报")
_DOUBLED_CHANNEL = re.compile("通过(" + "|".join(map(re.escape, names.zh("channel").values())) + ")上报")
_CODED_DEPARTMENT = re.compile(r"→\s*([A-Z][A-Z0-9]{1,15})(?![A-Za-z0-9_])")
_ROLES = frozenset(r.value for r in Role)


@dataclass(frozen=True)
class EventView:
    """One timeline step as the viewer reads it (the attributes of :class:`CaseEvent` the pages and the API show)."""

    id: uuid.UUID
    seq: int
    at: dt.datetime
    action: str
    from_state: str | None
    to_state: str
    actor_name: str | None  # the actor as this viewer may see them (see the module's docstring)
    actor_role: str | None
    actor_unit: str | None  # the department's name, when the actor acted for one
    comment: str | None
    payload: dict[str, Any]
    attachment_ids: list[str]
    public: bool
    rating: int | None = None  # a rating step's stars (1–5)


def readable_comment(comment: str | None, departments: Mapping[str, str]) -> str | None:
    """A stored comment with the codes of older platform-written comments replaced by names."""
    if not comment:
        return comment
    by_label = {label: code for code, label in names.zh("channel").items()}

    def coded_channel(m: re.Match[str]) -> str:
        return names.name("channel_report", m.group(1)) or m.group(0)

    def doubled(m: re.Match[str]) -> str:
        return names.name("channel_report", by_label[m.group(1)]) or m.group(0)

    def department(m: re.Match[str]) -> str:
        return f"→ {departments[m.group(1)]}" if m.group(1) in departments else m.group(0)

    text = _CODED_CHANNEL.sub(coded_channel, comment)
    text = _DOUBLED_CHANNEL.sub(doubled, text)
    return _CODED_DEPARTMENT.sub(department, text)


def actor_shown(ev: CaseEvent, *, viewer: Role, departments: Mapping[str, str]) -> str | None:
    """Who took the step, as ``viewer`` may see it."""
    role = ev.actor_role
    if names.is_system(ev.actor_name) or (role not in _ROLES and not ev.actor_name):
        return names.SYSTEM_NAME
    if role == Role.resident.value:
        return names.REPORTER_NAME
    if role not in _ROLES:  # an actor stored without a role (the demo history's 物联感知设备, …): its stored label
        return ev.actor_name
    if viewer == Role.resident:
        return departments.get(ev.actor_unit or "") or names.name("role", role)
    return ev.actor_name or names.name("role", role)


def event_views(events: Iterable[CaseEvent], *, viewer: Role, departments: Mapping[str, str],
                case_rating: int | None = None) -> list[EventView]:
    """The events as ``viewer`` reads them. ``case_rating``: the case's rating, for a rating step stored without
    its stars (older rows); the newest rating step takes it."""
    events = list(events)
    last_rate = max((e.seq for e in events if e.action == "rate"), default=None)
    out = []
    for e in events:
        payload = dict(e.payload or {})
        rating = payload.get("rating") if e.action == "rate" else None
        if e.action == "rate" and rating is None and e.seq == last_rate:
            rating = case_rating
        out.append(EventView(
            id=e.id, seq=e.seq, at=e.at, action=e.action, from_state=e.from_state, to_state=e.to_state,
            actor_name=actor_shown(e, viewer=viewer, departments=departments), actor_role=e.actor_role,
            actor_unit=departments.get(e.actor_unit or "") or (None if viewer == Role.resident else e.actor_unit),
            comment=readable_comment(e.comment, departments), payload=payload,
            attachment_ids=list(e.attachment_ids or []), public=e.public,
            rating=rating if isinstance(rating, int) and 1 <= rating <= 5 else None))
    return out
