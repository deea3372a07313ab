"""UI text of the hub's import and quarantine pages (导入、隔离区), registered with the catalogue at import."""

from __future__ import annotations

from zhili.web import i18n

MESSAGES: dict[str, tuple[str, str]] = {
    "hub_imports.title": ("导入记录", "Imports"),
    "hub_imports.lead": ("每次导入的文件、计数和用时；点开查看该批次的隔离行。",
                         "Every import with its file, counts and duration; open one to see its quarantined rows."),
    "hub_imports.new": ("上传导入", "Upload a file"),
    "hub_imports.none": ("还没有导入记录。", "No imports yet."),
    "hub_imports.started": ("开始时间", "Started"),
    "hub_imports.source": ("数据源", "Source"),
    "hub_imports.file": ("文件", "File"),
    "hub_imports.who": ("导入人", "Imported by"),
    "hub_imports.read": ("读取", "Read"),
    "hub_imports.imported": ("新增", "New"),
    "hub_imports.updated": ("更新", "Updated"),
    "hub_imports.unchanged": ("未变", "Unchanged"),
    "hub_imports.quarantined": ("隔离", "Quarantined"),
    "hub_imports.duration": ("用时", "Duration"),
    "hub_imports.seconds": ("{n} 秒", "{n} s"),
    "hub_imports.status": ("状态", "Status"),
    "hub_imports.dry_run": ("试运行", "Dry run"),
    "hub_imports.dry_run_hint": ("只校验和统计，不写入任何数据", "Validate and count only; nothing is written"),
    "hub_imports.template": ("映射模板", "Mapping template"),
    "hub_imports.template_hint": ("填写模板名称；不填时使用数据源的默认模板",
                                  "The template's name; empty: the source's default"),
    "hub_imports.encoding": ("文件编码", "Encoding"),
    "hub_imports.encoding_auto": ("自动识别", "Detect"),
    "hub_imports.sheet": ("Excel 工作表", "Excel sheet"),
    "hub_imports.choose_file": ("请选择要导入的文件", "Choose a file to import"),
    "hub_imports.choose_source": ("请选择数据源", "Choose a source"),
    "hub_imports.upload_hint": ("支持 CSV（UTF-8、GB18030/GBK）、Excel .xlsx、JSON、JSON Lines；"
                                "最大 {mb} MB。大文件在后台导入。",
                                "CSV (UTF-8, GB18030/GBK), Excel .xlsx, JSON, JSON Lines; up to {mb} MB. Large files "
                                "import in the background."),
    "hub_imports.submit": ("开始导入", "Import"),
    "hub_imports.detail": ("导入批次", "Import"),
    "hub_imports.progress": ("导入进度", "Progress"),
    "hub_imports.progress_rows": ("已处理 {n} 行", "{n} rows processed"),
    "hub_imports.error": ("失败原因", "Why it failed"),
    "hub_imports.size": ("文件大小", "File size"),
    "hub_imports.hash": ("文件指纹（SHA-256）", "File fingerprint (SHA-256)"),
    "hub_imports.rows_of": ("本批次的隔离行", "Quarantined rows of this import"),
    "hub_imports.all_rows": ("在隔离区查看全部", "See them all in the quarantine"),
    "hub_imports.rule_failures": ("各规则未通过行数", "Rows failing each rule"),
    "hub_imports.forbidden": ("您的角色不能导入数据。", "Your role cannot import data."),
    "hub_imports.back": ("返回导入记录", "Back to the imports"),
    "hub_quarantine.title": ("隔离区", "Quarantine"),
    "hub_quarantine.lead": ("未通过校验的数据行完整保存在这里（个人信息加密、显示时脱敏）：修正后重新导入，或作废。",
                            "Rows that failed validation are kept whole here (personal data encrypted, masked when "
                            "shown): fix and re-run them, or discard them."),
    "hub_quarantine.none": ("没有符合条件的隔离行。", "No quarantined rows match."),
    "hub_quarantine.filter": ("筛选", "Filter"),
    "hub_quarantine.rule": ("规则", "Rule"),
    "hub_quarantine.any": ("全部", "Any"),
    "hub_quarantine.row": ("行号", "Row"),
    "hub_quarantine.key": ("记录键", "Record key"),
    "hub_quarantine.reasons": ("原因", "Reasons"),
    "hub_quarantine.cells": ("原始数据（已脱敏）", "Raw cells (masked)"),
    "hub_quarantine.fix": ("修正并重新导入", "Fix and re-run"),
    "hub_quarantine.fix_hint": ("只填写要修改的列；留空的列保持原值。",
                                "Fill in only the columns to change; empty ones keep their value."),
    "hub_quarantine.discard": ("作废", "Discard"),
    "hub_quarantine.discard_reason": ("作废原因", "Why discard it"),
    "hub_quarantine.rerun": ("重新校验全部待处理行", "Re-run every open row"),
    "hub_quarantine.rerun_hint": ("规则、参照数据或模板修改后，按当前设置重新校验并导入。",
                                  "After a rule, reference or template changed: validate and import them again."),
    "hub_quarantine.download": ("导出待处理行（Excel）", "Download the open rows (Excel)"),
    "hub_quarantine.download_hint": ("修正后作为同一数据源的文件重新上传即可；"
                                     "没有查看个人信息权限时身份证号、手机号脱敏。",
                                     "Fix and re-upload as a file of the same source; ID and phone numbers are masked "
                                     "without the reveal permission."),
    "hub_quarantine.resolved": ("处理人", "Resolved by"),
    "action.imported": ("历史导入", "Imported from history"),  # the timeline step of an imported case
    "msg.hub_quarantine_fixed": ("已修正并导入。", "Fixed and imported."),
    "msg.hub_quarantine_still": ("已保存修正，但仍未通过校验。", "Saved, but the row still fails validation."),
    "msg.hub_quarantine_discarded": ("已作废。", "Discarded."),
    "msg.hub_quarantine_rerun": ("已重新校验待处理行。", "The open rows were re-run."),
}

i18n.extend(MESSAGES)
