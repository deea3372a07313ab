"""Address-parsing page (地址解析): try an address, see its parts and where it was placed."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
