"""Pointing the ingest at a district's broker: the URL, TLS and credentials from the settings."""

from __future__ import annotations

import pytest

from zhili.core.settings import Settings
from zhili.iot.ingest import BrokerConfig


def test_mqtts_url_means_tls_on_8883_with_the_files_and_credentials() -> None:
    s = Settings(mqtt_url="mqtts://iot.example.gov.cn", mqtt_username="zhili-ingest", mqtt_password="pw",
                 mqtt_ca_file="/etc/zhili/ca.pem", mqtt_cert_file="/etc/zhili/c.crt", mqtt_key_file="/etc/zhili/c.key",
                 mqtt_topic_prefix="city/", mqtt_district="330523", mqtt_client_id="ingest-330523")
    cfg = BrokerConfig.from_settings(s)
    assert (cfg.host, cfg.port, cfg.tls) == ("iot.example.gov.cn", 8883, True)
    assert (cfg.username, cfg.password, cfg.ca_file, cfg.cert_file, cfg.key_file) == (
        "zhili-ingest", "pw", "/etc/zhili/ca.pem", "/etc/zhili/c.crt", "/etc/zhili/c.key")
    assert cfg.topic_filter == "city/330523/+/+/+" and cfg.client_id == "ingest-330523" and cfg.protocol == "5"


def test_plain_url_and_the_district_code_by_default() -> None:
    cfg = BrokerConfig.from_settings(Settings(mqtt_url="mqtt://10.0.0.5:2883", district_code="330522"))
    assert (cfg.host, cfg.port, cfg.tls, cfg.topic_filter) == ("10.0.0.5", 2883, False, "zhili/330522/+/+/+")
    assert BrokerConfig.from_settings(Settings(), prefix="t1").prefix == "t1"


def test_other_schemes_are_refused() -> None:
    with pytest.raises(ValueError, match="mqtt:// or mqtts://"):
        BrokerConfig.from_settings(Settings(mqtt_url="http://broker"))
