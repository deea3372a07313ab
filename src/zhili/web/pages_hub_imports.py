"""Import pages (导入): upload with progress, import history and detail; the quarantine (隔离区): fix, re-run,
discard, download."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
