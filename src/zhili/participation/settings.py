"""Settings of resident participation (``ZHILI_*`` environment variables, like :mod:`zhili.core.settings`).

Which cases the public "nearby" list may show is not decided here but by the one public-visibility rule of the
case loop, :mod:`zhili.cases.public` (its category allow-list is ``ZHILI_PUBLIC_CATEGORY_PREFIXES``), which every
unauthenticated surface (Open311 included) shares.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


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


@lru_cache
def participation_settings() -> ParticipationSettings:
    """The process-wide participation settings (cached)."""
    return ParticipationSettings()
