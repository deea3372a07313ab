"""Shared constants and the fixture object for the Open311 tests (imported by conftest and the tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BASE = "/open311/v2"
DISTRICT = "330522"

# A point inside grid ga (lon 119.0–119.25, lat 31.0–31.25).
LAT_GA, LONG_GA = "31.1", "119.1"

SIZE_ATTR: dict[str, Any] = {
    "code": "stall_size", "datatype": "singlevaluelist", "required": True, "order": 1,
    "description": "摊位规模", "datatype_description": "选择一项",
    "values": [{"key": "small", "name": "单个摊位"}, {"key": "large", "name": "成片摊点"}],
}
GOODS_ATTR: dict[str, Any] = {
    "code": "goods", "datatype": "multivaluelist", "required": False, "order": 2,
    "description": "经营品类", "datatype_description": "可多选",
    "values": [{"key": "food", "name": "食品"}, {"key": "fruit", "name": "水果"}, {"key": "other", "name": "其他"}],
}
COUNT_ATTR: dict[str, Any] = {
    "code": "stall_count", "datatype": "number", "required": False, "order": 3,
    "description": "摊位数量", "datatype_description": "整数",
}


@dataclass
class Open311World:
    """What the Open311 tests need: service codes, department codes and the plain API key."""

    api_key: str
    key_prefix: str
    world: Any
    services: dict[str, Any] = field(default_factory=dict)
    departments: dict[str, Any] = field(default_factory=dict)

    def form(self, service_code: str = "SR-0101", **extra: str) -> dict[str, str]:
        """A valid POST body for ``service_code`` (located in grid ga) with ``extra`` fields added."""
        body = {"api_key": self.api_key, "service_code": service_code, "lat": LAT_GA, "long": LONG_GA,
                "description": "人行道上有流动摊贩占道经营"}
        if service_code == "SR-0101":
            body["attribute[stall_size]"] = "small"
        body.update(extra)
        return body
