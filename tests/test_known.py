from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import UserError
from harness.verdict import known_issues
from harness.verdict.checks import FAIL, PASS, Check, verdict

SHIPPED = {i.id: i for i in known_issues.load()}
NMI = SHIPPED["riscv64-kprobe-records-in-nmi"]


def facts(**override: int) -> dict[str, int]:
    """Counts as the riscv64 6.12 guest shows them: entry hits without records, kretprobe healthy."""
    base = {"kprobe.hits": 23, "kprobe.misses": 0, "kprobe.records": 0, "kprobe.trigger_records": 0,
            "kretprobe.hits": 22, "kretprobe.misses": 0, "kretprobe.records": 21, "kretprobe.trigger_records": 3,
            "kretprobe.all_recorded": 1, "kretprobe.slack": 1}
    return {**base, **{k.replace("__", "."): v for k, v in override.items()}}


# the findings each check fails with in the known issues' symptoms, as the checks write them
FINDINGS = {"kprobe_records": ("hit but never recorded",), "kprobe_hit_counts": ("hits without records",),
            "fetch_ustring_empty": ("kh_ustr_empty u0 wrong",), "fetch_symbol": ("kh_symbol fn wrong",),
            "fetch_symstr": ("kh_symstr fn wrong",), "fetch_register": ("kh_reg records missing",)}


def checks(**statuses: str) -> list[Check]:
    return [Check(name, status, findings=FINDINGS.get(name, (f"{name} wrong",)) if status == FAIL else ())
            for name, status in statuses.items()]


SYMPTOM = {"insmod": "pass", "kprobe_records": "fail", "kprobe_hit_counts": "fail", "kretprobe_records": "pass",
           "kretprobe_hit_counts": "pass", "filename_arg": "fail", "register_args": "fail", "retval": "pass"}


def test_the_shipped_known_issues_file_loads_and_names_real_checks() -> None:
    from harness.spec.arches import ARCHES
    from harness.spec.grammar import grammar
    from harness.verdict.grammar_checks import check_names
    from harness.verdict.session_checks import CHECKS_AFTER_INSMOD, VALUE_CHECKS
    grammar_names = set(check_names(grammar(ARCHES["x86_64"])))
    # the kernel's own ftrace cases (as 6.12 names them) and the boot self tests
    cases = (Path(__file__).parent / "data/ftrace-cases-6.12.txt").read_text().split()
    suite_names = {"ftrace:kernel_log", *(f"ftrace:{c.removesuffix('.tc')}" for c in cases)}
    for issue in SHIPPED.values():
        assert issue.reason and issue.evidence and issue.reference and issue.facts
        names = set(issue.checks) | set(issue.impossible)
        assert {n for n in names if not n.startswith("boot:")} <= {*CHECKS_AFTER_INSMOD, *VALUE_CHECKS,
                                                                    *grammar_names, *suite_names}


def test_range_applies_by_arch_and_version() -> None:
    assert NMI.applies("riscv64", "6.12.117")
    assert not NMI.applies("riscv64", "6.1.192")
    assert not NMI.applies("arm64", "6.12.117")


def test_the_symptom_with_its_facts_is_xfail_and_the_entry_values_are_not_run() -> None:
    c = known_issues.classify("riscv64", "6.12.117", checks(**SYMPTOM), facts(), (NMI,))
    assert c.status == known_issues.XFAIL and c.issues == (NMI,)
    assert "NMI" in c.note
    status = {ch.name: ch.status for ch in c.checks}
    assert status["filename_arg"] == status["register_args"] == "not run"
    assert status["retval"] == "pass"


def test_an_entry_probe_that_never_fires_is_not_hidden_by_the_nmi_issue() -> None:
    c = known_issues.classify("riscv64", "6.12.117", checks(**SYMPTOM), facts(kprobe__hits=0), (NMI,))
    assert c.status == FAIL
    assert "kprobe.hits > 0 (is 0)" in c.note


def test_a_kretprobe_that_loses_records_is_not_hidden_by_the_nmi_issue() -> None:
    lossy = {**SYMPTOM, "kretprobe_hit_counts": "fail"}
    c = known_issues.classify("riscv64", "6.12.117", checks(**lossy), facts(kretprobe__all_recorded=0), (NMI,))
    assert c.status == FAIL
    assert "kretprobe.all_recorded" in c.note


def test_a_wrong_retval_while_the_issue_shows_is_a_plain_fail() -> None:
    c = known_issues.classify("riscv64", "6.12.117", checks(**{**SYMPTOM, "retval": "fail"}), facts(), (NMI,))
    assert c.status == FAIL
    assert "retval" in c.note


def test_failure_beyond_the_known_issue_is_a_plain_fail() -> None:
    c = known_issues.classify("riscv64", "6.12.117", checks(**SYMPTOM, rmmod="fail"), facts(), (NMI,))
    assert c.status == FAIL
    assert "rmmod" in c.note


