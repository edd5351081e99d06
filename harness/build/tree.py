"""The kernel source tree under test: a user's tree (checked, never written) or the distribution's
linux-source, unpacked into the cache."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UserError
from harness.host import integrity, paths
from harness.host.proc import CommandLog
from harness.spec.kernels import DEFAULT_KERNEL, KERNELS

SOURCE_TARBALL = "/usr/src/linux-source-{version}.tar.xz"
UNPACKED_STAMP = ".kh-unpacked"


@dataclass(frozen=True)
class KernelTree:
    path: Path
    version: str  # e.g. 6.12.117
    source: str = ""  # identity of the package tarball it was unpacked from ("" for a user's tree)



def read_version(makefile_text: str) -> str:
    """VERSION.PATCHLEVEL.SUBLEVEL from a top-level kernel Makefile."""
    fields = {}
    for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL"):
        m = re.search(rf"^{key}\s*=\s*(\d+)\s*$", makefile_text, re.MULTILINE)
        if not m:
            return ""
        fields[key] = m.group(1)
    return f"{fields['VERSION']}.{fields['PATCHLEVEL']}.{fields['SUBLEVEL']}"


def enclosing_tree(start: Path) -> Path | None:
    """The top of the kernel source tree that start lies in, if any (its Makefile, Kconfig and
    scripts/kconfig/merge_config.sh are there)."""
    for folder in (start.resolve(), *start.resolve().parents):
        if all((folder / name).exists() for name in ("Makefile", "Kconfig", "scripts/kconfig/merge_config.sh")):
            return folder
    return None


def check_tree(path: Path) -> KernelTree:
    """Validate a kernel source tree given by the user; never writes into it."""
    path = path.expanduser().resolve()
    if not path.exists():
        raise UserError(f"kernel tree '{path}' does not exist; pass --tree with a kernel source folder")
    if not path.is_dir():
        raise UserError(f"kernel tree '{path}' is not a folder; pass --tree with the top folder of a kernel "
                        "source tree")
    makefile = path / "Makefile"
    needed = [makefile, path / "Kconfig", path / "scripts/kconfig/merge_config.sh", path / "kernel/trace"]
    missing = [str(p.relative_to(path)) for p in needed if not p.exists()]
    version = read_version(makefile.read_text(errors="replace")) if makefile.exists() else ""
    if missing or not version:
        raise UserError(
            f"'{path}' is not a kernel source tree (missing: {', '.join(missing) or 'VERSION in Makefile'}); "
            "pass --tree with the top folder of a Linux checkout"
        )
    if (path / ".config").exists() or (path / "include/config").exists():
        raise UserError(
            f"kernel tree '{path}' has an in-tree build (.config or include/config); out-of-tree builds "
            "(make O=...) need a clean source tree: run 'make mrproper' in it or pass a clean worktree"
        )
    return KernelTree(path, version)


def tarball_identity(tarball: Path) -> str:
    """What changes when the installed linux-source package changes: path, size and mtime."""
    st = tarball.stat()
    return f"{tarball}:{st.st_size}:{st.st_mtime_ns}"


def default_tree(version: str = DEFAULT_KERNEL, commands: CommandLog | None = None) -> KernelTree:
    """The distribution's linux-source-<version>, unpacked into the cache again whenever the
    installed tarball changes."""
    if version not in KERNELS:
        raise UserError(f"unknown --kernel '{version}': the distribution provides {', '.join(KERNELS)}; "
                        "pass --tree PATH for any other kernel")
    tarball = Path(SOURCE_TARBALL.format(version=version))
    if not tarball.exists():
        raise UserError(
            f"{tarball} is missing: run 'inv setup' (installs linux-source-{version}) or pass --tree PATH"
        )
    identity = tarball_identity(tarball)
    target = paths.trees_dir() / f"linux-source-{version}"
    stamp, record = target / UNPACKED_STAMP, target.with_name(target.name + ".kh-seal")
    if not stamp.exists() or stamp.read_text().strip() != identity or integrity.restored(target, record):
        with paths.locked(target, f"the unpacked linux-source-{version}"):
            if not stamp.exists() or stamp.read_text().strip() != identity:
                _unpack(tarball, target, version, identity, commands)
                integrity.seal(target, record, integrity.tree_digest(target))
            elif integrity.restored(target, record):
                _verify_restored(tarball, target, version, identity, record, commands)
    tree = check_tree(target)
    return KernelTree(tree.path, tree.version, identity)


def _verify_restored(tarball: Path, target: Path, version: str, identity: str, record: Path,
                     commands: CommandLog | None) -> None:
    """A tree restored from elsewhere (a CI cache) is used only when its content is what was
    unpacked (the digest recorded then); else it is unpacked again. A tree unpacked before seals
    existed is sealed as it is."""
    digest, recorded = integrity.tree_digest(target), integrity.sealed_digest(record)
    if recorded and digest != recorded:
        _unpack(tarball, target, version, identity, commands)
        digest = integrity.tree_digest(target)
    integrity.seal(target, record, digest)


def _unpack(tarball: Path, target: Path, version: str, identity: str, commands: CommandLog | None) -> None:
    paths.trees_dir().mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=paths.trees_dir()))
    argv = ["tar", "-xf", str(tarball), "--no-same-owner", "-C", str(staging)]  # owned by whoever unpacks
    if commands:
        commands.record(argv)
    try:
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
        if target.exists():
            shutil.rmtree(target)
        (staging / f"linux-source-{version}").rename(target)
        (target / UNPACKED_STAMP).write_text(identity + "\n")
    finally:
        shutil.rmtree(staging, ignore_errors=True)

