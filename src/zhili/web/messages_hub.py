"""UI text of the data hub's home and source pages (数据中台), registered with the catalogue at import."""

from __future__ import annotations

from zhili.web import i18n

MESSAGES: dict[str, tuple[str, str]] = {
    "hub.nav": ("数据中台", "Data hub"),
    "hub.title": ("数据中台", "Data hub"),
    "hub.lead": ("各部门数据一次导入、统一质检、归并为主数据，变更同步通知各使用部门。",
                 "Every department's data imported once, checked, resolved into golden records; changes are "
                 "published to the departments that use them."),
    "hub.forbidden": ("您的角色不能使用数据中台。", "Your role cannot use the data hub."),
    "hub.sections": ("功能", "Sections"),
    "hub.sources": ("数据源", "Sources"),
    "hub.templates": ("映射模板", "Mapping templates"),
    "hub.imports": ("导入记录", "Imports"),
    "hub.quarantine": ("隔离区", "Quarantine"),
    "hub.quality": ("数据质量", "Data quality"),
    "hub.review": ("待复核", "Review queue"),
    "hub.golden": ("主数据", "Golden records"),
    "hub.address": ("地址解析", "Address parsing"),
    "hub.subscriptions": ("变更订阅", "Change subscriptions"),
    "hub.no_sources": ("您的管辖范围内还没有登记数据源。", "No source is registered in your area yet."),
    "hub.source_name": ("标识", "Name"),
    "hub.source_title": ("名称", "Title"),
    "hub.source_target": ("标准模型", "Standard model"),
    "hub.source_security": ("安全等级", "Security level"),
    "hub.source_department": ("所属部门", "Department"),
    "hub.source_system": ("来源系统", "System"),
    "hub.source_contact": ("联系人", "Contact"),
    "hub.source_refresh": ("更新周期（天）", "Refresh (days)"),
    "hub.source_trust": ("可信度", "Trust"),
    "hub.source_unit": ("数据所属单位", "Unit"),
    "hub.source_note": ("备注", "Note"),
    "hub.source_last_import": ("最近导入", "Last import"),
    "hub.source_never": ("尚未导入", "Never imported"),
    "hub.source_inactive": ("已停用", "Inactive"),
    "hub.source_new": ("登记数据源", "Register a source"),
    "hub.source_name_hint": ("小写字母、数字、点、横线或下划线，如 12345-archive；命令行导入时使用",
                             "Lower-case letters, digits, dots, dashes or underscores, e.g. 12345-archive; used "
                             "on the command line"),
    "msg.hub_source_created": ("数据源已登记。", "The source has been registered."),
}

i18n.extend(MESSAGES)
