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
    assert again.pop("schema_version") == 2 and data.pop("schema_version") == 1
    # a check a known issue left nothing to read gets its excuse from the detail it was written with
    excused = {c["name"]: c.pop("excuse") for c in again["checks"] if "excuse" in c}  # type: ignore[attr-defined]
    assert excused == {"filename_arg": "nothing to read: known issue riscv64-kprobe-records-in-nmi shows",
                       "register_args": "nothing to read: known issue riscv64-kprobe-records-in-nmi shows"}
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
    assert done.returncode == 128 and "--results" in done.stderr
    done = inv("report", "split", "--results", str(tmp_path), cache=tmp_path / "cache")
    assert done.returncode == 128 and "unknown report action 'split'" in done.stderr


def test_a_local_check_a_lava_run_and_a_matrix_file_make_one_table(tmp_path: Path) -> None:
    from harness.results.run import write_json
    from harness.runs import lava_check

    lava_job = tmp_path / "lava-job"
    import shutil

    shutil.copytree(DATA / "lava-x86_64-6.12", lava_job)
    write_json(lava_check.results_of(lava_job), tmp_path / "lava.json")  # what `inv lava --results --json` writes
    (tmp_path / "check.json").write_text(json.dumps(a_pass("arm64")))
    matrix = {"schema_version": 1, "ok": False, "seconds": 1.0, "cells": [
        {"cell": "riscv64/6.12", "arch": "riscv64", "kernel": "6.12", "status": "xfail", "note": "", "error": "",
         "known_issues": [], "result": recorded()}]}
    (tmp_path / "matrix.json").write_text(json.dumps(matrix))
    runs = [r for name in ("check.json", "lava.json", "matrix.json") for r in merge.results_in(tmp_path / name)]
    merged = merge.merge(runs)
    # the LAVA run is a healthy kernel, xfail only for the empty user string (a known issue)
    assert [(c.label, c.status) for c in merged.cells] == [
        ("arm64/6.12", "pass"), ("x86_64/6.12", "xfail"), ("riscv64/6.12", "xfail")]
    from harness.runs import matrix as matrix_run

    table = matrix_run.format_matrix(merged)
    assert "lava_job" in table and "matrix OK: 1 pass, 2 xfail" in table


def merged_alone(tmp_path: Path, name: str, text: str, **options: object) -> merge.MatrixResult:
    (tmp_path / "in").mkdir(parents=True, exist_ok=True)
    (tmp_path / "in" / name).write_text(text)
    return merge.merge(merge.results_in(tmp_path / "in"), **options)  # type: ignore[arg-type]


