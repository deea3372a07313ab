"""Users, their unit bindings (jurisdiction) and login sessions."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zhili.core.crypto import encrypted
from zhili.core.db import Base, UTCDateTime, utcnow
from zhili.core.ids import new_id
from zhili.core.security import Role


class User(Base):
    """A person who logs in: resident or staff."""

    __tablename__ = "app_user"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=32))
    password_hash: Mapped[str] = mapped_column(String(255))
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary, info=encrypted("app_user", "phone"))
    phone_bidx: Mapped[str | None] = mapped_column(String(64), index=True)
    department: Mapped[str | None] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    units: Mapped[list[UserUnit]] = relationship(cascade="all, delete-orphan", lazy="select")

    __mapper_args__ = {"version_id_col": version}


class UserUnit(Base):
    """A user's binding to one unit; the user's jurisdiction is the union of these units' subtrees."""

    __tablename__ = "user_unit"
    __table_args__ = (UniqueConstraint("user_id", "unit_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"), index=True)


class AuthSession(Base):
    """A login session: the bearer token is stored only as its SHA-256."""

    __tablename__ = "auth_session"
    __table_args__ = (Index("ix_auth_session_user", "user_id", "expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
