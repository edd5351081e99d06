"""A cell is one run of the matrix: an arch, a kernel (or a revision of a git tree), a toolchain and a
module. One function names it, in the progress lines, the tables, every report and the merge."""

from __future__ import annotations


def series(version: str) -> str:
    """The kernel series a version belongs to: "6.12.117" -> "6.12" (anything else unchanged)."""
    parts = version.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 and all(p.isdigit() for p in parts[:2]) else version


def cell_label(arch: str, kernel: str, toolchain: str = "gcc", revision: str = "", module: str = "rendered",
               suite: str = "module", sanitizers: bool = False) -> str:
    """arch, then @revision (a commit of a git tree) or /kernel (a series such as 6.12, or 'tree' for a
    tree not yet read), then /llvm, /in-tree, the suite and /sanitizers when they apply: x86_64/6.12,
    arm64@1a2b3c4d5e6f/llvm, riscv64/6.1/ftrace, x86_64/6.12/sanitizers."""
    where = f"@{revision[:12]}" if revision else f"/{series(kernel)}"
    return (f"{arch}{where}" + ("/llvm" if toolchain == "llvm" else "")
            + (f"/{module}" if module in ("in-tree", "seed") else "")
            + (f"/{suite}" if suite != "module" else "") + ("/sanitizers" if sanitizers else ""))
