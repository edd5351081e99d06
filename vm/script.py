"""The guest session as one shell script, and the session read back from any log of it.

`vm/guest.py` defines the session once, against a shell. Run against a shell that writes commands
down instead of running them, it yields a script (for a LAVA job, or any runner that can start a
script in the guest); run against a shell that answers from a log of that script, it yields the
same Observations as a live console session. Every command is framed exactly as the live console
frames it, so one parser reads both."""

from __future__ import annotations

import re
import secrets

from harness.errors import StageError
from harness.spec.render import ProbeSpec
from harness.verdict.observations import MODULE_ONLY, CommandResult, Observations, SuitePlan, Targets
from vm import guest
from vm.console import TAG, ReplayShell, Stage, answers_in, clean

SCRIPT_PATH = "/kh/session.sh"  # where the initramfs carries the script
TARGETS_LINE = "KH-TARGETS"  # the script prints its targets' token, so a log alone can be read back


Command = tuple[str, str, bool]  # stage, command, whether the command may fail by design


class _Writer:
    """A shell that writes each command down with its stage and answers as told."""

    def __init__(self, failing: str = "") -> None:
        self.commands: list[Command] = []
        self.failing = failing  # a command prefix to answer with status 1

    def run(self, command: str, stage: Stage, may_fail: bool = False) -> CommandResult:
        self.commands.append((stage.name, command, may_fail))
        return CommandResult(command, "", 1 if self.failing and command.startswith(self.failing) else 0)

    def transcript(self) -> str:
        return ""


def _stage(name: str) -> Stage:
    return Stage(name, 1.0)


def _split(ok: list[Command], failed: list[Command]) -> tuple[int, int]:
    """Where the two recordings part: the index of insmod (the last shared command)."""
    n = 0
    while n < min(len(ok), len(failed)) and ok[n] == failed[n]:
        n += 1
    return n - 1, n


HEAD = (
    "#!/bin/sh",
    "# kprobe-harness guest session, written by the harness: every command is framed as on the",
    "# live console, so the harness reads its checks from the output; the verdict is not made here.",
    "# Each stage is reported once to LAVA, at its end: fail when one of its commands that must",
    "# succeed did not, skip when an earlier stage stopped the session.",
    'kh_case() { if command -v lava-test-case >/dev/null 2>&1; then lava-test-case "kh-$1" --result "$2"; fi; }',
    'kh_end() { if [ "$KH_FAILED" = 0 ]; then kh_case "$1" pass; else kh_case "$1" fail; fi; }',
)


def session_script(spec: ProbeSpec, module_path: str, targets: Targets, token: str | None = None,
                   plan: SuitePlan = MODULE_ONLY) -> str:
    """The whole guest session as a POSIX sh script (busybox ash runs it). Frames are numbered in the
    order the session asks, on either path, so a reader can tell a lost frame from the next answer."""
    token = token or secrets.token_hex(4)
    ok, failed = _Writer(), _Writer(failing="insmod ")
    guest.run_session(ok, spec, module_path, _stage, targets, plan)
    guest.run_session(failed, spec, module_path, _stage, targets, plan)
    insmod, first_diff = _split(ok.commands, failed.commands)

    def frame(number: int, command: str, may_fail: bool, status: str = "KH_S") -> str:
        tag = TAG.format(token=token, counter=number)
        judge = "" if may_fail else f'[ "${status}" = 0 ] || KH_FAILED=1; '
        return f"echo {tag}B; {command}; {status}=$?; {judge}echo {tag}E=${status}"

    def block(commands: list[Command], start: int, indent: str = "", under_way: str = "",
              close: bool = True) -> list[str]:
        lines, current = [], under_way
        for offset, (stage, command, may_fail) in enumerate(commands):
            if stage != current:
                lines += [f"{indent}kh_end {current}"] if current else []
                lines.append(f"{indent}KH_FAILED=0")
                current = stage
            lines.append(indent + frame(start + offset, command, may_fail))
        return lines + ([f"{indent}kh_end {current}"] if close and current else [])

    stage, command, _ = ok.commands[insmod]
    later = list(dict.fromkeys(s for s, _, _ in ok.commands[first_diff:] if s != stage))
    lines = [
        *HEAD,
        f"echo {TARGETS_LINE} {targets.existing.rsplit('-', 1)[-1]}",
        *block(ok.commands[:insmod], 1, close=False),
        frame(insmod + 1, command, False, "KH_STATUS"),
        'if [ "$KH_STATUS" != 0 ]; then',
        *block(failed.commands[first_diff:], insmod + 2, "  ", stage),
        *(f"  kh_case {s} skip" for s in later),
        "else",
        *block(ok.commands[first_diff:], insmod + 2, "  ", stage),
        "fi",
        "echo KH-SESSION-END",
    ]
    return "\n".join(lines) + "\n"


def targets_in(log_text: str) -> Targets | None:
    m = re.search(rf"^{TARGETS_LINE} ([0-9a-f]+)\s*$", clean(log_text), re.MULTILINE)
    return Targets.new(m.group(1)) if m else None


def observations_from_log(log_text: str, spec: ProbeSpec, module_path: str,
                          targets: Targets | None = None, plan: SuitePlan = MODULE_ONLY) -> Observations:
    """What the guest showed, read back from the log of a script run (StageError when it is cut)."""
    targets = targets or targets_in(log_text)
    if targets is None:
        raise StageError("prepare", f"the log has no '{TARGETS_LINE}' line: the session script never started",
                         "\n".join(clean(log_text).splitlines()[-20:]))
    tail = "\n".join(clean(log_text).splitlines()[-30:])
    return guest.run_session(ReplayShell(answers_in(log_text), tail), spec, module_path, _stage, targets, plan)
