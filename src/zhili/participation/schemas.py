"""API shapes of resident participation."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, Field

from zhili.core.schemas import ORMModel


class CodeRequest(BaseModel):
    phone: str = Field(min_length=1, max_length=20, description="手机号")
    purpose: Literal["register", "reset"] = Field(description="register 注册 / reset 找回密码")


class CodeSent(BaseModel):
    sent: bool = True
    expires_in: int = Field(description="验证码有效期（秒）")
    resend_after: int = Field(description="多少秒后可重新获取")


class RegisterIn(BaseModel):
    phone: str = Field(min_length=1, max_length=20)
    code: str = Field(min_length=1, max_length=12)
    password: str = Field(min_length=1, max_length=256)
    display_name: str | None = Field(None, max_length=32)
    community_id: uuid.UUID | None = None


class Registered(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: dt.datetime
    user_id: uuid.UUID


class PasswordResetIn(BaseModel):
    phone: str = Field(min_length=1, max_length=20)
    code: str = Field(min_length=1, max_length=12)
    password: str = Field(min_length=1, max_length=256)


class PublicCaseOut(ORMModel):
    id: uuid.UUID
    category_name: str
    summary: str
    state: str
    state_label: str
    reported_at: dt.datetime
    place: str = Field(description="所在社区（近似位置）")
    distance_m: int | None = Field(None, description="距离（米，约数）")
    support_count: int
    supported: bool
    own: bool


class NoticeIn(BaseModel):
    unit_id: uuid.UUID
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=10_000)
    publish_at: dt.datetime | None = None
    expire_at: dt.datetime | None = None
    pinned: bool = False


class NoticePatch(BaseModel):
    unit_id: uuid.UUID | None = None
    title: str | None = Field(None, min_length=1, max_length=200)
    body: str | None = Field(None, min_length=1, max_length=10_000)
    publish_at: dt.datetime | None = None
    expire_at: dt.datetime | None = None
    pinned: bool | None = None


class NoticeOut(ORMModel):
    id: uuid.UUID
    unit_id: uuid.UUID
    path: str
    title: str
    body: str
    publish_at: dt.datetime
    expire_at: dt.datetime | None = None
    pinned: bool
    withdrawn_at: dt.datetime | None = None


class DisclosureOut(ORMModel):
    unit_id: uuid.UUID
    unit_name: str
    month: str
    since: dt.date
    until: dt.date
    reported: int
    closed: int
    closed_on_time: int
    on_time_rate: float | None
    satisfaction: float | None
    rating_count: int


class SuggestionIn(BaseModel):
    title: str = Field(min_length=1, max_length=100)
    body: str = Field(min_length=1, max_length=4000)
    unit_id: uuid.UUID | None = None


class SuggestionOut(ORMModel):
    id: uuid.UUID
    unit_id: uuid.UUID
    title: str
    body: str
    status: str
    created_at: dt.datetime
    replied_at: dt.datetime | None = None


class ReplyIn(BaseModel):
    body: str = Field(min_length=1, max_length=4000)


class ReplyOut(ORMModel):
    id: uuid.UUID
    body: str
    unit_name: str | None = None
    created_at: dt.datetime


class SuggestionThreadOut(BaseModel):
    suggestion: SuggestionOut
    unit_name: str
    replies: list[ReplyOut]
