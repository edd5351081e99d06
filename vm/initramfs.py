"""Static busybox per arch (cached) and the initramfs that carries it, an init and the module."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from harness.build.kbuild import KernelBuild, jobs
from harness.errors import SetupError, UserError
from harness.host import integrity, paths
from harness.host.proc import CommandLog, run_logged, tail
from harness.spec.arches import Arch

READY_MARKER = "KH-GUEST-READY"
GUEST_MODULE_DIR = "/kh"

INIT_SCRIPT = f"""#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tracefs tracefs /sys/kernel/tracing || echo "KH-NO-TRACEFS"
mount -t debugfs debugfs /sys/kernel/debug || echo "KH-NO-DEBUGFS"
echo "{READY_MARKER} $(uname -r)"
exec /bin/sh
"""

# The full busybox (for a shell the user drives, LAVA's test runner and the kernel's ftrace cases):
# defconfig, static, and no `tc` (it does not build on new headers). Its code starts a segment of its
# own (-z separate-code, the default on x86 only): add_remove_uprobe.tc puts a uprobe at the start
# of the shell's first executable mapping and expects `sh` to run it, and where the ELF header shares
# that segment (arm64, arm, riscv64) the probe sits on bytes nothing executes.
BUSYBOX_CONFIG = {"CONFIG_STATIC": "y", "CONFIG_TC": "n", "CONFIG_EXTRA_LDFLAGS": '"-Wl,-z,separate-code"'}
# The session's busybox: allnoconfig plus the applets init and vm/guest.py run (ash with its echo,
# test and printf builtins), built in about 10 s instead of 30.
SESSION_APPLETS = ("CAT", "DMESG", "ECHO", "INSMOD", "MOUNT", "RMMOD", "SED", "SLEEP", "STTY", "TAIL", "TEST", "UNAME",
                   "WC")  # sleep: the sanitizer kernel's wait before kmemleak's scan
SESSION_CONFIG = {f"CONFIG_{name}": "y" for name in (
    "STATIC", "BUSYBOX", "FEATURE_INSTALLER", "SH_IS_ASH", "ASH", "ASH_ECHO", "ASH_TEST", "ASH_PRINTF",
    "FEATURE_FANCY_TAIL", "MODPROBE_SMALL", *SESSION_APPLETS)}


def busybox_tarball() -> Path:
    """The busybox source tarball that `inv setup` downloads."""
    found = sorted((paths.sources_dir() / "busybox").glob("busybox_*.orig.tar.*"))
    if not found:
        raise UserError(
            f"no busybox source under {paths.sources_dir() / 'busybox'}: run 'inv setup' "
            "(downloads the distribution's busybox source with apt-get source)"
        )
    return found[-1]


def busybox_version(tarball: Path) -> str:
    m = re.match(r"busybox_([^.]+\.[^.]+\.[^.]+?)\.orig", tarball.name)
    return m.group(1) if m else tarball.name


def edit_busybox_config(text: str, changes: dict[str, str]) -> str:
    """Set options in a busybox .config, whether they were set, unset or absent."""
    lines = []
    seen = set()
    for line in text.splitlines():
        m = re.fullmatch(r"(?:# )?(CONFIG_[A-Za-z0-9_]+)(?:=.*| is not set)", line)
        if m and m.group(1) in changes:
            name = m.group(1)
            seen.add(name)
            value = changes[name]
            line = f"# {name} is not set" if value == "n" else f"{name}={value}"
        lines.append(line)
    for name, value in changes.items():
        if name not in seen:
            lines.append(f"# {name} is not set" if value == "n" else f"{name}={value}")
    return "\n".join(lines) + "\n"


def build_busybox(arch: Arch, log: Path, commands: CommandLog, full: bool = False) -> Path:
    """A static busybox for arch, built once per arch, busybox version and kind: the session's few
    applets, or (full) defconfig's. Two first runs never see each other's half-written binary: one
    builds under the folder's lock, and the binary appears by rename."""
    tarball = busybox_tarball()
    version = busybox_version(tarball)
    config = BUSYBOX_CONFIG if full else SESSION_CONFIG
    key = paths.digest(*(f"{name}={value}" for name, value in sorted(config.items())), length=8)
    out = paths.busybox_dir() / f"{arch.name}-{version}-{'full' if full else 'session'}-{key}"
    binary = out / "busybox"
    if _trusted(binary):
        return binary
    prefix = arch.cross_prefix()
    if not shutil.which(f"{prefix}gcc"):
        raise UserError(f"compiler '{prefix}gcc' not found: run 'inv setup'")
    paths.busybox_dir().mkdir(parents=True, exist_ok=True)
    with paths.locked(out, f"the {arch.name} busybox build"):
        if not _trusted(binary):
            binary.unlink(missing_ok=True)
            _build_busybox(arch, tarball, out, config, full, log, commands)
            (out / DIGEST).write_text(integrity.file_digest(binary) + "\n")
    return binary


DIGEST = "busybox.sha256"  # beside the binary: its digest when it was built


