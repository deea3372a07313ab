"""Intelligence tables: model versions, the suggestions made on cases, early warnings and grid risk scores.

* :class:`ModelVersion` — one trained model (its serialized pipeline, SHA-256 checked on load), with the window of
  data it was trained on, its evaluation next to its naive baselines, and who trained and activated it. At most one
  version per ``name`` is ``active``; activating another retires it (rollback = activate the earlier version).
* :class:`CaseSuggestion` — what a model suggested for a case (top 3 with probabilities and the terms behind them),
  whether the system applied it, and what the staff finally chose: a correction is a suggestion whose final label
  differs, and the next retrain weighs it.
* :class:`Warning` — an early warning (预警) for a unit, with why it was raised, the cases behind it and what
  became of it (dismissed with a reason, or turned into a case); ``cause_key`` is unique so the same cause is never
  raised twice.
* :class:`RiskScore` — a grid's risk score for a coming week (风险研判), as ranked by a model version.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from zhili.core.crypto import NOT_ENCRYPTED
from zhili.core.db import Base, ShapedJSON, UTCDateTime, path_string, utcnow
from zhili.core.ids import new_id


class ModelState(enum.StrEnum):
    trained = "trained"  # 已训练（未启用）
    active = "active"  # 使用中
    retired = "retired"  # 已停用


class ModelVersion(Base):
    __tablename__ = "ml_model"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_ml_model_name_version"),
                      Index("ix_ml_model_name_state", "name", "state"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # "category" / "department" (the platform's routing models) or the name given to a model trained on a file
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))  # "text-classifier" (the only kind so far)
    source: Mapped[str] = mapped_column(String(16), default="platform")  # "platform" (its cases) or "file"
    state: Mapped[ModelState] = mapped_column(Enum(ModelState, native_enum=False, length=16),
                                              default=ModelState.trained)
    artifact: Mapped[bytes] = mapped_column(LargeBinary, info={
        NOT_ENCRYPTED: "a trained model's serialized pipeline (weights and vocabulary), no personal field; integrity "
                       "checked (SHA-256 here, an HMAC under the platform's key inside) on load (zhili.intel.store)"})
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    labels: Mapped[list[str]] = mapped_column(ShapedJSON(list, strings=True), default=list)
    params: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)  # features, options, file columns
    data_from: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    data_to: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    n_train: Mapped[int] = mapped_column(Integer, default=0)
    # {"split": "time"|"cv5", "top1":…, "top3":…, "macro_f1":…, "n_test":…, "baselines": {name: {...}}}
    metrics: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)
    trained_by: Mapped[str] = mapped_column(String(64))
    trained_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    activated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class CaseSuggestion(Base):
    __tablename__ = "intel_suggestion"
    __table_args__ = (UniqueConstraint("case_id", "target", name="uq_intel_suggestion_case_target"),
                      Index("ix_intel_suggestion_model", "model_id"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(16))  # "category" | "department"
    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ml_model.id"))
    # [{"label": code, "p": probability, "terms": [...]}] best first (names are looked up when shown)
    top: Mapped[list[dict[str, Any]]] = mapped_column(ShapedJSON(list), default=list)
    confidence: Mapped[float] = mapped_column(Float)
    applied: Mapped[bool] = mapped_column(Boolean, default=False)  # the system acted on it (above the threshold)
    final_label: Mapped[str | None] = mapped_column(String(64), nullable=True)  # what the staff settled on
    corrected: Mapped[bool] = mapped_column(Boolean, default=False)  # final_label differs from the top suggestion
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WarningState(enum.StrEnum):
    open = "open"  # 待处理
    dismissed = "dismissed"  # 已排除
    converted = "converted"  # 已转为事件


class Warning(Base):
    __tablename__ = "intel_warning"
    __table_args__ = (UniqueConstraint("cause_key", name="uq_intel_warning_cause"),
                      Index("ix_intel_warning_path_state", "path", "state"),
                      Index("ix_intel_warning_raised", "raised_at"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # "surge" (count above its baseline), "repeat" (same address/person again and again), "unvisited" (special-care
    # resident not visited), "overdue" (a grid's overdue share far above its peers)
    kind: Mapped[str] = mapped_column(String(32))
    cause_key: Mapped[str] = mapped_column(String(200))  # what makes two warnings the same cause
    unit_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)  # the responsible unit (its inbox)
    path: Mapped[str] = mapped_column(path_string(255))  # that unit's path (jurisdiction)
    category_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    title: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)  # Chinese: observed vs expected, the rule that fired
    detail: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)  # numbers behind the reason
    case_ids: Mapped[list[str]] = mapped_column(ShapedJSON(list, strings=True), default=list)
    severity: Mapped[str] = mapped_column(String(16), default="yellow")  # yellow | orange | red
    period_start: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    period_end: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    state: Mapped[WarningState] = mapped_column(Enum(WarningState, native_enum=False, length=16),
                                                default=WarningState.open)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dismiss_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case.id", ondelete="SET NULL"), nullable=True)


class RiskScore(Base):
    __tablename__ = "intel_risk"
    __table_args__ = (UniqueConstraint("week_start", "grid_id", name="uq_intel_risk_week_grid"),
                      Index("ix_intel_risk_week_rank", "week_start", "rank"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    week_start: Mapped[dt.date] = mapped_column(Date)  # the Monday of the week predicted
    grid_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    path: Mapped[str] = mapped_column(path_string(255))
    score: Mapped[float] = mapped_column(Float)  # expected cases in the week
    rank: Mapped[int] = mapped_column(Integer)  # 1 = highest risk in the district
    drivers: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)  # the features that raised it
    method: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
