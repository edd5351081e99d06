"""The error hierarchy: every message says what went wrong and what to do next."""

from __future__ import annotations

# The exit codes are chosen for `git bisect run`, which reads 0 as good, 125 as "skip this commit",
# 1-127 otherwise as bad, and anything above 127 as "stop the bisect": only the tree's own failure may
# say bad, what cannot be tested at one commit skips it, and what no commit can change stops.
EXIT_PASS = 0
EXIT_FAIL = 1  # the tree failed a check: a bad commit
EXIT_UNTESTABLE = 125  # nothing could be tested at this commit (it does not build, a patch does not apply)
EXIT_SETUP = 128  # the command or this machine is at fault (usage, a missing tool, a full disk): stop


class HarnessError(Exception):
    """Base class: str(error) is the whole message, exit_code what the CLI returns."""

    exit_code = EXIT_SETUP


class UserError(HarnessError):
    """Bad input or a missing prerequisite the user can fix (arch, tree, toolchain, probe spec)."""

    exit_code = EXIT_SETUP


class DiskFull(HarnessError):
    """The disk holding the cache (or an output) filled up during a build or a run: a setup error of
    this machine, not a verdict on the tree."""

    exit_code = EXIT_SETUP


class SetupError(HarnessError):
    """Installing prerequisites failed, or a host-side build the run needs (busybox, gen_init_cpio,
    the sample modules' install) did not work: this machine's trouble, not the tree's."""

    exit_code = EXIT_SETUP


class Untestable(HarnessError):
    """This tree (at this commit) cannot be tested as asked: a patch that does not apply to it, a
    toolchain or module or selftest it predates. Neither good nor bad: `git bisect run` skips it."""

    exit_code = EXIT_UNTESTABLE


class KernelBuildError(Untestable):
    """The kernel itself did not configure or build."""


class BuildError(HarnessError):
    """The test module or the initramfs did not build: the run's `check` fails."""

    exit_code = EXIT_FAIL
    check = "module_build"


class ConfigDropped(BuildError):
    """The tree's Kconfig would not keep an option the harness needs (at configure, or in make's own
    config sync after a Kconfig change): the tree under test fails, so bisect sees a bad commit."""

    check = "kernel_config"


class StageError(HarnessError):
    """A guest stage timed out, hit EOF, or the guest died; carries the last console lines."""

    exit_code = EXIT_FAIL

    def __init__(self, stage: str, reason: str, console_tail: str = "") -> None:
        self.stage = stage
        self.reason = reason
        self.console_tail = console_tail
        self.observations: object = None  # what the guest showed before the stage failed, if any
        message = f"stage '{stage}' failed: {reason}"
        if console_tail:
            message += "\nlast console lines:\n" + console_tail
        super().__init__(message)