def _trusted(binary: Path) -> bool:
    """The binary is there and is the one that was built (a binary from before digests existed is
    taken as it is, and its digest recorded)."""
    if not binary.exists():
        return False
    recorded, digest = binary.with_name(DIGEST), integrity.file_digest(binary)
    if not recorded.exists():
        recorded.write_text(digest + "\n")
    return recorded.read_text().strip() == digest


def _build_busybox(arch: Arch, tarball: Path, out: Path, changes: dict[str, str], full: bool, log: Path,
                   commands: CommandLog) -> None:
    prefix = arch.cross_prefix()
    work = Path(tempfile.mkdtemp(prefix=f".{arch.name}-", dir=paths.busybox_dir()))
    try:
        with tarfile.open(tarball) as tar:
            tar.extractall(work, filter="data")
        src = next(p for p in work.iterdir() if p.is_dir())
        make = ["make", "-C", str(src)] + ([f"CROSS_COMPILE={prefix}"] if prefix else [])
        if run_logged(make + ["defconfig" if full else "allnoconfig"], log, commands) != 0:
            raise SetupError(f"busybox configuration failed; see {log}:\n{tail(log)}")
        config = src / ".config"
        config.write_text(edit_busybox_config(config.read_text(), changes))
        # the options the new ones bring into view take their defaults
        if not full and run_logged(["sh", "-c", f"yes '' | {shlex.join(make)} oldconfig"], log, commands) != 0:
            raise SetupError(f"busybox oldconfig failed; see {log}:\n{tail(log)}")
        if run_logged(make + [f"-j{jobs()}", "busybox"], log, commands) != 0:
            raise SetupError(
                f"busybox build for {arch.name} failed; see {log}:\n{tail(log)}\n"
                f"(a static link needs {' '.join(arch.toolchain_packages)}: run 'inv setup')"
            )
        out.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".busybox-", dir=out)
        os.close(fd)
        staged = Path(name)
        shutil.copy2(src / "busybox", staged)
        staged.rename(out / "busybox")
    finally:
        shutil.rmtree(work, ignore_errors=True)


GuestFile = tuple[str, Path, int]  # a file the guest gets: its path there, the host file and its mode


def cpio_list(busybox: Path, init: Path, modules: list[Path], files: Sequence[GuestFile] = (),
              real_sh: bool = False) -> str:
    """The gen_init_cpio description of the initramfs (files: more files, at their guest paths, with
    their folders; real_sh: /bin/sh a copy of busybox, not a link, for programs that look for a shell
    binary by name)."""
    entries = [
        "dir /dev 0755 0 0",
        "nod /dev/console 0600 0 0 c 5 1",
        "nod /dev/null 0666 0 0 c 1 3",
    ]
    for d in ("/bin", "/sbin", "/usr", "/usr/bin", "/usr/sbin", "/proc", "/sys", "/root", "/etc", GUEST_MODULE_DIR):
        entries.append(f"dir {d} 0755 0 0")
    entries.append("dir /tmp 1777 0 0")
    entries.append(f"file /bin/busybox {busybox} 0755 0 0")
    entries.append(f"file /bin/sh {busybox} 0755 0 0" if real_sh else "slink /bin/sh busybox 0777 0 0")
    entries.append(f"file /init {init} 0755 0 0")
    for module in modules:
        entries.append(f"file {GUEST_MODULE_DIR}/{module.name} {module} 0644 0 0")
    made = {GUEST_MODULE_DIR}
    for guest, host, mode in files:
        parent = PurePosixPath(guest).parent
        for folder in reversed([parent, *parent.parents]):
            if str(folder) not in made and str(folder) != "/":
                made.add(str(folder))
                entries.append(f"dir {folder} 0755 0 0")
        entries.append(f"file {guest} {host} {mode:04o} 0 0")
    return "\n".join(entries) + "\n"


def build_initramfs(
    build: KernelBuild, busybox: Path, modules: list[Path], out_dir: Path, log: Path, commands: CommandLog,
    files: Sequence[GuestFile] = (), real_sh: bool = False,
) -> Path:
    """Pack busybox, init, modules and files with the kernel's own usr/gen_init_cpio."""
    gen = build.out / "usr/gen_init_cpio"
    if not gen.exists() and (run_logged(build.make_argv("usr/gen_init_cpio"), log, commands) != 0
                             or not gen.exists()):
        raise SetupError(f"could not build usr/gen_init_cpio in {build.out}; see {log}")
    out_dir.mkdir(parents=True, exist_ok=True)
    init = out_dir / "init"
    init.write_text(INIT_SCRIPT)
    listing = out_dir / "initramfs.list"
    listing.write_text(cpio_list(busybox, init, modules, files, real_sh))
    image = out_dir / "initramfs.cpio"
    argv = [str(gen), str(listing)]
    commands.record(argv)
    with open(image, "wb") as f:
        result = subprocess.run(argv, stdout=f, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise SetupError(f"gen_init_cpio failed: {result.stderr.decode(errors='replace')}")
    return image
