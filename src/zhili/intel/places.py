"""Places and organisations named in Chinese text (地名与机构抽取), for hot issues (:mod:`zhili.intel.hot`).

A report names where its problem is: a 小区, a road, a school, a company, a market. :func:`extract_places` finds them
by their *type suffix* (小区, 花园, 苑, 路, 学院, 公司, 市场, 站 …) and finds where each name begins by walking back
over jieba's words from the suffix until a word that cannot be part of a name (a verb such as 投诉 / 反映, a
preposition, a pronoun, a person such as 业主, punctuation) or a region. Measured on the citizen messages (see
docs/intel.md "热点问题"): jieba's part-of-speech tags (ns / nt / nz) alone miss most housing estates and
companies (they are not in its dictionary) and ``jieba.posseg`` costs ≈ 1 ms a call against ≈ 40 µs for plain
``jieba.lcut``, so the tags are not used; the suffix + word walk is.

Administrative names — provinces, cities, districts, counties, towns, streets, including the masked ones of
exported data (``A市``, ``A1区``, ``L10县``, ``西地省``) — are too broad to define an issue: they are returned
separately as ``regions`` and split the text, so ``A2区福满新城`` yields the region ``A2区`` and the place
``福满新城``. A generic name (人民医院, 第一中学, 汽车站) is qualified by the region named just before it
(``A7县人民医院``), because without it two counties' hospitals would look like one place.

Variants are normalised by :func:`place_key`: ``XX小区3栋`` is ``XX小区`` (the suffix ends the name),
``景蓉华苑小区`` is ``景蓉华苑``, ``森沁高科新材料有限公司`` is ``森沁高科新材料``. :class:`Gazetteer` then finds the
bare mentions of names seen elsewhere with their suffix (a report saying only ``富雅坪``).

Pure functions; ≈ 2,000 messages a second on one core (a message's title and first 600 characters).
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import jieba

jieba.setLogLevel(logging.WARNING)

def _wordset(words: str) -> frozenset[str]:
    """A set of whitespace-separated words (word lists below are written as text)."""
    return frozenset(words.split())


# Type suffixes of specific places and organisations, longest first (the regex alternation takes the first that
# matches at a position, so 幼儿园 wins over 园, 有限公司 over 公司).
PLACE_SUFFIXES = (
    "职业技术学院", "股份有限公司", "有限责任公司", "有限公司", "卫生服务中心", "卫生院", "幼儿园", "技师学院",
    "小区", "花园", "家园", "新城", "新村", "公寓", "大厦", "广场", "社区", "大道", "学校", "学院", "大学", "中学",
    "小学", "医院", "公司", "集团", "市场", "超市", "酒店", "宾馆", "餐厅", "饭店", "商场", "物业", "驾校", "公园",
    "工业园", "产业园", "楼盘", "苑", "村", "路", "街", "巷", "桥", "厂", "站", "湾", "城", "园", "庭", "郡", "邸",
)
# Administrative units: kept as regions, never a place of their own.
REGION_SUFFIXES = ("自治区", "自治州", "街道", "省", "市", "州", "区", "县", "镇", "乡")

_MASKED = re.compile(r"[A-Z]{1,2}\d{0,3}\s?(?:市|区|县|州|省|盟|旗)+")  # A市, A1区, L10县县 (masked exports)
# A province: two characters + 省, not 省长 / 省委 / 省级 … and not "的省"
_PROVINCE = re.compile(r"([\u4e00-\u9fff]{2})省(?![长委级内外份钱力心事得去略会城直])")
_NOT_PROVINCE = frozenset("的了是在和与及对向从把被给为我你他她它这那该本全各外该每个")
MASKED_REGION = _MASKED
_SPLIT = re.compile(r"[^\u4e00-\u9fffA-Za-z0-9]+")  # punctuation and spaces end a name
_SUFFIX = re.compile("|".join(sorted(PLACE_SUFFIXES, key=len, reverse=True)))
_REGION = re.compile("|".join(sorted(REGION_SUFFIXES, key=len, reverse=True)))

MAX_NAME = 10  # characters of a name before its suffix
_LEFT, _RIGHT = 14, 3  # characters of context segmented around a suffix
_COMMON = 50  # a dictionary word this frequent that merely ends like a place (政府, 家庭, 道路) is not one
_PROPER_TAGS = frozenset({"ns", "nt", "nz", "nr", "nrt", "nrfg"})
# jieba dictionary tags that end a name when walking back from its suffix: verbs, prepositions, conjunctions,
# particles, pronouns, adverbs, numerals and measure words, time and direction words, interjections
_STOP_TAGS = _wordset("v vd vn vg vi vq p c u uj ul uz ud ug uv r rr rz rg d dg y e o m mq q t tg f s x")
_STOP_WORDS = _wordset("""
投诉 反映 举报 请求 建议 咨询 解决 关于 位于 地处 坐落 请问 希望 要求 强烈 对于 我们 附近 旁边
对面 门口 周边 所在 当地 整个 全体 业主 居民 市民 村民 群众 学生 家长 老师 教师 职工 员工 工人
所有 问题 情况 领导 政府 部门 有关 相关 尊敬 市长 书记 县长 区长 乡长 镇长 主任 局长 网友 本人
大家 各位 其他 其它 开发商 以及 齐聚于 各大 同等 整改 扶贫 整治 治理 修建 新建 改建 扩建 拆除 位置
""")
# A name made only of these (or of digits) is generic: 停车场, 公交站, 加油站, 这个小区 …
_GENERIC_NAMES = _wordset("""
农贸 菜 停车 加油 公交 地铁 火车 汽车 客运 高速 高铁 收费 充电 垃圾 中转 污水 自来 自来水 变电 基
信号 道 马 公 铁 网 出 门 大 小 老 新 旧 原 同 全 当地 附近 周边 某 某某 个别 一些 整个 中心
城中 农 乡 居民 安置 商品 商住 住宅 廉租 公租 保障 棚改 拆迁 回迁 物业 业主 学校 私立 民办 公办
公立 附属 省级 市级 县级 区级 人民 中医 妇幼 保健 儿童 妇女 第一 第二 第三 第四 第五 实验 职业
师范 技术 重点 寄宿 城市 县城 城区 市区 乡村 村 集体 国有 私营 民营 施工 建筑 房地产 开发 医疗
卫生 主干 支 人行 步行 沿街 临街 商业 环城 城 市 卫生城 文明城 开发区 高新区 新区 示范区 经开区
工业 产业 物流 建材 各 该 本 此 我 我们 你们 他们 政府 物业管理 天然气 燃气 供电 供水 电力 建设
工程 投资 置业 房地产开发 商品房 贫困 封闭式 开放式 开发式 有限 有限公司 科技 实业 贸易 餐饮 快递
出租车 保险 银行 电信 移动 联通 美好 距离 紧靠 直通 实际 维权
""")
# Generic names kept when a region names them (A7县人民医院, D市高铁站): the region makes them one place.
_QUALIFIED = _wordset("""
人民医院 中医院 中医医院 妇幼保健院 中心医院 第一中学 第二中学 第三中学 第一小学 实验小学 实验中学 汽车站
火车站 高铁站 客运站 南站 北站 东站 西站 汽车南站 汽车北站 汽车东站 汽车西站
一中 二中 三中 四中 五中 六中 七中 八中 一小 二小 三小
""")
# Common road names that are ordinary words (人民路, 解放路, 建设路): kept right before a road suffix.
_ROAD_SUFFIXES = frozenset({"路", "街", "大道", "大街"})
_ROAD_WORDS = _wordset("人民 解放 建设 中山 胜利 和平 文化 新华 友谊 光明 幸福 团结 东风 红旗 工农 青年 建国 "
                       "民主 新民 复兴 长江 黄河 花园 公园 学院 迎宾 环城 滨江 滨河 体育 车站 劳动 五一 八一")
# Suffixes after which 小区 adds nothing (景蓉华苑小区 = 景蓉华苑); legal forms dropped from company names.
# 二中, 一小: a numbered school, named only after its region (K9县二中)
_NUMBERED_SCHOOL = re.compile(r"[一二三四五六七八九十]{1,2}[中小](?![学心国间专])")
_ESTATE_ENDS = ("苑", "园", "城", "府", "庭", "湾", "居", "阁", "郡", "邸", "院", "里", "寓", "厦", "场", "村")
_LEGAL_FORMS = re.compile(r"(?:股份有限公司|有限责任公司|有限公司|公司|集团)$")


@dataclass(frozen=True)
class Places:
    """What a text names: ``places`` (normalised keys of specific places and organisations, first mention first)
    and ``regions`` (administrative names, too broad to define an issue on their own)."""

    places: tuple[str, ...]
    regions: tuple[str, ...]


def normalise_text(text: str) -> str:
    """Full-width letters, digits and punctuation as half-width (NFKC); nothing else changes."""
    return unicodedata.normalize("NFKC", text or "")


_TAGS: dict[str, str] = {}


def _tag(word: str) -> str | None:
    """jieba's dictionary tag of a word (a lookup: ``jieba.posseg`` itself costs ≈ 1 ms a call)."""
    if not _TAGS:
        import jieba.posseg

        _TAGS.update(jieba.posseg.dt.word_tag_tab)
    return _TAGS.get(word)


