"""How the auditor's pages show audit events: the one place that turns an action code into its name, an actor into
a name and a role, a target into a name and a link, and an event's before/after values into a readable field
list — with every ID number and phone number masked (and private persons' names), whatever the event holds.

Everything shown comes out of here as text already masked; the templates only lay it out."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from zhili.audit.names import Names, masked_person
from zhili.core.masking import mask_id_number, mask_phone, mask_text
from zhili.web import (
    i18n,
    messages_audit,  # noqa: F401  (registers this feature's messages)
)

CASE_NUMBER = re.compile(r"^[0-9A-Za-z]{2,12}-\d{8}-\d{6}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_PHONE_KEYS = ("phone", "mobile", "tel")
_NAME_KEYS = frozenset({"reporter_name", "contact_name", "legal_rep", "callback_name", "person_name"})
_DEPARTMENT_KEYS = frozenset({"department", "assignee_department", "target_department", "default_department",
                              "co_departments"})
# keys whose values are codes with a name in the catalogue: key → catalogue prefix
_LABELLED = {"state": "state", "from_state": "state", "to_state": "state", "channel": "channel", "role": "role",
             "relation": "relation", "resident_type": "resident_type", "use": "use", "care_tags": "care",
             "care_tag": "care", "building_type": "registry.building_type", "org_type": "registry.org_type"}


def _t(locale: str, key: str, **params: Any) -> str:
    return i18n.translate(locale, key, **params)


def action_name(locale: str, code: str) -> str:
    """An audit action's name: the catalogue's, else a case workflow step's (``case.dispatch`` → 派遣), else a
    readable 未登记的操作（code）— never the bare code."""
    if i18n.has(f"audit.action.{code}"):
        return _t(locale, f"audit.action.{code}")
    kind, _, step = code.partition(".")
    if kind == "case" and i18n.has(f"action.{step}"):
        return _t(locale, f"action.{step}")
    return _t(locale, "audit.unlisted_action", code=mask_text(code))


def object_name(locale: str, object_type: str) -> str:
    """The name of a kind of object (事件, 人员 …)."""
    key = f"audit.object.{object_type}"
    return _t(locale, key) if i18n.has(key) else _t(locale, "audit.unlisted_object", code=mask_text(object_type))


def role_name(locale: str, role: str | None) -> str:
    if not role:
        return ""
    if role == "system":
        return _t(locale, "audit.actor.system")
    return _t(locale, f"role.{role}") if i18n.has(f"role.{role}") else mask_text(role)


def refusal_name(locale: str, code: str) -> str:
    """Why a recorded request was refused, from its error code."""
    key = f"audit.refusal.{code}"
    return _t(locale, key) if i18n.has(key) else _t(locale, "audit.unlisted_refusal")


def field_label(locale: str, key: str) -> str:
    for k in (f"audit.field.{key}", f"registry.field.{key}"):
        if i18n.has(k):
            return _t(locale, k)
    return mask_text(str(key)).replace("_", " ")


# -- values ---------------------------------------------------------------------------------------------------------

def _personal(key: str, value: str, object_type: str) -> str:
    """A string value as the auditor may see it: personal numbers and private names masked by what the key says,
    then anything ID- or phone-shaped masked wherever it is."""
    k = key.lower()
    if "*" not in value:
        if k == "id_number" or k.endswith("_id_number"):
            value = mask_id_number(value) or ""
        elif any(m in k for m in _PHONE_KEYS):
            value = mask_phone(value) or ""
        elif k in _NAME_KEYS or (k == "name" and object_type == "person"):
            value = masked_person(value)
    return mask_text(value)


def show(locale: str, key: str, value: Any, *, object_type: str = "", names: Names | None = None) -> str:
    """One recorded value as text (lists joined with 、, mappings as 字段：值；…), personal data masked."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _t(locale, "audit.yes" if value else "audit.no")
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, list | tuple):
        if not value:
            return _t(locale, "audit.empty")
        return "、".join(show(locale, key, v, object_type=object_type, names=names) for v in value)
    if isinstance(value, dict):
        if not value:
            return _t(locale, "audit.empty")
        return "；".join(f"{field_label(locale, k)}：{show(locale, k, v, object_type=object_type, names=names)}"
                        for k, v in ((str(k), v) for k, v in value.items()))
    text = str(value)
    if key == "reason" and re.fullmatch(r"[a-z_]+", text):  # a refusal's error code
        return refusal_name(locale, text)
    prefix = _LABELLED.get(key)
    if prefix and i18n.has(f"{prefix}.{text}"):
        return _t(locale, f"{prefix}.{text}")
    if key == "fields":  # which fields a reveal showed
        return field_label(locale, text)
    if key in _DEPARTMENT_KEYS and names and text in names.departments:
        return names.departments[text]
    return _personal(key, text, object_type)


