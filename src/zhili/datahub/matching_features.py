"""Normalisation and comparison features for entity resolution (实体解析的特征).

Every record handed to :class:`zhili.datahub.matching.Matcher` is turned into one flat row of *features* here,
in plain Python, before any pair is compared. The comparisons themselves (SQL in DuckDB, see ``matching.py``)
only ever look at these columns, so everything a comparison tolerates is decided in this module:

* text: Unicode NFKC (full-width digits and letters become ASCII), lower case, spaces and punctuation removed,
  a few variant characters folded (``VARIANTS``);
* names: pinyin of each Chinese character (``pypinyin``, no tones) so 同音字 typos (张伟/张玮) compare equal;
  the syllables sorted, so swapped name order (surname last, Latin given/surname swapped) compares equal;
  initials (``zw``) and the surname's pinyin (compound surnames such as 欧阳 kept whole) for blocking;
* phones: digits only, a leading ``86`` country code dropped, the last eight digits;
* birth dates: ISO ``YYYY-MM-DD`` plus year, month and day separately (a date off by one part still compares);
* ID numbers: upper-case letters and digits only; the first 14 characters (region + birth date of a GB 11643
  number) for blocking; ``idn_ok`` whether the GB 11643 check digit is right — two *valid* numbers that differ
  in a digit or two are two people born the same day in the same county, not a typo;
* addresses: 幢/号楼/座 → 栋, Chinese numerals before a unit word → digits, then tokens split after the
  administrative and building words (省 市 区 县 街道 镇 社区 路 号 栋 单元 室 …); numeric tokens keep only their
  digits so ``3栋2单元301室`` and ``3-2-301`` share tokens; ``addr_main`` is the most specific non-numeric token
  (the road, 小区 or village) used for blocking.

Nothing here keeps or logs values; features live only in memory for the duration of a match run.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import zlib
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pypinyin import Style, lazy_pinyin

from zhili.core.validators import id_check_digit

# Variant characters folded before comparison (异体字 / common typing variants). Kept short on purpose: pinyin
# comparison already absorbs most 同音字 typos.
VARIANTS = str.maketrans(
    {
        "於": "于",
        "锺": "钟",
        "崑": "昆",
        "峯": "峰",
        "牀": "床",
        "〇": "零",
        "幢": "栋",
        "棟": "栋",
        "號": "号",
        "樓": "楼",
        "單": "单",
        "ü": "v",
    }
)

_COMPOUND = "欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 令狐 夏侯 长孙 宇文 司徒 端木 独孤 南宫 西门 呼延 轩辕"
COMPOUND_SURNAMES = frozenset(_COMPOUND.split())

_CJK = re.compile(r"[\u3400-\u9fff]")
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_DIGITS = re.compile(r"\d+")
_CN_NUM = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_NUMERAL_UNIT = re.compile(r"([零一二两三四五六七八九十]{1,3})(?=(?:号楼|号|栋|单元|室|楼|层|组|巷|弄))")
_BUILDING_WORDS = re.compile(r"(号楼|座)")
_ADDR_TOKEN = re.compile(
    r"\d+[a-z]?(?:号楼|号|栋|单元|室|楼|层|组)?"
    r"|[a-z]+"
    r"|[^\da-z]+?(?:自治区|自治州|特别行政区|省|市|区|县|旗|街道|镇|乡|社区|村|大道|路|街|巷|弄|胡同"
    r"|小区|花园|家园|新村|公寓|大厦|广场|苑|园|号|栋|单元|室|楼|层|组)"
    r"|[^\da-z]+"
)
_ROADLIKE = (
    "大道",
    "路",
    "街",
    "巷",
    "弄",
    "胡同",
    "小区",
    "花园",
    "家园",
    "新村",
    "公寓",
    "大厦",
    "苑",
    "园",
    "村",
    "里",
)
_ADMIN_SUFFIX = ("省", "市", "区", "县", "旗", "州", "盟", "街道", "镇", "乡", "社区", "自治区", "特别行政区")


def fold(text: Any) -> str:
    """NFKC, lower case, variant characters folded, spaces and punctuation removed."""
    if text is None:
        return ""
    value = unicodedata.normalize("NFKC", str(text)).lower().translate(VARIANTS)
    return _NON_WORD.sub("", value)


@lru_cache(maxsize=65536)
def _char_pinyin(char: str) -> str:
    return lazy_pinyin(char, style=Style.NORMAL)[0]


def syllables(name: Any) -> list[str]:
    """The name as pinyin syllables (Chinese characters) and lower-case words (Latin), in writing order."""
    if name is None:
        return []
    text = unicodedata.normalize("NFKC", str(name)).lower().translate(VARIANTS)
    out: list[str] = []
    for chunk in _NON_WORD.split(text):
        if not chunk:
            continue
        word = ""
        for char in chunk:
            if _CJK.match(char):
                if word:
                    out.append(word)
                    word = ""
                out.append(_char_pinyin(char))
            else:
                word += char
        if word:
            out.append(word)
    return out


@lru_cache(maxsize=262144)
def name_features(name: str) -> tuple[str, str, str, str, str]:
    """(normalised name, pinyin, sorted pinyin, initials, surname pinyin) of one name; empty strings if absent.

    The surname is the first character (or a compound surname) of a Chinese name and the first word of a
    Latin one — callers pass Latin names surname first, like Chinese ones.
    """
    norm = fold(name)
    if not norm:
        return "", "", "", "", ""
    parts = syllables(name)
    pinyin = "".join(parts)
    swapped = "".join(sorted(parts))
    initials = "".join(p[0] for p in parts if p)
    if _CJK.match(norm[0]):
        surname_chars = 2 if norm[:2] in COMPOUND_SURNAMES else 1
        surname = "".join(parts[:surname_chars])
    else:
        surname = parts[0] if parts else ""
    return norm, pinyin, swapped, initials, surname


def phone_digits(phone: Any) -> str:
    """Digits only; a leading 86 / 0086 country code is dropped from mobile numbers."""
    if phone is None:
        return ""
    digits = "".join(_DIGITS.findall(unicodedata.normalize("NFKC", str(phone))))
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    elif len(digits) == 15 and digits.startswith("0086"):
        digits = digits[4:]
    return digits


def birth_date(value: Any) -> str:
    """ISO date string, or '' when absent or not a real date. Accepts dates, ISO strings and YYYYMMDD."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    digits = "".join(_DIGITS.findall(unicodedata.normalize("NFKC", str(value))))
    if len(digits) != 8:
        parts = _DIGITS.findall(unicodedata.normalize("NFKC", str(value)))
        if len(parts) == 3 and len(parts[0]) == 4:
            digits = parts[0] + parts[1].zfill(2) + parts[2].zfill(2)
        else:
            return ""
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8])).isoformat()
    except ValueError:
        return ""


