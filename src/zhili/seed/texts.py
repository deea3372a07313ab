"""Complaint texts of the demo history: what residents, hotline agents and grid workers write, generated per category.

A text is put together from precomputed pieces, so a million of them cost a few seconds (no segmentation, no
per-case formatting beyond one join):

* a **subject** — what is wrong, from the category: hand-written complaints for the categories people report
  most (noise, fumes, parking, rubbish, leaks, disputes …) and, for every category, its keywords (the
  taxonomy's synonyms) in phrasings that fit its kind (a broken component, an event seen in the street, a
  resident's problem or question); attribute values (井盖松动, 夜间不亮 …) add the concrete fault;
* a **place** from the grid the case is in — its compounds (小区 / hamlets) with a building or a gate, its roads,
  shops, schools and companies, as the registry names them;
* when, what it does to people, what was tried before, what the writer asks for, and a little colloquial noise —
  each present or not, so lengths run from about 20 to 200 characters;
* the writer's voice by channel: first person (resident), the hotline agent's summary (来电人反映 …), the grid
  worker's patrol note, a department's or a sensor's terse line.

Titles are short and varied (the keyword with or without the place, 关于…的投诉, 反映…问题, sometimes the category's
own name). About one text in twenty is written with a keyword of a confusable category (a sibling in the
taxonomy, or a known look-alike such as 施工扰民 / 商业噪音 / 社会生活噪声): genuinely ambiguous, as real reports are.
Everything is drawn from the caller's ``random.Random``, so a seed gives the same texts.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["HOT_SUBJECTS", "Places", "Texts", "dispute_text", "hot_issue_text"]


@dataclass(frozen=True)
class Places:
    """What a grid's residents call the places in it (registry names, shortened as people say them)."""

    compounds: tuple[str, ...] = ()
    roads: tuple[str, ...] = ()
    shops: tuple[str, ...] = ()
    schools: tuple[str, ...] = ()
    companies: tuple[str, ...] = ()
    rural: bool = False
    fallback: str = "这里"


