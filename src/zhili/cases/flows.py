"""Case flows: the kinds of case the one workflow table and the one engine carry.

A case belongs to one flow (``case.flow``), fixed when it is filed. Every row of the transition table
(:data:`zhili.cases.workflow.TRANSITIONS`) names the flows it belongs to, and the engine takes only rows of the
case's own flow — so an event's 派遣 can never be applied to a residence-permit application, nor a permit's 制证
to an event. What differs per flow besides its rows is declared here, as data:

* ``event`` (事件): the event closed loop (上报 → 受理 → 派遣 → 处置 → 核查 → 评价 → 结案), the flow every case had
  before flows existed (migration 0020 gives them all this value);
* ``residence_permit`` (居住证申领): a floating resident's application for a residence permit under
  《居住证暂行条例》, filed from the resident portal with their rental stay as evidence (:mod:`zhili.rental.permits`):
  申请 → 受理 (or 不予受理 / 退回补正 → 补正) → 居住核查 → 审批 → 制证 → 送达 → 办结. The statutory limit (第十三条:
  issued within 15 days of acceptance; 《行政许可法》第八十二条: counted in working days) runs on the working
  calendar of the deadline policy (:func:`zhili.cases.deadlines.permit_issue_window`).

Per flow: what its cases are called in messages, its category (a ``service`` kind node of the taxonomy), the
states in which its deadline runs (the sweep's), state names where the same state reads differently (a permit's
``resolved`` is 已制证), whether its cases count in the event statistics (``case_stat`` — the KPIs of the event
loop: a permit is not an event, so permits are kept out of them and counted on their own,
:func:`zhili.rental.permits.summary`), and whether intake may dispatch it by the responsibility list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from zhili.cases.models import STATE_LABELS, CaseState

EVENT = "event"
RESIDENCE_PERMIT = "residence_permit"


@dataclass(frozen=True)
class Flow:
    """What one flow declares besides its rows of the transition table."""

    code: str
    name: str  # 事件, 居住证申领
    noun: str  # how a message names one of its cases: 事件 {number}, 居住证申请 {number}
    deadline_states: frozenset[CaseState]  # the states in which its handling deadline runs (the sweep reads them)
    counts_in_stats: bool  # in ``case_stat`` (the event loop's KPIs)
    auto_dispatch: bool  # intake may accept and dispatch it by the responsibility list
    category_code: str | None = None  # the one category its cases are filed under (None: any non-service one)
    state_labels: Mapping[CaseState, str] = field(default_factory=dict)  # names that differ from the common ones
    received: tuple[str, str] = ("已收到您反映的问题", "事件编号 {number}，我们会尽快受理。")  # intake's notice


FLOWS: dict[str, Flow] = {
    EVENT: Flow(
        code=EVENT, name="事件", noun="事件",
        deadline_states=frozenset({CaseState.dispatched, CaseState.in_progress, CaseState.extension_requested}),
        counts_in_stats=True, auto_dispatch=True),
    RESIDENCE_PERMIT: Flow(
        code=RESIDENCE_PERMIT, name="居住证申领", noun="居住证申请",
        deadline_states=frozenset({CaseState.accepted, CaseState.verified, CaseState.in_progress}),
        counts_in_stats=False, auto_dispatch=False, category_code="FW-0101",
        state_labels=MappingProxyType({
            CaseState.reported: "已申请", CaseState.returned: "待补正", CaseState.accepted: "已受理（待核查）",
            CaseState.verified: "居住已核查", CaseState.in_progress: "制证中", CaseState.resolved: "已制证",
            CaseState.closed: "已办结", CaseState.rejected: "不予办理"}),
        received=("已收到您的居住证申请", "申请编号 {number}，流动人口服务站将在受理后15个工作日内办结，"
                                        "办理进度会及时告知您。")),
}
EVENT_ONLY = frozenset({EVENT})
SERVICE_KIND = "service"  # the taxonomy kind of the categories flows other than the event flow are filed under


def get(code: str | None) -> Flow:
    """The flow named ``code`` (a case not yet flushed without one is an event, as its column's default says)."""
    return FLOWS[code or EVENT]


def state_label(flow: str | None, state: CaseState | str) -> str:
    """A state's name in a flow (the common name unless the flow names it differently)."""
    st = CaseState(state)
    f = FLOWS.get(flow or EVENT)
    return (f.state_labels.get(st) if f is not None else None) or STATE_LABELS[st]


def counted_flows() -> list[str]:
    """The flows whose cases count in the event statistics."""
    return [f.code for f in FLOWS.values() if f.counts_in_stats]


# The taxonomy nodes the flows other than the event flow are filed under (kind ``service``: never offered on an
# event report form, never accepted as an event's category — intake refuses both ways). Loaded with the shipped
# defaults (:func:`zhili.cases.taxonomy.load_defaults`); their limits are edited like any category's.
SERVICE_CATEGORIES: tuple[dict[str, object], ...] = (
    {"code": "FW-01", "name": "便民服务类", "kind": SERVICE_KIND, "parent": None},
    {"code": "FW-0101", "name": "居住证申领", "kind": SERVICE_KIND, "parent": "FW-01", "accept_hours": 15.0,
     "handle_hours": 112.5, "time_mode": "working",
     "description": "流动人口凭出租房屋入住登记（居住满半年）申领居住证（《居住证暂行条例》）："
                    "受理后15个工作日内制证发放，可邮寄送达或发放电子居住证（零跑）。受理时限2个工作日。"},
)
