"""The kernel's own probe tests, judged: one check per ftrace selftest case (ftrace:<dir>/<case>) from
the framework's result lines, and the boot-time self tests (boot:<test>) from the kernel log and the
tree's KUnit parser."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping

from harness.spec import suites
from harness.verdict import session_checks
from harness.verdict.checks import FAIL, NO_EXPECTATION, NOT_RUN, PASS, SKIPPED_BY_TEST, Check, excused, finding
from harness.verdict.expectations import BOOT, FTRACE, needs
from harness.verdict.observations import CommandResult, Observations, SuitePlan, read_problem

# what the framework prints per case: "[N]" (instance) description, a tab, "[RESULT]"
_RESULT = re.compile(r"^\[(\d+)\](?P<instance> \(instance\) )?(?P<title>.*?)\s*"
                     r"\[(?P<result>PASS|FAIL|UNRESOLVED|UNTESTED|UNSUPPORTED|XFAIL|UNDEFINED)\]\s*$", re.MULTILINE)
PASSING_RESULTS = ("PASS", "XFAIL")
NOT_RUN_RESULTS = ("UNSUPPORTED", "UNTESTED")
_REASON = re.compile(r"Required .*|.*(?:not supported|doesn't exist|is not in README|not found).*")


def case_name(case: str, instance: bool = False) -> str:
    """ftrace:kprobe/add_and_remove for test.d/kprobe/add_and_remove.tc (its run on an instance:
    ftrace:kprobe/add_and_remove@instance)."""
    return FTRACE + case.removesuffix(".tc") + ("@instance" if instance else "")


def _log_lines(output: str) -> list[str]:
    """The case's log lines the guest printed after its results (without the summary)."""
    lines = output.splitlines()
    tail = [line for line in lines if not _RESULT.match(line) and not line.startswith(("# of ", "=== "))]
    return [line.strip() for line in tail if line.strip()]


# how the tracefs README's list of fetch args offers function arguments by number ("$arg<N>" alone
# also appears in its line on kretprobes, on every arch)
ARGN = "$comm, $arg<N>"
_ARGN_USE = re.compile(r"^\+ echo .*\$arg[0-9]")


def _refused_argn(log: list[str], readme: str) -> str:
    """The definition a case wrote with $argN that this kernel refused, when its README does not offer
    $argN (arm, mips): the case lacks that requires: line, and the kernel did as it documents."""
    if not readme or ARGN in readme:
        return ""
    for line, after in itertools.pairwise(log):
        if _ARGN_USE.match(line) and "Invalid argument" in after:
            return line.removeprefix("+ echo ").strip()
    return ""


def _case_checks(case: str, result: CommandResult, readme: str = "") -> list[Check]:
    found = list(_RESULT.finditer(result.output))
    if not found:
        return [Check(case_name(case), FAIL, "the framework printed no result for this case (status "
                      f"{result.status}): {' | '.join(_log_lines(result.output)[-6:]) or 'no output'}",
                      ("no result line",))]
    log = _log_lines(result.output)
    checks = []
    for m in found:
        name, outcome, title = case_name(case, bool(m.group("instance"))), m.group("result"), m.group("title").strip()
        if outcome in PASSING_RESULTS:
            checks.append(Check(name, PASS, f"{outcome}: {title}"))
        elif outcome in NOT_RUN_RESULTS:
            reasons = [line for line in log if _REASON.fullmatch(line)]
            why = reasons[-1] if reasons else "the case printed no reason (it found nothing to test on this kernel)"
            checks.append(excused(name, NO_EXPECTATION, f"{outcome}: {title}: {why}"))
        elif outcome == "FAIL" and (refused := _refused_argn(log, readme)):
            checks.append(excused(name, NO_EXPECTATION, needs("fetch_argn", f"{outcome}, but not the kernel's: {title}: "
                                  f"it writes {refused}, and this kernel's README does not offer {ARGN} (the case "
                                  "does not require it)")))
        else:
            checks.append(Check(name, FAIL, f"{outcome}: {title}; the end of its log: " + " | ".join(log[-8:]),
                                (f"{outcome.lower()}: {title}", *_last_step(log))))
    return checks


_EXIT = re.compile(r"\+ (exit_\w+|trap|kill)\b")


def _last_step(log: list[str]) -> tuple[str, ...]:
    """The case's last command before it gave up (its shell trace, without the framework's exit): a
    finding, so two failures of one case for different reasons differ."""
    steps = [line for line in log if line.startswith("+ ") and not _EXIT.match(line)]
    return (f"log: {finding(steps[-1])}",) if steps else ()


