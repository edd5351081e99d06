"""What the cache holds, and keeping it in bounds: space per kind, and pruning least recently used
first, never what a running job holds (the locks the runs take)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import BuildError, DiskFull, KernelBuildError
from harness.host import paths

# (folder under the cache root, what it is, whether prune may delete its entries), in the order du
# counts them: a file hard-linked from a later kind (a patched copy's unchanged files, a run's kernel
# image) counts where it is first met, so each entry's size is what deleting it alone would free
KINDS = (
    ("sources", "sources", False),  # downloads: inv setup fetches them again only over the network
    ("trees", "trees", True),
    ("patched", "patched copies", True),
    ("git", "compare clones", True),
    ("builds", "builds", True),
    ("busybox", "busybox", True),
    ("runs", "runs", True),
    ("ccache", "ccache", False),  # bounded by ccache itself (its max_size, 5 GB unless set)
    ("bench", "bench", True),
)
OTHER = "other"
COMPANIONS = (".lock", ".kh-seal")  # files beside an entry that belong to it
DISK_FULL_TEXT = "No space left on device"
GB = 1000 ** 3  # the unit --max-size and every size printed are in: decimal, as the README says
NEARLY_FULL = 1 << 20  # bytes: below this, a step that failed to write is taken to have found the disk full


@dataclass(frozen=True)
class Entry:
    kind: str
    path: Path
    size: int  # bytes, hard links counted once (where du meets them first)
    last_used: float  # the newest mtime of the entry and its lock files
    prunable: bool


def _locks(path: Path) -> list[Path]:
    """The lock files runs take for an entry: beside it, or inside it (a patched copy's tree)."""
    return [p for p in (path.with_name(path.name + ".lock"), path / "linux.lock") if p.is_file()]


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0


def _sizes(paths_in_order: Sequence[Path]) -> dict[Path, int]:
    """Bytes on disk per path, from one `du` over all of them (hard links counted once, first met)."""
    if not paths_in_order:
        return {}
    done = subprocess.run(["du", "-s", "-B1", "--", *map(str, paths_in_order)], capture_output=True, text=True,
                          check=False, stdin=subprocess.DEVNULL)
    sizes: dict[Path, int] = {}
    for line in done.stdout.splitlines():
        size, _, name = line.partition("\t")
        if size.isdigit():
            sizes[Path(name)] = int(size)
    return sizes


def entries(root: Path) -> list[Entry]:
    """Everything under the cache root, one entry per build folder, tree, copy, clone, run; the
    folders that are one thing (sources, ccache, bench) and anything unknown as a whole."""
    if not root.is_dir():
        return []
    found: list[tuple[str, Path, bool]] = []
    known = set()
    for folder, kind, prunable in KINDS:
        top = root / folder
        known.add(folder)
        if not top.exists():
            continue
        if kind in ("sources", "ccache", "bench"):
            found.append((kind, top, prunable))
            continue
        for child in sorted(top.iterdir()):
            if not child.name.endswith(COMPANIONS) and not child.name.startswith(".kh-write-test"):
                found.append((kind, child, prunable))
    for child in sorted(root.iterdir()):
        if child.name not in known and not child.name.endswith(COMPANIONS):
            found.append((OTHER, child, False))
    sizes = _sizes([p for _, p, _ in found])
    return [Entry(kind, path, sizes.get(path, 0), max([_mtime(path), *map(_mtime, _locks(path))]), prunable)
            for kind, path, prunable in found]


def select(found: Sequence[Entry], now: float, older_than_days: float | None = None, max_bytes: int | None = None,
           keep_runs: int | None = None) -> list[Entry]:
    """What prune deletes, least recently used first: runs beyond the newest keep_runs, entries not used
    for older_than_days, then the least recently used until the cache is at most max_bytes."""
    candidates = sorted((e for e in found if e.prunable), key=lambda e: e.last_used)
    chosen: dict[Path, Entry] = {}
    if keep_runs is not None:
        runs = sorted((e for e in candidates if e.kind == "runs"), key=lambda e: e.last_used, reverse=True)
        chosen.update((e.path, e) for e in runs[keep_runs:])
    if older_than_days is not None:
        chosen.update((e.path, e) for e in candidates if e.last_used < now - older_than_days * 86400)
    if max_bytes is not None:
        total = sum(e.size for e in found) - sum(e.size for e in chosen.values())
        for e in candidates:
            if total <= max_bytes:
                break
            if e.path not in chosen:
                chosen[e.path] = e
                total -= e.size
    return sorted(chosen.values(), key=lambda e: e.last_used)


@contextlib.contextmanager
def held(entry: Entry) -> Iterator[bool]:
    """Every lock of the entry taken without waiting: True when all were free (no job uses it), False
    when a running job holds one; while held, no run can start using it."""
    with contextlib.ExitStack() as stack:
        for lock in _locks(entry.path):
            f = stack.enter_context(open(lock, "a"))
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
        yield True


def delete(entry: Entry) -> None:
    """The entry and the files beside it that belong to it (its lock and its seal)."""
    if entry.path.is_dir() and not entry.path.is_symlink():
        shutil.rmtree(entry.path)
    else:
        entry.path.unlink(missing_ok=True)
    for suffix in COMPANIONS:
        entry.path.with_name(entry.path.name + suffix).unlink(missing_ok=True)


def human(size: float) -> str:
    """A size in decimal units (kB, MB, GB), the unit --max-size takes."""
    if abs(size) < 1000:
        return f"{size:.0f} B"
    for unit in ("kB", "MB"):
        size /= 1000
        if abs(size) < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} GB"


def ago(when: float, now: float) -> str:
    if not when:
        return "-"
    seconds = max(0.0, now - when)
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return f"{seconds / length:.0f} {unit} ago"
    return "just now"


def now() -> float:
    return time.time()


def free_bytes(folder: Path) -> int | None:
    """The space left on the disk holding folder (the cache root's when folder is gone), or None."""
    try:
        return shutil.disk_usage(folder if folder.exists() else paths.cache_root()).free
    except OSError:
        return None


def disk_full(folder: Path, detail: str = "") -> DiskFull:
    """The error of a full disk: which folder, and how to make room."""
    left = free_bytes(folder)
    free = "" if left is None else f" ({human(left)} free)"
    return DiskFull(f"the disk holding {folder} is full{free}{': ' + detail if detail else ''}. Make room with "
                    f"'inv cache prune --max-size GB' or '--older-than DAYS' ('inv cache du' shows what the cache "
                    f"holds), or set ${paths.CACHE_ENV} to a folder on a larger disk; nothing this run left "
                    "half-written is trusted by the next one")


def nearly_full(folder: Path) -> bool:
    """Less than NEARLY_FULL bytes left on the disk holding folder (False when that cannot be read)."""
    left = free_bytes(folder)
    return left is not None and left < NEARLY_FULL


def as_disk_full(error: BaseException, folder: Path | None = None) -> DiskFull | None:
    """A DiskFull for an error that is a full disk: ENOSPC or EDQUOT, a tool's log that says so, or a
    failed step whose folder's disk has next to nothing left (a tool that only says it could not write)."""
    if isinstance(error, DiskFull):
        return error
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        where = Path(error.filename).parent if error.filename else (folder or paths.cache_root())
        return disk_full(where, f"{os.strerror(error.errno)} writing {error.filename or 'a file'}")
    where = folder or paths.cache_root()
    if DISK_FULL_TEXT in str(error) or (isinstance(error, (BuildError, KernelBuildError)) and nearly_full(where)):
        return disk_full(where, str(error).strip().splitlines()[0].rstrip(":"))
    return None
