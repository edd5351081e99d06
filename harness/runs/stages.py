"""Stage timings of a run: each stage is timed and printed as it starts and ends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from harness.host.proc import Echo


class Stages:
    """Times each stage and prints it as it ends."""

    def __init__(self, echo: Echo) -> None:
        self.echo = echo
        self.timings: list[tuple[str, float]] = []
        self.start = time.monotonic()

    @contextmanager
    def stage(self, name: str, note: str = "") -> Iterator[None]:
        t0 = time.monotonic()
        self.echo(f"[{t0 - self.start:7.1f}s] {name}{' (' + note + ')' if note else ''} ...")
        ok = False
        try:
            yield
            ok = True
        finally:
            elapsed = time.monotonic() - t0
            self.timings.append((name, elapsed))
            self.echo(f"[{time.monotonic() - self.start:7.1f}s] {name} {'done' if ok else 'FAILED'} in {elapsed:.1f}s")

