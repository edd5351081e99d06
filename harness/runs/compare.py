"""Base against head (or every commit of a series) on a git tree: what regressed, what was fixed."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.build import gitrev
from harness.build.gitrev import Revision
from harness.errors import EXIT_UNTESTABLE, UserError
from harness.host import paths
from harness.host.proc import Echo
from harness.results.run import SCHEMA_VERSION
from harness.results.text import first_line, format_table
from harness.runs import matrix
from harness.runs.options import CheckOptions, check_choices, check_host, check_options
from harness.spec.arches import resolve_arch
from harness.verdict.checks import FAIL, NOT_RUN, PASS, Check, clip

REGRESSED, CHANGED, FIXED, BOTH = "regressed", "changed", "fixed", "failed on both"
NOT_RUN_AFTER = "not run after"  # failed before; the later revision never got as far as this check
LAST_STAGE = "reload"  # the check of the session's last stage
STOPPED = "stopped running"  # passed before; the later revision did not run it (excused or not) or lacks it
BAD = (REGRESSED, CHANGED, STOPPED)  # the kinds that make a regression (exit 1)
PER_REVISION = "build_warnings"  # judges only the files its own revision changed
EXIT_UNTESTED = EXIT_UNTESTABLE  # a step had nothing to compare: nothing to say, as git bisect run's skip


@dataclass(frozen=True)
class Change:
    check: str
    kind: str  # REGRESSED, CHANGED, FIXED, BOTH or NOT_RUN_AFTER
    before: str  # the check's status on the earlier revision ("-" when it did not run)
    after: str
    detail: str  # the first line of the failing side's detail; for CHANGED, what is new


@dataclass
class Step:
    """One arch, from one revision to the next."""

    arch: str
    before: Revision
    after: Revision
    changes: list[Change] = field(default_factory=list)
    untested: str = ""  # why neither side was tested (neither built nor booted), else ""

    @property
    def regressed(self) -> list[Change]:
        """What got worse; a step that tested nothing on either side has nothing to say."""
        return [] if self.untested else [c for c in self.changes if c.kind in BAD]


@dataclass
class CompareResult:
    repo: Path
    revisions: list[Revision]
    arches: list[str]
    cells: matrix.MatrixResult
    steps: list[Step] = field(default_factory=list)

    @property
    def regressions(self) -> list[Step]:
        return [s for s in self.steps if s.regressed]

    @property
    def first_regression(self) -> Revision | None:
        for rev in self.revisions[1:]:
            if any(s.after == rev for s in self.regressions):
                return rev
        return None

    @property
    def untested(self) -> list[Step]:
        return [s for s in self.steps if s.untested]

    @property
    def exit_code(self) -> int:
        """1 on a regression, else 125 when a step tested nothing, else 0."""
        return 1 if self.first_regression else EXIT_UNTESTED if self.untested else 0


def cell_checks(cell: matrix.Cell) -> list[Check]:
    """A cell's checks, after a kernel_build check: failed when the kernel did not build."""
    checks = list(cell.result.checks) if cell.result else []
    built = Check("kernel_build", FAIL, cell.error) if cell.build_error else Check("kernel_build", PASS, "built")
    return [built, *checks]


def not_the_trees(cell: matrix.Cell) -> str:
    """Why a cell that stopped with an error says nothing about its revision ('' when it did not, or
    its error was the tree's: a kernel that does not build): a patch that does not apply there, a
    toolchain it predates, a full disk, a missing tool."""
    return f"{cell.label}: {first_line(cell.error)}" if cell.error and not cell.build_error else ""


def tested(cell: matrix.Cell) -> str:
    """'' when the cell got as far as its guest session (it has an insmod check), else why not."""
    if why := not_the_trees(cell):
        return why
    checks = cell_checks(cell)
    if any(c.name == "insmod" for c in checks):
        return ""
    failed = next((c for c in checks if c.status == FAIL), None)
    return f"{cell.label}: {failed.name}: {first_line(failed.detail)}" if failed else f"{cell.label}: no checks"


