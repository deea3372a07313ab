"""Application-generated, time-ordered identifiers (UUIDv7)."""

from __future__ import annotations

import uuid

from uuid6 import uuid7


def new_id() -> uuid.UUID:
    """A new UUIDv7: exists before the row is written, sorts by creation time."""
    return uuid.UUID(bytes=uuid7().bytes)
