"""Settings of resident participation (``ZHILI_*`` environment variables, like :mod:`zhili.core.settings`).

Which cases the public "nearby" list may show is decided here: a case is listed only if its category code starts
with one of ``public_category_prefixes`` (an allow-list, so a category added later stays private until someone
decides otherwise). The default lists city-management components and events (``BJ-``, ``SJ-``) and the social
categories about shared places and services (safety, fire, utilities, common parts of housing, environment), and
leaves out everything about persons or disputes: 矛盾纠纷 (SG-01), 治安隐患 (SG-02), 社保就业, 养老, 医疗, 教育,
住房保障与不动产登记 (SG-0604/0605), 政策咨询, 特殊人群服务 and 建议表扬.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PUBLIC_PREFIXES = ("BJ-", "SJ-", "SG-03", "SG-04", "SG-05", "SG-0601", "SG-0602", "SG-0603", "SG-12")


class ParticipationSettings(BaseSettings):
    """Limits of the SMS code flow and of the public nearby list."""

    model_config = SettingsConfigDict(env_prefix="ZHILI_", env_file=".env", extra="ignore")

    sms_code_ttl_s: int = 300  # a code is valid for 5 minutes
    sms_code_max_attempts: int = 5  # wrong entries before the code is void
    sms_resend_s: int = 60  # one code per phone per minute
    sms_daily_per_phone: int = 10
    sms_daily_per_ip: int = 30
    nearby_radius_m: float = 1000.0
    nearby_max_radius_m: float = 5000.0
    suggest_radius_m: float = 500.0  # "support instead?" suggestions on the report form
    public_category_prefixes: tuple[str, ...] = DEFAULT_PUBLIC_PREFIXES


@lru_cache
def participation_settings() -> ParticipationSettings:
    """The process-wide participation settings (cached)."""
    return ParticipationSettings()
