"""The session inside the guest: load the module, trigger the probe, read tracefs, unload."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.render import ProbeSpec
from vm.console import CommandResult, Shell, Stage

TRACEFS = "/sys/kernel/tracing"
TARGET_FILE = "/tmp/kh-target"
OPENER = "cat"  # comm of the process whose opens must be recorded
OPENS = 3

# Seconds allowed for each guest stage (boot is handled where QEMU starts).
STAGE_SECONDS = {"prepare": 30.0, "insmod": 60.0, "trigger": 60.0, "trace": 60.0, "rmmod": 60.0}


@dataclass
class Observations:
    """Everything the guest showed, raw; verify.py turns it into checks."""

    module_path: str
    insmod: CommandResult | None = None
    insmod_dmesg: str = ""
    insmod_error_log: str = ""
    kprobe_events: str = ""
    enable: dict[str, str] = field(default_factory=dict)
    trigger: list[CommandResult] = field(default_factory=list)
    trace: str = ""
    kprobe_profile: str = ""
    rmmod: CommandResult | None = None
    kprobe_events_after: str = ""
    event_dirs_after: dict[str, bool] = field(default_factory=dict)
    trace_after_rmmod: str = ""
    trace_after_reopen: str = ""
    dmesg: str = ""
    stage_seconds: dict[str, float] = field(default_factory=dict)


StageFactory = Callable[[str], Stage]


def default_stage(name: str) -> Stage:
    return Stage(name, STAGE_SECONDS[name])


def open_target(shell: Shell, stage: Stage) -> list[CommandResult]:
    """Open the target file OPENS times with the opener (each `cat` is one do_sys_open path)."""
    return [shell.run(f"{OPENER} {TARGET_FILE} >/dev/null", stage) for _ in range(OPENS)]


def run_session(shell: Shell, spec: ProbeSpec, module_path: str, stage: StageFactory = default_stage) -> Observations:
    """Walk insmod -> trigger -> read trace -> rmmod -> reopen, recording what the guest shows."""
    obs = Observations(module_path=module_path)
    events = (spec.kprobe_event, spec.kretprobe_event)

    s = stage("prepare")
    shell.run("stty -echo 2>/dev/null; dmesg -n 1", s)
    shell.run(f"echo kprobe-harness > {TARGET_FILE}; echo 0 > {TRACEFS}/tracing_on; "
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
    obs.trigger = open_target(shell, s)
    obs.stage_seconds["trigger"] = s.elapsed()

    s = stage("trace")
    obs.trace = shell.run(f"cat {TRACEFS}/trace", s).output
    obs.kprobe_profile = shell.run(f"cat {TRACEFS}/kprobe_profile", s).output
    obs.stage_seconds["trace"] = s.elapsed()

    s = stage("rmmod")
    obs.rmmod = shell.run(f"rmmod {spec_module_name(module_path)}", s)
    obs.kprobe_events_after = shell.run(f"cat {TRACEFS}/kprobe_events", s).output
    for event in events:
        answer = shell.run(f"test -d {TRACEFS}/events/kprobes/{event} && echo present || echo absent", s)
        obs.event_dirs_after[event] = answer.output.strip() == "present"
    obs.trace_after_rmmod = shell.run(f"cat {TRACEFS}/trace", s).output
    open_target(shell, s)
    obs.trace_after_reopen = shell.run(f"cat {TRACEFS}/trace", s).output
    obs.dmesg = shell.run("dmesg", s).output
    obs.stage_seconds["rmmod"] = s.elapsed()
    return obs


def spec_module_name(module_path: str) -> str:
    name = module_path.rsplit("/", 1)[-1]
    return name.removesuffix(".ko")