def test_a_truncated_result_in_a_folder_is_a_failed_cell_naming_the_file(tmp_path: Path) -> None:
    text = json.dumps(a_pass())
    merged = merged_alone(tmp_path, "result.json", text[: len(text) // 2])
    [cell] = merged.cells
    assert cell.status == "fail" and not merged.ok
    assert "result.json" in cell.label and "cannot be read as JSON" in cell.error


def test_a_result_that_does_not_validate_is_a_failed_cell(tmp_path: Path) -> None:
    bad = a_pass()
    bad["checks"][0]["status"] = "probably fine"
    [cell] = merged_alone(tmp_path, "r.json", json.dumps(bad)).cells
    assert cell.status == "fail" and "does not validate against result.schema.json" in cell.error
    assert "checks/0/status" in cell.error


def test_a_matrix_cell_without_a_result_is_a_failed_cell(tmp_path: Path) -> None:
    matrix = {"schema_version": 2, "ok": False, "seconds": 1.0, "cells": [
        {"cell": "arm64/6.12", "arch": "arm64", "kernel": "6.12", "status": "fail", "note": "",
         "error": "patch my.patch does not apply", "known_issues": [], "result": None},
        {"cell": "x86_64/6.12", "arch": "x86_64", "kernel": "6.12", "status": "pass", "note": "", "error": "",
         "known_issues": [], "result": a_pass()}]}
    merged = merged_alone(tmp_path, "matrix.json", json.dumps(matrix))
    assert [(c.label, c.status) for c in merged.cells] == [("arm64/6.12", "fail"), ("x86_64/6.12", "pass")]
    assert "does not apply" in merged.cells[0].error and not merged.ok


def test_a_passing_result_with_fewer_checks_than_its_profile_defines_fails(tmp_path: Path) -> None:
    short = a_pass()
    short["checks"] = [c for c in short["checks"] if c["name"] not in ("retval", "kernel_log")]
    [cell] = merged_alone(tmp_path, "r.json", json.dumps(short)).cells
    assert cell.status == "fail"
    complete = next(c for c in cell.result.checks if c.name == merge.COMPLETE)  # type: ignore[union-attr]
    assert "missing: retval, kernel_log" in complete.detail


def test_a_run_that_stopped_early_is_a_failed_cell_with_its_exit_code(tmp_path: Path) -> None:
    early = {"schema_version": 2, "status": "untested", "exit_code": 125, "error": "kernel build failed; see build.log",
             "command": "inv check --arch arm64", "arch": "arm64", "kernel": "6.12", "toolchain": "gcc"}
    [cell] = merged_alone(tmp_path, "r.json", json.dumps(early)).cells
    assert (cell.label, cell.status) == ("arm64/6.12", "fail")
    assert "untested (exit 125): kernel build failed" in cell.error
    # a run refused before it knew its arch is named by its file
    refused = {"schema_version": 2, "status": "error", "exit_code": 2, "error": "unknown architecture 'sparc'",
               "command": "inv check --arch sparc"}
    [cell] = merged_alone(tmp_path / "refused", "s.json", json.dumps(refused)).cells
    assert cell.label.endswith("s.json") and cell.status == "fail" and "unknown architecture" in cell.error


def test_an_expected_cell_no_result_names_fails_the_merge(tmp_path: Path) -> None:
    merged = merged_alone(tmp_path, "r.json", json.dumps(a_pass()), expect=["x86_64/6.12", "arm64/6.12/llvm"])
    assert [(c.label, c.status) for c in merged.cells] == [("x86_64/6.12", "pass"), ("arm64/6.12/llvm", "fail")]
    assert "no result names this cell" in merged.cells[1].error and not merged.ok
    assert merge.expected_cell("x86_64/tree", "x86_64/6.13") and not merge.expected_cell("x86_64/tree", "x86_64/6.13/llvm")


def test_check_writes_its_json_also_when_it_stops_before_any_check(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    done = inv("check", "--arch", "x86_64", "--profile", "nonsense", "--json", str(out), cache=tmp_path / "cache")
    assert done.returncode == 128
    data = json.loads(out.read_text())
    validate_json(data, "result")
    assert (data["status"], data["exit_code"], data["arch"]) == ("error", 128, "x86_64")
    assert "unknown probe profile 'nonsense'" in data["error"]
    merged = inv("report", "merge", "--results", str(out), cache=tmp_path / "cache")
    assert merged.returncode == 1 and "x86_64/6.12: FAIL" in merged.stdout


def test_a_stored_verdict_is_never_trusted_and_a_result_lacking_its_suites_checks_is_incomplete() -> None:
    from harness.runs import merge as merging
    from harness.verdict.checks import Check

    data = recorded()
    data["checks"] = [c for c in data["checks"] if c["name"] != "kernel_log"] + [
        {"name": "kernel_log", "status": "fail", "detail": "WARNING", "findings": ["WARNING: x"]}]
    data["verdict"] = data["status"] = "pass"
    raw = merging.merge([RunResult.from_json(data)], known_issues=False)
    assert raw.cells[0].status == "fail"  # the checks decide, not what the file says
    complete = RunResult.from_json(recorded())
    complete.suite = "all"
    merged = merging.merge([complete])
    check = next(c for c in merged.cells[0].result.checks if c.name == merging.COMPLETE)  # type: ignore[union-attr]
    assert check.status == "fail" and "ftrace:kernel_log" in check.detail and "boot:kprobe_tracing" in check.detail
    assert isinstance(check, Check)
