"""A kernel held to what its arch and series must offer (spec/offers.py): a check excused because the
kernel lacks something becomes a FAIL when the arch should have it, "not offered by design" when it
need not, and stays "not offered, no expectation" on a series without a row (pure)."""

from __future__ import annotations

from dataclasses import replace

from harness.spec.offers import Offers
from harness.verdict.checks import BY_DESIGN, FAIL, NO_EXPECTATION, UNSUPPORTED, Check

FTRACE, BOOT = "ftrace:", "boot:"  # the prefixes of the kernel's own suites' checks (suite_checks)
NEEDS = "needs "  # an excuse that rests on a grammar element's absence: "needs fetch_argn: ..."


def needs(element: str, why: str) -> str:
    """The excuse of a check that holds only while the kernel need not offer element."""
    return f"{NEEDS}{element}: {why}"


def _why(check: Check) -> str:
    return check.excuse.split(": ", 1)[1] if ": " in check.excuse else ""


def _subject(check: Check) -> str:
    """What the check's excuse says the kernel lacks: a grammar element, an ftrace case, a KUnit suite."""
    why = _why(check)
    if why.startswith(NEEDS):
        return why[len(NEEDS):].split(":", 1)[0]
    if check.name.startswith(FTRACE):
        return check.name[len(FTRACE):].split("@", 1)[0] + ".tc"
    if check.name.startswith(BOOT):
        return check.name[len(BOOT):].split("/", 1)[0]
    return check.name


def allowed(check: Check, offers: Offers) -> bool | None:
    """True when the row lets the kernel lack what the check needs, False when it must offer it, None
    when the row says nothing (a series without one)."""
    subject = _subject(check)
    if _why(check).startswith(NEEDS) or not check.name.startswith((FTRACE, BOOT)):
        return None if offers.grammar_absent is None else subject in offers.grammar_absent
    if check.name.startswith(FTRACE):
        return None if offers.ftrace_unsupported is None else subject in offers.ftrace_unsupported
    return None if offers.kunit is None else subject not in offers.kunit


def hold(checks: list[Check], offers: Offers, arch: str) -> list[Check]:
    """Every check excused as "not offered, no expectation", judged against the row of arch."""
    out = []
    for c in checks:
        verdict = allowed(c, offers) if c.excuse.startswith(NO_EXPECTATION + ":") else None
        if verdict is None:
            out.append(c)
        elif verdict:
            ground = UNSUPPORTED if c.name.startswith(FTRACE) and not _why(c).startswith(NEEDS) else BY_DESIGN
            out.append(replace(c, excuse=f"{ground}: {_why(c)}"))
        else:
            out.append(Check(c.name, FAIL, f"{offers.label(arch)} must offer {_subject(c)}, and this kernel does "
                                           f"not: {c.detail}", (f"not offered: {_subject(c)}",)))
    return out
