"""Synthetic multi-source persons with known truth, for the data hub's entity-resolution benchmarks.

Deterministic (seeded) generator of persons spread over three sources with the column sets of three kinds of
department, and about 10 % cross-source duplicates (the same person in a second source, with realistic noise):

* ``gongan``   (public-security-like, written in GB18030): 姓名, 公民身份号码, 性别 (男/女), 出生日期 (YYYY-MM-DD),
  户籍地址, 联系电话;
* ``minzheng`` (civil-affairs-like, UTF-8): 姓名, 身份证号, 性别 (男/女), 出生年月日 (YYYY年M月D日), 现住址, 手机;
* ``weijian``  (health-like, UTF-8): 患者姓名, 证件号码 (missing for 40 %), 性别 (1/2), 出生日期 (YYYYMMDD),
  居住地址, 联系方式.

Every person has a valid GB 11643 ID number (checksum from ``zhili.core.validators``) and a 浙江 address;
people share surnames, birth dates, roads and (family members) addresses, so hard negatives exist. Noise on a
duplicate copy: 同音字 typo in the given name (15 %), two adjacent phone digits swapped (8 %), a new phone (8 %),
no phone (10 %), birth date off by one part (5 %, the ID number keeps the true date), ID number mistyped (3 %),
address written another way (栋/幢/号楼, full-width digits, no province/city, ``3-2-301``; 50 %), moved house
(5 %), and the ID number missing in the health source.

Usage::

    PYTHONPATH=src .venv/bin/python bench/hub_synth.py --n 10000 --out /tmp/hub_synth   # CSVs + truth.csv

``generate(n, seed)`` returns the rows per source and the truth pairs; ``standard(source, row)`` maps a row
to the Matcher's standard person values (what the hub's mapping templates do on import).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pypinyin import lazy_pinyin

from zhili.core.validators import id_check_digit

SOURCES = ("gongan", "minzheng", "weijian")
ENCODINGS = {"gongan": "gb18030", "minzheng": "utf-8", "weijian": "utf-8"}
COLUMNS = {
    "gongan": ("编号", "姓名", "公民身份号码", "性别", "出生日期", "户籍地址", "联系电话"),
    "minzheng": ("编号", "姓名", "身份证号", "性别", "出生年月日", "现住址", "手机"),
    "weijian": ("编号", "患者姓名", "证件号码", "性别", "出生日期", "居住地址", "联系方式"),
}

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔"
    "钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND = ("欧阳", "司马", "诸葛", "上官")
# Groups of given-name characters read alike (同音字); the generator keeps only those pypinyin reads the same.
HOMOPHONES = [
    "伟玮炜苇",
    "静婧靖敬",
    "丽莉俐",
    "军君钧均",
    "华桦骅",
    "明铭鸣",
    "强蔷",
    "平萍苹坪",
    "芳方舫",
    "敏闵珉",
    "杰洁婕捷",
    "涛韬滔",
    "辉晖徽",
    "磊垒",
    "洋阳扬杨",
    "艳燕雁彦",
    "勇涌永咏",
    "霞侠",
    "峰锋丰枫",
    "秀绣",
    "英瑛鹰",
    "娟鹃",
    "红宏鸿虹洪",
    "斌彬宾",
    "建健剑",
    "玲铃灵凌",
    "桂贵",
    "云芸匀耘",
    "波博",
    "琳林霖临",
    "晶菁精京",
    "欣新馨心",
    "宇雨语羽",
    "浩昊皓",
    "刚钢纲",
    "凯楷铠",
    "婷庭亭廷",
    "倩茜",
    "超潮朝",
    "飞菲非妃",
    "慧惠蕙",
    "梅媚玫眉",
    "兰岚澜蓝",
    "荣蓉融容",
    "成诚承城",
    "文雯闻纹",
    "志智致芝",
    "玉钰毓",
    "金锦津晋",
    "颖影",
    "鹏朋彭",
    "龙隆珑",
    "晨辰臣尘",
    "佳嘉家加",
    "子紫梓姿",
    "思斯丝",
    "怡宜仪依",
    "萱轩宣",
    "涵寒含晗",
]
EXTRA_GIVEN = "秀兰桂英淑珍凤霞春梅海燕小红国庆卫东建国志强永刚德明立新少华丹萍爱民振兴"
REGIONS = {
    "330502": ("湖州市", "吴兴区"),
    "330503": ("湖州市", "南浔区"),
    "330521": ("湖州市", "德清县"),
    "330522": ("湖州市", "长兴县"),
    "330523": ("湖州市", "安吉县"),
    "330102": ("杭州市", "上城区"),
    "330105": ("杭州市", "拱墅区"),
    "330106": ("杭州市", "西湖区"),
    "330108": ("杭州市", "滨江区"),
    "330110": ("杭州市", "余杭区"),
}
PLACE = "金陵明珠雉城龙山太湖画溪和平华东新华人民解放建设朝阳幸福光明长兴吉安凤凰钱塘西湖滨江南湖东升青山白云红星胜利"
ROAD_SUFFIX = ("路", "路", "路", "街", "大道", "巷")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@dataclass
class Person:
    name: str
    gender: str  # 男 / 女
    birth: dt.date
    id_number: str
    phone: str | None
    address: tuple[str, ...]  # province, city, district, street, community, road, number, building, unit, room


def _groups() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for group in HOMOPHONES:
        by_sound: dict[str, list[str]] = defaultdict(list)
        for char in group:
            by_sound[lazy_pinyin(char)[0]].append(char)
        for chars in by_sound.values():
            if len(chars) > 1:
                for char in chars:
                    out[char] = [c for c in chars if c != char]
    return out


class Generator:
    def __init__(self, n_persons: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.homophones = _groups()
        given = sorted({c for g in HOMOPHONES for c in g} | set(EXTRA_GIVEN))
        self.given = given
        weights = [1 / (rank + 1) ** 0.9 for rank in range(len(SURNAMES))]
        self.surnames = list(SURNAMES) + list(COMPOUND)
        self.surname_weights = weights + [0.01] * len(COMPOUND)
        rng = self.rng
        n_roads = max(50, n_persons // 40)
        self.streets = {code: [self._place() + "街道" for _ in range(6)] for code in REGIONS}
        self.roads = [self._place() + rng.choice(ROAD_SUFFIX) for _ in range(n_roads)]
        self.communities = [self._place() + "社区" for _ in range(max(20, n_roads // 4))]
        self.homes: list[tuple[str, ...]] = []
        self.ids: set[str] = set()
        self.n_homes = max(20, int(n_persons / 2.6))

    def _place(self) -> str:
        return self.rng.choice(PLACE) + self.rng.choice(PLACE)

    def home(self) -> tuple[str, ...]:
        rng = self.rng
        if len(self.homes) < self.n_homes and (not self.homes or rng.random() < 0.55):
            code = rng.choice(list(REGIONS))
            city, district = REGIONS[code]
            floor = rng.randint(1, 18)
            self.homes.append(
                (
                    "浙江省",
                    city,
                    district,
                    rng.choice(self.streets[code]),
                    rng.choice(self.communities),
                    rng.choice(self.roads),
                    str(rng.randint(1, 300)),
                    str(rng.randint(1, 30)),
                    str(rng.randint(1, 6)),
                    f"{floor}{rng.randint(1, 4):02d}",
                    code,
                )
            )
            return self.homes[-1]
        return rng.choice(self.homes)

    def person(self) -> Person:
        rng = self.rng
        home = self.home()
        surname = rng.choices(self.surnames, self.surname_weights)[0]
        given = "".join(rng.choice(self.given) for _ in range(1 if rng.random() < 0.3 else 2))
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(71 * 365))
        gender = rng.choice("男女")
        while True:  # ID numbers are unique
            seq = rng.randrange(100) * 10 + rng.choice((1, 3, 5, 7, 9) if gender == "男" else (0, 2, 4, 6, 8))
            first17 = f"{home[10]}{birth:%Y%m%d}{seq:03d}"
            if first17 not in self.ids:
                self.ids.add(first17)
                break
        phone = None if rng.random() < 0.05 else rng.choice(("13", "15", "18", "17")) + f"{rng.randrange(10**9):09d}"
        return Person(surname + given, gender, birth, first17 + id_check_digit(first17), phone, home[:10])

    # -- noise -------------------------------------------------------------------------------------------
    def noisy(self, p: Person) -> Person:
        rng = self.rng
        name, birth, phone, idn, address = p.name, p.birth, p.phone, p.id_number, p.address
        if rng.random() < 0.15:
            positions = [i for i in range(1, len(name)) if name[i] in self.homophones]
            if positions:
                i = rng.choice(positions)
                name = name[:i] + rng.choice(self.homophones[name[i]]) + name[i + 1 :]
        r = rng.random()
        if phone and r < 0.08:
            i = rng.randrange(3, 10)
            phone = phone[:i] + phone[i + 1] + phone[i] + phone[i + 2 :]
        elif r < 0.16:
            phone = rng.choice(("13", "15", "18")) + f"{rng.randrange(10**9):09d}"
        elif r < 0.26:
            phone = None
        if rng.random() < 0.05:
            if rng.random() < 0.5:
                birth = _safe_date(birth.year, rng.randint(1, 12), birth.day) or birth
            else:
                birth = _safe_date(birth.year, birth.month, rng.randint(1, 28)) or birth
        if rng.random() < 0.03:
            i = rng.randrange(14, 17)
            idn = idn[:i] + str((int(idn[i]) + rng.randint(1, 9)) % 10) + idn[i + 1 :]
        if rng.random() < 0.05:
            address = self.home()[:10]
        return Person(name, p.gender, birth, idn, phone, address)

    def address_text(self, parts: tuple[str, ...], variant: bool) -> str:
        province, city, district, street, community, road, number, building, unit, room = parts
        if not variant:
            return f"{province}{city}{district}{street}{community}{road}{number}号{building}栋{unit}单元{room}室"
        rng = self.rng
        style = rng.randrange(4)
        if style == 0:
            return f"{city}{district}{road}{number}号{building}幢{unit}单元{room}室"
        if style == 1:
            return f"{district}{road}{number}号{building}-{unit}-{room}"
        if style == 2:
            text = f"{province}{city}{district}{road}{number}号{building}号楼{unit}单元{room}"
            return text.translate(FULLWIDTH)
        return f"{district}{street}{community}{road}{number}号{building}栋{unit}单元{room}室"


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _row(gen: Generator, source: str, row_id: str, p: Person, variant: bool) -> dict[str, Any]:
    address = gen.address_text(p.address, variant)
    if source == "gongan":
        values = (row_id, p.name, p.id_number, p.gender, p.birth.isoformat(), address, p.phone or "")
    elif source == "minzheng":
        birth = f"{p.birth.year}年{p.birth.month}月{p.birth.day}日"
        values = (row_id, p.name, p.id_number, p.gender, birth, address, p.phone or "")
    else:
        idn = "" if gen.rng.random() < 0.4 else p.id_number
        values = (row_id, p.name, idn, "1" if p.gender == "男" else "2", f"{p.birth:%Y%m%d}", address, p.phone or "")
    return dict(zip(COLUMNS[source], values, strict=True))


def generate(
    n: int, seed: int = 2016, dup_rate: float = 0.10
) -> tuple[dict[str, list[dict[str, Any]]], list[tuple[str, str]]]:
    """About ``n`` source rows over the three sources (``dup_rate`` of them second copies of a person already in
    another source) and the truth: the pairs of row ids (``source:number``) that are the same person."""
    n_persons = round(n / (1 + dup_rate))
    gen = Generator(n_persons, seed)
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in SOURCES}
    truth: list[tuple[str, str]] = []
    for _ in range(n_persons):
        person = gen.person()
        first = gen.rng.choice(SOURCES)
        first_id = f"{first}:{len(rows[first]) + 1}"
        rows[first].append(_row(gen, first, first_id, person, variant=gen.rng.random() < 0.3))
        if gen.rng.random() < dup_rate:
            second = gen.rng.choice([s for s in SOURCES if s != first])
            second_id = f"{second}:{len(rows[second]) + 1}"
            copy = gen.noisy(person)
            rows[second].append(_row(gen, second, second_id, copy, variant=gen.rng.random() < 0.5))
            truth.append((min(first_id, second_id), max(first_id, second_id)))
    return rows, truth


def standard(source: str, row: dict[str, Any]) -> dict[str, Any]:
    """The standard person values of one source row (what the source's mapping template produces)."""
    name_col, id_col, birth_col, address_col, phone_col = {
        "gongan": ("姓名", "公民身份号码", "出生日期", "户籍地址", "联系电话"),
        "minzheng": ("姓名", "身份证号", "出生年月日", "现住址", "手机"),
        "weijian": ("患者姓名", "证件号码", "出生日期", "居住地址", "联系方式"),
    }[source]
    gender = row["性别"]
    return {
        "id": row["编号"],
        "name": row[name_col],
        "id_number": row[id_col] or None,
        "gender": {"1": "男", "2": "女"}.get(gender, gender),
        "birth_date": row[birth_col],
        "address": row[address_col],
        "phone": row[phone_col] or None,
    }


def standard_records(rows: dict[str, list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    for source in SOURCES:
        for row in rows[source]:
            yield standard(source, row)


def write(rows: dict[str, list[dict[str, Any]]], truth: list[tuple[str, str]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for source in SOURCES:
        with (out / f"{source}.csv").open("w", encoding=ENCODINGS[source], newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS[source])
            writer.writeheader()
            writer.writerows(rows[source])
    with (out / "truth.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("left", "right"))
        writer.writerows(truth)


def main() -> None:
    parser = argparse.ArgumentParser(description="Synthetic multi-source persons with truth")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2016)
    parser.add_argument("--out", type=Path, default=Path("/tmp/hub_synth"))
    args = parser.parse_args()
    rows, truth = generate(args.n, args.seed)
    write(rows, truth, args.out)
    counts = ", ".join(f"{s} {len(rows[s]):,} ({ENCODINGS[s]})" for s in SOURCES)
    print(f"wrote {counts} and {len(truth):,} true pairs to {args.out}")


if __name__ == "__main__":
    main()
