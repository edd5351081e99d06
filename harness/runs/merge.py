"""One matrix from results made anywhere: `inv check --json`, `inv matrix --json`, `inv compare
--json` files, run folders (their result.json), from this machine or from CI jobs."""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import UserError
from harness.results.cells import run_label
from harness.results.run import RunResult
from harness.runs.check import classify
from harness.runs.matrix import Cell, MatrixResult
from harness.runs.options import CheckOptions
from harness.spec.arches import resolve_arch
from harness.verdict.known_issues import KnownIssue
from harness.verdict.known_issues import load as load_known_issues


def results_in(path: Path) -> list[RunResult]:
    """Every run result a file or folder holds (a folder is searched for *.json files)."""
    if not path.exists():
        raise UserError(f"{path} does not exist: give result files (--json of check, matrix or compare) or "
                        "folders that hold them")
    files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
    found: list[RunResult] = []
    for f in files:
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError) as e:
            if path.is_dir():
                continue  # other JSON files in a CI artifact folder
            raise UserError(f"{f} is not a JSON result: {e}") from None
        found.extend(_results_of(data))
    if not found:
        raise UserError(f"{path} holds no kprobe-harness result (JSON of inv check, matrix or compare)")
    return found


def _results_of(data: object) -> list[RunResult]:
    if not isinstance(data, dict) or data.get("schema_version") != 1:
        return []
    if "cells" in data:  # a matrix or a comparison: a cell's error (a kernel that did not build) is its own
        runs = []
        for cell in data["cells"]:
            if cell.get("result"):
                run = RunResult.from_json(cell["result"])
                run.error = run.error or cell.get("error", "")
                runs.append(run)
        return runs
    if "arch" in data and "checks" in data:
        return [RunResult.from_json(data)]
    return []


def merge(results: list[RunResult], known_issues: bool = True,
          issues: tuple[KnownIssue, ...] | None = None) -> MatrixResult:
    """The results as one matrix, each classified against the known issues as `inv matrix` does
    (or given its raw verdict); the same cell from two sources keeps both, numbered."""
    issues = load_known_issues() if issues is None else issues
    cells: list[Cell] = []
    seen: dict[str, int] = {}
    for result in results:
        name = run_label(result)
        seen[name] = seen.get(name, 0) + 1
        opts = CheckOptions(arch=resolve_arch(result.arch), toolchain=result.toolchain,
                                     kernel=".".join(result.kernel_version.split(".")[:2]),
                                     known_issues=known_issues, module=result.module)
        classify(opts, result, issues)
        cell = Cell(opts, name if seen[name] == 1 else f"{name}#{seen[name]}", result=result,
                    status=result.status, note=result.note)
        if not result.checks and result.error:
            cell.error = result.error
        cells.append(cell)
    return MatrixResult(cells, sum(r.seconds for r in results))
