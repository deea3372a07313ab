"""Household visits (入户走访) by grid workers: routine visits, care visits to special groups, rental and
floating-population checks, dispute follow-ups — with the persons met, photos and an optional follow-up case.

Every visit carries ``path`` — the materialized path of the household's grid — so jurisdiction scoping is the
same one indexed predicate as for the registers.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Enum, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from zhili.core.db import Base, UTCDateTime, path_string, utcnow
from zhili.core.ids import new_id


class VisitKind(enum.StrEnum):
    """What a visit was for (a small fixed list)."""

    routine = "routine"  # 日常走访
    care = "care"  # 关爱走访（独居老人、困难家庭、残疾人等特殊人群）
    rental_check = "rental_check"  # 出租房屋 / 流动人口核查
    dispute_follow_up = "dispute_follow_up"  # 矛盾纠纷回访
    safety_check = "safety_check"  # 安全隐患排查
    other = "other"  # 其他


SUMMARY_MAX = 200  # 情况摘要: the column's length
FINDINGS_MAX = 4000  # 发现的问题

VISIT_KIND_LABELS: dict[VisitKind, str] = {
    VisitKind.routine: "日常走访",
    VisitKind.care: "关爱走访",
    VisitKind.rental_check: "出租房屋/流动人口核查",
    VisitKind.dispute_follow_up: "矛盾纠纷回访",
    VisitKind.safety_check: "安全隐患排查",
    VisitKind.other: "其他",
}


class Visit(Base):
    """One household visit (走访记录)."""

    __tablename__ = "visit"
    __table_args__ = (
        Index("ix_visit_path_at", "path", "visited_at"),
        Index("ix_visit_household", "household_id", "visited_at"),
        Index("ix_visit_worker", "worker_id", "visited_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # RESTRICT: a household with visit records cannot be deleted silently (history is kept).
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("household.id", ondelete="RESTRICT"))
    grid_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))
    path: Mapped[str] = mapped_column(path_string())
    worker_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    worker_name: Mapped[str] = mapped_column(String(100))  # as it was when the visit was recorded
    visited_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    kind: Mapped[VisitKind] = mapped_column(Enum(VisitKind, native_enum=False, length=24))
    summary: Mapped[str] = mapped_column(String(SUMMARY_MAX))
    findings: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case.id", ondelete="SET NULL"))  # 转为事件
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class VisitPerson(Base):
    """A member of the household met on the visit."""

    __tablename__ = "visit_person"

    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), primary_key=True,
                                                 index=True)


class VisitPhoto(Base):
    """A photo of the visit: an attachment row of the case loop's file store (``zhili.cases.files``)."""

    __tablename__ = "visit_photo"

    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"), primary_key=True)
    attachment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("attachment.id", ondelete="CASCADE"),
                                                     primary_key=True, index=True)