def ftrace_checks(obs: Observations, plan: SuitePlan, console: str) -> list[Check]:
    """One check per case the plan named (a case the guest never reached fails, and says why), and
    ftrace:kernel_log: no WARN, BUG or Oops while they ran."""
    ran = dict(obs.ftrace_cases)
    readme = obs.readme.output if obs.readme else ""
    checks: list[Check] = []
    if not plan.ftrace_cases:
        checks.append(Check(f"{FTRACE}cases", FAIL, "the tree holds no kprobe or dynevent case under "
                            "tools/testing/selftests/ftrace/test.d: the suite tested nothing", ("no cases",)))
    for case in plan.ftrace_cases:
        if case in ran:
            checks += _case_checks(case, ran[case], readme)
        elif obs.ftrace_stopped.startswith(f"{case}: "):
            checks.append(Check(case_name(case), FAIL, f"the case never finished: {obs.ftrace_stopped}",
                                ("did not finish",)))
        else:
            why = f"an earlier case never finished ({obs.ftrace_stopped})" if obs.ftrace_stopped else \
                "the guest session stopped before the ftrace cases"
            checks.append(Check(case_name(case), FAIL, f"not reached: {why}", ("not reached",)))
    checks.append(kernel_log_check(obs, console))
    return checks


def _stopped_console(obs: Observations, console: str) -> str:
    """What the console showed of the case that never finished: after the kernel log read of the case
    before it (that log is on the console too, and is that case's), or all of it ('' when none stopped)."""
    if not obs.ftrace_stopped:
        return ""
    last = obs.ftrace_logs[-1][1].output.strip() if obs.ftrace_logs else ""
    return console.rsplit(last, 1)[-1] if last and last in console else console


def kernel_log_check(obs: Observations, console: str) -> Check:
    """ftrace:kernel_log: no WARN, BUG, Oops or lockup in the kernel log of any case, each report named
    by the case it came in; for a case that never finished, what the console showed of it (a crash
    prints there whatever the log level). The findings are every report's site."""
    name, reports, sites = f"{FTRACE}kernel_log", [], []
    for case, read in obs.ftrace_logs:
        if problem := read_problem(read, f"the kernel log after {case}"):
            return Check(name, FAIL, problem, ("kernel log unreadable",))
        if excerpt := session_checks.kernel_problems(read.output):
            reports.append(f"while {case} ran:\n{excerpt}")
            sites += session_checks.kernel_sites(read.output)
    stopped = _stopped_console(obs, console)
    if excerpt := session_checks.kernel_problems(stopped):
        reports.append(f"while {obs.ftrace_stopped.split(': ', 1)[0]} ran (the console):\n{excerpt}")
        sites += session_checks.kernel_sites(stopped)
    if reports:
        return Check(name, FAIL, f"the kernel reported {len(reports)} problem(s):\n" + "\n---\n".join(reports),
                     tuple(dict.fromkeys(sites)))
    if not obs.ftrace_logs and not obs.ftrace_stopped:
        return Check(name, NOT_RUN, "no case ran, so no kernel log of one was read")
    return Check(name, PASS, f"no WARN, BUG, Oops, panic or lockup report in the kernel log of "
                             f"{len(obs.ftrace_logs)} case(s)" + (" or on the console" if obs.ftrace_stopped else ""))


# where a crash report says the kernel stopped: x86_64 RIP, i386 EIP, arm64/riscv pc and epc (mips
# adds the address), powerpc NIP, arm "PC is at"
_CRASH_IN = re.compile(r"(?:RIP: [0-9a-f]{4}:|EIP: |pc : |epc\s*: (?:[0-9a-f]+ )?|NIP\s*\[[0-9a-f]+\] |PC is at )"
                       r"\s*(?P<func>[A-Za-z0-9_.]+)\+0x")


def ftrace_facts(obs: Observations, console: str = "") -> dict[str, int]:
    """For known issues: per case and result (ftrace.kprobe/kprobe_args.fail = 1; a case that never
    finished: .unfinished), and per function a crash report named while they ran
    (ftrace.crash_in.trace_fprobe_release = 1)."""
    facts: dict[str, int] = {}
    for case, result in obs.ftrace_cases:
        for m in _RESULT.finditer(result.output):
            key = f"ftrace.{case.removesuffix('.tc')}{'@instance' if m.group('instance') else ''}"
            facts[f"{key}.{m.group('result').lower()}"] = 1
    if obs.ftrace_stopped:
        facts[f"ftrace.{obs.ftrace_stopped.split(': ', 1)[0].removesuffix('.tc')}.unfinished"] = 1
    log = f"{obs.suite_log}\n{_stopped_console(obs, console)}"
    for m in _CRASH_IN.finditer(log):
        facts[f"ftrace.crash_in.{m.group('func')}"] = 1
    return facts


