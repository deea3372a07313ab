"""Fixtures for the household-visit tests: the world of the root conftest, the shipped taxonomy (for follow-up
cases), a temporary file store, a fake notification channel, and households with members in grids ga and gb."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from zhili.cases import files, notify
from zhili.core.jurisdiction import Principal

WORKERS = {"ga": "wangge_a", "gb": "wangge_b"}


@dataclass
class VisitKit:
    db: Session
    world: Any
    _seq: int = 0

    def principal(self, who: str) -> Principal:
        from zhili.users.service import principal_for_user

        return principal_for_user(self.db, user=self.world.users[who])

    def household(self, grid: str = "ga", *, room: str | None = None) -> Any:
        """A building and a household in the grid, registered by the grid's worker."""
        from zhili.registry import service as registry
        from zhili.registry.models import BuildingType, HouseholdUse

        self._seq += 1
        worker = self.principal(WORKERS[grid])
        b = registry.create_building(self.db, principal=worker, data={
            "grid_id": self.world.units[grid].id, "name": f"{self._seq}幢", "address": f"金陵路{self._seq}号",
            "building_type": BuildingType.residential, "lon": 119.1 if grid == "ga" else 119.3, "lat": 31.1})
        return registry.create_household(self.db, principal=worker, data={
            "building_id": b.id, "room": room or f"{500 + self._seq}", "use": HouseholdUse.owner_occupied})

    def person(self, household: Any, *, name: str = "王芳", grid: str = "ga") -> Any:
        from zhili.core.validators import id_check_digit
        from zhili.registry import service as registry
        from zhili.registry.models import ResidentType

        self._seq += 1
        first17 = f"33052219{40 + self._seq % 50:02d}0615{self._seq * 2 + 1:03d}"
        return registry.create_person(self.db, principal=self.principal(WORKERS[grid]), data={
            "name": name, "id_number": first17 + id_check_digit(first17), "phone": "13812345678",
            "household_id": household.id, "relation": "head", "resident_type": ResidentType.registered,
            "care_tags": ["elderly_alone"]})

    def visit(self, household: Any, who: str = "wangge_a", *, summary: str = "老人身体状况良好",
              visited_at: dt.datetime | None = None, **kwargs: Any) -> Any:
        from zhili.visits import service

        kwargs.setdefault("kind", "care")
        v = service.record_visit(self.db, principal=self.principal(who), household_id=household.id,
                                 summary=summary, visited_at=visited_at, **kwargs)
        self.db.flush()
        return v


@pytest.fixture
def vkit(db: Session, world: Any, tmp_path: Path) -> Iterator[VisitKit]:
    from zhili.cases.taxonomy import load_defaults

    load_defaults(db)
    notify.set_channels([notify.FakeChannel()])
    files.set_store(files.LocalFileStore(tmp_path / "files"))
    try:
        yield VisitKit(db=db, world=world)
    finally:
        files.set_store(None)
        notify.set_channels(None)
