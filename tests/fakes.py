"""Fake consoles for testing the guest session without QEMU."""

from __future__ import annotations

import re
from collections.abc import Callable

from vm.console import CommandResult, Stage, clean

Answer = tuple[str, int]


def recorded_answers(console_log: str) -> list[Answer]:
    """The (output, status) of each marker-framed command in a recorded console log, in order."""
    text = clean(console_log)
    pattern = re.compile(r"(KH[0-9a-f]+x(\d+))B\n(.*?)\1E=(\d+)\n", re.DOTALL)
    return [(m.group(3), int(m.group(4))) for m in pattern.finditer(text)]


class ReplayShell:
    """Answers commands with the outputs recorded from a real guest, in order."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = list(answers)
        self.commands: list[str] = []

    def run(self, command: str, stage: Stage) -> CommandResult:
        self.commands.append(command)
        if not self.answers:
            raise AssertionError(f"the session sent more commands than were recorded: {command}")
        output, status = self.answers.pop(0)
        return CommandResult(command, output, status)

    def transcript(self) -> str:
        return ""


Rule = tuple[str, Callable[[str], Answer]]


class RuleShell:
    """Answers commands by the first rule whose regex matches; unknown commands succeed silently."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.commands: list[str] = []

    def run(self, command: str, stage: Stage) -> CommandResult:
        self.commands.append(command)
        for pattern, answer in self.rules:
            if re.search(pattern, command):
                output, status = answer(command)
                return CommandResult(command, output, status)
        return CommandResult(command, "", 0)

    def transcript(self) -> str:
        return ""
