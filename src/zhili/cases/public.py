"""The one public-visibility rule: which cases, which fields and how precise a location anyone may see without
logging in (Open311 lists, single requests, tokens and media; the resident portal's public list; later open data).

A case is public when all of these hold:

- ``Case.is_public`` (the reporter did not ask for privacy; department-internal cases never are),
- it is not merged into another case (the master stands for it),
- its category code starts with one of ``public_category_prefixes`` — an allow-list (``ZHILI_PUBLIC_CATEGORY_PREFIXES``,
  a JSON list), so a category added later stays private until someone decides otherwise. The default lists
  city-management components and events (``BJ-``, ``SJ-``) and the social categories about shared places and
  services (safety SG-03, fire SG-04, utilities SG-05, common parts of housing SG-0601..0603, environment SG-12), and
  leaves out everything about persons or disputes: 矛盾纠纷 (SG-01), 治安隐患 (SG-02), 社保就业, 养老, 医疗, 教育,
  住房保障与不动产登记 (SG-0604/0605), 政策咨询, 特殊人群服务 and 建议表扬;
- and, where the surface says so, it is still open (the portal lists open cases; Open311 also serves closed ones).

What is shown: free text only through :func:`public_text` (ID- and phone-shaped text masked); the location exactly
only for categories on ``public_exact_location_prefixes`` (``ZHILI_PUBLIC_EXACT_LOCATION_PREFIXES``; default the
city-management components and events, whose place *is* the problem). For every other public category the point is
rounded to ``public_coarse_decimals`` decimal places (3: about 110 m north–south, 95 m east–west here) and the
street address is withheld, so a public case cannot be traced to a door.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import ColumnElement, and_, false, or_

from zhili.cases.models import OPEN_STATES, Case
from zhili.core.masking import mask_text
from zhili.core.query import starts_with_text
from zhili.core.validators import usable_point

DEFAULT_PUBLIC_PREFIXES = ("BJ-", "SJ-", "SG-03", "SG-04", "SG-05", "SG-0601", "SG-0602", "SG-0603", "SG-12")
DEFAULT_EXACT_LOCATION_PREFIXES = ("BJ-", "SJ-")


class PublicSettings(BaseSettings):
    """Which categories are public and which of them keep an exact location."""

    model_config = SettingsConfigDict(env_prefix="ZHILI_", env_file=".env", extra="ignore")

    public_category_prefixes: tuple[str, ...] = DEFAULT_PUBLIC_PREFIXES
    public_exact_location_prefixes: tuple[str, ...] = DEFAULT_EXACT_LOCATION_PREFIXES
    public_coarse_decimals: int = 3


@lru_cache
def public_settings() -> PublicSettings:
    """The process-wide public-visibility settings (cached; tests call ``public_settings.cache_clear()``)."""
    return PublicSettings()


def _starts(code: str | None, prefixes: Collection[str]) -> bool:
    return bool(code) and any(str(code).startswith(p) for p in prefixes)


def is_public_category(code: str | None) -> bool:
    """True if cases of this category may be shown to the public at all."""
    return _starts(code, public_settings().public_category_prefixes)


def public_filter(*, open_only: bool) -> ColumnElement[bool]:
    """The rule as a SQL condition on ``Case`` (for lists and single lookups alike)."""
    prefixes = public_settings().public_category_prefixes
    category = or_(*[starts_with_text(Case.category_code, p) for p in prefixes]) if prefixes else false()
    cond = and_(Case.is_public.is_(True), Case.master_case_id.is_(None), category)
    return and_(cond, Case.state.in_(OPEN_STATES)) if open_only else cond


def is_public_case(case: Case, *, open_only: bool) -> bool:
    """The rule for a loaded case (same as :func:`public_filter`)."""
    return (bool(case.is_public) and case.master_case_id is None and is_public_category(case.category_code)
            and (not open_only or case.state in OPEN_STATES))


def exact_location(code: str | None) -> bool:
    """True if the public may see this category's exact point and address."""
    return _starts(code, public_settings().public_exact_location_prefixes)


def public_point(case: Case) -> tuple[float | None, float | None]:
    """``(lat, lon)`` as the public may see them: exact or rounded (see the module text)."""
    point = usable_point(case.lon, case.lat)
    if point is None:
        return None, None
    lon, lat = point
    if exact_location(case.category_code):
        return lat, lon
    n = public_settings().public_coarse_decimals
    return round(lat, n), round(lon, n)


def public_address(case: Case) -> str | None:
    """The address as the public may see it: masked, and only for exact-location categories."""
    if not case.address or not exact_location(case.category_code):
        return None
    return public_text(case.address)


def public_text(text: str | None) -> str:
    """Free text as the public may see it (ID- and phone-shaped text masked)."""
    return mask_text(text or "")
