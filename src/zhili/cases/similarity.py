"""How alike two reports are (疑似重复件): their text, the places they name, how far apart and how far apart in time
— one score in [0, 1] with a Chinese explanation. Pure: no database, no settings; the duplicate search
(:mod:`zhili.cases.duplicates`) and its evaluation (:mod:`zhili.intel.duplicates`) both call it.

**Text.** Character bigrams of the report's title and description, after the places it names (小区, roads,
buildings) and the generic words of complaints (反映、问题、希望、尽快处理 …, :data:`STOP_WORDS`) are cut out; the
places are compared on their own, and the generic words would make every complaint look like every other. Bigrams,
not jieba words: tokenising costs ≈ 9 µs for a 50-character report against ≈ 130 µs with jieba (plus ≈ 0.9 s to
load its dictionary on first use) and intake tokenises every report and every candidate; on the generated
benchmark (docs/intel.md) words measured no better, and neither did weighting bigrams by inverse document frequency
(:class:`Vocabulary`, kept for that comparison): each bigram weighs 1. Similarity = cosine of the bigram sets.

**Score** (:func:`score`) — a weighted sum, each part in [0, 1], the weights in :class:`Weights`:

    score = 0.45·text + 0.30·nearness + 0.15·recency + 0.10·same_place     (× 0.85 for a related category)

* ``nearness`` — with two points: 1 / (1 + (d / 60 m)²) (1 at 0 m, 0.5 at 60 m, 0.14 at 150 m); without one of
  them: 0.9 for the same normalised address (building), 0.6 for the same 小区 named, 0.5 for the same grid, else 0;
* ``recency`` — 0.5 ^ (hours apart / 36): 1 at once, 0.5 after 36 hours, 0.25 after three days;
* ``same_place`` — 1 when both name the same 小区 / building / road, else 0;
* a candidate of another category under the same parent (相近类别) is scaled by 0.85.

So a report of the same category a few metres away and minutes later scores ≈ 0.44 even with no word in common
(the category itself says what the problem is), a paraphrase 60 m away a day later needs a text similarity of
≈ 0.3, and the same 小区 100 m away with another problem stays below the default threshold (0.4,
``ZHILI_DUPLICATE_MIN_SCORE``; chosen on generated history, docs/intel.md).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Generic words of complaints and reports: they say nothing about *which* problem. Longest first (matched greedily).
STOP_WORDS: tuple[str, ...] = tuple(sorted({
    "有关部门", "相关部门", "职能部门", "严重影响", "影响居民", "居民生活", "生活质量", "尽快处理", "尽快解决",
    "及时处理", "予以处理", "处理一下", "解决一下", "帮忙解决", "麻烦你们", "非常感谢", "谢谢你们", "网格员",
    "工作人员", "老百姓", "市民热线", "热线电话", "多次反映", "反映问题", "一直没有", "至今没有", "没有人管",
    "无人处理", "无人管理", "希望", "尽快", "处理", "解决", "反映", "问题", "情况", "投诉", "举报", "请求",
    "要求", "恳请", "建议", "麻烦", "谢谢", "感谢", "部门", "居民", "群众", "市民", "业主", "住户", "影响",
    "严重", "附近", "周边", "发现", "现在", "目前", "最近", "近期", "近日", "一直", "经常", "每天", "天天",
    "多次", "长期", "长时间", "我们", "你们", "他们", "大家", "这个", "那个", "这里", "那里", "这边", "那边",
    "这样", "没有", "已经", "还是", "非常", "十分", "特别", "比较", "存在", "造成", "导致", "出现", "上报",
    "来电", "巡查", "管理", "落实", "重视", "能否", "是否", "可以", "能够", "一下", "一些", "有人", "时候",
    "今天", "昨天", "前天", "本人", "市民来电", "来电反映", "小区", "社区", "村里", "家里", "门口", "地方",
    "位置", "区域", "周围", "所在", "位于", "的", "了", "吗", "呢", "吧", "啊", "着", "很", "太", "都", "也",
    "又", "就", "请", "我", "您", "你", "他", "她", "它",
}, key=lambda w: (-len(w), w)))

# A place named in an address or a text: a name of 2–8 characters before one of these (金色家园, 人民路, 幸福里公寓;
# 翠苑 and 东府 with one); a building number (3幢, 5号楼) after it.
_PLACE_SUFFIX = ("小区", "花园", "家园", "新村", "新城", "公寓", "大厦", "广场", "苑", "府", "园", "村", "城",
                 "大道", "路", "街", "巷", "弄")
_SHORT_OK = ("苑", "府")
_ROADS = ("大道", "路", "街", "巷", "弄")
_SUFFIX = re.compile("|".join(s if s != "街" else "街(?!道)" for s in _PLACE_SUFFIX))
_WORD_TAIL = re.compile(r"[\u4e00-\u9fffa-z0-9]+$")  # the run of letters right before a suffix
_BUILDING = re.compile(r"(?:小区)?([0-9一二三四五六七八九十]+)(?:幢|栋|号楼|座)")
_HOUSE = re.compile(r"([0-9]+)号")
# a place name starts after the last of these (住在金色家园 → 金色家园; 长兴县雉城街道人民路 → 人民路)
_CUT = re.compile(r".*(?:省|市|县|(?<!小)区|镇|乡|街道|在|住|于|的|是|到|从|和|与|及|我|近|旁|边|对面|号|附近|靠近)")
_ADMIN_AFTER = re.compile(r"街道|镇|乡|(?<!小)区|县|市")  # 雉城街道 is a town, not a place on the map
_ADMIN = re.compile(r".*(?:省|市|县|(?<![小社])区|镇|乡|街道)")
_NOT_PLACES = frozenset({"公园", "花园", "广场", "马路", "道路", "公路", "小路", "街道", "大街", "农村", "乡村",
                         "城市", "县城", "进城", "城里", "校园", "菜园", "庄园", "家园", "新村", "新城", "十字路",
                         "一条路", "这条路", "那条路", "整条街", "一条街", "这条街"})
# a road's name does not end in these (马路, 走路, 修路, 过马路, 看不清路, 一条街, 逛街, 沿街 …)
_NOT_ROAD_CHARS = frozenset("幢栋楼0123456789马走修过清条小道公铁出上下看带引让堵挡绕一的个半同迷网线电水回后来去"
                            "逛沿临大满整当在到找问段些土进着了")
_SPLIT = re.compile(r"[^\u4e00-\u9fffA-Za-z0-9]+")
_STOP = re.compile("|".join(map(re.escape, STOP_WORDS)))
TEXT_CHARS = 400  # the first characters of a report compared (complaints say what they are about early)


_HALF_WIDTH = {c: c - 0xFEE0 for c in range(0xFF10, 0xFF5B) if chr(c - 0xFEE0).isalnum()}
_FULL_WIDTH_ALNUM = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_SPACE = re.compile(r"\s+")


def normalise(text: str | None) -> str:
    """Full-width letters and digits to half-width (３号楼 → 3号楼), lower case, no spaces. Punctuation is left:
    every reader splits on it. (Not NFKC: ≈ 29 µs for a 60-character report, this ≈ 2 µs.)"""
    t = text or ""
    if _FULL_WIDTH_ALNUM.search(t):
        t = t.translate(_HALF_WIDTH)
    return _SPACE.sub("", t).lower()


def _strip_name(name: str) -> str:
    """The name after the last word that cannot be part of it (住在金色家园 → 金色家园); a name that itself starts
    with such a character (和平) is kept; one cut to a single character is no name ("")."""
    m = _CUT.match(name)
    if m is None:
        return name
    rest = name[m.end():]
    if len(rest) >= 2:
        return rest
    return name if m.end() == 1 and _CUT.match(name[1:]) is None else ""


def places(text: str | None) -> tuple[str, ...]:
    """The places a text names, in order, without repeats: 小区 / estates (without the word 小区), roads, and a
    building as ``name + number幢`` when a number follows the name (金色家园3幢, also from 金色家园小区3号楼)."""
    return _places(normalise(text))


def _places(t: str) -> tuple[str, ...]:
    out: list[str] = []
    last = 0
    for m in _SUFFIX.finditer(t):
        suffix = m.group()
        head = _WORD_TAIL.search(t, max(last, m.start() - 8), m.start())
        last = m.end()
        if head is None:
            continue
        before = head.group()
        if suffix in _SHORT_OK:  # 翠苑: one character is a name
            cut = _CUT.match(before)
            name = before[cut.end():] if cut and cut.end() < len(before) else before
        else:
            name = _strip_name(before)
        if suffix in _ROADS:  # 人民路, 解放东路 — not 马路, 修路, 看不清路
            name = name[-4:]
            if name[-1:] in _NOT_ROAD_CHARS:
                continue
        if not name or (len(name) < 2 and suffix not in _SHORT_OK):
            continue
        place = name if suffix == "小区" else name + suffix
        if place in _NOT_PLACES or name.isdigit() or _ADMIN_AFTER.match(t, m.end()):
            continue
        b = _BUILDING.match(t, m.end())
        for p in (place, f"{place}{_digits(b.group(1))}幢" if b else None):
            if p and p not in out:
                out.append(p)
        if suffix in _ROADS and (h := _HOUSE.match(t, m.end())):
            out.append(f"{place}{int(h.group(1))}号")
    return tuple(out)


_CN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")}


def _digits(s: str) -> str:
    """Chinese numerals up to 99 as Arabic digits (三 → 3, 十二 → 12); digits unchanged."""
    if s.isdigit():
        return str(int(s))
    if "十" in s:
        tens, _, ones = s.partition("十")
        return str(_CN_DIGITS.get(tens, 1) * 10 + _CN_DIGITS.get(ones, 0))
    return "".join(str(_CN_DIGITS.get(c, c)) for c in s)


def address_key(address: str | None) -> str | None:
    """An address reduced to the spot it names: its building (金色家园3幢) or house number on a road (人民路88号),
    else its normalised text without the province … street prefix; None if empty."""
    a = normalise(address)
    return _address_key(a, _places(a))


def _address_key(a: str, named: tuple[str, ...]) -> str | None:
    specific = [p for p in named if p.endswith(("幢", "号"))]
    if specific:
        return specific[-1]
    return _ADMIN.sub("", a) or None


class Vocabulary:
    """Bigram weights from document frequencies (inverse document frequency, smoothed, at most 1): a bigram in
    every report weighs little, a rare one 1. Built from a deployment's own reports (:meth:`from_texts`)."""

    def __init__(self, df: Mapping[str, int], n: int) -> None:
        self.n = n
        top = math.log((n + 1) / 1) + 1
        self._w = {t: (math.log((n + 1) / (c + 1)) + 1) / top for t, c in df.items()}
        self._default = 1.0

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Vocabulary:
        df: Counter[str] = Counter()
        n = 0
        for t in texts:
            df.update(bigrams(_content(normalise(t))))
            n += 1
        return cls(df, n)

    def weight(self, term: str) -> float:
        return self._w.get(term, self._default)