@functools.lru_cache(maxsize=65536)
def _words(context: str, hmm: bool = True) -> tuple[str, ...]:
    return tuple(jieba.lcut(context, HMM=hmm))


_SUFFIX_WORDS = frozenset(PLACE_SUFFIXES) | frozenset(REGION_SUFFIXES)
_NAME_CHARS = frozenset("之里")  # 魅力之城, 幸福里: tagged as particles or directions, yet parts of names


def _nameish(word: str) -> bool:
    if word in _STOP_WORDS or word in _SUFFIX_WORDS or not word.strip():
        return False
    if word in _NAME_CHARS:
        return True
    if word.isascii():
        return word.isalnum() and not word.isdigit()
    return _tag(word) not in _STOP_TAGS


def _common(word: str) -> bool:
    """A frequent dictionary word that is no proper name (政府, 家庭, 道路, 火车站)."""
    return jieba.dt.FREQ.get(word, 0) >= _COMMON and _tag(word) not in _PROPER_TAGS


def _name_at(segment: str, start: int, end: int, floor: int, *, hmm: bool = True) -> str | None:
    """The name ending at ``segment[end]`` whose type suffix starts at ``start`` (None if jieba's words do not
    end there, e.g. 村 of 村民): the word ending there and the name-like words before it, back to ``floor``."""
    lo = max(floor, start - _LEFT)
    window = segment[lo:min(len(segment), end + _RIGHT)]
    words = _words(window, hmm)
    pos, last = lo, -1
    for i, w in enumerate(words):
        pos += len(w)
        if pos == end:
            last = i
            break
        if pos > end:
            return None
    if last < 0:
        return None
    word = words[last]
    suffix = segment[start:end]
    if word != suffix and _common(word):
        return word if word in _QUALIFIED else None
    taken = [word]
    size = len(word)
    before = list(words[:last])
    if word == suffix and suffix in _ROAD_SUFFIXES and before and before[-1] in _ROAD_WORDS:
        taken.append(before.pop())
        size += len(taken[-1])
    elif word == suffix and len(suffix) == 2 and before and before[-1] in _ESTATE_ENDS:  # 中苑小区
        taken.append(before.pop())
        size += 1
    for w in reversed(before):
        if not _nameish(w) or size + len(w) > MAX_NAME + len(suffix):
            break
        taken.append(w)
        size += len(w)
    return "".join(reversed(taken))


