"""Run host commands as argv lists, logging each as a reproducible shell line."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

Echo = Callable[[str], None]


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
) -> int:
    """Run argv with stdout+stderr appended to log_path; return its exit status."""
    import os

    commands.record(argv, cwd, env_extra)
    env = dict(os.environ, **env_extra) if env_extra else None
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"$ {shlex.join(list(argv))}\n".encode())
        log.flush()
        return subprocess.run(
            list(argv), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False
        ).returncode


def tail(path: Path, lines: int = 25) -> str:
    """The last lines of a text file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
