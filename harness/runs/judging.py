"""From what a guest session showed, or the stage where it stopped, to a run result's checks, facts
and verdict: the same for a live console session and for a LAVA job's log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.build import selftests
from harness.errors import StageError
from harness.results.run import RunResult
from harness.spec import offers
from harness.spec.arches import Arch
from harness.spec.render import ProbeSpec, grammar_of
from harness.verdict import expectations, grammar_checks, sanitizer_checks, session_checks, suite_checks
from harness.verdict.checks import FAIL, Check, verdict
from harness.verdict.observations import Observations, SuitePlan, split_console
from harness.verdict.placement import OOT_MODULE
from harness.verdict.recorded import RecordedEvents


def judge_session(result: RunResult, obs: Observations, spec: ProbeSpec, arch: Arch, console: str,
                  extra: Sequence[Check] = (), in_tree: bool = False, taint: int = 0) -> None:
    """Every check of a session that ran to its end (then extra), the facts known issues are matched
    against, and the verdict; the trace and profile are parsed once for both. The tree's own module
    (in_tree) is built with the kernel, so it taints nothing; ours is out of tree (taint: flags the
    configuration sets by design)."""
    events = RecordedEvents(obs, spec)
    console = split_console(console)[0]
    result.checks = [*session_checks.check_session(obs, spec, arch.word_bits, console, events, arch.entry_offsets,
                                                   (0 if in_tree else OOT_MODULE) | taint), *extra]
    result.facts = session_checks.facts(obs, spec, events)
    _held(result)


def _held(result: RunResult) -> None:
    """The checks held to what the arch and series must offer, and the verdict over them."""
    result.checks = expectations.hold(result.checks, offers.expected(result.arch, result.kernel_version), result.arch)
    result.verdict = verdict(result.checks)


def judge_suites(result: RunResult, obs: Observations, plan: SuitePlan, console: str, tree: Path | None,
                 offered: Mapping[str, bool]) -> None:
    """The plan's suites beside the module's checks: the ftrace cases, and the boot self tests read
    from the kernel log by the KUnit parser of tree (None, or a tree not on this machine: no parser;
    offered: the KUnit suites the configuration has). Nothing to add for the module's session alone."""
    if not (plan.ftrace or plan.ftrace_cases or plan.boot or plan.sanitizers):
        return
    added: list[Check] = []
    before, after = split_console(console)
    if plan.sanitizers:
        added += sanitizer_checks.sanitizer_checks(obs, before, plan.sanitizers)
        result.facts.update(sanitizer_checks.sanitizer_facts(obs, before))
    if plan.ftrace or plan.ftrace_cases:
        added += suite_checks.ftrace_checks(obs, plan, after)
        result.facts.update(suite_checks.ftrace_facts(obs, after))
    if plan.boot:
        kunit = selftests.kunit_results(tree, obs.dmesg_text) if tree is not None and tree.is_dir() else None
        boot = [suite_checks.startup_check(obs.dmesg_text), *suite_checks.kunit_checks(kunit, offered, obs.dmesg_text)]
        result.facts.update(suite_checks.boot_facts(boot))
        added += boot
    result.checks = [*result.checks, *added]
    _held(result)


def finished_before(result: RunResult, error: StageError, spec: ProbeSpec, arch: Arch, taint: int = OOT_MODULE) -> list[Check]:
    """Every check of the stages that finished before the one that failed, judged from what the guest
    showed there (a kernel that oopses on rmmod still says whether its events registered, recorded
    the right values and counted every hit), and the facts known issues read from them."""
    obs = error.observations
    if not isinstance(obs, Observations) or obs.insmod is None or error.stage not in session_checks.STAGES:
        return []
    done = session_checks.STAGES[:session_checks.STAGES.index(error.stage)]
    events = RecordedEvents(obs, spec)
    checks = session_checks.check_session(obs, spec, arch.word_bits, "", events, arch.entry_offsets, taint)
    target = grammar_of(spec)
    grammar_names = set(grammar_checks.check_names(target)) if target else set()
    kept = [c for c in checks if session_checks.stage_of(c.name, grammar_names) in done]
    if "trace" in done:
        result.facts = session_checks.facts(obs, spec, events)
    return kept


def stage_failed(result: RunResult, error: StageError, console: str, extra: Sequence[Check] = (),
                 where: str = "") -> None:
    """A guest stage that never finished fails the run: that stage's check, with its reason and the
    last console lines, and the kernel log as far as the console showed it (then extra). where names
    the log to read, for the error line."""
    result.checks = [Check(error.stage, FAIL, f"{error.reason}\n{error.console_tail}"),
                     session_checks.kernel_log_check(None, console), *extra]
    result.error = f"stage '{error.stage}' failed: {error.reason}" + (f" ({where})" if where else "")
    _held(result)
    result.verdict = FAIL
