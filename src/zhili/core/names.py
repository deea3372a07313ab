"""The one place that turns a stored code into the name people read: roles, case states, report channels and the
system actor — in Chinese (zh-CN) and English.

Everything a person reads names things, never codes: the pages' ``label()`` (through the message catalogue, which
takes these tables), the labels the services put in their answers (``cases.models.STATE_LABELS`` / ``CHANNEL_LABELS``,
``core.security.ROLE_LABELS``) and the timeline comments the engine composes all come from here. Names that live in
tables are read from their tables, each by one function: departments ``org.service.department_names``, units
``regions.picker.names_by_code``, people ``users.names.display_names`` (which also names the system actor).

Core imports no domain, so the tables are keyed by the codes' string values; the enumerations (``Role``,
``CaseState``, ``Channel``) are string enumerations and look their members up here as they are.
"""

from __future__ import annotations

ZH, EN = "zh-CN", "en"

# The platform itself as an actor (automatic dispatch, the deadline sweep): stored as the username "system" in the
# audit log, supervision orders and configuration history; shown as 系统.
SYSTEM_USERNAME = "system"
SYSTEM_NAME = "系统"
SYSTEM_NAME_EN = "System"
# Names the system actor has been stored under in a timeline (older rows, the demo history): all shown as 系统.
SYSTEM_ALIASES = frozenset({SYSTEM_USERNAME, SYSTEM_NAME, "系统自动"})

# The reporter as the staff (and the reporter) see them in a timeline: never their account or their name.
REPORTER_NAME = "上报人"
REPORTER_NAME_EN = "Reporter"

