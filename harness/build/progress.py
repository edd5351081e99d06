"""How far a kernel build is: Kbuild's step lines counted against the last full build of the same
configuration, shown as a tqdm bar on a terminal and as a plain line now and then otherwise."""

from __future__ import annotations

import io
import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import IO

from harness.host import paths
from harness.host.proc import Echo

# Kbuild's quiet output: two spaces, the step in capitals (CC, LD [M], AR, HOSTCC, ...), its target
STEP = re.compile(r"^  [A-Z][A-Z0-9_-]*(?: \[M\])?\s+\S")
PLAIN_EVERY = 30.0  # seconds between plain progress lines when output is not a terminal


def is_step(line: str) -> bool:
    return bool(STEP.match(line))


def estimates_file() -> Path:
    return paths.cache_root() / "build-steps.json"


def expected_steps(key: str) -> int | None:
    """The step count of the last full build of this configuration (arch, version, toolchain, config)."""
    try:
        value = json.loads(estimates_file().read_text()).get(key)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, int) and value > 0 else None


def record_steps(key: str, steps: int) -> None:
    path = estimates_file()
    try:
        data = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        data = {}
    data[key] = steps
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{threading.get_ident()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


def describe(steps: int, expected: int | None, elapsed: float) -> str:
    """'1234/~5000 objects (24%), 61 s' or '1234 objects, 61 s' without an estimate."""
    if expected:
        share = min(99, int(100 * steps / expected))
        return f"{steps}/~{expected} objects ({share}%), {elapsed:.0f} s"
    return f"{steps} objects, {elapsed:.0f} s"


def _columns(out: IO[str]) -> int:
    try:
        return os.get_terminal_size(out.fileno()).columns
    except (OSError, ValueError, io.UnsupportedOperation):
        return 0


class BuildProgress:
    """Fed every line of a build's output: counts the steps, and shows them (a bar on a terminal,
    a plain line every PLAIN_EVERY seconds otherwise); with stream set, every line is echoed too."""

    def __init__(self, label: str, expected: int | None, echo: Echo, stream: bool = False,
                 terminal: IO[str] | None = None) -> None:
        self.label, self.expected, self.echo, self.stream = label, expected, echo, stream
        self.steps = 0
        self.start = self.last_plain = time.monotonic()
        self.bar = None
        out = terminal if terminal is not None else sys.stderr
        if not stream and out.isatty():
            from tqdm import tqdm

            width = _columns(out)  # a terminal that reports no size (0) still gets a readable bar
            self.bar = tqdm(total=expected, desc=label, unit="obj", file=out, leave=False,
                            dynamic_ncols=bool(width), ncols=None if width else 100, nrows=None if width else 40,
                            bar_format="{desc}: {n_fmt}/{total_fmt} objects {bar} {elapsed}" if expected else
                            "{desc}: {n_fmt} objects {elapsed}")

    def line(self, text: str) -> None:
        if self.stream:
            self.echo(text.rstrip("\n"))
        if not is_step(text):
            return
        self.steps += 1
        if self.bar is not None:
            if self.expected and self.steps > self.expected:
                self.bar.total = self.steps
            self.bar.update(1)
        elif not self.stream and time.monotonic() - self.last_plain >= PLAIN_EVERY:
            self.last_plain = time.monotonic()
            self.echo(f"{self.label}: {describe(self.steps, self.expected, self.last_plain - self.start)}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
