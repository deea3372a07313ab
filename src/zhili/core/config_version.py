"""One counter that changes whenever configuration changes: categories, responsibility-list rules, departments,
calendar overrides, units and their boundaries.

Database triggers (installed by migration 0007) bump it on every INSERT, UPDATE or DELETE of those tables, whoever
makes the change — a service, the CLI, an import, another process. Per-process caches of configuration (the intake
snapshot) compare one indexed row instead of aggregating over the tables: on SQLite every new read transaction
after another connection's commit starts with a cold page cache, so an aggregate over a table costs real I/O.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from zhili.core.db import Base

# The tables whose rows are configuration; the migration installs a trigger on each.
WATCHED_TABLES = ("category", "dispatch_rule", "department", "calendar_override", "unit", "unit_boundary")


class ConfigVersion(Base):
    """The single row ``id = 1`` holding the configuration version."""

    __tablename__ = "config_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    # A random number drawn with every bump: a change made in a transaction that was rolled back and a later,
    # different change reach the same version number, but not the same (version, token).
    token: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)


def current(session: Session) -> tuple[int, int]:
    """The configuration (version, token); (0, 0) if the row is missing."""
    row = session.connection().execute(select(ConfigVersion.version, ConfigVersion.token)
                                       .where(ConfigVersion.id == 1)).first()
    return (row[0], row[1]) if row else (0, 0)
