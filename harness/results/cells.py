"""Report formats that CI and kernel tools read (JUnit XML, KTAP, Markdown): each reads cells only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.host import paths
from harness.results.run import RunResult
from harness.spec.cell import cell_label

CONSOLE_LINES = 30


@dataclass(frozen=True)
class CellReport:
    """One cell's verdict as the reports see it: label, status, note, the run result (None when the
    cell never got to a run, with error saying why)."""

    label: str
    arch: str
    kernel: str
    status: str  # pass, fail, xfail, xpass
    result: RunResult | None
    note: str = ""
    error: str = ""
    toolchain: str = "gcc"
    build_error: bool = False  # the kernel did not build (the cell never reached a run)


def console_tail(result: RunResult | None, lines: int = CONSOLE_LINES) -> str:
    """The last console lines of a run, from its artifacts ('' when there are none)."""
    if result is None or not result.artifacts:
        return ""
    log = Path(result.artifacts) / "console.log"
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def write(text: str, target: str) -> None:
    """Write a report to a file, or to stdout for '-'."""
    if target == "-":
        print(text, end="" if text.endswith("\n") else "\n")
        return
    path = Path(target)
    paths.write_atomic(path, text)


def run_label(result: RunResult) -> str:
    """The name of the cell a result was made for (spec.cell.cell_label)."""
    return cell_label(result.arch, result.kernel_version, result.toolchain, result.revision, result.module,
                      result.suite, result.sanitizers)


def from_run(result: RunResult) -> CellReport:
    """The cell of a single `inv check`."""
    return CellReport(label=run_label(result), arch=result.arch,
                      kernel=result.kernel_version, status=result.status, result=result, note=result.note,
                      error=result.error if not result.checks else "", toolchain=result.toolchain)
