"""The suite's own layout: ``tests`` is not a package, so pytest imports every test module by its file name alone —
two modules with one name in two folders break collection of the whole run ("import file mismatch")."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_no_two_test_or_helper_modules_share_a_file_name() -> None:
    names = Counter(p.name for p in TESTS.rglob("*.py") if p.name != "conftest.py" and "__pycache__" not in p.parts)
    assert [n for n, k in names.items() if k > 1] == []