def _generic(name: str) -> bool:
    if not name or name.isdigit() or name in _GENERIC_NAMES:
        return True
    stripped = name.lstrip("0123456789一二三四五六七八九十第")
    return len(stripped) < 2 or stripped in _GENERIC_NAMES


def place_key(place: str) -> str:
    """The normalised form of a place name: ``XX花园小区`` → ``XX花园``, ``XX小区`` stays, ``XX有限公司`` → ``XX``
    (legal forms dropped), full-width characters folded."""
    p = normalise_text(place).strip()
    if p.endswith("小区") and len(p) > 4 and p[:-2].endswith(_ESTATE_ENDS):
        p = p[:-2]
    stem = _LEGAL_FORMS.sub("", p)
    if len(stem) >= 2 and stem != p:
        p = stem
    return p


def extract_places(text: str, *, known_regions: Collection[str] = ()) -> Places:
    """The places, organisations and regions named in ``text`` (see the module docstring). ``known_regions``:
    administrative names of the deployment (its units' names), reported as regions wherever they occur."""
    t = normalise_text(text)
    places: list[str] = []
    regions: list[str] = [r for r in known_regions if r and r in t]

    def add(into: list[str], value: str) -> None:
        if value not in into:
            into.append(value)

    for part in _SPLIT.split(t):
        for piece, region in _region_pieces(part, regions):
            floor = 0  # a name never reaches back into the previous one
            school = _NUMBERED_SCHOOL.match(piece)
            if school and region:
                add(places, region + school.group(0))
                floor = school.end()
            for m in _SUFFIX.finditer(piece):
                if m.start() < floor:
                    continue
                name = _name_at(piece, m.start(), m.end(), floor)
                if name is None:
                    continue
                suffix = m.group(0)
                stem = name[: -len(suffix)] if name.endswith(suffix) else name
                if name in _QUALIFIED or stem in _QUALIFIED:
                    if region:
                        add(places, place_key(region + name))
                        floor = m.end()
                    continue
                key = place_key(name)
                road = suffix in _ROAD_SUFFIXES and stem[-2:] in _ROAD_WORDS
                if (_generic(stem) and not road) or _generic(_LEGAL_FORMS.sub("", key)) or name.endswith("之路"):
                    continue
                add(places, key)
                floor = m.end()
    return Places(tuple(p for p in places if p not in regions), tuple(regions))


