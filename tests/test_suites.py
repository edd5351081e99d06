from __future__ import annotations

from pathlib import Path

import pytest

from harness.build import selftests
from harness.errors import Untestable
from harness.spec import suites
from harness.spec.cell import cell_label
from harness.verdict import suite_checks
from harness.verdict.checks import FAIL, NOT_RUN, PASS
from harness.verdict.observations import CommandResult, Observations, SuitePlan, Targets
from vm import guest, initramfs

PLAN = SuitePlan(ftrace_cases=("kprobe/add_and_remove.tc", "kprobe/kprobe_args_char.tc", "dynevent/test_duplicates.tc"),
                 ftrace_dir="/kh/ftrace")


def _obs(*cases: tuple[str, str, int], stopped: str = "", dmesg: str = "") -> Observations:
    """Observations of the cases that finished, the first case's kernel log holding dmesg."""
    obs = Observations(module_path="/kh/m.ko", targets=Targets.new("00000000"))
    obs.ftrace_cases = [(c, CommandResult("x", out, status)) for c, out, status in cases]
    obs.ftrace_logs = [(c, CommandResult("dmesg", f"[ 1.0] kh-case-{i}-run\n" + (dmesg if i == 0 else ""), 0))
                       for i, (c, _, _) in enumerate(cases)]
    obs.ftrace_stopped = stopped
    return obs


def test_every_suite_runs_beside_the_module_and_all_runs_each() -> None:
    assert suites.parts("module") == {"module"}
    assert suites.parts("ftrace") == {"module", "ftrace"}
    assert suites.parts("all") == {"module", "ftrace", "boot"}
    assert not suites.larger("module") and suites.larger("boot")
    assert suites.kconfig("module") == ((), ())


def test_the_cell_label_names_a_suite_beyond_the_module() -> None:
    assert cell_label("x86_64", "6.12.117") == "x86_64/6.12"
    assert cell_label("riscv64", "6.1.192", suite="ftrace") == "riscv64/6.1/ftrace"


def test_each_case_result_maps_to_a_check() -> None:
    obs = _obs(("kprobe/add_and_remove.tc", "=== Ftrace unit tests ===\n[1] Kprobe dynamic event - adding and removing\t[PASS]\n", 0),
               ("kprobe/kprobe_args_char.tc", ("[1] Kprobe event char type argument\t[UNSUPPORTED]\n"
                "Required feature pattern \"char\" is not in README.\n"), 0),
               ("dynevent/test_duplicates.tc", ("[1] Generic dynamic event - check if duplicate events are caught\t[FAIL]\n"
                "ls: events/foo: No such file\n"), 1))
    checks = {c.name: c for c in suite_checks.ftrace_checks(obs, PLAN, "")}
    assert checks["ftrace:kprobe/add_and_remove"].status == PASS
    unsupported = checks["ftrace:kprobe/kprobe_args_char"]
    assert unsupported.status == NOT_RUN and not unsupported.offered and '"char" is not in README' in unsupported.detail
    failed = checks["ftrace:dynevent/test_duplicates"]
    assert failed.status == FAIL and "events/foo" in failed.detail
    assert checks["ftrace:kernel_log"].status == PASS


def test_an_instance_run_is_a_check_of_its_own() -> None:
    obs = _obs(("kprobe/add_and_remove.tc", "[1] Kprobe add\t[PASS]\n[2] (instance)  Kprobe add\t[FAIL]\n", 1))
    checks = {c.name: c.status for c in suite_checks.ftrace_checks(obs, PLAN, "")}
    assert checks["ftrace:kprobe/add_and_remove"] == PASS
    assert checks["ftrace:kprobe/add_and_remove@instance"] == FAIL


@pytest.mark.parametrize(("result", "status"), [("XFAIL", PASS), ("UNDEFINED", FAIL), ("UNRESOLVED", FAIL),
                                                ("UNTESTED", NOT_RUN)])
def test_the_framework_results_that_pass_fail_or_did_not_run(result: str, status: str) -> None:
    obs = _obs(("kprobe/add_and_remove.tc", f"[1] Kprobe add\t[{result}]\n", 0))
    assert suite_checks.ftrace_checks(obs, PLAN, "")[0].status == status