_GENDERS = {
    **dict.fromkeys(("男", "男性", "m", "male", "1"), "m"),
    **dict.fromkeys(("女", "女性", "f", "female", "2"), "f"),
}


def gender(value: Any) -> str:
    if value is None:
        return ""
    raw = getattr(value, "value", value)
    return _GENDERS.get(fold(raw), "")


def id_number(value: Any) -> str:
    if value is None:
        return ""
    return fold(value).upper()


def _cn_numeral(match: re.Match[str]) -> str:
    text = match.group(1)
    if "十" in text:
        head, _, tail = text.partition("十")
        return str((_CN_NUM.get(head, 1) if head else 1) * 10 + (_CN_NUM.get(tail, 0) if tail else 0))
    return "".join(str(_CN_NUM[c]) for c in text)


@lru_cache(maxsize=262144)
def address_features(address: str) -> tuple[str, tuple[str, ...], str]:
    """(normalised address, tokens, main token) of one address."""
    text = unicodedata.normalize("NFKC", address).lower().translate(VARIANTS)
    text = _BUILDING_WORDS.sub("栋", text)
    text = _CN_NUMERAL_UNIT.sub(_cn_numeral, text)
    tokens: list[str] = []
    for chunk in _NON_WORD.split(text):
        for token in _ADDR_TOKEN.findall(chunk):
            digits = _DIGITS.match(token)
            tokens.append(digits.group(0) if digits else token)
    norm = " ".join(tokens)
    main = ""
    for token in tokens:
        if not token[0].isdigit() and token.endswith(_ROADLIKE):
            main = token
            break
    if not main:
        words = [t for t in tokens if not t[0].isdigit() and not t.endswith(_ADMIN_SUFFIX)]
        main = max(words, key=len) if words else ""
    return norm, tuple(tokens), main


FEATURE_COLUMNS: dict[str, str] = {
    "unique_id": "VARCHAR",
    "name_n": "VARCHAR",
    "name_py": "VARCHAR",
    "name_sw": "VARCHAR",
    "name_ini": "VARCHAR",
    "surname_py": "VARCHAR",
    "dob": "VARCHAR",
    "dob_y": "VARCHAR",
    "dob_m": "VARCHAR",
    "dob_d": "VARCHAR",
    "gender": "VARCHAR",
    "phone": "VARCHAR",
    "phone8": "VARCHAR",
    "idn": "VARCHAR",
    "idn_p": "VARCHAR",
    "idn_ok": "BOOLEAN",
    "addr": "VARCHAR",
    "addr_b1": "BIGINT",
    "addr_b2": "BIGINT",
    "addr_main": "VARCHAR",
    "extra": "VARCHAR",
}


