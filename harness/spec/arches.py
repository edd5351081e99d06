"""The one per-architecture table: everything a template, a make command or a QEMU argv needs."""

from __future__ import annotations

import platform
from dataclasses import dataclass

from harness.errors import UserError
from harness.spec.kernels import version_tuple

PROBE_FUNC = "do_sys_open"
KPROBE_EVENT = "gen_kprobe_test"
KRETPROBE_EVENT = "gen_kretprobe_test"
KRETPROBE_FIELDS = ("$retval",)
ABI_PROFILE = "abi"  # do_sys_open(int dfd, const char __user *filename, int flags, umode_t mode)
DEFAULT_PROFILE = ABI_PROFILE

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
    # data symbols in kallsyms, a module's too: a probe's @symbol+offset fetch finds its global by name
    "CONFIG_KALLSYMS_ALL=y",
    "CONFIG_PANIC_TIMEOUT=-1",
    # tinyconfig turns BUG() support off, and with it every WARN/BUG report: a check needs them
    "CONFIG_BUG=y",
    "CONFIG_SOFTLOCKUP_DETECTOR=y",
    # /sys/kernel/debug/kprobes/list: where each kprobe is armed, and that none is left after rmmod
    "CONFIG_DEBUG_FS=y",
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
    # Lines whose Kconfig symbol exists only in some versions: (line, since, before), where
    # since/before are "MAJOR.MINOR" or "" for open-ended.
    kconfig_versioned: tuple[tuple[str, str, str], ...] = ()
    # Lines only for the llvm toolchain (around a bug of the distribution's LLVM), as above
    kconfig_llvm: tuple[tuple[str, str, str], ...] = ()
    extra_packages: tuple[str, ...] = ()  # other Debian packages a boot needs (firmware)
    word_bits: int = 64  # width of a register, for reading $retval as a signed long
    # added to the larger configuration of the suites beyond the module's (spec/suites.py)
    suite_kconfig: tuple[str, ...] = ()
    # where an entry kprobe on a function may sit, in bytes from its symbol: 0, or past the landing
    # pad the arch's kprobes skip (x86's ENDBR64, arm64's BTI c: 4 bytes each)
    entry_offsets: tuple[int, ...] = (0,)
    # the registers of a function's first integer arguments, in order (the arch's calling convention)
    arg_registers: tuple[str, ...] = ()
    # the $stack<N> index of the first argument passed on the stack, at a function's entry
    first_stack_arg: int = 0
    # profiles whose fetches are the probed function's real arguments, so their values are checked
    value_profiles: tuple[str, ...] = ("abi",)
    # how a LAVA job's context describes the QEMU machine to the stock qemu device type (empty: the
    # device type cannot run the arch)
    lava_context: tuple[tuple[str, object], ...] = ()
    has_kasan: bool = True  # HAVE_ARCH_KASAN: the sanitizer profile builds generic KASAN in
    sanitizer_image: str = ""  # the image the sanitizer profile boots, when not kernel_image
    # O_CREAT | O_TRUNC in the arch's uapi fcntl.h (asm-generic: 0100 | 01000), what a shell's ">" passes
    create_flags: int = 0o100 | 0o1000

    def kconfig_for(self, version: str, toolchain: str = "gcc") -> tuple[str, ...]:
        """The arch fragment for a kernel version (e.g. "6.12.117") and toolchain."""
        v = version_tuple(version)
        versioned = self.kconfig_versioned + (self.kconfig_llvm if toolchain == "llvm" else ())
        extra = tuple(
            line for line, since, before in versioned
            if (not since or v >= version_tuple(since)) and (not before or v < version_tuple(before))
        )
        return self.kconfig + extra

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
        lava_context=(("arch", "x86_64"), ("extra_options", ("-bios /usr/share/qemu/qboot.rom",))),
        linux_arch="x86",
        uname_machine="x86_64",
        cross_compile="x86_64-linux-gnu-",
        toolchain_packages=("gcc-x86-64-linux-gnu", "libc6-dev-amd64-cross"),
        # QEMU boots vmlinux itself through its PVH entry point: no bzImage to compress, no
        # real-mode setup and no decompressor at boot (1.03 -> 0.65 s to the shell under TCG)
        kernel_image="vmlinux",
        # with KASAN, 6.12's PVH entry runs instrumented C code before KASAN's shadow is mapped: the
        # guest triple-faults before its first line, so the sanitizer kernel boots the bzImage
        sanitizer_image="arch/x86/boot/bzImage",
        qemu_binary="qemu-system-x86_64",
        qemu_package="qemu-system-x86",
        # qboot (QEMU's own minimal firmware, in qemu-system-data) instead of SeaBIOS: it loads the
        # kernel without probing for disks and option ROMs (0.13 s less to the shell under TCG; it
        # boots vmlinux through PVH and the sanitizer kernel's bzImage alike)
        qemu_machine_args=("-bios", "/usr/share/qemu/qboot.rom"),
        console="ttyS0",
        entry_offsets=(0, 4),  # ENDBR64 under CONFIG_X86_KERNEL_IBT: x86's kprobes arm after it
        arg_registers=("di", "si", "dx", "cx", "r8", "r9"),
        first_stack_arg=1,  # $stack0 is the return address the call pushed
        # kprobes_test's stack traces through a kretprobe need a reliable unwinder: tinyconfig's
        # guessing one reports stale return addresses (test_stacktrace_on_nested_kretprobe fails)
        suite_kconfig=("CONFIG_UNWINDER_ORC=y",),
        kconfig=(
            "CONFIG_64BIT=y",
            "CONFIG_SERIAL_8250=y",
            "CONFIG_SERIAL_8250_CONSOLE=y",
            "CONFIG_HYPERVISOR_GUEST=y",
            "CONFIG_PVH=y",
        ),
        probes=(
            # Upstream's x86 strings are the i386 convention: on x86_64 they fire but do not
            # record the arguments (dfd is in di, filename in si, ...).
            ("upstream", ("dfd=%ax", "filename=%dx", "flags=%cx", "mode=+4($stack)")),
            ("abi", ("dfd=%di:s32", "filename=+0(%si):ustring", "flags=%dx:x32", "mode=%cx:x16")),
        ),
    ),
    "arm64": Arch(
        name="arm64",
        lava_context=(("arch", "arm64"), ("machine", "virt"), ("cpu", "max")),
        linux_arch="arm64",
        uname_machine="aarch64",
        cross_compile="aarch64-linux-gnu-",
        toolchain_packages=("gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"),
        kernel_image="arch/arm64/boot/Image",
        qemu_binary="qemu-system-aarch64",
        qemu_package="qemu-system-arm",
        qemu_machine_args=("-machine", "virt", "-cpu", "max"),
        console="ttyAMA0",
        entry_offsets=(0, 4),  # BTI c under CONFIG_ARM64_BTI_KERNEL
        arg_registers=tuple(f"x{i}" for i in range(8)),
        kconfig=(
            "CONFIG_SERIAL_AMBA_PL011=y",
            "CONFIG_SERIAL_AMBA_PL011_CONSOLE=y",
        ),
        probes=(
            ("upstream", ("dfd=%x0", "filename=%x1", "flags=%x2", "mode=%x3")),
            ("abi", ("dfd=%x0:s32", "filename=+0(%x1):ustring", "flags=%x2:x32", "mode=%x3:x16")),
        ),
    ),
    "arm": Arch(
        name="arm",
        lava_context=(("arch", "arm"), ("machine", "virt"), ("cpu", "cortex-a15")),
        linux_arch="arm",
        uname_machine="armv7l",
        cross_compile="arm-linux-gnueabihf-",
        toolchain_packages=("gcc-arm-linux-gnueabihf", "libc6-dev-armhf-cross"),
        kernel_image="arch/arm/boot/zImage",
        qemu_binary="qemu-system-arm",
        qemu_package="qemu-system-arm",
        qemu_machine_args=("-machine", "virt"),
        console="ttyAMA0",
        word_bits=32,
        arg_registers=("r0", "r1", "r2", "r3"),
        kconfig=(
            "CONFIG_MMU=y",
            "CONFIG_ARCH_MULTI_V7=y",
            "CONFIG_ARCH_VIRT=y",
            "CONFIG_SERIAL_AMBA_PL011=y",
            "CONFIG_SERIAL_AMBA_PL011_CONSOLE=y",
            "CONFIG_AEABI=y",
            "CONFIG_VFP=y",
            # tinyconfig picks a Thumb-2 kernel, where kprobe single-step emulation oopses on the
            # upstream module's first hit (t16_emulate_push); test the ARM kernel by default.
            "CONFIG_THUMB2_KERNEL=n",
        ),
        probes=(
            ("upstream", ("dfd=%r0", "filename=%r1", "flags=%r2", "mode=%r3")),
            ("abi", ("dfd=%r0:s32", "filename=+0(%r1):ustring", "flags=%r2:x32", "mode=%r3:x16")),
        ),
    ),
    "riscv64": Arch(
        name="riscv64",
        lava_context=(("arch", "riscv64"), ("machine", "virt"), ("cpu", "rv64"),
                      ("extra_options", ("-bios /usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf",))),
        linux_arch="riscv",
        uname_machine="riscv64",
        cross_compile="riscv64-linux-gnu-",
        toolchain_packages=("gcc-riscv64-linux-gnu", "libc6-dev-riscv64-cross"),
        kernel_image="arch/riscv/boot/Image",
        qemu_binary="qemu-system-riscv64",
        qemu_package="qemu-system-misc",
        qemu_machine_args=("-machine", "virt", "-bios", "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf"),
        console="ttyS0",
        arg_registers=tuple(f"a{i}" for i in range(8)),
        kconfig=(
            "CONFIG_64BIT=y",
            "CONFIG_MMU=y",
            "CONFIG_NONPORTABLE=y",
            "CONFIG_SERIAL_8250=y",
            "CONFIG_SERIAL_8250_CONSOLE=y",
            "CONFIG_SERIAL_OF_PLATFORM=y",
            "CONFIG_RISCV_SBI_V01=y",
            "CONFIG_SERIAL_EARLYCON_RISCV_SBI=y",
            # without FPU, busybox (built with FP instructions) dies with SIGILL at init
            "CONFIG_FPU=y",
        ),
        kconfig_versioned=(
            ("CONFIG_SOC_VIRT=y", "", "6.7"),  # renamed ARCH_VIRT in 6.7
            ("CONFIG_ARCH_VIRT=y", "6.7", ""),
            # QEMU 7.2 describes the ISA only in the old "riscv,isa" property
            ("CONFIG_RISCV_ISA_FALLBACK=y", "6.6", ""),
        ),
        kconfig_llvm=(
            # LLVM 14's assembler cannot pad the `.option norvc` FP accessors of the misaligned-access
            # emulation (arch/riscv/kernel/fpu.S: "unable to write nop sequence of 2 bytes"); QEMU's
            # virt machine handles unaligned accesses itself, so the kernel need not emulate them
            ("CONFIG_RISCV_SLOW_UNALIGNED_ACCESS=y", "6.10", ""),
        ),
        probes=(
            ("upstream", ("dfd=%a0", "filename=%a1", "flags=%a2", "mode=%a3")),
            ("abi", ("dfd=%a0:s32", "filename=+0(%a1):ustring", "flags=%a2:x32", "mode=%a3:x16")),
        ),
        extra_packages=("opensbi",),
    ),
    "i386": Arch(
        name="i386",
        lava_context=(("arch", "i386"),),
        linux_arch="i386",
        uname_machine="i686",
        cross_compile="i686-linux-gnu-",
        toolchain_packages=("gcc-i686-linux-gnu", "libc6-dev-i386-cross"),
        kernel_image="arch/x86/boot/bzImage",
        qemu_binary="qemu-system-i386",
        qemu_package="qemu-system-x86",
        qemu_machine_args=(),
        console="ttyS0",
        word_bits=32,
        # the kernel is built with -mregparm=3: three arguments in registers, the rest on the stack
        arg_registers=("ax", "dx", "cx"),
        first_stack_arg=1,  # $stack0 is the return address the call pushed
        # upstream's x86 strings are this convention: here they fetch the real arguments
        value_profiles=("abi", "upstream"),
        has_kasan=False,  # KASAN is x86_64 only on x86
        # kprobes_test's stack traces through a kretprobe need a reliable unwinder (ORC is x86_64 only):
        # with tinyconfig's guessing one test_stacktrace_on_nested_kretprobe fails
        suite_kconfig=("CONFIG_UNWINDER_FRAME_POINTER=y",),
        kconfig=(
            "CONFIG_SERIAL_8250=y",
            "CONFIG_SERIAL_8250_CONSOLE=y",
        ),
        probes=(
            ("upstream", ("dfd=%ax", "filename=%dx", "flags=%cx", "mode=+4($stack)")),
            ("abi", ("dfd=%ax:s32", "filename=+0(%dx):ustring", "flags=%cx:x32", "mode=+4($stack):x16")),
        ),
    ),
    "ppc64le": Arch(
        name="ppc64le",
        # the stock device type knows "ppc64" (qemu-system-ppc64, either byte order) and no -cpu for it
        lava_context=(("arch", "ppc64"), ("machine", "pseries"), ("extra_options", ("-cpu power9",))),
        linux_arch="powerpc",
        uname_machine="ppc64le",
        cross_compile="powerpc64le-linux-gnu-",
        toolchain_packages=("gcc-powerpc64le-linux-gnu", "libc6-dev-ppc64el-cross"),
        kernel_image="vmlinux",
        qemu_binary="qemu-system-ppc64",
        qemu_package="qemu-system-ppc",
        qemu_machine_args=("-machine", "pseries", "-cpu", "power9"),
        console="hvc0",
        # ELFv2: a probe on a symbol is armed at the local entry point, past the TOC setup; with the
        # function tracer (KPROBES_ON_FTRACE) on the ftrace call after "mflr r0", at +12
        entry_offsets=(0, 8, 12),
        arg_registers=tuple(f"r{i}" for i in range(3, 11)),
        # past the 32-byte frame header and the save area of the eight register arguments
        first_stack_arg=12,
        kconfig=(
            "CONFIG_PPC64=y",
            "CONFIG_PPC_BOOK3S_64=y",
            "CONFIG_CPU_LITTLE_ENDIAN=y",
            "CONFIG_PPC_PSERIES=y",
            # SLOF starts the kernel through Open Firmware's client interface: the kernel's prom_init
            # (off in tinyconfig; without it SLOF takes a program check before the kernel prints a line)
            "CONFIG_PPC_OF_BOOT_TRAMPOLINE=y",
            "CONFIG_HVC_CONSOLE=y",
            # ppc64le user space assumes POWER8's vector units: without them busybox dies of SIGILL
            # (a "facility unavailable" interrupt, 0xf40) before the first prompt
            "CONFIG_ALTIVEC=y",
            "CONFIG_VSX=y",
        ),
        probes=(
            # the seed's module has no powerpc strings (its other arches get no fetch args):
            # the same plain registers its arm64 and riscv strings use
            ("upstream", ("dfd=%r3", "filename=%r4", "flags=%r5", "mode=%r6")),
            ("abi", ("dfd=%r3:s32", "filename=+0(%r4):ustring", "flags=%r5:x32", "mode=%r6:x16")),
        ),
    ),
    "s390x": Arch(
        name="s390x",
        # the stock device type gives s390x no -machine
        lava_context=(("arch", "s390x"), ("extra_options", ("-machine s390-ccw-virtio",))),
        linux_arch="s390",
        uname_machine="s390x",
        cross_compile="s390x-linux-gnu-",
        toolchain_packages=("gcc-s390x-linux-gnu", "libc6-dev-s390x-cross"),
        kernel_image="arch/s390/boot/bzImage",
        qemu_binary="qemu-system-s390x",
        qemu_package="qemu-system-misc",
        qemu_machine_args=("-machine", "s390-ccw-virtio"),
        console="ttysclp0",
        arg_registers=("r2", "r3", "r4", "r5", "r6"),
        first_stack_arg=20,  # past the 160-byte register save area the caller reserves
        kconfig=(
            # QEMU's console on s390-ccw-virtio is the SCLP VT220 one, which Linux names ttysclp0
            "CONFIG_SCLP_VT220_TTY=y",
            "CONFIG_SCLP_VT220_CONSOLE=y",
            # no soft-lockup detector on s390 (lib/Kconfig.debug: depends on !S390); the stage
            # deadlines still stop a hung guest
            "CONFIG_SOFTLOCKUP_DETECTOR=n",
        ),
        kconfig_versioned=(
            # 6.1's tracepoints need SRCU, which only options such as PERF_EVENTS select, and nothing in
            # s390's tinyconfig does (kernel/tracepoint.c: "type defaults to 'int' in declaration of
            # 'DEFINE_SRCU'"); later kernels build SRCU always
            ("CONFIG_PERF_EVENTS=y", "", "6.3"),
        ),
        probes=(
            ("upstream", ("dfd=%r2", "filename=%r3", "flags=%r4", "mode=%r5")),
            ("abi", ("dfd=%r2:s32", "filename=+0(%r3):ustring", "flags=%r4:x32", "mode=%r5:x16")),
        ),
    ),
    "mips64el": Arch(
        name="mips64el",
        # none: the stock qemu device type lists mips64 (qemu-system-mips64, big-endian) but not
        # mips64el, and lava-dispatcher refuses a context arch the device type does not list
        lava_context=(),
        linux_arch="mips",
        uname_machine="mips64",
        cross_compile="mips64el-linux-gnuabi64-",
        toolchain_packages=("gcc-mips64el-linux-gnuabi64", "libc6-dev-mips64el-cross"),
        kernel_image="vmlinux",
        qemu_binary="qemu-system-mips64el",
        qemu_package="qemu-system-mips",
        qemu_machine_args=("-machine", "malta", "-cpu", "MIPS64R2-generic"),
        console="ttyS0",
        has_kasan=False,  # no HAVE_ARCH_KASAN on mips
        create_flags=0x100 | 0x200,  # arch/mips/include/uapi/asm/fcntl.h: O_CREAT 0x0100, O_TRUNC 0x0200
        # n64: a0-a7 are r4-r11 (the kernel's register table knows only the rN names)
        arg_registers=tuple(f"r{i}" for i in range(4, 12)),
        kconfig=(
            "CONFIG_MIPS_MALTA=y",
            "CONFIG_CPU_MIPS64_R2=y",
            "CONFIG_64BIT=y",
            "CONFIG_CPU_LITTLE_ENDIAN=y",
            "CONFIG_SERIAL_8250=y",
            "CONFIG_SERIAL_8250_CONSOLE=y",
            # tinyconfig turns floating point off: busybox (built with FP instructions) dies of SIGILL
            "CONFIG_MIPS_FP_SUPPORT=y",
            # the panic's reboot goes through the device tree's syscon-reboot node; without it the
            # guest halts and QEMU never exits
            "CONFIG_POWER_RESET=y",
            "CONFIG_POWER_RESET_SYSCON=y",
            "CONFIG_MFD_SYSCON=y",
        ),
        probes=(
            ("upstream", ("dfd=%r4", "filename=%r5", "flags=%r6", "mode=%r7")),
            ("abi", ("dfd=%r4:s32", "filename=+0(%r5):ustring", "flags=%r6:x32", "mode=%r7:x16")),
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
    "x86": "i386",
    "i686": "i386",
    "ppc64el": "ppc64le",
    "powerpc64le": "ppc64le",
    "s390": "s390x",
    "mips64": "mips64el",
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
