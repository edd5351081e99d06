"""JUnit, KTAP and Markdown reports, read back with a JUnit library and the kernel's own KTAP parser."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import in_ci
from junitparser import Error, Failure, JUnitXml, Skipped

from harness.build import tree as trees
from harness.host import paths
from harness.results import junit, ktap, markdown
from harness.results.cells import CellReport
from harness.results.run import RunResult
from harness.spec import kernels
from harness.verdict.checks import Check

COMMAND = "inv matrix --arches x86_64,riscv64,arm64,arm"


def result(arch: str, checks: list[Check], artifacts: str = "") -> RunResult:
    return RunResult(arch=arch, kernel_version="6.12.117", tree="/t", profile="abi", func="do_sys_open",
                     verdict="pass" if all(c.status == "pass" for c in checks) else "fail", checks=checks,
                     artifacts=artifacts, seconds=8.5)


def cells(tmp_path: Path) -> list[CellReport]:
    (tmp_path / "console.log").write_text("boot\nKH-GUEST-READY\nWARNING: CPU: 0 PID: 1 at x\n")
    ok = [Check("insmod", "pass"), Check("kprobe_records", "pass"), Check("retval", "pass")]
    xfail = [Check("insmod", "pass"), Check("kprobe_records", "fail", "0 records; 19 hits"),
             Check("filename_arg", "not run", "nothing to check while riscv-nmi shows",
                   excuse="nothing to read: known issue riscv-nmi shows"), Check("retval", "pass")]
    fail = [Check("insmod", "pass"), Check("kprobe_records", "pass"), Check("retval", "fail", "returned 0x4, expected 3")]
    return [
        CellReport("x86_64/6.12", "x86_64", "6.12.117", "pass", result("x86_64", ok)),
        CellReport("riscv64/6.12", "riscv64", "6.12.117", "xfail", result("riscv64", xfail), note="riscv-nmi: NMI"),
        CellReport("arm64/6.12", "arm64", "6.12.117", "fail", result("arm64", fail, str(tmp_path))),
        CellReport("arm/6.12", "arm", "6.12", "fail", None, error="kernel build failed; see build.log"),
    ]


def test_junit_has_a_suite_per_cell_and_a_case_per_check(tmp_path: Path) -> None:
    out = tmp_path / "r.xml"
    out.write_text(junit.render(cells(tmp_path), COMMAND))
    suites = {s.name: s for s in JUnitXml.fromfile(str(out))}
    assert list(suites) == ["x86_64/6.12", "riscv64/6.12", "arm64/6.12", "arm/6.12"]
    assert [c.name for c in suites["x86_64/6.12"]] == ["insmod", "kprobe_records", "retval"]
    assert all(c.is_passed for c in suites["x86_64/6.12"])
    xfail = {c.name: c for c in suites["riscv64/6.12"]}
    assert isinstance(xfail["kprobe_records"].result[0], Skipped)
    assert xfail["kprobe_records"].result[0].message == "XFAIL: riscv-nmi: NMI"
    assert xfail["filename_arg"].result[0].message.startswith("not run (nothing to read: known issue riscv-nmi")
    failed = {c.name: c for c in suites["arm64/6.12"]}["retval"].result[0]
    assert isinstance(failed, Failure) and failed.message == "returned 0x4, expected 3"
    assert "WARNING: CPU: 0" in (failed.text or ""), "the console excerpt is in the failure"
    assert isinstance(next(iter(suites["arm/6.12"])).result[0], Error)
    assert suites["arm64/6.12"].failures == 1 and suites["riscv64/6.12"].skipped == 2
    props = {p.name: p.value for p in suites["arm64/6.12"].properties()}
    assert props["command"] == COMMAND and props["status"] == "fail"


def kunit_py(tmp_path: Path) -> Path:
    """The kernel's own kunit.py: from the unpacked distribution tree, else from its tarball."""
    unpacked = paths.trees_dir() / f"linux-source-{kernels.DEFAULT_KERNEL}/tools/testing/kunit/kunit.py"
    if unpacked.exists():
        return unpacked
    tarball = Path(trees.SOURCE_TARBALL.format(version=kernels.DEFAULT_KERNEL))
    if not tarball.exists():
        message = f"{tarball} is missing: run 'inv setup'"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    prefix = f"linux-source-{kernels.DEFAULT_KERNEL}/tools/testing/kunit/"
    with tarfile.open(tarball) as tar:
        tar.extractall(tmp_path, members=[m for m in tar if m.name.startswith(prefix)], filter="data")
    return tmp_path / prefix / "kunit.py"


def test_ktap_is_read_by_the_kernels_own_parser(tmp_path: Path) -> None:
    text = ktap.render(cells(tmp_path), COMMAND)
    assert text.startswith("KTAP version 1\n")
    assert "  ok 2 kprobe_records # XFAIL riscv-nmi\n" in text and "\n# riscv-nmi: NMI\n" in text
    assert "\nok 2 riscv64/6.12 # XFAIL riscv-nmi\n" in text  # as kselftest writes an expected failure
    out = tmp_path / "r.ktap"
    out.write_text(text)
    parsed = subprocess.run([sys.executable, str(kunit_py(tmp_path)), "parse", str(out)],
                            capture_output=True, text=True, check=False)
    last = re.search(r"Testing complete\. Ran (\d+) tests: (.*)", parsed.stdout)
    assert last, parsed.stdout + parsed.stderr
    counts = {k.strip(): int(v) for k, v in (p.split(":") for p in last.group(2).split(","))}
    # 3 + 4 + 3 checks and the arm cell's run error; an XFAIL is written as kselftest writes one, so
    # kunit.py counts it as passed (the known failure is no failure of the run)
    assert int(last.group(1)) == 11
    assert counts == {"passed": 8, "failed": 2, "skipped": 1}, parsed.stdout


def test_markdown_has_the_table_the_failures_and_the_command(tmp_path: Path) -> None:
    text = markdown.render(cells(tmp_path), COMMAND)
    assert text.startswith("## kprobe-harness: FAILED (1 pass, 1 xfail, 2 fail)")
    assert "| check | x86_64/6.12 | riscv64/6.12 | arm64/6.12 | arm/6.12 |" in text
    assert "| retval | pass | pass | **fail** | - |" in text
    assert "### arm64/6.12: FAIL" in text and "returned 0x4, expected 3" in text
    assert "kernel build failed" in text and "WARNING: CPU: 0" in text
    assert text.rstrip().endswith(f"```sh\n{COMMAND}\n```")


def test_a_quoted_code_fence_cannot_break_out_of_its_block(tmp_path: Path) -> None:
    hostile = "kernel said:\n```\n## injected heading\n[click](http://evil.example)\n```"
    bad = [Check("insmod", "pass"), Check("kernel_log", "fail", hostile)]
    text = markdown.render([CellReport("arm64/6.12", "arm64", "6.12.117", "fail", result("arm64", bad))], COMMAND)
    at = text.index("## injected heading")
    opened = text.rfind("\n````\n", 0, at)
    assert opened != -1 and text.find("\n````", at) != -1, "the block's fence is longer than the quoted one"
    assert "\n```\n## injected heading" in text[opened:at + 20]