def test_a_case_that_never_finished_fails_and_the_rest_say_why() -> None:
    obs = _obs(stopped="kprobe/add_and_remove.tc: timed out after 240 s")
    checks = suite_checks.ftrace_checks(obs, PLAN, "")
    assert checks[0].status == FAIL and "never finished" in checks[0].detail
    assert all(c.status == FAIL and "earlier case never finished" in c.detail for c in checks[1:3])


def test_a_case_with_no_result_line_fails() -> None:
    obs = _obs(("kprobe/add_and_remove.tc", "sh: ./ftracetest: not found\n", 127))
    assert suite_checks.ftrace_checks(obs, PLAN, "")[0].status == FAIL


def test_a_warn_while_the_cases_ran_fails_the_suites_kernel_log_naming_the_case() -> None:
    obs = _obs(("kprobe/add_and_remove.tc", "[1] Kprobe add\t[PASS]\n", 0),
               dmesg="WARNING: CPU: 0 PID: 77 at kernel/trace/trace_kprobe.c:100 foo+0x1/0x2\n")
    log = suite_checks.ftrace_checks(obs, PLAN, "")[-1]
    assert log.name == "ftrace:kernel_log" and log.status == FAIL
    assert "while kprobe/add_and_remove.tc ran:" in log.detail
    assert log.findings == ("WARNING: CPU: # PID: # at kernel/trace/trace_kprobe.c:# foo+#/#",)


def test_a_warn_seen_only_in_the_kernel_log_is_kept_when_a_later_case_crashes() -> None:
    """The WARN of an earlier case is in its own kernel log (the console, at log level 1, never showed
    it); the crash that stopped the suite is read from the console after it."""
    warn = "WARNING: CPU: 0 PID: 77 at kernel/trace/trace_eprobe.c:10 __trace_eprobe_create+0x1/0x2\n"
    obs = _obs(("kprobe/add_and_remove.tc", "[1] Kprobe add\t[PASS]\n", 0), dmesg=warn,
               stopped="kprobe/kprobe_args_char.tc: the kernel reported a crash")
    console = ("KH-SUITES-START\n[1] Kprobe add\t[PASS]\n" + obs.ftrace_logs[0][1].output
               + "BUG: kernel NULL pointer dereference, address: 0000000000000026\nRIP: 0010:trace_fprobe_release+0xbe/0x105\n")
    log = suite_checks.ftrace_checks(obs, PLAN, console)[-1]
    assert log.status == FAIL and "while kprobe/add_and_remove.tc ran:" in log.detail
    assert "while kprobe/kprobe_args_char.tc ran (the console):" in log.detail
    assert "WARNING: CPU: # PID: # at kernel/trace/trace_eprobe.c:# __trace_eprobe_create+#/#" in log.findings
    assert "RIP: #:trace_fprobe_release+#/#" in log.findings
    assert log.detail.count("trace_eprobe.c") == 1  # the WARN once, under its own case
    facts = suite_checks.ftrace_facts(obs, console)
    assert facts["ftrace.crash_in.trace_fprobe_release"] == 1


def test_a_case_whose_kernel_log_was_not_read_fails_the_suites_kernel_log() -> None:
    obs = _obs(("kprobe/add_and_remove.tc", "[1] Kprobe add\t[PASS]\n", 0))
    obs.ftrace_logs = [("kprobe/add_and_remove.tc", CommandResult("dmesg", "", 1))]
    assert suite_checks.ftrace_checks(obs, PLAN, "")[-1].status == FAIL


def test_facts_name_each_case_and_result() -> None:
    obs = _obs(("kprobe/add_and_remove.tc", "[1] Kprobe add\t[UNRESOLVED]\n", 0))
    assert suite_checks.ftrace_facts(obs) == {"ftrace.kprobe/add_and_remove.unresolved": 1}


def test_the_ftrace_command_keeps_the_frameworks_status_and_shows_the_log_of_a_case_that_did_not_pass() -> None:
    command = guest.ftrace_command("/kh/ftrace", "kprobe/add_and_remove.tc", "kh-case-0-abcd")
    assert command.startswith("echo kh-case-0-abcd > /dev/kmsg; "
                              "cd /kh/ftrace && ./ftracetest -k -l /tmp/kh-ftrace test.d/kprobe/add_and_remove.tc")
    assert command.endswith("echo KH-''KERNEL-LOG; dmesg | sed -n '/kh-case-0-abcd$/,$p'; [ $s = 0 ]")
    assert "tail -q -n 12 /tmp/kh-ftrace/*-log.*" in command


