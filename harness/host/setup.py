"""Idempotent install of what the harness needs on a Debian-like host (apt packages, sources)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

from harness.errors import SetupError
from harness.host import paths
from harness.host.proc import CommandLog
from harness.spec.arches import ARCHES
from harness.spec.kernels import KERNELS, LLVM_PACKAGES

BUILD_PACKAGES = (
    "make", "gcc", "libc6-dev", "flex", "bison", "bc", "libelf-dev", "libssl-dev",
    "cpio", "kmod", "xz-utils", "bzip2", "dpkg-dev", "rsync", "patch", "git",
    "ccache",  # kernel and module builds compile through it when its compiler links are there
    "lava-dispatcher",  # inv lava --run: lava-run runs a LAVA job here, no server
    *LLVM_PACKAGES,  # --toolchain llvm: clang, lld and the llvm binutils the kernel's LLVM=1 runs
)
KERNEL_SOURCE_PACKAGES = tuple(f"linux-source-{v}" for v in KERNELS)
DEB_SRC_FILE = Path("/etc/apt/sources.list.d/kprobe-harness-src.sources")


def wanted_packages(host_machine: str | None = None) -> tuple[str, ...]:
    """Every Debian package the harness needs for all arches in the table."""
    host = host_machine or platform.machine()
    wanted = list(BUILD_PACKAGES) + list(KERNEL_SOURCE_PACKAGES)
    for arch in ARCHES.values():
        wanted.append(arch.qemu_package)
        wanted.extend(arch.extra_packages)
        if arch.cross_prefix(host):
            wanted.extend(arch.toolchain_packages)
    return tuple(dict.fromkeys(wanted))


def deb_src_entry(codename: str) -> str:
    return (
        "Types: deb-src\n"
        "URIs: http://deb.debian.org/debian\n"
        f"Suites: {codename}\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )


def _os_codename() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_CODENAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return ""


def _has_deb_src() -> bool:
    candidates = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        if any(line.strip().startswith("deb-src") or "Types: deb-src" in line or
               (line.startswith("Types:") and "deb-src" in line) for line in text.splitlines()):
            return True
    return False


def _installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return result.returncode == 0 and "install ok installed" in result.stdout


def _sudo() -> list[str]:
    if os.geteuid() == 0:
        return []
    if not shutil.which("sudo"):
        raise SetupError("not root and no sudo: run 'inv setup' as root")
    return ["sudo"]


def _run(argv: list[str], commands: CommandLog, cwd: Path | None = None) -> None:
    commands.record(argv, cwd)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    result = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise SetupError(f"'{' '.join(argv)}' failed with status {result.returncode}; fix the error above and run 'inv setup' again")


def setup(commands: CommandLog) -> list[str]:
    """Install missing packages and fetch the busybox source; return what was done."""
    if not shutil.which("apt-get") or not shutil.which("dpkg-query"):
        raise SetupError(
            "automatic setup needs a Debian-like system (apt-get); install these by hand: "
            + " ".join(wanted_packages())
        )
    done: list[str] = []
    sudo = _sudo()
    need_update = False
    if not _has_deb_src():
        codename = _os_codename()
        if not codename:
            raise SetupError("cannot tell the distribution's codename; add a deb-src line for main by hand")
        commands.record(["tee", str(DEB_SRC_FILE)])
        subprocess.run(sudo + ["tee", str(DEB_SRC_FILE)], input=deb_src_entry(codename), text=True,
                       stdout=subprocess.DEVNULL, check=True)
        done.append(f"added {DEB_SRC_FILE}")
        need_update = True
    missing = [p for p in wanted_packages() if not _installed(p)]
    if missing or need_update:
        _run(sudo + ["apt-get", "update"], commands)
    if missing:
        _run(sudo + ["apt-get", "install", "-y", "--no-install-recommends", *missing], commands)
        done.append("installed " + " ".join(missing))
    bb_dir = paths.sources_dir() / "busybox"
    if not list(bb_dir.glob("busybox_*.orig.tar.*")):
        bb_dir.mkdir(parents=True, exist_ok=True)
        _run(["apt-get", "source", "--download-only", "busybox"], commands, cwd=bb_dir)
        done.append(f"downloaded busybox source to {bb_dir}")
    templates = paths.lava_device_types()
    if not (templates / "qemu.jinja2").exists():
        # the stock device-type templates ship only in lava-server: unpack them, install no server
        folder = paths.sources_dir() / "lava-server"
        folder.mkdir(parents=True, exist_ok=True)
        _run(["apt-get", "download", "lava-server"], commands, cwd=folder)
        debs = sorted(folder.glob("lava-server_*.deb"))
        if not debs:
            raise SetupError(f"apt-get download lava-server left no package in {folder}")
        _run(["dpkg-deb", "-x", str(debs[-1]), str(folder)], commands)
        done.append(f"unpacked the LAVA device-type templates to {templates}")
    return done
