"""Where the harness keeps its caches and per-run artifacts (never inside a kernel tree)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from harness.errors import UserError

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


def lava_device_types() -> Path:
    """LAVA's stock device-type templates, unpacked from the lava-server package by `inv setup`."""
    return sources_dir() / "lava-server" / "usr/share/lava-server/device-types"


def trees_dir() -> Path:
    return cache_root() / "trees"


def builds_dir() -> Path:
    return cache_root() / "builds"


def busybox_dir() -> Path:
    return cache_root() / "busybox"


def write_atomic(path: Path, text: str) -> None:
    """Write text to path through a temporary file of its own in the same folder and a rename, so a
    reader (or a run that dies half-way) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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


def link_or_copy(source: Path, target: Path) -> None:
    """target as a hard link to source, or a copy where the file system cannot link (another disk)."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copy2(source, target)


def unshare(path: Path) -> None:
    """Remove path when other names link to its file, so that whatever writes path next creates a new
    file instead of writing into theirs (make writes some outputs in place)."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_nlink > 1:
            path.unlink()


@contextmanager
def locked(path: Path, what: str, echo: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on path+'.lock' (waits for another run that holds it)."""
    lock_path = path.with_name(path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)

    def waiting() -> None:
        if echo:
            echo(f"waiting for another run that is using {what} ({lock_path})")

    with _flocked(lock_path, fcntl.LOCK_EX, waiting):
        yield


@contextmanager
def _flocked(lock_path: Path, mode: int, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold lock_path in mode (LOCK_EX or LOCK_SH), waiting for whoever holds it (waiting is called
    once when that happens); its mtime says when the thing was last used (inv cache). When inv cache
    prune deleted the file (and the thing) while we waited, the file now at the path is locked."""
    told = False
    while True:
        with open(lock_path, "a") as f:
            try:
                fcntl.flock(f, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                if waiting and not told:
                    waiting()
                    told = True
                fcntl.flock(f, mode)
            if not _still_there(f, lock_path):
                continue
            os.utime(f.fileno())
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
            return


def _still_there(f: IO[str], lock_path: Path) -> bool:
    """Whether the lock file f holds is still the one at lock_path (not unlinked while we waited)."""
    try:
        return os.fstat(f.fileno()).st_ino == os.stat(lock_path).st_ino
    except FileNotFoundError:
        return False


@contextmanager
def in_use(path: Path) -> Iterator[None]:
    """A shared hold on a distribution tree unpacked in the cache (its path+'.lock') for as long as a
    run builds from it, so `inv cache prune` leaves it alone; several runs may hold it at once. Any
    other tree is left as it is: a user's own tree gets no lock file beside it, and a patched copy or
    a compare clone is already held whole by its run (a second, shared lock on the same file from
    the same process would wait for that run forever)."""
    if not path.resolve().is_relative_to(trees_dir().resolve()):
        yield
        return
    with _flocked(path.with_name(path.name + ".lock"), fcntl.LOCK_SH):
        yield


def _probe_dir(folder: Path, what: str) -> None:
    """Create folder (and its parents) and prove a file can be written in it, or raise UserError."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{what}: '{folder}' is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".kh-write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise UserError(f"{what}: cannot write into '{folder}' ({e.strerror or e}); choose a writable folder") from None


def check_output_file(path: Path, option: str) -> Path:
    """A file the run will write at its end (--json): checked before any work starts."""
    path = path.expanduser().absolute()
    if path.is_dir():
        raise UserError(f"{option} '{path}' is a folder; give a file name, e.g. {path / 'result.json'}")
    _probe_dir(path.parent, f"{option} {path}")
    return path


def check_output_dir(path: Path, option: str) -> Path:
    path = path.expanduser().absolute()
    _probe_dir(path, option)
    return path


def check_cache() -> Path:
    """The cache root must be a writable folder before any work starts."""
    root = cache_root()
    _probe_dir(root, f"the cache (${CACHE_ENV} or ~/.cache/kprobe-harness)")
    return root

