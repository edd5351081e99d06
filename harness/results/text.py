"""Results as plain text for a terminal: aligned tables, first lines of details, one run's table."""

from __future__ import annotations

from collections.abc import Sequence

from harness.results.run import RunResult
from harness.verdict.checks import clip, excused_count


def format_table(rows: Sequence[tuple[str, ...]], headers: tuple[str, ...]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def first_line(text: str, limit: int = 0) -> str:
    """The first line of a detail ('' for none), clipped to limit characters when limit is set."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return clip(line, limit) if limit else line


def format_result(result: RunResult) -> str:
    """The table of checks, failures in full below it, then the verdict line."""
    rows = [(c.name, c.status.upper(), first_line(f"({c.excuse.split(':')[0]}) {c.detail}" if c.excuse else c.detail, 110))
            for c in result.checks]
    parts = [format_table(rows, ("check", "result", "detail"))] if rows else []
    for c in result.checks:
        if c.status == "fail" and "\n" in c.detail.strip():
            parts.append(f"\n{c.name}:\n{c.detail.strip()}")
    if result.error:
        parts.append(f"\nerror: {result.error}")
    if result.note:
        parts.append(f"\n{result.status.upper()}: {result.note}")
    parts.append(
        f"\n{result.status.upper()}: {result.arch}, Linux {result.kernel_version}, "
        + ("the tree's own module, " if result.module == "in-tree" else "")
        + ("LLVM, " if result.toolchain == "llvm" else "")
        + (f"suite {result.suite}, " if result.suite != "module" else "")
        + f"profile {result.profile}, {result.func} ({result.seconds:.1f} s; "
        + (f"{excused}; " if (excused := excused_count(result.checks)) else "")
        + f"artifacts in {result.artifacts})"
    )
    return "\n".join(parts)
