"""Where the shared example data lives (``../shared/data`` beside the checkout: the citizen-message files and the
NYC 311 export). It is never copied into the repository; tests that read it skip where it is absent.
``ZHILI_SHARED_DATA`` names it explicitly (a clone elsewhere, CI)."""

from __future__ import annotations

import os
from pathlib import Path


def shared_data() -> Path:
    candidates = [os.environ.get("ZHILI_SHARED_DATA") or "",
                  str(Path(__file__).resolve().parents[1].parent / "shared" / "data"), "/work/shared/data"]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    return Path(candidates[1])


SHARED_DATA = shared_data()
