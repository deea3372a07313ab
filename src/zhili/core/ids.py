"""Application-generated, time-ordered identifiers (UUIDv7, RFC 9562)."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Callable

from uuid6 import uuid7

_VERSION_VARIANT = (0x7 << 76) | (0b10 << 62)
_RAND_A_MASK = 0xFFF << 64
_RAND_B_MASK = (1 << 62) - 1


def new_id() -> uuid.UUID:
    """A new UUIDv7: exists before the row is written, sorts by creation time (monotonic within a process)."""
    return uuid.UUID(bytes=uuid7().bytes)


def id_at(moment: dt.datetime, *, randbits: Callable[[int], int] = secrets.randbits) -> uuid.UUID:
    """A UUIDv7 whose time part is ``moment`` (back-dated records such as imported or demo history).

    ``randbits`` may be a seeded generator's for reproducible demo data (74 random bits keep ids unique)."""
    ms = int(moment.timestamp() * 1000) & ((1 << 48) - 1)
    r = randbits(74)
    return uuid.UUID(int=(ms << 80) | _VERSION_VARIANT | ((r >> 62) << 64 & _RAND_A_MASK) | (r & _RAND_B_MASK))
