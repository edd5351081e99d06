"""The runs a person watches or drives: the upstream module's manual procedure (inv load) and the
guest's shell (inv boot)."""

from __future__ import annotations

import sys

from harness.errors import UserError
from harness.host.proc import Echo
from harness.runs.build_and_boot import booted, build_everything
from harness.runs.check import finish, start_run
from harness.runs.options import CheckOptions
from harness.verdict.observations import Targets
from vm import guest
from vm.console import Stage


def run_load(opts: CheckOptions, echo: Echo = print) -> int:
    """The upstream module's manual procedure, shown as the guest shows it; 0 when every step worked."""
    ctx = start_run(opts, echo)
    try:
        built = build_everything(opts, ctx.spec, ctx.build, ctx.run_dir, ctx.commands, ctx.stages, plan=ctx.plan)
        target = Targets.new().existing
        steps = [("insmod", f"insmod {built.module_path}"),
                 ("trigger", f"cat {target}; cat {target}"),
                 ("trace", f"cat {guest.TRACEFS}/trace"),
                 ("rmmod", f"rmmod {guest.module_name(built.module_path)}")]
        failed = 0
        with booted(opts.arch, built, ctx.run_dir, ctx.commands, ctx.stages) as console:
            console.run(f"stty -echo 2>/dev/null; dmesg -n 1; echo hello > {target}", Stage("prepare", 30))
            for stage, command in steps:
                answer = console.run(command, Stage(stage, guest.STAGE_SECONDS[stage]))
                echo(f"guest# {command}")
                if answer.output.strip():
                    echo(answer.output.rstrip())
                if not answer.ok:
                    echo(f"(exit status {answer.status})")
                    failed += 1
            echo("guest# dmesg | tail -n 5")
            echo(console.run("dmesg | tail -n 5", Stage("rmmod", 30)).output.rstrip())
        echo(f"console log: {ctx.run_dir / 'console.log'}")
        return 1 if failed else 0
    finally:
        finish(ctx)


ESCAPE = "\x1d"  # Ctrl-]


def run_boot(opts: CheckOptions, load: bool = True, echo: Echo = print) -> int:
    """Build as check does, boot, load the module (unless load is False), then hand the guest's shell
    to the user until they leave with Ctrl-] or the guest exits; QEMU is stopped either way."""
    if not sys.stdin.isatty():
        raise UserError("boot hands the guest's console to you: run it in a terminal")
    ctx = start_run(opts, echo)
    try:
        # the suite's cases go into the guest too (under the plan's folder), to run by hand
        built = build_everything(opts, ctx.spec, ctx.build, ctx.run_dir, ctx.commands, ctx.stages,
                                 full_busybox=True, plan=ctx.plan)
        with booted(opts.arch, built, ctx.run_dir, ctx.commands, ctx.stages) as console:
            if load:
                answer = console.run(f"insmod {built.module_path}", Stage("insmod", guest.STAGE_SECONDS["insmod"]))
                echo(f"guest# insmod {built.module_path}" + ("" if answer.ok else f": {answer.output.strip()}"))
                events = console.run(f"cat {guest.TRACEFS}/kprobe_events", Stage("insmod", 30))
                echo(f"guest# cat {guest.TRACEFS}/kprobe_events\n{events.output.rstrip()}")
            if ctx.plan.ftrace_cases:
                echo(f"the tree's ftrace cases are in {ctx.plan.ftrace_dir}: cd there and run "
                     "./ftracetest -k test.d/<case>")
            echo("The guest's shell is yours. Ctrl-] leaves and stops QEMU (so does 'reboot -f' in the guest); "
                 f"console log: {ctx.run_dir / 'console.log'}")
            console.interact(ESCAPE)
        return 0
    finally:
        finish(ctx)
