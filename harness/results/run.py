"""The run result of one cell and its JSON form (schemas/result.schema.json), for CI matrices and scripts."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from harness.host import paths
from harness.verdict.checks import NO_EXPECTATION, NOT_RUN, NOTHING_TO_READ, Check

SCHEMA_VERSION = 2  # of schemas/result.schema.json, matrix.schema.json and compare.schema.json
READABLE_VERSIONS = (1, 2)  # what a merge reads: 2 only added statuses and fields
# the status of a run that never reached its checks, by the exit code it ended with
# (2 is the setup error of results written before setup errors exited 128)
EARLY_STATUS = {2: "error", 128: "error", 125: "untested", 130: "interrupted"}


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
    suite: str = "module"  # what ran beside the module's session (spec.suites)
    sanitizers: bool = False  # built with the sanitizer profile (spec.sanitizers)
    run_id: str = ""  # unique per run: what a KCIDB document's build and test ids are made of
    started: str = ""  # when the run started (ISO 8601, UTC, with its offset)
    source: str = ""  # the checked-out commit of a git tree, else the identity of the package it came from

    def to_json(self) -> dict[str, object]:
        """The documented JSON form (schemas/result.schema.json)."""
        data: dict[str, object] = {"schema_version": SCHEMA_VERSION, **asdict(self)}
        data["stages"] = [{"name": n, "seconds": round(s, 2)} for n, s in self.stages]
        data["checks"] = [{"name": c.name, "status": c.status, "detail": c.detail,
                           **({"findings": list(c.findings)} if c.findings else {}),
                           **({"excuse": c.excuse} if c.excuse else {})} for c in self.checks]
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> RunResult:
        """The inverse of to_json (fields a newer or older writer lacks take their defaults)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["checks"] = [_check(c) for c in data.get("checks", []) or []]  # type: ignore[attr-defined]
        values["stages"] = [(s["name"], float(s["seconds"])) for s in data.get("stages", []) or []]  # type: ignore[attr-defined]
        return cls(**values)  # type: ignore[arg-type]


def _check(data: dict[str, object]) -> Check:
    """A check as to_json wrote it; one written before excuses had reasons says offered: false, or (a
    check a known issue left nothing to read) 'nothing to check while <issue> shows'."""
    excuse, detail = str(data.get("excuse") or ""), str(data.get("detail", ""))
    if data.get("offered") is False and not excuse:
        excuse = f"{NO_EXPECTATION}: written before excuses had reasons"
    elif data.get("status") == NOT_RUN and (m := re.match(r"nothing to check while (\S+) shows", detail)) and not excuse:
        excuse = f"{NOTHING_TO_READ}: known issue {m.group(1)} shows"
    return Check(str(data["name"]), str(data["status"]), detail,
                 tuple(data.get("findings", ()) or ()), excuse)  # type: ignore[arg-type]


def write_json(result: RunResult, path: Path) -> None:
    paths.write_atomic(path, json.dumps(result.to_json(), indent=2) + "\n")


def early_document(exit_code: int, error: str, command: str, **cell: str) -> dict[str, object]:
    """What a --json file holds when its run stopped before any check (bad options, a kernel that did
    not build, Ctrl-C): a status that says so, the exit code, the error, and whatever names the cell."""
    return {"schema_version": SCHEMA_VERSION, "status": EARLY_STATUS.get(exit_code, "error"), "exit_code": exit_code,
            "error": error, "command": command, **{k: v for k, v in cell.items() if v}}
