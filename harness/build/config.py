"""The kernel configuration: the fragment of an arch, version and toolchain, the build folder it
picks, and tinyconfig + merge_config.sh + olddefconfig in that folder."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

from harness.build import toolchain as toolchains
from harness.build.kbuild import KernelBuild
from harness.build.make import STARTED_STAMP
from harness.build.tree import KernelTree
from harness.errors import ConfigDropped, KernelBuildError, UserError
from harness.host import paths
from harness.host.proc import CommandLog, run_logged, tail
from harness.spec.arches import COMMON_KCONFIG, Arch
from harness.spec.kernels import TOOLCHAINS

_KCONFIG_LINE = re.compile(r'CONFIG_[A-Za-z0-9_]+=(?:y|m|n|-?[0-9]+|0x[0-9a-fA-F]+|"[^"\\]*")')


def kconfig_lines(arch: Arch, extra: tuple[str, ...] = (), version: str = "", toolchain: str = "gcc") -> tuple[str, ...]:
    """The full fragment for an arch, kernel version and toolchain: common, arch, then the user's lines
    (a later line sets the option an earlier one set: an arch can turn a common option off)."""
    for line in extra:
        if not _KCONFIG_LINE.fullmatch(line):
            raise UserError(
                f"invalid --kconfig-add '{line}': expected CONFIG_NAME=y|m|n|NUMBER|\"STRING\""
            )
    lines = (*COMMON_KCONFIG, *arch.kconfig_for(version, toolchain), *extra)
    last = {line.partition("=")[0]: i for i, line in enumerate(lines)}
    return tuple(line for i, line in enumerate(lines) if last[line.partition("=")[0]] == i)


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


def prepare_build(tree: KernelTree, arch: Arch, extra: tuple[str, ...] = (), toolchain: str = "gcc",
                  wanted: tuple[str, ...] = ()) -> KernelBuild:
    """Pick the build folder for a tree, arch, toolchain and config (wanted: lines asked for, kept only
    where the arch and version have them); check the toolchain is there."""
    lines = kconfig_lines(arch, extra, tree.version, toolchain)
    prefix = arch.cross_prefix()
    for tool in ("make", "flex", "bison", "bc"):
        if not shutil.which(tool):
            raise UserError(f"'{tool}' not found: run 'inv setup' to install the kernel build dependencies")
    if toolchain not in TOOLCHAINS:
        raise UserError(f"unknown toolchain '{toolchain}': choose {' or '.join(TOOLCHAINS)}")
    if toolchain == "llvm":
        compiler = f"clang-{toolchains.check_llvm(tree, arch)}"
        key = paths.digest(str(tree.path), tree.source, arch.name, compiler, *wanted, *lines)
        out = paths.builds_dir() / f"{arch.name}-{tree.version}-llvm-{key}"
        return KernelBuild(tree=tree, arch=arch, out=out, kconfig=lines, cross_compile="", toolchain="llvm",
                           kconfig_wanted=wanted)
    gcc = f"{prefix}gcc"
    if not shutil.which(gcc):
        raise UserError(
            f"compiler '{gcc}' for {arch.name} not found: run 'inv setup' "
            f"(installs {' '.join(arch.toolchain_packages) if prefix else 'gcc'})"
        )
    key = paths.digest(str(tree.path), tree.source, arch.name, prefix, *wanted, *lines)
    out = paths.builds_dir() / f"{arch.name}-{tree.version}-{key}"
    return KernelBuild(tree=tree, arch=arch, out=out, kconfig=lines, cross_compile=prefix, kconfig_wanted=wanted)


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
    fragment_text = fragment(build.kconfig_wanted + build.kconfig)  # the required lines win
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
    require_options(build, "configuration")
    stamp.write_text(fragment_text)
    return True


def changed_kconfig(build: KernelBuild) -> list[str]:
    """The tree's Kconfig files changed since the last make of the folder started ([] when it never ran)."""
    started = build.out / STARTED_STAMP
    if not started.exists():
        return []
    tree = build.tree.path
    done = subprocess.run(["find", str(tree), "-path", str(tree / ".git"), "-prune", "-o", "-name", "Kconfig*",
                           "-newer", str(started), "-print"], capture_output=True, text=True, check=False)
    return sorted(str(Path(p).relative_to(tree)) for p in done.stdout.split())


def check_sync(build: KernelBuild, log: Path, commands: CommandLog) -> None:
    """Before a make, when the tree's Kconfig changed since the last one: let make's own config sync
    run on a copy of .config in a scratch folder, and require every option there (ConfigDropped). The
    build folder is left as it was, so a refused change costs no rebuild, now or later."""
    changed = changed_kconfig(build)
    if not changed or not (build.out / ".config").exists():
        return
    scratch = build.out.with_name(build.out.name + ".kh-sync")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        shutil.copy2(build.out / ".config", scratch / ".config")
        trial = replace(build, out=scratch)
        if run_logged(trial.make_argv("syncconfig"), log, commands) != 0:
            raise KernelBuildError(f"make syncconfig failed after a Kconfig change; see {log}:\n{tail(log)}")
        require_options(trial, f"Kconfig change in {', '.join(changed[:5])}", build.out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def require_options(build: KernelBuild, when: str, folder: Path | None = None) -> None:
    """Every requested option is in the build folder's .config as asked (ConfigDropped otherwise,
    naming each option, its value and where the tree defines it; folder: the one to name)."""
    config = build.out / ".config"
    missing = missing_options(build.kconfig, config.read_text() if config.exists() else "")
    if missing:
        where = [definition(build.tree.path, line.partition("=")[0]) for line in missing]
        raise ConfigDropped(
            f"these options the run needs are not in the kernel's .config after the {when}: {', '.join(missing)}. "
            + " ".join(where)
            + f" A Kconfig change in the tree (a new dependency, a renamed or removed symbol) drops them; with "
            f"--kconfig-add, add their dependencies. .config is in {folder or build.out}"
        )


def definition(tree: Path, option: str) -> str:
    """Where the tree's Kconfig defines an option and the rules under it (or that nothing defines it)."""
    name = option.removeprefix("CONFIG_")
    done = subprocess.run(["grep", "-rn", "--include=Kconfig*", "-E", f"^(menu)?config {name}$", str(tree)],
                          capture_output=True, text=True, check=False)
    if not done.stdout.strip():
        return f"{option} is defined in no Kconfig file of {tree}."
    path, number, _ = done.stdout.splitlines()[0].split(":", 2)
    rules = []
    for text in Path(path).read_text(errors="replace").splitlines()[int(number):]:
        if not text.strip() or text.strip() in ("help", "---help---") or not text[:1].isspace():
            break
        if text.strip().startswith(("depends on", "select", "bool", "tristate", "default")):
            rules.append(text.strip())
    return f"{option} is defined at {Path(path).relative_to(tree)}:{number}" + (f" ({'; '.join(rules)})." if rules else ".")
