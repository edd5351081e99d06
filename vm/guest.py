"""The session inside the guest: load the module, trigger the probe, read tracefs, unload, reload."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.render import ProbeSpec
from vm.console import CommandResult, Shell, Stage

TRACEFS = "/sys/kernel/tracing"
OPENER = "cat"  # comm of the process whose opens must be recorded
OPENS = 3

# Seconds allowed for each guest stage (boot is handled where QEMU starts).
STAGE_SECONDS = {"prepare": 30.0, "insmod": 60.0, "trigger": 60.0, "trace": 60.0, "rmmod": 60.0, "reload": 60.0}


@dataclass(frozen=True)
class Targets:
    """Unique paths the guest opens, so their records can be told from any other open."""

    existing: str  # created before insmod, then read by `cat` OPENS times
    missing: str  # never exists: `cat` gets -ENOENT
    created: str  # opened by the shell for writing (O_WRONLY|O_CREAT|O_TRUNC, mode 0666)

    @classmethod
    def new(cls, token: str | None = None) -> Targets:
        t = token or secrets.token_hex(4)
        return cls(f"/tmp/kh-{t}", f"/tmp/kh-missing-{t}", f"/tmp/kh-new-{t}")


@dataclass
class Observations:
    """Everything the guest showed, raw; verify.py turns it into checks."""

    module_path: str
    targets: Targets
    insmod: CommandResult | None = None
    insmod_dmesg: str = ""
    insmod_error_log: str = ""
    kprobe_events: str = ""
    enable: dict[str, str] = field(default_factory=dict)
    trigger: list[CommandResult] = field(default_factory=list)
    missing_open: CommandResult | None = None
    trace: str = ""
    kprobe_profile: str = ""
    rmmod: CommandResult | None = None
    kprobe_events_after: str = ""
    event_dirs_after: dict[str, bool] = field(default_factory=dict)
    trace_after_rmmod: str = ""
    trace_after_reopen: str = ""
    reload: list[CommandResult] = field(default_factory=list)
    kprobe_events_after_reload: str = ""
    dmesg: str = ""
    stage_seconds: dict[str, float] = field(default_factory=dict)


StageFactory = Callable[[str], Stage]


def default_stage(name: str) -> Stage:
    return Stage(name, STAGE_SECONDS[name])


def module_name(module_path: str) -> str:
    return module_path.rsplit("/", 1)[-1].removesuffix(".ko")


def open_existing(shell: Shell, targets: Targets, stage: Stage) -> list[CommandResult]:
    """`cat` the existing target OPENS times (each is one open through do_sys_open)."""
    return [shell.run(f"{OPENER} {targets.existing} >/dev/null", stage) for _ in range(OPENS)]


def run_session(shell: Shell, spec: ProbeSpec, module_path: str, stage: StageFactory = default_stage,
                targets: Targets | None = None) -> Observations:
    """insmod -> trigger -> read profile and trace -> rmmod -> reopen -> reload, recording all."""
    targets = targets or Targets.new()
    obs = Observations(module_path=module_path, targets=targets)
    events = (spec.kprobe_event, spec.kretprobe_event)

    s = stage("prepare")
    shell.run("stty -echo 2>/dev/null; dmesg -n 1", s)
    shell.run(f"echo kprobe-harness > {targets.existing}; echo 0 > {TRACEFS}/tracing_on; "
              f"echo > {TRACEFS}/trace; echo 1 > {TRACEFS}/tracing_on", s)
    obs.stage_seconds["prepare"] = s.elapsed()

    s = stage("insmod")
    dmesg_lines = shell.run("dmesg | wc -l", s).output.strip()
    obs.insmod = shell.run(f"insmod {module_path}", s)
    if not obs.insmod.ok:
        since = int(dmesg_lines) + 1 if dmesg_lines.isdigit() else 1
        obs.insmod_dmesg = shell.run(f"dmesg | tail -n +{since}", s).output
        obs.insmod_error_log = shell.run(f"cat {TRACEFS}/error_log", s).output
        obs.dmesg = shell.run("dmesg", s).output
        obs.stage_seconds["insmod"] = s.elapsed()
        return obs
    obs.kprobe_events = shell.run(f"cat {TRACEFS}/kprobe_events", s).output
    for event in events:
        obs.enable[event] = shell.run(f"cat {TRACEFS}/events/kprobes/{event}/enable", s).output.strip()
    obs.stage_seconds["insmod"] = s.elapsed()

    s = stage("trigger")
    obs.trigger = open_existing(shell, targets, s)
    obs.missing_open = shell.run(f"{OPENER} {targets.missing} 2>/dev/null", s)
    obs.trigger.append(shell.run(f"echo data > {targets.created}", s))
    obs.stage_seconds["trigger"] = s.elapsed()

    # Stop recording and read the profile in one command line (the shell opens its history file
    # per line), so the only hit not recorded before the profile is read is its own open.
    s = stage("trace")
    obs.kprobe_profile = shell.run(f"echo 0 > {TRACEFS}/tracing_on; cat {TRACEFS}/kprobe_profile", s).output
    obs.trace = shell.run(f"cat {TRACEFS}/trace", s).output
    shell.run(f"echo 1 > {TRACEFS}/tracing_on", s)
    obs.stage_seconds["trace"] = s.elapsed()

    s = stage("rmmod")
    obs.rmmod = shell.run(f"rmmod {module_name(module_path)}", s)
    obs.kprobe_events_after = shell.run(f"cat {TRACEFS}/kprobe_events", s).output
    for event in events:
        answer = shell.run(f"test -d {TRACEFS}/events/kprobes/{event} && echo present || echo absent", s)
        obs.event_dirs_after[event] = answer.output.strip() == "present"
    obs.trace_after_rmmod = shell.run(f"cat {TRACEFS}/trace", s).output
    open_existing(shell, targets, s)
    obs.trace_after_reopen = shell.run(f"cat {TRACEFS}/trace", s).output
    obs.stage_seconds["rmmod"] = s.elapsed()

    s = stage("reload")
    obs.reload = [shell.run(f"insmod {module_path}", s), shell.run(f"rmmod {module_name(module_path)}", s)]
    obs.kprobe_events_after_reload = shell.run(f"cat {TRACEFS}/kprobe_events", s).output
    obs.dmesg = shell.run("dmesg", s).output
    obs.stage_seconds["reload"] = s.elapsed()
    return obs
