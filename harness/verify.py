"""Turn what the guest showed into named checks, facts and a verdict (pure: no processes, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness import trace
from harness.arches import ABI_PROFILE, PROBE_FUNC
from harness.observations import (
    MISSING,
    PROFILE_SPLIT,
    READ,
    TARGET_TEXT,
    WRITE,
    CommandResult,
    Observations,
    read_problem,
)
from harness.render import ProbeSpec

PASS, FAIL, NOT_RUN = "pass", "fail", "not run"
OPENER, OPENS = "cat", 3
AT_FDCWD = -100
ENOENT = 2
FIRST_FREE_FD = 3  # 0, 1 and 2 are open in every trigger process
O_ACCMODE, O_WRONLY, O_CREAT, O_TRUNC = 0o3, 0o1, 0o100, 0o1000
KERNEL_PROBLEM = re.compile(
    r"WARNING: CPU: \d+|-+\[ cut here \]-+|kernel BUG at|\bBUG: |\bOops\b|Internal error: "
    r"|Unable to handle kernel|Kernel panic - not syncing|general protection fault|soft lockup"
    r"|rcu: INFO: .*stall|hung_task|Call [Tt]race:"
)
CHECKS_AFTER_INSMOD = (
    "kprobe_registered", "kretprobe_registered", "kprobe_enabled", "kretprobe_enabled", "trigger",
    "kprobe_records", "kretprobe_records", "kprobe_hit_counts", "kretprobe_hit_counts", "no_lost_events",
    "rmmod", "events_removed", "no_records_after_rmmod", "reload",
)
VALUE_CHECKS = ("filename_arg", "register_args", "retval")
_STAT = re.compile(r"^(overrun|commit overrun|dropped events):\s*(\d+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str = ""


def verdict(checks: list[Check]) -> str:
    """'pass' only when every check ran and passed."""
    return PASS if checks and all(c.status == PASS for c in checks) else FAIL


def _check(name: str, ok: bool, good: str, bad: str) -> Check:
    return Check(name, PASS if ok else FAIL, good if ok else bad)


def checks_values(spec: ProbeSpec) -> bool:
    """Argument and return values are only known for the abi profile on do_sys_open."""
    return spec.profile == ABI_PROFILE and spec.func == PROBE_FUNC


def kernel_problems(text: str, context: int = 25) -> str:
    """The first WARN/BUG/Oops/panic/lockup report in a kernel log, as an excerpt ('' if none)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if KERNEL_PROBLEM.search(line):
            return "\n".join(lines[max(0, i - 1): i + context])
    return ""


def kernel_log_check(dmesg: CommandResult | None, console: str = "") -> Check:
    for log in (dmesg.output if dmesg else "", console):
        excerpt = kernel_problems(log)
        if excerpt:
            return Check("kernel_log", FAIL, f"the kernel reported a problem:\n{excerpt}")
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
        return Check(name, FAIL, f"{event} is not in kprobe_events")
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
        return Check(name, FAIL, f"{event}: " + "; ".join(problems))
    return Check(name, PASS, f"{kind}:kprobes/{event} {d.location} " + " ".join(f"{k}={v}" for k, v in d.args))


def _enabled_check(name: str, event: str, read: CommandResult | None) -> Check:
    problem = read_problem(read, f"events/kprobes/{event}/enable")
    value = read.output.strip() if read else ""
    return _check(name, not problem and value == "1", f"events/kprobes/{event}/enable reads 1",
                  problem or f"events/kprobes/{event}/enable reads {value!r}, expected '1'")


def profile_hits(kprobe_profile: str) -> dict[str, tuple[int, int]]:
    """kprobe_profile lines 'EVENT HITS MISSES' as event -> (hits, misses)."""
    hits = {}
    for line in kprobe_profile.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            hits[parts[0]] = (int(parts[1]), int(parts[2]))
    return hits


