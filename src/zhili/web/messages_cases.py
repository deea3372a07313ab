"""UI text of the case list (案件查询: filters, views, reporter-phone search, export), added to the catalogue."""

from __future__ import annotations

from zhili.web import i18n

MESSAGES: dict[str, tuple[str, str]] = {
    "cases.title": ("案件查询", "Find cases"),
    "cases.forbidden": ("您的角色不能查看案件列表。", "Your role cannot list cases."),
    "cases.phone_forbidden": ("只有指挥中心可以按上报人手机号查找事件。",
                              "Only the command centre can find cases by the reporter's phone."),
    # views
    "cases.views": ("常用视图", "Views"),
    "cases.my_views": ("我的视图", "My views"),
    "cases.view.unit_open": ("我的单位在办", "My unit's open cases"),
    "cases.view.unit_all": ("我的单位全部", "All of my unit's cases"),
    "cases.view.mine_open": ("本部门在办", "My department's open cases"),
    "cases.view.to_accept": ("待受理", "Waiting for acceptance"),
    "cases.view.today": ("今日受理", "Received today"),
    "cases.view.overdue": ("已超期", "Overdue"),
    "cases.view.due_soon": ("即将超期", "Due soon"),
    "cases.view.supervised": ("督办中", "Under supervision"),
    "cases.view.delete": ("删除视图“{name}”", "Delete the view “{name}”"),
    "cases.view.name": ("视图名称", "View name"),
    "cases.view.name_hint": ("最多{n}个字，同名视图会被替换",
                             "Up to {n} characters; a view of the same name is replaced"),
    "cases.view.save": ("保存当前筛选", "Save these filters"),
    # filters
    "cases.filters": ("筛选条件", "Filters"),
    "cases.f.number": ("事件编号", "Case number"),
    "cases.f.q": ("关键字（标题、描述、地址）", "Text (title, description, address)"),
    "cases.f.category": ("问题类型", "Type"),
    "cases.f.unit": ("所在区域", "Area"),
    "cases.f.state": ("状态", "Status"),
    "cases.f.channel": ("来源", "Source"),
    "cases.f.since": ("上报日期从", "Reported from"),
    "cases.f.until": ("上报日期至", "Reported until"),
    "cases.f.warning": ("预警", "Deadline light"),
    "cases.f.department": ("处置部门", "Department"),
    "cases.f.flags": ("其他条件", "More"),
    "cases.f.open": ("仅在办", "Open only"),
    "cases.f.overdue": ("仅已超期", "Overdue only"),
    "cases.f.supervised": ("仅督办中", "Under supervision only"),
    "cases.any": ("全部", "Any"),
    "cases.all_of": ("{name}（全部）", "{name} (all)"),
    "cases.warning.yellow": ("黄灯（即将超期）", "Yellow (due soon)"),
    "cases.warning.red": ("红灯（已超期）", "Red (overdue)"),
    "cases.search": ("查询", "Search"),
    "cases.clear": ("清除筛选", "Clear filters"),
    # the reporter's phone
    "cases.phone.label": ("上报人手机号", "Reporter's phone"),
    "cases.phone.hint": ("按上报人留下的手机号或其账号手机号精确查找，并与上方已查询的条件一起筛选。"
                         "手机号不会出现在网址中，每次查找记入审计日志。",
                         "Exact match on the phone a reporter left or their account's phone, within the filters "
                         "applied above. The number never appears in a URL; every search is audited."),
    "cases.phone.submit": ("按手机号查找", "Find by phone"),
    "cases.phone.result": ("上报人手机号为 {phone} 的事件", "Cases reported from {phone}"),
    "cases.phone.limited": ("只显示最新的 {n} 条，请增加筛选条件缩小范围。",
                            "Only the newest {n} are shown; add filters to narrow the search."),
    # the list
    "cases.empty": ("没有符合条件的事件。", "No cases match."),
    "cases.col.number": ("编号", "Number"),
    "cases.col.title": ("标题", "Title"),
    "cases.col.category": ("问题类型", "Type"),
    "cases.col.unit": ("所在区域", "Area"),
    "cases.col.state": ("状态", "Status"),
    "cases.col.due": ("处置期限", "Due"),
    "cases.col.handler": ("承办", "Handled by"),
    "cases.col.reported": ("上报时间", "Reported"),
    "cases.sort_by": ("按{col}排序", "Sort by {col}"),
    "cases.export": ("导出Excel（最多 {n} 条）", "Export to Excel (up to {n})"),
    "cases.export_over": ("当前筛选共 {total} 条，超过导出上限：导出文件只含最新的 {n} 条，请缩小筛选范围后分批导出。",
                          "{total} cases match, more than one export holds: the file has the newest {n}; narrow "
                          "the filters and export in parts."),
    # refused filters
    "cases.err.date": ("日期“{value}”无效，请按 年-月-日 填写", "“{value}” is not a date (year-month-day)"),
    "cases.err.dates": ("开始日期不能晚于结束日期", "The start date is after the end date"),
    "cases.err.category": ("问题类型不存在", "No such type"),
    "cases.err.department": ("处置部门不存在", "No such department"),
    "cases.err.unit": ("所选区域无效", "No such area"),
    "cases.err.state": ("状态筛选中有无效的状态", "Unknown status in the filter"),
    "cases.err.channel": ("来源无效", "Unknown source"),
    "cases.err.warning": ("预警只能选黄灯或红灯", "The light is yellow or red"),
    "cases.err.sort": ("不支持这种排序", "Cannot sort that way"),
    "cases.err.personal": ("编号和关键字中不能填写身份证号或手机号；按上报人手机号查找请填在“上报人手机号”一栏",
                           "No ID or phone numbers in the number and text boxes; a reporter's phone goes in its "
                           "own box"),
    # flashes
    "msg.view_saved": ("已保存常用视图。", "View saved."),
    "msg.view_deleted": ("已删除常用视图。", "View deleted."),
}

i18n.extend(MESSAGES)
