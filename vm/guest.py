"""The session inside the guest: load the module, trigger the probe, read tracefs, unload, reload."""

from __future__ import annotations

from collections.abc import Callable

from harness.errors import StageError
from harness.spec import grammar, sanitizers
from harness.spec.render import ProbeSpec, grammar_of
from harness.verdict.observations import (
    MISSING,
    MODULE_ONLY,
    OPENER,
    OPENS,
    PROFILE_SPLIT,
    READ,
    REFUSAL_LINE,
    SUITES_START,
    TARGET_TEXT,
    WRITE,
    CommandResult,
    Observations,
    SuitePlan,
    Targets,
    Trigger,
)
from vm.console import Shell, Stage

__all__ = ["OPENER", "OPENS", "TRACEFS", "Observations", "Targets", "module_name", "run_session"]

TRACEFS = "/sys/kernel/tracing"
KPROBES_LIST = "/sys/kernel/debug/kprobes/list"
TAINTED = "/proc/sys/kernel/tainted"

GRAMMAR = f"/sys/kernel/debug/{grammar.DEBUGFS_DIR}"

# Seconds allowed for each guest stage (boot is handled where QEMU starts).
STAGE_SECONDS = {"prepare": 30.0, "insmod": 60.0, "trigger": 60.0, "trace": 60.0, "grammar": 90.0, "rmmod": 60.0,
                 "reload": 60.0, "ftrace": 240.0, "kmemleak": 180.0}  # ftrace: each case

StageFactory = Callable[[str], Stage]


def default_stage(name: str) -> Stage:
    return Stage(name, STAGE_SECONDS[name])


def module_name(module_path: str) -> str:
    return module_path.rsplit("/", 1)[-1].removesuffix(".ko")


def trigger_command(kind: str, path: str) -> str:
    """A child shell prints its PID, then becomes the program that opens path: with the same PID,
    and no other open in between (the output comes to the console, so no redirection is opened)."""
    if kind == WRITE:
        return f"sh -c 'echo $$; exec echo {TARGET_TEXT} >{path}'"
    return f"sh -c 'echo $$; exec {OPENER} {path}'"


def trigger(shell: Shell, targets: Targets, stage: Stage) -> list[Trigger]:
    """Read the existing target OPENS times, try the missing one, and write the new one."""
    plan = [(READ, targets.existing)] * OPENS + [(MISSING, targets.missing), (WRITE, targets.created)]
    return [Trigger(kind, path, shell.run(trigger_command(kind, path), stage, may_fail=kind == MISSING))
            for kind, path in plan]


def _cat(shell: Shell, path: str, stage: Stage) -> CommandResult:
    return shell.run(f"cat {path}", stage)


def kmsg_mark(mark: str) -> str:
    """A command that writes mark into the kernel log (dmesg shows it whatever the console level)."""
    return f"echo {mark} > /dev/kmsg"


def since_mark(mark: str) -> str:
    """The kernel log from mark on: read live, so nothing depends on what an earlier command printed
    (the same command works on the console and in a LAVA job's script)."""
    return f"dmesg | sed -n '/{mark}$/,$p'"


def _insmod(shell: Shell, obs: Observations, events: tuple[str, ...], s: Stage) -> bool:
    """Load the module and read its events; False when insmod failed."""
    mark = f"kh-insmod-{obs.token}"
    shell.run(kmsg_mark(mark), s)
    obs.insmod = shell.run(f"insmod {obs.module_path}", s)
    if not obs.insmod.ok:
        obs.insmod_dmesg = shell.run(since_mark(mark), s).output
        obs.insmod_error_log = _cat(shell, f"{TRACEFS}/error_log", s).output
        obs.dmesg = shell.run("dmesg", s)
        return False
    obs.kprobe_events = _cat(shell, f"{TRACEFS}/kprobe_events", s)
    obs.kprobes_list = _cat(shell, KPROBES_LIST, s)
    for event in events:
        obs.enable[event] = _cat(shell, f"{TRACEFS}/events/kprobes/{event}/enable", s)
    return True


def _read_trace(shell: Shell, obs: Observations, s: Stage) -> None:
    # Stop recording and take two profile snapshots in one command line (the shell opens files of
    # its own between lines): the hits between them bound the hits taken while tracing was off. Each
    # part must work: the status is the first that failed.
    obs.kprobe_profile = shell.run(f"echo 0 > {TRACEFS}/tracing_on && cat {TRACEFS}/kprobe_profile && "
                                   f"echo {PROFILE_SPLIT} && cat {TRACEFS}/kprobe_profile", s)
    obs.ring_stats = shell.run(f"cat {TRACEFS}/per_cpu/cpu*/stats", s)
    obs.trace = _cat(shell, f"{TRACEFS}/trace", s)
    shell.run(f"echo 1 > {TRACEFS}/tracing_on", s)


