"""Sanitizer kernels on real boots: three bad kernels whose bugs no trace shows pass every check of a
plain kernel, and the sanitizer profile names each of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import HEALTHY, KNOWN_612
from test_integration_bad_kernels import BAD, SANITIZER_ONLY, check_json
from test_integration_qemu import qemu_processes

pytestmark = pytest.mark.qemu

PATCHES = tuple(a for patch in sorted(SANITIZER_ONLY) for a in ("--patch", str(BAD / patch)))


def _failed(data: dict) -> list[str]:  # type: ignore[type-arg]
    return [c["name"] for c in data["checks"] if c["status"] == "fail"]


def test_the_three_bugs_pass_every_check_of_a_plain_kernel(tmp_path: Path) -> None:
    code, data, stdout = check_json(tmp_path, "x86_64", *PATCHES)
    assert (code, data["status"], _failed(data)) == (0, HEALTHY, KNOWN_612), stdout[-4000:]
    assert not data["sanitizers"] and "sanitizer_reports" not in {c["name"] for c in data["checks"]}


def test_the_sanitizers_name_each_of_the_three_bugs(tmp_path: Path) -> None:
    """All three patches in one sanitizer kernel: KASAN sees the read of the freed probe, the atomic-sleep
    check the mutex in the handler, kmemleak the symbol left behind; the module's own checks pass."""
    code, data, stdout = check_json(tmp_path, "x86_64", "--sanitizers", *PATCHES)
    checks = {c["name"]: c for c in data["checks"]}
    assert code == 1 and data["sanitizers"] and data["status"] == "fail", stdout[-4000:]
    reports = checks["sanitizer_reports"]
    assert reports["status"] == "fail", reports
    assert "BUG: KASAN: slab-use-after-free in trace_kprobe_release" in reports["detail"], reports["detail"]
    assert any(f.startswith("atomic-sleep: BUG: sleeping function called from invalid context")
               for f in reports["findings"]), reports["findings"]
    leak = checks["kmemleak"]
    assert leak["status"] == "fail" and "alloc_trace_kprobe" in leak["detail"], leak
    assert data["facts"]["sanitizer.KASAN"] >= 1 and data["facts"]["sanitizer.leaked_objects"] >= 1
    # what else fails is what the reports themselves cause: the kernel log's BUG lines and the taint
    assert set(_failed(data)) - {"sanitizer_reports", "kmemleak", "kernel_log", "taint", *KNOWN_612} == set(), (
        _failed(data))
    assert "x86_64/6.12/sanitizers" in stdout or "sanitizers KASAN" in stdout
    assert not qemu_processes()


@pytest.mark.full
def test_a_healthy_sanitizer_kernel_reports_nothing(tmp_path: Path) -> None:
    code, data, stdout = check_json(tmp_path, "x86_64", "--sanitizers")
    checks = {c["name"]: c["status"] for c in data["checks"]}
    assert checks["sanitizer_reports"] == checks["kmemleak"] == "pass", stdout[-4000:]
    assert (code, data["status"], _failed(data)) == (0, HEALTHY, KNOWN_612), stdout[-4000:]
