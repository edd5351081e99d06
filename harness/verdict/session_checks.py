"""Turn what the guest showed into named checks, facts and a verdict (pure: no processes, no I/O)."""

from __future__ import annotations

import re

from harness.spec.arches import ARCHES, PROBE_FUNC
from harness.spec.render import ProbeSpec, grammar_of
from harness.verdict import abi_values, grammar_checks, placement, trace
from harness.verdict.abi_values import VALUE_CHECKS
from harness.verdict.checks import FAIL, NOT_RUN, PASS, Check, clip, finding, make_check
from harness.verdict.observations import (
    MISSING,
    OPENER,
    OPENS,
    READ,
    TARGET_TEXT,
    WRITE,
    CommandResult,
    Observations,
    read_problem,
)
from harness.verdict.placement import OOT_MODULE, PLACEMENT_CHECKS
from harness.verdict.recorded import EventFacts, RecordedEvents

KERNEL_PROBLEM = re.compile(
    r"WARNING: CPU: \d+|-+\[ cut here \]-+|kernel BUG at|\bBUG: |\bOops\b|Internal error: "
    r"|Unable to handle kernel|Kernel panic - not syncing|general protection fault|soft lockup"
    r"|rcu: INFO: .*stall|hung_task|Call [Tt]race:"
)
CORE_CHECKS = (
    "kprobe_registered", "kretprobe_registered", "kprobe_enabled", "kretprobe_enabled", "trigger",
    "kprobe_records", "kretprobe_records", "kprobe_hit_counts", "kretprobe_hit_counts", "no_lost_events",
    "rmmod", "events_removed", "no_records_after_rmmod", "reload",
)
CHECKS_AFTER_INSMOD = (*CORE_CHECKS, *PLACEMENT_CHECKS)
_STAT = re.compile(r"^(overrun|commit overrun|dropped events):\s*(\d+)\s*$", re.MULTILINE)
# the module session's stages in order (vm/guest.py), and the checks each one's reads decide
STAGES = ("prepare", "insmod", "trigger", "trace", "grammar", "rmmod", "reload", "kmemleak")
_STAGE_OF = {
    **dict.fromkeys(("insmod", "kprobe_registered", "kretprobe_registered", "kprobe_enabled", "kretprobe_enabled"),
                    "insmod"),
    "trigger": "trigger",
    **dict.fromkeys(("kprobe_records", "kretprobe_records", "kprobe_hit_counts", "kretprobe_hit_counts",
                     "no_lost_events", "kprobe_location", *VALUE_CHECKS), "trace"),
    **dict.fromkeys(("rmmod", "events_removed", "kprobes_released", grammar_checks.REMOVED,
                     "no_records_after_rmmod"), "rmmod"),
    **dict.fromkeys(("reload", "taint", "kernel_log"), "reload"),
}


def stage_of(check: str, grammar_names: set[str]) -> str:
    """The stage whose reads decide a check ('' for one of no stage of the session)."""
    return _STAGE_OF.get(check, "grammar" if check in grammar_names else "")


def value_checks_of(profile: str, func: str, arch: str) -> tuple[str, ...]:
    """The value checks a session runs: argument and return values are known on do_sys_open for the
    profiles whose fetches are its real arguments on the arch (abi everywhere; upstream's x86
    strings on i386). A profile that records the filename as an address has no filename_arg."""
    row = ARCHES[arch]
    if func != PROBE_FUNC or profile not in row.value_profiles:
        return ()
    as_string = any(f.startswith("filename=") and "string" in f for f in row.probe_fields(profile))
    return tuple(name for name in VALUE_CHECKS if as_string or name != "filename_arg")


def expected_checks(profile: str, func: str, arch: str) -> tuple[str, ...]:
    """The checks every session that got past insmod has reported since schema_version 1, for a profile
    and probed function (the placement checks came later: a result made before them lacks them)."""
    return ("insmod", *CORE_CHECKS, *value_checks_of(profile, func, arch), "kernel_log")


