"""Where the harness keeps its caches and per-run artifacts (never inside a kernel tree)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

CACHE_ENV = "KPROBE_HARNESS_CACHE"


def cache_root() -> Path:
    """$KPROBE_HARNESS_CACHE, else $XDG_CACHE_HOME/kprobe-harness, else ~/.cache/kprobe-harness."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return (Path(xdg) / "kprobe-harness").resolve()


def digest(*parts: str, length: int = 12) -> str:
    """A short stable hash of text parts, for cache keys."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:length]


def sources_dir() -> Path:
    return cache_root() / "sources"


def trees_dir() -> Path:
    return cache_root() / "trees"


def builds_dir() -> Path:
    return cache_root() / "builds"


def busybox_dir() -> Path:
    return cache_root() / "busybox"


def new_run_dir(label: str) -> Path:
    """A fresh artifacts folder for one run: runs/<label>-<timestamp>."""
    runs = cache_root() / "runs"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        path = runs / (f"{label}-{stamp}" + (f"-{n}" if n else ""))
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run folder under {runs}")


@contextmanager
def locked(path: Path, what: str, echo: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on path+'.lock' (waits for another run that holds it)."""
    lock_path = path.with_name(path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if echo:
                echo(f"waiting for another run that is using {what} ({lock_path})")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