def read_stopped(path: str) -> str:
    """Read path with tracing off, then switch tracing back on: the status says whether every part
    worked (the read, and both switches), not only the last."""
    on = f"echo 1 > {TRACEFS}/tracing_on"
    return f"echo 0 > {TRACEFS}/tracing_on && cat {path} && {on} || {{ {on}; false; }}"


def _grammar(shell: Shell, obs: Observations, spec: ProbeSpec, target: grammar.Grammar, s: Stage) -> None:
    """Read what the kernel offers, have the module build its events and the malformed definitions,
    make its calls with tracing on, and read what was recorded."""
    log = f"{TRACEFS}/error_log"
    obs.readme = _cat(shell, f"{TRACEFS}/README", s)
    obs.tracefs_files = shell.run(f"echo {TRACEFS}/*", s)
    # The events are switched on from kernel code, which leaves the ring buffer at its boot size of a
    # few pages. Writing an event's enable file grows it to its configured size, as a tracefs user's
    # first event does (6.1 loses the first records written after a resize through buffer_size_kb);
    # sub-buffers grow to hold a string at the fetch limit, where tracefs has them.
    subbuf = f"{TRACEFS}/{grammar.SUBBUF_FILE}"
    shell.run(f"echo 0 > {TRACEFS}/tracing_on; echo 1 > {TRACEFS}/events/kprobes/{spec.kprobe_event}/enable; "
              f"if [ -e {subbuf} ]; then echo {grammar.SUBBUF_KB} > {subbuf}; fi; "
              f"echo > {TRACEFS}/trace; echo 1 > {TRACEFS}/tracing_on", s)
    obs.grammar_built = shell.run(f"echo > {log}; echo 1 > {GRAMMAR}/create; cat {log}", s)
    obs.grammar_call = shell.run(f"sh -c 'echo $$; exec {grammar.CALLER} go > {GRAMMAR}/call'", s)
    obs.grammar_trace = shell.run(read_stopped(f"{TRACEFS}/trace"), s)
    # The malformed definitions come after the calls: refused between the builds and the first
    # records, they leave 6.1 to oops in tracefs when rmmod deletes the events (2 runs in 3; 0 in 8
    # in this order)
    cases = " ".join(r.case for r in target.refusals)
    obs.refusals = shell.run(f"for c in {cases}; do echo {REFUSAL_LINE} $c; echo > {log}; "
                             f"echo $c > {GRAMMAR}/refuse; cat {log}; done", s)
    obs.grammar_events = _cat(shell, f"{TRACEFS}/kprobe_events", s)
    obs.grammar_status = _cat(shell, f"{GRAMMAR}/status", s)


def _after_rmmod(shell: Shell, obs: Observations, events: tuple[str, ...], s: Stage) -> None:
    obs.rmmod = shell.run(f"rmmod {module_name(obs.module_path)}", s)
    obs.kprobe_events_after = _cat(shell, f"{TRACEFS}/kprobe_events", s)
    obs.kprobes_list_after = _cat(shell, KPROBES_LIST, s)
    for event in events:
        obs.event_dirs_after[event] = shell.run(f"test -d {TRACEFS}/events/kprobes/{event}", s, may_fail=True)
    obs.tracing_on_after = _cat(shell, f"{TRACEFS}/tracing_on", s)
    shell.run(f"echo {obs.marker} > {TRACEFS}/trace_marker", s)
    obs.reopen = [shell.run(f"{OPENER} {obs.targets.existing} >/dev/null", s) for _ in range(OPENS)]
    obs.trace_after_reopen = _cat(shell, f"{TRACEFS}/trace", s)


FTRACE_LOG = "/tmp/kh-ftrace"
FTRACE_OUT = "/tmp/kh-ftrace.out"
FTRACE_NOT_PASSED = r"\[(FAIL|UNRESOLVED|UNTESTED|UNSUPPORTED|UNDEFINED)\]"
FTRACE_LOG_LINES = 12


KERNEL_LOG_SPLIT = "KH-KERNEL-LOG"  # between a case's output and the kernel log it made


def ftrace_command(directory: str, case: str, mark: str) -> str:
    """One case through the tree's own framework, after mark in the kernel log, its log kept; its
    result lines, and for a case that did not pass the end of its log (why it was unsupported, or the
    shell's trace of what failed); then a split line and the kernel log from mark on (every message
    the case made, whatever the console log level). The status is the framework's."""
    split = f"{KERNEL_LOG_SPLIT[:3]}''{KERNEL_LOG_SPLIT[3:]}"
    return (f"{kmsg_mark(mark)}; cd {directory} && ./ftracetest -k -l {FTRACE_LOG} test.d/{case} > {FTRACE_OUT} 2>&1; "
            f"s=$?; cat {FTRACE_OUT}; if grep -q -E '{FTRACE_NOT_PASSED}' {FTRACE_OUT}; then "
            f"tail -q -n {FTRACE_LOG_LINES} {FTRACE_LOG}/*-log.*; fi; "
            f"rm -rf {FTRACE_LOG} {FTRACE_OUT}; cd /; echo {split}; {since_mark(mark)}; [ $s = 0 ]")


