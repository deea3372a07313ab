"""Cases to Excel: the list service's filters and scoping, streamed, no reporter identity."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.cases.flows import state_label
from zhili.cases.models import CHANNEL_LABELS, Case, Category
from zhili.cases.service import CaseFilter, _filtered
from zhili.core import audit
from zhili.core.clock import fmt_local
from zhili.core.db import write_after_read
from zhili.core.jurisdiction import Principal, authorize
from zhili.core.security import Perm
from zhili.core.xlsx import row_values


def export_cases_xlsx(session: Session, *, principal: Principal, filters: CaseFilter, limit: int = 50_000) -> bytes:
    """The filtered cases as an Excel workbook (streamed write; no reporter identity), audited after the read
    (:func:`~zhili.core.db.write_after_read`)."""
    authorize(principal, Perm.case_read)
    import io

    from openpyxl import Workbook

    from zhili.org.service import department_names

    # the filters are checked (a unit outside the jurisdiction is refused) before a workbook is begun: a write-only
    # sheet abandoned half-written is an open generator
    stmt = _filtered(session, principal, filters).order_by(Case.reported_at.desc()).limit(limit)
    depts = department_names(session)
    cats = {c.id: c.name for c in session.scalars(select(Category))}
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("事件清单")
    ws.append(row_values(["事件编号", "上报时间", "渠道", "类别", "标题", "描述", "地址", "状态", "处置部门",
                          "处置期限", "预警", "是否超期", "按时办结", "满意度", "结案时间"]))
    for c in session.scalars(stmt):
        ws.append(row_values([
                   c.number, fmt_local(c.reported_at), CHANNEL_LABELS[c.channel], cats.get(c.category_id) or "",
                   c.title, c.description, c.address or "", state_label(c.flow, c.state),
                   depts.get(c.assignee_department or "", c.assignee_department or ""), fmt_local(c.handle_due_at),
                   {"none": "", "yellow": "黄灯", "red": "红灯"}.get(c.warning_level, ""), "是" if c.overdue else "否",
                   {True: "是", False: "否", None: ""}[c.closed_on_time], c.rating or "", fmt_local(c.closed_at)]))
    buf = io.BytesIO()
    wb.save(buf)
    used = {k: v for k, v in filters.__dict__.items() if v}
    write_after_read(session, lambda s: audit.record(s, actor=principal.actor, action="case.export",
                                                     object_type="case", object_id=None, after={"filters": used}))
    return buf.getvalue()