# FTRACE_STARTUP_TEST's kprobe test (kernel/trace/trace_kprobe.c) prints this line, then OK or NG
STARTUP_LINE = re.compile(r"Testing kprobe tracing: ?(?P<rest>.*)$", re.MULTILINE)
KUNIT_SUITES = tuple(suites.KUNIT_OPTIONS)
_KUNIT_PASS, _KUNIT_SKIP = ("PASS",), ("SKIP",)


def startup_check(dmesg: str) -> Check:
    name = f"{BOOT}kprobe_tracing"
    found = list(STARTUP_LINE.finditer(dmesg))
    if not found:
        return Check(name, FAIL, "the kernel log has no 'Testing kprobe tracing:' line: the startup test did not "
                     "run (FTRACE_STARTUP_TEST off, a boot option such as ftrace= or kprobe_event=, or a "
                     "log that wrapped)", ("no startup test line",))
    rest = found[-1].group("rest").strip()
    if rest.startswith("OK"):
        return Check(name, PASS, "Testing kprobe tracing: OK")
    return Check(name, FAIL, f"Testing kprobe tracing: {rest or '(no result: the test never finished)'}",
                 (f"startup test: {rest.split(':')[0] or 'unfinished'}",))


def _suites(kunit: Mapping[str, object]) -> dict[str, Mapping[str, object]]:
    """Every named group, however deep the parser nested it (a log with lines between the suites'
    headers reads as unnamed groups holding them)."""
    found: dict[str, Mapping[str, object]] = {}
    for group in kunit.get("sub_groups", []) or []:  # type: ignore[attr-defined]
        if group.get("name"):
            found[str(group["name"])] = group
        found.update({k: v for k, v in _suites(group).items() if k not in found})
    return found


def _case_log(dmesg: str, case: str) -> str:
    """The kernel log lines that name a KUnit case (its diagnostics and its result line)."""
    return " | ".join(line.strip() for line in dmesg.splitlines() if re.search(rf"\b{re.escape(case)}\b", line))[-600:]


def kunit_checks(kunit: Mapping[str, object] | None, offered: Mapping[str, bool], dmesg: str) -> list[Check]:
    """One check per KUnit case of each suite (boot:kprobes_test/test_kprobe); a suite the kernel
    should have run but did not print fails; one the configuration cannot have (offered False) is
    not run."""
    if kunit is None:
        return [Check(f"{BOOT}{s}", FAIL, "no KUnit parser to read the kernel log with: the tree (its "
                      "tools/testing/kunit/kunit.py) is not on this machine", ("no KUnit parser",))
                for s in KUNIT_SUITES if offered.get(s)]
    groups, checks = _suites(kunit), []
    for suite in KUNIT_SUITES:
        if not offered.get(suite):
            checks.append(excused(f"{BOOT}{suite}", NO_EXPECTATION, "not built: this configuration lacks "
                                  f"{suites.KUNIT_OPTIONS[suite]} (or what it depends on)"))
            continue
        group = groups.get(suite)
        cases = list(group.get("test_cases", []) or []) if group else []  # type: ignore[call-overload]
        if not cases:
            checks.append(Check(f"{BOOT}{suite}", FAIL, "the suite is built in but printed no results in the kernel "
                                "log", ("no results",)))
            continue
        if all(str(case.get("status")) in _KUNIT_SKIP for case in cases):
            checks.append(Check(f"{BOOT}{suite}", FAIL, f"every one of its {len(cases)} cases skipped: the suite "
                                "tested nothing", ("every case skipped",)))
            continue
        for case in cases:
            name, status = f"{BOOT}{suite}/{case.get('name')}", str(case.get("status"))
            if status in _KUNIT_PASS:
                checks.append(Check(name, PASS, "ok"))
            elif status in _KUNIT_SKIP:
                checks.append(excused(name, SKIPPED_BY_TEST, "the case skipped itself; its suite ran others"))
            else:
                log = _case_log(dmesg, str(case.get("name")))
                checks.append(Check(name, FAIL, f"{status}: {log or 'nothing in the kernel log names it'}",
                                    (f"kunit {status.lower()}",)))
    return checks


def boot_facts(checks: list[Check]) -> dict[str, int]:
    return {f"boot.{c.name.removeprefix(BOOT)}.fail": 1 for c in checks if c.name.startswith(BOOT) and c.counts_against}
