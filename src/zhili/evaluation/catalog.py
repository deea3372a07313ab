"""The 4E framework's structure and the default indicator set, data sets and weights that ship with the platform.

The structure follows 吴军民、周琳《论新时代基层社会治理的智能化》 section 三 (“基层社会治理智能化水平的‘4E’维度”):

* 经济 (Economy) — “基层社会治理智能化投入的成本，即数据系统的建设”: the data platform's four systems, “数据采集能力、
  数据储存能力、数据分析能力、数据共享能力”.
* 效率 (Efficiency) — “投入与产出的比例，包括人才队伍的建设与信息处置的能力”: “信息人才配备数量、信息人才培训考核、
  专项信息人才基金投入” and “信息收集能力、信息筛选能力、信息处置速度”.
* 效益 (Effectiveness) — “目标的实现程度和结果，包括人的满意程度和运行机制的完善”: “群众对智能化治理满意度、多元治理主体
  对智能治理满意度” and “责任清单、群众反馈机制、数据共享机制及多元主体监督机制”.
* 公平 (Equity) — “基层辖区内智能服务供给均等化”: every community, grid and resident able to use the smart services
  alike (“人民群众的评价、财政的权责统一、数据平台的建设标准”).

Each default indicator is computed from the platform's own data where it can be; the rest come from the manual data
set :data:`DATASETS` (填报), filled by each community every month. docs/4e.md lists them with their reasons.

Formulas are :mod:`zhili.core.expr` expressions over the metric names of :mod:`zhili.evaluation.metrics` and the
data sets' field codes, with three functions added (:data:`FORMULA_FUNCTIONS`): ``pct(a, b)`` = 100·a/b,
``ratio(a, b)`` = a/b and ``per1000(a, population)`` = 1000·a/population — each ``None`` ("no data") when the
denominator is missing or zero, so a unit without cases shows 无数据 rather than a fake 0 %.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DIMENSIONS: dict[str, str] = {"E1": "经济", "E2": "效率", "E3": "效益", "E4": "公平"}
DIMENSION_LONG: dict[str, str] = {
    "E1": "经济（Economy）：数据平台建设", "E2": "效率（Efficiency）：人才队伍与信息处置",
    "E3": "效益（Effectiveness）：治理满意度与运行机制", "E4": "公平（Equity）：智能服务供给均等化",
}
SUB_DIMENSIONS: dict[str, tuple[str, str]] = {  # code → (dimension, name)
    "E1.1": ("E1", "数据采集能力"),
    "E1.2": ("E1", "数据储存能力"),
    "E1.3": ("E1", "数据分析能力"),
    "E1.4": ("E1", "数据共享能力"),
    "E2.1": ("E2", "人才队伍建设"),
    "E2.2": ("E2", "信息处置能力"),
    "E3.1": ("E3", "治理满意度"),
    "E3.2": ("E3", "运行机制完善度"),
    "E4.1": ("E4", "服务可及性"),
    "E4.2": ("E4", "供给均衡度"),
}


def _none_if_no_denominator(b: Any) -> bool:
    return b is None or b == 0


def pct(a: Any, b: Any) -> float | None:
    """100·a/b; None without a numerator or denominator."""
    if a is None or _none_if_no_denominator(b):
        return None
    return 100.0 * float(a) / float(b)


def ratio(a: Any, b: Any) -> float | None:
    """a/b; None without a numerator or denominator."""
    if a is None or _none_if_no_denominator(b):
        return None
    return float(a) / float(b)


def per1000(a: Any, population: Any) -> float | None:
    """a per 1,000 residents; None without a population."""
    if a is None or _none_if_no_denominator(population):
        return None
    return 1000.0 * float(a) / float(population)


FORMULA_FUNCTIONS = {"pct": (pct, 2, 2), "ratio": (ratio, 2, 2), "per1000": (per1000, 2, 2)}


@dataclass(frozen=True)
class IndicatorSpec:
    code: str
    name: str
    sub_dimension: str
    unit: str
    direction: str
    formula: str
    source: str
    definition: str
    rationale: str
    weight: float = 1.0
    scope: str = "grid"
    normalisation: str = "minmax"
    target: float | None = None
    threshold: float | None = None

    @property
    def dimension(self) -> str:
        return SUB_DIMENSIONS[self.sub_dimension][0]


def _i(code: str, name: str, sub: str, unit: str, direction: str, formula: str, source: str, definition: str,
       rationale: str, **kw: Any) -> IndicatorSpec:
    return IndicatorSpec(code, name, sub, unit, direction, formula, source, definition, rationale, **kw)


H, L = "higher", "lower"
INDICATORS: tuple[IndicatorSpec, ...] = (
    # -- E1 经济: 数据平台建设 ----------------------------------------------------------------------------------
    _i("E1_PERSON_COMPLETE", "人口信息完整率", "E1.1", "%", H, "pct(persons_complete, population)", "人口库",
       "在册实有人口中联系电话、所属户、民族、与户主关系四项均已采集的人数占比",
       "数据采集能力：“通过信息采集网络化和数字化，扩大数据采集的覆盖范围”——采得全才能用得上",
       target=98, threshold=80, normalisation="target", weight=1.0),
    _i("E1_IOT_DENSITY", "物联感知设备密度", "E1.1", "台/千人", H, "per1000(devices, population)", "物联感知",
       "辖区内登记在用的物联感知设备（烟感、门锁、井盖、水位等）每千名实有人口台数",
       "数据采集能力：“通过天网、地网、人网等数据采集发掘系统，能够及时汲取外部资源”——天网、地网的覆盖",
       weight=1.0),
    _i("E1_ACTIVE_DISCOVERY", "主动发现事件占比", "E1.1", "%", H,
       "pct(cases_grid_worker + cases_iot, cases)", "事件库",
       "本期上报事件中由网格员巡查和物联感知主动发现的占比",
       "数据采集能力：“人网”“天网”主动采集，而不是等群众来电", weight=1.0),
    _i("E1_DATA_FRESH", "基础数据更新及时率", "E1.2", "%", H, "pct(persons_updated_365, population)", "人口库",
       "在册实有人口中自期末前 365 天以来核实或更新过的人数占比（登记库只保留最近一次核实时间）",
       "数据储存能力：“根据治理需求快速、便捷地重组信息”——存的是活数据而不是死数据",
       target=90, threshold=50, normalisation="target", weight=1.0),
    _i("E1_GOLDEN_FUSION", "多源数据融合率", "E1.2", "%", H, "pct(golden_persons, population)", "数据中台",
       "在册实有人口中已与部门数据归并为主数据（一人一档）的人数占比；未接入部门数据时显示“无数据”",
       "数据储存能力：数据中心把各部门数据汇聚为一份，破除“信息孤岛”", weight=1.0),
    _i("E1_IT_SPEND", "信息化建设投入（人均）", "E1.2", "元/人", H, "ratio(it_spent * 10000, population)",
       "填报：信息化建设月报",
       "本期信息化建设实际支出（万元）折合每名实有人口的金额",
       "经济维度“投入的成本，即数据系统的建设”：存储设备、数据中心等硬件和软件的投入",
       scope="community", weight=1.0),
    _i("E1_AUTO_ROUTE", "智能分拨准确率", "E1.3", "%", H, "pct(routed_correct, routed)", "智能研判",
       "本期有智能分类建议且已定类的事件中，最终类别与模型首选建议一致的占比",
       "数据分析能力：“梳理数据需求、提炼关键数据、探究治理规律”——模型替人做对了多少筛选", weight=1.0),
    _i("E1_WARN_HANDLED", "预警研判处置率", "E1.3", "%", H, "pct(warnings_handled, warnings)", "智能研判",
       "本期产生的智能预警中已研判（转事件或说明理由后排除）的占比",
       "数据分析能力：分析结果是否真正用于治理决策", weight=1.0),
    _i("E1_SHARE_USE", "共享数据使用量", "E1.4", "次/千人", H, "per1000(hub_deliveries, population)", "数据中台",
       "本期数据中台向各部门订阅方成功推送的变更数据条数每千人；未开通数据共享时显示“无数据”",
       "数据共享能力：“数据共享的深度与广度、数据共享效率、数据共享持续性”", weight=1.0),
    _i("E1_TERMINALS", "智能终端配备", "E1.4", "台/千人", H, "per1000(terminals, population)",
       "填报：信息化建设月报", "社区配备的智能终端（移动采集终端、自助服务机、显示大屏等）每千人台数",
       "数据共享与服务的入口：终端是群众和工作人员使用平台的载体", scope="community", weight=0.5),
    # -- E2 效率: 人才队伍与信息处置 ----------------------------------------------------------------------------
    _i("E2_GRID_WORKERS", "网格员配备率", "E2.1", "人/千人", H, "per1000(grid_workers, population)", "用户与网格",
       "在岗网格员（平台账号）每千名实有人口人数",
       "人才队伍：“信息人才配备数量”——网格员是信息采集处置的第一支队伍",
       target=1.5, threshold=0.5, normalisation="target", weight=1.0),
    _i("E2_INFO_STAFF", "信息化人才配备", "E2.1", "人/千人", H, "per1000(info_staff, population)",
       "填报：信息化建设月报", "社区专职从事信息采集、数据分析、平台运维的人员每千人人数",
       "人才队伍：“信息人才配备数量”", scope="community", weight=1.0),
    _i("E2_TRAINING", "人均培训学时", "E2.1", "学时/人", H, "ratio(training_hours, info_staff + grid_workers)",
       "填报：信息化建设月报", "本期信息化培训总学时除以信息化人员与网格员人数",
       "人才队伍：“信息人才培训考核”", scope="community", target=8, threshold=0,
       normalisation="target", weight=1.0),
    _i("E2_TALENT_FUND", "专项人才经费（人均）", "E2.1", "元/人", H, "ratio(talent_fund * 10000, population)",
       "填报：信息化建设月报", "本期用于信息化人才培养、引进的专项经费（万元）折合每名实有人口的金额",
       "人才队伍：“专项信息人才基金投入”", scope="community", weight=0.5),
    _i("E2_ACCEPT_TIME", "受理用时（中位数）", "E2.2", "工作小时", L, "accept_hours_p50", "事件库",
       "本期上报事件从上报到受理的工作时间中位数（按工作日历，节假日和夜间不计）",
       "信息处置：“信息筛选能力”——海量信息多快被看见、被接住", target=0.5, threshold=4,
       normalisation="target", weight=1.0),
    _i("E2_DISPATCH_TIME", "派遣用时（中位数）", "E2.2", "工作小时", L, "dispatch_hours_p50", "事件库",
       "本期上报事件从受理到派遣至责任单位的工作时间中位数",
       "信息处置：按权责清单派单的速度", target=0.5, threshold=4, normalisation="target", weight=1.0),
    _i("E2_RESOLVE_TIME", "办结用时（中位数）", "E2.2", "工作小时", L, "resolve_hours_p50", "事件库",
       "本期上报且已处置完毕的事件从上报到处置完毕的工作时间中位数",
       "信息处置：“信息处置速度”——“将社会矛盾化解在萌芽状态”", weight=1.5),
    _i("E2_ON_TIME", "按期办结率", "E2.2", "%", H, "pct(closed_on_time, closed)", "事件库",
       "本期上报且已办结的事件中在时限内办结的占比",
       "信息处置：“信息具有时效性”，超期即失效", target=95, threshold=70, normalisation="target", weight=1.5),
    _i("E2_REPORTS", "每千人事件发现量", "E2.2", "件/千人", H, "per1000(cases, population)", "事件库",
       "本期各渠道上报事件数每千名实有人口（分渠道数见下钻）",
       "信息处置：“信息收集能力”——问题被发现、被上报的多少", weight=0.5),
    _i("E2_VISIT_30", "入户走访覆盖率（30天）", "E2.2", "%", H, "pct(households_visited_30, households)",
       "走访记录", "期末前 30 天内网格员走访过的住户占在册住户的比例",
       "信息收集能力：网格员“人网”的触达", weight=0.5),
    _i("E2_VISIT_90", "入户走访覆盖率（90天）", "E2.2", "%", H, "pct(households_visited_90, households)",
       "走访记录", "期末前 90 天内网格员走访过的住户占在册住户的比例",
       "信息收集能力：一个季度内每户至少见一面", target=100, threshold=40, normalisation="target", weight=0.5),
    # -- E3 效益: 治理满意度与运行机制 --------------------------------------------------------------------------
    _i("E3_SATISFACTION", "群众满意度（均分）", "E3.1", "分", H, "ratio(rating_sum, rated)", "事件库",
       "本期上报事件办结后上报人或热线回访的评价均分（1–5 分）",
       "治理满意度：“群众对智能化治理满意度”——“以人民群众满意为根本指向”",
       target=4.8, threshold=3.5, normalisation="target", weight=1.5),
    _i("E3_GOOD_SHARE", "满意率", "E3.1", "%", H, "pct(rating_good, rated)", "事件库",
       "已评价事件中评 4–5 分的占比", "治理满意度：“群众对智能化治理满意度”",
       target=95, threshold=70, normalisation="target", weight=1.0),
    _i("E3_FOLLOW_UP", "回访评价覆盖率", "E3.1", "%", H, "pct(rated, resolved)", "事件库",
       "本期处置完毕的事件中已由上报人评价或热线回访的占比",
       "治理满意度：满意度要问到人——“群众反馈机制”的落实", target=90, threshold=40,
       normalisation="target", weight=1.0),
    _i("E3_MULTI_SAT", "多元主体满意度测评", "E3.1", "分", H, "multi_satisfaction", "填报：信息化建设月报",
       "社区组织的驻区单位、社会组织、居民代表对智能化治理的测评得分（百分制）",
       "治理满意度：“多元治理主体对智能治理满意度”", scope="community", target=95, threshold=60,
       normalisation="target", weight=1.0),
    _i("E3_DUTY_LIST", "权责清单覆盖率", "E3.2", "%", H, "pct(categories_covered, categories_total)",
       "权责清单", "在用的事件小类中有权责清单规则或默认责任部门可自动派遣到本辖区的占比",
       "运行机制：“完善主体责任清单，明确各智能治理主体的具体任务”，避免“推诿扯皮”",
       target=100, threshold=60, normalisation="target", weight=1.0),
    _i("E3_SUPERVISION", "督办响应率", "E3.2", "%", H, "pct(supervisions_answered, supervisions)", "事件库",
       "本期发出的督办（黄牌、红牌、升级、人工督办）中已反馈的占比",
       "运行机制：“多元主体监督机制”——督办有回音", target=100, threshold=50, normalisation="target",
       weight=1.0),
    _i("E3_REOPEN", "返工率", "E3.2", "%", L, "pct(reopened, resolved)", "事件库",
       "本期处置完毕的事件中因核查不通过或群众不满意被退回重办的占比",
       "运行机制：对基层矛盾“及时查错纠弊”，办一次就办好", weight=1.0),
    _i("E3_FEEDBACK", "群众建议答复率", "E3.2", "%", H, "pct(suggestions_replied, suggestions)", "居民参与",
       "本期居民通过平台提出的意见建议中已答复的占比", "运行机制：“群众反馈机制”", weight=0.5),
    # -- E4 公平: 智能服务供给均等化 ----------------------------------------------------------------------------
    _i("E4_SERVICE", "每千人办结服务量", "E4.1", "件/千人", H, "per1000(closed, population)", "事件库",
       "本期上报且已办结的事件数每千名实有人口——人均得到的服务",
       "服务可及性：“各社区、网格、群众都能公平可及地利用智能化技术系统和平台”", weight=1.0),
    _i("E4_CARE_VISITED", "特殊人群走访覆盖率", "E4.1", "%", H, "pct(care_visited_90, care_persons)",
       "人口库与走访记录", "独居老人、残疾人、低保户等重点关爱人员中期末前 90 天内被走访到的占比",
       "服务可及性：智能服务不漏掉最需要的人——“增进人民福祉”", target=100, threshold=50,
       normalisation="target", weight=1.5),
    _i("E4_ONLINE", "居民线上自主上报占比", "E4.1", "%", H, "pct(cases_resident + cases_open311, cases)",
       "事件库", "本期事件中由居民通过手机端、小程序等线上渠道自行上报的占比",
       "服务可及性：群众能否自己用上智能化平台", weight=0.5),
    _i("E4_GINI_RESOLVE", "办结用时基尼系数", "E4.2", "", L, "gini_resolve", "事件库（跨网格）",
       "社区内各网格办结用时中位数的基尼系数（0 为完全均等）",
       "供给均衡度：各网格得到同样快的响应——“智能服务供给均等化”", scope="community",
       target=0.05, threshold=0.4, normalisation="target", weight=1.0),
    _i("E4_THEIL_SERVICE", "人均服务量泰尔指数", "E4.2", "", L, "theil_service", "事件库（跨网格）",
       "社区内各网格每千人办结量按人口加权的泰尔指数（0 为完全均等）",
       "供给均衡度：人均服务在网格间的差异", scope="community", target=0.02, threshold=0.3,
       normalisation="target", weight=1.0),
    _i("E4_DECILE_GAP", "末位网格响应差距", "E4.2", "倍", L, "gap_resolve", "事件库（跨网格）",
       "社区内办结最慢的十分之一网格的平均办结用时是网格中位数的倍数",
       "供给均衡度：最差的网格与一般网格差多远——“不同地区之间…不平衡现象”", scope="community",
       target=1.2, threshold=3.0, normalisation="target", weight=1.0),
)

DIMENSION_WEIGHTS: dict[str, float] = {"E1": 0.2, "E2": 0.3, "E3": 0.3, "E4": 0.2}
SUB_DIMENSION_WEIGHTS: dict[str, float] = {
    "E1.1": 0.3, "E1.2": 0.3, "E1.3": 0.2, "E1.4": 0.2, "E2.1": 0.4, "E2.2": 0.6, "E3.1": 0.6, "E3.2": 0.4,
    "E4.1": 0.5, "E4.2": 0.5,
}


def default_weights() -> dict[str, float]:
    """The shipped weights: dimensions, sub-dimensions and indicators (each among its siblings)."""
    weights: dict[str, float] = dict(DIMENSION_WEIGHTS)
    weights.update(SUB_DIMENSION_WEIGHTS)
    weights.update({spec.code: spec.weight for spec in INDICATORS})
    return weights


@dataclass(frozen=True)
class FieldSpec:
    code: str
    name: str
    unit: str
    kind: str = "float"  # int | float
    min: float | None = 0
    max: float | None = None
    required: bool = True
    # how months combine into a quarter or a year: sum (spending, hours), last (head counts), mean (scores)
    aggregate: str = "sum"

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "unit": self.unit, "kind": self.kind, "min": self.min,
                "max": self.max, "required": self.required, "aggregate": self.aggregate}


@dataclass(frozen=True)
class DataSetSpec:
    code: str
    name: str
    description: str
    fields: tuple[FieldSpec, ...]
    rules: tuple[dict[str, str], ...] = field(default_factory=tuple)
    period_kind: str = "month"
    level: str = "community"
    due_day: int = 5


DATASETS: tuple[DataSetSpec, ...] = (
    DataSetSpec(
        code="it_monthly", name="信息化建设月报",
        description="各社区（村）每月填报信息化人员、培训、经费、终端和多元主体测评，街道审核后锁定。",
        fields=(
            FieldSpec("info_staff", "信息化专职人员", "人", "int", 0, 200, aggregate="last"),
            FieldSpec("trained_staff", "本月参训人数", "人", "int", 0, 500),
            FieldSpec("training_hours", "本月培训总学时", "学时", "float", 0, 5000),
            FieldSpec("it_budget", "本年信息化预算", "万元", "float", 0, 10000, aggregate="last"),
            FieldSpec("it_spent", "本月信息化支出", "万元", "float", 0, 1000),
            FieldSpec("talent_fund", "本月专项人才经费", "万元", "float", 0, 500),
            FieldSpec("terminals", "智能终端设备", "台", "int", 0, 5000, aggregate="last"),
            FieldSpec("multi_satisfaction", "多元主体满意度测评得分", "分", "float", 0, 100, aggregate="mean"),
        ),
        rules=(
            {"code": "trained_le_staff_hours", "expr": "training_hours == 0 or trained_staff > 0",
             "message": "填写了培训学时，参训人数不能为 0"},
            {"code": "hours_per_trainee", "expr": "trained_staff == 0 or training_hours / trained_staff <= 80",
             "message": "人均培训学时超过 80 学时，请核实培训学时或参训人数"},
            {"code": "spent_le_budget", "expr": "it_spent <= it_budget",
             "message": "本月信息化支出不能超过本年信息化预算"},
            {"code": "staff_jump", "expr": "prev_info_staff == None or abs(info_staff - prev_info_staff) "
                                           "<= max(5, prev_info_staff)",
             "message": "信息化专职人员与上期相比变化过大（超过上期人数且多于 5 人），请核实"},
            {"code": "budget_stable", "expr": "prev_it_budget == None or it_budget >= prev_it_budget * 0.5 "
                                              "or period_month == 1",
             "message": "年度预算较上期减少一半以上（年初除外），请核实"},
        ),
    ),
)
