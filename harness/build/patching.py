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
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.build.make import newer_file, settle, stamp_start
from harness.build.tree import KernelTree, check_tree
from harness.errors import EXIT_UNTESTABLE, HarnessError, SetupError, Untestable, UserError
from harness.host import paths
from harness.host.proc import CommandLog

MANIFEST = ".kh-patched-files"
SYNCED = ".kh-synced"  # beside the copy: kernel.stamp_start of the last sync with the tree
PREPARED = ".kh-prepared"  # beside the copy; its mtime: when a run last left the copy as it wanted
REPLACED_TREE = 1000  # more files than this unlinked from the tree, unrecorded: the tree was made again
PATCH_ARGS = ("-p1", "--forward", "--batch", "--no-backup-if-mismatch")
# how GNU patch names each file it would touch: "checking file F", "checking file F (renamed from G)"
_CHECKING = re.compile(r"^checking file (.+?)(?: \((?:renamed|copied) from (.+)\))?$", re.MULTILINE)


def touched_paths(dry_run_output: str) -> list[str]:
    """Tree-relative paths a patch touches, as `patch --dry-run` reports them (both sides of a rename)."""
    found = [p for m in _CHECKING.finditer(dry_run_output) for p in m.groups() if p]
    for p in found:
        if p.startswith("/") or ".." in Path(p).parts:
            raise UserError(f"patch touches '{p}', outside the kernel tree")
    return list(dict.fromkeys(found))


