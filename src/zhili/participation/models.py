"""Tables of resident participation: SMS verification codes, resident profiles, notices (公告) and suggestions
(建议) with their replies. Supports (附议) are the case loop's: ``zhili.cases.models.CaseSupport``."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from zhili.core.db import Base, UTCDateTime, path_string, utcnow
from zhili.core.ids import new_id


class SmsCode(Base):
    """One verification code sent to a phone: only the phone's blind index and a keyed hash of the code are kept."""

    __tablename__ = "sms_code"
    __table_args__ = (
        Index("ix_sms_code_phone", "phone_bidx", "created_at"),
        Index("ix_sms_code_ip", "ip", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    purpose: Mapped[str] = mapped_column(String(16))  # register | reset
    phone_bidx: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(64))


class ResidentProfile(Base):
    """A resident's home community (居住社区): which notices and disclosures the portal shows first."""

    __tablename__ = "resident_profile"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    community_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("unit.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Notice(Base):
    """A notice (公告) published by staff for one unit; residents of that unit's subtree see it."""

    __tablename__ = "notice"
    __table_args__ = (Index("ix_notice_path", "path", "publish_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))
    path: Mapped[str] = mapped_column(path_string())
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    publish_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expire_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Suggestion(Base):
    """A resident's suggestion or opinion (建议/意见) addressed to a unit (the district when none is chosen)."""

    __tablename__ = "suggestion"
    __table_args__ = (Index("ix_suggestion_path", "path", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))
    path: Mapped[str] = mapped_column(path_string())
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | replied
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    replied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SuggestionReply(Base):
    """A staff reply to a suggestion; the resident sees the replying unit, not the staff member's name."""

    __tablename__ = "suggestion_reply"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    suggestion_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("suggestion.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    author_role: Mapped[str] = mapped_column(String(32))
    unit_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