@pytest.mark.parametrize(("line", "status"), [("Testing kprobe tracing: OK", PASS),
                                              ("Testing kprobe tracing: error on probing function entry.", FAIL),
                                              ("Testing kprobe tracing: ", FAIL), ("", FAIL)])
def test_the_startup_test_line(line: str, status: str) -> None:
    assert suite_checks.startup_check(f"[    1.0] something\n{line}\n").status == status


KUNIT = {"name": "KUnit Test Group", "test_cases": [], "sub_groups": [
    {"name": "kprobes_test", "sub_groups": [], "test_cases": [
        {"name": "test_kprobe", "status": "PASS"}, {"name": "test_kprobes", "status": "FAIL"},
        {"name": "test_stacktrace_on_kretprobe", "status": "SKIP"}]}]}


def test_each_kunit_case_is_a_check_and_a_missing_suite_fails() -> None:
    dmesg = "    # test_kprobes: EXPECTATION FAILED at lib/test_kprobes.c:92\n    not ok 2 test_kprobes\n"
    checks = {c.name: c for c in suite_checks.kunit_checks(KUNIT, {"kprobes_test": True, "fprobe_test": True}, dmesg)}
    assert checks["boot:kprobes_test/test_kprobe"].status == PASS
    assert checks["boot:kprobes_test/test_kprobes"].status == FAIL
    assert "EXPECTATION FAILED" in checks["boot:kprobes_test/test_kprobes"].detail
    assert checks["boot:kprobes_test/test_stacktrace_on_kretprobe"].status == NOT_RUN
    assert checks["boot:fprobe_test"].status == FAIL  # built in, but printed nothing


def test_a_kunit_suite_the_configuration_cannot_have_is_not_run() -> None:
    checks = suite_checks.kunit_checks(KUNIT, {"kprobes_test": True, "fprobe_test": False}, "")
    fprobe = next(c for c in checks if c.name == "boot:fprobe_test")
    assert fprobe.status == NOT_RUN and not fprobe.offered


def test_the_cases_come_from_the_tree(tmp_path: Path) -> None:
    top = tmp_path / selftests.FTRACE_DIR
    for name in ("ftracetest", "test.d/functions", "test.d/kprobe/b.tc", "test.d/kprobe/a.tc",
                 "test.d/dynevent/c.tc", "test.d/ftrace/other.tc", "test.d/dynevent/a_module.tc",
                 "test.d/kprobe/k_module.tc"):
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text("#!/bin/sh\n")
    cases = selftests.ftrace_cases(tmp_path)
    # kprobe's first, then dynevent's, and those that load a module after every other
    assert cases == ("kprobe/a.tc", "kprobe/b.tc", "dynevent/c.tc", "kprobe/k_module.tc", "dynevent/a_module.tc")
    files = {guest_path: mode for guest_path, _, mode in selftests.guest_files(tmp_path, cases)}
    assert files["/kh/ftrace/ftracetest"] == 0o755 and "/kh/ftrace/test.d/kprobe/a.tc" in files


def test_a_tree_without_the_framework_cannot_be_tested_there(tmp_path: Path) -> None:
    """A commit older than the selftests: git bisect run skips it (125), it is not bad."""
    with pytest.raises(Untestable, match="--suite ftrace"):
        selftests.ftrace_cases(tmp_path)


def test_the_initramfs_carries_the_cases_with_their_folders_and_a_real_sh() -> None:
    listing = initramfs.cpio_list(Path("/b/busybox"), Path("/r/init"), [],
                                  [("/kh/ftrace/test.d/kprobe/a.tc", Path("/t/a.tc"), 0o755)], real_sh=True)
    lines = listing.splitlines()
    assert "file /bin/sh /b/busybox 0755 0 0" in lines
    assert lines.index("dir /kh/ftrace 0755 0 0") < lines.index("dir /kh/ftrace/test.d 0755 0 0") \
        < lines.index("dir /kh/ftrace/test.d/kprobe 0755 0 0") \
        < lines.index("file /kh/ftrace/test.d/kprobe/a.tc /t/a.tc 0755 0 0")


