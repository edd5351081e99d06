from __future__ import annotations

from pathlib import Path

from harness.spec.arches import ARCHES
from vm import qemu


def test_x86_64_argv_is_exact() -> None:
    boot = qemu.BootSpec(kernel=Path("/k/bzImage"), initrd=Path("/r/initramfs.cpio"), accel="tcg")
    assert qemu.qemu_argv(ARCHES["x86_64"], boot) == [
        "qemu-system-x86_64", "-bios", "/usr/share/qemu/qboot.rom", "-accel", "tcg", "-m", "256", "-smp", "1", "-nodefaults",
        "-display", "none", "-serial", "stdio", "-nic", "none", "-no-reboot",
        "-kernel", "/k/bzImage", "-initrd", "/r/initramfs.cpio",
        "-append", "console=ttyS0 panic=-1 loglevel=1 printk.time=1",
    ]


def test_every_argv_is_one_token_per_element() -> None:
    for arch in ARCHES.values():
        argv = qemu.qemu_argv(arch, qemu.BootSpec(Path("/k"), Path("/i")))
        options = [a for a in argv if a.startswith("-")]
        assert all(" " not in a for a in options)
        assert "-no-reboot" in argv and "none" in argv
        assert argv[argv.index("-append") + 1].startswith(f"console={arch.console} panic=-1")


def test_accel_is_tcg_when_the_host_is_another_machine(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(qemu.platform, "machine", lambda: "riscv64")
    assert qemu.pick_accel(ARCHES["x86_64"], Path("/nonexistent")) == "tcg"


def test_a_boot_without_initrd_has_no_initrd_option() -> None:
    argv = qemu.qemu_argv(ARCHES["x86_64"], qemu.BootSpec(kernel=Path("/k/bzImage"), initrd=None, accel="kvm"))
    assert "-initrd" not in argv
    assert argv[argv.index("-accel") + 1] == "kvm"


def test_a_kvm_probe_that_timed_out_is_not_kept(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A probe that timed out on a loaded host asks again next time; a real answer is kept."""
    monkeypatch.setenv("KPROBE_HARNESS_CACHE", str(tmp_path))
    monkeypatch.setattr(qemu.platform, "machine", lambda: ARCHES["x86_64"].uname_machine)
    monkeypatch.setattr(qemu.os, "access", lambda path, mode: True)
    answers = [None, True]
    monkeypatch.setattr(qemu, "_probe_kvm", lambda arch, kernel: answers.pop(0))
    assert qemu.pick_accel(ARCHES["x86_64"], Path("/k")) == "tcg"
    assert not (tmp_path / "kvm-probe.json").exists()
    assert qemu.pick_accel(ARCHES["x86_64"], Path("/k")) == "kvm"
    assert qemu.pick_accel(ARCHES["x86_64"], Path("/k")) == "kvm" and answers == []
