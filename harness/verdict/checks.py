"""A check's result and the verdict over many (pure data, shared by every check module)."""

from __future__ import annotations

from dataclasses import dataclass

PASS, FAIL, NOT_RUN = "pass", "fail", "not run"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str = ""


def verdict(checks: list[Check]) -> str:
    """'pass' only when every check ran and passed."""
    return PASS if checks and all(c.status == PASS for c in checks) else FAIL


def make_check(name: str, ok: bool, good: str, bad: str) -> Check:
    return Check(name, PASS if ok else FAIL, good if ok else bad)