@dataclass(frozen=True)
class FieldRow:
    label: str
    before: str | None
    after: str | None


def field_list(locale: str, ev: Any, names: Names) -> list[FieldRow]:
    """An event's before/after as rows of (field, before, after); a value that is not a mapping is one row."""
    before, after = ev.before, ev.after
    if not isinstance(before, dict) or not isinstance(after, dict):
        rows = []
        for label_key, value, side in (("audit.event.before", before, "before"), ("audit.event.after", after, "a")):
            if value is not None:
                text = show(locale, "value", value, object_type=ev.object_type, names=names)
                rows.append(FieldRow(_t(locale, label_key), text if side == "before" else None,
                                     None if side == "before" else text))
        return rows
    keys = list(dict.fromkeys([*before, *after]))
    return [FieldRow(field_label(locale, str(k)),
                     show(locale, str(k), before[k], object_type=ev.object_type, names=names) if k in before else None,
                     show(locale, str(k), after[k], object_type=ev.object_type, names=names) if k in after else None)
            for k in keys]


# -- one row of a list ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EventRow:
    """An audit event as a list row shows it (all text masked)."""

    seq: int
    at: dt.datetime
    actor: str
    username: str | None
    role: str
    action: str
    refused: bool
    target_kind: str
    target: str
    target_href: str | None
    reason: str | None
    ip: str
    what: str  # the extra a review page shows: an export's row count, a login failure's cause


def actor_of(locale: str, ev: Any, names: Names) -> tuple[str, str | None, str]:
    """(name, username or None, role name) of who acted."""
    known = names.actors.get(ev.actor_id) if ev.actor_id else None
    if known is not None:
        return known.name, known.username, role_name(locale, known.role)
    if ev.actor_name == "system":
        return _t(locale, "audit.actor.system"), None, ""
    if ev.actor_name == "anonymous" or not ev.actor_name:
        return _t(locale, "audit.actor.anonymous" if ev.actor_name else "audit.actor.unknown"), None, ""
    return mask_text(ev.actor_name), None, role_name(locale, ev.actor_role)


def target_of(locale: str, ev: Any, names: Names) -> tuple[str, str, str | None]:
    """(kind of object, its name, the log filtered to it) — the name masked, a short id when nothing names it."""
    kind = object_name(locale, ev.object_type)
    oid = ev.object_id
    if not oid:
        return kind, "", None
    name = names.targets.get((ev.object_type, oid))
    if name is None:
        recorded = next((v.get("name") for v in (ev.before, ev.after) if isinstance(v, dict) and v.get("name")), None)
        if recorded:
            name = show(locale, "name", recorded, object_type=ev.object_type)
        else:
            name = "…" + oid[-8:] if _UUID.match(oid) else mask_text(oid)  # time-ordered ids differ at the end
    if mask_text(oid) != oid or mask_text(ev.object_type) != ev.object_type:
        return kind, name, None  # a personal number never goes into a link
    query = {"target_type": ev.object_type,
             "target": name if ev.object_type == "case" and CASE_NUMBER.match(name) else oid}
    return kind, name, "/console/audit/?" + urlencode(query)


def _what(locale: str, ev: Any) -> str:
    after = ev.after if isinstance(ev.after, dict) else {}
    if ev.action == "auth.locked":
        return refusal_name(locale, "lockout")
    if ev.action == "auth.login_failed":
        return refusal_name(locale, str(after.get("reason") or "bad_password"))
    parts = []
    if ev.action.endswith("_refused") and after.get("reason"):
        parts.append(refusal_name(locale, str(after["reason"])))
    if isinstance(after.get("filters"), dict) and after["filters"]:
        parts.append(show(locale, "filters", after["filters"], object_type=ev.object_type))
    if isinstance(after.get("rows"), int):
        parts.append(_t(locale, "audit.export.rows", n=after["rows"]))
    if isinstance(after.get("fields"), list):
        parts.append(show(locale, "fields", after["fields"]))
    return "；".join(parts)


def rows(locale: str, events: Iterable[Any], names: Names) -> list[EventRow]:
    out = []
    for ev in events:
        actor, username, role = actor_of(locale, ev, names)
        kind, target, href = target_of(locale, ev, names)
        out.append(EventRow(
            seq=ev.seq, at=ev.at, actor=actor, username=username, role=role, action=action_name(locale, ev.action),
            refused=ev.action.endswith("_refused"), target_kind=kind, target=target, target_href=href,
            reason=mask_text(ev.reason) if ev.reason else None, ip=ev.ip or "—", what=_what(locale, ev)))
    return out
