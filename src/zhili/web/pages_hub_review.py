"""Golden-record pages (主数据): the review queue, merge / keep apart / undo, a golden record with its field
provenance, lineage panels, subscriptions."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
