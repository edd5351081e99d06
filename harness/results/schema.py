"""The JSON schemas of what the harness writes (schemas/), and validation against them: a result that
does not validate is never read as a verdict."""

from __future__ import annotations

import functools
import json
from pathlib import Path

SCHEMAS = Path(__file__).with_name("schemas")


@functools.lru_cache(maxsize=1)
def _validators() -> dict[str, object]:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    schemas = {p.name.removesuffix(".schema.json"): json.loads(p.read_text()) for p in SCHEMAS.glob("*.schema.json")}
    registry: Registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values())
    return {name: Draft202012Validator(s, registry=registry) for name, s in schemas.items()}


def problem(data: object, schema: str) -> str:
    """'' when data is valid against schemas/<schema>.schema.json, else what is wrong, where."""
    from jsonschema import exceptions

    validator = _validators()[schema]
    try:
        validator.validate(data)  # type: ignore[attr-defined]
    except exceptions.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "the top level"
        return f"{e.message} (at {where})"
    return ""
