"""KTAP version 1: one subtest per cell, one test per check, XFAIL and SKIP as directives (an XFAIL is
`ok ... # XFAIL`, as kselftest writes one; SKIP only for an excused check, with its excuse)."""

from __future__ import annotations

from collections.abc import Sequence

from harness.results.cells import CellReport
from harness.verdict.checks import FAIL, PASS


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def _issues(note: str) -> str:
    """The known issue ids of an XFAIL note ('id: reason; id: reason'), for the directive."""
    return ", ".join(part.split(":", 1)[0].strip() for part in note.split("; ") if part.strip())


def _diagnostics(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}" for line in text.strip().splitlines()[:20]]


def _cell(cell: CellReport, number: int) -> list[str]:
    checks = cell.result.checks if cell.result else []
    lines = ["  KTAP version 1", f"  # Subtest: {cell.label}", f"  1..{max(len(checks), 1)}"]
    if not checks:
        lines += _diagnostics(cell.error or "no checks ran", "  ") + ["  not ok 1 run # ERROR"]
    for i, check in enumerate(checks, start=1):
        if check.status == PASS:
            lines.append(f"  ok {i} {check.name}")
        elif check.excuse:
            lines.append(f"  ok {i} {check.name} # SKIP {_one_line(check.excuse)}")
        elif check.status == FAIL and cell.status == "xfail":  # as kselftest writes an expected failure
            lines += _diagnostics(check.detail, "  ")
            lines.append(f"  ok {i} {check.name} # XFAIL {_issues(cell.note)}")
        else:
            lines += _diagnostics(check.detail, "  ")
            lines.append(f"  not ok {i} {check.name}")
    if cell.status == "pass":
        lines.append(f"ok {number} {cell.label}")
    elif cell.status == "xfail":
        lines += _diagnostics(cell.note, "")
        lines.append(f"ok {number} {cell.label} # XFAIL {_issues(cell.note)}")
    else:
        lines += _diagnostics(cell.note, "") if cell.note else []
        lines.append(f"not ok {number} {cell.label}")
    return lines


def render(cells: Sequence[CellReport], command: str) -> str:
    lines = ["KTAP version 1", f"# kprobe-harness: {command}", f"1..{len(cells)}"]
    for number, cell in enumerate(cells, start=1):
        lines += _cell(cell, number)
    return "\n".join(lines) + "\n"
