"""Validators for Chinese identifiers: 公民身份号码 (GB 11643), 统一社会信用代码 (GB 32100), mobile numbers.

Each returns the normalised value or raises :class:`ValidationFailed` with a Chinese message and a stable code.
"""

from __future__ import annotations

import datetime as dt
import math
import re

from zhili.core import clock
from zhili.core.errors import ValidationFailed

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# GB/T 2260 province-level prefixes (first two digits) in use; 71 台湾, 81 香港, 82 澳门 included.
_PROVINCES = {
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42",
    "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82",
}
_ID_RE = re.compile(r"^\d{17}[\dX]$", re.ASCII)  # ASCII: \d must not match full-width digits


def id_check_digit(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def validate_id_number(value: str, *, today: dt.date | None = None) -> str:
    """Validate an 18-character citizen ID number; return it upper-cased."""
    v = (value or "").strip().upper()
    if not _ID_RE.match(v):
        raise ValidationFailed("身份证号码格式不正确：应为18位，前17位为数字，末位为数字或X", code="id_number_format")
    if v[:2] not in _PROVINCES:
        raise ValidationFailed("身份证号码的地区码不存在", code="id_number_region")
    try:
        born = dt.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError as exc:
        raise ValidationFailed("身份证号码中的出生日期无效", code="id_number_birthdate") from exc
    today = today or clock.today()
    if born > today or born.year < 1880:
        raise ValidationFailed("身份证号码中的出生日期超出合理范围", code="id_number_birthdate")
    if id_check_digit(v[:17]) != v[17]:
        raise ValidationFailed("身份证号码校验位错误", code="id_number_checksum")
    return v


def birth_date_from_id(id_number: str) -> dt.date:
    """Birth date encoded in a (valid) ID number."""
    return dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def gender_from_id(id_number: str) -> str:
    """'male' or 'female' from the 17th digit (odd = male)."""
    return "male" if int(id_number[16]) % 2 == 1 else "female"


# GB 32100: 18 characters from this alphabet (no I, O, Z, S, V).
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$", re.ASCII)


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters."""
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(value: str) -> str:
    """Validate a unified social credit code; return it upper-cased."""
    v = (value or "").strip().upper()
    if not _USCC_RE.match(v):
        raise ValidationFailed(
            "统一社会信用代码格式不正确：应为18位数字或大写字母（不含I、O、Z、S、V）", code="credit_code_format"
        )
    if uscc_check_char(v[:17]) != v[17]:
        raise ValidationFailed("统一社会信用代码校验位错误", code="credit_code_checksum")
    return v


_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$", re.ASCII)


def usable_point(lon: float | None, lat: float | None) -> tuple[float, float] | None:
    """``(lon, lat)`` when a stored point can be computed with and shown — both finite and on the globe — else
    None. Inputs are validated where they are written; readers ask this of stored rows (a legacy row or an import
    may hold anything)."""
    if (lon is not None and lat is not None and math.isfinite(lon) and math.isfinite(lat)
            and -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        return lon, lat
    return None


def personal_number_kind(text: str) -> str | None:
    """``"id_number"`` or ``"phone"`` when a search text is an ID number or a mobile number, else None: such a
    search is posted, never put in a URL (access logs, proxies, browser history)."""
    q = (text or "").strip()
    if re.fullmatch(r"\d{17}[\dXx]", q):
        return "id_number"
    if re.fullmatch(r"(\+?86)?1\d{10}", q.replace(" ", "").replace("-", "")):
        return "phone"
    return None


def validate_mobile(value: str) -> str:
    """Validate a mainland mobile number (optionally with +86 / 86 prefix, spaces or dashes)."""
    v = re.sub(r"[\s-]", "", value or "")
    if v.startswith("+86"):
        v = v[3:]
    elif v.startswith("86") and len(v) == 13:
        v = v[2:]
    if not _MOBILE_RE.match(v):
        raise ValidationFailed("手机号码格式不正确：应为11位、以1开头的中国大陆手机号", code="mobile_format")
    return v