def test_known_issue_that_passes_is_xpass() -> None:
    healthy = facts(kprobe__records=22, kprobe__trigger_records=3)
    c = known_issues.classify("riscv64", "6.12.117", checks(insmod="pass", kprobe_records="pass"), healthy, (NMI,))
    assert c.status == known_issues.XPASS


def test_outside_the_range_plain_verdicts_stand() -> None:
    assert known_issues.classify("riscv64", "6.1.192", checks(a="pass"), facts(), (NMI,)).status == PASS
    c = known_issues.classify("riscv64", "6.1.192", checks(**SYMPTOM), facts(), (NMI,))
    assert c.status == FAIL
    assert {ch.name: ch.status for ch in c.checks}["filename_arg"] == "fail"


def test_a_broken_known_issues_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "k.toml"
    bad.write_text("[[issue]]\nid = 'x'\n")
    with pytest.raises(UserError, match="lacks"):
        known_issues.load(bad)
    bad.write_text("[[issue]]\nid = 'x'\narch = 'a'\nchecks = []\nreason = 'r'\nfacts = { 'kprobe.hits' = '> 0' }\n")
    with pytest.raises(UserError, match="lacks 'findings'"):
        known_issues.load(bad)
    bad.write_text("[[issue]]\nid = 'x'\narch = 'a'\nchecks = []\nreason = 'r'\nfacts = { 'kprobe.hits' = 'many' }\n"
                   "findings = ['x']\n")
    with pytest.raises(UserError, match="operator"):
        known_issues.load(bad)


EMPTY_USTRING = SHIPPED["ustring-empty-records-as-fault"]


def test_what_the_kernel_does_not_offer_holds_nothing_against_it() -> None:
    offered_not = [Check("insmod", "pass"), Check("fetch_dentry", "not run", "lacks '%pd/%pD'", excuse="not offered by design: lacks %pd")]
    assert verdict(offered_not) == "pass"
    assert known_issues.classify("x86_64", "6.1.192", offered_not, {}, ()).status == "pass"
    assert verdict([Check("insmod", "pass"), Check("kernel_log", "not run", "insmod failed")]) == "fail"


def test_an_issue_of_generic_code_applies_on_every_arch_once_its_checks_ran() -> None:
    assert EMPTY_USTRING.applies("riscv64", "6.1.192") and EMPTY_USTRING.applies("arm", "6.12.117")
    symptom = {"grammar.fetch_ustring_empty.wrong": 3, "grammar.fetch_ustring_empty.faults": 3,
               "grammar.fetch_ustring.wrong": 0}
    ran = checks(insmod="pass", fetch_ustring="pass", fetch_ustring_empty="fail")
    assert known_issues.classify("arm", "6.1.192", ran, symptom, (EMPTY_USTRING,)).status == "xfail"
    # a second wrong user string is another bug: the issue's facts no longer hold
    worse = {**symptom, "grammar.fetch_ustring.wrong": 1}
    failing = [*ran[:1], *checks(fetch_ustring="fail"), ran[2]]
    assert known_issues.classify("arm", "6.1.192", failing, worse, (EMPTY_USTRING,)).status == "fail"
    # a result without the grammar checks (the tree's own module, or made before them) is not an XPASS
    assert known_issues.classify("arm", "6.1.192", [Check("insmod", "pass")], {}, (EMPTY_USTRING,)).status == "pass"


def test_the_riscv64_mapping_symbol_issue_needs_every_symbol_record_to_name_one() -> None:
    issue = SHIPPED["riscv64-module-symbol-is-a-mapping-symbol"]
    assert issue.applies("riscv64", "6.1.192") and not issue.applies("riscv64", "6.12.117")
    shows = {"grammar.fetch_symbol.mapping_symbols": 3, "grammar.fetch_symbol.wrong": 3,
             "grammar.fetch_symstr.mapping_symbols": 3, "grammar.fetch_symstr.wrong": 3}
    ran = checks(insmod="pass", fetch_symbol="fail", fetch_symstr="fail")
    assert known_issues.classify("riscv64", "6.1.192", ran, shows, (issue,)).status == "xfail"
    other = {**shows, "grammar.fetch_symbol.mapping_symbols": 0}  # a wrong symbol of another kind
    assert known_issues.classify("riscv64", "6.1.192", ran, other, (issue,)).status == "fail"


