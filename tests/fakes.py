"""A fake console for testing the guest session without QEMU (a recorded session replays through
vm.console.ReplayShell)."""

from __future__ import annotations

import re
from collections.abc import Callable

from vm.console import CommandResult, Stage

Reply = tuple[str, int]  # output and exit status

Rule = tuple[str, Callable[[str], Reply]]


class RuleShell:
    """Answers commands by the first rule whose regex matches; a command no rule answers is an error,
    so a test never passes on answers nobody chose."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.commands: list[str] = []

    def run(self, command: str, stage: Stage, may_fail: bool = False) -> CommandResult:
        self.commands.append(command)
        for pattern, answer in self.rules:
            if re.search(pattern, command):
                output, status = answer(command)
                return CommandResult(command, output, status)
        raise AssertionError(f"no rule answers the guest command {command!r}")

    def transcript(self) -> str:
        return ""
