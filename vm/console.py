"""Drive a guest shell over the serial console with marker-framed commands and stage deadlines."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import IO, Protocol

import pexpect

from harness.errors import StageError
from harness.verdict.observations import CommandResult

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>cM78]")


# A kernel message on the console (the guest boots with printk.time=1): it may arrive at any point,
# even inside a marker, and always ends with a newline.
KERNEL_LINE = r"(?:\[\s*\d+\.\d+\][^\n]*\n)"


Answer = tuple[str, int, int]  # a framed command's output, exit status and frame number
# The tag that frames one command, and a framed answer in a cleaned log (live console or script run)
TAG = "KH{token}x{counter}"
ANSWER = re.compile(r"(KH[0-9a-f]+x(\d+))B\n(.*?)\1E=(\d+)\n", re.DOTALL)


def answers_in(log_text: str) -> list[Answer]:
    """The (output, status, frame number) of each framed command in a log, in order."""
    return [(m.group(3), int(m.group(4)), int(m.group(2))) for m in ANSWER.finditer(clean(log_text))]


def framed(literal: str) -> str:
    """A regex for literal text that still matches when kernel messages are interleaved in it."""
    return f"{KERNEL_LINE}*".join(re.escape(ch) for ch in literal)


def clean(text: str) -> str:
    """Strip VT100 escapes and carriage returns from console text."""
    return _ANSI.sub("", text).replace("\r", "")


@dataclass
class Stage:
    """A named guest stage with one deadline shared by every wait inside it."""

    name: str
    seconds: float
    started: float = 0.0

    def __post_init__(self) -> None:
        self.started = time.monotonic()

    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.started)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


class Shell(Protocol):
    """What the guest session needs from a console (the real one or a fake)."""

    def run(self, command: str, stage: Stage, may_fail: bool = False) -> CommandResult:
        """Run command in the guest; may_fail marks a command whose failure is part of the plan."""

    def transcript(self) -> str: ...


class ReplayShell:
    """Answers the session's commands from a log of an earlier session, in order; a log that ends
    early (the guest died, the runner stopped) is a failed stage, as on a live console, and so is a
    lost frame: every answer must carry the number of the command it answers."""

    def __init__(self, answers: list[Answer], log_tail: str = "") -> None:
        self.answers = list(answers)
        self.log_tail = log_tail
        self.asked = 0

    def run(self, command: str, stage: Stage, may_fail: bool = False) -> CommandResult:
        self.asked += 1
        if not self.answers:
            raise StageError(stage.name, f"the log ends before the guest answered '{command}'", self.log_tail)
        output, status, number = self.answers[0]
        if number != self.asked:
            raise StageError(stage.name, f"the log has no answer to command {self.asked} ('{command}'): its next "
                             f"frame is number {number}, so a frame was lost or garbled", self.log_tail)
        self.answers.pop(0)
        return CommandResult(command, output, status)

    def transcript(self) -> str:
        return ""


class Transcript:
    """A file-like sink for pexpect that keeps everything in memory and tees it to a log."""

    def __init__(self, log: IO[str] | None = None, stream: IO[str] | None = None) -> None:
        self.parts: list[str] = []
        self.log = log
        self.stream = stream  # also shown live here (-v)

    def write(self, data: str | bytes) -> None:
        if isinstance(data, bytes):  # pexpect's interact logs raw bytes
            data = data.decode("utf-8", errors="replace")
        self.parts.append(data)
        if self.log:
            self.log.write(data)
        if self.stream:
            self.stream.write(clean(data))
            self.stream.flush()

    def flush(self) -> None:
        if self.log:
            self.log.flush()

    def close(self) -> None:
        if self.log:
            self.log.close()

    def text(self) -> str:
        return clean("".join(self.parts))

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.text().splitlines()[-lines:])


# the last line of every kernel crash report ("---[ end trace 0000000000000000 ]---"), and how long
# a command may still take after one
CRASH_END = r"---\[ end trace [0-9a-f]+ \]---"
CRASH_GRACE = 20.0


class Console:
    """A guest shell on a pexpect child, every command framed by markers and its exit status."""

    def __init__(self, child: pexpect.spawn, transcript: Transcript) -> None:
        self.child = child
        self._transcript = transcript
        self.token = secrets.token_hex(3)
        self.counter = 0

    def transcript(self) -> str:
        return self._transcript.text()

    def _fail(self, stage: Stage, reason: str) -> StageError:
        return StageError(stage.name, reason, self._transcript.tail())

    def _wait(self, patterns: list[str], stage: Stage) -> int:
        """Wait for the first of patterns within the stage deadline (its index); timeout or EOF raise
        StageError naming the first."""
        remaining = stage.remaining()
        if remaining <= 0:
            raise self._fail(stage, f"deadline of {stage.seconds:.0f}s passed")
        try:
            which: int = self.child.expect(patterns, timeout=remaining)
        except pexpect.TIMEOUT:
            raise self._fail(stage, f"no answer within {stage.seconds:.0f}s (waiting for {patterns[0]!r})") from None
        except pexpect.EOF:
            raise self._fail(stage, "QEMU exited (the guest died or rebooted)") from None
        return which

    def _match(self) -> re.Match[str]:
        match = self.child.match
        assert isinstance(match, re.Match)
        return match

    def expect(self, pattern: str, stage: Stage) -> re.Match[str]:
        """Wait for a regex within the stage deadline; timeout or EOF raise StageError."""
        self._wait([pattern], stage)
        return self._match()

    def run(self, command: str, stage: Stage, may_fail: bool = False) -> CommandResult:
        """Run one shell command in the guest; return its output and exit status."""
        self.counter += 1
        tag = TAG.format(token=self.token, counter=self.counter)
        # The quotes split each marker in the echoed line, so only the real output matches.
        line = f"echo {tag}''B; {command}; echo {tag}''E=$?"
        try:
            self.child.sendline(line)
        except OSError as e:
            raise self._fail(stage, f"cannot write to the console: {e}") from None
        self.expect(framed(f"{tag}B") + rf"(?:\r|{KERNEL_LINE})*\n", stage)
        match, output = self._end(framed(f"{tag}E=") + rf"((?:\d|{KERNEL_LINE})+?)\r*\n", stage)
        status = re.sub(KERNEL_LINE, "", match.group(1))
        return CommandResult(command=command, output=clean(output), status=int(status))

    def _end(self, pattern: str, stage: Stage) -> tuple[re.Match[str], str]:
        """The command's end frame and its whole output; when a crash report's end shows first (an
        Oops forces its report onto the console, and a kernel log the command prints holds WARNs'
        ends), the command gets CRASH_GRACE more seconds at most: a task that died holding a lock
        leaves the command waiting for ever. The output keeps every report it held."""
        seen, waiting = "", stage
        while True:
            try:
                which = self._wait([pattern, CRASH_END], waiting)
            except StageError:
                if waiting is stage:
                    raise
                raise self._fail(stage, f"the kernel reported a crash on the console and the command did not "
                                 f"finish within {CRASH_GRACE:.0f}s after it") from None
            if which == 0:
                return self._match(), seen + (self.child.before or "")
            seen += (self.child.before or "") + str(self.child.after or "")
            if waiting is stage:
                waiting = Stage(stage.name, min(CRASH_GRACE, max(stage.remaining(), 0.0)))

    def interact(self, escape: str) -> None:
        """Give the console to the user's terminal until they type escape or QEMU exits."""
        self.child.sendline("")
        try:
            self.child.interact(escape_character=escape)
        except OSError:
            pass  # QEMU went away while the user had the console
