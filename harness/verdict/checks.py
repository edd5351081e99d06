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
    # why a check that did not run is not held against the kernel, as '<kind>: <what>' (EXCUSES), or
    # '' when it counts: every excuse names its ground, so a reader can audit each one
    excuse: str = ""

    @property
    def counts_against(self) -> bool:
        """A check that did not pass, for a reason the verdict holds against the kernel."""
        return self.status != PASS and not self.excuse

    @property
    def offered(self) -> bool:
        return not self.excuse


# The grounds a check may be excused on (not run, and not held against the kernel):
BY_DESIGN = "not offered by design"  # the arch and series are not expected to offer it (harness/spec/offers.py)
NO_EXPECTATION = "not offered, no expectation"  # the kernel lacks it and no row says what its series offers
UNSUPPORTED = "unsupported where expected"  # the kernel's own test says UNSUPPORTED, and the row allows it
SKIPPED_BY_TEST = "skipped by the test"  # a KUnit case that skipped itself (its suite ran other cases)
NOTHING_TO_READ = "nothing to read"  # a known issue that shows leaves the check no record to read
EXCUSES = (BY_DESIGN, NO_EXPECTATION, UNSUPPORTED, SKIPPED_BY_TEST, NOTHING_TO_READ)


def excused(name: str, ground: str, why: str, detail: str = "") -> Check:
    """A check not run, and not held against the kernel, on one of EXCUSES with what it is about."""
    assert ground in EXCUSES, ground
    return Check(name, NOT_RUN, detail or why, excuse=f"{ground}: {why}")


_RUN_SPECIFIC = re.compile(r"0x[0-9a-fA-F]+|\b[0-9a-f]{8}\b|\d+")


def finding(text: str) -> str:
    """A fact with what changes from run to run taken out: hex and decimal numbers become '#' (a
    WARN site is its file and function, not its line), and the targets' token goes."""
    return " ".join(_RUN_SPECIFIC.sub("#", text).split())


def verdict(checks: list[Check]) -> str:
    """'pass' only when every check ran and passed (or was excused, each on a ground of EXCUSES)."""
    return PASS if checks and not any(c.counts_against for c in checks) else FAIL


def excused_count(checks: list[Check]) -> str:
    """'N excused (k by design, ...)' for the verdict line, '' when none was."""
    grounds: dict[str, int] = {}
    for c in checks:
        if c.excuse:
            ground = c.excuse.split(":", 1)[0]
            grounds[ground] = grounds.get(ground, 0) + 1
    if not grounds:
        return ""
    return f"{sum(grounds.values())} excused (" + ", ".join(f"{n} {g}" for g, n in grounds.items()) + ")"


def clip(text: str, width: int) -> str:
    """text cut to width characters, ending in '...' when it was longer."""
    return text if len(text) <= width else text[:width - 3] + "..."


def make_check(name: str, ok: bool, good: str, bad: str, findings: Sequence[str] = ()) -> Check:
    return Check(name, PASS, good) if ok else Check(name, FAIL, bad, tuple(sorted(set(findings))))
