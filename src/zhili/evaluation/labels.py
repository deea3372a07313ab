"""Chinese names of what the 4E pages and reports show: the metrics the scoring engine stores per unit
(:data:`METRIC_LABELS`), unit levels, period kinds and period names, and how a value, a normalisation or a direction
reads. An unknown metric name is never shown as an identifier: it reads as part of its indicator's formula."""

from __future__ import annotations

import datetime as dt
from typing import Any

CHANNEL_NAMES: dict[str, str] = {
    "resident": "居民上报", "grid_worker": "网格员上报", "hotline": "12345热线", "department": "部门移交",
    "iot": "物联感知", "open311": "开放接口", "staff": "工作人员录入",
}

METRIC_LABELS: dict[str, str] = {
    # the register
    "population": "实有人口（人）",
    "households": "在册住户（户）",
    "care_persons": "重点关爱人员（人）",
    "persons_complete": "信息完整的人口（人）",
    "persons_updated_365": "近365天核实更新的人口（人）",
    "golden_persons": "已归并为主数据的人口（人）",
    # cases
    "cases": "本期上报事件（件）",
    **{f"cases_{code}": f"其中{name}（件）" for code, name in CHANNEL_NAMES.items()},
    "accepted": "已受理（件）",
    "dispatched": "已派遣（件）",
    "resolved": "已处置完毕（件）",
    "closed": "已办结（件）",
    "closed_on_time": "按期办结（件）",
    "overdue": "超期（件）",
    "reopened": "退回重办（件）",
    "rated": "已评价（件）",
    "rating_sum": "评价分合计（分）",
    "rating_good": "评 4–5 分（件）",
    "accept_hours_p50": "受理用时中位数（工作小时）",
    "dispatch_hours_p50": "派遣用时中位数（工作小时）",
    "resolve_hours_p50": "办结用时中位数（工作小时）",
    "supervisions": "发出督办（次）",
    "supervisions_answered": "已反馈督办（次）",
    "routed": "有智能分类建议并已定类（件）",
    "routed_correct": "最终类别与首选建议一致（件）",
    "categories_total": "在用事件小类（个）",
    "categories_covered": "可自动派遣的事件小类（个）",
    # visits and staff
    "households_visited_30": "近30天走访住户（户）",
    "households_visited_90": "近90天走访住户（户）",
    "care_visited_90": "近90天走访的重点关爱人员（人）",
    "grid_workers": "在岗网格员（人）",
    # sensing, intelligence, data hub, participation
    "devices": "在用物联感知设备（台）",
    "warnings": "智能预警（条）",
    "warnings_handled": "已研判的预警（条）",
    "hub_deliveries": "数据中台推送（条）",
    "suggestions": "居民意见建议（条）",
    "suggestions_replied": "已答复的意见建议（条）",
    # the dispersion measures across a community's grids
    "gini_resolve": "各网格办结用时的基尼系数",
    "theil_service": "各网格每千人办结量的泰尔指数",
    "gap_resolve": "末位十分之一网格办结用时与中位数之比（倍）",
    # the monthly data set 信息化建设月报 (填报)
    "info_staff": "信息化专职人员（人）",
    "trained_staff": "本月参训人数（人）",
    "training_hours": "本月培训总学时（学时）",
    "it_budget": "本年信息化预算（万元）",
    "it_spent": "本月信息化支出（万元）",
    "talent_fund": "本月专项人才经费（万元）",
    "terminals": "智能终端设备（台）",
    "multi_satisfaction": "多元主体满意度测评得分（分）",
}

LEVEL_NAMES: dict[str, str] = {"province": "省", "city": "市", "district": "区县", "street": "街道（乡镇）",
                               "community": "社区（村）", "grid": "网格"}
LEVEL_ORDER: tuple[str, ...] = ("district", "street", "community", "grid")
PERIOD_KINDS: dict[str, str] = {"month": "月度", "quarter": "季度", "year": "年度"}
DIRECTIONS: dict[str, str] = {"higher": "越高越好", "lower": "越低越好"}


def metric_label(name: str, formula: str | None = None) -> str:
    """The Chinese name of a metric; an unknown one reads as part of its formula (never the identifier alone)."""
    label = METRIC_LABELS.get(name)
    if label:
        return label
    return f"计算公式“{formula}”中的一项数据" if formula else "其他数据项"


def period_label(period: str) -> str:
    """``2026-10`` → 2026年10月, ``2026-Q4`` → 2026年第4季度, ``2026`` → 2026年度."""
    if "-Q" in period:
        year, q = period.split("-Q", 1)
        return f"{year}年第{q}季度"
    if "-" in period:
        year, month = period.split("-", 1)
        return f"{year}年{int(month)}月" if month.isdigit() else period
    return f"{period}年度"


def previous_period(period: str) -> str | None:
    """The period of the same kind just before: 2026-01 → 2025-12, 2026-Q1 → 2025-Q4, 2026 → 2025."""
    try:
        if "-Q" in period:
            year, q = (int(x) for x in period.split("-Q", 1))
            return f"{year - 1}-Q4" if q == 1 else f"{year}-Q{q - 1}"
        if "-" in period:
            year, month = (int(x) for x in period.split("-", 1))
            return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"
        return str(int(period) - 1)
    except ValueError:
        return None


def format_number(value: Any) -> str:
    """A figure for display: 无数据 for none, whole numbers without decimals, small ones with two."""
    if value is None:
        return "无数据"
    v = float(value)
    if v == int(v) and abs(v) < 1e12:
        return f"{int(v):,}"
    if abs(v) < 10:
        return f"{v:.2f}"
    return f"{v:,.1f}"


def format_value(value: Any, unit: str = "") -> str:
    """An indicator value with its unit (``87.5%``, ``3.20 工作小时``); 无数据 for none."""
    if value is None:
        return "无数据"
    text = format_number(value)
    if not unit:
        return text
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"


def format_score(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1f}"


def normalisation_text(ind: dict[str, Any]) -> str:
    """How an indicator's value becomes a 0–100 score, in Chinese."""
    unit = ind.get("unit") or ""
    lower = ind.get("direction") == "lower"
    target, threshold = ind.get("target"), ind.get("threshold")
    if ind.get("normalisation") == "target" and target is not None and threshold is not None:
        t, h = format_value(target, unit), format_value(threshold, unit)
        if lower:
            return (f"对标目标值：不高于目标值 {t} 得 100 分，达到或高于阈值 {h} 得 0 分，"
                    "两者之间按线性插值计分。")
        return (f"对标目标值：达到或超过目标值 {t} 得 100 分，不高于阈值 {h} 得 0 分，"
                "两者之间按线性插值计分。")
    best = "最低" if lower else "最高"
    worst = "最高" if lower else "最低"
    return (f"同级比较（极差标准化）：在同一层级参评单位中，数值{best}者得 100 分、{worst}者得 0 分，"
            "其余按数值线性插值；无数据的单位不计分。")


def scope_text(scope: str | None) -> str:
    return "按社区计算，适用于其下各网格" if scope == "community" else "按网格计算，向上按人口加权汇总"


def day_text(day: dt.date | None) -> str:
    return "" if day is None else f"{day.year}年{day.month}月{day.day}日"