def strip_generic(t: str) -> str:
    """The text with the generic words (:data:`STOP_WORDS`) cut out."""
    return _content(t)


def _content(t: str) -> str:
    """The text with the generic words cut out (each leaves a break, so no bigram spans it)."""
    return _STOP.sub(" ", t)


def bigrams(text: str) -> set[str]:
    """The character bigrams within each run of letters and digits (none across punctuation or a cut); a run of
    one character counts as itself."""
    runs = _SPLIT.split(text)
    out = {run[i:i + 2] for run in runs for i in range(len(run) - 1)}
    out.update(run for run in runs if len(run) == 1 and not run.isdigit())
    return out


@dataclass(frozen=True)
class Profile:
    """A report prepared for comparison: its content text, bigrams with their weights and squared norm, the
    places it names and its address key."""

    content: str
    terms: Mapping[str, float]
    norm2: float
    places: tuple[str, ...]
    address: str | None


def profile(title: str | None, description: str | None, address: str | None = None,
            vocabulary: Vocabulary | None = None, drop: Iterable[str] = ()) -> Profile:
    """Prepare a report (title + description + address) for :func:`text_similarity` and :func:`score`; ``drop``:
    words that say nothing here (the category's name — candidates are of the same or a related category)."""
    title, description = normalise(title), normalise(description)
    text = description if description.startswith(title) else f"{title}，{description}"
    text = text[:TEXT_CHARS]
    addr = normalise(address)
    at_address = _places(addr) if addr else ()
    named = tuple(dict.fromkeys((*at_address, *_places(text))))
    content = text
    for p in sorted((*named, *(normalise(d) for d in drop if d)), key=len, reverse=True):
        content = content.replace(p, " ")
    content = _content(_BUILDING.sub(" ", content))
    grams = bigrams(content)
    if vocabulary is None:
        terms = dict.fromkeys(grams, 1.0)
        norm2 = float(len(terms))
    else:
        terms = {g: vocabulary.weight(g) for g in grams}
        norm2 = sum(v * v for v in terms.values())
    return Profile(content=content, terms=terms, norm2=norm2, places=named,
                   address=_address_key(addr, at_address) if addr else None)


