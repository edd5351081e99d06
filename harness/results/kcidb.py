"""KCIDB, the common results database of the kernel's CI systems (schema v5.3): one checkout per source
(a commit, or a distribution package and its version, with the patches), one build per run, a parent
test per cell with one test per check below it, and the known issues with an incident for each failing
test they explain. Failing checks stay FAIL even when a known issue explains them: the code fails."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import BuildError, ConfigDropped, UserError
from harness.host import paths
from harness.results.cells import CellReport
from harness.results.text import first_line
from harness.verdict import known_issues
from harness.verdict.checks import FAIL, NOT_RUN, PASS

ORIGIN = "kprobe_harness"
VERSION = {"major": 5, "minor": 3}
SUITE = "kprobe_event_gen"  # the parent test's path; each check is a node below it
BUILD_CHECKS = (BuildError.check, ConfigDropped.check)  # checks that say the build itself failed
CHECK_STATUS = {PASS: "PASS", FAIL: "FAIL", NOT_RUN: "SKIP"}
CELL_STATUS = {"pass": "PASS", known_issues.XPASS: "PASS", "fail": "FAIL", known_issues.XFAIL: "FAIL"}
ISSUE_VERSION = 1
EXCERPT = 16384  # KCIDB's longest log_excerpt
_ORIGIN_RE = re.compile(r"[a-z0-9_]+")
_SHA_RE = re.compile(r"[0-9a-f]{40}")
_NODE_RE = re.compile(r"[^A-Za-z0-9_-]+")
_BUILD_STAGES = ("kernel config", "kernel build", "module build", "initramfs")


def check_origin(origin: str) -> str:
    """KCIDB's origin: lower-case letters, digits and underscores (UserError otherwise)."""
    if not _ORIGIN_RE.fullmatch(origin):
        raise UserError(f"--kcidb-origin '{origin}': KCIDB takes only lower-case letters, digits and '_' "
                        f"(e.g. {ORIGIN})")
    return origin


def check_base_url(url: str) -> str:
    if url and not re.match(r"[a-z][a-z0-9+.-]*://\S+$", url):
        raise UserError(f"--kcidb-base-url '{url}' is not a URL; give the prefix the run folders are served "
                        "under, e.g. https://ci.example.org/artifacts")
    return url.rstrip("/")


def node(name: str) -> str:
    """A check name as one node of a KCIDB test path (letters, digits, '_' and '-')."""
    return _NODE_RE.sub("_", name).strip("_") or "unnamed"


