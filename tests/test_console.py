"""The marker-framed console against a real local shell on a pty (no QEMU needed)."""

from __future__ import annotations

import time

import pexpect
import pytest

from harness.errors import StageError
from vm import qemu
from vm.console import Console, Stage, Transcript, clean


@pytest.fixture
def console():  # type: ignore[no-untyped-def]
    transcript = Transcript()
    child = pexpect.spawn("sh", ["-i"], encoding="utf-8", env={"PS1": "$ ", "PATH": "/usr/bin:/bin"}, timeout=5)
    child.logfile_read = transcript
    yield Console(child, transcript)
    qemu.stop(child, grace=0.2)


def test_run_returns_output_and_exit_status(console: Console) -> None:
    result = console.run("echo hello; echo world", Stage("t", 5))
    assert result.output == "hello\nworld\n"
    assert result.status == 0
    assert console.run("false", Stage("t", 5)).status == 1
    assert console.run("sh -c 'exit 7'", Stage("t", 5)).status == 7


def test_output_that_mentions_markers_of_the_echo_is_not_mistaken(console: Console) -> None:
    result = console.run("echo KH''B; echo done", Stage("t", 5))
    assert result.output.endswith("done\n")


def test_output_without_trailing_newline_is_kept(console: Console) -> None:
    assert console.run("printf abc", Stage("t", 5)).output == "abc"


def test_a_hang_ends_at_the_stage_deadline_and_names_the_stage(console: Console) -> None:
    started = time.monotonic()
    with pytest.raises(StageError) as e:
        console.run("echo about-to-hang; sleep 30", Stage("insmod", 1.0))
    assert time.monotonic() - started < 5
    assert e.value.stage == "insmod"
    assert "about-to-hang" in e.value.console_tail
    assert "stage 'insmod'" in str(e.value)


def test_a_kernel_log_with_several_warn_ends_is_kept_whole(console: Console) -> None:
    """A command that prints WARNs' ends (a kernel log read back) keeps its whole output; the crash
    grace only bounds how long it may take after the first."""
    report = "".join(f"[ 1.{i}] WARNING: at x.c:{i}\n[ 1.{i}] ---[ end trace 0000000000000000 ]---\n" for i in range(3))
    result = console.run(f"printf '%s' '{report}'; echo after", Stage("t", 5))
    assert result.output == report + "after\n"


def test_a_crash_that_never_lets_the_command_finish_ends_after_the_grace(console: Console,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from vm import console as consoles

    monkeypatch.setattr(consoles, "CRASH_GRACE", 0.5)
    with pytest.raises(StageError, match="reported a crash"):
        console.run("echo '---[ end trace 0000000000000000 ]---'; sleep 30", Stage("ftrace", 10))


def test_eof_says_the_guest_died(console: Console) -> None:
    with pytest.raises(StageError, match="QEMU exited"):
        console.run("exit 0", Stage("rmmod", 5))


def test_clean_strips_vt100_escapes_and_carriage_returns() -> None:
    assert clean("\x1b[?7l\x1b[2Jhello\r\n\x1b[0mworld\x1bc") == "hello\nworld"


def test_stop_is_bounded_for_a_process_that_ignores_sigterm() -> None:
    child = pexpect.spawn("sh", ["-c", "trap '' TERM HUP INT; sleep 60"], encoding="utf-8")
    time.sleep(0.2)
    started = time.monotonic()
    qemu.stop(child, grace=0.5)
    assert time.monotonic() - started < 3
    assert not child.isalive()


# A guest that answers every framed command, with a kernel message breaking into each marker and
# into the exit status, the way an emergency printk can cut into a serial console line.
NOISY_GUEST = r"""
import re, sys
KMSG = "[    3.141592] WARNING: CPU: 0 PID: 1 at kernel/trace/trace_kprobe.c:1\r\n"
for line in sys.stdin:
    m = re.search(r"echo (KH\w+)''B; echo (.*); echo \1''E=\$\?", line)
    if m:
        tag, text = m.group(1), m.group(2)
        sys.stdout.write(tag[:3] + KMSG + tag[3:] + "B\r\n" + text + "\r\n" + tag + "E" + KMSG + "=4" + KMSG + "2\r\n")
        sys.stdout.flush()
"""


def test_a_kernel_message_inside_the_markers_does_not_break_the_framing() -> None:
    import sys
    transcript = Transcript()
    child = pexpect.spawn(sys.executable, ["-c", NOISY_GUEST], encoding="utf-8", timeout=5)
    child.logfile_read = transcript
    try:
        result = Console(child, transcript).run("echo hello", Stage("t", 5))
    finally:
        qemu.stop(child, grace=0.2)
    assert result.output == "hello\n"
    assert result.status == 42
    assert "WARNING: CPU: 0" in transcript.text(), "the message stays in the console log for kernel_log"