# Hand-written subjects for the categories reported most (each is the core of a complaint, no place, no request).
_CURATED: dict[str, tuple[str, ...]] = {
    "SJ-0505": ("门口经常有车乱停，把路都堵死了", "人行道上停满了私家车，行人只能走机动车道",
                "晚上路两边都是违停的车，两辆车交会都过不去", "店门口天天有人违章停车，堵着我们出不去",
                "有辆车堵在单元门口一整天，打电话也不接"),
    "SJ-0506": ("电瓶车乱停乱放，盲道上都是", "共享单车堆在路口一大堆，没人管",
                "门口电动车停得乱七八糟，进出很不方便"),
    "SJ-0551": ("路边摆摊的越来越多，把人行道都占了", "早上菜场门口占道摆卖，车子根本开不过去",
                "晚上有夜市摊占道经营，收摊后垃圾扔一地"),
    "SJ-0504": ("店家把货摆到门外人行道上卖", "饭店把桌子摆到门口路边，行人没法走", "修车铺天天在门口修车，占了半条路"),
    "SJ-0501": ("有三轮车在路口摆卖水果，赶走了又回来", "流动摊贩在校门口卖小吃，卫生没保障"),
    "SJ-0510": ("晚上路边烧烤摊烟很大，一直弄到后半夜", "烧烤的油烟飘进家里，窗户都不敢开"),
    "SJ-0102": ("垃圾乱扔一地，好几天没人清理", "路边有一堆生活垃圾，苍蝇很多", "有人往绿化带里乱倒垃圾"),
    "SJ-0155": ("垃圾桶满了好几天都没人清运，外面堆了一地", "垃圾箱满溢出来了，臭气熏天"),
    "SJ-0103": ("有人偷倒装修垃圾，堆了好大一堆", "路边堆了很多建筑垃圾和渣土，一直没有清走"),
    "SJ-0104": ("马路上全是泥浆，一下雨更脏", "路面有一大片油污，电动车骑过去容易滑倒"),
    "SJ-0151": ("路面坑坑洼洼的，晚上骑车差点摔倒", "人行道地砖松动，一踩就溅一身泥水",
                "路上有个大坑，车开过去底盘都刮到"),
    "SJ-0201": ("楼道里贴满了小广告，刚清理完又贴上了", "墙上被人喷了办证电话，很难看"),
    "SJ-0301": ("工地晚上还在施工，机器声吵得睡不着", "半夜还有打桩的声音，已经连续好几天了",
                "施工噪音太大，周末早上六点就开工"),
    "SJ-0302": ("工地扬尘很大，窗户都不敢开", "土方没有覆盖，一刮风满天都是灰"),
    "SJ-0354": ("渣土车没有盖篷布，一路撒漏", "泥头车晚上开得很快，还沿路掉土"),
    "SJ-0404": ("下水道堵了，污水冒到路面上", "窨井一直往外冒水，臭得不行"),
    "SJ-0452": ("一下雨路面就积水，水深到膝盖", "下穿通道积水严重，有车子熄火了"),
    "SJ-0402": ("路面在冒水，好像是自来水管爆了", "水管破裂，水流了一地"),
    "SJ-0403": ("闻到很浓的煤气味，怀疑燃气泄漏", "楼道里有燃气味，不敢开灯"),
    "SJ-0451": ("路上井盖没了，一个大洞很危险", "井盖被偷了，晚上走路很容易掉下去"),
    "SJ-0651": ("有人遛狗不牵绳，小孩被吓哭了", "狗粪到处都是，没人清理", "邻居家的狗整晚叫，吵得睡不着"),
    "SJ-0101": ("有人在楼顶私搭乱建，加盖了一层", "一楼住户把院子围起来搭了个棚"),
    "SJ-0107": ("有辆报废车在路边停了半年没动过", "僵尸车占着车位，落满了灰"),
    "SJ-0652": ("半夜有人放鞭炮，把孩子都吓醒了",),
    "SJ-0153": ("有人在空地上焚烧垃圾，黑烟很大",),
    "SJ-0156": ("饭店往雨水口倒泔水，臭味很大", "洗车店的污水直接排到路上"),
    "SJ-0508": ("店门口的喇叭一直循环叫卖，吵死了", "商铺音响开得很大，从早放到晚"),
    "BJ-0118": ("路灯不亮好几天了，晚上黑乎乎的", "这一段路灯白天也亮着，浪费电", "路灯一闪一闪的，好像坏了"),
    "BJ-0214": ("红绿灯坏了，路口车辆乱成一团", "信号灯一直是红灯，车都堵着"),
    "SG-0101": ("楼上邻居家漏水到我家，沟通了几次不理", "和邻居因为过道堆东西的事吵起来了",
                "隔壁邻居装修把我家墙弄裂了，协商不成"),
    "SG-0102": ("家里老人子女都不赡养，生活很困难", "夫妻经常吵架，影响到孩子"),
    "SG-0103": ("物业费涨价业主不同意，和物业闹得很僵", "物业乱收停车费，业主意见很大"),
    "SG-0104": ("在工地干了半年，老板一直拖欠工资不给", "公司已经三个月没发工资了，找老板也找不到人",
                "农民工工资被拖欠，快过年了还要不到钱"),
    "SG-0203": ("楼里有一套房子群租，住了十几个人，进进出出很乱", "出租房的租客没有登记，经常半夜吵闹"),
    "SG-0303": ("有人把电动车推进电梯里，很危险", "楼道里飞线充电，电线从楼上拉下来",
                "电瓶车停在楼道里充电，一晚上不拔"),
    "SG-0306": ("电梯经常坏，上周还困人了", "电梯有异响，老人都不敢坐"),
    "SG-0307": ("上下学时间门口车很多，孩子过马路很危险", "这个路口没有斑马线，车速又快，出了好几起事故"),
    "SG-0401": ("消防通道被私家车堵死了", "消防车道上堆满杂物，一旦着火车子进不来"),
    "SG-0402": ("楼道里堆满了纸箱和旧家具", "楼梯间有人放杂物，过道都走不了"),
    "SG-0405": ("有人私拉电线，电线很乱，怕引起火灾",),
    "SG-0501": ("家里停水一天了，也没有通知", "自来水发黄，有股怪味", "高层水压太低，晚上用水都困难"),
    "SG-0502": ("一直跳闸停电，冰箱里东西都坏了", "电压不稳，空调开不起来"),
    "SG-0504": ("家里手机没信号，打电话要跑到楼下",),
    "SG-0601": ("物业不作为，小区卫生没人打扫", "物业保安形同虚设，外来人员随便进出", "小区绿化没人管，杂草长得很高"),
    "SG-0603": ("顶楼漏水，一下雨家里就滴水", "楼道灯坏了好久，物业一直不修", "单元门坏了关不上"),
    "SG-1201": ("楼上邻居晚上经常蹦跳、拖椅子，吵得睡不着", "广场舞音响太大声，每天晚上吵到九点多",
                "隔壁装修天天电钻声，中午也不停"),
    "SG-1202": ("工厂机器声日夜不停，晚上特别明显", "厂房风机噪音很大，吵得人心烦"),
    "SG-1203": ("楼下饭店油烟直排，家里窗户都不敢开", "餐馆的油烟机对着居民楼排，衣服上都是油烟味",
                "饭店排烟管道就在我家窗户下面，满屋子油烟"),
    "SG-1204": ("附近工厂排放废气，有刺鼻的气味", "晚上经常闻到一股臭味，不知道哪里来的"),
    "SG-1205": ("河水变黑发臭，怀疑有企业偷排污水", "有个排污口往河里直排污水"),
    "SG-1206": ("田里有人焚烧秸秆，烟很大", "有人在烧稻草，整个村子都是烟"),
    "SG-1208": ("附近养猪场臭味很大，夏天根本没法开窗",),
    "SG-1209": ("村里垃圾没人清运，堆在路边", "房前屋后堆满杂物，池塘发臭"),
    "SG-1210": ("老鼠很多，晚上到处窜", "蚊子苍蝇特别多，希望做一下消杀"),
    "SG-1301": ("隔壁独居老人好几天没见出门了，有点担心", "楼里有位空巢老人行动不便，没人照顾"),
    "SG-0702": ("退休了养老金一直没有到账", "社保断缴了，想问问怎么补缴"),
    "SG-0703": ("家里困难，想申请低保不知道怎么办",),
    "SG-0901": ("卫生院看病要排很久的队，医生态度也不好",),
    "SG-0903": ("在一家小饭馆吃了东西后拉肚子，怀疑食品不卫生", "超市在卖过期食品"),
    "SG-1001": ("孩子入学的学区划分有疑问，想了解一下",),
    "SG-1002": ("培训机构收了钱不退费，老板也联系不上",),
    "SG-1401": ("建议在门口增设一个公交站", "希望能在路口加装红绿灯"),
    "SG-1402": ("感谢网格员帮我们解决了楼道灯的问题", "社区工作人员服务很耐心，点个赞"),
    "SG-0204": ("接到冒充客服的电话让我转账，差点被骗",),
    "SG-0201": ("最近有陌生人在车边转悠，形迹可疑",),
    "SG-0202": ("楼下棋牌室好像在赌博，天天通宵",),
}

