"""Chinese address parsing (地址解析), pure: free text → parts, no database.

``parse_address(text, gazetteer)`` splits what staff type —
``浙江省湖州市长兴县雉城街道金陵社区明珠路8号3幢2单元301室``,
``长兴明珠路8号3-2-301``, ``金陵小区3栋2单元301`` — into province, city, district,
street (街道/镇/乡), community (社区/村/居委会), road + number, compound (小区/花园/苑…),
building, unit and room, plus what it could not read.

* Text is normalised first: NFKC (full-width digits and letters), spaces dropped, dashes unified, and Chinese
  numerals before a building/unit/room/number word turned into digits (``三幢二单元`` → ``3幢2单元``).
* The administrative part above the street comes from the local :class:`Gazetteer` (the platform's own district,
  with short forms such as ``长兴`` for ``长兴县``) and, for anything else in China, from the ``cpca`` package's
  national division table (province/city/district with their adcode), so ``北京市朝阳区…`` is recognised as
  another district rather than misread.
* Streets and communities are matched against the gazetteer's names, tolerant of a missing or changed suffix
  (``雉城`` or the old ``雉城镇`` for ``雉城街道``) and of one mistyped character; unknown ones are still read by
  their suffix.
* Masked place names as published in open data (``A市A2区``) are flagged, never guessed.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

STREET_SUFFIXES = ("街道", "镇", "乡")
COMMUNITY_SUFFIXES = ("社区", "居委会", "村委会", "村")
COMPOUND_SUFFIXES = ("小区", "花园", "新村", "家园", "公寓", "名邸", "华庭", "雅苑", "嘉园", "新城", "公馆", "大厦",
                     "山庄", "苑", "府", "园", "庭", "里")
ROAD_SUFFIXES = ("大道", "路", "街", "巷", "弄")
_DISTRICT_SUFFIXES = ("自治县", "县", "区", "市")
_CITY_SUFFIXES = ("市", "地区", "自治州", "盟")
_PROVINCE_SUFFIXES = ("省", "市", "自治区", "特别行政区")

_CN_DIGITS = {"零": 0, "〇": 0, "○": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_CN_NUM = re.compile(r"[零〇○一二两三四五六七八九十百]+(?=幢|栋|号|单元|室|层|楼|座|户|组)")
_MASKED = re.compile(r"(?:[A-Z][0-9]*(?:省|市|区|县|镇|街道|乡))+")
_DASHES = re.compile(r"[‐‑‒–—―−﹣－~～]")
_DROP = re.compile(r"[\s,，、。;；:：()（）\[\]【】\"'“”‘’]+")

_ROAD = re.compile(r"([^\d\-]{1,10}?(?:大道|路|街|巷|弄))(?:(\d+)号(?!楼))?")
# greedy: 钱园苑 is one compound (园 and 苑 are both compound words), not 钱园 + 苑
_COMPOUND = re.compile(r"([^\d\-]{1,10}(?:" + "|".join(COMPOUND_SUFFIXES) + r"))")
_BUILDING = re.compile(r"(\d+)(幢|栋|号楼|座|#|号)")
_BUR = re.compile(r"(\d+)-(\d+)-(\d+)(?:室|户)?")
_BR = re.compile(r"(\d+)-(\d+)(?:室|户)?")
_UNIT = re.compile(r"(\d+)单元")
_ROOM = re.compile(r"(\d+)(?:室|户|房)?")
_FLOOR = re.compile(r"(\d+)(?:层|楼)")
_HAMLET = re.compile(r"([^\d\-]{2,6}?)(\d+)号(?!楼)")
_GENERIC_STREET = re.compile(r"([^\d\-]{2,6}?(?:街道|镇|乡))")
_GENERIC_COMMUNITY = re.compile(r"([^\d\-]{2,6}?(?:社区|居委会|村委会))")


def cn_number(word: str) -> int:
    """A Chinese numeral as an int: ``三`` 3, ``十二`` 12, ``二十`` 20, ``一百零一`` 101, ``两`` 2; a run of plain
    digits without 十/百 reads digit by digit, as staff write room numbers (``三零一`` 301)."""
    if "十" not in word and "百" not in word:
        return int("".join(str(_CN_DIGITS[c]) for c in word))
    total, digit = 0, 0
    for c in word:
        if c == "百":
            total += (digit or 1) * 100
            digit = 0
        elif c == "十":
            total += (digit or 1) * 10
            digit = 0
        else:
            digit = _CN_DIGITS[c]
    return total + digit


def normalise(text: str) -> str:
    """NFKC, no spaces or punctuation, one kind of dash, Chinese numerals before 幢/单元/室/号… as digits."""
    s = unicodedata.normalize("NFKC", text or "")
    s = _DASHES.sub("-", s)
    s = _DROP.sub("", s)
    s = _CN_NUM.sub(lambda m: str(cn_number(m.group(0))), s)
    return s.upper() if s.isascii() else s


def strip_suffix(name: str, suffixes: tuple[str, ...]) -> str:
    """``name`` without the first of ``suffixes`` it ends with (never down to nothing)."""
    for suf in suffixes:
        if name.endswith(suf) and len(name) > len(suf):
            return name[: -len(suf)]
    return name


def near(a: str, b: str) -> bool:
    """True if two names of the same length differ in at most one character (one mistyped character)."""
    return len(a) == len(b) and len(a) >= 2 and sum(x != y for x, y in zip(a, b, strict=True)) <= 1


@dataclass(frozen=True)
class Gazetteer:
    """The local names the parser knows by heart: the platform's province, city and district (full names) and its
    streets and communities. Built from the region tree by the resolver, or from the shipped division table."""

    province: tuple[str, ...] = ()
    city: tuple[str, ...] = ()
    district: tuple[str, ...] = ()
    streets: tuple[str, ...] = ()
    communities: tuple[str, ...] = ()
    roads: tuple[str, ...] = ()  # road names of the register's addresses, to read 长兴县前街 as 长兴 + 县前街
    _index: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        idx: dict[str, Any] = {}
        for level, names, sufs in (("province", self.province, _PROVINCE_SUFFIXES),
                                   ("city", self.city, _CITY_SUFFIXES),
                                   ("district", self.district, _DISTRICT_SUFFIXES),
                                   ("street", self.streets, STREET_SUFFIXES),
                                   ("community", self.communities, COMMUNITY_SUFFIXES)):
            full = sorted(set(names), key=len, reverse=True)
            cores: dict[str, list[str]] = {}
            fuzzy: dict[tuple[int, str], list[str]] = {}
            for n in names:
                cores.setdefault(strip_suffix(n, sufs), []).append(n)
                suf = next((x for x in sufs if n.endswith(x)), "")
                if suf and len(n) >= 3:
                    fuzzy.setdefault((len(n), suf), []).append(n)
            by_core = sorted(((c, ns[0]) for c, ns in cores.items() if len(ns) == 1), key=lambda kv: -len(kv[0]))
            idx[level] = (full, by_core, sufs, fuzzy)
        object.__setattr__(self, "_index", idx)

    def match(self, level: str, s: str, pos: int) -> tuple[str, int, str | None] | None:
        """The name of ``level`` that ``s`` spells at ``pos``: (full name, end position, correction note or None).

        Tries the full name, then the core name followed by any of the level's suffixes (an old 镇 for a 街道),
        then the bare core (``雉城``) unless a compound, community or road word follows it, then one mistyped
        character in a full name."""
        full, by_core, sufs, fuzzy = self._index[level]
        for name in full:  # longest first
            if s.startswith(name, pos):
                return name, pos + len(name), None
        for core, name in by_core:
            if not s.startswith(core, pos):
                continue
            end = pos + len(core)
            for suf in sufs:
                if s.startswith(suf, end):
                    return name, end + len(suf), f"{core}{suf}→{name}"
            if core != name and not _blocks_bare_core(s[end:], level):
                return name, end, f"{core}→{name}"
        for (length, suf), names in fuzzy.items():
            # a typo in the name itself, not another kind of place: the suffix must be where the name's is
            if not s.startswith(suf, pos + length - len(suf)):
                continue
            typed = s[pos:pos + length]
            for name in names:
                if near(typed, name):
                    return name, pos + length, f"{typed}→{name}"
        return None


def _blocks_bare_core(rest: str, level: str) -> bool:
    """A bare core name (``画溪``) must not swallow the start of a longer name (``画溪小区``, ``画溪大道``)."""
    if level in ("province", "city", "district"):  # 长兴大道 is a road; 长兴花园路 is 长兴 + 花园路
        return rest.startswith((*ROAD_SUFFIXES, "街道"))
    words = (*COMPOUND_SUFFIXES, *ROAD_SUFFIXES, *COMMUNITY_SUFFIXES, *STREET_SUFFIXES, "街道")
    if any(rest.startswith(w) for w in words):
        return True
    # a core directly followed by a single character and a suffix is part of a longer name (画溪新村, 长兴大道)
    return level in ("street", "community") and not rest[:1].isdigit() \
        and any(rest[1:].startswith(w) for w in COMPOUND_SUFFIXES + ROAD_SUFFIXES)


@lru_cache(maxsize=1)
def default_gazetteer() -> Gazetteer:
    """The demo district's names from the shipped division table (no communities: those live in the database)."""
    rows = list(csv.DictReader(resources.files("zhili.fixtures").joinpath("divisions_330522.csv")
                               .open(encoding="utf-8")))
    by: dict[str, list[str]] = {}
    for r in rows:
        by.setdefault(r["level"], []).append(r["name"])
    return Gazetteer(province=tuple(by.get("province", ())), city=tuple(by.get("city", ())),
                     district=tuple(by.get("district", ())), streets=tuple(by.get("street", ())))


