"""The one per-architecture table: everything a template, a make command or a QEMU argv needs."""

from __future__ import annotations

import platform
from dataclasses import dataclass

from harness.errors import UserError

PROBE_FUNC = "do_sys_open"
KPROBE_EVENT = "gen_kprobe_test"
KRETPROBE_EVENT = "gen_kretprobe_test"
KRETPROBE_FIELDS = ("$retval",)
DEFAULT_PROFILE = "upstream"

# Options every kernel needs, on top of tinyconfig (see PLATFORM notes in the README).
COMMON_KCONFIG = (
    "CONFIG_MODULES=y",
    "CONFIG_MODULE_UNLOAD=y",
    "CONFIG_PRINTK=y",
    "CONFIG_TTY=y",
    "CONFIG_BLK_DEV_INITRD=y",
    "CONFIG_RD_GZIP=y",
    "CONFIG_BINFMT_ELF=y",
    "CONFIG_BINFMT_SCRIPT=y",
    "CONFIG_DEVTMPFS=y",
    "CONFIG_PROC_FS=y",
    "CONFIG_SYSFS=y",
    "CONFIG_FTRACE=y",
    "CONFIG_KPROBES=y",
    "CONFIG_KPROBE_EVENTS=y",
    "CONFIG_KALLSYMS=y",
    "CONFIG_PANIC_TIMEOUT=-1",
)


@dataclass(frozen=True)
class Arch:
    """One target architecture, as data."""

    name: str  # the harness's name for it
    linux_arch: str  # ARCH= for the kernel's make
    uname_machine: str  # `uname -m` of a host that builds it natively
    cross_compile: str  # CROSS_COMPILE= when the host is another machine
    toolchain_packages: tuple[str, ...]  # Debian packages with the cross gcc and its static libc
    kernel_image: str  # path of the bootable image inside the build dir
    qemu_binary: str
    qemu_package: str
    qemu_machine_args: tuple[str, ...]  # -machine/-cpu/-bios ..., one token per element
    console: str  # kernel console device
    kconfig: tuple[str, ...]  # arch fragment, merged after COMMON_KCONFIG
    probes: tuple[tuple[str, tuple[str, ...]], ...]  # profile name -> kprobe fetch args
    busybox_arch: str = ""  # ARCH= for busybox's make when it differs from linux_arch

    @property
    def image_target(self) -> str:
        """The make target that produces kernel_image."""
        return self.kernel_image.rsplit("/", 1)[-1]

    def probe_fields(self, profile: str) -> tuple[str, ...]:
        """The fetch args of the kprobe event for a probe profile."""
        for name, fields in self.probes:
            if name == profile:
                return fields
        valid = ", ".join(name for name, _ in self.probes)
        raise UserError(f"unknown probe profile '{profile}' for {self.name}; valid profiles: {valid}")

    def profiles(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.probes)

    def cross_prefix(self, host_machine: str | None = None) -> str:
        """CROSS_COMPILE for this host: empty when the host builds the arch natively."""
        host = host_machine if host_machine is not None else platform.machine()
        return "" if host == self.uname_machine else self.cross_compile


ARCHES: dict[str, Arch] = {
    "x86_64": Arch(
        name="x86_64",
        linux_arch="x86",
        uname_machine="x86_64",
        cross_compile="x86_64-linux-gnu-",
        toolchain_packages=("gcc-x86-64-linux-gnu", "libc6-dev-amd64-cross"),
        kernel_image="arch/x86/boot/bzImage",
        qemu_binary="qemu-system-x86_64",
        qemu_package="qemu-system-x86",
        qemu_machine_args=(),
        console="ttyS0",
        kconfig=(
            "CONFIG_64BIT=y",
            "CONFIG_SERIAL_8250=y",
            "CONFIG_SERIAL_8250_CONSOLE=y",
        ),
        probes=(
            # Upstream's x86 strings are the i386 convention: on x86_64 they fire but do not
            # record the arguments (dfd is in di, filename in si, ...).
            ("upstream", ("dfd=%ax", "filename=%dx", "flags=%cx", "mode=+4($stack)")),
        ),
    ),
}

ALIASES = {
    "amd64": "x86_64",
    "x86-64": "x86_64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armv7": "arm",
    "riscv": "riscv64",
}


def resolve_arch(name: str) -> Arch:
    """Look an arch up by name or alias; an unknown name lists the valid ones."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key in ARCHES:
        return ARCHES[key]
    aliases = ", ".join(f"{a} -> {t}" for a, t in sorted(ALIASES.items()) if t in ARCHES)
    raise UserError(
        f"unknown architecture '{name}'. Valid: {', '.join(ARCHES)}"
        + (f" (aliases: {aliases})" if aliases else "")
    )
