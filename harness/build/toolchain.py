"""The LLVM toolchain (--toolchain llvm): complete, and new enough for the tree and arch."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from harness.build.tree import KernelTree
from harness.errors import Untestable, UserError
from harness.spec.arches import Arch
from harness.spec.kernels import LLVM_PACKAGES, LLVM_TOOLS, version_tuple


def clang_version() -> str:
    done = subprocess.run(["clang", "--version"], capture_output=True, text=True, check=False)
    m = re.search(r"clang version (\d+\.\d+\.\d+)", done.stdout)
    return m.group(1) if m else ""


def min_llvm_version(tree: KernelTree, arch: Arch) -> str:
    """The oldest LLVM the tree supports for arch, from its own scripts/min-tool-version.sh."""
    script = tree.path / "scripts/min-tool-version.sh"
    if not script.exists():
        return ""
    done = subprocess.run(["sh", str(script), "llvm"], capture_output=True, text=True, check=False,
                          env={**os.environ, "SRCARCH": arch.linux_arch, "ARCH": arch.linux_arch})
    return done.stdout.strip() if done.returncode == 0 else ""


def require_llvm_tools() -> None:
    """Every tool of the kernel's LLVM=1 is installed (else UserError saying how to get them)."""
    missing = [tool for tool in LLVM_TOOLS if not shutil.which(tool)]
    if missing:
        raise UserError(f"--toolchain llvm needs {', '.join(missing)}: run 'inv setup' "
                        f"(installs {' '.join(LLVM_PACKAGES)})")


def check_llvm(tree: KernelTree, arch: Arch) -> str:
    """The installed clang's version when it is complete and new enough for the tree (else UserError)."""
    require_llvm_tools()
    have, need = clang_version(), min_llvm_version(tree, arch)
    if need and version_tuple(have) < version_tuple(need):
        raise Untestable(f"Linux {tree.version} needs LLVM {need} or newer for {arch.name} (its "
                         f"scripts/min-tool-version.sh says so); the installed clang is {have or 'of unknown version'}. "
                         "Install a newer clang, lld and llvm, or use --toolchain gcc")
    return have