def test_clang_modules_on_ppc64le_are_explained_and_gcc_ones_are_untouched(data: Path) -> None:
    """A real ppc64le 6.12 LLVM result: the module's entry probes record nothing (probes on the global
    entry point); its facts name the issue, which the same cell built by GCC never matches."""
    import json

    from harness.results.run import RunResult
    from harness.runs.check import classify
    from harness.runs.options import CheckOptions
    from harness.spec.arches import ARCHES

    raw = json.loads((data / "result-ppc64le-6.12-llvm-module-entry.json").read_text())
    result = RunResult.from_json(raw)
    classify(CheckOptions(arch=ARCHES["ppc64le"], toolchain="llvm"), result)
    assert result.status == "xfail"
    assert [i["id"] for i in result.known_issues] == ["ppc64le-clang-module-entry-probe-at-global-entry"]
    # the same facts with the entry probes recording (GCC): nothing to explain, and nothing is explained
    healthy = RunResult.from_json({**raw, "facts": {**raw["facts"], "grammar.fetch_register.records": 3}})
    classify(CheckOptions(arch=ARCHES["ppc64le"]), healthy)
    assert healthy.status == "fail"
    # the issue is clang's: a GCC build with the very same symptom is not explained by it
    gcc = RunResult.from_json(raw)
    classify(CheckOptions(arch=ARCHES["ppc64le"], toolchain="gcc"), gcc)
    assert gcc.status == "fail" and not gcc.known_issues


def test_an_nmi_grammar_check_failing_because_its_event_was_not_built_stays_a_fail() -> None:
    """A parser refusal on riscv64 6.12 (the event never built) is another bug than the NMI's missing
    records, although both fail fetch_register and the issue's facts hold."""
    refused = [*checks(**SYMPTOM), Check("fetch_register", FAIL, "kh_reg was not built",
                                         ("kh_reg not built (create)",))]
    c = known_issues.classify("riscv64", "6.12.117", refused, facts(), (NMI,))
    assert c.status == FAIL
    assert "known issue riscv64-kprobe-records-in-nmi matched fetch_register only in part" in c.note
    assert "'kh_reg not built (create)'" in c.note
    # the same check failing as the issue predicts (records missing from a built event) is explained
    missing = [*checks(**SYMPTOM), *checks(fetch_register="fail")]
    assert known_issues.classify("riscv64", "6.12.117", missing, facts(), (NMI,)).status == known_issues.XFAIL


def test_the_subbuf_issue_does_not_explain_an_event_at_the_limit_that_was_never_built() -> None:
    issue = SHIPPED["ring-buffer-subbuf-keeps-page-event-limit"]
    shows = {"grammar.fetch_string_limit.records": 0, "grammar.fetch_string_long.wrong": 0}
    recorded_none = [Check("fetch_string_limit", FAIL, "", ("kh_kstr_limit records missing", "kh_ustr_limit records missing"))]
    assert known_issues.classify("x86_64", "6.12.118", recorded_none, shows, (issue,)).status == known_issues.XFAIL
    refused = [Check("fetch_string_limit", FAIL, "", ("kh_kstr_limit not built (create)", "kh_ustr_limit records missing"))]
    assert known_issues.classify("x86_64", "6.12.118", refused, shows, (issue,)).status == FAIL


TPROBE = SHIPPED["tprobe-on-unloaded-module-oops"]
TPROBE_FACTS = {"ftrace.dynevent/add_remove_tprobe_module.unfinished": 1, "ftrace.crash_in.trace_fprobe_release": 1}
OOPS = ("BUG: kernel NULL pointer dereference, address: #", "Oops: Oops: # [##]", "RIP: #:trace_fprobe_release+#/#",
        "RIP: #:#")


def test_the_tprobe_oops_explains_the_kernel_log_report_by_report_never_a_warn_beside_it() -> None:
    case = Check("ftrace:dynevent/add_remove_tprobe_module", FAIL, "never finished", ("did not finish",))
    alone = [case, Check("ftrace:kernel_log", FAIL, "oops", OOPS)]
    assert known_issues.classify("x86_64", "6.12.118", alone, TPROBE_FACTS, (TPROBE,)).status == known_issues.XFAIL
    warned = [case, Check("ftrace:kernel_log", FAIL, "oops and a warn", (
        *OOPS, "WARNING: CPU: # PID: # at kernel/trace/trace_eprobe.c:# __trace_eprobe_create+#/#",
        "RIP: #:__trace_eprobe_create+#/#"))]
    c = known_issues.classify("x86_64", "6.12.118", warned, TPROBE_FACTS, (TPROBE,))
    assert c.status == FAIL and "matched ftrace:kernel_log only in part" in c.note and "trace_eprobe.c" in c.note


def test_an_unresolved_kprobe_eventname_is_excused_only_for_the_missing_isra_function() -> None:
    issue = SHIPPED["arm-kernel-has-no-isra-function"]
    facts_ = {"ftrace.kprobe/kprobe_eventname.unresolved": 1}
    name = "ftrace:kprobe/kprobe_eventname"
    no_isra = [Check(name, FAIL, "", ("unresolved: Kprobe event auto/manual naming", "log: + FUNC="))]
    assert known_issues.classify("arm", "6.12.118", no_isra, facts_, (issue,)).status == known_issues.XFAIL
    other = [Check(name, FAIL, "", ("unresolved: Kprobe event auto/manual naming", "log: + echo p:kprobes/x foo"))]
    assert known_issues.classify("arm", "6.12.118", other, facts_, (issue,)).status == FAIL
