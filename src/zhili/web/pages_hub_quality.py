"""Data-quality pages (数据质量): per source and per import, with the trend."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
