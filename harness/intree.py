"""The tree's own kernel/trace/kprobe_event_gen_test.c (--module in-tree): built by Kbuild with the
kernel, and judged by what it really registers rather than by a rendering of ours."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness import trace
from harness.render import ProbeSpec

RENDERED, IN_TREE = "rendered", "in-tree"
MODULES = (RENDERED, IN_TREE)
KCONFIG = "CONFIG_KPROBE_EVENT_GEN_TEST=m"
SOURCE = "kernel/trace/kprobe_event_gen_test.c"
BUILT = "kernel/trace/kprobe_event_gen_test.ko"  # inside the build folder
PROFILE = "upstream"  # its fields are the upstream ones: the value checks do not apply


def _fields(definition: trace.ProbeDefinition) -> tuple[str, ...]:
    return tuple(f"{name}={value}" for name, value in definition.args)


def registered_spec(kprobe_events: str, base: ProbeSpec) -> ProbeSpec:
    """The module's events as it registered them (its first kprobe and first kretprobe in group
    kprobes: the guest has no other dynamic events), so the checks follow what the module really
    defined. Without a registration the names stay those of base, and the registration checks fail."""
    definitions = [d for d in trace.parse_kprobe_events(kprobe_events) if d.group == "kprobes"]
    entry = next((d for d in definitions if d.kind == "p"), None)
    ret = next((d for d in definitions if d.kind == "r"), None)
    spec = replace(base, profile=PROFILE)
    if entry is not None:
        spec = replace(spec, kprobe_event=entry.event, kprobe_fields=_fields(entry),
                       func=entry.location.removesuffix("+0"))
    if ret is not None:
        spec = replace(spec, kretprobe_event=ret.event, kretprobe_fields=_fields(ret))
    return spec


def module_source(tree: Path) -> Path:
    return tree / SOURCE
