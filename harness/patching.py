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
    """Sync the private copy with the tree, undo earlier patches, apply these ones.

    Several build folders (arches, configs) build from the one copy, each at its own pace, so a
    file that any run ever patched stays a real copy: every run refreshes it from the tree with a
    new mtime, and each build folder recompiles it instead of keeping an object of a patched text.
    """
    for patch in patches:
        if not patch.is_file():
            raise UserError(f"patch file '{patch}' does not exist")
    if not shutil.which("rsync") or not shutil.which("patch"):
        raise UserError("--patch needs rsync and patch: run 'inv setup'")
    copy = copy_dir(tree)
    copy.mkdir(parents=True, exist_ok=True)
    manifest = copy.parent / MANIFEST
    sticky = manifest.read_text().split() if manifest.exists() else []
    excludes = [f"--exclude=/{rel}" for rel in sticky]
    _run(["rsync", "-a", "--delete", "--exclude=/.git", *excludes, f"--link-dest={tree.path}",
          f"{tree.path}/", f"{copy}/"], commands, f"could not sync the private copy {copy} with {tree.path}")
    now = time.time()
    for rel in sticky:
        source, target = tree.path / rel, copy / rel
        if source.exists():
            tmp = target.with_name(target.name + ".kh-tmp")
            shutil.copyfile(source, tmp)
            os.utime(tmp, (now, now))
            tmp.replace(target)
        elif target.exists():
            target.unlink()
    for patch in patches:
        rels = patch_paths(patch.read_text(errors="replace"))
        for rel in rels:
            _own_copy(copy / rel)
        sticky = list(dict.fromkeys(sticky + rels))
        manifest.write_text("\n".join(sticky) + "\n")
        _run(["patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-d", str(copy), "-i",
              str(patch.resolve())], commands, f"patch {patch} does not apply to {tree.path} (Linux {tree.version})")
    return check_tree(copy)
