"""The caller's address is the TCP peer unless the peer is a configured proxy (``ZHILI_TRUSTED_PROXIES``): a
rotating ``X-Forwarded-For`` from anyone else neither escapes the per-address SMS limit nor lands in the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from zhili.core.audit import AuditEvent
from zhili.participation import service
from zhili.participation.settings import ParticipationSettings

API = "/api/v1/participation/sms-codes"


@pytest.fixture
def limit_of_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "participation_settings", lambda: ParticipationSettings(sms_daily_per_ip=2))


@pytest.fixture
def trusted_proxies(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from zhili.core.settings import get_settings

    def use(value: str) -> None:
        monkeypatch.setenv("ZHILI_TRUSTED_PROXIES", value)
        get_settings.cache_clear()

    yield use
    monkeypatch.delenv("ZHILI_TRUSTED_PROXIES", raising=False)
    get_settings.cache_clear()


def _peer(app: Any, host: str) -> TestClient:
    return TestClient(app, raise_server_exceptions=False, client=(host, 40000))


def test_a_rotating_forwarded_for_from_an_untrusted_peer_does_not_escape_the_per_address_sms_limit(
        part: Any, app: Any, limit_of_two: None) -> None:
    with _peer(app, "203.0.113.7") as c:
        answers = [c.post(API, json={"phone": f"1370000000{i}", "purpose": "register"},
                          headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(5)]
    assert answers == [202, 202, 429, 429, 429]
    ips = set(part.db.scalars(select(AuditEvent.ip).where(AuditEvent.action.startswith("participation."))))
    assert ips == {"203.0.113.7"}  # the claimed addresses are nowhere in the audit log


def test_behind_a_trusted_proxy_the_forwarded_client_address_is_used(
        part: Any, app: Any, limit_of_two: None, trusted_proxies: Any) -> None:
    trusted_proxies('["10.0.0.0/8", "192.0.2.1"]')
    with _peer(app, "10.0.0.5") as c:
        answers = [c.post(API, json={"phone": f"1370000000{i}", "purpose": "register"},
                          headers={"X-Forwarded-For": f"198.51.100.{i}, 192.0.2.1"}).status_code for i in range(4)]
    assert answers == [202, 202, 202, 202]  # four different clients behind the proxy chain
    ips = set(part.db.scalars(select(AuditEvent.ip).where(AuditEvent.action.startswith("participation."))))
    assert ips == {f"198.51.100.{i}" for i in range(4)}


def test_a_client_cannot_prepend_an_address_in_front_of_the_trusted_proxy(
        part: Any, app: Any, limit_of_two: None, trusted_proxies: Any) -> None:
    trusted_proxies("10.0.0.5")  # a comma-separated list is accepted as well as JSON
    with _peer(app, "10.0.0.5") as c:  # the proxy appends the real peer; what the client sent stays in front
        answers = [c.post(API, json={"phone": f"1370000000{i}", "purpose": "register"},
                          headers={"X-Forwarded-For": f"198.51.100.{i}, 203.0.113.9"}).status_code for i in range(3)]
    assert answers == [202, 202, 429]


@pytest.mark.parametrize(("peer", "header", "trusted", "expected"), [
    ("203.0.113.7", "1.2.3.4", "", "203.0.113.7"),
    ("203.0.113.7", "1.2.3.4", "10.0.0.0/8", "203.0.113.7"),
    ("10.1.2.3", "1.2.3.4", "10.0.0.0/8", "1.2.3.4"),
    ("10.1.2.3", "1.2.3.4, 10.9.9.9", "10.0.0.0/8", "1.2.3.4"),
    ("10.1.2.3", "10.7.7.7, 10.9.9.9", "10.0.0.0/8", "10.7.7.7"),  # all hops trusted: the first one
    ("10.1.2.3", "not-an-ip", "10.0.0.0/8", "10.1.2.3"),  # garbage: the last trusted hop
    ("10.1.2.3", "", "10.0.0.0/8", "10.1.2.3"),
    ("::1", "2001:db8::5", "::1", "2001:db8::5"),
])
def test_the_client_address_is_the_nearest_untrusted_hop(peer: str, header: str, trusted: str, expected: str) -> None:
    from zhili.core.netaddr import client_address, parse_networks

    assert client_address(peer, header or None, parse_networks(trusted.split(",") if trusted else [])) == expected
