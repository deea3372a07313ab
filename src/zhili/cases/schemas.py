"""Case-loop schemas. No schema here carries the reporter's identity except :class:`ReporterOut`."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from zhili.cases.limits import ADDRESS_MAX, DESCRIPTION_MAX, REPORTER_NAME_MAX, REPORTER_PHONE_MAX, TITLE_MAX
from zhili.cases.models import CaseState, Channel, Urgency
from zhili.core.jsonbounds import FreeJson, FreeJsonList
from zhili.core.schemas import ORMModel


class CaseIn(BaseModel):
    category_code: str | None = Field(None, description="事件类别代码（小类）；不填时由智能分拨按描述判断，"
                                                       "把握不足时拒收并返回建议类别（category_required）")
    description: str = Field(min_length=1, max_length=DESCRIPTION_MAX, description="问题描述")
    title: str | None = Field(None, max_length=TITLE_MAX)
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    crs: Literal["wgs84", "gcj02"] = Field("wgs84", description="坐标系；手机地图一般为 gcj02")
    address: str | None = Field(None, max_length=ADDRESS_MAX)
    building_id: uuid.UUID | None = None
    grid_id: uuid.UUID | None = None
    urgency: Urgency | None = None
    channel: Channel | None = Field(None, description="渠道；默认按上报人角色确定")
    reporter_name: str | None = Field(None, max_length=REPORTER_NAME_MAX, description="上报人姓名（热线代录用）")
    reporter_phone: str | None = Field(None, max_length=REPORTER_PHONE_MAX, description="上报人电话（热线代录用）")
    anonymous: bool = False
    is_public: bool = True
    external_id: str | None = Field(None, max_length=64, description="外部工单号，如12345热线编号")
    attachment_ids: list[uuid.UUID] = Field(default_factory=list, max_length=9)
    attributes: FreeJson = Field(default_factory=dict, description="类别声明的属性（见 Open311 服务定义）")


class CaseOut(BaseModel):
    id: uuid.UUID
    number: str
    is_history: bool = Field(False, description="历史导入的工单（经数据中台导入，已办结，不进入实时流程）")
    channel: Channel
    channel_label: str
    flow: str = Field("event", description="案件流程：event 事件、residence_permit 居住证申领")
    state: CaseState
    state_label: str = Field(description="状态名称（按案件流程：居住证申请的 resolved 为“已制证”）")
    category_code: str | None
    category_name: str | None
    title: str
    description: str
    urgency: Urgency
    lon: float | None
    lat: float | None
    address: str | None
    grid_id: uuid.UUID | None
    path: str
    attributes: dict[str, Any]
    anonymous: bool
    is_public: bool
    external_id: str | None
    assignee_department: str | None
    assignee_department_name: str | None
    assignee_unit_id: uuid.UUID | None
    escalation_level: str | None
    is_joint: bool
    master_case_id: uuid.UUID | None
    resolution: str | None
    reject_reason: str | None
    rating: int | None
    rating_comment: str | None
    reported_at: dt.datetime
    accepted_at: dt.datetime | None
    dispatched_at: dt.datetime | None
    resolved_at: dt.datetime | None
    verified_at: dt.datetime | None
    closed_at: dt.datetime | None
    accept_due_at: dt.datetime | None
    handle_due_at: dt.datetime | None
    verify_due_at: dt.datetime | None
    warning_level: str
    overdue: bool
    closed_on_time: bool | None
    reopen_count: int
    support_count: int = Field(description="居民附议数")
    merged_count: int = Field(description="合并到本事件的事件数")
    version: int


class CaseCreated(CaseOut):
    duplicate_candidates: list[DuplicateOut] = []


class DuplicateOut(BaseModel):
    """A suspected duplicate (疑似重复件): an open case the report may repeat, best score first."""

    id: uuid.UUID
    number: str
    title: str
    state: CaseState
    distance_m: float | None = Field(description="相距米数；任一方没有坐标时为空")
    reported_at: dt.datetime
    score: float = Field(description="重复可能性评分（0–1），综合文本相似度、距离、时间和同一小区/地址")
    explanation: str = Field(description="评分依据，如“同一小区（金色家园），相距120米，相隔2天，共同词：油烟 噪音”")
    category_code: str | None = Field(None, description="该事件的类别（可能是同一大类下的相近类别）")

    @classmethod
    def of(cls, s: Any) -> DuplicateOut:
        """From a :class:`zhili.cases.duplicates.Suggestion`."""
        return cls(id=s.id, number=s.number, title=s.title, state=s.state, distance_m=s.distance_m,
                   reported_at=s.reported_at, score=s.score, explanation=s.explanation,
                   category_code=s.category_code)


class ActionIn(BaseModel):
    version: int | None = Field(None, description="乐观锁：页面上看到的事件版本号")
    comment: str | None = Field(None, max_length=2000)
    reason: str | None = Field(None, max_length=2000)
    result: str | None = Field(None, max_length=4000)
    message: str | None = Field(None, max_length=2000)
    reply: str | None = Field(None, max_length=2000, description="督办反馈意见")
    department: str | None = None
    unit_id: uuid.UUID | None = None
    co_departments: list[str] = []
    handle_hours: float | None = Field(None, gt=0, le=2000)
    hours: float | None = Field(None, gt=0, le=400)
    rating: int | None = Field(None, ge=1, le=5)
    master_id: uuid.UUID | None = None
    category_code: str | None = None
    attachment_ids: list[uuid.UUID] = Field(default_factory=list, max_length=9)
    # 定位: a point (WGS-84, or GCJ-02 with crs), a building of the register, or a grid
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    crs: Literal["wgs84", "gcj02"] | None = None
    building_id: uuid.UUID | None = None
    grid_id: uuid.UUID | None = None
    # 居住证申领 (the residence-permit flow): the permit's number when made, how it was delivered
    permit_no: str | None = Field(None, max_length=32, description="居住证号（制证完成时）")
    delivery_method: Literal["mail", "e_permit", "collect"] | None = Field(
        None, description="送达方式：mail 邮寄、e_permit 电子居住证、collect 窗口领取（默认按申请时的选择）")
    tracking_no: str | None = Field(None, max_length=40, description="快递单号（邮寄送达时）")
    finding: str | None = Field(None, max_length=2000, description="居住核查情况（居住证申领）")
    visit_id: uuid.UUID | None = Field(None, description="居住核查所依据的入户走访记录")


class EventOut(ORMModel):
    seq: int
    at: dt.datetime
    action: str
    action_label: str | None = None
    from_state: str | None
    to_state: str
    actor_name: str | None
    actor_role: str | None
    actor_unit: str | None
    comment: str | None
    payload: dict[str, Any]
    attachment_ids: list[str]


class AvailableAction(BaseModel):
    action: str
    label: str


class SubTaskOut(ORMModel):
    department: str
    role: str
    status: str
    result: str | None
    done_at: dt.datetime | None


class CaseDetail(CaseOut):
    actions: list[AvailableAction] = []
    subtasks: list[SubTaskOut] = []


class ReporterOut(BaseModel):
    case_id: uuid.UUID
    number: str
    anonymous: bool
    name: str | None
    phone: str | None


class RevealIn(BaseModel):
    reason: str = Field(description="查看上报人信息的事由（如：回访核实；至少2个字）")


class AttachmentOut(ORMModel):
    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str


class SupervisionOut(ORMModel):
    id: uuid.UUID
    case_id: uuid.UUID
    kind: str
    round: int
    target: str
    superior: str | None
    message: str
    issued_at: dt.datetime
    issued_by: str | None
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    reply: str | None


class CategoryOut(ORMModel):
    id: uuid.UUID
    code: str
    version: int
    name: str
    kind: str
    parent_code: str | None
    is_leaf: bool
    default_department: str | None
    accept_hours: float | None
    handle_hours: float | None
    verify_hours: float | None
    time_mode: str
    urgency: Urgency
    keywords: list[str]
    attributes: list[dict[str, Any]]
    description: str | None
    is_active: bool


class CategoryPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    default_department: str | None = None
    accept_hours: float | None = Field(None, gt=0)
    handle_hours: float | None = Field(None, gt=0)
    verify_hours: float | None = Field(None, gt=0)
    time_mode: Literal["working", "natural"] | None = None
    urgency: Urgency | None = None
    keywords: list[str] | None = None
    attributes: FreeJsonList | None = None
    description: str | None = None
    is_active: bool | None = None


class CategoryCreate(BaseModel):
    code: str = Field(min_length=2, max_length=32, pattern=r"^[0-9A-Za-z_-]+$")  # as the shipped codes: SJ-0102
    name: str = Field(min_length=1, max_length=100)
    parent_code: str | None = None
    kind: Literal["component", "event", "social"] | None = None
    default_department: str | None = None
    accept_hours: float = Field(2, gt=0)
    handle_hours: float = Field(40, gt=0)
    verify_hours: float = Field(8, gt=0)
    time_mode: Literal["working", "natural"] = "working"
    urgency: Urgency = Urgency.normal
    keywords: list[str] = []
    description: str | None = None


class DepartmentOut(ORMModel):
    code: str
    name: str
    short_name: str | None
    kind: str
    is_active: bool


class RuleIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    priority: int = Field(100, ge=0, le=10000, description="数字越小越优先")
    category_code: str | None = Field(None, description="类别代码或大类前缀；空为任意")
    region_path: str | None = Field(None, description="区域路径（其下全部）；空为全区")
    keywords: list[str] = []
    hour_from: int | None = Field(None, ge=0, le=24)
    hour_to: int | None = Field(None, ge=0, le=24)
    target_department: str | None = None
    target_unit_id: uuid.UUID | None = None
    co_departments: list[str] = []
    confidence: float = Field(1.0, ge=0, le=1)
    handle_hours: float | None = Field(None, gt=0)
    enabled: bool = True
    note: str | None = None


class RulePatch(BaseModel):
    name: str | None = None
    priority: int | None = Field(None, ge=0, le=10000)
    category_code: str | None = None
    region_path: str | None = None
    keywords: list[str] | None = None
    hour_from: int | None = Field(None, ge=0, le=24)
    hour_to: int | None = Field(None, ge=0, le=24)
    target_department: str | None = None
    target_unit_id: uuid.UUID | None = None
    co_departments: list[str] | None = None
    confidence: float | None = Field(None, ge=0, le=1)
    handle_hours: float | None = Field(None, gt=0)
    enabled: bool | None = None
    note: str | None = None


class RuleOut(ORMModel):
    id: uuid.UUID
    rule_key: uuid.UUID
    version: int
    name: str
    priority: int
    category_code: str | None
    region_path: str | None
    keywords: list[str]
    hour_from: int | None
    hour_to: int | None
    target_department: str | None
    target_unit_id: uuid.UUID | None
    co_departments: list[str]
    confidence: float
    handle_hours: float | None
    enabled: bool
    note: str | None
    created_at: dt.datetime
    created_by: str | None


class RuleTestIn(BaseModel):
    category_code: str | None = None
    description: str = ""
    lon: float | None = None
    lat: float | None = None
    unit_id: uuid.UUID | None = Field(None, description="不给坐标时，按该单位（网格）判断区域")
    reported_at: dt.datetime | None = None


class RuleTestOut(BaseModel):
    matched: bool
    rule: RuleOut | None
    department: str | None
    unit_id: uuid.UUID | None
    confidence: float
    auto_dispatch: bool
    reasons: list[str]
    path: str | None


class NotificationOut(ORMModel):
    id: uuid.UUID
    case_id: uuid.UUID | None
    kind: str
    title: str
    body: str
    created_at: dt.datetime
    read_at: dt.datetime | None


CaseCreated.model_rebuild()