# Known look-alikes across the taxonomy (beside siblings under one parent): reports of one read like another.
_CONFUSABLE: tuple[tuple[str, ...], ...] = (
    ("SJ-0301", "SJ-0508", "SG-1201", "SG-1202"), ("SJ-0102", "SJ-0155", "SJ-0103", "SG-1209", "SJ-0106"),
    ("SJ-0451", "BJ-0101", "BJ-0102", "BJ-0103", "BJ-0114"), ("SJ-0505", "SG-0401", "SJ-0553", "SJ-0552"),
    ("SG-1203", "SJ-0510", "SG-1204"), ("SG-0103", "SG-0601"), ("SJ-0404", "SJ-0452", "SG-1205"),
    ("SG-0402", "SG-0303", "SG-0401"), ("SJ-0551", "SJ-0504", "SJ-0501"), ("SG-0307", "SG-0206", "SJ-0505"),
)

# Keyword already says what is wrong with the thing (路灯不亮, 招牌松动): used on its own.
_FAULT_MARKS = ("坏", "破", "不亮", "倾斜", "缺", "松动", "脱落", "开裂", "堵塞", "没水", "脏", "白天亮", "错误",
                "积水",
                "住人", "中断", "枯", "倒", "掉", "漏", "丢", "没了", "敞开", "故障", "异响", "困人", "停运", "裸露")
_COMPONENT_FAULTS = ("坏了", "损坏了", "破损严重", "坏掉好几天了", "缺了一块", "有问题，需要修一下", "一直没人修")
_EVENT_FRAMES = ("{}现象严重", "经常有{}的情况", "发现{}", "{}问题一直存在", "这里{}很严重", "存在{}问题", "{}")
_SOCIAL_FRAMES = ("{}问题", "有{}的情况", "存在{}的问题", "{}的事情", "{}问题比较突出", "出现了{}")
_CONSULT_FRAMES = ("想咨询一下{}", "请问{}怎么办理", "{}需要什么材料", "咨询{}相关政策", "{}的问题想问一下")
_PRAISE_FRAMES = ("想{}一下社区工作人员", "{}网格员", "对处理结果很满意，{}")
# Attribute values that name the concrete fault or kind of problem (others — times, areas — are left out).
_FAULT_ATTRIBUTES = {"井盖问题", "故障现象", "问题类型", "堵塞物", "充电位置", "噪声来源", "排放去向", "垃圾类型",
                     "需求类型"}