@dataclass(frozen=True)
class AddressParts:
    """One parsed address. Numbers are digit strings (``building="3"``, ``unit="2"``, ``room="301"``); names are
    as typed, or the gazetteer's full name when it recognised one (``street="雉城街道"`` for ``雉城``).
    ``adcode`` is the GB/T 2260 code of the deepest administrative level found (from cpca or the gazetteer's
    district); ``masked`` holds a masked place name (``A市A2区``); ``fixes`` the corrections applied."""

    text: str
    province: str | None = None
    city: str | None = None
    district: str | None = None
    adcode: str | None = None
    street: str | None = None
    community: str | None = None
    road: str | None = None
    number: str | None = None
    compound: str | None = None
    building: str | None = None
    unit: str | None = None
    room: str | None = None
    floor: str | None = None
    remainder: str = ""
    masked: str | None = None
    local: bool = False  # the administrative part was read from the gazetteer (the platform's own district)
    fixes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("province", "city", "district", "adcode", "street", "community",
                                              "road", "number", "compound", "building", "unit", "room", "floor",
                                              "remainder", "masked", "fixes")}


def _cpca_admin(s: str) -> tuple[dict[str, str | None], int] | None:
    """Province/city/district of ``s`` from cpca's national table, if the text starts with them: (parts, end)."""
    import cpca

    rec = cpca.transform([s], pos_sensitive=True).to_dict("records")[0]
    if not rec.get("adcode") or any(v and len(v) < 2 for v in (rec.get("省"), rec.get("市"), rec.get("区"))):
        return None  # nothing, or a one-character "name" (重庆's 县) read out of a word
    starts = [p for p in (rec["省_pos"], rec["市_pos"], rec["区_pos"]) if p is not None and p >= 0]
    if not starts or min(starts) != 0:
        return None  # a place name inside a road or compound name (中山路), not an administrative prefix
    rest = rec.get("地址") or ""
    if rest.startswith(ROAD_SUFFIXES + COMPOUND_SUFFIXES + ("街道",)):
        return None  # 中山路: a road named after a city
    parts: dict[str, str | None] = {"province": rec.get("省"), "city": rec.get("市"), "district": rec.get("区"),
                                    "adcode": rec["adcode"]}
    if parts["city"] == "市辖区":
        parts["city"] = parts["province"]
    return parts, len(s) - len(rest)


