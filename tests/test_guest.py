from __future__ import annotations

from pathlib import Path

from fakes import ReplayShell, RuleShell, recorded_answers

from harness import render, verify
from harness.arches import ARCHES
from vm import guest

SPEC = render.probe_spec(ARCHES["x86_64"], "upstream")
MODULE = "/kh/kprobe_event_gen_test.ko"


def checks_by_name(checks: list[verify.Check]) -> dict[str, verify.Check]:
    return {c.name: c for c in checks}


def test_recorded_passing_session_verifies_as_pass(data: Path) -> None:
    shell = ReplayShell(recorded_answers((data / "console-x86_64-6.12-pass.log").read_text()))
    obs = guest.run_session(shell, SPEC, MODULE)
    checks = verify.verify(obs, SPEC)
    assert verify.verdict(checks) == "pass", [c for c in checks if c.status != "pass"]
    assert len(checks) == 11
    assert not shell.answers, "the session must ask exactly what the recorded one asked"


def test_recorded_missing_function_fails_insmod_with_the_kernels_reason(data: Path) -> None:
    spec = render.probe_spec(ARCHES["x86_64"], "upstream", "kh_no_such_function")
    shell = ReplayShell(recorded_answers((data / "console-x86_64-6.12-no-such-function.log").read_text()))
    checks = verify.verify(guest.run_session(shell, spec, MODULE), spec)
    by = checks_by_name(checks)
    assert verify.verdict(checks) == "fail"
    assert by["insmod"].status == "fail"
    assert "Invalid probed address or symbol" in by["insmod"].detail
    assert by["rmmod"].status == "not run"


def healthy_rules(trace_text: str) -> list:  # type: ignore[type-arg]
    state = {"loaded": False}

    def insmod(cmd: str) -> tuple[str, int]:
        state["loaded"] = True
        return "", 0

    def rmmod(cmd: str) -> tuple[str, int]:
        state["loaded"] = False
        return "", 0

    def events(cmd: str) -> tuple[str, int]:
        if not state["loaded"]:
            return "", 0
        lines = ("p:kprobes/gen_kprobe_test do_sys_open dfd=%ax filename=%dx flags=%cx mode=+4($stack)\n"
                 "r10:kprobes/gen_kretprobe_test do_sys_open arg1=$retval\n")
        return lines, 0

    return [
        (r"^insmod ", insmod),
        (r"^rmmod ", rmmod),
        (r"kprobe_events$", events),
        (r"/enable$", lambda c: ("1\n", 0)),
        (r"test -d", lambda c: ("present\n" if state["loaded"] else "absent\n", 0)),
        (r"/trace$", lambda c: (trace_text, 0)),
        (r"kprobe_profile", lambda c: ("  gen_kprobe_test  4  0\n  gen_kretprobe_test  4  0\n", 0)),
        (r"wc -l", lambda c: ("100\n", 0)),
    ]


def test_healthy_fake_guest_passes(data: Path) -> None:
    trace_text = (data / "trace-x86_64-6.12-upstream.txt").read_text()
    obs = guest.run_session(RuleShell(healthy_rules(trace_text)), SPEC, MODULE)
    assert verify.verdict(verify.verify(obs, SPEC)) == "pass"


def test_hits_without_records_fail_and_say_so(data: Path) -> None:
    trace_text = "\n".join(l for l in (data / "trace-x86_64-6.12-upstream.txt").read_text().splitlines()
                           if "gen_kprobe_test:" not in l)
    obs = guest.run_session(RuleShell(healthy_rules(trace_text)), SPEC, MODULE)
    by = checks_by_name(verify.verify(obs, SPEC))
    assert by["kprobe_records"].status == "fail"
    assert "4 hits" in by["kprobe_records"].detail
    assert by["kretprobe_records"].status == "pass"


def test_a_probe_never_hit_suggests_inlining_and_another_function() -> None:
    rules = healthy_rules("# tracer: nop\n")
    rules.insert(0, (r"kprobe_profile", lambda c: ("  gen_kprobe_test  0  0\n  gen_kretprobe_test  0  0\n", 0)))
    by = checks_by_name(verify.verify(guest.run_session(RuleShell(rules), SPEC, MODULE), SPEC))
    assert by["kprobe_records"].status == "fail"
    assert "inlined" in by["kprobe_records"].detail and "--func" in by["kprobe_records"].detail


def test_events_left_after_rmmod_fail_events_removed(data: Path) -> None:
    rules = healthy_rules((data / "trace-x86_64-6.12-upstream.txt").read_text())
    rules.insert(0, (r"test -d .*gen_kretprobe_test", lambda c: ("present\n", 0)))
    by = checks_by_name(verify.verify(guest.run_session(RuleShell(rules), SPEC, MODULE), SPEC))
    assert by["events_removed"].status == "fail"
    assert "gen_kretprobe_test" in by["events_removed"].detail


def test_records_after_rmmod_fail(data: Path) -> None:
    trace_text = (data / "trace-x86_64-6.12-upstream.txt").read_text()
    reads = {"n": 0}

    def growing(cmd: str) -> tuple[str, int]:
        reads["n"] += 1
        extra = "\n  cat-99 [000] ..... 9.0: gen_kprobe_test: (do_sys_open+0x4/0x2e) dfd=0x1\n" * reads["n"]
        return trace_text + extra, 0

    rules = healthy_rules(trace_text)
    rules.insert(0, (r"/trace$", growing))
    by = checks_by_name(verify.verify(guest.run_session(RuleShell(rules), SPEC, MODULE), SPEC))
    assert by["no_records_after_rmmod"].status == "fail"


def test_wrong_definition_fails_registration() -> None:
    rules = healthy_rules("")
    rules.insert(0, (r"kprobe_events$", lambda c: ("p:kprobes/gen_kprobe_test do_sys_open dfd=%ax\n", 0)))
    by = checks_by_name(verify.verify(guest.run_session(RuleShell(rules), SPEC, MODULE), SPEC))
    assert by["kprobe_registered"].status == "fail"
    assert "expected" in by["kprobe_registered"].detail
    assert by["kretprobe_registered"].status == "fail"


def test_disabled_event_fails_enabled_check() -> None:
    rules = healthy_rules("")
    rules.insert(0, (r"gen_kprobe_test/enable$", lambda c: ("0\n", 0)))
    by = checks_by_name(verify.verify(guest.run_session(RuleShell(rules), SPEC, MODULE), SPEC))
    assert by["kprobe_enabled"].status == "fail"
    assert by["kretprobe_enabled"].status == "pass"


def test_failed_rmmod_fails() -> None:
    rules = healthy_rules("")
    rules.insert(0, (r"^rmmod ", lambda c: ("rmmod: can't unload module: Resource busy\n", 1)))
    by = checks_by_name(verify.verify(guest.run_session(RuleShell(rules), SPEC, MODULE), SPEC))
    assert by["rmmod"].status == "fail" and "busy" in by["rmmod"].detail