class _Writer:
    """Builds one document: objects are keyed by id, so a checkout or issue met twice is written once."""

    def __init__(self, origin: str, base_url: str) -> None:
        self.origin, self.base_url = origin, base_url
        self.objects: dict[str, dict[str, dict[str, Any]]] = {
            k: {} for k in ("checkouts", "builds", "tests", "issues", "incidents")}
        self.catalogue = {i.id: i for i in known_issues.load()}

    def id(self, *parts: str) -> str:
        return f"{self.origin}:" + ":".join(parts)

    def add(self, kind: str, obj: dict[str, Any]) -> None:
        self.objects[kind].setdefault(obj["id"], {"origin": self.origin, **{k: v for k, v in obj.items()
                                                                            if v not in ("", None, [], {})}})

    def url(self, artifacts: str, name: str) -> str:
        """Where a run's file is: under --kcidb-base-url by the run folder's name, else a file:// URL."""
        if not artifacts:
            return ""
        if self.base_url:
            return f"{self.base_url}/{Path(artifacts).name}/{name}"
        return (Path(artifacts) / name).as_uri()

    def checkout(self, cell: CellReport) -> str:
        r = cell.result
        source = r.source if r else ""
        patches = r.patches if r else []
        version = r.kernel_version if r else cell.kernel
        commit = source if _SHA_RE.fullmatch(source) else ""
        key = commit or f"linux-{version}-" + paths.digest(source or (r.tree if r else cell.kernel), version)
        if patches:
            key += "+patches-" + paths.digest(*patches)
        checkout_id = self.id(key)
        self.add("checkouts", {
            "id": checkout_id, "git_commit_hash": commit,
            "comment": f"Linux {version}" + (f" at {r.tree}" if r else "") + (
                f" with {len(patches)} patch(es)" if patches else ""),
            "patchset_files": [{"name": Path(p).name, "url": Path(p).absolute().as_uri()} for p in patches],
            "start_time": r.started if r else "",
            "misc": {"tree": r.tree if r else cell.kernel, "source": source, "patches": patches,
                     "kernel_version": version},
        })
        return checkout_id

    def build(self, cell: CellReport, command: str) -> str:
        r = cell.result
        if r is None or not r.run_id:
            # a cell that never reached a run (or a result without a run id): named by what it was
            build_id = self.id("cell", paths.digest(command, cell.label, cell.error, r.artifacts if r else ""))
        else:
            build_id = self.id(r.run_id)
        failed_build = r is not None and any(c.name in BUILD_CHECKS and c.status == FAIL for c in r.checks)
        if r is None:
            status = "FAIL" if cell.build_error else "ERROR"
        else:
            status = "FAIL" if failed_build else "PASS"
        self.add("builds", {
            "id": build_id, "checkout_id": self.checkout(cell), "architecture": cell.arch,
            "compiler": cell.toolchain, "command": r.command if r else command,
            "config_name": "+".join(["tinyconfig", r.suite if r else "module"] + (["sanitizers"] if r and r.sanitizers
                                                                                    else [])),
            "start_time": r.started if r else "",
            "duration": round(sum(s for n, s in r.stages if n.strip() in _BUILD_STAGES), 2) if r else None,
            "config_url": self.url(r.artifacts, "kernel.config") if r else "",
            "log_url": self.url(r.artifacts, "build.log") if r else "",
            "log_excerpt": (cell.error or "")[:EXCERPT], "status": status,
            "misc": {"cell": cell.label, "toolchain": cell.toolchain},
        })
        return build_id

    def tests(self, cell: CellReport, build_id: str) -> None:
        r = cell.result
        checks = r.checks if r else []
        parent = f"{build_id}:{SUITE}"
        status = CELL_STATUS.get(cell.status, "FAIL") if checks else ("MISS" if r is None else "ERROR")
        console = self.url(r.artifacts, "console.log") if r else ""
        self.add("tests", {
            "id": parent, "build_id": build_id, "path": SUITE, "status": status,
            "comment": f"{cell.label}: {cell.status.upper()}" + (f": {first_line(cell.note)}" if cell.note else ""),
            "log_url": console, "log_excerpt": (cell.error or cell.note)[:EXCERPT],
            "start_time": r.started if r else "", "duration": r.seconds if r else None,
            "environment": {"comment": f"QEMU ({r.accel or 'tcg'})" if r else "QEMU",
                            "misc": {"accel": r.accel} if r and r.accel else {}} if r else {},
            "misc": {"status": cell.status, "note": cell.note, "command": r.command if r else "",
                     "known_issues": [i["id"] for i in r.known_issues] if r else []},
        })
        explained = {i["id"] for i in r.known_issues} if r else set()
        for check in checks:
            test_id = f"{build_id}:{SUITE}.{node(check.name)}"
            self.add("tests", {
                "id": test_id, "build_id": build_id, "path": f"{SUITE}.{node(check.name)}",
                "status": "SKIP" if check.excuse else "FAIL" if check.status == NOT_RUN else CHECK_STATUS.get(
                    check.status, "ERROR"), "comment": first_line(check.excuse or check.detail),
                "log_url": console, "log_excerpt": check.detail[:EXCERPT] if check.status != PASS else "",
                "start_time": r.started if r else "",
                "misc": {"check": check.name, **({"findings": list(check.findings)} if check.findings else {}),
                         **({"excuse": check.excuse} if check.excuse else {})},
            })
            for issue_id in sorted(explained):
                issue = self.catalogue.get(issue_id)
                if check.status != FAIL or issue is None or check.name not in issue.checks:
                    continue
                self.add("incidents", {"id": f"{test_id}:{issue_id}", "issue_id": self.issue(issue),
                                       "issue_version": ISSUE_VERSION, "test_id": test_id, "present": True,
                                       "comment": f"{check.name} fails as {issue_id} predicts"})

    def issue(self, issue: known_issues.KnownIssue) -> str:
        issue_id = self.id(issue.id)
        self.add("issues", {
            "id": issue_id, "version": ISSUE_VERSION, "report_subject": issue.id,
            "culprit": {"code": True, "tool": False, "harness": False}, "comment": issue.reason,
            "misc": {"arch": issue.arch, "since": issue.since, "before": issue.before,
                     "reference": issue.reference, "checks": list(issue.checks),
                     "facts": [str(f) for f in issue.facts]},
        })
        return issue_id


def document(cells: Sequence[CellReport], command: str, origin: str = ORIGIN, base_url: str = "") -> dict[str, Any]:
    """The KCIDB v5.3 document of these cells (validated in the tests with kcidb-io)."""
    w = _Writer(check_origin(origin), check_base_url(base_url))
    for cell in cells:
        w.tests(cell, w.build(cell, command))
    return {"version": VERSION, **{kind: list(objs.values()) for kind, objs in w.objects.items() if objs}}


def unresolved(doc: dict[str, Any]) -> list[str]:
    """The references of a document that name no object in it (KCIDB's schema does not check them)."""
    ids = {kind: {o["id"] for o in doc.get(kind, [])} for kind in ("checkouts", "builds", "tests", "issues")}
    wanted = [("builds", "checkout_id", "checkouts"), ("tests", "build_id", "builds"),
              ("incidents", "issue_id", "issues"), ("incidents", "test_id", "tests"),
              ("incidents", "build_id", "builds")]
    return [f"{kind} {o['id']}: {field} {o[field]} is not in {target}"
            for kind, field, target in wanted for o in doc.get(kind, []) if field in o and o[field] not in ids[target]]


def render(cells: Sequence[CellReport], command: str, origin: str = ORIGIN, base_url: str = "") -> str:
    return json.dumps(document(cells, command, origin, base_url), indent=2) + "\n"
