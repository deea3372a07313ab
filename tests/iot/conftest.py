"""Fixtures of the IoT tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mqttkit import forget

from zhili.iot.ingest import BrokerConfig


@pytest.fixture
def sessions() -> Iterator[list[BrokerConfig]]:
    """Broker configs whose persistent sessions are discarded after the test (the shared broker keeps none)."""
    made: list[BrokerConfig] = []
    yield made
    for cfg in made:
        forget(cfg)
