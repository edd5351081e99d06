"""Shared fixtures: the data folder, and the rule that under CI a QEMU test never skips."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).parent.parent


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tools(*tools: str) -> None:
    """Skip locally when a tool is missing; under CI=true fail loudly instead."""
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        message = f"missing {', '.join(missing)}: run 'inv setup'"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def data() -> Path:
    return DATA