def text_similarity(a: Profile, b: Profile) -> float:
    """Cosine of the two weighted bigram sets, in [0, 1] (0 when either has none)."""
    if not a.norm2 or not b.norm2:
        return 0.0
    small, big = (a, b) if len(a.terms) <= len(b.terms) else (b, a)
    dot = sum(w * big.terms[t] for t, w in small.terms.items() if t in big.terms)
    return dot / math.sqrt(a.norm2 * b.norm2)


def shared_terms(a: Profile, b: Profile, limit: int = 4) -> list[str]:
    """The informative words the two share, longest first: the maximal stretches of ``a``'s content text whose
    every bigram ``b`` has too (油烟, 噪音扰民), without generic words."""
    runs: list[str] = []
    for run in _SPLIT.split(a.content):
        start = None
        for i in range(len(run) - 1):
            if run[i:i + 2] in b.terms:
                start = i if start is None else start
                continue
            if start is not None:
                runs.append(run[start:i + 1])
                start = None
        if start is not None:
            runs.append(run[start:])
    out: list[str] = []
    for r in sorted(set(runs), key=lambda r: (-len(r), runs.index(r))):
        if not any(r in o for o in out):
            out.append(r)
    return out[:limit]


def shared_place(a: Profile, b: Profile) -> str | None:
    """The most specific place both name (a building before a 小区 or road), or None."""
    common = [p for p in a.places if p in b.places]
    if not common:
        return None
    return max(common, key=lambda p: (p.endswith("幢"), len(p)))