_THEMES: dict[str, str] = {
    "BJ-01": "safety", "BJ-02": "traffic", "BJ-03": "hygiene", "BJ-04": "generic", "BJ-05": "safety",
    "BJ-06": "safety", "SJ-01": "hygiene", "SJ-02": "generic", "SJ-03": "hygiene", "SJ-04": "safety",
    "SJ-05": "traffic", "SJ-06": "generic", "SG-01": "life", "SG-02": "safety", "SG-03": "safety",
    "SG-04": "safety", "SG-05": "life", "SG-06": "life", "SG-07": "life", "SG-08": "life", "SG-09": "life",
    "SG-10": "life", "SG-11": "none", "SG-12": "smell", "SG-13": "life", "SG-14": "none",
    "SJ-0301": "noise", "SJ-0508": "noise", "SG-1201": "noise", "SG-1202": "noise", "SJ-0651": "noise",
}
_IMPACTS: dict[str, tuple[str, ...]] = {
    "noise": ("吵得根本睡不着觉", "孩子晚上没法写作业", "家里老人心脏不好受不了", "严重影响休息",
              "第二天还要上班，实在熬不住"),
    "smell": ("味道很难闻", "窗户都不敢开", "衣服晾在外面都是味道", "老人孩子闻了都咳嗽"),
    "traffic": ("影响通行", "车子进出很困难", "行人只能走机动车道", "早晚高峰堵得厉害", "推婴儿车都过不去"),
    "safety": ("存在安全隐患", "老人小孩经过很危险", "万一出事谁负责", "晚上看不清很容易出事", "已经有人差点摔倒了"),
    "hygiene": ("苍蝇蚊子很多", "影响环境卫生", "看着很脏，影响市容", "夏天味道特别大"),
    "life": ("生活很不方便", "家里老人很着急", "已经影响到正常生活", "实在没有办法了才打电话"),
    "generic": ("影响周边居民", "大家意见都很大", "很影响形象"),
    "none": ("",),
}
_TIMES = ("最近", "这几天", "已经一个多星期了，", "从上个月开始", "每天早上", "每天晚上", "周末", "今天上午",
          "一到下雨天", "早晚高峰", "好长时间了，", "这半个月")
_NIGHT_TIMES = ("晚上十点以后", "凌晨两三点", "每天晚上", "半夜", "晚上十一点多了还", "天天晚上")
_HISTORY = ("之前打过电话，没人管", "反映过好几次了，一直没解决", "物业说不归他们管",
            "找过社区，说会处理，结果还是老样子",
            "这是第一次反映", "去年也有这个问题", "上周反映过一次，当时处理了，现在又这样了")
_REQUESTS = ("希望尽快处理", "请相关部门管一管", "麻烦派人来看看", "要求尽快修复", "希望给个说法", "请尽快安排人员处理",
             "希望政府重视一下", "请帮忙协调解决", "盼复", "希望能彻底解决")
_NOISE = ("真的受不了了", "怎么就没人管呢", "麻烦了", "谢谢", "辛苦了", "拜托了", "实在没办法", "急！")
_HOTLINE_OPEN = ("来电人反映：", "市民来电反映，", "来电称，", "市民反映：", "来电人称，")
_HOTLINE_CLOSE = ("来电人要求相关部门尽快处理。", "诉求人希望尽快解决。", "请相关单位核实处理。",
                  "来电人要求给予答复。",
                  "市民希望有关部门重视。")
_WORKER_OPEN = ("巡查发现", "网格巡查时发现", "日常走访中居民反映", "巡查中发现", "")
_WORKER_CLOSE = ("已拍照上报", "需相关部门处置", "已现场劝导，效果不明显", "已告知当事人整改，请职能部门跟进",
                 "现场无法处理，申请派遣", "已设置临时警示")
_GATES = ("门口", "东门", "南门", "北门", "西门", "大门口", "里面", "地下车库", "旁边", "对面", "围墙外")
_ROAD_SPOTS = ("", "边上", "人行道上", "路口", "公交站旁边", "桥头")
_VILLAGE_SPOTS = ("", "村口", "河边", "自然村", "那边", "的晒场上")

