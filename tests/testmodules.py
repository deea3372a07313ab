"""Loading a helper module of another test folder (``tests`` is not a package, so its folders do not import each
other by name)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent


def load(name: str, path: Path) -> Any:
    """The module at ``path`` under the name ``name`` (loaded once per run)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