def diff_checks(before: list[Check], after: list[Check]) -> list[Change]:
    """Per check: regressed (failed after, not before), changed (failed on both, with findings after
    that the earlier failure did not have: a new WARN site, another wrong value, a different way of
    losing records), fixed (failed before and passes after), failed on both (the same findings), or
    not run after (failed before, never reached after). A check that did not run before counts as
    not failed there, so a head that stops booting regresses on 'boot'."""
    old = {c.name: c for c in before}
    new = {c.name: c for c in after}
    changes = []
    after_ran = any(c.name == LAST_STAGE for c in after)  # the later session got to its end
    for name in list(dict.fromkeys([*old, *new])):
        b, a = old.get(name), new.get(name)
        # failed: what the verdict holds against the kernel (a check not run without an excuse too)
        b_failed, a_failed = b is not None and b.counts_against, a is not None and a.counts_against
        if not (b_failed or a_failed):
            # a check that passed and now is excused, or is gone from a session that ran to its end
            if (b is not None and b.status == PASS and name != PER_REVISION
                    and (a is not None and a.excuse or a is None and after_ran)):
                why = a.excuse if a is not None else "the later revision has no such check"
                changes.append(Change(name, STOPPED, PASS, a.status if a else "-", first_line(why)))
            continue
        detail = first_line(a.detail if a_failed and a else b.detail if b else "")
        if b_failed and a_failed and a is not None and b is not None and a.status == NOT_RUN and b.status == FAIL:
            kind = NOT_RUN_AFTER
        elif b_failed and a_failed:
            assert a is not None and b is not None
            fresh = [f for f in a.findings if f not in b.findings]
            kind = CHANGED if fresh and name != PER_REVISION else BOTH
            detail = f"new: {'; '.join(fresh)}" if kind == CHANGED else detail
        elif a_failed:
            kind = REGRESSED
        elif a is not None and a.status == PASS:
            kind = FIXED
        else:
            kind = NOT_RUN_AFTER
        if kind in (FIXED, NOT_RUN_AFTER) and name == PER_REVISION:
            continue  # each revision's warnings are about its own files: nothing was fixed
        changes.append(Change(name, kind, b.status if b else "-", a.status if a else "-", detail))
    order = {REGRESSED: 0, CHANGED: 1, STOPPED: 2, FIXED: 3, BOTH: 4, NOT_RUN_AFTER: 5}
    return sorted(changes, key=lambda c: order[c.kind])


def steps(revisions: list[Revision], arches: list[str], cells: list[matrix.Cell]) -> list[Step]:
    """Each arch's consecutive revision pairs; cells are revision-major (every arch of a revision)."""
    by_key = {(c.revision, c.arch): c for c in cells}
    out = []
    for before, after in itertools.pairwise(revisions):
        for arch in arches:
            b, a = by_key[(before.sha, arch)], by_key[(after.sha, arch)]
            # a side that errored for a reason of its own (not the tree's) leaves nothing to compare; a
            # side the tree stopped (no build, no boot) is compared: a base that booted and a head
            # that did not is a regression
            why = [w for w in (tested(b), tested(a)) if w]
            foreign = [w for w in (not_the_trees(b), not_the_trees(a)) if w]
            out.append(Step(arch, before, after, diff_checks(cell_checks(b), cell_checks(a)),
                            "; ".join(foreign or why) if foreign or len(why) == 2 else ""))
    return out


def cell_options(template: CheckOptions, clone: Path, revisions: list[Revision], arches: list[str],
                 repo: Path, allow_warnings: set[str]) -> list[CheckOptions]:
    """Revision-major cells: every arch of a revision is built before the clone moves on, so the
    clone is checked out once per revision. Every revision after the base watches the files it
    changes (against the revision before it) for compiler warnings."""
    cells = []
    for i, rev in enumerate(revisions):
        warn = gitrev.changed_files(repo, revisions[i - 1].sha, rev.sha) if i else ()
        waived = any(rev.sha.startswith(w.lower()) for w in allow_warnings)
        for arch in arches:
            cells.append(replace(template, arch=resolve_arch(arch), tree=clone, revision=rev.sha,
                                 warn_files=warn, allow_warnings=waived, known_issues=False))
    return cells


@dataclass(frozen=True)
class Plan:
    """What a comparison checks: the repository, its revisions (base first) and the arches."""

    repo: Path
    revisions: list[Revision]
    arches: list[str]


def plan(tree: Path, base: str, head: str, each: bool, arches: list[str], template: CheckOptions,
         allow_warnings: set[str]) -> Plan:
    """Resolve and check everything a comparison needs before any work starts (UserError): a git tree,
    two different revisions that hold a kernel, waivers that name checked commits, each arch's
    options and QEMU."""
    repo = gitrev.check_repo(tree)
    before, after = gitrev.resolve(repo, base), gitrev.resolve(repo, head)
    if before.sha == after.sha:
        raise UserError(f"--base {base} and --head {head} are the same commit: nothing to compare")
    revisions = [before, *gitrev.series(repo, before, after)] if each else [before, after]
    for rev in (before, after):
        gitrev.require_kernel(repo, rev)
    unknown = [w for w in allow_warnings if not any(r.sha.startswith(w.lower()) for r in revisions[1:])]
    if unknown:
        raise UserError(f"--allow-warnings {', '.join(unknown)}: no such commit among the revisions "
                        "checked after the base; give a hash or prefix of one of them")
    for name in arches:
        check_choices(replace(template, arch=resolve_arch(name)))
        check_host(replace(template, arch=resolve_arch(name)))
    return Plan(repo, revisions, arches)


