"""What a guest session saw, as plain data: filled by the console session, read by the checks."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

READ, MISSING, WRITE = "read", "missing", "write"
TARGET_TEXT = "kprobe-harness"  # what the existing target holds, so a read can be seen to work
OPENER, OPENS = "cat", 3  # the trigger's reading program, and how many processes read the target


@dataclass(frozen=True)
class CommandResult:
    """One guest command: what was sent, what it printed and its exit status."""

    command: str
    output: str
    status: int

    @property
    def ok(self) -> bool:
        return self.status == 0


def read_problem(result: CommandResult | None, what: str) -> str:
    """'' when a guest read worked; else why it did not (never run, failed, or printed an error)."""
    if result is None:
        return f"{what} was not read"
    if not result.ok:
        return f"reading {what} failed (status {result.status}): {result.output.strip() or 'no output'}"
    return ""


@dataclass(frozen=True)
class Targets:
    """Unique paths the guest opens, so their records can be told from any other open."""

    existing: str  # created before insmod, then read by `cat`
    missing: str  # never exists: `cat` gets -ENOENT
    created: str  # opened by a shell for writing (O_WRONLY|O_CREAT|O_TRUNC, mode 0666)

    @classmethod
    def new(cls, token: str | None = None) -> Targets:
        t = token or secrets.token_hex(4)
        return cls(f"/tmp/kh-{t}", f"/tmp/kh-missing-{t}", f"/tmp/kh-new-{t}")


@dataclass(frozen=True)
class Trigger:
    """One process the guest started to open a target: its kind, path, printed PID and status."""

    kind: str  # READ, MISSING or WRITE
    path: str
    result: CommandResult

    @property
    def pid(self) -> int | None:
        first = self.result.output.strip().splitlines()[:1]
        return int(first[0]) if first and first[0].strip().isdigit() else None


@dataclass(frozen=True)
class SuitePlan:
    """What runs in the guest beside the module's session (spec/suites.py): the tree's ftrace cases
    (paths under test.d, run from ftrace_dir), and whether the boot self tests are read."""

    ftrace_cases: tuple[str, ...] = ()
    ftrace_dir: str = ""
    boot: bool = False
    boot_args: tuple[str, ...] = ()  # what the kernel command line gets for them
    # the sanitizers the kernel was built with (spec/sanitizers.py): their reports are read from the
    # kernel log, and with kmemleak the guest scans for leaks once the session is over
    sanitizers: tuple[str, ...] = ()
    ftrace: bool = False  # the ftrace suite was asked for (a tree may hold no case of it: a failure)


MODULE_ONLY = SuitePlan()  # the module's session alone


@dataclass
class Observations:
    """Everything the guest showed, raw; the checks turn it into a verdict."""

    module_path: str
    targets: Targets
    marker: str = ""  # written to trace_marker after rmmod, to prove tracing still records
    token: str = "run"  # this run's own token: the kernel-log markers carry it
    insmod: CommandResult | None = None
    insmod_dmesg: str = ""
    insmod_error_log: str = ""
    kprobe_events: CommandResult | None = None
    kprobes_list: CommandResult | None = None  # /sys/kernel/debug/kprobes/list after insmod
    enable: dict[str, CommandResult] = field(default_factory=dict)
    triggers: list[Trigger] = field(default_factory=list)
    kprobe_profile: CommandResult | None = None  # two snapshots with tracing off, split by PROFILE_SPLIT
    ring_stats: CommandResult | None = None  # per_cpu/cpu*/stats
    trace: CommandResult | None = None
    rmmod: CommandResult | None = None
    kprobe_events_after: CommandResult | None = None
    kprobes_list_after: CommandResult | None = None  # and after rmmod
    event_dirs_after: dict[str, CommandResult] = field(default_factory=dict)  # `test -d`: 0 present, 1 absent
    tracing_on_after: CommandResult | None = None
    reopen: list[CommandResult] = field(default_factory=list)  # opens of the target after rmmod
    trace_after_reopen: CommandResult | None = None
    reload: list[CommandResult] = field(default_factory=list)
    kprobe_events_after_reload: CommandResult | None = None
    dmesg: CommandResult | None = None
    tainted: CommandResult | None = None  # /proc/sys/kernel/tainted at the end
    # the probe-grammar target, while the module is loaded (spec/grammar.py)
    readme: CommandResult | None = None  # tracefs README: what this kernel's probe grammar offers
    tracefs_files: CommandResult | None = None  # `echo /sys/kernel/tracing/*`: the files it has
    grammar_built: CommandResult | None = None  # the error_log after the module built its events
    refusals: CommandResult | None = None  # per malformed definition: a REFUSAL_LINE, then the error_log
    grammar_events: CommandResult | None = None  # kprobe_events after the builds and the refusals
    grammar_call: CommandResult | None = None  # the calling process's PID
    grammar_trace: CommandResult | None = None
    grammar_status: CommandResult | None = None  # the module's status file
    # the kernel's own ftrace selftests for probes, one command per case, after the module's session
    ftrace_cases: list[tuple[str, CommandResult]] = field(default_factory=list)
    ftrace_stopped: str = ""  # the case that never finished (the rest did not run), and why
    # per case that finished, the kernel log from the marker written before it on (guest.since_mark)
    ftrace_logs: list[tuple[str, CommandResult]] = field(default_factory=list)
    kmemleak: CommandResult | None = None  # the kmemleak report after the session (a sanitizer kernel)
    kmemleak_clear: CommandResult | None = None  # the clear of what boot left, before the session
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def pids(self, kind: str) -> set[int]:
        return {t.pid for t in self.triggers if t.kind == kind and t.pid is not None}

    @property
    def dmesg_text(self) -> str:
        return self.dmesg.output if self.dmesg else ""

    @property
    def suite_log(self) -> str:
        """What the kernel logged while the suites' cases ran, case after case."""
        return "\n".join(read.output for _, read in self.ftrace_logs)


PROFILE_SPLIT = "KH-PROFILE-AGAIN"
SUITES_START = "KH-SUITES-START"  # the guest prints it before the suites beyond the module's


def split_console(console: str) -> tuple[str, str]:
    """The console before the suites beyond the module's started, and after (a crash in the kernel's
    own tests is theirs, not the module session's)."""
    before, mark, after = console.partition(f"\n{SUITES_START}")
    return (before, after) if mark else (console, "")
REFUSAL_LINE = "KH-REFUSAL"
