"""What runs in the guest, by name: our module's session, the kernel's own ftrace selftests for probes,
and the kernel's boot-time probe self tests; and the larger configuration the last two need."""

from __future__ import annotations

MODULE = "module"  # our module's session: the events of kprobe_event_gen_test and the grammar target
FTRACE = "ftrace"  # the tree's tools/testing/selftests/ftrace cases for kprobes and dynamic events
BOOT = "boot"  # FTRACE_STARTUP_TEST's kprobe test and the KUnit suites kprobes_test and fprobe_test
ALL = "all"
SUITES = (MODULE, FTRACE, BOOT, ALL)
DEFAULT_SUITE = MODULE

# Every suite beyond the module's builds one larger configuration, in folders of its own: what the
# ftrace cases look for, and the boot self tests. The default (module) configuration is unchanged.
SUITE_KCONFIG = (
    "CONFIG_FUNCTION_TRACER=y",
    "CONFIG_DYNAMIC_FTRACE=y",
    "CONFIG_STACK_TRACER=y",  # stack_trace_filter (kprobe_ftrace.tc)
    "CONFIG_FTRACE_SYSCALLS=y",  # events/syscalls (the eprobe cases)
    "CONFIG_PERF_EVENTS=y",
    "CONFIG_UPROBE_EVENTS=y",
    "CONFIG_NET=y",  # kretprobe_maxactive.tc probes inet_csk_accept
    "CONFIG_INET=y",
    "CONFIG_DEBUG_KERNEL=y",
    "CONFIG_KUNIT=y",
    "CONFIG_RUNTIME_TESTING_MENU=y",  # the menu KPROBES_SANITY_TEST sits in (tinyconfig turns it off)
    "CONFIG_KPROBES_SANITY_TEST=y",
    "CONFIG_FTRACE_STARTUP_TEST=y",
    # the modules the *_module cases load with modprobe (kprobes and tracepoint probes on a module)
    "CONFIG_SAMPLES=y",
    "CONFIG_SAMPLE_TRACE_EVENTS=m",
    "CONFIG_SAMPLE_TRACE_PRINTK=m",
    # the trace-event startup test enables every event in turn: minutes under TCG, and not about probes
    "CONFIG_EVENT_TRACE_STARTUP_TEST=n",
    # no probe needs the function-graph tracer on these kernels (kretprobes and fprobe exits return
    # through rethook); its startup tests cost 9 s of boot on x86_64 and fail on arm 6.12 ("fgraph
    # storage of 1 byte: FAILED", a WARN every boot), which is not the probes' to report
    "CONFIG_FUNCTION_GRAPH_TRACER=n",
)
# Asked for, and kept where the arch and version have them (their absence is a case's UNSUPPORTED):
# histogram triggers need an NMI-safe cmpxchg (not riscv), fprobe a ftrace with regs and rethook.
SUITE_KCONFIG_WANTED = (
    "CONFIG_HIST_TRIGGERS=y",
    "CONFIG_FPROBE=y",
    "CONFIG_FPROBE_EVENTS=y",
    "CONFIG_FPROBE_SANITY_TEST=y",
)

# TAINT_TEST ('N'): the larger configuration's KUnit suites run at every boot, and taint the kernel so
TAINT_TEST = 1 << 18


def expected_taint(suite: str) -> int:
    """The taint flags a suite's configuration sets by design."""
    return TAINT_TEST if larger(suite) else 0


# the boot-time KUnit suites and the option that builds each
KUNIT_OPTIONS = {"kprobes_test": "CONFIG_KPROBES_SANITY_TEST", "fprobe_test": "CONFIG_FPROBE_SANITY_TEST"}

# The larger configuration without the boot suite boots with its self tests off: an empty trace_event=
# switches every tracer self test off (kernel/trace/trace_events.c setup_trace_event, disable_tracing_selftest)
# and kunit.enable=0 the KUnit suites; under TCG they cost about 20 s of boot on x86_64.
SELF_TESTS_OFF = ("trace_event=", "kunit.enable=0")


def parts(suite: str) -> frozenset[str]:
    """What a --suite value runs: every suite runs beside the module's session, all runs each."""
    return frozenset((MODULE, FTRACE, BOOT)) if suite == ALL else frozenset((MODULE, suite))


def larger(suite: str) -> bool:
    """Whether a suite needs the larger configuration."""
    return bool(parts(suite) - {MODULE})


def boot_args(suite: str) -> tuple[str, ...]:
    """What a suite adds to the kernel command line."""
    return SELF_TESTS_OFF if larger(suite) and BOOT not in parts(suite) else ()


def kconfig(suite: str, arch_lines: tuple[str, ...] = ()) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The lines a suite adds to the configuration (with the arch's own for it): required, and wanted
    where available."""
    return (SUITE_KCONFIG + arch_lines, SUITE_KCONFIG_WANTED) if larger(suite) else ((), ())
