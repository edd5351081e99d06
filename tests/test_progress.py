"""Build progress: Kbuild's step lines counted against the last full build, a bar only on a terminal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from harness.build import progress
from harness.host import proc
from harness.host.proc import CommandLog

BUILD_OUTPUT = """\
  SYNC    include/config/auto.conf
  HOSTCC  scripts/basic/fixdep
  CC      kernel/fork.o
  LD [M]  kernel/trace/kprobe_event_gen_test.ko
  AR      kernel/built-in.a
make[1]: Entering directory '/build'
../kernel/trace/trace_kprobe.c:12:6: warning: unused variable 'x' [-Wunused-variable]
   12 |  int x;
Kernel: arch/x86/boot/bzImage is ready  (#1)
"""


class Terminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_only_kbuild_step_lines_count() -> None:
    steps = [line for line in BUILD_OUTPUT.splitlines() if progress.is_step(line)]
    assert len(steps) == 5 and steps[-1].strip().startswith("AR")


def test_the_estimate_is_the_last_full_build_of_the_configuration(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPROBE_HARNESS_CACHE", str(tmp_path))
    assert progress.expected_steps("x86_64-6.12-gcc-abc") is None
    progress.record_steps("x86_64-6.12-gcc-abc", 4321)
    progress.record_steps("arm64-6.12-llvm-abc", 5000)
    assert progress.expected_steps("x86_64-6.12-gcc-abc") == 4321
    assert progress.describe(1000, 4321, 61.2) == "1000/~4321 objects (23%), 61 s"
    assert progress.describe(5000, 4321, 61.2).startswith("5000/~4321 objects (99%)")
    assert progress.describe(12, None, 3) == "12 objects, 3 s"


def test_without_a_terminal_progress_is_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    lines: list[str] = []
    clock = iter([0.0, 0.0, *[float(i) for i in range(0, 100, 10)], *[200.0] * 20])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    out = Terminal(tty=False)
    shown = progress.BuildProgress("x86_64 kernel build", 10, lines.append, terminal=out)
    for line in BUILD_OUTPUT.splitlines():
        shown.line(line + "\n")
    shown.close()
    assert shown.steps == 5 and shown.bar is None and out.getvalue() == ""
    assert lines and all(line.startswith("x86_64 kernel build: ") and "/~10 objects" in line for line in lines)


def test_on_a_terminal_a_bar_counts_the_objects() -> None:
    lines: list[str] = []
    out = Terminal(tty=True)
    shown = progress.BuildProgress("arm64 kernel build", 4, lines.append, terminal=out)
    for line in BUILD_OUTPUT.splitlines():
        shown.line(line)
    assert shown.bar is not None and shown.bar.n == 5 and shown.bar.total == 5  # grew past the estimate
    shown.close()
    assert "arm64 kernel build" in out.getvalue() and lines == []


def test_verbose_streams_every_line_and_draws_no_bar() -> None:
    lines: list[str] = []
    shown = progress.BuildProgress("riscv64 kernel build", None, lines.append, stream=True,
                                   terminal=Terminal(tty=True))
    for line in BUILD_OUTPUT.splitlines(keepends=True):
        shown.line(line)
    assert shown.bar is None and lines == BUILD_OUTPUT.splitlines()


def test_run_logged_hands_each_line_over_and_still_logs_it(tmp_path: Path) -> None:
    seen: list[str] = []
    log = tmp_path / "build.log"
    code = proc.run_logged(["sh", "-c", "echo '  CC      a.o'; echo oops >&2; exit 3"], log, CommandLog(),
                           on_line=seen.append)
    assert code == 3 and seen == ["  CC      a.o\n", "oops\n"]
    assert log.read_text().endswith("  CC      a.o\noops\n")
