"""Fixtures for the page tests: one application for the run, the shipped taxonomy, a temporary file store, a fake
notification channel, and helpers to act as a world user (through the services, as the other front door)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from casedata import required_attributes
from zhili.cases import files, notify
from zhili.core.jurisdiction import Principal


@pytest.fixture(scope="session")
def _web_app() -> Any:
    from zhili.app import create_app

    return create_app()


@pytest.fixture
def app(_web_app: Any, db: Session) -> Iterator[Any]:
    """The root ``app`` fixture, with the application built once; requests run in the test's session."""
    from zhili.core.db import settle
    from zhili.http.deps import get_db

    def _db() -> Iterator[Session]:
        db.commit()  # what the test set up stays even if the request rolls its own work back
        with settle(db):  # as the real dependency: commit, roll back, or keep what a refusal must leave
            yield db

    _web_app.dependency_overrides[get_db] = _db
    yield _web_app
    _web_app.dependency_overrides.clear()


@dataclass
class Site:
    """The world of the root conftest plus the shipped taxonomy, and service-level shortcuts."""

    db: Session
    world: Any
    fake: notify.FakeChannel
    _seq: int = 0

    def principal(self, who: str) -> Principal:
        from zhili.users.service import principal_for_user

        return principal_for_user(self.db, user=self.world.users[who])

    def token(self, who: str) -> str:
        return str(self.world.tokens[who])

    def report(self, who: str = "jumin", *, description: str = "小区门口垃圾堆放三天无人清运", lon: float = 119.1,
               lat: float = 31.1, category: str = "SJ-0102") -> Any:
        from zhili.cases import service
        from zhili.cases.models import Channel

        p = self.principal(who)
        channel = Channel.resident if who.startswith("jumin") else Channel.grid_worker
        case, _ = service.report_case(self.db, principal=p, channel=channel,
                                      data={"category_code": category, "description": description, "lon": lon,
                                            "lat": lat, "attributes": required_attributes(self.db, category)})
        self.db.flush()
        return case

    def act(self, who: str, case: Any, action: str, **payload: Any) -> Any:
        from zhili.cases import engine

        out = engine.transition(self.db, principal=self.principal(who), case_id=case.id, action=action,
                                 payload=payload)
        self.db.flush()
        return out

    def dispatched_to_grid(self, grid: str = "ga", **report: Any) -> Any:
        """A case accepted by the command centre and dispatched to a grid (its worker handles it)."""
        case = self.report(**report)
        self.act("zhihui", case, "accept")
        return self.act("zhihui", case, "dispatch", unit_id=self.world.units[grid].id)

    def household_in(self, grid: str, *, room: str = "501", address: str | None = None) -> Any:
        """A building and a household in a grid, registered by that grid's worker."""
        from zhili.registry import service as registry
        from zhili.registry.models import BuildingType, HouseholdUse

        worker = self.principal({"ga": "wangge_a", "gb": "wangge_b"}[grid])
        b = registry.create_building(self.db, principal=worker, data={
            "grid_id": self.world.units[grid].id, "name": "3幢", "address": address or f"金陵路{room}号3幢",
            "building_type": BuildingType.residential})
        return registry.create_household(self.db, principal=worker, data={
            "building_id": b.id, "room": room, "use": HouseholdUse.rented})

    def person_in(self, grid: str, *, name: str = "王芳", phone: str = "13812345678", household: Any = None) -> Any:
        """A person (with ID and phone number) living in a household of the grid."""
        from zhili.core.validators import id_check_digit
        from zhili.registry import service as registry
        from zhili.registry.models import ResidentType

        self._seq += 1
        first17 = f"330522198506{15:02d}{self._seq * 2 + 1:03d}"
        household = household or self.household_in(grid, room=str(500 + self._seq))
        worker = self.principal({"ga": "wangge_a", "gb": "wangge_b"}[grid])
        return registry.create_person(self.db, principal=worker, data={
            "name": name, "id_number": first17 + id_check_digit(first17), "phone": phone,
            "household_id": household.id, "relation": "head", "resident_type": ResidentType.registered,
            "care_tags": ["elderly_alone"]})

    def resolved(self, **report: Any) -> Any:
        case = self.dispatched_to_grid(**report)
        self.act("wangge_a", case, "start")
        return self.act("wangge_a", case, "resolve", result="已清运完毕，现场恢复整洁")


@pytest.fixture
def site(db: Session, world: Any, tmp_path: Path) -> Iterator[Site]:
    from zhili.cases.taxonomy import load_defaults

    load_defaults(db)
    fake = notify.FakeChannel()
    notify.set_channels([fake])
    files.set_store(files.LocalFileStore(tmp_path / "files"))
    try:
        yield Site(db=db, world=world, fake=fake)
    finally:
        files.set_store(None)
        notify.set_channels(None)
