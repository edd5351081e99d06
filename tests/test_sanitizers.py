"""The sanitizer profile: its configuration per arch, and how its reports are found and named."""

from __future__ import annotations

from harness.spec import sanitizers
from harness.spec.arches import ARCHES
from harness.spec.cell import cell_label
from harness.verdict import sanitizer_checks
from harness.verdict.observations import CommandResult, Observations, Targets


def test_kasan_only_where_the_arch_has_it() -> None:
    assert "CONFIG_KASAN=y" in sanitizers.kconfig(ARCHES["x86_64"].has_kasan)
    assert "CONFIG_KASAN=y" not in sanitizers.kconfig(ARCHES["i386"].has_kasan)
    assert "CONFIG_KASAN=y" not in sanitizers.kconfig(ARCHES["mips64el"].has_kasan)
    assert sanitizers.named(False) == ("lockdep", "atomic-sleep", "ODEBUG", "kmemleak", "UBSAN")


def test_the_label_says_sanitizers() -> None:
    assert cell_label("x86_64", "6.12.117", sanitizers=True) == "x86_64/6.12/sanitizers"
    assert cell_label("arm64", "6.1.1", suite="all", sanitizers=True) == "arm64/6.1/all/sanitizers"


def _obs(dmesg: str, kmemleak: str | None = "") -> Observations:
    obs = Observations(module_path="/kh/m.ko", targets=Targets.new("t"), marker="m")
    obs.dmesg = CommandResult("dmesg", dmesg, 0)
    obs.kmemleak = None if kmemleak is None else CommandResult("cat", kmemleak, 0)
    return obs


def test_each_report_is_named_by_its_sanitizer() -> None:
    log = (
        "[   12.1] ==================================================================\n"
        "[   12.1] BUG: KASAN: slab-use-after-free in trace_kprobe_release+0x5c/0x70\n"
        "[   12.1] Read of size 8 at addr ffff888003a1c2a8 by task rmmod/95\n"
        "[    9.0] BUG: sleeping function called from invalid context at kernel/locking/mutex.c:283\n"
        "[    9.2] WARNING: possible circular locking dependency detected\n"
        "[    9.3] UBSAN: array-index-out-of-bounds in kernel/trace/trace_probe.c:99:3\n"
        "[    9.4] ODEBUG: free active (active state 0) object: 000000004b3e1f2a object type: timer_list\n"
    )
    assert [name for name, _ in sanitizers.reports_in(log)] == ["KASAN", "atomic-sleep", "lockdep", "UBSAN", "ODEBUG"]
    check = sanitizer_checks.reports_check(_obs(log), "", sanitizers.named(True))
    assert check.status == "fail" and "the first by KASAN" in check.detail
    assert "Read of size 8" in check.detail  # the report is quoted, not only its first line
    assert any("trace_kprobe_release" in f for f in check.findings)


def test_a_clean_log_passes_and_says_what_was_watching() -> None:
    check = sanitizer_checks.reports_check(_obs("[    1.0] Run /init as init process\n"), "", sanitizers.named(False))
    assert check.status == "pass" and "lockdep" in check.detail and "KASAN" not in check.detail


KMEMLEAK = """unreferenced object 0xffff888003b4c1e0 (size 16):
  comm "insmod", pid 81, jiffies 4294670000
  hex dump (first 16 bytes):
    64 6f 5f 73 79 73 5f 6f 70 65 6e 00 a5 a5 a5 a5  do_sys_open.....
  backtrace (crc 8e3a7b2d):
    [<ffffffff811d2f7e>] kstrdup+0x3e/0x70
    [<ffffffff8113a0b5>] alloc_trace_kprobe+0x95/0x1c0
unreferenced object 0xffff888003b4c200 (size 16):
  comm "insmod", pid 81, jiffies 4294670001
  backtrace (crc 11):
    [<ffffffff811d2f7e>] kstrdup+0x3e/0x70
"""


def test_kmemleak_objects_fail_with_the_first_backtrace() -> None:
    assert len(sanitizers.kmemleak_objects(KMEMLEAK)) == 2
    check = sanitizer_checks.kmemleak_check(_obs("", KMEMLEAK))
    assert check.status == "fail" and "2 unreferenced object(s)" in check.detail and "alloc_trace_kprobe" in check.detail
    assert "allocated by kstrdup" in check.findings and "allocated by alloc_trace_kprobe" in check.findings
    assert sanitizer_checks.kmemleak_check(_obs("", "")).status == "pass"
    assert sanitizer_checks.kmemleak_check(_obs("", None)).status == "fail"  # no scan proves nothing
    facts = sanitizer_checks.sanitizer_facts(_obs("", KMEMLEAK), "")
    assert facts["sanitizer.leaked_objects"] == 2 and facts["sanitizer.KASAN"] == 0


def test_a_real_sanitizer_kernel_with_the_three_bugs_is_read_back_from_its_console() -> None:
    """The console of `inv check --sanitizers` on the three bad kernels of tests/bad-kernels, replayed:
    KASAN's use-after-free, the atomic-sleep report of the mutex, and the symbols kmemleak found."""
    import re

    from conftest import DATA

    from harness.spec import render
    from harness.verdict.observations import SuitePlan
    from vm import guest
    from vm.console import ReplayShell, answers_in

    console = (DATA / "console-x86_64-6.12-sanitizers-bad.log").read_text()
    token = re.search(r"/tmp/kh-([0-9a-f]{8})", console).group(1)  # type: ignore[union-attr]
    named = sanitizers.named(True)
    obs = guest.run_session(ReplayShell(answers_in(console)), render.probe_spec(ARCHES["x86_64"], "abi"),
                            "/kh/kprobe_event_gen_test.ko", targets=Targets.new(token),
                            plan=SuitePlan(sanitizers=named))
    checks = {c.name: c for c in sanitizer_checks.sanitizer_checks(obs, console, named)}
    reports = checks["sanitizer_reports"]
    assert reports.status == "fail" and set(reports.findings) == {
        "KASAN: BUG: KASAN: slab-use-after-free in trace_kprobe_release+#/#",
        "atomic-sleep: BUG: sleeping function called from invalid context at kernel/locking/mutex.c:#"}
    leak = checks["kmemleak"]
    assert leak.status == "fail" and "allocated by alloc_trace_kprobe" in leak.findings
    facts = sanitizer_checks.sanitizer_facts(obs, console)
    assert facts["sanitizer.KASAN"] == facts["sanitizer.atomic-sleep"] == 1 and facts["sanitizer.leaked_objects"] > 1
