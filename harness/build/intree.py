"""The tree's own kernel/trace/kprobe_event_gen_test.c (--module in-tree): built by Kbuild with the
kernel (the verdict reads what it registered: harness.verdict.registered)."""

from __future__ import annotations

from pathlib import Path

RENDERED, IN_TREE = "rendered", "in-tree"
MODULES = (RENDERED, IN_TREE)
KCONFIG = "CONFIG_KPROBE_EVENT_GEN_TEST=m"
SOURCE = "kernel/trace/kprobe_event_gen_test.c"
BUILT = "kernel/trace/kprobe_event_gen_test.ko"  # inside the build folder


def module_source(tree: Path) -> Path:
    return tree / SOURCE