def test_the_lava_script_runs_the_cases_after_the_module_session_on_both_paths() -> None:
    from harness.spec import render
    from harness.spec.arches import resolve_arch
    from vm import script

    spec = render.probe_spec(resolve_arch("x86_64"), "abi")
    text = script.session_script(spec, "/kh/kprobe_event_gen_test.ko", Targets.new("0123abcd"), token="feed",
                                 plan=PLAN)
    _, _, branches = text.partition('if [ "$KH_STATUS" != 0 ]; then')
    failed, _, ok = branches.partition("\nelse\n")
    for path in (failed, ok):  # the kernel's own tests run whether or not our module loaded
        assert path.count("./ftracetest -k") == len(PLAN.ftrace_cases)
        assert path.index("KH-''SUITES-START") < path.index("./ftracetest")
    assert ok.index("rmmod") < ok.index("KH-''SUITES-START")
    assert "KH-SUITES-START" not in text, "the marker is split in the script, so only its output matches"


def test_the_module_checks_read_the_console_up_to_the_suites() -> None:
    from harness.verdict.observations import split_console

    before, after = split_console("boot\nmodule session\nKH-SUITES-START\n[ 1.0] Oops: 0000 [#1]\n")
    assert "Oops" not in before and "Oops" in after
    assert split_console("no suites\n") == ("no suites\n", "")


def _recorded_suite_run(data: Path) -> tuple[dict[str, object], str, dict[str, int]]:
    """The recorded x86_64 6.12 --suite all session replayed: its checks by name, status and facts."""
    import re

    from harness.results.run import RunResult
    from harness.runs import judging
    from harness.spec import render
    from harness.spec.arches import ARCHES
    from harness.verdict import known_issues
    from vm.console import ReplayShell, answers_in

    log = (data / "console-x86_64-6.12-suite-all.log").read_text()
    cases = tuple((data / "ftrace-cases-6.12.txt").read_text().split())
    plan = SuitePlan(cases, "/kh/ftrace", boot=False)
    token = re.search(r"/tmp/kh-([0-9a-f]{8})\"", log)
    assert token
    spec = render.probe_spec(ARCHES["x86_64"], "abi")
    obs = guest.run_session(ReplayShell(answers_in(log)), spec, "/kh/kprobe_event_gen_test.ko",
                            targets=Targets.new(token.group(1)), plan=plan)
    result = RunResult(arch="x86_64", kernel_version="6.12.117", tree="", profile="abi", func="do_sys_open")
    judging.judge_session(result, obs, spec, ARCHES["x86_64"], log, taint=suites.TAINT_TEST)
    judging.judge_suites(result, obs, plan, log, None, {})
    c = known_issues.classify("x86_64", "6.12.117", result.checks, result.facts, known_issues.load())
    return {ch.name: ch for ch in c.checks}, c.status, result.facts


def test_a_recorded_suite_run_is_an_xfail_with_the_tprobe_oops_named(data: Path) -> None:
    checks, status, facts = _recorded_suite_run(data)
    ftrace = {n: c for n, c in checks.items() if n.startswith("ftrace:") and n != "ftrace:kernel_log"}
    assert len(ftrace) == 43
    assert sum(c.status == PASS for c in ftrace.values()) == 40  # type: ignore[attr-defined]
    assert checks["ftrace:kprobe/kprobe_module"].status == PASS  # type: ignore[attr-defined]
    assert checks["ftrace:dynevent/add_remove_tprobe_module"].status == FAIL  # type: ignore[attr-defined]
    assert facts["ftrace.dynevent/add_remove_tprobe_module.unfinished"] == 1
    assert facts["ftrace.crash_in.trace_fprobe_release"] == 1
    # the oops came after the module's session: its own kernel_log and taint checks do not see it
    assert checks["kernel_log"].status == checks["taint"].status == PASS  # type: ignore[attr-defined]
    assert checks["ftrace:kernel_log"].status == FAIL  # type: ignore[attr-defined]
    assert status == "xfail"


def test_the_startup_test_line_of_a_recorded_boot(data: Path) -> None:
    log = (data / "console-x86_64-6.12-suite-all.log").read_text()
    assert suite_checks.startup_check(log).status == PASS