@dataclass(frozen=True)
class Weights:
    """The parts of :func:`score` and their shapes (module docstring)."""

    text: float = 0.45
    nearness: float = 0.30
    recency: float = 0.15
    same_place: float = 0.10
    related: float = 0.85  # factor for a candidate of another category under the same parent
    distance_scale_m: float = 60.0  # nearness 1 / (1 + (d / scale)²)
    half_life_h: float = 36.0  # recency 0.5 ^ (hours / half-life)
    same_address: float = 0.9  # nearness without two points
    same_estate: float = 0.6
    same_grid: float = 0.5


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True)
class Match:
    """Why two reports look like one problem: the parts of the score and what the explanation names."""

    score: float
    text: float
    nearness: float
    recency: float
    distance_m: float | None
    hours: float
    place: str | None  # the place both name
    where: str | None  # without two points: "address" | "estate" | "grid"
    related: str | None  # the candidate's category name when it is a related one
    terms: list[str] = field(default_factory=list)

    @property
    def explanation(self) -> str:
        return explain(self)


def nearness(distance_m: float, w: Weights = DEFAULT_WEIGHTS) -> float:
    return 1.0 / (1.0 + (distance_m / w.distance_scale_m) ** 2)


def recency(hours: float, w: Weights = DEFAULT_WEIGHTS) -> float:
    return 0.5 ** (abs(hours) / w.half_life_h)


def score(a: Profile, b: Profile, *, distance_m: float | None, hours: float, same_grid: bool = False,
          related: str | None = None, w: Weights = DEFAULT_WEIGHTS, explain_from: float = 0.0) -> Match:
    """Score report ``a`` against candidate ``b``: ``distance_m`` None when either has no point (then the address,
    the 小区 named or the grid stand in for it); ``hours`` apart; ``related`` the candidate's category name when it
    is another category under the same parent. The shared words are looked for only from ``explain_from`` up (a
    match below the threshold is never shown)."""
    t = text_similarity(a, b)
    place = shared_place(a, b)
    where = None
    if distance_m is not None:
        near = nearness(distance_m, w)
    elif a.address is not None and a.address == b.address:
        near, where = w.same_address, "address"
    elif place is not None:
        near, where = w.same_estate, "estate"
    elif same_grid:
        near, where = w.same_grid, "grid"
    else:
        near = 0.0
    rec = recency(hours, w)
    s = w.text * t + w.nearness * near + w.recency * rec + w.same_place * (1.0 if place else 0.0)
    if related is not None:
        s *= w.related
    return Match(score=round(min(1.0, s), 4), text=t, nearness=near, recency=rec, distance_m=distance_m,
                 hours=abs(hours), place=place, where=where, related=related,
                 terms=shared_terms(a, b) if t > 0 and s >= explain_from else [])


def _ago(hours: float) -> str:
    if hours < 1:
        return "相隔不到1小时"
    if hours < 24:
        return f"相隔{int(hours)}小时"
    return f"相隔{round(hours / 24)}天"


def explain(m: Match) -> str:
    """The reasons in Chinese, most telling first: “同一小区（金色家园），相距120米，相隔2天，共同词：油烟 噪音”."""
    parts: list[str] = []
    if m.place:
        kind = ("同一楼栋" if m.place.endswith("幢") else "同一地址" if m.place.endswith("号")
                else "同一道路" if m.place.endswith(_ROADS) else "同一小区")
        parts.append(f"{kind}（{m.place}）")
    if m.distance_m is not None:
        parts.append("相距不到10米" if m.distance_m < 10 else f"相距{int(round(m.distance_m, -1))}米")
    elif m.where == "address":
        parts.append("地址相同")
    elif m.where == "grid":
        parts.append("同一网格")
    parts.append(_ago(m.hours))
    if m.terms:
        parts.append("共同词：" + " ".join(m.terms))
    elif m.text >= 0.5:
        parts.append("描述相近")
    if m.related:
        parts.append(f"相近类别（{m.related}）")
    return "，".join(parts)