# Which kinds of place a category's reports name (by parent code): c compound, r road, s shop, x school,
# y company; anything not listed mixes them.
_PLACE_BIAS: dict[str, str] = {
    "BJ-01": "rrc", "BJ-02": "rrr", "BJ-03": "crs", "BJ-04": "rc", "BJ-05": "cc", "BJ-06": "rr",
    "SJ-01": "crcs", "SJ-02": "crs", "SJ-03": "rrc", "SJ-04": "rrc", "SJ-05": "rsrc", "SJ-06": "cr",
    "SG-01": "ccc", "SG-02": "ccs", "SG-03": "yyc", "SG-04": "ccc", "SG-05": "ccc", "SG-06": "ccc",
    "SG-09": "cs", "SG-10": "xxc", "SG-12": "cscy", "SG-13": "cc",
    "SG-1203": "sss", "SG-0104": "yyy", "SG-0306": "ccc", "SG-0307": "xxr", "SG-0206": "xxx", "SG-1202": "yyy",
}


def _fault_values(attributes: Any) -> list[str]:
    out: list[str] = []
    for a in attributes or []:
        if isinstance(a, dict) and a.get("description") in _FAULT_ATTRIBUTES:
            for v in a.get("values") or []:
                for part in str(v.get("name", "")).split("/"):
                    part = part.split("（")[0].strip()
                    if part and part not in ("其他", "看不清", "不明", "不清楚"):
                        out.append(part)
    return out


class _Cat:
    """Precomputed pieces of one category's texts."""

    __slots__ = ("code", "curated", "impacts", "keywords", "kind", "name", "night", "p_when", "parent", "place_bias",
                 "subjects", "titles")

    def __init__(self, c: Any) -> None:
        self.code: str = c.code
        self.name: str = c.name
        self.kind: str = c.kind
        self.parent: str = c.parent_code or c.code[:5]
        kws = [k for k in (c.keywords or []) if k] or [c.name]
        self.keywords: list[str] = kws
        theme = _THEMES.get(self.code) or _THEMES.get(self.parent, "generic")
        self.impacts = _IMPACTS[theme]
        self.night = theme == "noise" or self.code in ("SG-1203", "SJ-0510")
        self.p_when = 0.12 if c.kind == "component" else 0.2 if theme in ("none", "life") else 0.45
        self.place_bias = _PLACE_BIAS.get(self.code) or _PLACE_BIAS.get(self.parent, "crs")
        self.curated: tuple[str, ...] = _CURATED.get(self.code, ())
        faults = _fault_values(getattr(c, "attributes", None))
        subjects: list[str] = []
        for kw in kws[:7]:
            if self.parent == "SG-11":
                subjects += [f.format(kw) for f in _CONSULT_FRAMES]
            elif self.parent == "SG-14":
                subjects += [f.format(kw) for f in _PRAISE_FRAMES]
            elif c.kind == "component":
                if any(m in kw for m in _FAULT_MARKS):
                    subjects += [kw, kw + "了", "发现" + kw, kw + "，一直没人修"]
                else:
                    subjects += [kw + f for f in (faults[:6] or _COMPONENT_FAULTS)]
                    subjects += [kw + f for f in _COMPONENT_FAULTS[:3]] if faults else []
            elif c.kind == "event":
                subjects += [f.format(kw) for f in _EVENT_FRAMES]
            else:
                subjects += [f.format(kw) for f in _SOCIAL_FRAMES]
        if faults and c.kind != "component":
            subjects += [f"{kws[0]}，{v}" for v in faults[:6]]
        self.subjects = subjects
        self.titles = kws


