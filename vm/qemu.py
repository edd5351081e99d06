"""QEMU: the argv built by a pure function, the accelerator probe, and a bounded lifecycle."""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pexpect

from harness.errors import UserError
from harness.host import paths
from harness.spec.arches import Arch
from vm.console import Transcript

MEMORY_MB = 256


@dataclass(frozen=True)
class BootSpec:
    kernel: Path
    initrd: Path | None  # None boots the kernel alone (the KVM probe)
    accel: str = "tcg"
    append: tuple[str, ...] = ()


# Only emergency messages reach the console, so kernel messages cannot break into the guest
# shell's output; the checks read the whole log with dmesg. Timestamps make a kernel line
# recognisable should one arrive anyway (vm/console.py skips such lines inside its markers).
QUIET_CONSOLE = ("loglevel=1", "printk.time=1")


def kernel_cmdline(arch: Arch, extra: Sequence[str] = ()) -> str:
    return " ".join([f"console={arch.console}", "panic=-1", *QUIET_CONSOLE, *extra])


def qemu_argv(arch: Arch, boot: BootSpec) -> list[str]:
    """The full QEMU command line: serial console on stdio, no network, no reboot."""
    return [
        arch.qemu_binary,
        *arch.qemu_machine_args,
        "-accel", boot.accel,
        "-m", str(MEMORY_MB),
        "-smp", "1",
        "-nodefaults",
        "-display", "none",
        "-serial", "stdio",
        "-nic", "none",
        "-no-reboot",
        "-kernel", str(boot.kernel),
        *(("-initrd", str(boot.initrd)) if boot.initrd else ()),
        "-append", kernel_cmdline(arch, boot.append),
    ]


def require_qemu(arch: Arch) -> None:
    if not shutil.which(arch.qemu_binary):
        raise UserError(f"{arch.qemu_binary} not found: run 'inv setup' (installs {arch.qemu_package})")


def _kvm_cache_key(arch: Arch) -> str:
    qemu = shutil.which(arch.qemu_binary) or arch.qemu_binary
    mtime = os.stat(qemu).st_mtime if os.path.exists(qemu) else 0
    return f"{arch.name}|{platform.release()}|{qemu}|{mtime}"


def pick_accel(arch: Arch, kernel: Path) -> str:
    """'kvm' when the host runs this arch natively and KVM really boots a kernel, else 'tcg'.

    /dev/kvm can exist and still fail at the first vCPU run, so the probe boots the kernel
    with KVM once and waits for its banner; the answer is cached per host kernel and QEMU.
    """
    if platform.machine() != arch.uname_machine or not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    cache = paths.cache_root() / "kvm-probe.json"
    key = _kvm_cache_key(arch)
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        return "kvm" if known[key] else "tcg"
    works = _probe_kvm(arch, kernel)
    if works is not None:  # a probe that timed out (a loaded host) says nothing: ask again next time
        known[key] = works
        cache.parent.mkdir(parents=True, exist_ok=True)
        paths.write_atomic(cache, json.dumps(known, indent=1))
    return "kvm" if works else "tcg"


def _probe_kvm(arch: Arch, kernel: Path) -> bool | None:
    """True when KVM boots the kernel to its banner, False when QEMU gave up, None when the probe
    timed out before either."""
    argv = qemu_argv(arch, BootSpec(kernel=kernel, initrd=None, accel="kvm"))
    child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", codec_errors="replace", timeout=6)
    try:
        return {0: True, 1: False}.get(child.expect([r"Linux version", pexpect.EOF, pexpect.TIMEOUT]))
    finally:
        stop(child)


def start(argv: Sequence[str], sink: Transcript) -> pexpect.spawn:
    """Start QEMU on a pty; everything it prints goes to sink (a Transcript)."""
    child = pexpect.spawn(
        argv[0], list(argv[1:]), encoding="utf-8", codec_errors="replace", timeout=30,
        dimensions=(50, 400), echo=False,
    )
    child.logfile_read = sink
    # pexpect waits 50 ms before every send by default (for programs that switch echo off late);
    # the guest shell reads QEMU's serial line, which holds input until the guest takes it
    child.delaybeforesend = None
    child.ptyproc.delayafterclose = 0.0  # stop() closes the pty after QEMU has exited: nothing to wait for
    return child


def stop(child: pexpect.spawn, grace: float = 2.0) -> int | None:
    """Bounded teardown: ask (SIGTERM), wait, then kill; never leaves the process behind."""
    try:
        if child.isalive():
            child.kill(15)
            deadline = time.monotonic() + grace
            while child.isalive() and time.monotonic() < deadline:
                time.sleep(0.005)
            if child.isalive():
                child.kill(9)
                child.wait()
    except pexpect.ExceptionPexpect:
        pass
    finally:
        log = child.logfile_read
        try:
            child.close(force=True)
        except pexpect.ExceptionPexpect:
            pass
        if log is not None and hasattr(log, "close"):
            log.close()
    status: int | None = child.exitstatus if child.exitstatus is not None else child.signalstatus
    return status
