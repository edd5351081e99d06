"""Excuses with a reason, held to what each arch and series must offer (spec/offers.toml)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_suites import KUNIT, PLAN, _obs

from harness.results.run import RunResult
from harness.results.text import format_result
from harness.spec import offers
from harness.spec.arches import ARCHES
from harness.verdict import expectations, suite_checks
from harness.verdict.checks import BY_DESIGN, FAIL, NO_EXPECTATION, NOT_RUN, PASS, Check, excused, verdict

LACKS_ARGN = "this kernel's README lacks '$comm, $arg<N>' ($argN for the arguments passed in registers)"


def held(checks: list[Check], arch: str, version: str) -> dict[str, Check]:
    return {c.name: c for c in expectations.hold(checks, offers.expected(arch, version), arch)}


def test_every_arch_of_both_series_has_a_row_and_every_listed_name_exists() -> None:
    from harness.spec import grammar, suites

    elements = {e.check for e in grammar.ELEMENTS}
    for series in ("6.12.118", "6.1.192"):
        for arch in ARCHES:
            row = offers.expected(arch, series)
            assert row.grammar_absent is not None and set(row.grammar_absent) <= elements, (arch, series)
            assert row.kunit is not None and set(row.kunit) <= set(suites.KUNIT_OPTIONS), (arch, series)


def test_an_x86_64_kernel_that_stops_offering_argn_fails_naming_it() -> None:
    check = excused("fetch_argn", NO_EXPECTATION, LACKS_ARGN)
    got = held([check], "x86_64", "6.12.118")["fetch_argn"]
    assert got.status == FAIL and got.counts_against
    assert got.detail.startswith("x86_64 6.12 must offer fetch_argn") and "$arg<N>" in got.detail
    assert got.findings == ("not offered: fetch_argn",)


def test_arm_does_not_offer_argn_by_design_and_a_new_series_says_it_has_no_expectation() -> None:
    check = excused("fetch_argn", NO_EXPECTATION, LACKS_ARGN)
    arm = held([check], "arm", "6.12.118")["fetch_argn"]
    assert arm.status == NOT_RUN and arm.excuse.startswith(BY_DESIGN + ": ") and not arm.counts_against
    future = held([check], "x86_64", "6.19.1")["fetch_argn"]
    assert future.excuse.startswith(NO_EXPECTATION + ": ") and not future.counts_against


def test_6_1_lacks_char_by_design_but_6_12_must_offer_it() -> None:
    check = excused("fetch_char", NO_EXPECTATION, "this kernel's README lacks ' char,' (char)")
    assert held([check], "arm64", "6.1.192")["fetch_char"].excuse.startswith(BY_DESIGN)
    assert held([check], "arm64", "6.12.118")["fetch_char"].status == FAIL


def test_an_ftrace_case_unsupported_where_the_row_does_not_allow_it_fails() -> None:
    obs = _obs(("kprobe/kprobe_args_char.tc", ("[1] Kprobe event char type argument\t[UNSUPPORTED]\n"
                                               "Required feature pattern \"char\" is not in README.\n"), 0))
    checks = suite_checks.ftrace_checks(obs, PLAN, "")
    assert held(checks, "x86_64", "6.12.118")["ftrace:kprobe/kprobe_args_char"].status == FAIL
    assert held(checks, "arm64", "6.12.118")["ftrace:kprobe/kprobe_args_char"].excuse.startswith(NO_EXPECTATION)


def test_an_ftrace_case_the_row_allows_to_be_unsupported_is_excused_as_such() -> None:
    line = "[1] Generic dynamic event - add/remove probes with BTF arguments\t[UNSUPPORTED]\n"
    obs = _obs(("dynevent/add_remove_btfarg.tc", line, 0))
    plan = PLAN.__class__(ftrace_cases=("dynevent/add_remove_btfarg.tc",), ftrace_dir="/kh/ftrace", ftrace=True)
    got = held(suite_checks.ftrace_checks(obs, plan, ""), "x86_64", "6.12.118")["ftrace:dynevent/add_remove_btfarg"]
    assert got.status == NOT_RUN and got.excuse.startswith("unsupported where expected: UNSUPPORTED")


def test_a_case_writing_argn_is_excused_only_where_argn_is_not_offered_by_design() -> None:
    readme = "\t fetcharg: (%<register>|$<efield>), $stack<index>, $stack, $retval, $comm,\n"
    obs = _obs(("kprobe/kprobe_args_syntax.tc", ("[1] Kprobe event argument syntax\t[FAIL]\n"
                                                 "+ echo p:testprobe vfs_read $arg1\nsh: write error: Invalid argument\n"), 1))
    from harness.verdict.observations import CommandResult

    obs.readme = CommandResult("cat README", readme, 0)
    plan = PLAN.__class__(ftrace_cases=("kprobe/kprobe_args_syntax.tc",), ftrace_dir="/kh/ftrace", ftrace=True)
    checks = suite_checks.ftrace_checks(obs, plan, "")
    name = "ftrace:kprobe/kprobe_args_syntax"
    assert held(checks, "arm", "6.12.118")[name].excuse.startswith(BY_DESIGN + ": needs fetch_argn")
    assert held(checks, "x86_64", "6.12.118")[name].status == FAIL


def test_a_tree_with_no_probe_cases_fails_the_ftrace_suite() -> None:
    plan = PLAN.__class__(ftrace_cases=(), ftrace_dir="/kh/ftrace", ftrace=True)
    checks = {c.name: c for c in suite_checks.ftrace_checks(_obs(), plan, "")}
    assert checks["ftrace:cases"].status == FAIL and "tested nothing" in checks["ftrace:cases"].detail


def test_a_kunit_suite_whose_every_case_skipped_fails() -> None:
    skipped = {"name": "g", "test_cases": [], "sub_groups": [{"name": "kprobes_test", "sub_groups": [], "test_cases": [
        {"name": "test_kprobe", "status": "SKIP"}, {"name": "test_kprobes", "status": "SKIP"}]}]}
    checks = {c.name: c for c in suite_checks.kunit_checks(skipped, {"kprobes_test": True}, "")}
    assert checks["boot:kprobes_test"].status == FAIL and "every one of its 2 cases skipped" in checks["boot:kprobes_test"].detail
    assert "boot:kprobes_test/test_kprobe" not in checks


def test_a_kunit_suite_the_arch_must_build_fails_when_the_configuration_lost_it() -> None:
    checks = suite_checks.kunit_checks(KUNIT, {"kprobes_test": True, "fprobe_test": False}, "")
    assert held(checks, "x86_64", "6.12.118")["boot:fprobe_test"].status == FAIL
    assert held(checks, "arm64", "6.12.118")["boot:fprobe_test"].excuse.startswith(BY_DESIGN + ": not built")


def test_the_verdict_line_counts_excused_checks_by_ground() -> None:
    checks = [Check("insmod", PASS), excused("fetch_argn", BY_DESIGN, "no $arg<N>"),
              excused("fetch_char", BY_DESIGN, "no char"), excused("boot:kprobes_test/x", "skipped by the test", "skip")]
    result = RunResult(arch="arm", kernel_version="6.12.118", tree="/t", profile="abi", func="do_sys_open",
                       checks=checks, status="pass", verdict=verdict(checks))
    assert result.verdict == PASS
    assert "3 excused (2 not offered by design, 1 skipped by the test)" in format_result(result).splitlines()[-1]
    assert "(not offered by design) no $arg<N>" in format_result(result)


def test_an_excuse_must_name_a_known_ground() -> None:
    with pytest.raises(AssertionError):
        excused("x", "because", "why")


def test_a_result_written_with_offered_false_reads_back_with_an_excuse(tmp_path: Path) -> None:
    data = {"arch": "arm", "kernel_version": "6.1.192", "tree": "/t", "profile": "abi", "func": "f", "checks": [
        {"name": "fetch_argn", "status": "not run", "detail": "lacks $arg<N>", "offered": False}]}
    check = RunResult.from_json(data).checks[0]
    assert check.excuse.startswith(NO_EXPECTATION) and not check.counts_against