class Texts:
    """The text generator for a set of categories (in the order of the caller's category list)."""

    def __init__(self, categories: Sequence[Any]) -> None:
        self.cats = [_Cat(c) for c in categories]
        by_code = {c.code: i for i, c in enumerate(self.cats)}
        groups: dict[str, list[int]] = {}
        for i, c in enumerate(self.cats):
            groups.setdefault(c.parent, []).append(i)
        self.confusable: list[list[int]] = []
        for i, c in enumerate(self.cats):
            near = {j for j in groups[c.parent] if j != i}
            for group in _CONFUSABLE:
                if c.code in group:
                    near |= {by_code[x] for x in group if x in by_code and x != c.code}
            self.confusable.append(sorted(near))

    # -- pieces ---------------------------------------------------------------------------------------------
    def place(self, rng: random.Random, places: Places, bias: str = "crs", home: bool = False
              ) -> tuple[str, str, bool]:
        """A place phrase for the text, the short name for the title, and whether it is a compound (小区/hamlet);
        ``home``: a resident's own problem (a building and unit, never a gate or a car park)."""
        r = rng.random
        kind = bias[int(r() * len(bias))]
        pool = {"c": places.compounds, "r": places.roads, "s": places.shops, "x": places.schools,
                "y": places.companies}[kind]
        if not pool:
            kind, pool = ("c", places.compounds) if places.compounds else ("r", places.roads)
        if not pool:
            return places.fallback, "", False
        name = pool[int(r() * len(pool))]
        if kind == "c":
            if places.rural:
                return (name if home else name + _VILLAGE_SPOTS[int(r() * len(_VILLAGE_SPOTS))]), name, True
            x = r()
            if home:
                return (name if x < 0.4 else f"{name}{int(r() * 18) + 1}幢" if x < 0.7 else
                        f"{name}{int(r() * 18) + 1}幢{int(r() * 3) + 1}单元"), name, True
            if x < 0.35:
                return f"{name}{int(r() * 18) + 1}幢", name, True
            if x < 0.5:
                return f"{name}{int(r() * 18) + 1}幢{int(r() * 3) + 1}单元", name, True
            return name + _GATES[int(r() * len(_GATES))], name, True
        if kind == "r":
            if places.compounds and r() < 0.3:
                return f"{name}靠近{places.compounds[int(r() * len(places.compounds))]}这段", name, False
            return name + _ROAD_SPOTS[int(r() * len(_ROAD_SPOTS))], name, False
        if kind == "s":
            road = places.roads[int(r() * len(places.roads))] if places.roads and r() < 0.5 else ""
            return f"{road}{name}{'门口' if r() < 0.6 else '旁边'}", name, False
        return name + ("门口" if r() < 0.5 else "附近"), name, False

    def subject(self, rng: random.Random, ci: int) -> tuple[str, str]:
        """What is wrong (a sentence) and the keyword a title would use."""
        c = self.cats[ci]
        r = rng.random
        if c.curated and r() < 0.55:
            s = c.curated[int(r() * len(c.curated))]
        else:
            s = c.subjects[int(r() * len(c.subjects))]
        return s, c.keywords[int(r() * len(c.keywords))]

    def title(self, rng: random.Random, ci: int, kw: str, where: str) -> str:
        c = self.cats[ci]
        x = rng.random()
        if c.parent == "SG-11":
            t = ("咨询" + kw) if x < 0.6 else (kw + "问题咨询")
        elif c.parent == "SG-14":
            t = "表扬感谢" if x < 0.3 else (f"{where}{kw}" if x < 0.7 else kw)
        elif x < 0.10:
            t = c.name
        elif x < 0.25:
            t = kw
        elif x < 0.45 and where:
            t = f"{where}{kw}"
        elif x < 0.55:
            t = f"反映{where}{kw}问题"
        elif x < 0.65:
            t = f"{kw}问题"
        elif x < 0.75 and where:
            t = f"关于{where}{kw}的投诉"
        elif x < 0.83:
            t = f"{where}{kw}请求处理"
        elif x < 0.9:
            t = f"{kw}没人管"
        else:
            t = f"{where}有{kw}" if where else f"投诉{kw}"
        return t[:40]

    # -- whole texts ---------------------------------------------------------------------------------------
    def case(self, rng: random.Random, ci: int, places: Places, channel: str,
             where: tuple[str, str, bool] | None = None, again: bool = False
             ) -> tuple[str, str, tuple[str, str, bool]]:
        """Title and description of one report of category ``ci`` in a grid with ``places``, in the voice of
        ``channel``; ``where`` forces the place (a re-report of the same spot), ``again`` says it was reported
        before. Returns the place used too."""
        r = rng.random
        c = self.cats[ci]
        near = self.confusable[ci]
        if near and r() < 0.05:  # written like a look-alike category (the label stays the category's)
            subj, kw = self.subject(rng, near[int(r() * len(near))])
        else:
            subj, kw = self.subject(rng, ci)
        where = where or self.place(rng, places, c.place_bias, home=c.kind == "social")
        spot, short, compound = where
        if near and r() < 0.04:
            other, _ = self.subject(rng, near[int(r() * len(near))])
            subj += "，另外" + other
        impact = c.impacts[int(r() * len(c.impacts))] if r() < 0.55 else ""
        when = ""
        if r() < c.p_when:
            when = _NIGHT_TIMES[int(r() * 6)] if c.night and r() < 0.7 else _TIMES[int(r() * 12)]
        title = self.title(rng, ci, kw, short)
        if channel == "hotline":
            parts = [_HOTLINE_OPEN[int(r() * 5)] + spot + when + subj]
            if impact:
                parts.append(impact)
            if again:
                parts.append("称前几天已有人反映过，问题仍未解决")
            elif r() < 0.2:
                parts.append(_HISTORY[int(r() * len(_HISTORY))])
            return title, "，".join(parts) + "。" + _HOTLINE_CLOSE[int(r() * 5)], where
        if channel == "grid_worker":
            parts = [_WORKER_OPEN[int(r() * 5)] + spot + subj]
            if impact and r() < 0.5:
                parts.append(impact)
            parts.append(_WORKER_CLOSE[int(r() * len(_WORKER_CLOSE))])
            return title, "，".join(parts) + "。", where
        if channel in ("iot", "department", "open311"):
            tail = "，请处置。" if channel == "department" else "。"
            lead = "监测设备报警：" if channel == "iot" else ""
            body = f"{lead}{spot}{subj}"
            if len(body) < 16 and channel == "open311":
                body += "，" + _REQUESTS[int(r() * len(_REQUESTS))]
            return title, body + tail, where
        # a resident, in the first person
        x = r()
        if x < 0.3 and compound:
            rest = spot.removeprefix(short)
            head = f"我住在{short}{rest}，{when}{subj}" if rest[-1:] in "幢元" or not rest else \
                f"我住在{short}，{rest}{when}{subj}"
        elif x < 0.4:
            head = f"{when}{spot}{subj}"
        elif x < 0.5:
            head = f"你好，{spot}{when}{subj}"
        elif x < 0.6:
            head = f"想反映一下，{spot}{when}{subj}"
        else:
            head = f"{spot}{when}{subj}"
        parts = [head]
        if again:
            parts.append(("前两天已经报过了，现在还是这样", "之前有人反映过，到现在还没处理",
                          "再反映一次")[int(r() * 3)])
        if impact:
            parts.append(impact)
        if not again and impact and r() < 0.18:
            parts.append(_HISTORY[int(r() * len(_HISTORY))])
        if r() < 0.6 or len(head) < 16:
            parts.append(_REQUESTS[int(r() * len(_REQUESTS))])
        end = "！" if r() < 0.2 else "。"
        text = "，".join(p for p in parts if p) + end
        if r() < 0.15:
            text += _NOISE[int(r() * len(_NOISE))] + ("！" if r() < 0.5 else "")
        return title, text, where


