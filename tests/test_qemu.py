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
