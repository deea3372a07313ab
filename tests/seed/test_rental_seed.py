"""The demo's rental housing: rooms and tenants through the rental services, a landlord and a tenant account that
sign in and find their room and stay, and the planted causes raising every rental warning at once."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhili.core.db import make_engine
from zhili.core.migrate import upgrade
from zhili.core.security import verify_password
from zhili.intel.models import Warning
from zhili.rental import keys, rooms, stays
from zhili.rental.models import DeliveryState, PoliceDelivery, Room, Stay, StayState
from zhili.seed.demo import seed_demo
from zhili.seed.rental import seed_rental
from zhili.users.models import User
from zhili.users.service import principal_for_user


@pytest.fixture(scope="module")
def rental(tmp_path_factory: pytest.TempPathFactory) -> Any:
    url = f"sqlite:///{(tmp_path_factory.mktemp('rentalseed') / 'demo.db').as_posix()}"
    upgrade(url=url)
    engine = make_engine(url)
    seed_demo(engine, scale="small", workers=0)
    with Session(engine) as s:
        counts, users = seed_rental(s, scale="small")
        s.commit()
    yield engine, counts, users
    engine.dispose()


def test_rooms_stays_and_deliveries_are_seeded(rental: Any) -> None:
    engine, counts, _ = rental
    with Session(engine) as s:
        assert counts["rental_room"] == s.scalar(select(func.count()).select_from(Room)) >= 10
        active = s.scalar(select(func.count()).select_from(Stay).where(Stay.state == StayState.active))
        assert active and active >= 10
        states = dict(s.execute(select(PoliceDelivery.state, func.count()).group_by(PoliceDelivery.state)).all())
        assert states[DeliveryState.dead] == 1 and states[DeliveryState.delivered] >= 10


def test_every_rental_warning_shows(rental: Any) -> None:
    engine, counts, _ = rental
    with Session(engine) as s:
        kinds = set(s.scalars(select(Warning.kind).where(Warning.kind.startswith("rental_"))))
    assert kinds == {"rental_overcrowded", "rental_double", "rental_overstay", "rental_vacant_activity",
                     "rental_permit_due", "rental_unknown_unlock"}
    assert counts["rental_warning"] >= 5


def test_the_demo_landlord_and_tenant_sign_in_and_find_their_own(rental: Any) -> None:
    engine, _, users = rental
    assert [u.username for u in users] == ["fangdong", "zuke"]
    with Session(engine) as s:
        for u in users:
            account = s.scalar(select(User).where(User.username == u.username))
            assert account is not None and verify_password(account.password_hash, u.password)
        landlord = principal_for_user(s, user=s.scalar(select(User).where(User.username == "fangdong")))
        tenant = principal_for_user(s, user=s.scalar(select(User).where(User.username == "zuke")))
        assert len(rooms.my_rooms(s, principal=landlord)) == 2
        [mine] = stays.my_stays(s, principal=tenant)
        assert mine.state == StayState.active and mine.registered_via.value == "portal"
        assert [k.holder_kind.value for k in keys.my_keys(s, principal=tenant)] == ["tenant"]
    # the seed is not repeated
    with Session(engine) as s:
        assert seed_rental(s, scale="small") == ({}, [])


def test_tenant_id_numbers_skip_numbers_the_register_already_holds() -> None:
    """The large demo's million residents fill the same ID-number space: a tenant given a resident's number under
    another name was refused at check-in and stopped `zhili seed --scale large`. The generator now skips them."""
    import random

    from zhili.core.validators import validate_id_number
    from zhili.seed.rental import _People

    plain = _People(random.Random(7)).id_number()
    held = {plain}
    fresh = _People(random.Random(7), taken=held.__contains__).id_number()
    assert fresh != plain and validate_id_number(fresh) == fresh
