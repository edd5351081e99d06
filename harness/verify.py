"""Turn what the guest showed into named checks and a verdict (pure: no processes, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness import trace
from harness.arches import ABI_PROFILE, PROBE_FUNC
from harness.render import ProbeSpec
from vm.guest import OPENER, OPENS, Observations

PASS, FAIL, NOT_RUN = "pass", "fail", "not run"
AT_FDCWD = -100
ENOENT = 2
O_ACCMODE, O_WRONLY, O_CREAT, O_TRUNC = 0o3, 0o1, 0o100, 0o1000
KERNEL_PROBLEM = re.compile(
    r"WARNING: CPU: \d+|-+\[ cut here \]-+|kernel BUG at|\bBUG: |\bOops\b|Internal error: "
    r"|Unable to handle kernel|Kernel panic - not syncing|general protection fault|soft lockup"
    r"|rcu: INFO: .*stall|hung_task|Call [Tt]race:"
)
CHECKS_AFTER_INSMOD = (
    "kprobe_registered", "kretprobe_registered", "kprobe_enabled", "kretprobe_enabled", "trigger",
    "kprobe_records", "kretprobe_records", "hit_counts", "rmmod", "events_removed",
    "no_records_after_rmmod", "reload",
)
VALUE_CHECKS = ("filename_arg", "register_args", "retval")


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


def kernel_log_check(*logs: str) -> Check:
    for log in logs:
        excerpt = kernel_problems(log)
        if excerpt:
            return Check("kernel_log", FAIL, f"the kernel reported a problem:\n{excerpt}")
    return Check("kernel_log", PASS, "no WARN, BUG, Oops, panic or lockup report")


def _location_matches(location: str, func: str) -> bool:
    return location in (func, f"{func}+0")


def _definition_check(name: str, defs: list[trace.ProbeDefinition], kind: str, event: str,
                      func: str, fields: tuple[str, ...]) -> Check:
    want = trace.expected_args(fields)
    found = [d for d in defs if d.event == event]
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


def profile_hits(kprobe_profile: str) -> dict[str, tuple[int, int]]:
    """kprobe_profile lines 'EVENT HITS MISSES' as event -> (hits, misses)."""
    hits = {}
    for line in kprobe_profile.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            hits[parts[0]] = (int(parts[1]), int(parts[2]))
    return hits


def _records_check(name: str, dump: trace.TraceDump, event: str, func: str,
                   hits: dict[str, tuple[int, int]]) -> Check:
    records = dump.by_event(event)
    mine = [r for r in records if r.comm == OPENER]
    if len(mine) >= OPENS:
        sample = mine[0]
        fields = " ".join(f"{k}={v}" for k, v in sample.fields)
        return Check(name, PASS, f"{len(mine)} records from '{OPENER}' ({len(records)} in all), "
                                 f"e.g. ({sample.location}) {fields}")
    hit, miss = hits.get(event, (0, 0))
    if hit == 0:
        why = (f"the probe was never hit: {func} may be inlined into its callers or not on the "
               f"open path of this kernel; choose another function with --func")
    else:
        why = (f"kprobe_profile counts {hit} hits and {miss} misses, so the probe fires but the "
               "records are not written to the ring buffer")
    return Check(name, FAIL, f"{len(mine)} records from '{OPENER}' after {OPENS} opens "
                             f"({len(records)} {event} records in all); {why}")


def _hit_count_check(dump: trace.TraceDump, hits: dict[str, tuple[int, int]], events: tuple[str, ...]) -> Check:
    """Every hit is recorded: hits = records + 1 (the open of kprobe_profile itself, with tracing off)."""
    problems, seen = [], []
    for event in events:
        hit, miss = hits.get(event, (-1, -1))
        records = len(dump.by_event(event))
        seen.append(f"{event} {hit} hits/{records} records/{miss} misses")
        if hit < 0:
            problems.append(f"{event} is not in kprobe_profile")
        elif miss:
            problems.append(f"{event} missed {miss} hits")
        elif hit != records + 1:
            problems.append(f"{event} was hit {hit} times but has {records} records (expected {records + 1} hits)")
    if dump.lost_events:
        problems.append(f"the trace lost {dump.lost_events} events")
    return _check("hit_counts", not problems, "; ".join(seen), "; ".join(problems) + f" ({'; '.join(seen)})")


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


def _return_of(dump: trace.TraceDump, entry: trace.TraceRecord, kret_event: str) -> trace.TraceRecord | None:
    """The first kretprobe record of the same task after an entry record."""
    after = dump.records[dump.records.index(entry) + 1:]
    return next((r for r in after if r.event == kret_event and r.pid == entry.pid), None)


def _value_checks(obs: Observations, spec: ProbeSpec, dump: trace.TraceDump, bits: int) -> list[Check]:
    t = obs.targets
    kprobes = dump.by_event(spec.kprobe_event)
    named = {path: [r for r in kprobes if r.field("filename") == f'"{path}"'] for path in (t.existing, t.missing, t.created)}
    read = [r for r in named[t.existing] if r.comm == OPENER]
    seen = sorted({r.field("filename") or "" for r in kprobes if r.comm == OPENER})[:4]
    checks = [_check(
        "filename_arg", len(read) == OPENS and bool(named[t.missing]) and bool(named[t.created]),
        f"filename recorded as the opened path: {len(read)}x {t.existing}, {t.missing}, {t.created}",
        f"expected {OPENS} records of {t.existing} from '{OPENER}' and one each of {t.missing} and "
        f"{t.created}; got {len(read)}, {len(named[t.missing])}, {len(named[t.created])}; "
        f"'{OPENER}' records show filename {', '.join(seen) or 'nothing'}",
    )]

    problems = []
    for path, records, want_write in ((t.existing, read, False), (t.missing, named[t.missing], False),
                                      (t.created, named[t.created], True)):
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
    if not (read or named[t.created]):
        problems.append("no records of the target files to check")
    checks.append(_check("register_args", not problems,
                         "dfd=AT_FDCWD, O_RDONLY for reads, O_WRONLY|O_CREAT|O_TRUNC and mode 0666 for the write",
                         "; ".join(dict.fromkeys(problems))))

    problems = []
    for path, records, expect in ((t.existing, read, "fd"), (t.created, named[t.created], "fd"),
                                  (t.missing, named[t.missing], -ENOENT)):
        for r in records:
            ret = _return_of(dump, r, spec.kretprobe_event)
            value = signed(ret.field("arg1"), bits) if ret else None
            if ret is None:
                problems.append(f"{path}: no {spec.kretprobe_event} record from pid {r.pid} after its open")
            elif expect == "fd" and (value is None or not 0 <= value < 1024):
                problems.append(f"{path}: returned {ret.field('arg1')}, expected a file descriptor")
            elif expect != "fd" and value != expect:
                problems.append(f"{path}: returned {ret.field('arg1')}, expected {expect} (-ENOENT)")
    if not (read or named[t.missing]):
        problems.append("no records of the target files to check")
    checks.append(_check("retval", not problems,
                         "$retval is a file descriptor for the opened files and -ENOENT for the missing one",
                         "; ".join(dict.fromkeys(problems))))
    return checks


def verify(obs: Observations, spec: ProbeSpec, word_bits: int = 64, console: str = "") -> list[Check]:
    """All checks of one guest session, in the order they happen."""
    checks: list[Check] = []
    value_names = VALUE_CHECKS if checks_values(spec) else ()
    if obs.insmod is None or not obs.insmod.ok:
        detail = obs.insmod.output.strip() if obs.insmod else "insmod did not run"
        if obs.insmod_error_log.strip():
            detail += f"\ntracing error_log:\n{obs.insmod_error_log.strip()}"
        if obs.insmod_dmesg.strip():
            detail += f"\nkernel log during insmod:\n{obs.insmod_dmesg.strip()}"
        checks.append(Check("insmod", FAIL, detail))
        checks.extend(Check(n, NOT_RUN, "insmod failed") for n in (*CHECKS_AFTER_INSMOD, *value_names))
        checks.append(kernel_log_check(obs.dmesg, console))
        return checks
    checks.append(Check("insmod", PASS, f"insmod {obs.module_path}"))
    events = (spec.kprobe_event, spec.kretprobe_event)

    defs = trace.parse_kprobe_events(obs.kprobe_events)
    checks.append(_definition_check("kprobe_registered", defs, "p", spec.kprobe_event, spec.func, spec.kprobe_fields))
    checks.append(_definition_check("kretprobe_registered", defs, "r", spec.kretprobe_event, spec.func,
                                    spec.kretprobe_fields))
    for name, event in (("kprobe_enabled", spec.kprobe_event), ("kretprobe_enabled", spec.kretprobe_event)):
        value = obs.enable.get(event, "")
        checks.append(_check(name, value == "1", f"events/kprobes/{event}/enable reads 1",
                             f"events/kprobes/{event}/enable reads {value!r}, expected '1'"))

    failed = [r for r in obs.trigger if not r.ok]
    missing_ok = obs.missing_open is not None and obs.missing_open.status != 0
    checks.append(_check("trigger", len(obs.trigger) == OPENS + 1 and not failed and missing_ok,
                         f"{OPENER} read the target {OPENS} times, failed on the missing file, the shell wrote one",
                         "opening the target files did not go as planned: "
                         + "; ".join(f"{r.command}: status {r.status} {r.output.strip()}" for r in failed)))

    dump = trace.parse_trace(obs.trace)
    hits = profile_hits(obs.kprobe_profile)
    checks.append(_records_check("kprobe_records", dump, spec.kprobe_event, spec.func, hits))
    checks.append(_records_check("kretprobe_records", dump, spec.kretprobe_event, spec.func, hits))
    checks.append(_hit_count_check(dump, hits, events))
    if value_names:
        checks.extend(_value_checks(obs, spec, dump, word_bits))

    rmmod = obs.rmmod
    checks.append(_check("rmmod", rmmod is not None and rmmod.ok, "module unloaded",
                         f"rmmod failed: {rmmod.output.strip() if rmmod else 'did not run'}"))

    left = [d.event for d in trace.parse_kprobe_events(obs.kprobe_events_after) if d.event in events]
    dirs = [e for e, present in obs.event_dirs_after.items() if present]
    checks.append(_check("events_removed", not left and not dirs and bool(obs.event_dirs_after),
                         "both events gone from kprobe_events and events/kprobes/",
                         f"still in kprobe_events: {left or 'none'}; still in events/kprobes/: {dirs or 'none'}"))

    before = [r for r in trace.parse_trace(obs.trace_after_rmmod).records if r.event in events]
    after = [r for r in trace.parse_trace(obs.trace_after_reopen).records if r.event in events]
    checks.append(_check("no_records_after_rmmod", len(after) == len(before),
                         f"{OPENS} opens after rmmod added no records",
                         f"{len(after) - len(before)} new records after rmmod: the probes still fire"))

    reload_failed = [f"{r.command}: {r.output.strip() or 'status ' + str(r.status)}" for r in obs.reload if not r.ok]
    left = [d.event for d in trace.parse_kprobe_events(obs.kprobe_events_after_reload) if d.event in events]
    checks.append(_check("reload", len(obs.reload) == 2 and not reload_failed and not left,
                         "a second insmod and rmmod worked and left no events",
                         "; ".join(reload_failed) + (f" events left after reload: {left}" if left else "")))
    checks.append(kernel_log_check(obs.dmesg, console))
    return checks