# -- the planted hot issues, disputes ----------------------------------------------------------------------------

HOT_SUBJECTS: dict[str, dict[str, Any]] = {
    # a restaurant's fumes and its noise late at night
    "fumes_noise": {
        "label": "餐饮油烟和夜间噪声", "places": ("shop", "compound"), "codes": ("SG-1203", "SG-1203", "SG-1203",
                                                                                 "SG-1201", "SJ-0510"),
        "subjects": ("{shop}的油烟直接排到我们楼里，窗户都不敢开",
                     "{shop}每天晚上营业到凌晨，油烟加上吵闹声让人没法休息",
                     "{shop}排烟管道正对着{compound}的住户，满屋子油烟味",
                     "楼下{shop}后厨油烟直排，晚上还有客人喝酒划拳",
                     "{shop}半夜还在炒菜，风机轰轰响，油烟味很重", "{shop}门口夜宵摊吵到后半夜，油烟熏得人头疼",
                     "{compound}楼下那家{shop}的油烟和噪音问题一直没解决"),
        "titles": ("{shop}油烟扰民", "{compound}楼下饭店油烟噪音", "投诉{shop}油烟", "{shop}晚上太吵",
                   "关于{shop}油烟和噪音的投诉", "油烟直排扰民", "{compound}油烟问题"),
        "when": ("晚上十点以后", "每天晚上", "凌晨一两点", "周末晚上", ""),
    },
    # a building site working through the night
    "night_construction": {
        "label": "工地夜间施工扰民", "places": ("compound", "road"), "codes": ("SJ-0301", "SJ-0301", "SJ-0301",
                                                                               "SG-1201", "SJ-0302"),
        "subjects": ("{road}边上的工地半夜还在打桩，整栋楼都在震", "{compound}旁边的在建工地晚上十一点还在浇混凝土",
                     "{compound}边上的工地夜间施工，渣土车进进出出，吵得孩子睡不着",
                     "{road}工地凌晨还有机器声，说是赶工期", "{compound}对面工地天天夜里施工，灯光照进卧室",
                     "{road}那个工地晚上施工有没有夜间施工许可？连续一个礼拜了"),
        "titles": ("{road}工地夜间施工", "工地半夜施工扰民", "{compound}旁工地太吵", "投诉夜间施工", "夜间施工噪音",
                   "关于{road}工地扰民的投诉"),
        "when": ("晚上十一点多", "凌晨两三点", "每天晚上", "半夜", ""),
    },
    # the school run jamming the street
    "school_traffic": {
        "label": "学校周边上下学交通拥堵", "places": ("school", "road"), "codes": ("SG-0307", "SG-0307", "SJ-0505",
                                                                                   "SJ-0505", "SG-0206"),
        "subjects": ("{school}门口上下学时间接送车辆乱停，整条{road}都堵死了",
                     "{school}放学时家长的车占满了路，孩子在车缝里穿来穿去",
                     "{road}靠近{school}这段早上七点多堵得走不动", "{school}门口没有交警疏导，接孩子的车双排停放",
                     "{school}附近接送车辆把人行道也占了，很不安全", "{school}门口每天早晚堵车，救护车都过不去"),
        "titles": ("{school}门口堵车", "{school}接送车辆乱停", "{road}上下学拥堵", "学校门口交通拥堵",
                   "关于{school}周边交通的建议", "{school}门口交通安全隐患"),
        "when": ("每天早上七点多", "下午放学时间", "早晚接送时间", "上下学高峰", ""),
    },
}