@dataclass(frozen=True)
class EventFacts:
    """One event's counts: hits and misses from kprobe_profile, records from the trace."""

    hits: int  # -1 when the event is not in kprobe_profile
    misses: int
    records: int  # every record of the event
    trigger_records: int  # records from the trigger processes (as the probed function says)
    slack: int  # hits while tracing was off, measured by a second profile snapshot

    @property
    def unrecorded(self) -> int:
        return self.hits - self.records

    @property
    def all_recorded(self) -> bool:
        """Every hit has its record, apart from the hits taken while tracing was off."""
        return self.hits >= 0 and self.misses == 0 and 0 <= self.unrecorded <= self.slack

    def as_dict(self, prefix: str) -> dict[str, int]:
        return {f"{prefix}.hits": self.hits, f"{prefix}.misses": self.misses, f"{prefix}.records": self.records,
                f"{prefix}.trigger_records": self.trigger_records, f"{prefix}.unrecorded": self.unrecorded,
                f"{prefix}.slack": self.slack, f"{prefix}.all_recorded": int(self.all_recorded)}


class Session:
    """The parsed trace and profile of one session, and which records came from the trigger."""

    def __init__(self, obs: Observations, spec: ProbeSpec) -> None:
        self.obs, self.spec = obs, spec
        self.dump = trace.parse_trace(obs.trace.output if obs.trace and obs.trace.ok else "")
        profile = obs.kprobe_profile.output if obs.kprobe_profile and obs.kprobe_profile.ok else ""
        first, _, second = profile.partition(PROFILE_SPLIT)
        self.hits, self.hits_again = profile_hits(first), profile_hits(second)
        self.own_function = spec.func == PROBE_FUNC

    def returns(self, record: trace.TraceRecord) -> bool:
        return record.location.endswith(f"<- {self.spec.func}")

    def kprobes(self) -> list[trace.TraceRecord]:
        return self.dump.by_event(self.spec.kprobe_event)

    def kretprobes(self) -> list[trace.TraceRecord]:
        return [r for r in self.dump.by_event(self.spec.kretprobe_event) if self.returns(r)]

    def of(self, records: list[trace.TraceRecord], kind: str) -> list[trace.TraceRecord]:
        """Records of the trigger processes of one kind (by PID: the trace prints a PID's latest comm)."""
        pids = self.obs.pids(kind)
        return [r for r in records if r.pid in pids]

    def trigger_records(self, records: list[trace.TraceRecord]) -> list[trace.TraceRecord]:
        """Records of the reading processes; for another function, any record at all."""
        return self.of(records, READ) if self.own_function else records

    def facts(self, event: str, records: list[trace.TraceRecord]) -> EventFacts:
        hit, miss = self.hits.get(event, (-1, -1))
        again = self.hits_again.get(event, (hit, miss))[0]
        return EventFacts(hit, miss, len(self.dump.by_event(event)), len(self.trigger_records(records)),
                          max(0, again - hit))


def _records_check(name: str, session: Session, event: str, records: list[trace.TraceRecord],
                   facts: EventFacts) -> Check:
    mine = session.trigger_records(records)
    pids = session.obs.pids(READ)
    want = OPENS if session.own_function else 1
    covered = len({r.pid for r in mine}) if session.own_function else len(mine)
    returning = f" returning to '<- {session.spec.func}'" if event == session.spec.kretprobe_event else ""
    source = f"the {len(pids)} '{OPENER}' processes of the trigger" if session.own_function else "any task"
    if covered >= want:
        sample = mine[0]
        fields = " ".join(f"{k}={v}" for k, v in sample.fields)
        return Check(name, PASS, f"{len(mine)} records{returning} from {source} ({facts.records} in all), "
                                 f"e.g. ({sample.location}) {fields}")
    if facts.hits <= 0:
        why = (f"the probe was never hit: {session.spec.func} may be inlined into its callers or not on "
               "the path the trigger takes in this kernel; choose another function with --func")
    elif facts.records == 0:
        why = (f"kprobe_profile counts {facts.hits} hits and {facts.misses} misses, so the probe fires "
               "but the records are not written to the ring buffer")
    else:
        why = f"{facts.records} {event} records in all, from other tasks or call sites; {facts.hits} hits"
    return Check(name, FAIL, f"{len(mine)} records{returning} from {source}, expected {want}; {why}")


def _hit_count_check(name: str, event: str, facts: EventFacts, read: CommandResult | None) -> Check:
    problem = read_problem(read, "kprobe_profile")
    seen = (f"{event}: {facts.hits} hits, {facts.records} records, {facts.misses} misses, "
            f"{facts.slack} hits while a profile was read with tracing off")
    if problem:
        return Check(name, FAIL, problem)
    if facts.hits < 0:
        return Check(name, FAIL, f"{event} is not in kprobe_profile")
    if facts.misses:
        return Check(name, FAIL, f"{event} missed {facts.misses} hits ({seen})")
    if not facts.all_recorded:
        return Check(name, FAIL, f"{facts.unrecorded} hits of {event} have no record, at most {facts.slack} "
                                 f"can be from tracing off ({seen})")
    return Check(name, PASS, seen)


