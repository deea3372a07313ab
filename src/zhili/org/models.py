"""The department table (职能部门)."""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from zhili.core.db import Base
from zhili.core.ids import new_id


class Department(Base):
    """A handling department or agency (职能部门), or an enterprise such as the power company."""

    __tablename__ = "department"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    short_name: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16), default="department")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
