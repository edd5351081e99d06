from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.results.run import RunResult
from harness.runs import matrix
from harness.runs.options import CheckOptions
from harness.spec.arches import ARCHES
from harness.verdict import known_issues
from harness.verdict.checks import FAIL, Check

ISSUE = known_issues.KnownIssue(id="riscv-nmi", arch="riscv64", since="6.2", before="",
                         facts=(known_issues.parse_predicate("kprobe.records", "== 0"),), checks=("kprobe_records",),
                         reason="records refused in NMI context", reference="traps.c", evidence="run")


def cell(arch: str, status: str, checks: list[Check], note: str = "") -> matrix.Cell:
    result = RunResult(arch=arch, kernel_version="6.12.117", tree="/t", profile="upstream", func="do_sys_open",
                       verdict="pass" if all(c.status == "pass" for c in checks) else "fail", checks=checks,
                       stages=[("kernel build", 100.0), ("boot", 1.5), ("guest session", 1.2)],
                       artifacts="/runs/x", seconds=105.0)
    c = matrix.Cell(CheckOptions(arch=ARCHES[arch]), f"{arch}/6.12", result=result)
    c.status, c.note = status, note
    return c


def sample() -> matrix.MatrixResult:
    ok = [Check("insmod", "pass"), Check("kprobe_records", "pass")]
    bad = [Check("insmod", "pass"), Check("kprobe_records", "fail", "0 records from 'cat'; 4 hits")]
    return matrix.MatrixResult([cell("x86_64", "pass", ok), cell("riscv64", "xfail", bad, "riscv-nmi: NMI")], 200.0)


def test_matrix_with_only_passes_and_xfails_is_ok() -> None:
    assert sample().ok


def test_a_plain_fail_or_an_xpass_makes_the_matrix_fail() -> None:
    m = sample()
    m.cells[0].status = FAIL
    assert not m.ok
    m.cells[0].status = known_issues.XPASS
    assert not m.ok


def test_table_has_a_column_per_cell_and_a_row_per_check_and_stage() -> None:
    text = matrix.format_matrix(sample())
    header = text.splitlines()[0]
    assert "x86_64/6.12" in header and "riscv64/6.12" in header
    for row in ("RESULT", "insmod", "kprobe_records", "build s", "boot s", "total s"):
        assert any(line.startswith(row) for line in text.splitlines()), row
    assert "XFAIL" in text and "riscv-nmi: NMI" in text
    assert "0 records from 'cat'" in text  # the reason under the known issue is still shown
    assert "matrix OK" in text


def with_the_issue(m: matrix.MatrixResult) -> matrix.MatrixResult:
    """The riscv cell's result names the issue, as classify writes it."""
    result = m.cells[1].result
    assert result is not None
    result.known_issues = [{"id": ISSUE.id, "reason": ISSUE.reason, "reference": ISSUE.reference}]
    return m


def test_json_keeps_status_reason_and_full_result(tmp_path: Path) -> None:
    m = with_the_issue(sample())
    matrix.write_json(m, tmp_path / "m.json")
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["ok"] is True
    riscv = data["cells"][1]
    assert riscv["status"] == "xfail"
    assert riscv["known_issues"][0]["reason"] == ISSUE.reason
    assert riscv["result"]["checks"][1]["detail"].startswith("0 records")


def test_matrix_json_follows_its_schema(tmp_path: Path) -> None:
    from conftest import validate_json
    m = with_the_issue(sample())
    m.cells.append(matrix.Cell(CheckOptions(arch=ARCHES["arm"]), "arm/6.12", error="kernel build failed"))
    matrix.write_json(m, tmp_path / "m.json")
    validate_json(json.loads((tmp_path / "m.json").read_text()), "matrix")


def test_a_real_result_follows_the_schema_and_a_broken_one_does_not(data: Path) -> None:
    import jsonschema
    from conftest import validate_json
    real = json.loads((data / "result-riscv64-6.12-xfail.json").read_text())
    validate_json(real, "result")
    assert real["schema_version"] == 1 and real["status"] == "xfail"
    broken = {**real, "status": "maybe"}
    with pytest.raises(jsonschema.ValidationError):
        validate_json(broken, "result")


class FakeRun:
    """The run of one cell, stage by stage, without a build or a boot: what each stage does is told."""

    def __init__(self, raising: dict[str, dict[str, BaseException]]) -> None:
        self.raising = raising  # cell label -> stage -> what it raises
        self.finished: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def stage(name: str):  # type: ignore[no-untyped-def]
            def run(opts: CheckOptions, ctx: object, *rest: object) -> object:
                error = self.raising.get(opts.label, {}).get(name)
                if error is not None:
                    raise error
                return "built" if name == "build" else None
            return run

        def start(opts: CheckOptions, echo: object) -> object:
            result = RunResult(arch=opts.arch.name, kernel_version="6.12.117", tree="/t", profile="abi",
                               func="do_sys_open", verdict="pass", status="pass", checks=[Check("insmod", "pass")])
            return type("Ctx", (), {"result": result, "label": opts.label})()

        def finish(ctx: object) -> None:
            self.finished.append(ctx.label)  # type: ignore[attr-defined]
            error = self.raising.get(ctx.label, {}).get("finish")  # type: ignore[attr-defined]
            if error is not None:
                raise error

        monkeypatch.setattr(matrix, "start_run", start)
        monkeypatch.setattr(matrix, "build_cell", stage("build"))
        monkeypatch.setattr(matrix, "boot_and_check", stage("boot"))
        monkeypatch.setattr(matrix, "classify", lambda opts, result, issues: None)
        monkeypatch.setattr(matrix, "finish", finish)


def test_a_cell_that_raises_anything_is_that_cells_error_and_the_others_go_on(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    fake = FakeRun({
        "x86_64/6.12": {"build": OSError(28, "No space left on device")},
        "arm64/6.12": {"boot": subprocess.CalledProcessError(128, ["git", "checkout"]),
                       "finish": OSError(28, "No space left on device")},
    })
    fake.install(monkeypatch)
    opts = [CheckOptions(arch=ARCHES[a]) for a in ("x86_64", "arm64", "riscv64")]
    m = matrix.run_matrix(opts, echo=lambda line: None, issues=())
    x86, arm64, riscv = m.cells
    assert x86.status == FAIL and "No space left" in x86.error and "inv cache prune" in x86.error, "a full disk says so"
    assert arm64.status == FAIL and "CalledProcessError" in arm64.error, "the first error, not finish's"
    assert riscv.status == "pass" and not riscv.error
    assert not m.ok
    assert fake.finished == ["x86_64/6.12", "arm64/6.12", "riscv64/6.12"], "every run is finished"