def _lost_events_check(session: Session) -> Check:
    obs = session.obs
    problem = read_problem(obs.trace, "the trace") or read_problem(obs.ring_stats, "per_cpu/cpu*/stats")
    if problem:
        return Check("no_lost_events", FAIL, problem)
    assert obs.ring_stats is not None
    counters: dict[str, int] = {}
    for key, value in _STAT.findall(obs.ring_stats.output):
        counters[key] = counters.get(key, 0) + int(value)
    dump = session.dump
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
    return _check("no_lost_events", not lost, f"the ring buffer lost nothing ({figures})",
                  "the ring buffer lost events: " + "; ".join(lost) + f" ({figures})")


def signed(value: str | None, bits: int) -> int | None:
    """A printed register value (hex or decimal) as a signed integer of the given width."""
    if value is None:
        return None
    try:
        number = int(value, 0)
    except ValueError:
        return None
    number &= (1 << bits) - 1
    return number - (1 << bits) if number >= 1 << (bits - 1) else number


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
    return _check("trigger", not problems,
                  f"{OPENS} '{OPENER}' processes read the target, one failed on the missing file, a shell "
                  f"wrote the new one (PIDs {', '.join(str(t.pid) for t in obs.triggers)})",
                  "opening the target files did not go as planned: " + "; ".join(problems))


def _last_per_pid(records: list[trace.TraceRecord]) -> dict[int, trace.TraceRecord]:
    return {r.pid: r for r in records}


def _value_checks(session: Session, bits: int) -> list[Check]:
    t = session.obs.targets
    kprobes = session.kprobes()
    reads = session.of(kprobes, READ)
    misses = session.of(kprobes, MISSING)
    writes = session.of(kprobes, WRITE)
    ok_reads = [r for r in reads if r.field("filename") == f'"{t.existing}"']
    ok_misses = [r for r in misses if r.field("filename") == f'"{t.missing}"']
    ok_writes = [r for r in writes if r.field("filename") == f'"{t.created}"']
    seen = sorted({r.field("filename") or "" for r in reads + misses + writes})[:4]
    checks = [_check(
        "filename_arg", len({r.pid for r in ok_reads}) == OPENS and len(ok_reads) == len(reads)
        and len(ok_misses) == len(misses) == 1 and len(ok_writes) == len(writes) == 1,
        f"filename recorded as the opened path: {len(ok_reads)}x {t.existing}, {t.missing}, {t.created}",
        f"expected one record of {t.existing} from each of the {OPENS} '{OPENER}' processes, one of {t.missing} "
        f"and one of {t.created}; got {len(ok_reads)} of {len(reads)}, {len(ok_misses)} of {len(misses)}, "
        f"{len(ok_writes)} of {len(writes)}; the trigger's records show filename {', '.join(seen) or 'nothing'}",
    )]

    problems = []
    for path, records, want_write in ((t.existing, reads, False), (t.missing, misses, False), (t.created, writes, True)):
        for r in records:
            dfd, flags, mode = (signed(r.field(f), 64) for f in ("dfd", "flags", "mode"))
            if dfd != AT_FDCWD:
                problems.append(f"{path}: dfd={r.field('dfd')}, expected {AT_FDCWD} (AT_FDCWD)")
            if flags is None or (flags & O_ACCMODE) != (O_WRONLY if want_write else 0):
                problems.append(f"{path}: flags={r.field('flags')}, expected {'O_WRONLY' if want_write else 'O_RDONLY'}")
            elif want_write and (flags & (O_CREAT | O_TRUNC)) != O_CREAT | O_TRUNC:
                problems.append(f"{path}: flags={r.field('flags')}, expected O_CREAT|O_TRUNC")
            if want_write and mode != 0o666:
                problems.append(f"{path}: mode={r.field('mode')}, expected 0x1b6 (0666)")
    if not (reads or writes):
        problems.append("no records of the trigger processes to check")
    checks.append(_check("register_args", not problems,
                         "dfd=AT_FDCWD, O_RDONLY for reads, O_WRONLY|O_CREAT|O_TRUNC and mode 0666 for the write",
                         "; ".join(dict.fromkeys(problems))))
    checks.append(retval_check(session, bits))
    return checks


