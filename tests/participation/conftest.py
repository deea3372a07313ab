"""Fixtures for the participation tests: the world of the root conftest with the shipped taxonomy, a second
resident, a fake SMS channel (codes are read from what it "sent") and a fake notification channel."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session

from casedata import required_attributes
from zhili.cases import notify
from zhili.core.jurisdiction import Principal
from zhili.core.security import Role
from zhili.participation import sms


@dataclass
class Part:
    db: Session
    world: Any
    sms: notify.FakeChannel
    inbox: notify.FakeChannel

    def principal(self, who: str) -> Principal:
        from zhili.users.service import principal_for_user

        return principal_for_user(self.db, user=self.world.users[who])

    def last_code(self, phone: str) -> str:
        """The 6-digit code in the newest SMS sent to ``phone``."""
        sent = [m for m in self.sms.sent if m.phone == phone]
        assert sent, f"no SMS to {phone}"
        m = re.search(r"\b(\d{6})\b", sent[-1].body)
        assert m, sent[-1].body
        return m.group(1)

    def report(self, who: str = "jumin", *, lon: float = 119.1, lat: float = 31.1, category: str = "SJ-0102",
               description: str = "小区门口垃圾堆放三天无人清运", **extra: Any) -> Any:
        from zhili.cases import service
        from zhili.cases.models import Channel

        case, _ = service.report_case(self.db, principal=self.principal(who), channel=Channel.resident,
                                      data={"category_code": category, "description": description, "lon": lon,
                                            "lat": lat, "attributes": required_attributes(self.db, category),
                                            **extra})
        self.db.flush()
        return case


def _resident(db: Session, username: str) -> tuple[Any, str]:
    """A second resident with a live session token (as the root conftest's users are made)."""
    from zhili.core.db import utcnow
    from zhili.core.ids import new_id
    from zhili.core.security import token_digest
    from zhili.users.models import AuthSession, User

    user = User(id=new_id(), username=username, display_name=username, role=Role.resident, password_hash="!")
    db.add(user)
    db.flush()
    token = f"tok_{username}_{uuid.uuid4().hex}"
    db.add(AuthSession(user_id=user.id, token_hash=token_digest(token), expires_at=utcnow() + dt.timedelta(hours=1)))
    db.flush()
    return user, token


@pytest.fixture
def part(db: Session, world: Any) -> Iterator[Part]:
    from zhili.cases.taxonomy import load_defaults

    load_defaults(db)
    world.users["jumin2"], world.tokens["jumin2"] = _resident(db, "jumin2")
    fake_sms, fake_inbox = notify.FakeChannel(name="sms"), notify.FakeChannel()
    sms.set_sms_channel(fake_sms)
    notify.set_channels([fake_inbox])
    try:
        yield Part(db=db, world=world, sms=fake_sms, inbox=fake_inbox)
    finally:
        sms.set_sms_channel(None)
        notify.set_channels(None)
