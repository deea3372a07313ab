"""Counters that change whenever cached state may have gone stale.

Row 1 (:data:`CONFIG`) changes with configuration: categories, responsibility-list rules, departments, calendar
overrides, units and their boundaries. Row 2 (:data:`AUTH`, migration 0008) changes with what a principal is built
from: sessions revoked or deleted, users' role, department, name or active flag, unit bindings, unit paths.

Database triggers (installed by migrations 0007 and 0008) bump them on every change to those tables, whoever makes
it — a service, the CLI, an import, another process. Per-process caches (the intake snapshot, principals by token)
compare one indexed row instead of reading the tables: on SQLite every new read transaction after another
connection's commit starts with a cold page cache, so an aggregate over a table costs real I/O.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from zhili.core.db import Base

# The tables whose rows are configuration; the migration installs a trigger on each.
WATCHED_TABLES = ("category", "dispatch_rule", "department", "calendar_override", "unit", "unit_boundary")


CONFIG = 1
AUTH = 2

Stamp = tuple[int, int]


class ConfigVersion(Base):
    """One counter per row: ``id = 1`` configuration, ``id = 2`` authentication."""

    __tablename__ = "config_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    # A random number drawn with every bump: a change made in a transaction that was rolled back and a later,
    # different change reach the same version number, but not the same (version, token).
    token: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)


def current(session: Session, row: int = CONFIG) -> Stamp:
    """One counter's (version, token); (0, 0) if the row is missing."""
    got = session.connection().execute(select(ConfigVersion.version, ConfigVersion.token)
                                       .where(ConfigVersion.id == row)).first()
    return (got[0], got[1]) if got else (0, 0)


def current_all(session: Session) -> dict[int, Stamp]:
    """Every counter's (version, token) in one read."""
    return {r.id: (r.version, r.token) for r in session.connection().execute(
        select(ConfigVersion.id, ConfigVersion.version, ConfigVersion.token))}
