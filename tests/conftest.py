"""Shared fixtures: the data folder, and the rule that under CI a QEMU test never skips."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).parent.parent
# A healthy kernel with our module: every check passes but the empty user string, which every kernel
# records as "(fault)" (known issue ustring-empty-records-as-fault), and on 6.12 the string at the
# fetch limit, never recorded (ring-buffer-subbuf-keeps-page-event-limit): its status is xfail (exit 0)
HEALTHY = "xfail"
KNOWN_612 = ["fetch_ustring_empty", "fetch_string_limit"]


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


def validate_json(data: object, schema: str) -> None:
    """Validate data against schemas/<schema>.schema.json (references between the schemas resolve)."""
    import json

    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    schemas = {p.name: json.loads(p.read_text()) for p in (ROOT / "schemas").glob("*.schema.json")}
    registry: Registry = Registry().with_resources(  # type: ignore[type-arg]
        (s["$id"], Resource.from_contents(s)) for s in schemas.values())
    Draft202012Validator(schemas[f"{schema}.schema.json"], registry=registry).validate(data)
