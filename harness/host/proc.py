"""Run host commands as argv lists, logging each as a reproducible shell line."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

Echo = Callable[[str], None]  # where a run prints its progress lines (print, or a prefixing wrapper)
_running: set[subprocess.Popen[bytes]] = set()
_lock = threading.Lock()


@dataclass
class CommandLog:
    """Every command a run executed, as shell lines that reproduce it."""

    lines: list[str] = field(default_factory=list)
    echo: Echo | None = None

    def record(self, argv: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
        line = shlex.join(list(argv))
        if env:
            line = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + line
        if cwd is not None:
            line = f"(cd {shlex.quote(str(cwd))} && {line})"
        self.lines.append(line)
        if self.echo:
            self.echo(f"$ {line}")
        return line


def run_logged(
    argv: Sequence[str],
    log_path: Path,
    commands: CommandLog,
    cwd: Path | None = None,
    env_extra: dict[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> int:
    """Run argv with stdout+stderr appended to log_path; return its exit status. With on_line, every
    output line is also handed to it as it arrives (progress, -v).

    The command runs in its own process group so that an interrupted run can stop all of it.
    """
    commands.record(argv, cwd, env_extra)
    env = dict(os.environ, **env_extra) if env_extra else None
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"$ {shlex.join(list(argv))}\n".encode())
        log.flush()
        proc = subprocess.Popen(_die_with_parent(argv), cwd=cwd, env=env,
                                stdout=subprocess.PIPE if on_line else log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        with _lock:
            _running.add(proc)
        try:
            if on_line and proc.stdout is not None:
                for raw in proc.stdout:
                    log.write(raw)
                    on_line(raw.decode("utf-8", errors="replace"))
                log.flush()
            return proc.wait()
        finally:
            with _lock:
                _running.discard(proc)
            if proc.poll() is None:
                _kill_group(proc)


def _die_with_parent(argv: Sequence[str]) -> list[str]:
    """Prefix argv so the command gets SIGTERM when the harness dies, even by SIGKILL."""
    if shutil.which("setpriv"):
        return ["setpriv", "--pdeathsig", "TERM", "--", *argv]
    return list(argv)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def stop_all() -> None:
    """Stop every build command still running (on Ctrl-C or SIGTERM, from any thread)."""
    with _lock:
        running = list(_running)
    for proc in running:
        _kill_group(proc)


def tail(path: Path, lines: int = 25) -> str:
    """The last lines of a text file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