def hot_issue_text(rng: random.Random, key: str, names: dict[str, str], channel: str) -> tuple[str, str]:
    """One report of a planted hot issue: the same place and subject, worded differently each time."""
    spec = HOT_SUBJECTS[key]
    r = rng.random
    subj = spec["subjects"][int(r() * len(spec["subjects"]))].format(**names)
    when = spec["when"][int(r() * len(spec["when"]))]
    impact = _IMPACTS["noise" if key != "school_traffic" else "traffic"][int(r() * 4)]
    title = spec["titles"][int(r() * len(spec["titles"]))].format(**names)[:40]
    if channel == "hotline":
        body = f"{_HOTLINE_OPEN[int(r() * 5)]}{when}{subj}，{impact}。{_HOTLINE_CLOSE[int(r() * 5)]}"
    else:
        extra = ("", "已经不是一个人反映了", "好多邻居都在群里说这个事", "之前反映过，没有改善",
                 "附议楼上")[int(r() * 5)]
        parts = [f"{when}{subj}", impact, extra, _REQUESTS[int(r() * len(_REQUESTS))] if r() < 0.7 else ""]
        body = "，".join(p for p in parts if p) + ("！" if r() < 0.3 else "。")
    return title, body


_DISPUTE_STEPS = (
    ("楼上漏水", "楼上{up}家卫生间漏水，渗到我家天花板，跟他们说了让修一下"),
    ("楼上漏水未处理", "楼上漏水还是没修，天花板已经发霉了，上去敲门他们不开"),
    ("邻居漏水纠纷", "因为漏水的事和楼上吵了一架，他们说不是他们家的问题，请社区来调解"),
    ("邻里纠纷升级", "楼上不但不修，还故意半夜在地上砸东西，我们一家都睡不好"),
    ("邻居纠纷请求调解", "今天和楼上在楼道里发生推搡，老人受了惊吓，请尽快派人调解"),
    ("邻居扬言报复", "楼上扬言要找人收拾我们，家里老人孩子很害怕，再不处理要出事了"),
    ("纠纷仍未解决", "调解后还是老样子，漏水没修，还在楼道里骂人，请求有关部门介入"),
)


def dispute_text(step: int, address: str, upstairs: str) -> tuple[str, str]:
    """The ``step``-th report (0-based) of an escalating neighbour dispute at ``address``."""
    title, body = _DISPUTE_STEPS[min(step, len(_DISPUTE_STEPS) - 1)]
    return title, f"我家住{address}，{body.format(up=upstairs)}。"
