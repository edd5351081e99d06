"""GitHub/GitLab-flavoured Markdown: the matrix table, then each cell that did not pass, for a CI job
summary or a merge-request comment."""

from __future__ import annotations

import re
from collections.abc import Sequence

from harness.results.cells import CellReport, console_tail
from harness.verdict.checks import PASS


def _fenced(text: str, info: str = "") -> list[str]:
    """text as a code block whose fence is longer than any run of backticks in it, so a quoted kernel
    line or detail can never close the block and write Markdown of its own."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, text, fence]


def _cell_text(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(cells: Sequence[CellReport], command: str) -> str:
    ok = all(c.status in ("pass", "xfail") for c in cells)
    counts = ", ".join(f"{sum(c.status == s for c in cells)} {s}" for s in ("pass", "xfail", "fail", "xpass")
                       if any(c.status == s for c in cells))
    lines = [f"## kprobe-harness: {'OK' if ok else 'FAILED'} ({counts})", "",
             "| check | " + " | ".join(c.label for c in cells) + " |",
             "|---|" + "---|" * len(cells),
             "| **result** | " + " | ".join(f"**{c.status.upper()}**" for c in cells) + " |"]
    names: list[str] = []
    for cell in cells:
        for check in cell.result.checks if cell.result else []:
            if check.name not in names:
                names.append(check.name)
    for name in names:
        row = []
        for cell in cells:
            status = {ch.name: ch.status for ch in (cell.result.checks if cell.result else [])}.get(name, "-")
            row.append(status if status in (PASS, "-") else f"**{status}**")
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    for cell in cells:
        if cell.status == "pass":
            continue
        lines += ["", f"### {cell.label}: {cell.status.upper()}", ""]
        if cell.note:
            lines.append(_cell_text(cell.note))
        if cell.error:
            lines += ["", *_fenced(cell.error.strip())]
        for check in cell.result.checks if cell.result else []:
            if check.status == "fail":
                lines += ["", f"<details><summary>{check.name}</summary>", "", *_fenced(check.detail.strip()),
                          "", "</details>"]
        console = console_tail(cell.result)
        if console and cell.status != "xfail":
            lines += ["", "<details><summary>last console lines</summary>", "", *_fenced(console), "",
                      "</details>"]
    lines += ["", "Reproduce:", "", *_fenced(command, "sh")]
    return "\n".join(lines) + "\n"
