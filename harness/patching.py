"""Apply patches to a private, hard-linked copy of a kernel tree that keeps one stable path.

The copy lives under the cache at a path that depends only on the source tree, so every patched
run builds in the same folder and make rebuilds only what the patches touched. The user's tree is
never written to: files are hard links until a patch touches them, and a touched file is first
replaced by a copy of its own.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from harness import paths
from harness.errors import UserError
from harness.kernel import KernelTree, check_tree
from harness.proc import CommandLog

MANIFEST = ".kh-patched-files"
_DIFF_PATH = re.compile(r"^(?:\+\+\+|---) (?:[ab]/)?(\S+)", re.MULTILINE)


def patch_paths(diff_text: str) -> list[str]:
    """Tree-relative paths a unified diff touches (its ---/+++ headers, /dev/null left out)."""
    found = [p for p in _DIFF_PATH.findall(diff_text) if p != "/dev/null"]
    for p in found:
        if p.startswith("/") or ".." in Path(p).parts:
            raise UserError(f"patch touches '{p}', outside the kernel tree")
    return list(dict.fromkeys(found))


def copy_dir(tree: KernelTree) -> Path:
    return paths.cache_root() / "patched" / f"{tree.path.name}-{paths.digest(str(tree.path))}" / "linux"


def _run(argv: list[str], commands: CommandLog, what: str) -> None:
    commands.record(argv)
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise UserError(f"{what}:\n{(result.stdout + result.stderr).strip()}")


def _own_copy(path: Path) -> None:
    """Replace a hard link by a file of its own, so writing it cannot reach the user's tree."""
    if path.exists() and path.stat().st_nlink > 1:
        tmp = path.with_name(path.name + ".kh-tmp")
        shutil.copy2(path, tmp)
        tmp.replace(path)


def prepare(tree: KernelTree, patches: list[Path], commands: CommandLog) -> KernelTree:
    """Sync the private copy with the tree, undo the last run's patches, apply these ones."""
    for patch in patches:
        if not patch.is_file():
            raise UserError(f"patch file '{patch}' does not exist")
    if not shutil.which("rsync") or not shutil.which("patch"):
        raise UserError("--patch needs rsync and patch: run 'inv setup'")
    copy = copy_dir(tree)
    copy.mkdir(parents=True, exist_ok=True)
    manifest = copy.parent / MANIFEST
    previous = manifest.read_text().split() if manifest.exists() else []
    # Hard-link every unchanged file; files the last patches changed come back as links to the
    # originals, and are touched below so make rebuilds what was built from the patched text.
    _run(["rsync", "-a", "--delete", "--exclude=/.git", f"--link-dest={tree.path}", f"{tree.path}/", f"{copy}/"],
         commands, f"could not sync the private copy {copy} with {tree.path}")
    now = time.time()
    for rel in previous:
        if (copy / rel).exists():
            _own_copy(copy / rel)  # never touch the inode the user's tree shares
            os.utime(copy / rel, (now, now))
    touched: list[str] = []
    for patch in patches:
        rels = patch_paths(patch.read_text(errors="replace"))
        for rel in rels:
            _own_copy(copy / rel)
        touched.extend(rels)
        manifest.write_text("\n".join(dict.fromkeys(previous + touched)) + "\n")
        _run(["patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-d", str(copy), "-i", str(patch.resolve())],
             commands, f"patch {patch} does not apply to {tree.path} (Linux {tree.version})")
    manifest.write_text("\n".join(dict.fromkeys(touched)) + "\n")
    return check_tree(copy)
