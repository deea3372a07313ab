"""Configuration from environment variables prefixed ``ZHILI_`` (pydantic-settings)."""

from __future__ import annotations

import base64
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime settings; every field can be set with ``ZHILI_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="ZHILI_", env_file=".env", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    var_dir: Path = Path("var")
    database_url: str = ""
    # A streaming read replica of the PostgreSQL primary (docs/reliability.md "Read replica"): the read-heavy
    # paths (screen, dashboards, analytics, exports, 4E reads) read there when it is fresh enough; empty = every
    # read on database_url. PostgreSQL only (SQLite has no streaming replica: refused at start).
    read_database_url: str = ""
    # the replica is not read while it lacks WAL the primary has written and its last replayed transaction is
    # older than this (an idle primary writes nothing: a replica that lacks nothing is never "behind") …
    read_max_lag_s: float = 30.0
    read_max_lag_bytes: int = 64 * 1024 * 1024  # … or while it lacks more than this much WAL (0 = no byte limit)
    read_connect_timeout_s: int = 2  # libpq's connect_timeout for the replica (its minimum is 2)
    read_retry_s: float = 10.0  # after a failure the replica is left alone this long (circuit breaker), then tried
    read_check_interval_s: float = 1.0  # the primary's WAL position is sampled at most this often per process
    # the replica down: "primary" = its reads go to the primary (logged, shown in the health checks); "fail" =
    # they answer 503 with a Chinese message (for a primary that cannot carry the analytics load)
    read_on_replica_down: Literal["primary", "fail"] = "primary"
    # Field-encryption algorithm: AES-256-GCM by default; SM4-GCM + HMAC-SM3 for 国密 deployments.
    crypto_suite: Literal["aes", "sm"] = "aes"
    # Key material: JSON {"active": "k1", "keys": {"k1": "<base64 32 bytes>"}, "index_key": "<base64>",
    # "session_secret": "<base64>"}; if empty, read from key_file (created on first run, mode 0600).
    keys: str = ""
    key_file: Path | None = None
    district_code: str = "330522"
    session_hours: int = 12
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    default_page_size: int = 50
    max_page_size: int = 500
    cors_origins: list[str] = Field(default_factory=list)
    # TLS deployments: mark the session and CSRF cookies Secure even when a proxy forwards plain HTTP.
    cookie_secure: bool = False
    # Reverse proxies whose X-Forwarded-For is believed (IPs or CIDRs, JSON list or comma-separated); empty =
    # the header is never read and the TCP peer is the client (zhili.core.netaddr).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: str = "INFO"
    # Case loop.
    warning_fraction: float = 0.8  # yellow light when this share of the handling limit has passed
    escalate_after_hours: float = 8.0  # working hours overdue before supervision goes to the superior
    reopen_window_days: int = 7
    duplicate_radius_m: float = 150.0
    duplicate_window_hours: float = 72.0
    # duplicate suggestions (zhili.cases.similarity): the least score shown; the least text similarity for a
    # candidate without a point on either side, and for one of a related category (same parent)
    duplicate_min_score: float = 0.4
    duplicate_text_without_point: float = 0.1
    duplicate_text_related: float = 0.5
    auto_dispatch_confidence: float = 0.8
    # 智能分拨: a report filed without a category takes the text model's suggestion at or above this probability;
    # below it the report is refused with the top suggestions for a person to pick (zhili.cases.suggest)
    intel_auto_confidence: float = 0.85
    # the intelligence jobs run by the server's background thread (0 turns one off; `zhili ml train`,
    # `zhili intel warn-scan` and `zhili intel risk` do the same by hand or from cron)
    intel_scan_interval_s: int = 3600  # early-warning scan
    intel_retrain_days: float = 7.0  # routing models retrained (kept only when better: activate="better")
    intel_risk_interval_s: int = 6 * 3600  # the coming week's grid ranking, computed when missing
    max_upload_bytes: int = 10 * 1024 * 1024
    files_dir: Path | None = None  # default var_dir / "files"
    webhook_url: str = ""  # notification webhook; empty = log only
    timezone: str = "Asia/Shanghai"
    sweep_interval_s: int = 60  # deadline sweep in each server process (lease-guarded); 0 = off
    # data hub uploads up to this size are imported while the request waits; larger ones in a background thread
    # (the request answers 202 at once and the page or client polls the import)
    hub_inline_import_bytes: int = 2 * 1024 * 1024
    # Early warning (预警, zhili.intel.warnings; docs/intel.md "预警").
    warn_surge_alpha: float = 0.001  # a unit × category day/week is flagged when P(X ≥ observed) ≤ this
    warn_surge_window_days: int = 56  # trailing days behind the expected level
    warn_surge_min_expected: float = 0.5  # expected cases a day are never taken below this (sparse series)
    warn_surge_min_expected_week: float = 2.0  # … nor a week's below this
    warn_surge_min_count: int = 3  # fewer cases than this in the day/week never alarm
    warn_surge_history_days: int = 730  # cases read to fit the baselines
    warn_surge_lookback_days: int = 7  # completed days (and the ISO weeks among them) checked on each scan
    warn_repeat_count: int = 3  # same person or door address at least this many times …
    warn_repeat_days: int = 30  # … within this many days
    warn_unvisited_days: int = 30  # a special-care resident's household visited at least once in this many days
    # per care tag (registry.models.CARE_TAGS), JSON, e.g. {"elderly_alone": 14}
    warn_unvisited_days_by_tag: dict[str, int] = Field(default_factory=dict)
    warn_overdue_days: int = 30  # cases whose handling deadline fell in these last days
    warn_overdue_alpha: float = 0.001  # binomial tail against the rest of the street
    warn_overdue_min_cases: int = 10
    warn_overdue_min_ratio: float = 2.0  # the grid's overdue share at least this many times its peers'
    # Rental housing (zhili.rental). The police registration interface: check-ins and check-outs are POSTed as
    # JSON signed with HMAC-SHA256 under police_secret; an empty police_url keeps them pending (not sent, visible).
    police_url: str = ""
    police_secret: str = ""
    police_timeout_s: float = 5.0
    rental_scan_interval_s: int = 3600  # the rental rules' scan in the server's sweep thread (0 = off)
    # 4E scoring of the current and the last closed month/quarter/year, and the data sets' reminders (0 = off);
    # a closed period whose inputs did not change keeps its run
    eval_interval_s: int = 21600
    # Partitioned history on PostgreSQL (zhili.core.partitions, zhili.core.archive): monthly partitions made this
    # many months ahead by the sweep thread (lease-guarded, every partition_interval_s; 0 = off); months of audit
    # log and case timeline kept online before `zhili db archive` may take them off (never fewer than 6:
    # 网络安全法 第二十一条); where archive files go (default var_dir / "archive").
    partition_months_ahead: int = 3
    partition_interval_s: int = 3600
    history_online_months: int = 12
    archive_dir: Path | None = None
    rental_overstay_grace_days: int = 3  # an active stay this many days past its expected move-out / contract end
    rental_vacant_days: int = 30  # a room with no active stay for at least this many days …
    rental_activity_days: int = 7  # … but lock or meter signals in these last days: vacant with activity
    rental_activity_min_signals: int = 3  # … at least this many (a single meter reading is not occupancy)
    rental_permit_due_days: int = 180  # a floating resident's stay this long: residence permit (居住证) due

    # IoT perception (物联感知, zhili.iot; docs/iot.md). The ingest (`zhili iot run`) connects to this broker:
    # mqtt://host:1883 or mqtts://host:8883 (TLS: CA file, and a client certificate + key for mutual TLS).
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_username: str = ""
    mqtt_password: str = ""
    mqtt_ca_file: str = ""
    mqtt_cert_file: str = ""
    mqtt_key_file: str = ""
    # MQTT 5 by default: the broker then sends as many unacknowledged messages as the ingest's Receive Maximum
    # (65535) allows; an MQTT 3.1.1 session is held to the broker's max_inflight_messages (Mosquitto: 20)
    mqtt_protocol: Literal["3.1.1", "5"] = "5"
    mqtt_topic_prefix: str = "zhili"  # topics: {prefix}/{district}/{device_type}/{device_id}/{kind}
    mqtt_district: str = ""  # the {district} segment subscribed to; empty: district_code
    mqtt_client_id: str = "zhili-ingest"  # fixed, so the broker keeps the session (and QoS 1 backlog) across restarts
    mqtt_session_expiry_s: int = 7 * 86400  # MQTT 5: how long the broker keeps the session while we are away
    iot_batch_max: int = 500  # messages written (and acknowledged) per transaction …
    iot_batch_ms: int = 50  # … or whatever arrived within this many milliseconds
    iot_max_payload_bytes: int = 64 * 1024
    iot_offline_factor: float = 2.0  # a device silent past this many heartbeat intervals is offline
    iot_sweep_interval_s: int = 30  # heartbeat sweep and quiet-alert closing (lease-guarded; 0 = off)
    iot_case_note_interval_s: int = 600  # a storm adds at most one note to its case per this many seconds
    iot_message_retention_days: int = 90  # accepted messages older than this are purged by the sweep (0 = keep)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, v: object) -> object:
        if isinstance(v, str):
            v = json.loads(v) if v.strip().startswith("[") else v.split(",")
        if isinstance(v, list):
            from zhili.core.netaddr import parse_networks

            parse_networks(str(e) for e in v)  # refuse a malformed entry at start-up, not on the first request
            return [str(e).strip() for e in v if str(e).strip()]
        return v

    @model_validator(mode="after")
    def _replica_needs_postgresql(self) -> Settings:
        if self.read_database_url.strip():
            if not self.read_database_url.startswith("postgresql"):
                raise ValueError("ZHILI_READ_DATABASE_URL 只能是 PostgreSQL 流复制只读副本（postgresql+psycopg://…）；"
                                 "SQLite 没有只读副本，请留空（读操作使用主库）")
            if not self.effective_database_url.startswith("postgresql"):
                raise ValueError("配置了只读副本 ZHILI_READ_DATABASE_URL，但主库 ZHILI_DATABASE_URL 不是 PostgreSQL："
                                 "只读副本须是主库的流复制备库，请同时配置 PostgreSQL 主库或清空该项")
        return self

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to an embedded SQLite file under ``var_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'zhili.db').as_posix()}"

    @property
    def effective_key_file(self) -> Path:
        """Where the key file lives when keys are not given in the environment."""
        return self.key_file or (self.var_dir / "keys.json")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached)."""
    return Settings()


def _new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def new_key_material() -> dict[str, object]:
    """Fresh key material: one data-encryption key, a blind-index key and a session secret."""
    return {
        "active": "k1",
        "keys": {"k1": _new_key()},
        "index_key": _new_key(),
        "session_secret": _new_key(),
    }


def load_key_material(settings: Settings) -> dict[str, object]:
    """Key material from ``ZHILI_KEYS`` or the key file, creating the file (mode 0600) on first run."""
    if settings.keys:
        return dict(json.loads(settings.keys))
    path = settings.effective_key_file
    if path.exists():
        return dict(json.loads(path.read_text(encoding="utf-8")))
    path.parent.mkdir(parents=True, exist_ok=True)
    material = new_key_material()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(material, fh, indent=2)
    return material
