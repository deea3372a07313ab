"""UI text of the case timeline, the command centre's call-back reveal on the case page and the department's to-do
list (zh-CN, English), added to the catalogue."""

from __future__ import annotations

from zhili.web import i18n

MESSAGES: dict[str, tuple[str, str]] = {
    "timeline.stars": ("评分 {n} 星", "Rated {n} of 5 stars"),
    # -- the reporter, for a call-back (回访): command centre only, with a reason, audited ----------------------
    "reporter.title": ("上报人联系方式（回访用）", "Reporter's contact (for a call-back)"),
    "reporter.note": ("上报人的称呼和手机号不向处置部门公开。回访时填写事由后查看，系统将记录审计日志。",
                      "The reporter's name and phone are never shown to the handling departments. State a reason "
                      "to see them for a call-back; it is audited."),
    "reporter.reason": ("查看事由", "Reason"),
    "reporter.reason_hint": ("如：办结回访核实满意度", "e.g. follow-up call on the result"),
    "reporter.reveal": ("查看上报人联系方式", "Show the reporter's contact"),
    "reporter.revealed": ("上报人联系方式（已记录审计）", "Reporter's contact (audited)"),
    "reporter.name": ("称呼", "Name"),
    "reporter.phone": ("手机号", "Mobile number"),
    "reporter.anonymous": ("上报人选择匿名，未留联系方式。", "The reporter chose to stay anonymous."),
    "reporter.none": ("未留联系方式", "No contact given"),
    # -- the department's to-do list ---------------------------------------------------------------------------
    "inbox.hint": ("列出派给本部门、需要签收、处置或等待延期审批的事件，以及本部门未完成的协办任务；已处置完成、"
                   "已核查、已评价的事件不再列出。",
                   "Cases sent to your department to start, handle or awaiting an extension, and your open "
                   "co-handling tasks; resolved, verified and rated cases are no longer listed."),
}

i18n.extend(MESSAGES)