def _ftrace(shell: Shell, obs: Observations, plan: SuitePlan, stage: StageFactory, s: Stage) -> None:
    """After a marker on the console (in stage s), each case in its own command with its own deadline,
    a marker in the kernel log before it and the kernel log from there read after it, so every
    message is the case's that ran; one that never finishes stops the rest (the console is no longer
    at a prompt), and says so."""
    marker = f"{SUITES_START[:3]}''{SUITES_START[3:]}"  # split, so an echoed command line never matches
    shell.run(f"echo {marker}", s)
    for i, case in enumerate(plan.ftrace_cases):
        mark = f"kh-case-{i}-{obs.token}"
        try:
            done = shell.run(ftrace_command(plan.ftrace_dir, case, mark), stage("ftrace"), may_fail=True)
        except StageError as e:
            obs.ftrace_stopped = f"{case}: {e.reason}"
            return
        output, _, log = done.output.partition(f"{KERNEL_LOG_SPLIT}\n")
        obs.ftrace_cases.append((case, CommandResult(done.command, output, done.status)))
        obs.ftrace_logs.append((case, CommandResult(since_mark(mark), log, 0 if log else 1)))


def kmemleak_command() -> str:
    """Wait until what the session allocated is old enough to be reported, scan twice (an object is
    reported once two scans found it unreferenced), print the report."""
    f = sanitizers.KMEMLEAK_FILE
    wait = f"sleep {sanitizers.KMEMLEAK_AGE_S}"
    return f"{wait}; echo scan > {f} && echo scan > {f} && cat {f}"


def run_session(shell: Shell, spec: ProbeSpec, module_path: str, stage: StageFactory = default_stage,
                targets: Targets | None = None, plan: SuitePlan = MODULE_ONLY) -> Observations:
    """insmod -> trigger -> read profile, ring buffer and trace -> grammar target -> rmmod -> reopen
    -> reload, then the plan's ftrace cases. A StageError carries what the guest showed before it
    (error.observations)."""
    targets = targets or Targets.new()
    token = targets.existing.rsplit('-', 1)[-1]  # unique per run, as the targets are
    obs = Observations(module_path=module_path, targets=targets, marker=f"kh-after-rmmod-{token}", token=token)
    leaks = "kmemleak" in plan.sanitizers
    try:
        if leaks:  # what boot left unreferenced is not the session's
            obs.kmemleak_clear = shell.run(f"echo clear > {sanitizers.KMEMLEAK_FILE}", stage("prepare"), may_fail=True)
        _session(shell, spec, module_path, stage, targets, obs)
        if leaks and obs.reload:
            s = stage("kmemleak")
            obs.kmemleak = shell.run(kmemleak_command(), s)
            obs.stage_seconds["kmemleak"] = s.elapsed()
    except StageError as e:
        e.observations = obs
        raise
    if plan.ftrace_cases:
        s = stage("ftrace")
        _ftrace(shell, obs, plan, stage, s)
        obs.stage_seconds["ftrace"] = s.elapsed()
    return obs


def _session(shell: Shell, spec: ProbeSpec, module_path: str, stage: StageFactory, targets: Targets,
             obs: Observations) -> None:
    events: tuple[str, ...] = (spec.kprobe_event, spec.kretprobe_event)

    s = stage("prepare")
    shell.run("stty -echo 2>/dev/null; dmesg -n 1", s)
    shell.run(f"echo {TARGET_TEXT} > {targets.existing}; echo 0 > {TRACEFS}/tracing_on; "
              f"echo > {TRACEFS}/trace; echo 1 > {TRACEFS}/tracing_on", s)
    obs.stage_seconds["prepare"] = s.elapsed()

    s = stage("insmod")
    loaded = _insmod(shell, obs, events, s)
    obs.stage_seconds["insmod"] = s.elapsed()
    if not loaded:
        return

    s = stage("trigger")
    obs.triggers = trigger(shell, targets, s)
    obs.stage_seconds["trigger"] = s.elapsed()

    s = stage("trace")
    _read_trace(shell, obs, s)
    obs.stage_seconds["trace"] = s.elapsed()

    target = grammar_of(spec)
    if target:
        s = stage("grammar")
        _grammar(shell, obs, spec, target, s)
        obs.stage_seconds["grammar"] = s.elapsed()

    s = stage("rmmod")
    _after_rmmod(shell, obs, events, s)
    obs.stage_seconds["rmmod"] = s.elapsed()

    s = stage("reload")
    obs.reload = [shell.run(f"insmod {module_path}", s), shell.run(f"rmmod {module_name(module_path)}", s)]
    obs.kprobe_events_after_reload = _cat(shell, f"{TRACEFS}/kprobe_events", s)
    obs.dmesg = shell.run("dmesg", s)
    obs.tainted = _cat(shell, TAINTED, s)
    obs.stage_seconds["reload"] = s.elapsed()
