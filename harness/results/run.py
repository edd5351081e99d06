"""The run result: its table for people and its JSON for CI matrices and scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from harness.verdict.session_checks import Check

SCHEMA_VERSION = 1  # of schemas/result.schema.json and schemas/matrix.schema.json


@dataclass
class RunResult:
    arch: str
    kernel_version: str
    tree: str
    profile: str
    func: str
    verdict: str = "fail"
    checks: list[Check] = field(default_factory=list)
    stages: list[tuple[str, float]] = field(default_factory=list)
    artifacts: str = ""
    commands: list[str] = field(default_factory=list)
    error: str = ""
    accel: str = ""
    seconds: float = 0.0  # wall clock of the whole run
    patches: list[str] = field(default_factory=list)
    facts: dict[str, int] = field(default_factory=dict)  # counts known issues are matched against
    status: str = "fail"  # the verdict classified against known issues: pass, fail, xfail, xpass
    note: str = ""  # why a cell is an XFAIL, XPASS or a FAIL beyond a known issue
    known_issues: list[dict[str, str]] = field(default_factory=list)
    command: str = ""  # the inv command line that reproduces this run
    toolchain: str = "gcc"  # gcc or llvm
    module: str = "rendered"  # rendered (ours) or in-tree (the tree's kernel/trace/kprobe_event_gen_test.c)
    revision: str = ""  # the commit checked out for this run (inv compare), else ""

    def to_json(self) -> dict[str, object]:
        """The documented JSON form (schemas/result.schema.json)."""
        data: dict[str, object] = {"schema_version": SCHEMA_VERSION, **asdict(self)}
        data["stages"] = [{"name": n, "seconds": round(s, 2)} for n, s in self.stages]
        data["checks"] = [asdict(c) for c in self.checks]
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> RunResult:
        """The inverse of to_json (fields a newer or older writer lacks take their defaults)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["checks"] = [Check(**c) for c in data.get("checks", []) or []]  # type: ignore[attr-defined]
        values["stages"] = [(s["name"], float(s["seconds"])) for s in data.get("stages", []) or []]  # type: ignore[attr-defined]
        return cls(**values)  # type: ignore[arg-type]


def write_json(result: RunResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_json(), indent=2) + "\n")


def format_table(rows: Sequence[tuple[str, ...]], headers: tuple[str, ...]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def _first_line(text: str, limit: int = 110) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def format_result(result: RunResult) -> str:
    """The table of checks, failures in full below it, then the verdict line."""
    rows = [(c.name, c.status.upper(), _first_line(c.detail)) for c in result.checks]
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
        + f"profile {result.profile}, {result.func} ({result.seconds:.1f} s; artifacts in {result.artifacts})"
    )
    return "\n".join(parts)
