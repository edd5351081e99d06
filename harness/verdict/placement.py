"""Where the probes were armed and what the session left behind: each entry record at the probed
function's entry (cross-checked with debugfs's kprobes/list), no kprobe of ours armed after rmmod,
and no taint but the one our module itself causes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.spec.render import ProbeSpec
from harness.verdict import trace
from harness.verdict.checks import FAIL, Check, make_check
from harness.verdict.observations import CommandResult, read_problem

PLACEMENT_CHECKS = ("kprobe_location", "kprobes_released", "taint")
OOT_MODULE = 1 << 12  # TAINT_OOT_MODULE ('O'): a module built out of the tree, as ours is
TAINT_LETTERS = "PFSRMBUDAWCIOELKXTN"  # bit n of /proc/sys/kernel/tainted, as the kernel prints it
_LISTED = re.compile(r"^\s*\S+\s+([krp])\s+([A-Za-z_.$][\w.$]*)\+0x([0-9a-f]+)", re.MULTILINE)
_AT = re.compile(r"^([\w.$]+)\+0x([0-9a-f]+)/0x[0-9a-f]+$")


@dataclass(frozen=True)
class Armed:
    """One line of kprobes/list: k (kprobe) or r (kretprobe), the symbol and the offset."""

    kind: str
    symbol: str
    offset: int


def armed(kprobes_list: str) -> list[Armed]:
    return [Armed(k, sym, int(off, 16)) for k, sym, off in _LISTED.findall(kprobes_list)]


def _offsets(offsets: tuple[int, ...]) -> str:
    return " or ".join(f"+{o:#x}" for o in offsets)


def location_check(read: CommandResult | None, spec: ProbeSpec, entry_records: list[trace.TraceRecord],
                   entry_offsets: tuple[int, ...]) -> Check:
    """The entry kprobe is armed at the function's entry (offset 0, or past the arch's landing pad),
    as kprobes/list says, and every entry record of the trigger names that very place."""
    problem = read_problem(read, "/sys/kernel/debug/kprobes/list (CONFIG_DEBUG_FS, debugfs mounted)")
    if problem:
        return Check("kprobe_location", FAIL, problem, ("kprobes/list unreadable",))
    assert read is not None
    ours = [a for a in armed(read.output) if a.symbol == spec.func and a.kind == "k"]
    if not ours:
        return Check("kprobe_location", FAIL, f"kprobes/list holds no kprobe on {spec.func}:\n{read.output.strip()}",
                     ("not in kprobes/list",))
    found, problems = [], []
    for a in ours:
        if a.offset not in entry_offsets:
            problems.append(f"kprobes/list arms it at {spec.func}+{a.offset:#x}, not at the entry "
                            f"({_offsets(entry_offsets)} on this arch)")
            found.append(f"armed at +{a.offset:#x}")
    places = {}
    for record in entry_records:
        m = _AT.match(record.location)
        places[record.location] = (m.group(1), int(m.group(2), 16)) if m else (record.location, -1)
    for location, (symbol, offset) in places.items():
        if symbol != spec.func or offset not in {a.offset for a in ours}:
            problems.append(f"records say ({location}), but kprobes/list arms {spec.func}+{ours[0].offset:#x}")
            found.append(f"records at {symbol}+{offset:#x}" if offset >= 0 else f"records at {symbol}")
    at = f"{spec.func}+{ours[0].offset:#x}"
    seen = f"{len(entry_records)} entry records of the trigger at {at}" if entry_records else "no entry records"
    return make_check("kprobe_location", not problems, f"armed at the entry, {at}, as kprobes/list says; {seen}",
                      "; ".join(problems), found)


def released_check(read: CommandResult | None, spec: ProbeSpec) -> Check:
    """After rmmod, no kprobe or kretprobe on the probed function is left armed (an event deleted
    while its kprobe stays registered is a leak the tracefs files do not show)."""
    problem = read_problem(read, "/sys/kernel/debug/kprobes/list after rmmod")
    if problem:
        return Check("kprobes_released", FAIL, problem, ("kprobes/list unreadable",))
    assert read is not None
    left = [a for a in armed(read.output) if a.symbol == spec.func]
    return make_check("kprobes_released", not left, f"no kprobe is armed on {spec.func} after rmmod",
                      "still armed after rmmod: " + ", ".join(f"{a.kind} {a.symbol}+{a.offset:#x}" for a in left),
                      [f"{a.kind} still armed" for a in left])


def taint_check(read: CommandResult | None, allowed: int) -> Check:
    """/proc/sys/kernel/tainted at the end holds only the flags the module itself causes."""
    problem = read_problem(read, "/proc/sys/kernel/tainted")
    value = read.output.strip() if read and not problem else ""
    if problem or not value.isdigit():
        return Check("taint", FAIL, problem or f"/proc/sys/kernel/tainted reads {value!r}", ("unreadable",))
    extra = int(value) & ~allowed
    letters = [TAINT_LETTERS[b] if b < len(TAINT_LETTERS) else f"bit {b}" for b in range(extra.bit_length())
               if extra >> b & 1]
    expected = "".join(TAINT_LETTERS[b] for b in range(allowed.bit_length()) if allowed >> b & 1) or "none"
    return make_check("taint", not extra, f"tainted {value}: only what the module causes ({expected})",
                      f"tainted {value}: flags {', '.join(letters)} beyond the module's own ({expected})",
                      [f"taint {letter}" for letter in letters])
