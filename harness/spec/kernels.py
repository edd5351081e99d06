"""The kernels and toolchains the harness knows, and how it compares kernel versions."""

from __future__ import annotations

import re

DEFAULT_KERNEL = "6.12"
KERNELS = ("6.12", "6.1")  # the distribution's linux-source-<version> packages
TOOLCHAINS = ("gcc", "llvm")
LLVM_TOOLS = ("clang", "ld.lld", "llvm-ar", "llvm-nm", "llvm-objcopy", "llvm-objdump", "llvm-readelf", "llvm-strip")
LLVM_PACKAGES = ("clang", "lld", "llvm")


def version_tuple(version: str) -> tuple[int, ...]:
    """ "6.12.117" -> (6, 12, 117); "6.1" -> (6, 1); non-numeric parts end the tuple ("" -> ())."""
    parts = []
    for piece in version.split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
        if m.end() < len(piece):
            break
    return tuple(parts)
