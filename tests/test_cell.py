"""One name per cell: the options of a run, its result and the merge of that result agree."""

from __future__ import annotations

from harness.results.cells import from_run, run_label
from harness.results.run import RunResult
from harness.runs.check import CheckOptions
from harness.spec.arches import ARCHES
from harness.spec.cell import cell_label


def result(**fields: str) -> RunResult:
    return RunResult(**{"arch": "arm64", "kernel_version": "6.12.117", "tree": "/t", "profile": "abi",
                        "func": "do_sys_open", **fields})  # type: ignore[arg-type]


def test_a_cell_is_named_by_arch_series_toolchain_and_module() -> None:
    assert cell_label("x86_64", "6.12.117") == "x86_64/6.12"
    assert cell_label("arm64", "6.1", "llvm") == "arm64/6.1/llvm"
    assert cell_label("arm", "6.12", module="in-tree") == "arm/6.12/in-tree"
    assert cell_label("x86_64", "6.12", module="seed") == "x86_64/6.12/seed"
    assert cell_label("riscv64", "6.12", revision="0123456789abcdef0123") == "riscv64@0123456789ab"


def test_options_result_and_report_name_the_same_cell() -> None:
    opts = CheckOptions(arch=ARCHES["arm64"], kernel="6.12", toolchain="llvm")
    run = result(toolchain="llvm")
    assert opts.label == run_label(run) == from_run(run).label == "arm64/6.12/llvm"
    revision = CheckOptions(arch=ARCHES["arm64"], revision="feedfacecafebeef00")
    assert revision.label == run_label(result(revision="feedfacecafebeef00")) == "arm64@feedfacecafe"
