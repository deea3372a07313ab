"""Helpers for the API tests: valid Chinese identifiers, an API wrapper, and register-object factories.

Objects are created through the API (as ``admin`` unless told) so the tests exercise the same code paths as
the UI. The fixtures using these live in ``tests/api/conftest.py``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.core.validators import id_check_digit, uscc_check_char

API = "/api/v1"
REG = f"{API}/registry"

_counter = itertools.count(1)


def unique() -> int:
    """A number not used before in this test run."""
    return next(_counter)


def id_number(birth: dt.date = dt.date(1985, 6, 15), *, male: bool = True, region: str = "330522",
              check: str | None = None) -> str:
    """A valid 18-character citizen ID number (GB 11643), unique within the run.

    ``check`` asks for a particular check character (e.g. ``"X"``); the sequence digits are searched for it.
    """
    while True:
        n = unique() % 500
        seq = f"{n * 2 + (1 if male else 0):03d}"
        first17 = f"{region}{birth:%Y%m%d}{seq}"
        digit = id_check_digit(first17)
        if check is None or digit == check:
            return first17 + digit


def bad_checksum(valid_id: str) -> str:
    """The same ID number with a wrong check character."""
    wrong = "0" if valid_id[-1] != "0" else "1"
    return valid_id[:17] + wrong


def credit_code() -> str:
    """A valid unified social credit code (GB 32100), unique within the run."""
    first17 = f"91330522MA2{unique():06d}"
    return first17 + uscc_check_char(first17)


def mobile() -> str:
    """A valid mainland mobile number, unique within the run."""
    return f"139{unique():08d}"


def audit_count(db: Session) -> int:
    from zhili.core.audit import AuditEvent

    return int(db.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def audit_actions_after(db: Session, count: int) -> list[str]:
    """The actions of the audit events written after the first ``count`` (see :func:`audit_count`)."""
    from zhili.core.audit import AuditEvent

    return list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq).offset(count)))


def audit_events(db: Session, action: str | None = None, object_id: Any = None) -> list[Any]:
    from zhili.core.audit import AuditEvent

    stmt = select(AuditEvent).order_by(AuditEvent.seq)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == str(object_id))
    return list(db.scalars(stmt))


@dataclass
class GridSet:
    """One building + entrance + household + person + organisation in one grid (the API's JSON)."""

    grid: str
    grid_id: str
    building: dict[str, Any]
    entrance: dict[str, Any]
    household: dict[str, Any]
    person: dict[str, Any]
    organisation: dict[str, Any]
    secrets: dict[str, str] = field(default_factory=dict)  # full ID/phone numbers, for leak checks

    def ids(self) -> dict[str, str]:
        return {k: getattr(self, k)["id"] for k in ("building", "household", "person", "organisation")}


class Api:
    """Thin wrapper over the TestClient: ``api.post("wangge_a", "/registry/buildings", json=...)``."""

    def __init__(self, client: Any, world: Any) -> None:
        self.client = client
        self.world = world

    def call(self, who: str | None, method: str, path: str, **kw: Any) -> Any:
        headers = self.world.headers(who) if who else {}
        url = path if path.startswith(API) else API + path
        return self.client.request(method, url, headers=headers, **kw)

    def get(self, who: str | None, path: str, **kw: Any) -> Any:
        return self.call(who, "GET", path, **kw)

    def post(self, who: str | None, path: str, **kw: Any) -> Any:
        return self.call(who, "POST", path, **kw)

    def patch(self, who: str | None, path: str, **kw: Any) -> Any:
        return self.call(who, "PATCH", path, **kw)

    def delete(self, who: str | None, path: str, **kw: Any) -> Any:
        return self.call(who, "DELETE", path, **kw)

    def created(self, who: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.post(who, path, json=body)
        assert r.status_code == 201, (path, r.status_code, r.text)
        return dict(r.json())

    # -- one object of each register --------------------------------------------------------------------

    def building(self, grid_id: Any, who: str = "admin", **extra: Any) -> dict[str, Any]:
        n = unique()
        return self.created(who, "/registry/buildings", {
            "grid_id": str(grid_id), "compound": "金陵小区", "name": f"{n}幢", "address": f"金陵路{n}号",
            "floors": 6, **extra})

    def entrance(self, building_id: Any, who: str = "admin") -> dict[str, Any]:
        return self.created(who, f"/registry/buildings/{building_id}/entrances", {"name": f"{unique()}单元"})

    def household(self, building_id: Any, who: str = "admin", **extra: Any) -> dict[str, Any]:
        return self.created(who, "/registry/households", {
            "building_id": str(building_id), "room": str(100 + unique()), **extra})

    def person(self, who: str = "admin", **fields: Any) -> dict[str, Any]:
        body = {"name": "张三", "id_number": id_number(), **fields}
        return self.created(who, "/registry/persons", body)

    def organisation(self, grid_id: Any, who: str = "admin", **extra: Any) -> dict[str, Any]:
        n = unique()
        return self.created(who, "/registry/organisations", {
            "grid_id": str(grid_id), "name": f"长兴第{n}商贸有限公司", "address": f"金陵路{n}号",
            "credit_code": credit_code(), **extra})

    def fresh(self, kind: str, grid_id: Any, anchor: GridSet) -> dict[str, Any]:
        """A new, unreferenced object of ``kind`` in the grid (so deleting it is allowed)."""
        if kind == "building":
            return self.building(grid_id)
        if kind == "household":
            return self.household(anchor.building["id"])
        if kind == "person":
            return self.person(grid_id=str(grid_id))
        if kind == "organisation":
            return self.organisation(grid_id)
        raise AssertionError(f"no factory for {kind!r}")

    def grid_set(self, grid: str) -> GridSet:
        grid_id = self.world.units[grid].id
        b = self.building(grid_id)
        e = self.entrance(b["id"])
        h = self.household(b["id"], entrance_id=e["id"], use="rented")
        pid, phone = id_number(check="X"), mobile()
        p = self.person(name=f"李{grid}", id_number=pid, phone=phone, household_id=h["id"], relation="head",
                        care_tags=["elderly_alone"])
        org_phone = mobile()
        o = self.organisation(grid_id, building_id=b["id"], contact_phone=org_phone, legal_rep="王五")
        return GridSet(grid=grid, grid_id=str(grid_id), building=b, entrance=e, household=h, person=p,
                       organisation=o, secrets={"id_number": pid, "phone": phone, "org_phone": org_phone})
