"""One matrix from results made anywhere: `inv check --json`, `inv matrix --json`, `inv compare
--json` files, run folders (their result.json), from this machine or from CI jobs.

Nothing missing or broken reads as a pass: a file that cannot be read whole or does not validate
against its schema, a cell without a result, a result with fewer checks than its profile defines,
a run that stopped early (exit 125, 128, 130) and an expected cell that no file holds are failed cells
that say why."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from harness.errors import UserError
from harness.results import schema
from harness.results.cells import run_label
from harness.results.run import EARLY_STATUS, READABLE_VERSIONS, RunResult
from harness.runs.check import classify
from harness.runs.matrix import Cell, MatrixResult
from harness.runs.options import CheckOptions
from harness.spec import suites
from harness.spec.arches import resolve_arch
from harness.spec.cell import series
from harness.verdict import expectations
from harness.verdict.checks import FAIL, PASS, Check, verdict
from harness.verdict.known_issues import KnownIssue
from harness.verdict.known_issues import load as load_known_issues
from harness.verdict.session_checks import expected_checks

COMPLETE = "complete_result"  # the check a merge adds when a result lacks checks its profile defines


def results_in(path: Path) -> list[RunResult]:
    """Every run result a file or folder holds (a folder is searched for *.json files; JSON files that
    are not ours, without a schema_version, are passed over there)."""
    if not path.exists():
        raise UserError(f"{path} does not exist: give result files (--json of check, matrix or compare) or "
                        "folders that hold them")
    files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
    found: list[RunResult] = []
    for f in files:
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError) as e:
            found.append(broken(f, f"cannot be read as JSON ({e})"))
            continue
        if path.is_dir() and not (isinstance(data, dict) and "schema_version" in data):
            continue  # other JSON files in a CI artifact folder
        found.extend(_results_of(data, f))
    if not found:
        raise UserError(f"{path} holds no kprobe-harness result (JSON of inv check, matrix or compare)")
    return found


def broken(source: Path, why: str) -> RunResult:
    """A result that could not be read: a failed cell named after its file (tree holds the file)."""
    return RunResult(arch="", kernel_version="", tree=str(source), profile="", func="", error=f"{source}: {why}")


def _results_of(data: object, source: Path) -> list[RunResult]:
    if not isinstance(data, dict):
        return []
    version = data.get("schema_version")
    if version not in READABLE_VERSIONS:
        return [broken(source, f"schema_version {version!r} is not one this harness reads "
                               f"({', '.join(map(str, READABLE_VERSIONS))})")]
    kind = "compare" if "steps" in data else "matrix" if "cells" in data else "result"
    problem = schema.problem(data, kind)
    if problem:
        return [broken(source, f"does not validate against {kind}.schema.json: {problem}")]
    if kind == "result":
        return [_result(data, source)]
    runs = []
    for cell in data["cells"]:
        if cell.get("result"):
            run = _result(cell["result"], source)
            run.error = run.error or cell.get("error", "")
        else:  # a patch that did not apply, a checkout or a kernel build that failed
            run = RunResult(arch=cell.get("arch", ""), kernel_version=cell.get("kernel", ""), tree=str(source),
                            profile="", func="", revision=cell.get("revision", ""),
                            error=cell.get("error") or f"{source}: cell {cell.get('cell')} holds no result")
        runs.append(run)
    return runs


def _result(data: dict[str, object], source: Path) -> RunResult:
    status = str(data.get("status", ""))
    if status in EARLY_STATUS.values():  # the run stopped before any check (tree: its file, to name it)
        return RunResult(arch=str(data.get("arch", "")), kernel_version=str(data.get("kernel", "")), tree=str(source),
                         profile="", func="", toolchain=str(data.get("toolchain") or "gcc"),
                         module=str(data.get("module") or "rendered"), command=str(data.get("command", "")),
                         error=f"{status} (exit {data.get('exit_code')}): {data.get('error')}")
    return RunResult.from_json(data)


def suite_checks_of(result: RunResult) -> list[str]:
    """The checks its suite and sanitizers imply beside the module's: the ftrace suite's kernel log,
    the boot suite's startup test, the sanitizers' report check (and kmemleak's where it ran)."""
    parts = suites.parts(result.suite) if result.suite in suites.SUITES else set()
    return [*([f"{expectations.FTRACE}kernel_log"] if suites.FTRACE in parts else []),
            *([f"{expectations.BOOT}kprobe_tracing"] if suites.BOOT in parts else []),
            *(["sanitizer_reports", "kmemleak"] if result.sanitizers else [])]


def _complete(result: RunResult) -> RunResult:
    """The result with a failed complete_result check when it lacks checks its profile defines."""
    names = {c.name for c in result.checks}
    if not result.checks or not ("insmod" in names or result.verdict == PASS):
        return result  # it stopped before the session: its own checks fail it
    expected = [*expected_checks(result.profile, result.func, result.arch), *suite_checks_of(result)]
    missing = [n for n in expected if n not in names]
    if not missing:
        return result
    detail = (f"the result holds {len(expected) - len(missing)} of the {len(expected)} checks profile "
              f"{result.profile} defines; missing: {', '.join(missing)}")
    return replace(result, checks=[*result.checks, Check(COMPLETE, FAIL, detail)])


def merge(results: list[RunResult], known_issues: bool = True,
          issues: tuple[KnownIssue, ...] | None = None, expect: list[str] | None = None) -> MatrixResult:
    """The results as one matrix, each classified against the known issues as `inv matrix` does
    (or given its raw verdict); the same cell from two sources keeps both, numbered. Every cell in
    expect that no result names is a failed cell of its own."""
    issues = load_known_issues() if issues is None else issues
    cells: list[Cell] = []
    seen: dict[str, int] = {}
    for result in map(_complete, results):
        name = run_label(result) if result.arch else result.tree
        seen[name] = seen.get(name, 0) + 1
        cell = Cell(None, name if seen[name] == 1 else f"{name}#{seen[name]}", result=result, arch=result.arch,
                    kernel=series(result.kernel_version), toolchain=result.toolchain, revision=result.revision)
        try:
            arch = resolve_arch(result.arch) if result.arch else None
        except UserError:
            arch = None
        if arch is not None and result.checks:
            result.verdict = verdict(result.checks)  # never the stored one: the checks decide
            opts = CheckOptions(arch=arch, toolchain=result.toolchain, kernel=series(result.kernel_version),
                                known_issues=known_issues, module=result.module)
            classify(opts, result, issues)
            cell.status, cell.note = result.status, result.note
        else:
            result.status = cell.status = FAIL
        if not result.checks:
            cell.error = result.error or "the result holds no checks"
        cells.append(cell)
    for label in expect or []:
        if not any(expected_cell(label, c.label) for c in cells):
            cells.append(Cell(None, label, error="no result names this cell: its job left no file, or the file "
                              "was not collected", arch=_arch_of(label)))
    return MatrixResult(cells, sum(r.seconds for r in results))


def expected_cell(expected: str, label: str) -> bool:
    """Whether a cell label answers an expected one; 'tree' in the expected label stands for any
    series (a workflow in a kernel tree cannot know its version)."""
    want, have = expected.split("/"), label.split("#")[0].split("/")
    return len(want) == len(have) and all(w == h or (i == 1 and w == "tree") for i, (w, h) in
                                          enumerate(zip(want, have)))


def _arch_of(label: str) -> str:
    return label.split("/")[0].split("@")[0]


def check_expected(labels: list[str]) -> list[str]:
    """--expect's cell names, each with a known arch (UserError otherwise)."""
    for label in labels:
        resolve_arch(_arch_of(label))
        if "/" not in label and "@" not in label:
            raise UserError(f"--expect {label}: name a cell as the tables do, e.g. x86_64/6.12 or arm64/6.1/llvm")
    return labels
