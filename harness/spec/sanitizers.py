"""The sanitizer profile (--sanitizers): a kernel whose debug options see the bugs a trace never shows
(a use-after-free on event removal, a sleeping call in a probe handler, a leak on module exit), and
the words each of them starts its report with."""

from __future__ import annotations

import re

# Every arch: lock and context checking, object lifetimes, leaks and bounds, on top of the suite's
# configuration. Built in folders of their own (every header changes with them).
KCONFIG = (
    "CONFIG_DEBUG_KERNEL=y",
    "CONFIG_PROVE_LOCKING=y",  # lockdep
    "CONFIG_DEBUG_ATOMIC_SLEEP=y",  # might_sleep() in atomic context: "sleeping function called from invalid context"
    "CONFIG_DEBUG_OBJECTS=y",
    "CONFIG_DEBUG_OBJECTS_FREE=y",
    "CONFIG_DEBUG_KMEMLEAK=y",
    # no scan thread: the guest scans when the session has ended and reads the report itself
    "CONFIG_DEBUG_KMEMLEAK_AUTO_SCAN=n",
    "CONFIG_UBSAN=y",
    "CONFIG_UBSAN_BOUNDS=y",
    "CONFIG_SLUB=y",  # tinyconfig's 6.1 allocator is SLOB, which KASAN and kmemleak do not support
)
# KASAN (generic), where the arch has it (the arch table's has_kasan)
KASAN_KCONFIG = ("CONFIG_KASAN=y", "CONFIG_KASAN_GENERIC=y")
# asked for, not required: SLUB_TINY (6.2 on, turned on by tinyconfig) excludes KASAN
WANTED = ("CONFIG_SLUB_TINY=n",)


def kconfig(has_kasan: bool) -> tuple[str, ...]:
    return KCONFIG + (KASAN_KCONFIG if has_kasan else ())


def named(has_kasan: bool) -> tuple[str, ...]:
    """The sanitizers of the profile on an arch, as a report names them."""
    return (*(("KASAN",) if has_kasan else ()), "lockdep", "atomic-sleep", "ODEBUG", "kmemleak", "UBSAN")


# The first line of each sanitizer's report on the console, and the sanitizer it names.
REPORTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("KASAN", re.compile(r"BUG: KASAN: .*")),
    ("atomic-sleep", re.compile(r"BUG: sleeping function called from invalid context.*|BUG: scheduling while atomic.*")),
    ("lockdep", re.compile(r"WARNING: (?:possible (?:circular|recursive|irq lock inversion)|inconsistent lock state"
                           r"|suspicious RCU usage|bad unlock balance|held lock freed|lock held when returning"
                           r"|Nested lock was not taken).*")),
    ("ODEBUG", re.compile(r"ODEBUG: .*")),
    ("UBSAN", re.compile(r"UBSAN: .*")),
    ("kmemleak", re.compile(r"kmemleak: \d+ new suspected memory leaks.*")),
)

# The guest's kmemleak file after a scan: one block per unreferenced object
KMEMLEAK_OBJECT = re.compile(r"^unreferenced object 0x[0-9a-f]+ \(size \d+\):", re.MULTILINE)
KMEMLEAK_FILE = "/sys/kernel/debug/kmemleak"
# kmemleak reports only objects older than 5 s (MSECS_MIN_AGE): the guest waits this long after the
# session before it scans, so what the session leaked is old enough
KMEMLEAK_AGE_S = 6


def reports_in(text: str) -> list[tuple[str, str]]:
    """(sanitizer, first line) of every sanitizer report in a console text, in order."""
    found = []
    for line in text.splitlines():
        for name, pattern in REPORTS:
            if m := pattern.search(line):
                found.append((name, m.group(0).strip()))
                break
    return found


def kmemleak_objects(text: str) -> list[str]:
    """The blocks of a kmemleak report, one per unreferenced object (its header, hex dump, backtrace)."""
    starts = [m.start() for m in KMEMLEAK_OBJECT.finditer(text)]
    return [text[a:b].strip() for a, b in zip(starts, [*starts[1:], len(text)])]
