"""UI text of the household-visit pages (入户走访), registered with the catalogue at import."""

from __future__ import annotations

from zhili.web import i18n

MESSAGES: dict[str, tuple[str, str]] = {
    # navigation and titles
    "visit.nav_mine": ("我的走访", "My visits"),
    "visit.record": ("记录走访", "Record a visit"),
    "visit.history": ("走访记录", "Visit history"),
    "visit.history_all": ("查看全部走访记录", "All visits of this household"),
    "visit.history_empty": ("该户暂无走访记录。", "No visits recorded for this household yet."),
    "visit.mine_empty": ("这段时间没有您的走访记录。", "You recorded no visits in this period."),
    "visit.detail": ("走访详情", "Visit"),
    "visit.console_title": ("走访记录", "Household visits"),
    "visit.console_empty": ("这段时间没有走访记录。", "No visits in this period."),
    "visit.console_forbidden": ("您的角色不能查看走访记录。", "Your role cannot view household visits."),
    "visit.back_household": ("返回房屋/户", "Back to the household"),
    # the form
    "visit.kind": ("走访类型", "Kind of visit"),
    "visit.visited_at": ("走访时间", "Visited at"),
    "visit.visited_at_hint": ("缺省为现在；可补录30天内的走访。",
                              "Defaults to now; visits up to 30 days ago can be entered."),
    "visit.persons": ("见到的人员", "Members met"),
    "visit.persons_none": ("该户暂无登记人员。", "Nobody is registered in this household."),
    "visit.summary": ("情况摘要", "Summary"),
    "visit.summary_hint": ("如：老人身体状况良好，家中无安全隐患", "e.g. the resident is well, no hazards at home"),
    "visit.findings": ("发现的问题", "Findings"),
    "visit.findings_hint": ("如有需要处置的问题，请写明情况", "Describe anything that needs handling"),
    "visit.photos": ("照片", "Photos"),
    "visit.photos_hint": ("最多 {n} 张图片（{types}）", "Up to {n} images ({types})"),
    "visit.follow_up": ("发现问题需要处置？同时转为事件", "Needs handling? File a case too"),
    "visit.follow_up_check": ("转为事件，交由指挥中心受理派遣", "File a case for the command centre to dispatch"),
    "visit.follow_up_hint": ("事件位置取该户所在楼栋，走访照片一并作为事件照片。",
                             "The case is placed at the household's building; the visit photos go with it."),
    "visit.category": ("事件类别", "Case type"),
    "visit.choose_category": ("请选择事件类别", "Choose a case type"),
    "visit.case_description": ("需处置的问题", "What needs handling"),
    "visit.submit": ("保存走访记录", "Save the visit"),
    "visit.bad_time": ("走访时间格式不正确", "The visit time is not valid"),
    "visit.bad_person": ("所选人员无效", "A selected member is not valid"),
    # lists and detail
    "visit.worker": ("走访人", "Visited by"),
    "visit.household": ("房屋/户", "Household"),
    "visit.grid": ("网格", "Grid"),
    "visit.photo_alt": ("走访照片 {n}", "Visit photo {n}"),
    "visit.to_case": ("转为事件", "File a case"),
    "visit.to_case_submit": ("提交为事件", "File the case"),
    "visit.case": ("关联事件", "Case"),
    "visit.filter_kind": ("走访类型", "Kind"),
    "visit.filter_period": ("时间范围", "Period"),
    "visit.all_kinds": ("全部类型", "All kinds"),
    "visit_period.week": ("本周", "This week"),
    "visit_period.month": ("本月", "This month"),
    "visit_period.all": ("全部", "All"),
    "visit.coverage": ("走访覆盖", "Visit coverage"),
    "visit.coverage_households": ("管辖房屋/户", "Households"),
    "visit.coverage_30": ("近30天走访", "Visited, last 30 days"),
    "visit.coverage_90": ("近90天走访", "Visited, last 90 days"),
    "visit.coverage_value": ("{visited} 户（{rate}）", "{visited} ({rate})"),
    # flash messages
    "msg.visit_recorded": ("走访记录已保存。", "The visit has been saved."),
    "msg.visit_to_case": ("已转为事件，等待指挥中心受理。", "A case has been filed for the command centre."),
    # visit kinds (label('visit_kind', …))
    "visit_kind.routine": ("日常走访", "Routine visit"),
    "visit_kind.care": ("关爱走访", "Care visit"),
    "visit_kind.rental_check": ("出租房屋/流动人口核查", "Rental / floating population check"),
    "visit_kind.dispute_follow_up": ("矛盾纠纷回访", "Dispute follow-up"),
    "visit_kind.safety_check": ("安全隐患排查", "Safety check"),
    "visit_kind.other": ("其他", "Other"),
}

i18n.extend(MESSAGES)
