"""Generated report history with planted duplicates and near-misses, for measuring the duplicate suggestions
(:mod:`zhili.intel.duplicates`). Pure and seeded: the same arguments give the same reports.

A district of 小区 (each with buildings) and roads on a 4 km square; problems of ten categories under three
parents, each problem with several paraphrases written the way residents and hotline operators write them. An
*incident* is one problem at one spot; its first report is followed, with some probability, by re-reports of
other residents (paraphrased, within days, their points scattered by GPS error, some by hotline without a point,
some filed under a related category) — those are the duplicates. Planted next to them: the same place with another
problem (often of the same category), the same problem at another place a few hundred metres to 1.5 km away, and
the same problem at the same place weeks later (a new incident). Reports of one incident share ``incident``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

ORIGIN = (119.90, 31.00)
_M_PER_DEG_LAT = 111_000.0


@dataclass(frozen=True)
class Report:
    """One generated report (a case as the duplicate search reads it) and the incident it belongs to."""

    id: uuid.UUID
    incident: int
    category_code: str
    title: str
    description: str
    address: str | None
    lon: float | None
    lat: float | None
    grid_id: uuid.UUID | None
    reported_at: dt.datetime

    def row(self) -> dict[str, Any]:
        return {"id": self.id, "number": str(self.id)[:8], "title": self.title, "description": self.description,
                "address": self.address, "lon": self.lon, "lat": self.lat, "grid_id": self.grid_id,
                "reported_at": self.reported_at, "category_code": self.category_code, "state": "reported"}


_CATS = [
    ("P01", "市容环境", None, []), ("P02", "公用设施", None, []), ("P03", "社会秩序", None, []),
    ("C0101", "暴露垃圾", "P01", ["垃圾", "垃圾桶"]), ("C0102", "占道经营", "P01", ["摊贩", "占道", "摆摊"]),
    ("C0103", "餐饮油烟", "P01", ["油烟", "排烟"]),
    ("C0201", "污水井盖", "P02", ["污水井盖", "窨井盖", "下水井盖"]),
    ("C0202", "上水井盖", "P02", ["上水井盖", "自来水井盖"]), ("C0203", "路灯故障", "P02", ["路灯"]),
    ("C0204", "道路破损", "P02", ["路面", "坑洼", "人行道"]),
    ("C0301", "噪声扰民", "P03", ["噪音", "噪声", "扰民"]), ("C0302", "违章停车", "P03", ["停车", "乱停", "消防通道"]),
    ("C0303", "违章搭建", "P03", ["搭建", "违建"]),
]

CATEGORIES: dict[str, Any] = {
    code: SimpleNamespace(code=code, name=name, parent_code=parent, is_leaf=parent is not None, is_active=True,
                          keywords=kw) for code, name, parent, kw in _CATS}

# problem → (category, related category a re-reporter may choose instead or None, paraphrases)
PROBLEMS: dict[str, tuple[str, str | None, list[str]]] = {
    "烧烤油烟": ("C0103", None, [
        "{p}楼下的烧烤店每天晚上油烟很大，窗户都不敢开", "{p}烧烤摊排烟严重，油烟呛人，{t}还在营业",
        "投诉{p}底商烧烤店油烟扰民，要求安装净化设备", "{p}附近烧烤店没有油烟净化器，烟味飘进家里",
        "{p}的烧烤油烟太大了，{t}一直冒烟"]),
    "饭店排烟": ("C0103", None, [
        "{p}饭店的排烟管道正对住户窗户，油烟熏人", "{p}一楼餐馆排风口对着居民楼，厨房油烟很重",
        "{p}小饭馆油烟直排，外墙都熏黑了"]),
    "广场舞": ("C0301", None, [
        "{p}广场舞音响声音太大，{t}吵得孩子没法学习", "{p}每晚跳广场舞放音乐，音量很大",
        "{p}广场舞噪音扰民，希望限制音量和时间", "{p}跳舞的音箱开得震天响，{t}停不下来"]),
    "装修噪音": ("C0301", None, [
        "{p}有住户装修，{t}电钻声不停", "{p}装修噪音从早到晚，周末也不停工", "{p}楼上装修砸墙，噪音太大",
        "{p}装修队中午也在施工，电锤声吵得人头疼"]),
    "工地夜间施工": ("C0301", None, [
        "{p}旁边工地夜间施工，机器轰鸣到凌晨", "{p}附近工地晚上打桩，噪声很大睡不着",
        "{p}工地深夜施工扰民，渣土车来回跑", "{p}工地半夜还在浇混凝土，搅拌车声音很吵"]),
    "酒吧噪音": ("C0301", None, [
        "{p}楼下酒吧音乐声很大，到凌晨两点还没停", "{p}的KTV半夜唱歌声音传到楼上",
        "{p}酒吧门口喝酒喧哗，音乐开得很响"]),
    "垃圾满溢": ("C0101", None, [
        "{p}垃圾桶满了好几天没人清运，臭味很大", "{p}门口的垃圾箱已经溢出来了，苍蝇很多",
        "{p}生活垃圾堆积没人收，味道熏人", "{p}垃圾房满溢，垃圾散落一地"]),
    "建筑垃圾": ("C0101", None, [
        "{p}有人乱倒建筑垃圾，堆在路边", "{p}装修垃圾堆放在楼道口，占用通道",
        "{p}旁边空地被倾倒了大量建筑渣土", "{p}碎砖头水泥袋堆了一大堆，没人清理"]),
    "流动摊贩": ("C0102", None, [
        "{p}门口流动摊贩占道摆摊，行人没法走", "{p}早上菜贩占用人行道卖菜，堵得水泄不通",
        "{p}路边水果摊占道经营，堵塞交通", "{p}小商贩推车摆摊，把路口都占了"]),
    "井盖破损": ("C0201", "C0202", [
        "{p}路口的井盖破了一个洞，很危险", "{p}有个窨井盖碎裂，晚上容易踩空", "{p}井盖松动，车压过去哐哐响",
        "{p}污水井盖缺失，有人差点掉下去", "{p}井盖裂开了，小孩经过很危险"]),
    "路灯不亮": ("C0203", None, [
        "{p}的路灯坏了好几盏，晚上一片漆黑", "{p}路灯不亮，走夜路不安全", "{p}几根路灯晚上一直不亮",
        "{p}路灯全黑了，老人晚上出门看不清路"]),
    "路灯白天亮": ("C0203", None, ["{p}路灯白天也开着，浪费电", "{p}大白天路灯还亮着，一直没人关"]),
    "路面坑洼": ("C0204", None, [
        "{p}路面有个大坑，下雨积水", "{p}道路坑坑洼洼，电动车容易摔", "{p}路面塌陷一块，车辆都绕着走",
        "{p}马路上一个深坑，昨晚有电动车摔倒"]),
    "人行道砖": ("C0204", None, [
        "{p}人行道地砖松动翘起，一踩就溅水", "{p}人行道砖破损好多块，老人容易绊倒",
        "{p}人行道的地砖碎了一片"]),
    "消防通道": ("C0302", None, [
        "{p}消防通道被私家车堵死了", "{p}有车辆长期占用消防通道", "{p}消防通道停满了车，出了事消防车进不来",
        "{p}消防车道上乱停车，劝了也不挪"]),
    "楼道电动车": ("C0302", None, [
        "{p}电动车停在楼道里充电，很危险", "{p}楼道里堆满电动车，还有人飞线充电",
        "{p}有人把电瓶车推进楼道充电，存在火灾隐患"]),
    "楼顶搭建": ("C0303", None, [
        "{p}顶楼住户在楼顶违章搭建阳光房", "{p}有人在屋顶加盖彩钢棚", "{p}楼顶私自搭建了一间房子"]),
    "圈占绿地": ("C0303", None, [
        "{p}一楼住户圈占绿地搭棚子", "{p}有人把公共绿化带围起来种菜搭棚", "{p}楼下绿地被住户私自围起来了"]),
}

_ESTATE_A = "金色 幸福 阳光 和平 锦绣 翠湖 华庭 东方 明珠 书香 龙湾 春江 丽景 银杏 碧水 紫荆 长安 新河 海棠 枫林"
_ESTATE_B = ["家园", "花园", "小区", "苑", "新村", "公寓"]
_ROADS = ["人民路", "解放路", "中山路", "长兴大道", "太湖路", "明珠路", "画溪街", "金陵路"]
_TIMES = ["每天晚上", "晚上十点以后", "周末", "一大早", "最近一周"]
_PREFIX = ["", "", "", "您好，", "市民来电反映：", "我是附近的住户，", "网格员巡查发现："]
_SUFFIX = ["", "", "希望尽快处理。", "已经反映过多次了。", "请相关部门管一管。", "谢谢！", "严重影响居民休息。"]


@dataclass(frozen=True)
class _Place:
    kind: str  # "estate" | "road"
    name: str
    lon: float
    lat: float
    buildings: int


def _offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    return (lon + east_m / (_M_PER_DEG_LAT * math.cos(math.radians(lat))), lat + north_m / _M_PER_DEG_LAT)


def _grid(lon: float, lat: float) -> uuid.UUID:
    """The generated district's grids: 600 m squares."""
    ix = math.floor((lon - ORIGIN[0]) * _M_PER_DEG_LAT * math.cos(math.radians(lat)) / 600)
    iy = math.floor((lat - ORIGIN[1]) * _M_PER_DEG_LAT / 600)
    return uuid.UUID(int=(ix + 1000) * 100_000 + iy + 1000)


