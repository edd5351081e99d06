"""What the cache holds is checked before it is trusted: a folder restored from elsewhere (a CI
cache, which some services share across branches) gets a new change time, and then its content
must match the digest recorded when it was made; a mismatch makes the caller rebuild it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_digest(root: Path, leave_out: tuple[str, ...] = ()) -> str:
    """One digest of every regular file under root: its path, and its content's digest."""
    h = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder, name)
            rel = str(path.relative_to(root))
            if rel in leave_out or path.is_symlink():
                continue
            h.update(rel.encode() + b"\0" + bytes.fromhex(file_digest(path)))
    return h.hexdigest()


def seal(folder: Path, record: Path, digest: str) -> None:
    """Record the folder's change time and its content's digest (record lies outside the folder)."""
    record.write_text(f"{folder.stat().st_ctime_ns}\n{digest}\n")


def restored(folder: Path, record: Path) -> bool:
    """True when the folder is not the one sealed here: no record, or another change time (it was
    unpacked, copied or restored since)."""
    try:
        return record.read_text().split()[0] != str(folder.stat().st_ctime_ns)
    except (OSError, IndexError):
        return True


def sealed_digest(record: Path) -> str:
    try:
        return record.read_text().split()[1]
    except (OSError, IndexError):
        return ""