def run_compare(repo: Path, revisions: list[Revision], arches: list[str], template: CheckOptions,
                allow_warnings: set[str], echo: Echo = print) -> CompareResult:
    """Check every revision on every arch in a private clone of repo (the repo is only read)."""
    clone_lock = gitrev.clone_path(repo)
    with paths.locked(clone_lock, f"the private clone of {repo}", echo):
        clone = gitrev.ensure_clone(repo)
        gitrev.checkout(clone, revisions[0].sha)  # so the first cell's options see a kernel tree
        cells_opts = cell_options(template, clone, revisions, arches, repo, allow_warnings)
        for opts in cells_opts[:1]:
            check_options(opts)
        result = matrix.run_matrix(cells_opts, echo=echo)
    return CompareResult(repo, revisions, arches, result, steps(revisions, arches, result.cells))


def _status_rows(c: CompareResult) -> list[tuple[str, ...]]:
    by_key = {(cell.revision, cell.arch): cell for cell in c.cells.cells}
    rows = []
    for rev in c.revisions:
        row = [rev.short, clip(rev.subject, 48)]
        for arch in c.arches:
            cell = by_key[(rev.sha, arch)]
            row.append(cell.status.upper() if not cell.error else "NO BUILD" if cell.build_error else "UNTESTED")
        rows.append(tuple(row))
    return rows


def format_compare(c: CompareResult) -> str:
    """The verdict of every revision per arch, then each step's regressions, fixes and shared failures."""
    lines = [format_table(_status_rows(c), ("commit", "subject", *c.arches)), ""]
    for step in c.steps:
        head = f"{step.arch}: {step.before.label} -> {step.after.label}"
        if step.untested:
            lines.append(f"{head}: untested, nothing to compare ({step.untested})")
            continue
        if not step.changes:
            lines.append(f"{head}: no check failed on either")
            continue
        lines.append(f"{head}:")
        for ch in step.changes:
            lines.append(f"  {ch.kind:<15} {ch.check} ({ch.before} -> {ch.after})"
                         + (f": {clip(ch.detail, 160)}" if ch.detail else ""))
    by_key = {(cell.revision, cell.arch): cell for cell in c.cells.cells}
    arts = [f"  {cell.label}: {cell.result.artifacts}" for cell in by_key.values() if cell.result]
    lines += ["", "artifacts:", *arts, ""]
    first = c.first_regression
    if first is None and c.untested:
        lines.append(f"UNTESTED: {len(c.untested)} step(s) built and booted on neither side, so they say nothing: "
                     f"exit {EXIT_UNTESTED}")
    elif first is None:
        lines.append(f"no regression ({len(c.revisions) - 1} step(s) on {', '.join(c.arches)}): exit 0")
    else:
        names = sorted({f"{s.arch}: {', '.join(ch.check for ch in s.regressed)}"
                        for s in c.regressions if s.after == first})
        lines.append(f"REGRESSION: first at {first.label} \"{first.subject}\" ({'; '.join(names)}): exit 1")
    return "\n".join(lines)


def write_json(c: CompareResult, path: Path, command: str = "") -> None:
    data = {
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "repository": str(c.repo),
        "regression": c.first_regression is not None,
        "exit_code": c.exit_code,
        "first_regression": c.first_regression.sha if c.first_regression else None,
        "revisions": [{"ref": r.ref, "sha": r.sha, "subject": r.subject} for r in c.revisions],
        "steps": [
            {"arch": s.arch, "before": s.before.sha, "after": s.after.sha, "untested": s.untested,
             "changes": [{"check": ch.check, "kind": ch.kind, "before": ch.before, "after": ch.after,
                          "detail": ch.detail} for ch in s.changes]}
            for s in c.steps
        ],
        "cells": [
            {"cell": cell.label, "arch": cell.arch, "revision": cell.revision,
             "status": cell.status, "error": cell.error,
             "result": cell.result.to_json() if cell.result else None}
            for cell in c.cells.cells
        ],
    }
    paths.write_atomic(path, json.dumps(data, indent=2) + "\n")