def generate(*, seed: int = 17, days: int = 120, incidents_per_day: float = 25.0) -> list[Report]:
    """The history, in time order (module docstring)."""
    rng = random.Random(seed)
    names = [a + b for a in _ESTATE_A.split() for b in _ESTATE_B]
    rng.shuffle(names)
    places = [_Place("estate", n, *_offset(*ORIGIN, rng.uniform(0, 4000), rng.uniform(0, 4000)),
                     rng.randint(3, 12)) for n in names[:40]]
    places += [_Place("road", r, *_offset(*ORIGIN, rng.uniform(0, 4000), rng.uniform(0, 4000)), 0) for r in _ROADS]
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    problems = list(PROBLEMS)
    reports: list[Report] = []
    counter = [0]
    ids = itertools.count(1)

    def spot(place: _Place) -> tuple[str, int, float, float]:
        """(the spot's name as a resident writes it, building or house number, lon, lat)."""
        if place.kind == "estate":
            b = rng.randint(1, place.buildings)
            lon, lat = _offset(place.lon, place.lat, rng.gauss(0, 60), rng.gauss(0, 60))
            return place.name, b, lon, lat
        n = rng.randint(1, 300)
        lon, lat = _offset(place.lon, place.lat, rng.uniform(-800, 800), rng.gauss(0, 5))
        return place.name, n, lon, lat

    def written(place: _Place, number: int) -> str:
        if place.kind == "road":
            return rng.choice([f"{place.name}{number}号", f"{place.name}{number}号附近", place.name])
        bare = place.name.removesuffix("小区")
        return rng.choice([f"{place.name}{number}幢", f"{bare}小区{number}号楼", f"{place.name}", f"{bare}{number}栋",
                           f"{place.name}{number}幢"])

    def report(incident: int, problem: str, place: _Place, number: int, lon: float, lat: float,
               at: dt.datetime, first: bool) -> None:
        cat, alt, texts = PROBLEMS[problem]
        if not first and alt and rng.random() < 0.3:
            cat = alt
        p = written(place, number)
        desc = rng.choice(_PREFIX) + rng.choice(texts).format(p=p, t=rng.choice(_TIMES)) + "。" + rng.choice(_SUFFIX)
        desc = desc.replace("。。", "。")
        hotline = rng.random() < 0.2
        spread = rng.gauss(0, 25) if rng.random() > 0.08 else rng.uniform(150, 400) * rng.choice([-1, 1])
        plon, plat = _offset(lon, lat, spread, rng.gauss(0, 25))
        address = f"长兴县{p}" if hotline or rng.random() < 0.5 else None
        counter[0] += 1
        reports.append(Report(
            id=uuid.UUID(int=seed * 10**9 + counter[0]), incident=incident, category_code=cat,
            title=desc[:30] if rng.random() < 0.7 else f"{CATEGORIES[cat].name}：{place.name}",
            description=desc, address=address, lon=None if hotline else plon, lat=None if hotline else plat,
            grid_id=(_grid(lon, lat) if rng.random() < 0.5 else None) if hotline else _grid(plon, plat),
            reported_at=at))

    def incident(problem: str, place: _Place, at: dt.datetime, number: int | None = None,
                 where: tuple[float, float] | None = None) -> tuple[int, int, tuple[float, float]]:
        iid = next(ids)
        _, n, lon, lat = spot(place)
        n = number if number is not None else n
        lon, lat = where if where is not None else (lon, lat)
        report(iid, problem, place, n, lon, lat, at, first=True)
        if rng.random() < 0.45:
            for _ in range(min(5, 1 + int(rng.expovariate(0.9)))):
                later = rng.expovariate(1 / 20) if rng.random() > 0.12 else rng.uniform(72, 168)
                report(iid, problem, place, n, lon, lat, at + dt.timedelta(hours=later), first=False)
        return iid, n, (lon, lat)

    for _ in range(int(days * incidents_per_day)):
        problem = rng.choice(problems)
        place = rng.choice(places)
        at = start + dt.timedelta(hours=rng.uniform(0, days * 24))
        _, n, point = incident(problem, place, at)
        x = rng.random()
        if x < 0.30:  # the same place, another problem — half the time of the same category
            same_cat = [q for q in problems if q != problem and PROBLEMS[q][0] == PROBLEMS[problem][0]]
            other = rng.choice(same_cat) if same_cat and rng.random() < 0.5 else rng.choice(problems)
            near = _offset(*point, rng.gauss(0, 30), rng.gauss(0, 30))
            incident(other, place, at + dt.timedelta(hours=rng.uniform(-48, 48)), number=n, where=near)
        elif x < 0.50:  # the same problem a few hundred metres to 1.5 km away
            far = _offset(*point, rng.uniform(200, 1500) * rng.choice([-1, 1]), rng.uniform(-300, 300))
            other_place = min(places, key=lambda q: (q.lon - far[0]) ** 2 + (q.lat - far[1]) ** 2)
            if other_place != place:
                incident(problem, other_place, at + dt.timedelta(hours=rng.uniform(-48, 48)), where=far)
        elif x < 0.60:  # the same problem at the same place, weeks later: a new incident
            incident(problem, place, at + dt.timedelta(days=rng.uniform(14, 35)), number=n, where=point)
    return sorted((r for r in reports if r.reported_at < start + dt.timedelta(days=days)),
                  key=lambda r: r.reported_at)
