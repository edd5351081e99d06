"""A kernel build folder (make O=...): its make command, image, parallelism and compiler cache."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.build.tree import KernelTree
from harness.host import paths
from harness.spec.arches import Arch

MODULE_DIR = "kprobe-harness-module"  # the rendered module's builds, inside the kernel's build folder


@dataclass(frozen=True)
class KernelBuild:
    tree: KernelTree
    arch: Arch
    out: Path  # the O= folder
    kconfig: tuple[str, ...]
    cross_compile: str
    toolchain: str = "gcc"  # gcc (CROSS_COMPILE=) or llvm (the kernel's LLVM=1: clang, lld, llvm binutils)
    kconfig_wanted: tuple[str, ...] = ()  # asked for too, but kept only where the arch and version have them

    def make_argv(self, *targets: str, jobs: int | None = None) -> list[str]:
        argv = ["make", "-C", str(self.tree.path), f"O={self.out}", f"ARCH={self.arch.linux_arch}"]
        if self.toolchain == "llvm":
            argv.append("LLVM=1")  # clang picks its target from ARCH: no cross gcc needed
        elif self.cross_compile:
            argv.append(f"CROSS_COMPILE={self.cross_compile}")
        if jobs:
            argv.append(f"-j{jobs}")
        return argv + list(targets)

    @property
    def image(self) -> Path:
        return self.out / self.arch.kernel_image

    @property
    def config_key(self) -> str:
        """The configuration, apart from the tree's path: arch, version, toolchain and fragment."""
        major_minor = ".".join(self.tree.version.split(".")[:2])
        return f"{self.arch.name}-{major_minor}-{self.toolchain}-{paths.digest(*self.kconfig_wanted, *self.kconfig)}"


CCACHE_LINKS = Path("/usr/lib/ccache")  # Debian's ccache: a link named after each installed compiler
CCACHE_OFF = "KPROBE_HARNESS_CCACHE"  # =0 builds without ccache


def ccache_env(build: KernelBuild) -> dict[str, str]:
    """The environment that sends this build's compiler through ccache, when ccache has a link for it
    ({} otherwise): its links first on PATH, so make's command lines stay exactly as they were and no
    object is rebuilt for it; the cache itself lives in the harness's cache."""
    compiler = "clang" if build.toolchain == "llvm" else f"{build.cross_compile}gcc"
    if os.environ.get(CCACHE_OFF) == "0" or not shutil.which("ccache") or not (CCACHE_LINKS / compiler).exists():
        return {}
    # depend mode takes the headers from the compiler's own -MMD output (Kbuild always asks for it)
    # instead of running the preprocessor a second time on every miss
    return {"PATH": f"{CCACHE_LINKS}{os.pathsep}{os.environ.get('PATH', '')}",
            "CCACHE_DIR": str(paths.cache_root() / "ccache"), "CCACHE_DEPEND": "1"}


def jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

