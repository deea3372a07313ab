"""GeoReport v2 rendering: the same data as XML (required by the spec) or JSON (optional)."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from fastapi import Response

XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"

# How a list inside a record is written in XML: container element → child element.
_LIST_CHILDREN = {"attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format",
                  "keywords": None, "notes": "note"}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _append(parent: ET.Element, key: str, value: Any) -> None:
    el = ET.SubElement(parent, key)
    if isinstance(value, dict):
        for k, v in value.items():
            _append(el, k, v)
    elif isinstance(value, list):
        child = _LIST_CHILDREN.get(key, key.rstrip("s"))
        if child is None:  # comma-separated scalar list (keywords)
            el.text = ",".join(_text(v) for v in value)
            return
        for item in value:
            if isinstance(item, dict):
                sub = ET.SubElement(el, child)
                for k, v in item.items():
                    _append(sub, k, v)
            else:
                ET.SubElement(el, child).text = _text(item)
    else:
        el.text = _text(value)


def to_xml(root: str, item: str | None, data: Any) -> bytes:
    """Serialise a list of records (or one record when ``item`` is None) under ``root``."""
    top = ET.Element(root)
    if item is None:
        for k, v in data.items():
            _append(top, k, v)
    else:
        for record in data:
            node = ET.SubElement(top, item)
            for k, v in record.items():
                _append(node, k, v)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(top, encoding="utf-8")


def respond(fmt: str, root: str, item: str | None, data: Any, status: int = 200) -> Response:
    """An XML or JSON response for ``data``."""
    if fmt == "json":
        return Response(json.dumps(data, ensure_ascii=False), status_code=status, media_type=JSON_TYPE)
    return Response(to_xml(root, item, data), status_code=status, media_type=XML_TYPE)


def error(fmt: str, status: int, description: str) -> Response:
    """An error in the spec's format: ``[{"code": 400, "description": ...}]`` / ``<errors><error>…``."""
    return respond(fmt, "errors", "error", [{"code": status, "description": description}], status=status)
