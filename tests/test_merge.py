"""inv report merge: results from anywhere, one matrix, known issues applied as inv matrix does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DATA, validate_json
from test_cli import inv

from harness.errors import UserError
from harness.results.run import RunResult
from harness.runs import merge


def recorded() -> dict:  # type: ignore[type-arg]
    return json.loads((DATA / "result-riscv64-6.12-xfail.json").read_text())


def a_pass(arch: str = "x86_64", toolchain: str = "gcc") -> dict:  # type: ignore[type-arg]
    data = recorded()
    data.update(arch=arch, toolchain=toolchain, status="pass", verdict="pass", note="", known_issues=[],
                facts={}, checks=[{"name": c["name"], "status": "pass", "detail": ""} for c in data["checks"]])
    return data


def test_a_result_reads_back_as_it_was_written() -> None:
    data = recorded()
    again = RunResult.from_json(data).to_json()
    assert again == {**data, **{k: again[k] for k in again.keys() - data.keys()}}


def test_results_from_files_folders_and_matrices_make_one_classified_matrix(tmp_path: Path) -> None:
    (tmp_path / "ci/job-1").mkdir(parents=True)
    (tmp_path / "ci/job-1/result.json").write_text(json.dumps(a_pass("arm64")))
    (tmp_path / "ci/job-1/other.json").write_text('{"not": "ours"}')
    matrix = {"schema_version": 1, "ok": True, "seconds": 1.0, "cells": [
        {"cell": "x86_64/6.12/llvm", "arch": "x86_64", "kernel": "6.12", "status": "pass", "note": "", "error": "",
         "known_issues": [], "result": a_pass("x86_64", "llvm")}]}
    (tmp_path / "matrix.json").write_text(json.dumps(matrix))
    raw = recorded()
    raw.update(status="fail", note="", checks=[{**c, "status": "fail" if c["status"] == "not run" else c["status"]}
                                              for c in raw["checks"]])  # as --no-known-issues wrote it
    (tmp_path / "raw.json").write_text(json.dumps(raw))
    runs = [r for p in ("ci", "matrix.json", "raw.json") for r in merge.results_in(tmp_path / p)]
    merged = merge.merge(runs)
    assert [(c.label, c.status) for c in merged.cells] == [
        ("arm64/6.12", "pass"), ("x86_64/6.12/llvm", "pass"), ("riscv64/6.12", "xfail")]
    assert merged.ok
    assert [c.status for c in merge.merge(runs, known_issues=False).cells] == ["pass", "pass", "fail"]


def test_the_merge_task_prints_the_table_writes_reports_and_exits_as_the_matrix_does(tmp_path: Path) -> None:
    (tmp_path / "xfail.json").write_text(json.dumps(recorded()))
    (tmp_path / "pass.json").write_text(json.dumps(a_pass()))
    out = tmp_path / "merged.json"
    done = inv("report", "merge", "--results", str(tmp_path / "xfail.json"), "--results", str(tmp_path / "pass.json"),
               "--json", str(out), "--markdown", str(tmp_path / "m.md"), cache=tmp_path / "cache")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "matrix OK: 1 pass, 1 xfail" in done.stdout
    written = json.loads(out.read_text())
    validate_json(written, "matrix")
    assert [c["kernel"] for c in written["cells"]] == ["6.12", "6.12"]
    assert "riscv64/6.12" in (tmp_path / "m.md").read_text()
    raw = inv("report", "merge", "--results", str(tmp_path), "--no-known-issues", cache=tmp_path / "cache")
    assert raw.returncode == 1 and "matrix FAILED" in raw.stdout


def test_nothing_to_merge_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        merge.results_in(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no kprobe-harness result"):
        merge.results_in(tmp_path / "empty")
    done = inv("report", "merge", cache=tmp_path / "cache")
    assert done.returncode == 2 and "--results" in done.stderr
    done = inv("report", "split", "--results", str(tmp_path), cache=tmp_path / "cache")
    assert done.returncode == 2 and "unknown report action 'split'" in done.stderr


def test_a_local_check_a_lava_run_and_a_matrix_file_make_one_table(tmp_path: Path) -> None:
    from harness.results.run import write_json
    from harness.runs import lava_check

    lava_job = tmp_path / "lava-job"
    import shutil

    shutil.copytree(DATA / "lava-x86_64-6.12-pass", lava_job)
    write_json(lava_check.results_of(lava_job), tmp_path / "lava.json")  # what `inv lava --results --json` writes
    (tmp_path / "check.json").write_text(json.dumps(a_pass("arm64")))
    matrix = {"schema_version": 1, "ok": False, "seconds": 1.0, "cells": [
        {"cell": "riscv64/6.12", "arch": "riscv64", "kernel": "6.12", "status": "xfail", "note": "", "error": "",
         "known_issues": [], "result": recorded()}]}
    (tmp_path / "matrix.json").write_text(json.dumps(matrix))
    runs = [r for name in ("check.json", "lava.json", "matrix.json") for r in merge.results_in(tmp_path / name)]
    merged = merge.merge(runs)
    assert [(c.label, c.status) for c in merged.cells] == [
        ("arm64/6.12", "pass"), ("x86_64/6.12", "pass"), ("riscv64/6.12", "xfail")]
    from harness.runs import matrix as matrix_run

    table = matrix_run.format_matrix(merged)
    assert "lava_job" in table and "matrix OK: 2 pass, 1 xfail" in table
