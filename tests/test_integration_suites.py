"""The kernel's own probe tests beside our module, on real kernels: a healthy kernel passes them, and
kernels broken where only they look fail with the case named while our module's checks pass."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import KNOWN_612
from test_integration_bad_kernels import BAD, SKIPS_EVERY_CASE, SUITE_ONLY, WARN_IN_A_CASE, check_json
from test_integration_qemu import qemu_processes

# the long set (inv test --full): two cold builds of the suites' larger configuration
pytestmark = [pytest.mark.qemu, pytest.mark.full]

# kretprobe_return_suffix.tc: "%return" is accepted and makes an entry probe (our module and the
# startup test define kretprobes with "r:", so only the tree's case sees it); register_kprobes()
# skips the first probe of its array (trace_kprobe registers one at a time: only kprobes_test sees it)
FTRACE_ONLY, BOOT_ONLY = SUITE_ONLY.items()
SUITES = ("ftrace:", "boot:")
# what the kernel's own tests fail on every healthy 6.12 x86_64 kernel, explained by a known issue:
# deleting a tracepoint probe on an unloaded module oopses (tprobe-on-unloaded-module-oops)
KNOWN_SUITES_612 = ["ftrace:dynevent/add_remove_tprobe_module", "ftrace:kernel_log"]


def _ours(checks: list[dict]) -> list[str]:  # type: ignore[type-arg]
    """Our module's checks that failed (those of the kernel's own tests left out)."""
    return [c["name"] for c in checks if c["status"] == "fail" and not c["name"].startswith(SUITES)]


def test_a_healthy_kernel_passes_the_kernels_own_probe_tests(tmp_path: Path) -> None:
    code, data, stdout = check_json(tmp_path, "x86_64", "--suite", "all")
    checks = data["checks"]
    assert code == 0, stdout[-4000:]
    assert data["suite"] == "all"
    assert _ours(checks) == KNOWN_612
    cases = [c for c in checks if c["name"].startswith("ftrace:") and c["name"] != "ftrace:kernel_log"]
    assert len(cases) >= 40, [c["name"] for c in cases]
    assert [c["name"] for c in cases if c["status"] == "fail"] == KNOWN_SUITES_612[:1], stdout[-4000:]
    assert "tprobe-on-unloaded-module-oops" in [i["id"] for i in data["known_issues"]]
    assert sum(c["status"] == "pass" for c in cases) >= 38
    # what did not run says why, and no verdict holds it against the kernel
    assert all(c.get("excuse") and c["detail"] for c in cases if c["status"] == "not run")
    boot = {c["name"]: c["status"] for c in checks if c["name"].startswith("boot:")}
    assert boot["boot:kprobe_tracing"] == "pass"
    assert boot["boot:kprobes_test/test_kprobe"] == boot["boot:kprobes_test/test_kretprobe"] == "pass"
    assert boot["boot:fprobe_test/test_fprobe"] == "pass"  # x86_64 has fprobe
    assert [n for n, s in boot.items() if s != "pass"] == []
    assert "XFAIL: x86_64, Linux 6.12" in stdout and "suite all, profile abi" in stdout
    assert not qemu_processes()


def test_kernels_broken_where_only_the_kernels_own_tests_look_fail_with_the_case_named(tmp_path: Path) -> None:
    """Both patches in one kernel: every check of our module passes, and each suite fails exactly
    the case that looks where its patch broke the kernel."""
    code, data, stdout = check_json(tmp_path, "x86_64", "--suite", "all",
                                    "--patch", str(BAD / FTRACE_ONLY[0]), "--patch", str(BAD / BOOT_ONLY[0]))
    checks = data["checks"]
    failed = [c["name"] for c in checks if c["status"] == "fail"]
    assert code == 1, stdout[-4000:]
    assert _ours(checks) == KNOWN_612, failed
    assert FTRACE_ONLY[1] in failed and BOOT_ONLY[1] in failed, failed
    assert set(failed) - {FTRACE_ONLY[1], BOOT_ONLY[1], *KNOWN_612, *KNOWN_SUITES_612} == set(), failed
    detail = next(c["detail"] for c in checks if c["name"] == BOOT_ONLY[1])
    assert "test_kprobes" in detail
    assert not qemu_processes()


def test_a_warn_while_one_case_runs_fails_beside_the_known_oops_of_another(tmp_path: Path) -> None:
    """The kernel WARNs each time an eprobe is created: the console (log level 1) never shows it, the
    last case still oopses as the known issue says, and the WARN must not hide behind that issue."""
    [(patch, check)] = WARN_IN_A_CASE.items()
    code, data, stdout = check_json(tmp_path, "x86_64", "--suite", "ftrace", "--patch", str(BAD / patch))
    checks = {c["name"]: c for c in data["checks"]}
    assert code == 1 and data["status"] == "fail", stdout[-4000:]
    assert _ours(data["checks"]) == KNOWN_612
    log = checks[check]
    assert log["status"] == "fail" and "eprobe created" in log["detail"], log["detail"][:2000]
    assert "while dynevent/add_remove_eprobe.tc ran" in log["detail"], log["detail"][:2000]
    assert any("trace_eprobe.c" in f for f in log["findings"]), log["findings"]
    assert f"matched {check} only in part" in data["note"], data["note"]
    assert not qemu_processes()


def test_a_kunit_suite_whose_every_case_skips_fails(tmp_path: Path) -> None:
    """Before, each skipped case was "not run" and no verdict held it against the kernel: a suite
    that tested nothing passed."""
    [(patch, check)] = SKIPS_EVERY_CASE.items()
    code, data, stdout = check_json(tmp_path, "x86_64", "--suite", "boot", "--patch", str(BAD / patch))
    checks = {c["name"]: c for c in data["checks"]}
    assert code == 1 and data["status"] == "fail", stdout[-4000:]
    assert checks[check]["status"] == "fail" and "every one of its" in checks[check]["detail"], checks.get(check)
    assert not [n for n in checks if n.startswith(f"{check}/")]
    assert checks["boot:fprobe_test/test_fprobe"]["status"] == "pass"
    assert not qemu_processes()
