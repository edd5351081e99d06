"""Compiler warnings in the files a revision touches (ktest.pl's patchcheck rule): found in a build
log, and judged as the build_warnings check."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from harness.verdict.checks import FAIL, PASS, Check

_WARNING = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?:\d+:)? warning: (?P<message>.*)$", re.MULTILINE)


def warnings_in(log_text: str, files: Sequence[str]) -> list[str]:
    """Compiler warnings in a build log that point into one of files (paths relative to the tree;
    a warning path may be absolute or relative to the build folder), each shown with the
    tree-relative path."""
    found = []
    for m in _WARNING.finditer(log_text):
        path = m.group("file")
        for f in files:
            if path == f or path.endswith("/" + f):
                found.append(f + m.group(0).strip()[len(path):])
                break
    return list(dict.fromkeys(found))


def warnings_check(found: list[str], allowed: bool, log: Path) -> Check:
    """No compiler warning in the files the revision touches (ktest.pl's patchcheck rule)."""
    if not found:
        return Check("build_warnings", PASS, "no compiler warning in the files this revision touches")
    listed = "\n".join(found[:20]) + (f"\n... {len(found) - 20} more in {log}" if len(found) > 20 else "")
    if allowed:
        return Check("build_warnings", PASS, f"warnings waived by --allow-warnings:\n{listed}")
    return Check("build_warnings", FAIL,
                        f"{len(found)} compiler warning(s) in files this revision touches, first: {found[0]} "
                        f"(waive with --allow-warnings SHA):\n{listed}")
