"""Seed a synthetic but realistic demo district (长兴县, Huzhou, Zhejiang) into an empty, migrated database.

The region tree above the community level uses the real national-statistics codes and names
(:file:`zhili/fixtures/divisions_330522.csv`); communities, grids, boundaries, buildings, households, persons
and organisations are generated — deterministically for a given ``seed``, apart from row ids, ciphertext
nonces and the demo users' passwords.

Personal data follow the platform's rules: ID and phone numbers are stored only encrypted, bound to their row
(``cipher.encrypt(value, table=…, column=…, row_id=…)``), with keyed blind indexes for exact-match search.

Speed (1,000,000 persons in about two to three minutes on two cores, SQLite):

* Rows are written with SQLAlchemy Core ``insert(table)`` executemany batches of ~5,000. On SQLite the
  per-row parameter processing of SQLAlchemy dominates, so batches are converted column-wise with the very
  same type bind processors and executed as the compiled ``insert(table)`` statement through one DB-API
  ``executemany``.
* The registers (buildings … persons, organisations) are generated in :data:`SHARDS` deterministic shards
  (communities are dealt round-robin to shards; each shard has its own random stream and a disjoint slice of
  the ID-number / credit-code / compound-name spaces, so uniqueness needs no coordination). For large seeds
  the shards run in forked worker processes (which send pickled, already-encoded batches) while the main
  process inserts; results are the same either way.
* Everything happens in ONE transaction: a failed seed leaves the database as it was, and a database that
  already has units is refused (:class:`SeedRefused`).
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import gc
import math
import multiprocessing
import os
import pickle
import queue as queue_mod
import random
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast

import numpy as np
import shapely
from shapely import Polygon
from sqlalchemy import JSON, Connection, Engine, LargeBinary, Table, create_engine, func, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from zhili.core import audit, clock
from zhili.core.crypto import FieldCipher, get_cipher
from zhili.core.db import utcnow
from zhili.core.errors import Conflict
from zhili.core.ids import new_id
from zhili.core.security import Role, generate_password, hash_password
from zhili.core.validators import id_check_digit, uscc_check_char
from zhili.regions.models import OPEN_END, GeoVersion, Unit, UnitBoundary
from zhili.registry.models import Building, Entrance, Household, Organisation, Person
from zhili.seed.geometry import approx_area_km2, district_outline, partition
from zhili.users.models import User, UserUnit

__all__ = ["SCALES", "SHARDS", "DemoUser", "ScaleSpec", "SeedRefused", "SeedReport", "seed_demo"]

Scale = Literal["small", "medium", "large"]
ProgressFn = Callable[[str, int, int], None]

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "divisions_330522.csv"
DISTRICT_CODE = "330522"
DISTRICT_CENTER = (119.91, 31.01)
DISTRICT_AREA_KM2 = 1430.0
VALID_FROM = dt.date(2020, 1, 1)
BATCH = 5000
# Number of deterministic generation shards (fixed, so the output does not depend on the CPU count).
SHARDS = 2
# Below this many persons the shards run in-process (starting worker processes costs more than it saves).
PARALLEL_MIN_PERSONS = 50_000

# Approximate centres for the levels that get no generated boundary.
_PROVINCE_CENTER = (120.15, 29.27)
_CITY_CENTER = (120.09, 30.89)


@dataclass(frozen=True)
class ScaleSpec:
    """How big a demo district is."""

    streets: int
    communities: int
    grids: int
    persons: int


SCALES: dict[str, ScaleSpec] = {
    "small": ScaleSpec(streets=1, communities=5, grids=30, persons=5_000),
    "medium": ScaleSpec(streets=4, communities=40, grids=300, persons=100_000),
    "large": ScaleSpec(streets=10, communities=120, grids=1_500, persons=1_000_000),
}


class SeedRefused(Conflict):
    """The database is not empty."""

    code = "seed_refused"
    default_message = "数据库中已有区划数据，拒绝重复生成演示数据（请使用新的空数据库）"


class DemoUser(NamedTuple):
    """A demo login; the password exists only in this report (the database keeps the argon2id hash)."""

    username: str
    role: str
    password: str
    display_name: str
    unit_name: str | None


@dataclass
class SeedReport:
    """What :func:`seed_demo` wrote: rows per table (and units per level as ``unit.<level>``), timings, logins."""

    scale: str
    seed: int
    counts: dict[str, int]
    elapsed_s: float
    users: list[DemoUser]
    stage_seconds: dict[str, float] = field(default_factory=dict)
    workers: int = 0


# ------------------------------------------------------------------------------------------------------------
# Name and code pools
# ------------------------------------------------------------------------------------------------------------

# Common surnames with approximate relative frequencies (national ranking, Zhejiang/Huzhou names boosted).
_SURNAMES: list[tuple[str, float]] = [
    ("王", 7.1), ("李", 7.0), ("张", 6.6), ("刘", 5.4), ("陈", 5.5), ("杨", 3.1), ("黄", 2.2), ("赵", 2.0),
    ("吴", 2.6), ("周", 2.1), ("徐", 2.3), ("孙", 1.4), ("马", 1.3), ("朱", 1.8), ("胡", 1.5), ("郭", 1.1),
    ("何", 1.1), ("林", 1.2), ("高", 1.0), ("罗", 0.9), ("郑", 0.9), ("梁", 0.8), ("谢", 0.7), ("宋", 0.6),
    ("唐", 0.6), ("许", 0.6), ("韩", 0.5), ("冯", 0.5), ("邓", 0.5), ("曹", 0.5), ("彭", 0.5), ("曾", 0.4),
    ("肖", 0.4), ("田", 0.4), ("董", 0.4), ("潘", 0.5), ("袁", 0.4), ("蔡", 0.4), ("蒋", 0.5), ("余", 0.4),
    ("于", 0.3), ("杜", 0.3), ("叶", 0.5), ("程", 0.3), ("魏", 0.3), ("苏", 0.3), ("吕", 0.3), ("丁", 0.3),
    ("任", 0.3), ("卢", 0.3), ("姚", 0.5), ("沈", 1.2), ("钟", 0.3), ("姜", 0.3), ("崔", 0.2), ("谭", 0.2),
    ("陆", 0.6), ("范", 0.3), ("汪", 0.3), ("廖", 0.2), ("石", 0.2), ("金", 0.4), ("韦", 0.2), ("贾", 0.2),
    ("夏", 0.2), ("付", 0.2), ("方", 0.3), ("邹", 0.2), ("熊", 0.2), ("白", 0.2), ("孟", 0.2), ("秦", 0.2),
    ("邱", 0.2), ("侯", 0.2), ("江", 0.2), ("尹", 0.1), ("薛", 0.1), ("闫", 0.1), ("段", 0.1), ("雷", 0.1),
    ("龙", 0.1), ("史", 0.1), ("陶", 0.2), ("贺", 0.1), ("毛", 0.2), ("郝", 0.1), ("顾", 0.3), ("龚", 0.1),
    ("邵", 0.2), ("万", 0.1), ("钱", 0.5), ("戴", 0.1), ("严", 0.2), ("莫", 0.1), ("孔", 0.1), ("汤", 0.1),
    ("俞", 0.3), ("费", 0.1), ("施", 0.2), ("诸葛", 0.01), ("欧阳", 0.02), ("司马", 0.005),
]
_MALE_1 = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆旭宁龙林阳峰亮东晨博毅锋坤"
_FEMALE_1 = "芳娜敏静丽艳娟霞秀玲燕婷雪琳颖倩洁慧萍红梅兰丹蕾晶佳欣怡悦瑶涵琪雯璐婉"
# Two-character given names: (first characters, second characters) for people born before / from 1980.
_MALE_OLD = ("建国志永德国文明海金根水林福荣宝祥春学家兴庆", "国华明林平军强生荣良忠根法兴祥发民福才宝")
_MALE_NEW = ("子浩宇俊梓一思家博文嘉宇晨天泽铭皓睿辰明", "轩宇豪杰然涵泽辰睿铭阳博航霖瑞凯逸哲成翔")
_FEMALE_OLD = ("秀桂玉美丽凤金月春素雪彩红爱小海建", "英兰珍芳华梅琴娟凤仙妹花珠云芬霞萍")
_FEMALE_NEW = ("子梓欣雨思诗佳一语可若紫嘉晓心雅静", "涵萱怡琪悦彤妍婷瑶琳菲雯晴蕾萌然汐")

# Place-name words for communities, compounds and organisations.
_PLACE_FIRST = "金银画长龙太忻明团新吴石青杨沈徐钱方大白碧东西南北上下鼎五三仙桃梅竹松荷溪湖山丰和兴安宁泉"
_PLACE_SECOND = "陵溪中山湖珠桥塘湾港浜岭坞墩庄园埠渚圩坝岕口门亭林川洲河源岗峰阳城"
_CURATED_COMMUNITIES = ["金陵", "画溪", "长中", "城东", "城南", "龙山", "太湖", "忻湖", "明珠", "团结", "解放",
                        "人民", "中山", "东门", "西门", "南门", "北门", "星河", "吴山", "五峰"]
_ROADS = ["金陵路", "明珠路", "长兴大道", "人民路", "解放路", "中央大道", "忻湖路", "县前街", "画溪大道", "太湖路",
          "龙山路", "五峰路", "齐山路", "长城路", "环城路", "雉州大道", "经一路", "经二路", "长海路", "青年路",
          "新华路", "花园路", "广场路", "银湖路", "体育路", "文化路", "龙山大道", "滨湖路", "金山路", "岕里路"]
_COMPOUND_SUFFIX = ["小区", "花园", "新村", "家园", "苑", "公寓", "名邸", "华庭", "府", "雅苑", "嘉园", "新城"]
_HAMLET_SUFFIX = "浜湾埭桥坞弄墩圩塘岕头兜"
_ZIHAO = "宏鑫恒泰华达盛源诚信德隆兴旺嘉瑞祥安利通顺丰益美佳新永金银天明锦正海宇博欣汇众和中远卓越创荣昌凯科捷"

_ENTERPRISE_KINDS = [
    ("贸易", "批发和零售业"), ("纺织", "制造业"), ("机械制造", "制造业"), ("电子科技", "制造业"),
    ("新能源科技", "制造业"), ("蓄电池", "制造业"), ("建材", "制造业"), ("物流", "交通运输、仓储和邮政业"),
    ("建筑工程", "建筑业"), ("食品", "制造业"), ("服饰", "制造业"), ("家具", "制造业"),
    ("环保科技", "科学研究和技术服务业"), ("信息技术", "信息传输、软件和信息技术服务业"),
    ("房地产开发", "房地产业"), ("物业管理", "房地产业"), ("餐饮管理", "住宿和餐饮业"),
    ("农业开发", "农、林、牧、渔业"), ("茶业", "农、林、牧、渔业"), ("粉体材料", "制造业"),
    ("耐火材料", "制造业"), ("汽车服务", "租赁和商务服务业"), ("文化传媒", "文化、体育和娱乐业"),
    ("劳务服务", "租赁和商务服务业"),
]
_SHOP_KINDS = [
    ("便利店", "批发和零售业"), ("小吃店", "住宿和餐饮业"), ("面馆", "住宿和餐饮业"),
    ("理发店", "居民服务、修理和其他服务业"), ("水果店", "批发和零售业"), ("五金店", "批发和零售业"),
    ("汽车修理部", "居民服务、修理和其他服务业"), ("烟酒店", "批发和零售业"), ("超市", "批发和零售业"),
    ("服装店", "批发和零售业"), ("快递服务站", "交通运输、仓储和邮政业"), ("家电维修部", "居民服务、修理和其他服务业"),
    ("茶叶店", "批发和零售业"), ("早餐店", "住宿和餐饮业"), ("棋牌室", "文化、体育和娱乐业"),
    ("农家乐", "住宿和餐饮业"), ("粮油店", "批发和零售业"), ("洗衣店", "居民服务、修理和其他服务业"),
]
_SOCIAL_KINDS = ["志愿者协会", "居家养老服务中心", "老年人协会", "文体协会", "社会工作服务站", "乡贤参事会"]
_SCHOOL_KINDS = ["幼儿园", "小学", "中学"]
_CLINICS = ["诊所", "氏诊所", "中医诊所", "口腔诊所"]

# Real county-level codes (GB/T 2260) of the main sources of Changxing's floating population.
_FLOATING_PREFIXES = [
    "341882", "341882", "341221", "341222", "341623", "341621", "340826", "340828", "341522", "341524",
    "340124", "340321", "341323", "341324", "411525", "411524", "411522", "411528", "411625", "511321",
    "511381", "511421", "511722", "511725", "510723", "520526", "530627", "530326", "361128", "361127",
    "421126", "430582", "320324", "321322", "330326", "330327", "330824", "331023", "331123",
]
# 港澳居民居住证 numbers (GB 11643 layout and check digit, region 810000 / 820000).
_FOREIGN_PREFIXES = ["810000", "810000", "810000", "820000"]
_PHONE_PREFIXES = [str(p) for p in [*range(130, 140), 145, 147, *range(150, 154), *range(155, 160), 166, 170,
                                    171, 173, 175, 176, 177, 178, *range(180, 190), 191, 193, 195, 198, 199]]
# Ethnic minorities (share of persons, then relative weights): 畲族 is Zhejiang's largest; migrants bring others.
_MINORITY_SHARE_REGISTERED, _MINORITIES_REGISTERED = 0.008, (["畲族", "回族", "满族", "苗族"], [35, 15, 15, 15])
_MINORITY_SHARE_FLOATING, _MINORITIES_FLOATING = 0.045, (["土家族", "苗族", "彝族", "壮族", "布依族", "回族", "侗族"],
                                                         [10, 10, 8, 5, 4, 4, 4])

# Household sizes (persons) and their shares by resident type.
_SIZES = [1, 2, 3, 4, 5, 6]
_SIZE_W_REGISTERED = [0.17, 0.30, 0.27, 0.15, 0.08, 0.03]
_SIZE_W_FLOATING = [0.30, 0.30, 0.25, 0.12, 0.03, 0.0]
# Shares of households by resident type, tuned so persons come out ≈ 75 % / 23 % / 2 %.
_HH_TYPES = ["registered", "floating", "foreign"]
_HH_TYPE_W = [0.715, 0.262, 0.023]
_GB11714_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


_TABLES: dict[str, Table] = {
    m.__tablename__: cast(Table, m.__table__)
    for m in (Unit, UnitBoundary, Building, Entrance, Household, Person, Organisation, User, UserUnit)
}
# Parents before children (foreign keys are enforced).
_INSERT_ORDER = list(_TABLES)
_HH_TYPE_CW = [float(x) for x in np.cumsum(_HH_TYPE_W)]
_SIZE_CW_REG = [float(x) for x in np.cumsum(_SIZE_W_REGISTERED)]
_SIZE_CW_FLO = [float(x) for x in np.cumsum(_SIZE_W_FLOATING)]
# Other Zhejiang counties for the few registered residents whose ID was issued elsewhere.
_ZJ_PREFIXES = ["330502", "330503", "330521", "330523", "330106", "330681", "330482", "330781"]
# "小区" is reserved for compounds named after their community (unique, since community names are).
_GENERATED_COMPOUND_SUFFIX = [s for s in _COMPOUND_SUFFIX if s != "小区"]
_HEAD_AGES = {"three_gen_down": (50, 72), "couple": (22, 85), "with_parent": (22, 55)}


def _load_divisions() -> list[dict[str, str]]:
    with FIXTURE.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _split(total: int, weights: list[float], rng: random.Random, minimum: int = 1) -> list[int]:
    """Split ``total`` into ``len(weights)`` integers ≥ minimum, proportional to the weights (exact sum)."""
    n = len(weights)
    if total < n * minimum:
        raise ValueError("total too small to split")
    spare = total - n * minimum
    wsum = sum(weights)
    raw = [spare * w / wsum for w in weights]
    out = [minimum + int(r) for r in raw]
    rest = total - sum(out)
    order = sorted(range(n), key=lambda i: (raw[i] - int(raw[i]), rng.random()), reverse=True)
    for i in order[:rest]:
        out[i] += 1
    return out


def _short(name: str) -> str:
    for suffix in ("街道", "镇", "乡"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


# ------------------------------------------------------------------------------------------------------------
# Batch encoding and writing
# ------------------------------------------------------------------------------------------------------------

# One encoded batch: ("sql", compiled INSERT, tuples) on SQLite, ("core", table name, dicts) elsewhere.
Encoded = tuple[str, str, list[Any]]


class _Encoder:
    """Turns a batch of row dicts into what :func:`_write` executes (see the module docstring)."""

    def __init__(self, dialect: Dialect | None) -> None:
        self.dialect = dialect if dialect is not None and dialect.name == "sqlite" else None
        self.plans: dict[tuple[str, tuple[str, ...]], tuple[str, list[Any], list[bool]]] = {}

    def _plan(self, table: Table, keys: tuple[str, ...]) -> tuple[str, list[Any], list[bool]]:
        plan = self.plans.get((table.name, keys))
        if plan is None:
            assert self.dialect is not None
            procs, is_json = [], []
            for k in keys:
                col = table.c[k]
                typ = col.type
                if isinstance(typ, NullType) and col.foreign_keys:  # FK column typed from its target
                    typ = next(iter(col.foreign_keys)).column.type
                # sqlite3 takes bytes as they are (the processor would wrap them in an unpicklable memoryview).
                procs.append(None if isinstance(typ, LargeBinary) else typ._cached_bind_processor(self.dialect))
                is_json.append(isinstance(typ, JSON))
            sql = str(insert(table).compile(dialect=self.dialect, column_keys=list(keys)))
            plan = self.plans[(table.name, keys)] = (sql, procs, is_json)
        return plan

    def encode(self, table_name: str, rows: list[dict[str, Any]], now: dt.datetime) -> Encoded:
        if self.dialect is None:
            return ("core", table_name, list(rows))
        table = _TABLES[table_name]
        keys = tuple(rows[0])
        sql, procs, is_json = self._plan(table, keys)
        n = len(rows)
        columns = []
        for k, proc, js in zip(keys, procs, is_json, strict=True):
            values = list(map(itemgetter(k), rows))
            if proc is not None:
                first = values[0]
                if first is now and values.count(now) == n:  # created_at/updated_at: one constant
                    values = [proc(now)] * n
                elif js:  # JSON: empty lists are the common case; None stays SQL NULL
                    empty = proc([])
                    values = [None if v is None else proc(v) if v else empty for v in values]
                else:
                    values = list(map(proc, values))
            columns.append(values)
        return ("sql", sql, list(zip(*columns, strict=True)))


def _write(conn: Connection, item: Encoded) -> int:
    kind, target, rows = item
    if kind == "sql":
        conn.exec_driver_sql(target, rows)
    else:
        conn.execute(insert(_TABLES[target]), rows)
    return len(rows)


class _Buffers:
    """Row buffers per table, flushed parents-first as encoded batches."""

    def __init__(self, encoder: _Encoder, now: dt.datetime) -> None:
        self.encoder = encoder
        self.now = now
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in _INSERT_ORDER}

    def full(self) -> bool:
        return any(len(b) >= BATCH for b in self.rows.values())

    def drain(self) -> list[tuple[str, Encoded]]:
        out = []
        for name in _INSERT_ORDER:
            rows = self.rows[name]
            if rows:
                out.append((name, self.encoder.encode(name, rows, self.now)))
                self.rows[name] = []
        return out


# ------------------------------------------------------------------------------------------------------------
# Register generation (one shard)
# ------------------------------------------------------------------------------------------------------------


@dataclass
class _GridTask:
    """What a shard needs to know about one grid."""

    id: uuid.UUID
    code: str
    name: str
    path: str
    poly: Polygon
    street: str
    community: str
    rural: bool  # a 村 (village) rather than a 社区
    persons: int


EmitFn = Callable[[list[tuple[str, Encoded]], int], None]


class _ShardGenerator:
    """Generates buildings, entrances, households, persons and organisations for the grids of one shard."""

    def __init__(self, shard: int, seed: int, cipher: FieldCipher, now: dt.datetime, today: dt.date,
                 encoder: _Encoder, emit: EmitFn) -> None:
        self.shard = shard
        self.rng = random.Random(f"zhili-demo:{seed}:{shard}")
        self.np = np.random.default_rng([seed, shard])
        self.cipher = cipher
        self.now = now
        self.today_ord = today.toordinal()
        self.buffers = _Buffers(encoder, now)
        self.emit = emit
        self.pending_persons = 0
        self.id_numbers: set[str] = set()
        self.credit_codes: set[str] = set()
        self.names_used: set[str] = set()
        # Disjoint slices of the sequence spaces per shard keep ID numbers and credit codes globally unique.
        self.seq_slots = [n for n in range(499) if n % SHARDS == shard]
        self.uscc_first = _USCC_CHARS[shard::SHARDS]
        self.digit_first = "0123456789"[shard::SHARDS]
        self.compound_suffix = _GENERATED_COMPOUND_SUFFIX[shard::SHARDS]  # compound names unique across shards
        self.surnames = [s for s, _ in _SURNAMES]
        self.surname_cw = [float(x) for x in np.cumsum([w for _, w in _SURNAMES])]
        self.surname_total = self.surname_cw[-1]
        self.given = {
            ("male", False): self._given_pool(_MALE_1, _MALE_OLD),
            ("male", True): self._given_pool(_MALE_1, _MALE_NEW),
            ("female", False): self._given_pool(_FEMALE_1, _FEMALE_OLD),
            ("female", True): self._given_pool(_FEMALE_1, _FEMALE_NEW),
        }
        self.stats = {"persons": 0}

    # -- pools ------------------------------------------------------------------------------------------
    @staticmethod
    def _given_pool(singles: str, pairs: tuple[str, str]) -> list[str]:
        two = [a + b for a in pairs[0] for b in pairs[1] if a != b]
        # About a quarter of given names are one character.
        return two + list(singles) * max(1, len(two) // (3 * len(singles)))

    def random_surname(self) -> str:
        return self.surnames[bisect.bisect(self.surname_cw, self.rng.random() * self.surname_total)]

    def person_name(self, gender: str, born_year: int, surname: str | None = None) -> str:
        pool = self.given[(gender, born_year >= 1980)]
        return (surname or self.random_surname()) + pool[int(self.rng.random() * len(pool))]

    def phone(self) -> str:
        r = self.rng.random
        return _PHONE_PREFIXES[int(r() * len(_PHONE_PREFIXES))] + f"{int(r() * 1e8):08d}"

    def id_number(self, region: str, birth: dt.date, male: bool) -> tuple[str, dt.date]:
        """A unique, valid ID number for ``region``/``birth``/gender (birth moves a day on the rare full day)."""
        slots, r = self.seq_slots, self.rng.random
        for _attempt in range(400):
            base = f"{region}{birth.year:04d}{birth.month:02d}{birth.day:02d}"
            for _ in range(8):
                n = slots[int(r() * len(slots))]
                first17 = f"{base}{(2 * n + 1) if male else (2 * n + 2):03d}"
                if first17 not in self.id_numbers:
                    self.id_numbers.add(first17)
                    return first17 + id_check_digit(first17), birth
            birth = birth - dt.timedelta(days=1)
        raise RuntimeError("ID number space exhausted")

    def credit_code(self, prefix2: str, new_style: bool) -> str:
        """A unique, valid 统一社会信用代码 (GB 32100) registered in the district; body per GB 11714."""
        rng = self.rng
        while True:
            if new_style:  # post-2015 enterprise codes: "MA" + 6 characters
                body = "MA" + rng.choice(self.uscc_first) + "".join(rng.choice(_USCC_CHARS) for _ in range(5))
            else:
                body = rng.choice(self.digit_first) + f"{rng.randrange(10**7):07d}"
            total = sum(int(c, 36) * w for c, w in zip(body, _GB11714_WEIGHTS, strict=True))
            c9 = 11 - total % 11
            first17 = prefix2 + DISTRICT_CODE + body + ("X" if c9 == 10 else "0" if c9 == 11 else str(c9))
            if first17 not in self.credit_codes:
                self.credit_codes.add(first17)
                return first17 + uscc_check_char(first17)

    def place_word(self) -> str:
        return self.rng.choice(_PLACE_FIRST) + self.rng.choice(_PLACE_SECOND)

    # -- geometry ----------------------------------------------------------------------------------------
    def points_in(self, poly: Polygon, n: int) -> np.ndarray:
        """``n`` uniformly random points inside ``poly`` (vectorised rejection sampling on its bbox)."""
        minx, miny, maxx, maxy = poly.bounds
        ratio = max(poly.area / max((maxx - minx) * (maxy - miny), 1e-18), 0.05)
        out: list[np.ndarray] = []
        have = 0
        while have < n:
            m = int((n - have) / ratio * 1.3) + 16
            xs = self.np.uniform(minx, maxx, m)
            ys = self.np.uniform(miny, maxy, m)
            ok = shapely.contains_xy(poly, xs, ys)
            out.append(np.column_stack([xs[ok], ys[ok]]))
            have += int(ok.sum())
        return np.concatenate(out)[:n] if out else np.empty((0, 2))

    def clustered_points(self, poly: Polygon, cluster_of: list[int], n_clusters: int, sigma_m: float) -> np.ndarray:
        """Points grouped around ``n_clusters`` random centres inside ``poly`` (stray ones resampled inside)."""
        centres = self.points_in(poly, n_clusters)
        idx = np.asarray(cluster_of, dtype=np.int64)
        lat0 = math.radians(float(centres[0, 1]))
        sig = np.array([sigma_m / (111_320.0 * math.cos(lat0)), sigma_m / 110_574.0])
        pts = centres[idx] + self.np.normal(0.0, 1.0, (len(idx), 2)) * sig
        bad = ~shapely.contains_xy(poly, pts[:, 0], pts[:, 1])
        if bad.any():
            pts[bad] = self.points_in(poly, int(bad.sum()))
        return pts

    # -- driver ------------------------------------------------------------------------------------------
    def run(self, tasks: list[_GridTask]) -> dict[str, int]:
        for g in tasks:
            shapely.prepare(g.poly)
            self.seed_grid(g)
            self.pending_persons += g.persons
            if self.buffers.full():
                self.flush()
        self.flush()
        return self.stats

    def flush(self) -> None:
        items = self.buffers.drain()
        if items or self.pending_persons:
            self.emit(items, self.pending_persons)
            self.pending_persons = 0

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.buffers.rows[table].append(row)

    def seed_grid(self, g: _GridTask) -> None:
        rng = self.rng
        r = rng.random
        # Plan households (resident type, size) until the grid's population is reached.
        plans: list[tuple[str, int]] = []
        left = g.persons
        while left > 0:
            rtype = _HH_TYPES[bisect.bisect(_HH_TYPE_CW, r() * _HH_TYPE_CW[-1])]
            cw = _SIZE_CW_REG if rtype == "registered" else _SIZE_CW_FLO
            size = min(left, _SIZES[bisect.bisect(cw, r() * cw[-1])])
            plans.append((rtype, size))
            left -= size
        n_vacant = round(len(plans) * rng.uniform(0.03, 0.08))
        n_slots = len(plans) + n_vacant
        self.building_no = 0
        if g.rural:
            slots, buildings = self.rural_dwellings(g, n_slots)
        else:
            slots, buildings = self.urban_dwellings(g, n_slots)
        vacant = set(rng.sample(range(n_slots), n_vacant))
        plan_iter = iter(plans)
        now = self.now
        for k, (building_id, entrance_id, room, address) in enumerate(slots):
            hid = new_id()
            plan = None
            if k in vacant:
                use = "vacant"
            else:
                plan = next(plan_iter)
                x = r()
                if plan[0] == "registered":
                    use = "owner_occupied" if x < 0.93 else "rented" if x < 0.97 else "business"
                else:
                    use = "rented" if x < 0.85 else "owner_occupied" if x < 0.97 else "business"
            area = round(rng.uniform(90.0, 260.0) if g.rural else max(35.0, rng.gauss(95.0, 25.0)), 1)
            self.add("household", {
                "id": hid, "building_id": building_id, "entrance_id": entrance_id, "grid_id": g.id,
                "path": g.path, "room": room, "address": address, "use": use, "area_m2": area,
                "note": None, "created_at": now, "updated_at": now, "version": 1,
            })
            if plan is not None:
                self.household_members(g, hid, plan[0], plan[1])
        self.seed_organisations(g, buildings)

    def building_code(self, g: _GridTask) -> str:
        self.building_no += 1
        return f"{g.code}{self.building_no:05d}"

    def urban_dwellings(self, g: _GridTask, n_slots: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Residential compounds (小区 → 幢 → 单元 → 室) with enough rooms; returns the rooms and buildings."""
        rng = self.rng
        compounds: list[tuple[str, str, list[tuple[int, int, int]]]] = []
        rooms = 0
        while rooms < n_slots:
            cname = ""
            if not compounds and g.community.endswith("社区"):
                cname = g.community[:-2] + "小区"
            if not cname or cname in self.names_used:
                cname = next(c for c in (self.place_word() + rng.choice(self.compound_suffix) for _ in iter(int, 1))
                             if c not in self.names_used)
            self.names_used.add(cname)
            road = f"{rng.choice(_ROADS)}{rng.randrange(1, 400)}号"
            blds: list[tuple[int, int, int]] = []
            for _ in range(rng.randint(4, 16)):
                x = rng.random()
                if x < 0.55:
                    spec = (6, rng.randint(2, 4), 2)
                elif x < 0.8:
                    spec = (rng.choice([11, 12]), rng.randint(1, 2), 2)
                else:
                    spec = (rng.choice([18, 26, 32]), rng.randint(1, 2), rng.choice([2, 4]))
                blds.append(spec)
                rooms += spec[0] * spec[1] * spec[2]
                if rooms >= n_slots:
                    break
            compounds.append((cname, road, blds))
        cluster_of = [ci for ci, (_, _, blds) in enumerate(compounds) for _ in blds]
        pts = self.clustered_points(g.poly, cluster_of, len(compounds), sigma_m=90.0).round(6).tolist()
        slots: list[tuple[Any, ...]] = []
        buildings: list[tuple[Any, ...]] = []
        prefix = f"长兴县{g.street}"
        now = self.now
        k = 0
        for cname, road, blds in compounds:
            for no, (floors, entrances, per_floor) in enumerate(blds, start=1):
                bid = new_id()
                lon, lat = pts[k]
                k += 1
                b_addr = f"{prefix}{road}{cname}{no}幢"
                self.add("building", {
                    "id": bid, "grid_id": g.id, "path": g.path, "code": self.building_code(g),
                    "compound": cname, "name": f"{no}幢", "address": b_addr, "building_type": "residential",
                    "floors": floors, "lon": lon, "lat": lat, "note": None,
                    "created_at": now, "updated_at": now, "version": 1,
                })
                buildings.append((bid, b_addr, lon, lat))
                for e in range(1, entrances + 1):
                    if len(slots) >= n_slots:
                        break
                    eid = new_id()
                    self.add("entrance", {
                        "id": eid, "building_id": bid, "path": g.path, "name": f"{e}单元",
                        "created_at": now, "updated_at": now, "version": 1,
                    })
                    for fl in range(1, floors + 1):
                        for rm in range(1, per_floor + 1):
                            room = f"{fl}{rm:02d}"
                            slots.append((bid, eid, room, f"{b_addr}{e}单元{room}室"))
                    del slots[n_slots:]
        return slots, buildings

    def rural_dwellings(self, g: _GridTask, n_slots: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Rural houses (农房) in hamlets (自然村), one household per house."""
        rng = self.rng
        hamlets: list[tuple[str, int]] = []
        left = n_slots
        while left > 0:
            n = min(left, rng.randint(15, 60))
            hamlets.append((self.hamlet_name(g), n))
            left -= n
        cluster_of = [hi for hi, (_, n) in enumerate(hamlets) for _ in range(n)]
        pts = self.clustered_points(g.poly, cluster_of, len(hamlets), sigma_m=160.0).round(6).tolist()
        slots: list[tuple[Any, ...]] = []
        buildings: list[tuple[Any, ...]] = []
        prefix = f"长兴县{g.street}{g.community}"
        now = self.now
        k = 0
        for hname, n in hamlets:
            for no in range(1, n + 1):
                bid = new_id()
                lon, lat = pts[k]
                k += 1
                addr = f"{prefix}{hname}{no}号"
                self.add("building", {
                    "id": bid, "grid_id": g.id, "path": g.path, "code": self.building_code(g),
                    "compound": hname, "name": f"{hname}{no}号", "address": addr, "building_type": "rural_house",
                    "floors": 2 if rng.random() < 0.45 else 3, "lon": lon, "lat": lat, "note": None,
                    "created_at": now, "updated_at": now, "version": 1,
                })
                buildings.append((bid, addr, lon, lat))
                slots.append((bid, None, "整栋", addr))
        return slots, buildings

    def hamlet_name(self, g: _GridTask) -> str:
        rng = self.rng
        while True:
            x = rng.random()
            if x < 0.5:
                name = self.random_surname()[0] + "家" + rng.choice(_HAMLET_SUFFIX)
            elif x < 0.8:
                name = rng.choice("上下前后东西南北大小新老") + rng.choice(_PLACE_FIRST) + rng.choice(_HAMLET_SUFFIX)
            else:
                name = self.place_word() + rng.choice(_HAMLET_SUFFIX)
            key = f"{g.community}|{name}"
            if key not in self.names_used:
                self.names_used.add(key)
                return name

    # -- people ------------------------------------------------------------------------------------------
    def household_members(self, g: _GridTask, hid: uuid.UUID, rtype: str, size: int) -> None:
        """One household's persons: head, spouse, children, parents … with consistent ages and surnames."""
        rng = self.rng
        r = rng.random
        ri = rng.randint
        members: list[tuple[str, str, int]] = []  # (relation, gender, age)
        head_male = r() < 0.72
        hg, sg = ("male", "female") if head_male else ("female", "male")
        if size == 1:
            age = ri(60, 94) if rtype == "registered" and r() < 0.45 else ri(19, 58)
            members.append(("head", hg, age))
        elif rtype != "registered" and size <= 4 and r() < 0.25:  # unrelated workers sharing a rented flat
            members.append(("head", hg, ri(19, 50)))
            for _ in range(size - 1):
                members.append(("tenant", "male" if r() < 0.6 else "female", ri(18, 50)))
        else:
            x = r()
            if size == 2:
                kind = "couple" if x < 0.7 else "single_parent" if x < 0.9 else "with_parent"
            elif size <= 4:
                kind = "nuclear" if x < 0.6 else "three_gen_up"
            else:
                kind = "three_gen_up" if x < 0.5 else "three_gen_down"
            head_age = ri(*_HEAD_AGES.get(kind, (26, 58)))
            members.append(("head", hg, head_age))
            if kind != "single_parent":
                members.append(("spouse", sg, max(20, head_age + (-2 if head_male else 2) + ri(-3, 3))))
            if kind == "with_parent":
                members.append(("parent", "male" if r() < 0.4 else "female", min(99, head_age + ri(24, 32))))
            elif kind == "three_gen_up":
                genders = ["male", "female"] if size >= 5 else ["male" if r() < 0.4 else "female"]
                for pg in genders:
                    members.append(("parent", pg, min(99, head_age + ri(24, 32))))
            elif kind == "three_gen_down":
                child_age = max(22, head_age - ri(24, 30))
                cg = "male" if r() < 0.5 else "female"
                members.append(("child", cg, child_age))
                members.append(("other", "female" if cg == "male" else "male", max(20, child_age + ri(-3, 3))))
                while len(members) < size:
                    members.append(("grandchild", "male" if r() < 0.51 else "female",
                                    max(0, child_age - ri(22, 32))))
            while len(members) < size:
                members.append(("child", "male" if r() < 0.51 else "female", max(0, head_age - ri(22, 34))))
        head_surname = self.random_surname()
        spouse_surname = self.random_surname()
        # Children mostly carry the father's surname: the head's if he is the man, else mostly the spouse's.
        child_surname = head_surname if head_male or r() < 0.15 else spouse_surname
        subsistence = rtype == "registered" and r() < 0.009
        alone = size == 1
        for relation, gender, age in members[:size]:
            surname: str | None = None
            if relation == "head" or (relation == "parent" and gender == "male"):
                surname = head_surname
            elif relation == "spouse":
                surname = spouse_surname
            elif relation in ("child", "grandchild"):
                surname = child_surname
            self.person(g, hid, rtype, relation, gender, age, surname, alone, subsistence)

    def person(self, g: _GridTask, hid: uuid.UUID, rtype: str, relation: str, gender: str, age: int,
               surname: str | None, alone: bool, subsistence: bool) -> None:
        r, cipher = self.rng.random, self.cipher
        pid = new_id()
        birth = dt.date.fromordinal(self.today_ord - age * 365 - age // 4 - 1 - int(r() * 364))
        if rtype == "registered":
            region = DISTRICT_CODE if r() < 0.93 else _ZJ_PREFIXES[int(r() * len(_ZJ_PREFIXES))]
        elif rtype == "floating":
            region = _FLOATING_PREFIXES[int(r() * len(_FLOATING_PREFIXES))]
        else:
            region = _FOREIGN_PREFIXES[int(r() * len(_FOREIGN_PREFIXES))]
        male = gender == "male"
        idn, birth = self.id_number(region, birth, male)
        name = self.person_name(gender, birth.year, surname)
        x = r()
        phone_enc: bytes | None = None
        phone_bidx: str | None = None
        if (age >= 14 and x < (0.96 if age < 80 else 0.55)) or (10 <= age < 14 and x < 0.3):
            ph = self.phone()
            phone_enc = cipher.encrypt(ph, table="person", column="phone", row_id=pid)
            phone_bidx = cipher.blind_index(ph, purpose="person.phone")
        if rtype == "foreign":
            ethnicity = None
        elif rtype == "registered":
            ethnicity = ("汉族" if r() >= _MINORITY_SHARE_REGISTERED
                         else self.rng.choices(*_MINORITIES_REGISTERED)[0])
        else:
            ethnicity = "汉族" if r() >= _MINORITY_SHARE_FLOATING else self.rng.choices(*_MINORITIES_FLOATING)[0]
        tags: list[str] = []
        if age >= 60 and alone:
            tags.append("elderly_alone")
        if age >= 80:
            tags.append("elderly_80")
        if r() < 0.012 + age * 0.0003:
            tags.append("disabled")
        if subsistence:
            tags.append("subsistence")
        if age < 16 and g.rural and rtype == "registered" and r() < 0.06:
            tags.append("left_behind_child")
        if male and 22 <= age <= 85 and r() < 0.035:
            tags.append("veteran")
        if r() < 0.001 + age * 0.00006:
            tags.append("serious_illness")
        if age >= 18 and r() < 0.004:
            tags.append("psychiatric")
        if 18 <= age <= 70 and r() < 0.0006:
            tags.append("community_correction")
        now = self.now
        self.add("person", {
            "id": pid, "household_id": hid, "grid_id": g.id, "path": g.path, "name": name,
            "id_number_enc": cipher.encrypt(idn, table="person", column="id_number", row_id=pid),
            "id_number_bidx": cipher.blind_index(idn, purpose="person.id_number"),
            "phone_enc": phone_enc, "phone_bidx": phone_bidx, "gender": gender, "birth_date": birth,
            "ethnicity": ethnicity, "relation": relation, "resident_type": rtype, "care_tags": tags,
            "status": "active", "note": None, "created_at": now, "updated_at": now, "version": 1,
        })
        self.stats["persons"] += 1

    # -- organisations -----------------------------------------------------------------------------------
    def seed_organisations(self, g: _GridTask, buildings: list[tuple[Any, ...]]) -> None:
        rng = self.rng
        short = _short(g.street)
        n = max(1, round(g.persons / 50 * rng.uniform(0.8, 1.2)))
        kinds: list[str] = []
        if g.code.endswith("001"):  # the community's own bodies sit in its first grid
            kinds += ["committee", "party_org"]
        for _ in range(max(0, n - len(kinds))):
            x = rng.random()
            kinds.append("individual_business" if x < 0.55 else "enterprise" if x < 0.90 else
                         "social_org" if x < 0.94 else "school" if x < 0.97 else "medical")
        own = [k in ("school", "medical", "committee") or
               (k == "enterprise" and rng.random() < (0.6 if g.rural else 0.15)) for k in kinds]
        new_pts = self.points_in(g.poly, sum(own)).round(6).tolist()
        free_pts = self.points_in(g.poly, len(kinds) - sum(own)).round(6).tolist()
        now = self.now
        for kind, own_building in zip(kinds, own, strict=True):
            oid = new_id()
            # Every organisation has a founding date (成立日期); enterprises also a registered capital.
            extra: dict[str, Any] = {"established": dt.date(rng.randint(1985, 2024), rng.randint(1, 12),
                                                            rng.randint(1, 28)).isoformat()}
            employees: int | None
            if kind == "enterprise":
                word, industry = rng.choice(_ENTERPRISE_KINDS)
                region = rng.choices(["长兴县", "长兴", "浙江", "湖州"], weights=[5, 3, 1, 1])[0]
                name = f"{region}{rng.choice(_ZIHAO)}{rng.choice(_ZIHAO)}{word}有限公司"
                otype, code = "enterprise", self.credit_code("91", True)
                employees = max(1, int(rng.lognormvariate(2.6, 1.1)))
                extra["registered_capital_wan"] = rng.choice([10, 50, 100, 200, 500, 1000, 3000, 5000])
            elif kind == "individual_business":
                shop, industry = rng.choice(_SHOP_KINDS)
                owner = self.random_surname()
                label = rng.choice([owner + "记", "老" + owner, rng.choice(_ZIHAO) + rng.choice(_ZIHAO)])
                name = f"长兴县{short}{label}{shop}"
                otype, code = "individual_business", self.credit_code("92", True)
                employees = rng.randint(1, 6)
            elif kind == "social_org":
                name = f"长兴县{short}{g.community}{rng.choice(_SOCIAL_KINDS)}"
                otype, industry, code = "social_org", "居民服务、修理和其他服务业", self.credit_code("52", False)
                employees = rng.randint(0, 8)
            elif kind == "school":
                name = f"长兴县{short}{rng.choice(_ZIHAO)}{rng.choice(_PLACE_SECOND)}{rng.choice(_SCHOOL_KINDS)}"
                otype, industry = "school", "教育"
                code = self.credit_code("12" if rng.random() < 0.7 else "52", False)
                employees = rng.randint(12, 150)
            elif kind == "medical":
                if rng.random() < 0.5:
                    name = f"长兴县{short}{g.community}卫生服务站"
                    code = self.credit_code("12", False)
                else:
                    name = f"长兴县{short}{self.random_surname()}{rng.choice(_CLINICS)}"
                    code = self.credit_code("92", True)
                otype, industry = "medical", "卫生和社会工作"
                employees = rng.randint(2, 30)
            elif kind == "committee":
                name = f"长兴县{g.street}{g.community}{'村民委员会' if g.rural else '居民委员会'}"
                otype, industry, code = "government", "公共管理、社会保障和社会组织", self.credit_code("54", False)
                employees = rng.randint(5, 15)
            else:  # party_org
                name = f"中共长兴县{g.street}{g.community}{'委员会' if rng.random() < 0.5 else '支部委员会'}"
                otype, industry, code = "party_org", "中国共产党机关", self.credit_code("Y1", False)
                employees = None
            building_id = None
            if own_building:
                lon, lat = new_pts.pop()
                if kind == "enterprise" and g.rural:
                    btype, bname = "industrial", f"{name[:90]}厂房"
                    addr = f"长兴县{g.street}{g.community}{self.place_word()}工业区{rng.randrange(1, 99)}号"
                else:
                    btype, bname = ("commercial" if kind == "enterprise" else "public"), name[:100]
                    addr = f"长兴县{g.street}{rng.choice(_ROADS)}{rng.randrange(1, 600)}号"
                building_id = new_id()
                self.add("building", {
                    "id": building_id, "grid_id": g.id, "path": g.path, "code": self.building_code(g),
                    "compound": None, "name": bname, "address": addr, "building_type": btype,
                    "floors": rng.randint(3, 20) if btype == "commercial" else rng.randint(1, 4),
                    "lon": lon, "lat": lat, "note": None, "created_at": now, "updated_at": now, "version": 1,
                })
            elif buildings and rng.random() < 0.8:  # a shop or office in an existing building
                building_id, addr, blon, blat = buildings[int(rng.random() * len(buildings))]
                lon = round(blon + rng.uniform(-2e-4, 2e-4), 6)
                lat = round(blat + rng.uniform(-2e-4, 2e-4), 6)
                free_pts.pop()
                if kind == "individual_business" and not g.rural:
                    addr += "底商"
            else:
                lon, lat = free_pts.pop()
                addr = f"长兴县{g.street}{g.community}{rng.choice(_ROADS)}{rng.randrange(1, 600)}号"
            legal = self.person_name("male" if rng.random() < 0.7 else "female", rng.randint(1955, 2000))
            contact = legal if rng.random() < 0.6 else self.person_name(
                "male" if rng.random() < 0.5 else "female", rng.randint(1965, 2002))
            phone_enc: bytes | None = None
            phone_bidx: str | None = None
            if rng.random() < 0.92:
                ph = self.phone()
                phone_enc = self.cipher.encrypt(ph, table="organisation", column="contact_phone", row_id=oid)
                phone_bidx = self.cipher.blind_index(ph, purpose="organisation.contact_phone")
            self.add("organisation", {
                "id": oid, "grid_id": g.id, "path": g.path, "building_id": building_id, "name": name[:200],
                "credit_code": code, "org_type": otype, "industry": industry, "address": addr[:255],
                "legal_rep": None if otype == "party_org" else legal, "contact_name": contact,
                "contact_phone_enc": phone_enc, "contact_phone_bidx": phone_bidx, "employees": employees,
                "lon": lon, "lat": lat, "extra": extra, "created_at": now, "updated_at": now, "version": 1,
            })


def _can_fork(explicit: bool) -> bool:
    """Whether to fork the generation workers.

    Forking avoids re-importing ``__main__`` (spawn's requirement of an ``if __name__ == "__main__"`` guard in
    whatever script calls the seeder) and pickling the grids. The children never touch the parent's database
    connection, collect none of its objects (``gc.freeze``), print nothing and leave through ``os._exit``. A
    multi-threaded parent is forked only when workers were asked for explicitly: a lock another thread holds
    at fork time stays locked in the child, which is harmless only for threads that never share a lock with
    the generator (e.g. a rich progress display's refresh thread).
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    return explicit or threading.active_count() == 1


def _shard_worker(shard: int, seed: int, cipher: FieldCipher, now: dt.datetime, today: dt.date,
                  sqlite: bool, tasks: list[_GridTask], out: Any) -> None:
    """Worker-process entry point: generate one shard and send encoded batches to the main process."""
    code = 0
    try:
        dialect = create_engine("sqlite://").dialect if sqlite else None
        # Pickle here, not in the queue's feeder thread, so that a failure surfaces as an error message.
        gen = _ShardGenerator(shard, seed, cipher, now, today, _Encoder(dialect),
                              lambda items, persons: out.put(("batch", shard, pickle.dumps(items, -1), persons)))
        stats = gen.run(tasks)
        out.put(("done", shard, stats, 0))
    except BaseException:  # noqa: BLE001 — any failure is reported to the parent, which aborts the seed
        out.put(("error", shard, traceback.format_exc(), 0))
        code = 1
    finally:
        out.close()
        out.join_thread()  # flush the queue, then leave without printing or running any inherited cleanup
        os._exit(code)


# ------------------------------------------------------------------------------------------------------------
# The seeder (main process): units, boundaries, writing, users, audit
# ------------------------------------------------------------------------------------------------------------


class _Seeder:
    def __init__(self, engine: Engine, scale: str, seed: int, cipher: FieldCipher, progress: ProgressFn | None,
                 workers: int) -> None:
        self.engine = engine
        self.scale = scale
        self.spec = SCALES[scale]
        self.seed = seed
        self.cipher = cipher
        self.progress = progress
        self.workers = workers
        self.explicit_workers = False
        self.rng = random.Random(f"zhili-demo:{seed}:main")
        self.now = utcnow()
        self.today = clock.today()
        self.counts: dict[str, int] = dict.fromkeys(_INSERT_ORDER, 0)
        self.unit_levels: dict[str, int] = {}
        self.stage_seconds: dict[str, float] = {}
        self.names_used: set[str] = set()
        self.conn: Connection
        self.buffers: _Buffers

    def tick(self, stage: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)

    def write(self, items: list[tuple[str, Encoded]]) -> None:
        for name, item in items:
            self.counts[name] += _write(self.conn, item)

    def flush(self) -> None:
        self.write(self.buffers.drain())

    # -- orchestration -----------------------------------------------------------------------------------
    def run(self) -> list[DemoUser]:
        with self.engine.begin() as conn:
            self.conn = conn
            sqlite = conn.dialect.name == "sqlite"
            self.buffers = _Buffers(_Encoder(conn.dialect), self.now)
            if conn.scalar(select(func.count()).select_from(Unit.__table__)):
                raise SeedRefused()
            if sqlite:
                conn.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB page cache for the bulk load
            try:
                t = time.perf_counter()
                tasks = self.seed_units()
                self.stage_seconds["units"] = time.perf_counter() - t
                t = time.perf_counter()
                self.seed_registers(tasks, sqlite)
                self.stage_seconds["registers"] = time.perf_counter() - t
                t = time.perf_counter()
                users = self.seed_users()
                with Session(bind=conn) as session:
                    audit.record(session, actor=audit.SYSTEM, action="seed.demo", object_type="system",
                                 after={"scale": self.scale, "seed": self.seed, "counts": self.report_counts()})
                    session.flush()
                self.stage_seconds["users"] = time.perf_counter() - t
            finally:
                if sqlite:
                    conn.exec_driver_sql("PRAGMA cache_size=-2000")
            t = time.perf_counter()
        if sqlite:  # fold the (large) write-ahead log back into the database file and truncate it
            raw = self.engine.raw_connection()
            try:
                raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()  # type: ignore[union-attr]
            finally:
                raw.close()
        self.stage_seconds["commit"] = time.perf_counter() - t
        return users

    def report_counts(self) -> dict[str, int]:
        out = dict(self.counts)
        out.update({f"unit.{lvl}": n for lvl, n in self.unit_levels.items()})
        return out

    # -- units and boundaries ----------------------------------------------------------------------------
    def unit_row(self, *, parent: uuid.UUID | None, level: str, code: str, name: str, path: str,
                 center: tuple[float, float]) -> dict[str, Any]:
        row = {
            "id": new_id(), "parent_id": parent, "level": level, "code": code, "name": name, "path": path,
            "depth": path.count("/"), "valid_from": VALID_FROM, "valid_to": OPEN_END, "successor_id": None,
            "center_lon": center[0], "center_lat": center[1], "note": None,
            "created_at": self.now, "updated_at": self.now, "version": 1,
        }
        self.buffers.rows["unit"].append(row)
        self.unit_levels[level] = self.unit_levels.get(level, 0) + 1
        return row

    def boundary_row(self, unit_id: uuid.UUID, poly: Polygon) -> None:
        minx, miny, maxx, maxy = poly.bounds
        self.buffers.rows["unit_boundary"].append({
            "id": new_id(), "unit_id": unit_id, "geojson": shapely.to_geojson(poly), "min_lon": minx,
            "min_lat": miny, "max_lon": maxx, "max_lat": maxy,
            "area_m2": round(approx_area_km2(poly) * 1_000_000.0, 1),
            "valid_from": VALID_FROM, "valid_to": OPEN_END, "created_at": self.now,
        })

    @staticmethod
    def center_of(poly: Polygon) -> tuple[float, float]:
        c = poly.centroid
        if not poly.contains(c):
            c = poly.representative_point()
        return (round(c.x, 6), round(c.y, 6))

    def community_word(self, curated: Iterator[str], suffix: str) -> str:
        for w in curated:
            if w + suffix not in self.names_used:
                return w
        while True:
            w = self.rng.choice(_PLACE_FIRST) + self.rng.choice(_PLACE_SECOND)
            if w + "社区" not in self.names_used and w + "村" not in self.names_used:
                return w

    def seed_units(self) -> list[_GridTask]:
        spec, rng = self.spec, self.rng
        by_level: dict[str, list[dict[str, str]]] = {}
        for r in _load_divisions():
            by_level.setdefault(r["level"], []).append(r)
        prov, city, dist = by_level["province"][0], by_level["city"][0], by_level["district"][0]
        streets = by_level["street"][: spec.streets]
        total_steps = 1 + spec.streets + spec.communities
        step = 0
        self.tick("units", 0, total_steps)

        p_row = self.unit_row(parent=None, level="province", code=prov["code"], name=prov["name"],
                              path=prov["code"], center=_PROVINCE_CENTER)
        c_row = self.unit_row(parent=p_row["id"], level="city", code=city["code"], name=city["name"],
                              path=f"{p_row['path']}/{city['code']}", center=_CITY_CENTER)
        outline = district_outline(*DISTRICT_CENTER, DISTRICT_AREA_KM2, self.seed)
        d_row = self.unit_row(parent=c_row["id"], level="district", code=dist["code"], name=dist["name"],
                              path=f"{c_row['path']}/{dist['code']}", center=self.center_of(outline))
        self.boundary_row(d_row["id"], outline)
        self.district = d_row
        step += 1
        self.tick("units", step, total_steps)

        # Streets tile the district; urban 街道 get more communities than towns, 乡 fewer.
        street_polys = partition(outline, len(streets), self.seed + 1)
        weights = [1.5 if s["name"].endswith("街道") else 0.8 if s["name"].endswith("乡") else 1.0 for s in streets]
        comm_counts = _split(spec.communities, weights, rng)
        curated = iter(_CURATED_COMMUNITIES)
        communities: list[tuple[dict[str, Any], str, str, Polygon, bool]] = []
        self.street_rows: list[dict[str, Any]] = []
        for si, (s, s_poly, n_comm) in enumerate(zip(streets, street_polys, comm_counts, strict=True)):
            s_row = self.unit_row(parent=d_row["id"], level="street", code=s["code"], name=s["name"],
                                  path=f"{d_row['path']}/{s['code']}", center=self.center_of(s_poly))
            self.street_rows.append(s_row)
            self.boundary_row(s_row["id"], s_poly)
            step += 1
            self.tick("units", step, total_steps)
            town = not s["name"].endswith("街道")
            n_urban = n_rural = 0
            for i, c_poly in enumerate(partition(s_poly, n_comm, self.seed + 100 + si)):
                rural = town and i > 0  # a town's seat is a 社区, the rest are villages
                suffix = "村" if rural else "社区"
                seat = _short(s["name"])
                if town and i == 0 and seat + suffix not in self.names_used:
                    word = seat  # the town's seat community is named after the town
                else:
                    word = self.community_word(curated, suffix)
                if rural:
                    n_rural += 1
                    code = f"{s['code']}{200 + n_rural:03d}"  # 村委会 codes are 2xx
                else:
                    n_urban += 1
                    code = f"{s['code']}{n_urban:03d}"  # 居委会 codes are 0xx/1xx
                self.names_used.add(word + suffix)
                communities.append((s_row, code, word + suffix, c_poly, rural))

        # Grids: 社区 get somewhat more grids than 村 (denser population).
        grid_counts = _split(spec.grids, [0.8 if c[4] else 1.2 for c in communities], rng)
        grids: list[tuple[uuid.UUID, str, str, str, Polygon, str, str, bool]] = []
        self.community_rows: list[dict[str, Any]] = []
        for ci, ((s_row, code, name, c_poly, rural), n_grid) in enumerate(zip(communities, grid_counts,
                                                                               strict=True)):
            cm_row = self.unit_row(parent=s_row["id"], level="community", code=code, name=name,
                                   path=f"{s_row['path']}/{code}", center=self.center_of(c_poly))
            self.community_rows.append(cm_row)
            self.boundary_row(cm_row["id"], c_poly)
            for j, g_poly in enumerate(partition(c_poly, n_grid, self.seed + 10_000 + ci), start=1):
                g_code = f"{code}{j:03d}"
                g_row = self.unit_row(parent=cm_row["id"], level="grid", code=g_code, name=f"{name}第{j}网格",
                                      path=f"{cm_row['path']}/{g_code}", center=self.center_of(g_poly))
                self.boundary_row(g_row["id"], g_poly)
                grids.append((g_row["id"], g_code, g_row["name"], g_row["path"], g_poly, s_row["name"], name, rural))
            step += 1
            self.tick("units", step, total_steps)
            if self.buffers.full():
                self.flush()
        self.flush()
        bumped = self.conn.execute(update(GeoVersion).where(GeoVersion.id == 1)
                                   .values(version=GeoVersion.version + 1, changed_at=self.now))
        if not bumped.rowcount:
            self.conn.execute(insert(GeoVersion).values(id=1, version=1, changed_at=self.now))

        # Grids are drawn for similar populations (300–500 households by policy), ± noise.
        persons = _split(spec.persons, [max(0.3, rng.gauss(1.0, 0.25)) for _ in grids], rng)
        self.grid_tasks = [_GridTask(*g[:7], rural=g[7], persons=p) for g, p in zip(grids, persons, strict=True)]
        return self.grid_tasks

    # -- registers ---------------------------------------------------------------------------------------
    def seed_registers(self, tasks: list[_GridTask], sqlite: bool) -> None:
        community_index: dict[str, int] = {}
        shards: list[list[_GridTask]] = [[] for _ in range(SHARDS)]
        for t in tasks:  # communities dealt round-robin to shards
            ci = community_index.setdefault(t.code[:12], len(community_index))
            shards[ci % SHARDS].append(t)
        total = self.spec.persons
        done = 0
        self.tick("registers", 0, total)
        if self.workers <= 0 or not _can_fork(self.explicit_workers):
            self.workers = 0
            for shard, shard_tasks in enumerate(shards):
                def emit(items: list[tuple[str, Encoded]], persons: int) -> None:
                    nonlocal done
                    self.write(items)
                    done += persons
                    self.tick("registers", done, total)

                _ShardGenerator(shard, self.seed, self.cipher, self.now, self.today,
                                _Encoder(self.conn.dialect), emit).run(shard_tasks)
        else:
            self.run_workers(shards, sqlite, total)
        if self.counts["person"] != total:
            raise RuntimeError(f"seed incomplete: {self.counts['person']} of {total} persons written")

    def run_workers(self, shards: list[list[_GridTask]], sqlite: bool, total: int) -> None:
        done = 0
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue(maxsize=4 * SHARDS)
        procs = [ctx.Process(target=_shard_worker, name=f"zhili-seed-{shard}", daemon=True,
                             args=(shard, self.seed, self.cipher, self.now, self.today, sqlite, shard_tasks, out))
                 for shard, shard_tasks in enumerate(shards)]
        try:
            # Frozen objects are never collected in the children: they cannot finalize anything inherited.
            gc.freeze()
            try:
                with warnings.catch_warnings():  # Python ≥ 3.12 warns about forking a multi-threaded process
                    warnings.simplefilter("ignore", DeprecationWarning)
                    for p in procs:
                        p.start()
            finally:
                gc.unfreeze()
            finished = 0
            while finished < len(procs):
                try:
                    kind, shard, payload, persons = out.get(timeout=2.0)
                except queue_mod.Empty:
                    dead = [p for p in procs if not p.is_alive() and p.exitcode not in (0, None)]
                    if dead:
                        raise RuntimeError(
                            f"seed worker {dead[0].name} died (exit code {dead[0].exitcode})") from None
                    continue
                if kind == "batch":
                    self.write(pickle.loads(payload))
                    done += persons
                    self.tick("registers", done, total)
                elif kind == "done":
                    finished += 1
                else:
                    raise RuntimeError(f"seed worker {shard} failed:\n{payload}")
            for p in procs:
                p.join(timeout=30)
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
                    p.join(timeout=5)
            out.close()

    # -- users -------------------------------------------------------------------------------------------
    def seed_users(self) -> list[DemoUser]:
        names = _ShardGenerator(0, self.seed + 7, self.cipher, self.now, self.today, _Encoder(None),
                                lambda items, persons: None)
        district = (self.district["id"], self.district["name"])
        street = (self.street_rows[0]["id"], self.street_rows[0]["name"])
        community = (self.community_rows[0]["id"], self.community_rows[0]["name"])
        g1, g2 = self.grid_tasks[0], self.grid_tasks[1]
        specs: list[tuple[str, Role, str | None, tuple[uuid.UUID, str] | None, str | None]] = [
            ("admin", Role.admin, "系统管理员", district, None),
            ("zhihui", Role.command_centre, None, district, None),
            ("lingdao", Role.leader, None, district, None),
            ("shenji", Role.auditor, None, district, None),
            ("jiedao", Role.street_staff, None, street, None),
            ("shequ", Role.community_staff, None, community, None),
            ("wangge1", Role.grid_worker, None, (g1.id, g1.name), None),
            ("wangge2", Role.grid_worker, None, (g2.id, g2.name), None),
            ("bumen", Role.department_handler, None, district, "CG"),  # 综合行政执法局（城管）
            ("jumin", Role.resident, None, None, None),
        ]
        users: list[DemoUser] = []
        self.tick("users", 0, len(specs))
        for i, (username, role, display, unit, department) in enumerate(specs, start=1):
            uid = new_id()
            password = generate_password()
            display = display or names.person_name("male" if self.rng.random() < 0.5 else "female",
                                                   self.rng.randint(1970, 1998))
            ph = names.phone()
            self.buffers.rows["app_user"].append({
                "id": uid, "username": username, "display_name": display, "role": role.value,
                "password_hash": hash_password(password),
                "phone_enc": self.cipher.encrypt(ph, table="app_user", column="phone", row_id=uid),
                "phone_bidx": self.cipher.blind_index(ph, purpose="app_user.phone"),
                "department": department, "is_active": True, "failed_logins": 0, "locked_until": None,
                "must_change_password": False, "password_changed_at": self.now, "last_login_at": None,
                "created_at": self.now, "updated_at": self.now, "version": 1,
            })
            if unit is not None:
                self.buffers.rows["user_unit"].append({"id": new_id(), "user_id": uid, "unit_id": unit[0]})
            users.append(DemoUser(username, role.value, password, display, unit[1] if unit else None))
            self.tick("users", i, len(specs))
        self.flush()
        return users


def seed_demo(
    engine: Engine,
    *,
    scale: Scale,
    seed: int = 20261123,
    progress: ProgressFn | None = None,
    cipher: FieldCipher | None = None,
    workers: int | None = None,
) -> SeedReport:
    """Build the demo district into an already-migrated, empty database; returns counts and demo logins.

    ``progress(stage, done, total)`` is called for the stages ``units``, ``registers`` (done = persons) and
    ``users``. ``workers``: generation processes — default (``None``): :data:`SHARDS` for ≥ 50,000 persons on a
    machine with ≥ 2 CPUs if this process is single-threaded, else 0 = in-process; an explicit ``workers > 0``
    forks even from a multi-threaded process (see :func:`_can_fork`). The output is the same either way.

    Raises :class:`SeedRefused` if the database already has units; the seed is one transaction, so a failure
    leaves the database unchanged.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    explicit = workers is not None
    if workers is None:
        workers = SHARDS if SCALES[scale].persons >= PARALLEL_MIN_PERSONS and (os.cpu_count() or 1) >= 2 else 0
    started = time.perf_counter()
    seeder = _Seeder(engine, scale, seed, cipher or get_cipher(), progress, workers)
    seeder.explicit_workers = explicit
    users = seeder.run()
    return SeedReport(scale=scale, seed=seed, counts=seeder.report_counts(),
                      elapsed_s=round(time.perf_counter() - started, 2), users=users,
                      stage_seconds={k: round(v, 2) for k, v in seeder.stage_seconds.items()},
                      workers=seeder.workers)
