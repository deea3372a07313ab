"""User and login schemas."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from zhili.core.schemas import ORMModel
from zhili.core.security import Role


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: dt.datetime
    must_change_password: bool = False


class UnitRef(ORMModel):
    id: uuid.UUID
    code: str
    name: str
    level: str
    path: str


class UserOut(ORMModel):
    id: uuid.UUID
    username: str
    display_name: str
    role: Role
    role_label: str
    department: str | None = None
    phone_masked: str | None = None
    is_active: bool
    locked: bool = False
    units: list[UnitRef] = []
    last_login_at: dt.datetime | None = None
    created_at: dt.datetime


class MeOut(UserOut):
    permissions: list[str]
    scope_paths: list[str]


class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    display_name: str = Field(min_length=1, max_length=100)
    role: Role
    password: str = Field(min_length=1, max_length=256)
    unit_ids: list[uuid.UUID] = []
    department: str | None = Field(None, max_length=100)
    phone: str | None = None


class UserUpdate(BaseModel):
    display_name: str | None = Field(None, min_length=1, max_length=100)
    role: Role | None = None
    unit_ids: list[uuid.UUID] | None = None
    department: str | None = Field(None, max_length=100)
    is_active: bool | None = None
    phone: str | None = None


class PasswordChange(BaseModel):
    old_password: str
    new_password: str


class PasswordReset(BaseModel):
    new_password: str
