"""The error hierarchy: every message says what went wrong and what to do next."""

from __future__ import annotations

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_BUILD_SKIP = 125  # `git bisect run` skips a commit whose kernel does not build


class HarnessError(Exception):
    """Base class: str(error) is the whole message, exit_code what the CLI returns."""

    exit_code = EXIT_USAGE


class UserError(HarnessError):
    """Bad input or a missing prerequisite the user can fix (arch, tree, toolchain, probe spec)."""

    exit_code = EXIT_USAGE


class DiskFull(HarnessError):
    """The disk holding the cache (or an output) filled up during a build or a run: a setup error of
    this machine, not a verdict on the tree."""

    exit_code = EXIT_USAGE


class SetupError(HarnessError):
    """Installing prerequisites failed."""

    exit_code = EXIT_USAGE


class KernelBuildError(HarnessError):
    """The kernel itself did not configure or build."""

    exit_code = EXIT_BUILD_SKIP


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
