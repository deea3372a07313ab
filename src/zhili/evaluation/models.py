"""4E evaluation (经济、效率、效益、公平): the indicator framework as data, versioned weight sets, manual data sets
(填报) with their submissions, and the scoring runs with one result row per unit.

* :class:`Indicator` — one indicator: code, Chinese name, dimension ``E1``–``E4`` and sub-dimension (catalogue in
  :mod:`zhili.evaluation.catalog`), definition, display unit, direction (``higher``/``lower`` is better), a formula
  over named metrics in the safe expression language (:mod:`zhili.core.expr`), the normalisation method
  (``minmax`` across peers or ``target`` between threshold and target), target and threshold, data source, and
  ``scope``: ``grid`` (computed per grid from the grid's own figures) or ``community`` (computed per community —
  manual data, dispersion across the community's grids — and applying to each of its grids).
* :class:`WeightSet` — a version of the weights: ``{"E1": w, "E1.1": w, "<indicator code>": w}``; each weight counts
  among its siblings only (indicators in a sub-dimension, sub-dimensions in a dimension, the four dimensions). One
  version is active; saving makes a new version, so every run names the weights it used.
* :class:`DataSet` / :class:`Submission` / :class:`SubmissionEvent` — DHIS2-style data entry: a form per unit and
  period with fields and validation rules; ``draft → submitted → approved → locked``, ``submitted → returned →
  submitted`` (退回修改), every step an event row.
* :class:`Run` / :class:`Result` — one scoring of a period: the weight set used, the inputs' hash (metrics of every
  unit, the indicator definitions, the weights) and one :class:`Result` per unit with its metrics, indicator values,
  scores of every node, total and ranks. A period's current run is the latest; older runs stay as history.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from zhili.core.db import Base, ShapedJSON, UTCDateTime, Versioned, path_string, utcnow
from zhili.core.ids import new_id


class Direction(enum.StrEnum):
    up = "higher"  # 越高越好
    down = "lower"  # 越低越好


class Normalisation(enum.StrEnum):
    minmax = "minmax"  # 同级比较（极差标准化）
    target = "target"  # 对标目标值（阈值 0 分，目标值 100 分）


class Scope(enum.StrEnum):
    grid = "grid"  # 按网格计算
    community = "community"  # 按社区计算，适用于其下各网格


class SubmissionState(enum.StrEnum):
    draft = "draft"  # 草稿
    submitted = "submitted"  # 已上报，待审核
    returned = "returned"  # 已退回修改
    approved = "approved"  # 已审核
    locked = "locked"  # 已锁定


class Indicator(Versioned, Base):
    __tablename__ = "eval_indicator"
    __table_args__ = (UniqueConstraint("code"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    dimension: Mapped[str] = mapped_column(String(4))  # E1 … E4
    sub_dimension: Mapped[str] = mapped_column(String(8))  # E1.1 …
    definition: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(String(20), default="")  # 显示单位：%、小时、人/千人 …
    direction: Mapped[str] = mapped_column(String(8), default=Direction.up.value)
    formula: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(12), default=Scope.grid.value)
    normalisation: Mapped[str] = mapped_column(String(8), default=Normalisation.minmax.value)
    target: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(200))  # 数据来源（中文）
    rationale: Mapped[str | None] = mapped_column(Text)  # why it measures its dimension (the paper's wording)
    sort: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)


class WeightSet(Base):
    __tablename__ = "eval_weight_set"
    __table_args__ = (UniqueConstraint("version"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    weights: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)
    # how each was derived: {"E": {"method": "ahp", "matrix": [[…]], "cr": 0.03}, …} (shown beside the weights)
    derivation: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DataSet(Versioned, Base):
    """A manual data set (填报表): its fields become metrics named by their codes (unique across data sets)."""

    __tablename__ = "eval_dataset"
    __table_args__ = (UniqueConstraint("code"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    period_kind: Mapped[str] = mapped_column(String(8), default="month")  # month | quarter | year
    level: Mapped[str] = mapped_column(String(16), default="community")  # the unit level that fills it
    # [{"code", "name", "unit", "kind": "int"|"float", "min", "max", "required", "max_change"}]
    fields: Mapped[list[Any]] = mapped_column(ShapedJSON(list), default=list)
    # [{"code", "expr", "message"}]: an expression over the fields (and ``prev_<field>``) that must hold
    rules: Mapped[list[Any]] = mapped_column(ShapedJSON(list), default=list)
    due_day: Mapped[int] = mapped_column(Integer, default=5)  # due on this day of the month after the period
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)


class Submission(Versioned, Base):
    __tablename__ = "eval_submission"
    __table_args__ = (UniqueConstraint("dataset_code", "unit_id", "period"),
                      Index("ix_eval_submission_period", "dataset_code", "period", "state"),
                      Index("ix_eval_submission_path", "path"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    dataset_code: Mapped[str] = mapped_column(String(40))
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))
    path: Mapped[str] = mapped_column(path_string())
    period: Mapped[str] = mapped_column(String(10))  # 2026-10 | 2026-Q4 | 2026
    values: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)
    state: Mapped[str] = mapped_column(String(12), default=SubmissionState.draft.value)
    submitted_by: Mapped[str | None] = mapped_column(String(64))
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    return_reason: Mapped[str | None] = mapped_column(Text)
    via: Mapped[str] = mapped_column(String(12), default="form")  # form | excel | seed


class SubmissionEvent(Base):
    __tablename__ = "eval_submission_event"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("eval_submission.id", ondelete="CASCADE"),
                                                     index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(16))  # save | submit | approve | return | lock | unlock
    from_state: Mapped[str | None] = mapped_column(String(12))
    to_state: Mapped[str] = mapped_column(String(12))
    actor: Mapped[str | None] = mapped_column(String(64))
    actor_name: Mapped[str | None] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)


class Run(Base):
    __tablename__ = "eval_run"
    __table_args__ = (Index("ix_eval_run_period", "period", "is_current"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    period: Mapped[str] = mapped_column(String(10))  # 2026-10 | 2026-Q4 | 2026
    period_kind: Mapped[str] = mapped_column(String(8))
    start_day: Mapped[dt.date] = mapped_column(Date)
    end_day: Mapped[dt.date] = mapped_column(Date)
    root_path: Mapped[str] = mapped_column(path_string())  # the district scored
    weight_set_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("eval_weight_set.id", ondelete="SET NULL"))
    weight_version: Mapped[int | None] = mapped_column(Integer)
    inputs_hash: Mapped[str] = mapped_column(String(64))
    # the indicator definitions and weights as scored (a later edit does not change how this run reads)
    framework: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)
    units: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    computed_by: Mapped[str | None] = mapped_column(String(64))
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Result(Base):
    __tablename__ = "eval_result"
    __table_args__ = (UniqueConstraint("run_id", "unit_id"),
                      Index("ix_eval_result_path", "run_id", "path"),
                      Index("ix_eval_result_unit", "unit_code", "run_id"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("eval_run.id", ondelete="CASCADE"))
    unit_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    unit_code: Mapped[str] = mapped_column(String(32))
    unit_name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(path_string())
    parent_path: Mapped[str | None] = mapped_column(path_string())
    population: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)  # name → number | None
    values: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)  # indicator → value | None
    scores: Mapped[dict[str, Any]] = mapped_column(ShapedJSON(dict), default=dict)  # node → 0–100 | None
    total: Mapped[float | None] = mapped_column(Float)
    rank: Mapped[int | None] = mapped_column(Integer)  # among the same level in the district
    peers: Mapped[int] = mapped_column(Integer, default=0)
    rank_siblings: Mapped[int | None] = mapped_column(Integer)  # among the same parent's children
