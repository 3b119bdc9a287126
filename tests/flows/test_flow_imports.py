"""Every flow (and engine) module imports on its own, first, in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(
    f"bot.{package}.{path.stem}"
    for package in ("flows", "engine")
    for path in (ROOT / "bot" / package).glob("*.py")
    if path.stem != "__init__"
)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_first(module: str) -> None:
    """A tool or test that imports one flow first must not meet a half-loaded cycle."""
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
