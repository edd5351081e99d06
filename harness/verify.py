"""Turn what the guest showed into named checks and a verdict (pure: no processes, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from harness import trace
from harness.render import ProbeSpec
from vm.guest import OPENER, OPENS, Observations

PASS, FAIL, NOT_RUN = "pass", "fail", "not run"


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


def _location_matches(location: str, func: str) -> bool:
    return location == func or location == f"{func}+0" or (
        "+" not in func and location.split("+", 1)[0] == func and location.endswith("+0")
    )


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
        return Check(name, PASS, f"{len(mine)} records from '{OPENER}' ({len(records)} in all), e.g. ({sample.location}) {fields}")
    hit, miss = hits.get(event, (0, 0))
    if hit == 0:
        why = (f"the probe was never hit: {func} may be inlined into its callers or not on the "
               f"open path of this kernel; choose another function with --func")
    else:
        why = (f"kprobe_profile counts {hit} hits and {miss} misses, so the probe fires but the "
               "records are not written to the ring buffer")
    return Check(name, FAIL, f"{len(mine)} records from '{OPENER}' after {OPENS} opens "
                             f"({len(records)} {event} records in all); {why}")


def verify(obs: Observations, spec: ProbeSpec) -> list[Check]:
    """All checks of one guest session, in the order they happen."""
    checks: list[Check] = []
    names = ["kprobe_registered", "kretprobe_registered", "kprobe_enabled", "kretprobe_enabled",
             "trigger", "kprobe_records", "kretprobe_records", "rmmod", "events_removed",
             "no_records_after_rmmod"]
    if obs.insmod is None or not obs.insmod.ok:
        out = obs.insmod.output.strip() if obs.insmod else "insmod did not run"
        detail = out
        if obs.insmod_error_log.strip():
            detail += f"\ntracing error_log:\n{obs.insmod_error_log.strip()}"
        if obs.insmod_dmesg.strip():
            detail += f"\nkernel log during insmod:\n{obs.insmod_dmesg.strip()}"
        checks.append(Check("insmod", FAIL, detail))
        checks.extend(Check(n, NOT_RUN, "insmod failed") for n in names)
        return checks
    checks.append(Check("insmod", PASS, f"insmod {obs.module_path}"))

    defs = trace.parse_kprobe_events(obs.kprobe_events)
    checks.append(_definition_check("kprobe_registered", defs, "p", spec.kprobe_event, spec.func, spec.kprobe_fields))
    checks.append(_definition_check("kretprobe_registered", defs, "r", spec.kretprobe_event, spec.func, spec.kretprobe_fields))
    for name, event in (("kprobe_enabled", spec.kprobe_event), ("kretprobe_enabled", spec.kretprobe_event)):
        value = obs.enable.get(event, "")
        checks.append(_check(name, value == "1", f"events/kprobes/{event}/enable reads 1",
                             f"events/kprobes/{event}/enable reads {value!r}, expected '1'"))

    failed = [r for r in obs.trigger if not r.ok]
    checks.append(_check("trigger", len(obs.trigger) == OPENS and not failed,
                         f"{OPENER} opened the target file {OPENS} times",
                         "opening the target file failed: " + "; ".join(f"{r.command}: {r.output.strip()}" for r in failed)))

    dump = trace.parse_trace(obs.trace)
    hits = profile_hits(obs.kprobe_profile)
    checks.append(_records_check("kprobe_records", dump, spec.kprobe_event, spec.func, hits))
    checks.append(_records_check("kretprobe_records", dump, spec.kretprobe_event, spec.func, hits))

    rmmod = obs.rmmod
    checks.append(_check("rmmod", rmmod is not None and rmmod.ok, "module unloaded",
                         f"rmmod failed: {rmmod.output.strip() if rmmod else 'did not run'}"))

    left = [d.event for d in trace.parse_kprobe_events(obs.kprobe_events_after)
            if d.event in (spec.kprobe_event, spec.kretprobe_event)]
    dirs = [e for e, present in obs.event_dirs_after.items() if present]
    checks.append(_check("events_removed", not left and not dirs and bool(obs.event_dirs_after),
                         "both events gone from kprobe_events and events/kprobes/",
                         f"still in kprobe_events: {left or 'none'}; still in events/kprobes/: {dirs or 'none'}"))

    events = (spec.kprobe_event, spec.kretprobe_event)
    before = [r for r in trace.parse_trace(obs.trace_after_rmmod).records if r.event in events]
    after = [r for r in trace.parse_trace(obs.trace_after_reopen).records if r.event in events]
    checks.append(_check("no_records_after_rmmod", len(after) == len(before),
                         f"{OPENS} opens after rmmod added no records",
                         f"{len(after) - len(before)} new records after rmmod: the probes still fire"))
    return checks
