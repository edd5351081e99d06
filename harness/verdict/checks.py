"""A check's result and the verdict over many (pure data, shared by every check module)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

PASS, FAIL, NOT_RUN = "pass", "fail", "not run"


@dataclass(frozen=True)
class Check:
    """One check: its name, pass/fail/not run, the detail a person reads, and for a failure its
    findings: short facts with no run-specific numbers (PIDs, addresses, line numbers, target names),
    so two runs' failures of one check can be told the same or different without reading prose."""

    name: str
    status: str
    detail: str = ""
    findings: tuple[str, ...] = ()
    offered: bool = True  # False: not run because the kernel does not offer it, which no verdict holds against it

    @property
    def counts_against(self) -> bool:
        """A check that did not pass, for a reason the verdict holds against the kernel."""
        return self.status != PASS and self.offered


_RUN_SPECIFIC = re.compile(r"0x[0-9a-fA-F]+|\b[0-9a-f]{8}\b|\d+")


def finding(text: str) -> str:
    """A fact with what changes from run to run taken out: hex and decimal numbers become '#' (a
    WARN site is its file and function, not its line), and the targets' token goes."""
    return " ".join(_RUN_SPECIFIC.sub("#", text).split())


def verdict(checks: list[Check]) -> str:
    """'pass' only when every check ran and passed (or the kernel does not offer what it checks)."""
    return PASS if checks and not any(c.counts_against for c in checks) else FAIL


def clip(text: str, width: int) -> str:
    """text cut to width characters, ending in '...' when it was longer."""
    return text if len(text) <= width else text[:width - 3] + "..."


def make_check(name: str, ok: bool, good: str, bad: str, findings: Sequence[str] = ()) -> Check:
    return Check(name, PASS, good) if ok else Check(name, FAIL, bad, tuple(sorted(set(findings))))
