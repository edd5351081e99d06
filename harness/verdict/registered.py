"""A module we did not write (the tree's own, --module in-tree) is judged by what it registered:
its events, read back from kprobe_events, become the probe spec the checks follow."""

from __future__ import annotations

from dataclasses import replace

from harness.spec.render import ProbeSpec
from harness.verdict import trace

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