def _region_pieces(part: str, regions: list[str]) -> list[tuple[str, str | None]]:
    """``part`` cut at the administrative names in it (appended to ``regions``): the pieces between them, each
    with the region named just before it. Masked names by pattern; real ones (杨桥镇, 长兴县) by the word walk
    without jieba's HMM, which would glue an unknown name to the next one (镇花江)."""
    cuts: list[tuple[int, int, str]] = [(m.start(), m.end(), m.group(0).replace(" ", ""))
                                        for m in _MASKED.finditer(part)]
    cuts += [(m.start(), m.end(), m.group(0)) for m in _PROVINCE.finditer(part)
             if not set(m.group(1)) & _NOT_PROVINCE]
    cuts.sort()
    pos = 0
    for s, e, _ in [*cuts, (len(part), len(part), "")]:
        floor = pos
        for m in _REGION.finditer(part, pos, s):
            if m.start() < floor:
                continue
            name = _name_at(part, m.start(), m.end(), floor, hmm=False)
            if name is None:
                continue
            suffix = m.group(0)
            stem = name[: -len(suffix)]
            if len(stem) >= 2 and not _generic(stem) and not stem.endswith(REGION_SUFFIXES):
                cuts.append((m.end() - len(name), m.end(), name))
                floor = m.end()
        pos = e
    cuts.sort()
    pieces: list[tuple[str, str | None]] = []
    pos, region = 0, None
    for s, e, name in cuts:
        if s < pos:
            continue
        pieces.append((part[pos:s], region))
        if name not in regions:
            regions.append(name)
        region, pos = name, e
    pieces.append((part[pos:], region))
    return [(p, r) for p, r in pieces if p]


class Gazetteer:
    """Names seen with their suffix somewhere, found again where a text names them bare (``富雅坪`` after
    ``富雅坪小区``): a set lookup of every substring of 3–12 characters, so no regex of thousands of names."""

    def __init__(self, keys: Iterable[str], *, min_len: int = 3) -> None:
        self._bare: dict[str, str] = {}
        for k in keys:
            for bare in {k, _bare(k)}:
                if len(bare) >= min_len and not _generic(bare):
                    self._bare.setdefault(bare, k)
        # the lengths of the names starting with each two characters, longest first
        lengths: dict[str, set[int]] = defaultdict(set)
        for b in self._bare:
            lengths[b[:2]].add(len(b))
        self._starts = {p: sorted(ls, reverse=True) for p, ls in lengths.items()}

    def __len__(self) -> int:
        return len(self._bare)

    def find(self, text: str) -> list[str]:
        """The keys whose name occurs in ``text`` (the longest at each position), first occurrence first."""
        t = normalise_text(text)
        out: list[str] = []
        starts, bare = self._starts, self._bare
        i, n = 0, len(t)
        while i < n - 1:
            lengths = starts.get(t[i:i + 2])
            if lengths is not None:
                for ln in lengths:
                    key = bare.get(t[i:i + ln])
                    if key is not None:
                        if key not in out:
                            out.append(key)
                        i += ln - 1
                        break
            i += 1
        return out


def _bare(key: str) -> str:
    """A key without its type suffix (富雅坪小区 → 富雅坪), or the key itself when too short without it."""
    for suffix in ("小区", "社区", "公寓", "大厦", "广场", "物业"):
        if key.endswith(suffix) and len(key) - len(suffix) >= 3:
            return key[: -len(suffix)]
    return key