def test_the_larger_configuration_requires_its_lines_and_only_asks_for_those_some_arches_lack() -> None:
    from harness.spec.arches import ARCHES

    required, wanted = suites.kconfig("ftrace", ARCHES["x86_64"].suite_kconfig)
    assert "CONFIG_KPROBES_SANITY_TEST=y" in required and "CONFIG_UNWINDER_ORC=y" in required
    assert "CONFIG_FPROBE=y" in wanted and "CONFIG_FPROBE=y" not in required
    assert suites.kconfig("boot") == suites.kconfig("all") and suites.kconfig("module") == ((), ())


def test_the_self_tests_are_off_at_boot_unless_the_boot_suite_runs() -> None:
    assert suites.boot_args("ftrace") == ("trace_event=", "kunit.enable=0")
    assert suites.boot_args("boot") == suites.boot_args("all") == suites.boot_args("module") == ()
    assert suites.expected_taint("module") == 0 and suites.expected_taint("ftrace") == suites.TAINT_TEST


def test_the_suite_bench_table_judges_the_warm_target_on_x86_64_and_arm64() -> None:
    from harness.results import bench_table

    run = {"suite": "ftrace", "kernel": "6.12.117", "cores": 2, "runs": 3, "arches": {
        "x86_64": {"cold_make_default": 134.0, "cold_make": 280.0, "warm": 85.0, "warm_status": "xfail",
                   "boot": 2.0, "session": 80.0},
        "arm": {"cold_make_default": 139.0, "cold_make": 300.0, "warm": 200.0, "warm_status": "pass",
                "boot": 1.0, "session": 190.0}}}
    table = bench_table.format_suite_bench(run)
    assert "| x86_64 | 134.0 s | 280.0 s | 2.09x | 85.0 s (xfail) | 2.0 s (- s) | 80.0 s (- s) | < 90 s: met |" in table
    assert "| arm | 139.0 s | 300.0 s | 2.16x | 200.0 s (pass) | 1.0 s (- s) | 190.0 s (- s) |  |" in table
    sanitizers = {**run, "suite": "", "sanitizers": True}
    sanitizers["arches"] = {"x86_64": {**run["arches"]["x86_64"], "boot_default": 0.7, "session_default": 1.5}}
    table = bench_table.format_suite_bench(sanitizers)
    assert table.startswith("--sanitizers, Linux 6.12.117")
    assert "| 2.0 s (0.7 s) | 80.0 s (1.5 s) |  |" in table  # no target for the sanitizer profile


def test_a_case_that_writes_argn_where_the_readme_does_not_offer_it_is_not_held_against_the_kernel() -> None:
    out = ("[1] Kprobe event VFS type argument\t[FAIL]\n+ . /kh/ftrace/test.d/kprobe/kprobe_args_vfs.tc\n"
           "+ echo 'p:testprobe dput name=$arg1:%pd'\nsh: write error: Invalid argument\n")
    obs = _obs(("kprobe/add_and_remove.tc", out, 1))
    obs.readme = CommandResult("cat README", "  $stack<index>, $stack, $retval, $comm,\n"
                               "  kernel return probes support: $retval, $arg<N>, $comm\n", 0)
    check = suite_checks.ftrace_checks(obs, PLAN, "")[0]
    assert check.status == NOT_RUN and not check.offered and "$arg<N>" in check.detail
    obs.readme = CommandResult("cat README", "  $stack<index>, $stack, $retval, $comm, $arg<N>\n", 0)
    assert suite_checks.ftrace_checks(obs, PLAN, "")[0].status == FAIL  # offered, and refused: the kernel's


@pytest.mark.parametrize("line", [
    "[   61.262730] EIP: trace_fprobe_release+0x95/0xd1",  # i386 (a real report)
    "[   12.000000] RIP: 0010:trace_fprobe_release+0x1a/0x80",
    "[   12.000000] NIP [c0000000002ea520] trace_fprobe_release+0x7c/0xbc",
    "[   12.000000] epc   : ffffffff8012a0b4 trace_fprobe_release+0x14/0x60",
    "[   12.000000] pc : trace_fprobe_release+0x10/0x50",
])
def test_the_crash_site_is_read_from_every_arch_s_report(line: str) -> None:
    assert suite_checks.ftrace_facts(_obs(("kprobe/add_and_remove.tc", "", 0), dmesg=line))["ftrace.crash_in.trace_fprobe_release"] == 1