_TABLES: dict[str, dict[str, tuple[str, str]]] = {
    "role": {
        "resident": ("居民", "Resident"),
        "grid_worker": ("网格员", "Grid worker"),
        "community_staff": ("社区工作人员", "Community staff"),
        "street_staff": ("街道工作人员", "Street staff"),
        "department_handler": ("职能部门", "Department"),
        "command_centre": ("指挥中心", "Command centre"),
        "leader": ("领导", "Leader"),
        "auditor": ("审计员", "Auditor"),
        "admin": ("系统管理员", "Administrator"),
    },
    "state": {
        "reported": ("已上报", "Reported"),
        "accepted": ("已受理", "Accepted"),
        "rejected": ("不予受理", "Rejected"),
        "dispatched": ("已派遣", "Dispatched"),
        "in_progress": ("处置中", "In progress"),
        "extension_requested": ("申请延期", "Extension requested"),
        "returned": ("已退回", "Returned"),
        "escalated": ("已上报上级", "Escalated"),
        "resolved": ("处置完成", "Resolved"),
        "verified": ("已核查", "Verified"),
        "rated": ("已评价", "Rated"),
        "closed": ("已结案", "Closed"),
        "merged": ("已合并", "Merged"),
    },
    "channel": {
        "resident": ("居民上报", "Resident"),
        "grid_worker": ("网格员巡查", "Grid patrol"),
        "hotline": ("12345热线", "12345 hotline"),
        "department": ("部门移交", "Department"),
        "iot": ("物联感知", "Sensor"),
        "open311": ("Open311", "Open311"),
        "staff": ("工作人员代录", "Staff"),
    },
    # Where a case filed by the platform itself came from (the system attribute ``origin``), after the channel in the
    # first line of its timeline.
    "case_origin": {
        "intel_warning": ("由智能预警转为事件", "Turned into a case from an early warning"),
    },
    # How a case came in, as the first line of its timeline ("通过居民上报上报" doubled the word).
    "channel_report": {
        "resident": ("居民上报", "Reported by a resident"),
        "grid_worker": ("网格员巡查上报", "Reported on a grid patrol"),
        "hotline": ("12345热线转办", "Passed on by the 12345 hotline"),
        "department": ("部门移交", "Passed on by a department"),
        "iot": ("物联感知设备告警", "Raised by a sensor"),
        "open311": ("通过Open311接口上报", "Reported through Open311"),
        "staff": ("工作人员代录", "Entered by staff"),
    },
    # The data hub (数据中台): what a source feeds, how sensitive it is, and the states of its imports, quarantined
    # rows, review pairs, golden records and deliveries.
    "hub_target": {
        "persons": ("人口", "Persons"),
        "households": ("房屋", "Households"),
        "buildings": ("楼栋", "Buildings"),
        "organisations": ("组织", "Organisations"),
        "cases": ("历史事件", "Historical cases"),
    },
    "hub_security": {
        "public": ("公开", "Public"),
        "internal": ("内部", "Internal"),
        "sensitive": ("敏感", "Sensitive"),
    },
    "hub_connector": {
        "csv": ("CSV 文件", "CSV file"),
        "xlsx": ("Excel 文件", "Excel file"),
        "json": ("JSON 文件", "JSON file"),
        "jsonl": ("JSON Lines 文件", "JSON Lines file"),
        "rest": ("REST 接口", "REST pull"),
    },
    "hub_import_status": {
        "running": ("导入中", "Running"),
        "done": ("已完成", "Done"),
        "failed": ("失败", "Failed"),
    },
    "hub_quarantine_status": {
        "open": ("待处理", "Open"),
        "fixed": ("已修正导入", "Fixed"),
        "discarded": ("已作废", "Discarded"),
    },
    "hub_entity": {
        "person": ("人员", "Person"),
        "organisation": ("组织", "Organisation"),
        "building": ("楼栋", "Building"),
    },
    "hub_match": {
        "seed": ("首条记录", "First record"),
        "deterministic": ("证件号一致", "Same key"),
        "probabilistic": ("概率匹配", "Probabilistic"),
        "manual": ("人工合并", "Merged by a reviewer"),
    },
    "hub_candidate_status": {
        "pending": ("待复核", "Pending"),
        "merged": ("已合并", "Merged"),
        "kept_apart": ("保持独立", "Kept apart"),
    },
    "hub_survivorship": {
        "most_recent": ("最新优先", "Most recent"),
        "most_trusted": ("可信来源优先", "Most trusted source"),
        "most_complete": ("最完整优先", "Most complete"),
    },
    "hub_change_kind": {
        "created": ("新增", "Created"),
        "updated": ("更新", "Updated"),
        "merged": ("合并", "Merged"),
        "unmerged": ("撤销合并", "Unmerged"),
    },
    "hub_subscription_kind": {
        "in_app": ("站内通知", "In-app"),
        "webhook": ("Webhook 推送", "Webhook"),
    },
    "hub_delivery_status": {
        "pending": ("待送达", "Pending"),
        "delivered": ("已送达", "Delivered"),
        "failed": ("送达失败", "Failed"),
    },
}
KINDS = tuple(_TABLES)


def name(kind: str, code: object, locale: str = ZH) -> str | None:
    """The name of ``code`` (an enumeration member or its value) of ``kind`` in ``locale``; None if not named."""
    entry = _TABLES[kind].get(str(getattr(code, "value", code)))
    if entry is None:
        return None
    return entry[1] if locale == EN else entry[0]


def zh(kind: str) -> dict[str, str]:
    """Code → Chinese name of every code of ``kind``."""
    return {code: pair[0] for code, pair in _TABLES[kind].items()}


def codes(kind: str) -> frozenset[str]:
    """Every code of ``kind``."""
    return frozenset(_TABLES[kind])


def catalogue() -> dict[str, tuple[str, str]]:
    """The tables as message-catalogue entries, ``"<kind>.<code>": (zh-CN, English)`` (see ``web.i18n``)."""
    return {f"{kind}.{code}": pair for kind, table in _TABLES.items() for code, pair in table.items()}


def is_system(actor: str | None) -> bool:
    """True if ``actor`` (a username or a stored actor name) is the system actor."""
    return actor in SYSTEM_ALIASES