def parse_address(text: str, gazetteer: Gazetteer | None = None, *, use_cpca: bool = True) -> AddressParts:
    """Split one free-text address into its parts (see the module docstring). Pure and fast: µs for addresses
    that start with a local name, about half a millisecond when cpca has to look at a prefix it does not know."""
    gz = gazetteer or default_gazetteer()
    s = normalise(text)
    parts: dict[str, Any] = {}
    fixes: list[str] = []
    m = _MASKED.search(s)
    if m:
        parts["masked"] = m.group(0)
        s = s[: m.start()] + s[m.end():]
    pos = 0
    # administrative prefix: the local names first, then cpca for the rest of the country
    for level in ("province", "city", "district"):
        hit = gz.match(level, s, pos)
        if hit:
            parts[level], pos, fix = hit
            parts["local"] = True
            if fix:
                fixes.append(fix)
    if pos and any(s.startswith(r, pos - 1) for r in gz.roads if r[0] == s[pos - 1]):
        pos -= 1  # the district's last character begins a road: 长兴县前街 is 长兴 + 县前街
    if "district" not in parts and use_cpca and not m and pos < len(s) and not gz.match("street", s, pos):
        got = _cpca_admin(s)  # another district (吴兴区), or a local one cpca spells differently
        if got and got[1] > pos:
            admin, pos = got
            parts.update({k: v for k, v in admin.items() if v})
            parts["local"] = admin.get("district") in gz.district
    if parts.get("district") and not parts.get("local"):
        gz = Gazetteer()  # another district: our street and community names (and their typos) do not apply
    rest: list[str] = []
    n = len(s)
    while pos < n:
        step = _next_token(s, pos, gz, parts, fixes)
        if step <= pos:
            rest.append(s[pos])
            pos += 1
        else:
            pos = step
    parts["remainder"] = "".join(rest)
    parts["fixes"] = tuple(fixes)
    return AddressParts(text=s, **{k: v for k, v in parts.items() if v is not None})


