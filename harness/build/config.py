"""The kernel configuration: the fragment of an arch, version and toolchain, the build folder it
picks, and tinyconfig + merge_config.sh + olddefconfig in that folder."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from harness.build import toolchain as toolchains
from harness.build.kbuild import KernelBuild
from harness.build.tree import KernelTree
from harness.errors import KernelBuildError, UserError
from harness.host import paths
from harness.host.proc import CommandLog, run_logged, tail
from harness.spec.arches import COMMON_KCONFIG, Arch
from harness.spec.kernels import TOOLCHAINS

_KCONFIG_LINE = re.compile(r'CONFIG_[A-Za-z0-9_]+=(?:y|m|n|-?[0-9]+|0x[0-9a-fA-F]+|"[^"\\]*")')


def kconfig_lines(arch: Arch, extra: tuple[str, ...] = (), version: str = "", toolchain: str = "gcc") -> tuple[str, ...]:
    """The full fragment for an arch, kernel version and toolchain: common, arch, then the user's lines."""
    for line in extra:
        if not _KCONFIG_LINE.fullmatch(line):
            raise UserError(
                f"invalid --kconfig-add '{line}': expected CONFIG_NAME=y|m|n|NUMBER|\"STRING\""
            )
    overridden = {line.partition("=")[0] for line in extra}
    base = tuple(line for line in COMMON_KCONFIG + arch.kconfig_for(version, toolchain)
                 if line.partition("=")[0] not in overridden)
    return base + tuple(extra)


def parse_config(text: str) -> dict[str, str]:
    """A .config as name -> value, with '# CONFIG_X is not set' as 'n'."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        m = re.fullmatch(r"(CONFIG_[A-Za-z0-9_]+)=(.*)", line)
        if m:
            values[m.group(1)] = m.group(2)
            continue
        m = re.fullmatch(r"# (CONFIG_[A-Za-z0-9_]+) is not set", line)
        if m:
            values[m.group(1)] = "n"
    return values


def missing_options(requested: tuple[str, ...], config_text: str) -> list[str]:
    """Requested lines whose value did not land in .config (last request of a name wins)."""
    have = parse_config(config_text)
    wanted: dict[str, str] = {}
    for line in requested:
        name, _, value = line.partition("=")
        wanted[name] = value
    missing = []
    for name, value in wanted.items():
        got = have.get(name, "n")
        if got != value:
            missing.append(f"{name}={value} (got {got if name in have else 'absent'})")
    return missing



def prepare_build(tree: KernelTree, arch: Arch, extra: tuple[str, ...] = (), toolchain: str = "gcc") -> KernelBuild:
    """Pick the build folder for a tree, arch, toolchain and config; check the toolchain is there."""
    lines = kconfig_lines(arch, extra, tree.version, toolchain)
    prefix = arch.cross_prefix()
    for tool in ("make", "flex", "bison", "bc"):
        if not shutil.which(tool):
            raise UserError(f"'{tool}' not found: run 'inv setup' to install the kernel build dependencies")
    if toolchain not in TOOLCHAINS:
        raise UserError(f"unknown toolchain '{toolchain}': choose {' or '.join(TOOLCHAINS)}")
    if toolchain == "llvm":
        compiler = f"clang-{toolchains.check_llvm(tree, arch)}"
        key = paths.digest(str(tree.path), tree.source, arch.name, compiler, *lines)
        out = paths.builds_dir() / f"{arch.name}-{tree.version}-llvm-{key}"
        return KernelBuild(tree=tree, arch=arch, out=out, kconfig=lines, cross_compile="", toolchain="llvm")
    gcc = f"{prefix}gcc"
    if not shutil.which(gcc):
        raise UserError(
            f"compiler '{gcc}' for {arch.name} not found: run 'inv setup' "
            f"(installs {' '.join(arch.toolchain_packages) if prefix else 'gcc'})"
        )
    key = paths.digest(str(tree.path), tree.source, arch.name, prefix, *lines)
    out = paths.builds_dir() / f"{arch.name}-{tree.version}-{key}"
    return KernelBuild(tree=tree, arch=arch, out=out, kconfig=lines, cross_compile=prefix)


def fragment(lines: tuple[str, ...]) -> str:
    """A config fragment; CONFIG_X=n is written the way Kconfig writes it."""
    out = []
    for line in lines:
        name, _, value = line.partition("=")
        out.append(f"# {name} is not set" if value == "n" else line)
    return "\n".join(out) + "\n"


def configure(build: KernelBuild, log: Path, commands: CommandLog) -> bool:
    """tinyconfig + fragment via merge_config.sh + olddefconfig; True when it had to run."""
    stamp = build.out / ".kh-config"
    fragment_text = fragment(build.kconfig)
    if stamp.exists() and stamp.read_text() == fragment_text and (build.out / ".config").exists():
        return False
    build.out.mkdir(parents=True, exist_ok=True)
    fragment_path = build.out / "kprobe-harness.config"
    fragment_path.write_text(fragment_text)
    merge = str(build.tree.path / "scripts/kconfig/merge_config.sh")
    steps = [
        (build.make_argv("tinyconfig"), None),
        (["sh", merge, "-m", "-O", str(build.out), str(build.out / ".config"), str(fragment_path)], build.out),
        (build.make_argv("olddefconfig"), None),
    ]
    for argv, cwd in steps:
        if run_logged(argv, log, commands, cwd=cwd) != 0:
            raise KernelBuildError(f"kernel configuration failed; see {log}:\n{tail(log)}")
    missing = missing_options(build.kconfig, (build.out / ".config").read_text())
    if missing:
        raise KernelBuildError(
            "these requested options did not land in .config (a dependency is missing, or the "
            f"symbol does not exist in {build.tree.version}): {', '.join(missing)}. "
            f"Add their dependencies with --kconfig-add; .config is in {build.out}"
        )
    stamp.write_text(fragment_text)
    return True