def token_bits(tokens: tuple[str, ...]) -> tuple[int | None, int | None]:
    """The token set as a 128-bit set (two signed 64-bit halves): each token sets one bit chosen by CRC-32.

    Token Jaccard is then ``popcount(a & b) / popcount(a | b)`` — a few integer operations per pair in DuckDB
    instead of list intersections (measured 5x–15x faster); colliding tokens slightly overstate similarity.
    """
    if not tokens:
        return None, None
    bits = 0
    for token in tokens:
        bits |= 1 << (zlib.crc32(token.encode()) & 127)
    low, high = bits & (2**64 - 1), bits >> 64

    def signed(v: int) -> int:
        return v - 2**64 if v >= 2**63 else v

    return signed(low), signed(high)


_GB11643 = re.compile(r"\d{17}[\dX]")


def checksum_ok(idn: str) -> bool:
    """True for an 18-character ID number whose GB 11643 check digit is right (a typo almost always breaks it)."""
    return bool(_GB11643.fullmatch(idn)) and id_check_digit(idn[:17]) == idn[17]


def _addr_bits(tokens: tuple[str, ...]) -> dict[str, int | None]:
    b1, b2 = token_bits(tokens)
    return {"addr_b1": b1, "addr_b2": b2}


def _or_none(value: str) -> str | None:
    return value or None


def person_features(record: Mapping[str, Any]) -> dict[str, Any]:
    """Feature row of one person record (standard values: name, birth_date, gender, phone, id_number, address)."""
    norm, pinyin, swapped, initials, surname = name_features(str(record.get("name") or ""))
    dob = birth_date(record.get("birth_date"))
    phone = phone_digits(record.get("phone"))
    idn = id_number(record.get("id_number"))
    addr, tokens, main = address_features(str(record.get("address") or ""))
    return {
        "unique_id": str(record["id"]),
        "name_n": _or_none(norm),
        "name_py": _or_none(pinyin),
        "name_sw": _or_none(swapped),
        "name_ini": _or_none(initials),
        "surname_py": _or_none(surname),
        "dob": _or_none(dob),
        "dob_y": _or_none(dob[:4]),
        "dob_m": _or_none(dob[5:7]),
        "dob_d": _or_none(dob[8:10]),
        "gender": _or_none(gender(record.get("gender"))),
        "phone": _or_none(phone),
        "phone8": phone[-8:] if len(phone) >= 8 else None,
        "idn": _or_none(idn),
        "idn_p": idn[:14] if len(idn) >= 14 else _or_none(idn),
        "idn_ok": checksum_ok(idn),
        "addr": _or_none(addr),
        **_addr_bits(tokens),
        "addr_main": _or_none(main),
        "extra": None,
    }


def organisation_features(record: Mapping[str, Any]) -> dict[str, Any]:
    """Organisations reuse the person columns: name, credit code as the key, contact phone, address, and the
    legal representative's name (pinyin) in ``extra``."""
    norm, pinyin, swapped, initials, _ = name_features(str(record.get("name") or ""))
    phone = phone_digits(record.get("contact_phone") or record.get("phone"))
    idn = id_number(record.get("credit_code"))
    addr, tokens, main = address_features(str(record.get("address") or ""))
    rep = name_features(str(record.get("legal_rep") or ""))[1]
    return {
        "unique_id": str(record["id"]),
        "name_n": _or_none(norm),
        "name_py": _or_none(pinyin),
        "name_sw": _or_none(swapped),
        "name_ini": _or_none(initials[:4]),
        "surname_py": _or_none(pinyin[:4]),
        "dob": None,
        "dob_y": None,
        "dob_m": None,
        "dob_d": None,
        "gender": None,
        "phone": _or_none(phone),
        "phone8": phone[-8:] if len(phone) >= 8 else None,
        "idn": _or_none(idn),
        "idn_p": idn[:8] if len(idn) >= 8 else _or_none(idn),
        "idn_ok": False,
        "addr": _or_none(addr),
        **_addr_bits(tokens),
        "addr_main": _or_none(main),
        "extra": _or_none(rep),
    }


def building_features(record: Mapping[str, Any]) -> dict[str, Any]:
    """Buildings: the address is the main evidence; the building name and the compound (小区) help."""
    norm, pinyin, swapped, initials, _ = name_features(str(record.get("name") or ""))
    addr, tokens, main = address_features(str(record.get("address") or ""))
    compound = fold(record.get("compound"))
    return {
        "unique_id": str(record["id"]),
        "name_n": _or_none(norm),
        "name_py": _or_none(pinyin),
        "name_sw": _or_none(swapped),
        "name_ini": _or_none(initials),
        "surname_py": None,
        "dob": None,
        "dob_y": None,
        "dob_m": None,
        "dob_d": None,
        "gender": None,
        "phone": None,
        "phone8": None,
        "idn": None,
        "idn_p": None,
        "idn_ok": False,
        "addr": _or_none(addr),
        **_addr_bits(tokens),
        "addr_main": _or_none(main or compound),
        "extra": _or_none(compound),
    }