def _set(parts: dict[str, Any], **kv: str | None) -> None:
    for k, v in kv.items():
        if v is not None and parts.get(k) is None:
            parts[k] = v


def _next_token(s: str, pos: int, gz: Gazetteer, parts: dict[str, Any], fixes: list[str]) -> int:
    """Read one token at ``pos`` into ``parts``; return the new position (``pos`` when nothing matched)."""
    if s[pos].isdigit():
        return _numbers(s, pos, parts)
    if parts.get("street") is None and parts.get("community") is None and parts.get("road") is None:
        hit = gz.match("street", s, pos)
        if hit:
            parts["street"], end, fix = hit
            if fix:
                fixes.append(fix)
            return end
        m = _GENERIC_STREET.match(s, pos)
        if m and not parts.get("compound"):
            parts["street"] = m.group(1)
            return m.end()
    if parts.get("community") is None and parts.get("road") is None and parts.get("compound") is None:
        hit = gz.match("community", s, pos)
        if hit and not s.startswith("新村", hit[1] - 2):
            parts["community"], end, fix = hit
            if fix:
                fixes.append(fix)
            return end
        m = _GENERIC_COMMUNITY.match(s, pos)
        if m:
            parts["community"] = m.group(1)
            return m.end()
    road = _ROAD.match(s, pos)
    comp = _COMPOUND.match(s, pos)
    if comp and parts.get("compound") is None and (
            not road or (comp.end() < road.end() and not s.startswith(ROAD_SUFFIXES, comp.end()))
            or (road.group(2) is None and comp.end() > road.end() and s.startswith(COMPOUND_SUFFIXES, road.end()))):
        # 金陵小区 (not a road), 李家巷小区 (a compound named after a lane), but 花园路 is a road
        parts["compound"] = comp.group(1)
        return comp.end()
    if road and parts.get("road") is None:
        parts["road"] = road.group(1)
        if road.group(2):
            parts["number"] = road.group(2)
        return road.end()
    ham = _HAMLET.match(s, pos)
    if ham and parts.get("building") is None:
        # a rural house: 张家埭5号 (a hamlet and its house number), or an unsuffixed compound before 号
        _set(parts, compound=ham.group(1), building=ham.group(2))
        return ham.end()
    if parts.get("compound") is None and parts.get("building") is None:
        # a compound typed without its suffix, right before the building number: 银岕3幢
        j = pos
        while j < len(s) and not s[j].isdigit() and j - pos < 8:
            j += 1
        if (pos < j < len(s) and j - pos >= 2 and _BUILDING.match(s, j)) or (
                pos < j < len(s) and j - pos >= 2 and _BUR.match(s, j)):
            parts["compound"] = s[pos:j]
            return j
    return pos


def _numbers(s: str, pos: int, parts: dict[str, Any]) -> int:
    """Building / unit / room numbers at ``pos``: ``3幢``, ``3-2-301``, ``3-301``, ``2单元``, ``301室``, ``301``."""
    m = _BUR.match(s, pos)
    if m and parts.get("building") is None:
        _set(parts, building=m.group(1), unit=m.group(2), room=m.group(3))
        return m.end()
    m = _UNIT.match(s, pos)
    if m:
        _set(parts, unit=m.group(1))
        return m.end()
    m = _BUILDING.match(s, pos)
    if m and parts.get("building") is None:
        if m.group(2) == "号" and parts.get("road") and parts.get("number") is None and parts.get("compound") is None:
            _set(parts, number=m.group(1))  # 明珠路 8号: a road's number typed apart
        else:
            _set(parts, building=m.group(1))
        return m.end()
    m = _BR.match(s, pos)
    if m and parts.get("building") is None:
        _set(parts, building=m.group(1), room=m.group(2))
        return m.end()
    m = _FLOOR.match(s, pos)
    if m and parts.get("room") is None and parts.get("building"):  # 3幢2单元3楼301室: a floor, then the room
        _set(parts, floor=m.group(1))
        return m.end()
    m = _ROOM.match(s, pos)
    if m and parts.get("room") is None and (parts.get("building") or parts.get("unit")):
        _set(parts, room=m.group(1))
        return m.end()
    return pos