def check_patch_file(patch: Path) -> Path:
    """A readable file that GNU patch finds a diff in (checked against an empty folder, before any work)."""
    patch = patch.expanduser().absolute()
    if not patch.is_file():
        raise UserError(f"patch file '{patch}' does not exist" if not patch.exists() else
                        f"patch '{patch}' is not a file")
    if not shutil.which("patch"):
        raise UserError("--patch needs GNU patch: run 'inv setup'")
    with tempfile.TemporaryDirectory(prefix="kh-patch-") as empty:
        result = subprocess.run(["patch", *PATCH_ARGS, "--dry-run", "-d", empty, "-i", str(patch)],
                                capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if "Only garbage" in result.stdout + result.stderr or not patch.read_text(errors="replace").strip():
        raise UserError(f"'{patch}' holds no diff that GNU patch understands: give a unified diff, a quilt "
                        "patch or a git format-patch file")
    return patch


def copy_dir(tree: KernelTree) -> Path:
    return paths.cache_root() / "patched" / f"{tree.path.name}-{paths.digest(str(tree.path))}" / "linux"


def _run(argv: list[str], commands: CommandLog, what: str, error: type[HarnessError] = SetupError) -> str:
    commands.record(argv)
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise error(f"{what}:\n{(result.stdout + result.stderr).strip()}")
    return result.stdout


def own_files(copy: Path, tree: Path, commands: CommandLog) -> list[str]:
    """Files of the copy that are no hard link to the tree: patched (or changed by hand) at some time."""
    if not any(copy.iterdir()) or copy.stat().st_dev != tree.stat().st_dev:
        return []  # a new copy, or one on another file system (no hard links to tell by)
    out = _run(["find", str(copy), "-path", str(copy / ".git"), "-prune", "-o", "-type", "f", "-links", "1",
                "-printf", "%P\\n"], commands, f"could not list the files of {copy}")
    return [rel for rel in out.splitlines() if rel and not rel.endswith(".kh-tmp")]


def _refresh(copy: Path, rels: list[str], tree: Path) -> None:
    """Give these files of the copy the tree's content and a new mtime, so every build recompiles them."""
    now = time.time()
    for rel in rels:
        source, target = tree / rel, copy / rel
        if source.exists():
            tmp = target.with_name(target.name + ".kh-tmp")
            shutil.copyfile(source, tmp)
            os.utime(tmp, (now, now))
            tmp.replace(target)
        elif target.exists():
            target.unlink()


def _own_copy(path: Path) -> None:
    """Replace a hard link by a file of its own, so writing it cannot reach the user's tree."""
    if path.exists() and path.stat().st_nlink > 1:
        tmp = path.with_name(path.name + ".kh-tmp")
        shutil.copy2(path, tmp)
        tmp.replace(path)


def _in_sync(copy: Path, tree: Path) -> bool:
    """Nothing changed in the tree since the copy was last synced with it, nor in the copy since a
    run last prepared it: the sync (a walk of both trees, seconds) has nothing to do."""
    synced, prepared = copy.parent / SYNCED, copy.parent / PREPARED
    return (synced.exists() and prepared.exists() and any(copy.iterdir())
            and not newer_file(synced, tree, (tree / ".git",)) and not newer_file(prepared, copy, (copy / ".git",)))


@dataclass(frozen=True)
class _Seen:
    """A file's bytes and mtime, and its folder's names and mtime, before a run rewrote them."""

    data: bytes | None
    mtime_ns: int
    names: frozenset[str]
    dir_mtime_ns: int


def _look(path: Path) -> _Seen:
    st, dst = (path.stat() if path.exists() else None), path.parent.stat()
    return _Seen(path.read_bytes() if st else None, st.st_mtime_ns if st else 0,
                 frozenset(os.listdir(path.parent)), dst.st_mtime_ns)


def _keep_unchanged_times(seen: dict[Path, _Seen]) -> None:
    """A file that ends with the bytes it had gets its old mtime back, and a folder that ends with
    the names it had gets its old mtime back: a build folder compiled after that time compiled these
    very bytes, so make (and kernel.why_make) need not look again. Anything that changed keeps its
    new mtime."""
    for path, before in seen.items():
        if before.data is not None and path.exists() and path.read_bytes() == before.data:
            os.utime(path, ns=(before.mtime_ns, before.mtime_ns))
    for path, before in seen.items():
        if frozenset(os.listdir(path.parent)) == before.names:
            os.utime(path.parent, ns=(before.dir_mtime_ns, before.dir_mtime_ns))


def prepare(tree: KernelTree, patches: list[Path], commands: CommandLog) -> KernelTree:
    """Sync the private copy with the tree, undo earlier patches, apply these ones.

    Several build folders (arches, configs) build from the one copy, each at its own pace, so a
    file that any run ever patched stays a real copy: every run puts back the tree's text and applies
    its patches; a file that ends as it was keeps its mtime, and one that changed gets a new mtime,
    so each build folder recompiles exactly what differs from what it compiled last.
    """
    for patch in patches:
        check_patch_file(patch)  # a file that is no patch at all is the command's error, not the tree's
    if not shutil.which("rsync") or not shutil.which("patch"):
        raise UserError("--patch needs rsync and patch: run 'inv setup'")
    copy = copy_dir(tree)
    copy.mkdir(parents=True, exist_ok=True)
    manifest = copy.parent / MANIFEST
    sticky = manifest.read_text().split() if manifest.exists() else []
    seen = {copy / rel: _look(copy / rel) for rel in sticky if (copy / rel).parent.is_dir()}
    if not _in_sync(copy, tree.path):
        # a file of the copy that is no hard link was changed by something no manifest recorded: it
        # is put back with a new mtime too, so no build folder keeps an object of the changed text
        own = [rel for rel in own_files(copy, tree.path, commands) if rel != MANIFEST]
        if len(set(own) - set(sticky)) > REPLACED_TREE:
            # the tree itself was replaced (made again, cloned again at its path): no file of the copy
            # links to it any more, and a fresh copy is cheaper than putting thousands back one by one
            shutil.rmtree(copy)
            copy.mkdir()
            own = []
        sticky = list(dict.fromkeys(sticky + own))
        exclude_list = copy.parent / "rsync-excludes"
        exclude_list.write_text("".join(f"/{rel}\n" for rel in sticky))
        # the stamp marks when the sync started, but it takes its name only once rsync succeeded: an
        # interrupted or failed sync leaves no stamp, so the next run syncs again
        (copy.parent / SYNCED).unlink(missing_ok=True)
        starting = copy.parent / (SYNCED + ".new")
        stamp_start(starting)
        _run(["rsync", "-a", "--delete", "--exclude=/.git", f"--exclude-from={exclude_list}", f"--link-dest={tree.path}", f"{tree.path}/",
              f"{copy}/"], commands, f"could not sync the private copy {copy} with {tree.path}")
        starting.replace(copy.parent / SYNCED)
    _refresh(copy, sticky, tree.path)
    for patch in patches:
        what = (f"patch {patch} does not apply to {tree.path} (Linux {tree.version}): nothing was tested "
                f"(exit {EXIT_UNTESTABLE}, which git bisect run reads as 'skip this commit')")
        listing = _run(["patch", *PATCH_ARGS, "--dry-run", "-d", str(copy), "-i", str(patch.resolve())],
                       commands, what, Untestable)
        rels = touched_paths(listing)
        if not rels:
            raise UserError(f"patch {patch} changes no file: is it a unified diff, a quilt patch or a "
                            "git format-patch series?")
        for rel in rels:
            _own_copy(copy / rel)
        sticky = list(dict.fromkeys(sticky + rels))
        manifest.write_text("\n".join(sticky) + "\n")
        _run(["patch", *PATCH_ARGS, "-d", str(copy), "-i", str(patch.resolve())], commands, what, Untestable)
    _keep_unchanged_times(seen)
    (copy.parent / PREPARED).write_text("")
    changed = [p for rel in sticky for p in (copy / rel, (copy / rel).parent) if p.exists()]
    if changed:
        settle(max(p.stat().st_mtime for p in changed))
    return KernelTree(copy, check_tree(copy).version, tree.source)
