"""Known-bad kernels: every broken link of the path must fail with the check that names it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import HEALTHY, KNOWN_612, require_tools, validate_json
from test_integration_qemu import inv, qemu_processes

pytestmark = pytest.mark.qemu

BAD = Path(__file__).parent / "bad-kernels"
EXPECTED = {
    "registration-drops-a-field.patch": "kprobe_registered",
    "enable-is-a-no-op.patch": "kprobe_enabled",
    "delete-is-a-no-op.patch": "events_removed",
    "retval-off-by-one.patch": "retval",
    "register-fetch-off-by-one.patch": "register_args",
    "user-string-skips-a-byte.patch": "filename_arg",
    "warn-in-dispatcher.patch": "kernel_log",
    "kretprobe-loses-records.patch": "kretprobe_hit_counts",
    "kprobe-never-fires.patch": "kprobe_records",
    "disable-is-a-no-op.patch": "no_records_after_rmmod",
    "ring-buffer-drops-events.patch": "no_lost_events",
    "second-warn-in-kretprobe-dispatcher.patch": "kernel_log",
    "kconfig-drops-bug.patch": "kernel_config",
    "entry-probe-past-the-entry.patch": "kprobe_location",
    # the probe grammar: our do_sys_open events pass every one of these, the grammar target does not
    "stack-arg-fetch-off-by-one.patch": "fetch_stack_args",
    "comm-fetch-skips-a-byte.patch": "fetch_comm",
    "bitfield-shift-off-by-one.patch": "fetch_bitfield",
    "array-fetch-drops-the-last-element.patch": "fetch_array",
    "deref-chain-skips-a-level.patch": "fetch_deref",
    "string-fetch-truncates-at-256.patch": "fetch_string_long",
    "bitfield-check-accepts-any-width.patch": "api_refusals",
    "maxactive-is-forgotten.patch": "kretprobe_maxactive",
    # a kernel that stops offering what its arch and series must offer: its README drops the word
    # and its parser refuses it, so the check was "not offered" and passed before offers.toml
    "argn-is-no-longer-offered.patch": "fetch_argn",
    # a parser bug in an element whose records the riscv64 NMI issue makes go missing: the event is
    # never built, which that issue does not predict (a FAIL on riscv64 6.12 as on x86_64)
    "bitfield-at-offset-0-is-refused.patch": "fetch_bitfield",
}
# kernels only the kernel's own tests catch (tests/test_integration_suites.py runs them with --suite all)
SUITE_ONLY = {
    "return-suffix-makes-an-entry-probe.patch": "ftrace:kprobe/kretprobe_return_suffix",
    "register-kprobes-skips-the-first.patch": "boot:kprobes_test/test_kprobes",
}
# a WARN while one of the kernel's own ftrace cases runs (eprobes, which our module never creates),
# beside the known tprobe oops of the last case: only the suite's kernel log, read per case, sees it
WARN_IN_A_CASE = {"warn-when-an-eprobe-is-created.patch": "ftrace:kernel_log"}
# a KUnit suite in which every case skips itself tested nothing: the suite fails, named
SKIPS_EVERY_CASE = {"kprobes-test-skips-every-case.patch": "boot:kprobes_test"}
# kernels only the sanitizer profile catches (tests/test_integration_sanitizers.py runs them with
# --sanitizers): a use-after-free on event deletion, a mutex in the probe handler, a leak on deletion
SANITIZER_ONLY = {
    "event-release-reads-the-freed-probe.patch": "KASAN",
    "mutex-in-kprobe-handler.patch": "atomic-sleep",
    "event-delete-leaks-the-symbol.patch": "kmemleak",
}
# other elements whose fetches go through the broken one: kh_offset records $comm, and %pD is a
# chain of three dereferences
ALSO = {"comm-fetch-skips-a-byte.patch": ("probe_offset",), "deref-chain-skips-a-level.patch": ("fetch_dentry",),
        "argn-is-no-longer-offered.patch": ("fetch_return_args",)}
GRAMMAR = ("stack-arg-fetch-off-by-one.patch", "comm-fetch-skips-a-byte.patch", "bitfield-shift-off-by-one.patch",
           "array-fetch-drops-the-last-element.patch", "deref-chain-skips-a-level.patch",
           "string-fetch-truncates-at-256.patch", "bitfield-check-accepts-any-width.patch",
           "maxactive-is-forgotten.patch", "argn-is-no-longer-offered.patch", "bitfield-at-offset-0-is-refused.patch")
# the arches a patch breaks (every one of the test's arches when it is not listed): x86 arms kprobes
# through its own arch_adjust_kprobe_addr, so the generic one's fault shows on arm64
ONLY_ON = {"entry-probe-past-the-entry.patch": ("arm64",),
           # the grammar's patches break generic kernel/trace code (trace_probe*.c/h, trace_kprobe.c's
           # parser): one arch proves each check, and the CI budget goes to the kernel's own tests
           **{patch: ("x86_64",) for patch in GRAMMAR}}
CASES = [(arch, patch) for patch in sorted(EXPECTED) for arch in ("x86_64", "arm64") if arch in ONLY_ON.get(patch, (arch,))]
# different bugs that fail some of the same checks as the riscv64 known issue: never an XFAIL
NOT_THE_KNOWN_ISSUE = ("kprobe-never-fires.patch", "kretprobe-loses-records.patch", "bitfield-at-offset-0-is-refused.patch")
TOOLS = {"x86_64": ("qemu-system-x86_64", "gcc"), "arm64": ("qemu-system-aarch64", "aarch64-linux-gnu-gcc"),
         "arm": ("qemu-system-arm", "arm-linux-gnueabihf-gcc"),
         "riscv64": ("qemu-system-riscv64", "riscv64-linux-gnu-gcc")}


def check_json(tmp_path: Path, arch: str, *args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    require_tools("make", "rsync", "patch", *TOOLS[arch])
    out = tmp_path / "result.json"
    result = inv("check", "--arch", arch, "--json", str(out), *args)
    assert out.exists(), result.stdout[-4000:] + result.stderr[-3000:]
    data = json.loads(out.read_text())
    validate_json(data, "result")
    return result.returncode, data, result.stdout


def test_every_bad_kernel_has_a_patch_and_an_expected_check() -> None:
    assert sorted(p.name for p in BAD.glob("*.patch")) == sorted({**EXPECTED, **SUITE_ONLY, **SANITIZER_ONLY,
                                                                 **WARN_IN_A_CASE, **SKIPS_EVERY_CASE})


@pytest.mark.parametrize(("arch", "patch"), CASES)
def test_known_bad_kernel_fails_with_the_check_that_names_it(tmp_path: Path, arch: str, patch: str) -> None:
    code, data, stdout = check_json(tmp_path, arch, "--patch", str(BAD / patch))
    failed = [c["name"] for c in data["checks"] if c["status"] == "fail"]
    assert code == 1, stdout[-3000:]
    assert data["verdict"] == "fail"
    assert EXPECTED[patch] in failed, f"{patch}: failed {failed}\n{stdout[-3000:]}"
    if patch in GRAMMAR:  # one element broken: the seed's checks all pass, the others of the grammar too
        seed = [c["name"] for c in data["checks"] if c["status"] == "fail" and not c["name"].startswith(
            ("fetch_", "probe_", "kretprobe_maxactive", "api_refusals"))]
        assert seed == [], f"{patch}: the do_sys_open events failed {seed}"
        assert set(failed) - {EXPECTED[patch], *KNOWN_612, *ALSO.get(patch, ())} == set(), failed
    assert data["patches"] == [str(BAD / patch)]
    assert not qemu_processes()


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_the_unmodified_tree_passes_in_the_same_run(tmp_path: Path, arch: str) -> None:
    code, data, stdout = check_json(tmp_path, arch)
    assert code == 0, stdout[-3000:]
    assert data["status"] == HEALTHY and not data["patches"]


def test_thumb2_arm_kernel_oops_is_a_fail_with_the_oops_quoted(tmp_path: Path) -> None:
    code, data, stdout = check_json(tmp_path, "arm", "--kconfig-add", "CONFIG_THUMB2_KERNEL=y")
    assert code == 1, stdout[-3000:]
    kernel_log = next(c for c in data["checks"] if c["name"] == "kernel_log")
    assert kernel_log["status"] == "fail"
    assert "Oops" in kernel_log["detail"] or "Internal error" in kernel_log["detail"], kernel_log["detail"]
    assert data["seconds"] < 900
    assert not qemu_processes()


def test_a_patch_that_does_not_apply_is_untested_here(tmp_path: Path) -> None:
    """Neither good nor bad: git bisect run skips a commit the patch does not apply to (125)."""
    require_tools("rsync", "patch")
    bad = tmp_path / "bad.patch"
    bad.write_text((BAD / "retval-off-by-one.patch").read_text().replace("regs_return_value(regs);", "nothing;"))
    out = tmp_path / "result.json"
    result = inv("check", "--arch", "x86_64", "--patch", str(bad), "--json", str(out))
    assert result.returncode == 125, result.stdout[-2000:] + result.stderr[-2000:]
    assert "does not apply" in result.stderr and "skip this commit" in result.stderr
    assert json.loads(out.read_text())["status"] == "untested"


@pytest.mark.parametrize("patch", NOT_THE_KNOWN_ISSUE)
def test_riscv64_bad_kernel_is_a_fail_not_an_xfail_in_the_matrix(tmp_path: Path, patch: str) -> None:
    require_tools("make", "rsync", "patch", *TOOLS["riscv64"])
    out = tmp_path / "matrix.json"
    result = inv("matrix", "--arches", "riscv64", "--patch", str(BAD / patch), "--json", str(out))
    assert out.exists(), result.stdout[-4000:] + result.stderr[-3000:]
    matrix = json.loads(out.read_text())
    validate_json(matrix, "matrix")
    cell = matrix["cells"][0]
    assert cell["status"] == "fail", result.stdout[-4000:]
    assert result.returncode == 1
    assert "does not explain" in cell["note"] or "only in part" in cell["note"], cell["note"]
    failed = [c["name"] for c in cell["result"]["checks"] if c["status"] == "fail"]
    assert EXPECTED[patch] in failed, failed
    assert not qemu_processes()


def test_a_known_issue_can_be_switched_off_for_a_raw_verdict(tmp_path: Path) -> None:
    require_tools("make", *TOOLS["riscv64"])
    code, data, stdout = check_json(tmp_path, "riscv64", "--no-known-issues")
    assert code == 1 and data["status"] == "fail" and data["verdict"] == "fail", stdout[-3000:]
    assert not data["known_issues"]
    code, data, stdout = check_json(tmp_path, "riscv64")
    assert code == 0 and data["status"] == "xfail", stdout[-3000:]
    assert data["known_issues"][0]["id"] == "riscv64-kprobe-records-in-nmi"
    assert "XFAIL" in stdout


def test_a_kconfig_change_that_drops_a_needed_option_is_named_and_costs_no_rebuild(tmp_path: Path) -> None:
    """make's own config sync would turn CONFIG_BUG off (and every WARN with it): the run fails
    kernel_config, naming the option and where the tree now defines it, before anything compiles."""
    code, data, stdout = check_json(tmp_path, "x86_64", "--patch", str(BAD / "kconfig-drops-bug.patch"))
    assert code == 1, stdout[-3000:]
    [check] = [c for c in data["checks"] if c["status"] == "fail"]
    assert check["name"] == "kernel_config"
    assert "CONFIG_BUG=y (got" in check["detail"] and "init/Kconfig" in check["detail"]
    assert "depends on BROKEN" in check["detail"]
    build = sum(s["seconds"] for s in data["stages"] if s["name"] == "kernel build")
    assert build < 60, f"the refused change still compiled for {build:.0f} s"
