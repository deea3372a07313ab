"""Mapping-template pages (映射模板): list, edit, preview, export/import JSON."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