def retval_check(session: Session, bits: int) -> Check:
    """Each trigger process's last return from the function: the first free fd, or -ENOENT.

    It reads the kretprobe records alone, so it runs even when entry records are missing."""
    returns = session.kretprobes()
    plan = ((READ, FIRST_FREE_FD), (MISSING, -ENOENT), (WRITE, FIRST_FREE_FD))
    problems, checked = [], 0
    for kind, want in plan:
        last = _last_per_pid(session.of(returns, kind))
        for pid in sorted(session.obs.pids(kind)):
            record = last.get(pid)
            value = signed(record.field("arg1"), bits) if record else None
            if record is None:
                problems.append(f"{kind} (pid {pid}): no {session.spec.kretprobe_event} record")
            elif value != want:
                name = " (-ENOENT)" if want == -ENOENT else " (the first free fd)"
                problems.append(f"{kind} (pid {pid}): returned {record.field('arg1')}, expected {want}{name}")
            else:
                checked += 1
    if not checked and not problems:
        problems.append("no trigger processes to check")
    return _check("retval", not problems,
                  f"$retval is fd {FIRST_FREE_FD} for each open and -ENOENT for the missing file ({checked} returns)",
                  "; ".join(problems))


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
    return _check("events_removed", not problems, "both events gone from kprobe_events and events/kprobes/",
                  "; ".join(problems))


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
    new = [r for r in dump.records[(at or 0) + 1:] if r.event in events] if at is not None else []
    if new:
        problems.append(f"{len(new)} new records after rmmod: the probes still fire")
    return _check("no_records_after_rmmod", not problems,
                  f"tracing on (the marker was recorded); {OPENS} opens after rmmod added no records",
                  "; ".join(problems))


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
    return _check("reload", not problems, "a second insmod and rmmod worked and left no events", "; ".join(problems))


def _insmod_failed(obs: Observations, value_names: tuple[str, ...], console: str) -> list[Check]:
    detail = obs.insmod.output.strip() if obs.insmod else "insmod did not run"
    if obs.insmod_error_log.strip():
        detail += f"\ntracing error_log:\n{obs.insmod_error_log.strip()}"
    if obs.insmod_dmesg.strip():
        detail += f"\nkernel log during insmod:\n{obs.insmod_dmesg.strip()}"
    return [Check("insmod", FAIL, detail), *(Check(n, NOT_RUN, "insmod failed") for n in
                                             (*CHECKS_AFTER_INSMOD, *value_names)),
            kernel_log_check(obs.dmesg, console)]


def facts(obs: Observations, spec: ProbeSpec) -> dict[str, int]:
    """The counts known issues are matched against, per event."""
    session = Session(obs, spec)
    return {**session.facts(spec.kprobe_event, session.kprobes()).as_dict("kprobe"),
            **session.facts(spec.kretprobe_event, session.kretprobes()).as_dict("kretprobe"),
            "lost_events": session.dump.lost_events}


def verify(obs: Observations, spec: ProbeSpec, word_bits: int = 64, console: str = "") -> list[Check]:
    """All checks of one guest session, in the order they happen."""
    value_names = VALUE_CHECKS if checks_values(spec) else ()
    if obs.insmod is None or not obs.insmod.ok:
        return _insmod_failed(obs, value_names, console)
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
    session = Session(obs, spec)
    for prefix, event, records in (("kprobe", spec.kprobe_event, session.kprobes()),
                                   ("kretprobe", spec.kretprobe_event, session.kretprobes())):
        event_facts = session.facts(event, records)
        checks.append(_records_check(f"{prefix}_records", session, event, records, event_facts))
        checks.append(_hit_count_check(f"{prefix}_hit_counts", event, event_facts, obs.kprobe_profile))
    checks.append(_lost_events_check(session))
    if value_names:
        checks.extend(_value_checks(session, word_bits))
    rmmod = obs.rmmod
    checks.append(_check("rmmod", rmmod is not None and rmmod.ok, "module unloaded",
                         f"rmmod failed: {rmmod.output.strip() if rmmod else 'did not run'}"))
    checks.append(_events_removed_check(obs, events))
    checks.append(_after_rmmod_check(obs, events))
    checks.append(_reload_check(obs, events))
    checks.append(kernel_log_check(obs.dmesg, console))
    return checks