def kernel_problems(text: str, context: int = 25) -> str:
    """The first WARN/BUG/Oops/panic/lockup report in a kernel log, as an excerpt ('' if none)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if KERNEL_PROBLEM.search(line):
            return "\n".join(lines[max(0, i - 1): i + context])
    return ""


_GENERIC = re.compile(r"cut here|Call [Tt]race:")
_SITE = re.compile(r"^\s*(?:RIP|pc)\s*:")
_STAMP = re.compile(r"^\s*(?:<\d+>)?\s*\[\s*\d+\.\d+\]\s*")  # "<4>[    0.81]": dmesg's level and time


def kernel_sites(text: str) -> list[str]:
    """Every WARN/BUG/Oops/panic/lockup of a kernel log by its site (file and function, the faulting
    RIP/pc), with run-specific numbers taken out: the findings of kernel_log."""
    sites = []
    for raw in text.splitlines():
        line = _STAMP.sub("", raw)
        if (KERNEL_PROBLEM.search(line) and not _GENERIC.search(line)) or _SITE.match(line):
            sites.append(finding(line))
    return list(dict.fromkeys(sites))


def kernel_log_check(dmesg: CommandResult | None, console: str = "") -> Check:
    for log in (dmesg.output if dmesg else "", console):
        excerpt = kernel_problems(log)
        if excerpt:
            return Check("kernel_log", FAIL, f"the kernel reported a problem:\n{excerpt}",
                         tuple(kernel_sites(log)))
    if dmesg is None:
        return Check("kernel_log", NOT_RUN, "the guest did not get as far as reading dmesg; "
                                            "the console shows no WARN, BUG, Oops, panic or lockup")
    problem = read_problem(dmesg, "the kernel log (dmesg)")
    if problem:
        return Check("kernel_log", FAIL, problem)
    return Check("kernel_log", PASS, "no WARN, BUG, Oops, panic or lockup report")


def _location_matches(location: str, func: str) -> bool:
    return location in (func, f"{func}+0")


def _definition_check(name: str, read: CommandResult | None, kind: str, event: str, func: str,
                      fields: tuple[str, ...]) -> Check:
    problem = read_problem(read, "kprobe_events")
    if problem:
        return Check(name, FAIL, problem)
    assert read is not None
    want = trace.expected_args(fields)
    found = [d for d in trace.parse_kprobe_events(read.output) if d.event == event]
    if not found:
        return Check(name, FAIL, f"{event} is not in kprobe_events", ("not registered",))
    d = found[0]
    problems = []
    if d.kind != kind:
        problems.append(f"kind {d.kind}, expected {kind}")
    if d.group != "kprobes":
        problems.append(f"group {d.group}, expected kprobes")
    if not _location_matches(d.location, func):
        problems.append(f"location {d.location}, expected {func}")
    if d.args != want:
        got = " ".join(f"{k}={v}" for k, v in d.args)
        problems.append(f"fields '{got}', expected '{' '.join(f'{k}={v}' for k, v in want)}'")
    if problems:
        return Check(name, FAIL, f"{event}: " + "; ".join(problems), tuple(problems))
    return Check(name, PASS, f"{kind}:kprobes/{event} {d.location} " + " ".join(f"{k}={v}" for k, v in d.args))


def _enabled_check(name: str, event: str, read: CommandResult | None) -> Check:
    problem = read_problem(read, f"events/kprobes/{event}/enable")
    value = read.output.strip() if read else ""
    return make_check(name, not problem and value == "1", f"events/kprobes/{event}/enable reads 1",
                      problem or f"events/kprobes/{event}/enable reads {value!r}, expected '1'",
                      ["unreadable" if problem else f"reads {value!r}"])


def _records_check(name: str, recorded: RecordedEvents, event: str, records: list[trace.TraceRecord],
                   facts: EventFacts) -> Check:
    problem = read_problem(recorded.obs.trace, "the trace")
    if problem:
        return Check(name, FAIL, problem)
    mine = recorded.trigger_records(records)
    pids = recorded.obs.pids(READ)
    want = OPENS if recorded.own_function else 1
    covered = len({r.pid for r in mine}) if recorded.own_function else len(mine)
    returning = f" returning to '<- {recorded.spec.func}'" if event == recorded.spec.kretprobe_event else ""
    source = f"the {len(pids)} '{OPENER}' processes of the trigger" if recorded.own_function else "any task"
    if covered >= want:
        sample = mine[0]
        fields = " ".join(f"{k}={v}" for k, v in sample.fields)
        return Check(name, PASS, f"{len(mine)} records{returning} from {source} ({facts.records} in all), "
                                 f"e.g. ({sample.location}) {fields}")
    if facts.hits <= 0:
        kind = "never hit"
        why = (f"the probe was never hit: {recorded.spec.func} may be inlined into its callers or not on "
               "the path the trigger takes in this kernel; choose another function with --func")
    elif facts.records == 0:
        kind = "hit but never recorded"
        why = (f"kprobe_profile counts {facts.hits} hits and {facts.misses} misses, so the probe fires "
               "but the records are not written to the ring buffer")
    else:
        kind = "records only from other tasks or call sites"
        why = f"{facts.records} {event} records in all, from other tasks or call sites; {facts.hits} hits"
    return Check(name, FAIL, f"{len(mine)} records{returning} from {source}, expected {want}; {why}", (kind,))


def _hit_count_check(name: str, event: str, facts: EventFacts, read: CommandResult | None) -> Check:
    problem = read_problem(read, "kprobe_profile")
    seen = (f"{event}: {facts.hits} hits, {facts.records} records, {facts.misses} misses, "
            f"{facts.slack} hits while a profile was read with tracing off")
    if problem:
        return Check(name, FAIL, problem, ("kprobe_profile unreadable",))
    if facts.hits < 0:
        return Check(name, FAIL, f"{event} is not in kprobe_profile", ("not in kprobe_profile",))
    if facts.misses:
        return Check(name, FAIL, f"{event} missed {facts.misses} hits ({seen})", ("misses",))
    if facts.hits == 0:  # nothing to count: the records check says why the probe never fired
        return Check(name, NOT_RUN, f"{event} was never hit, so there is no hit to match with a record ({seen})")
    if not facts.all_recorded:
        return Check(name, FAIL, f"{facts.unrecorded} hits of {event} have no record, at most {facts.slack} "
                                 f"can be from tracing off ({seen})", ("hits without records",))
    return Check(name, PASS, seen)


def _lost_events_check(recorded: RecordedEvents) -> Check:
    obs = recorded.obs
    problem = read_problem(obs.trace, "the trace") or read_problem(obs.ring_stats, "per_cpu/cpu*/stats")
    if problem:
        return Check("no_lost_events", FAIL, problem, ("unreadable",))
    assert obs.ring_stats is not None
    counters: dict[str, int] = {}
    for key, value in _STAT.findall(obs.ring_stats.output):
        counters[key] = counters.get(key, 0) + int(value)
    dump = recorded.dump
    figures = ", ".join(f"{k} {v}" for k, v in counters.items())
    figures += f", entries in buffer/written {dump.entries_in_buffer}/{dump.entries_written}"
    lost = [f"{k} {v}" for k, v in counters.items() if v]
    if dump.lost_events:
        lost.append(f"{dump.lost_events} events marked LOST in the trace")
    if dump.entries_written is None:
        lost.append("the trace header has no entries-written count")
    elif dump.entries_in_buffer != dump.entries_written:
        lost.append(f"{dump.entries_written - (dump.entries_in_buffer or 0)} entries written but not in the buffer")
    if len(counters) < 3:
        lost.append("per_cpu stats lack overrun, commit overrun or dropped events")
    if dump.unparsed:  # a garbled record is a record no check can read
        lost.append(f"{len(dump.unparsed)} trace line(s) that are no record, first: '{clip(dump.unparsed[0], 120)}'")
    return make_check("no_lost_events", not lost, f"the ring buffer lost nothing ({figures})",
                      "the ring buffer lost events: " + "; ".join(lost) + f" ({figures})", [finding(x) for x in lost])


def _trigger_check(obs: Observations) -> Check:
    problems = []
    for t in obs.triggers:
        expect_ok = t.kind != MISSING
        if t.pid is None:
            problems.append(f"{t.kind} {t.path}: no PID printed ({t.result.output.strip() or 'no output'})")
        elif t.result.ok != expect_ok:
            problems.append(f"{t.kind} {t.path}: status {t.result.status}, expected "
                            f"{'0' if expect_ok else 'non-zero'} {t.result.output.strip()}")
        elif t.kind == READ and TARGET_TEXT not in t.result.output:
            problems.append(f"{t.kind} {t.path}: printed {t.result.output.strip()!r}, not {TARGET_TEXT!r}")
    kinds = [t.kind for t in obs.triggers]
    if kinds.count(READ) != OPENS or MISSING not in kinds or WRITE not in kinds:
        problems.append(f"the trigger ran {kinds}")
    return make_check("trigger", not problems,
                      f"{OPENS} '{OPENER}' processes read the target, one failed on the missing file, a shell "
                      f"wrote the new one (PIDs {', '.join(str(t.pid) for t in obs.triggers)})",
                      "opening the target files did not go as planned: " + "; ".join(problems),
                      [finding(p) for p in problems])


def _events_removed_check(obs: Observations, events: tuple[str, ...]) -> Check:
    problems = [p for p in (read_problem(obs.kprobe_events_after, "kprobe_events after rmmod"),) if p]
    after = obs.kprobe_events_after.output if obs.kprobe_events_after else ""
    left = [d.event for d in trace.parse_kprobe_events(after) if d.event in events]
    dirs = []
    for event in events:
        result = obs.event_dirs_after.get(event)
        if result is None or result.status not in (0, 1) or result.output.strip():
            problems.append(f"test -d events/kprobes/{event} failed: "
                            f"{(result.output.strip() or 'status ' + str(result.status)) if result else 'not run'}")
        elif result.status == 0:
            dirs.append(event)
    if left or dirs:
        problems.append(f"still in kprobe_events: {left or 'none'}; still in events/kprobes/: {dirs or 'none'}")
    return make_check("events_removed", not problems, "both events gone from kprobe_events and events/kprobes/",
                      "; ".join(problems), [finding(p) for p in problems])


def _after_rmmod_check(obs: Observations, events: tuple[str, ...]) -> Check:
    problems = [p for p in (read_problem(obs.tracing_on_after, "tracing_on"),
                            read_problem(obs.trace_after_reopen, "the trace after rmmod")) if p]
    problems += [f"{r.command}: status {r.status} {r.output.strip()}" for r in obs.reopen if not r.ok]
    if len(obs.reopen) != OPENS:
        problems.append(f"the target was opened {len(obs.reopen)} times after rmmod, expected {OPENS}")
    if obs.tracing_on_after and obs.tracing_on_after.ok and obs.tracing_on_after.output.strip() != "1":
        problems.append(f"tracing_on reads {obs.tracing_on_after.output.strip()!r}, so nothing could be recorded")
    dump = trace.parse_trace(obs.trace_after_reopen.output if obs.trace_after_reopen else "")
    at = next((i for i, r in enumerate(dump.records)
               if obs.marker and r.event == "tracing_mark_write" and obs.marker in r.body), None)
    if at is None and not problems:
        problems.append(f"the marker {obs.marker} written to trace_marker is not in the trace: tracing does not record")
    new = [r for r in dump.records[at + 1:] if r.event in events] if at is not None else []
    if new:
        problems.append(f"{len(new)} new records after rmmod: the probes still fire")
    return make_check("no_records_after_rmmod", not problems,
                      f"tracing on (the marker was recorded); {OPENS} opens after rmmod added no records",
                      "; ".join(problems), [finding(p) for p in problems])


def _reload_check(obs: Observations, events: tuple[str, ...]) -> Check:
    problems = [f"{r.command}: {r.output.strip() or 'status ' + str(r.status)}" for r in obs.reload if not r.ok]
    if len(obs.reload) != 2:
        problems.append("insmod and rmmod did not both run")
    read = obs.kprobe_events_after_reload
    problem = read_problem(read, "kprobe_events after the reload")
    if problem:
        problems.append(problem)
    left = [d.event for d in trace.parse_kprobe_events(read.output if read else "") if d.event in events]
    if left:
        problems.append(f"events left after reload: {left}")
    return make_check("reload", not problems, "a second insmod and rmmod worked and left no events", "; ".join(problems),
                      [finding(p) for p in problems])


def _insmod_failed(obs: Observations, value_names: tuple[str, ...], grammar_names: tuple[str, ...],
                   console: str) -> list[Check]:
    detail = obs.insmod.output.strip() if obs.insmod else "insmod did not run"
    if obs.insmod_error_log.strip():
        detail += f"\ntracing error_log:\n{obs.insmod_error_log.strip()}"
    if obs.insmod_dmesg.strip():
        detail += f"\nkernel log during insmod:\n{obs.insmod_dmesg.strip()}"
    said = [obs.insmod.output.strip() if obs.insmod else "insmod did not run", obs.insmod_error_log.strip()]
    findings = tuple(finding(line) for text in said for line in text.splitlines() if line.strip())
    return [Check("insmod", FAIL, detail, findings), *(Check(n, NOT_RUN, "insmod failed") for n in
                                             (*CHECKS_AFTER_INSMOD, *value_names, *grammar_names)),
            kernel_log_check(obs.dmesg, console)]


def facts(obs: Observations, spec: ProbeSpec, recorded: RecordedEvents | None = None) -> dict[str, int]:
    """The counts known issues are matched against, per event (recorded: what check_session read, if any)."""
    recorded = recorded or RecordedEvents(obs, spec)
    target = grammar_of(spec)
    return {**recorded.facts(spec.kprobe_event, recorded.kprobes()).as_dict("kprobe"),
            **recorded.facts(spec.kretprobe_event, recorded.kretprobes()).as_dict("kretprobe"),
            "lost_events": recorded.dump.lost_events,
            **(grammar_checks.grammar_facts(obs, target) if target else {})}


def check_session(obs: Observations, spec: ProbeSpec, word_bits: int = 64, console: str = "",
                  recorded: RecordedEvents | None = None, entry_offsets: tuple[int, ...] = (0,),
                  allowed_taint: int = OOT_MODULE) -> list[Check]:
    """All checks of one guest session, in the order they happen (recorded: its parsed trace and
    profile, when the caller has them already; entry_offsets: where the arch arms an entry kprobe;
    allowed_taint: the taint the module itself causes)."""
    value_names = value_checks_of(spec.profile, spec.func, spec.arch)
    target = grammar_of(spec)
    if obs.insmod is None or not obs.insmod.ok:
        return _insmod_failed(obs, value_names, grammar_checks.check_names(target) if target else (), console)
    events = (spec.kprobe_event, spec.kretprobe_event)
    checks = [
        Check("insmod", PASS, f"insmod {obs.module_path}"),
        _definition_check("kprobe_registered", obs.kprobe_events, "p", spec.kprobe_event, spec.func,
                          spec.kprobe_fields),
        _definition_check("kretprobe_registered", obs.kprobe_events, "r", spec.kretprobe_event, spec.func,
                          spec.kretprobe_fields),
        _enabled_check("kprobe_enabled", spec.kprobe_event, obs.enable.get(spec.kprobe_event)),
        _enabled_check("kretprobe_enabled", spec.kretprobe_event, obs.enable.get(spec.kretprobe_event)),
        _trigger_check(obs),
    ]
    recorded = recorded or RecordedEvents(obs, spec)
    for prefix, event, records in (("kprobe", spec.kprobe_event, recorded.kprobes()),
                                   ("kretprobe", spec.kretprobe_event, recorded.kretprobes())):
        event_facts = recorded.facts(event, records)
        checks.append(_records_check(f"{prefix}_records", recorded, event, records, event_facts))
        checks.append(_hit_count_check(f"{prefix}_hit_counts", event, event_facts, obs.kprobe_profile))
    checks.append(_lost_events_check(recorded))
    checks.append(placement.location_check(obs.kprobes_list, spec, recorded.trigger_records(recorded.kprobes()),
                                           entry_offsets))
    if value_names:
        checks.extend(abi_values.value_checks(recorded, word_bits, value_names, ARCHES[spec.arch].create_flags))
    if target:
        checks.extend(grammar_checks.grammar_checks(obs, target))
    rmmod = obs.rmmod
    said = rmmod.output.strip() if rmmod else "did not run"
    checks.append(make_check("rmmod", rmmod is not None and rmmod.ok, "module unloaded", f"rmmod failed: {said}",
                             [finding(line) for line in said.splitlines()[:3]]))
    checks.append(_events_removed_check(obs, events))
    checks.append(placement.released_check(obs.kprobes_list_after, spec))
    if target:
        checks.append(grammar_checks.removed_check(obs, target))
    checks.append(_after_rmmod_check(obs, events))
    checks.append(_reload_check(obs, events))
    checks.append(placement.taint_check(obs.tainted, allowed_taint))
    checks.append(kernel_log_check(obs.dmesg, console))
    return checks
