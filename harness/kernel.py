"""Find, configure and build a kernel tree out of tree (make O=...), cached per tree/arch/config."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import paths
from harness.arches import COMMON_KCONFIG, Arch
from harness.errors import KernelBuildError, UserError
from harness.proc import CommandLog, run_logged, tail

DEFAULT_KERNEL = "6.12"
KERNELS = ("6.12", "6.1")  # the distribution's linux-source-<version> packages
SOURCE_TARBALL = "/usr/src/linux-source-{version}.tar.xz"
UNPACKED_STAMP = ".kh-unpacked"
TOOLCHAINS = ("gcc", "llvm")
LLVM_TOOLS = ("clang", "ld.lld", "llvm-ar", "llvm-nm", "llvm-objcopy", "llvm-objdump", "llvm-readelf", "llvm-strip")
LLVM_PACKAGES = ("clang", "lld", "llvm")
# The last make of a build folder: BUILT_STAMP holds what it ran with (command, environment, tools,
# commit) and its mtime is when it ended; STARTED_STAMP's mtime is STAMP_MARGIN before it started.
BUILT_STAMP = ".kh-built"
STARTED_STAMP = ".kh-make-started"
# file times come from a coarse clock (a jiffy, up to 10 ms, behind): a source changed this long
# before make started counts as changed after it
STAMP_MARGIN = 0.2
MODULE_DIR = "kprobe-harness-module"  # the rendered module's builds, inside the kernel's build folder
# environment variables the kernel's make reads (by name, or by prefix when they end in _)
MAKE_ENV = ("KBUILD_", "KCONFIG_", "KCFLAGS", "KCPPFLAGS", "KAFLAGS", "KRUSTFLAGS", "KDOCFLAGS", "LOCALVERSION",
            "LLVM", "LLVM_IAS", "CROSS_COMPILE", "CC", "LD", "HOSTCC", "HOSTCXX", "HOSTCFLAGS", "HOSTLDFLAGS",
            "PAHOLE", "INSTALL_MOD_STRIP", "SOURCE_DATE_EPOCH")
_KCONFIG_LINE = re.compile(r'CONFIG_[A-Za-z0-9_]+=(?:y|m|n|-?[0-9]+|0x[0-9a-fA-F]+|"[^"\\]*")')


@dataclass(frozen=True)
class KernelTree:
    path: Path
    version: str  # e.g. 6.12.117
    source: str = ""  # identity of the package tarball it was unpacked from ("" for a user's tree)


@dataclass(frozen=True)
class KernelBuild:
    tree: KernelTree
    arch: Arch
    out: Path  # the O= folder
    kconfig: tuple[str, ...]
    cross_compile: str
    toolchain: str = "gcc"  # gcc (CROSS_COMPILE=) or llvm (the kernel's LLVM=1: clang, lld, llvm binutils)

    def make_argv(self, *targets: str, jobs: int | None = None) -> list[str]:
        argv = ["make", "-C", str(self.tree.path), f"O={self.out}", f"ARCH={self.arch.linux_arch}"]
        if self.toolchain == "llvm":
            argv.append("LLVM=1")  # clang picks its target from ARCH: no cross gcc needed
        elif self.cross_compile:
            argv.append(f"CROSS_COMPILE={self.cross_compile}")
        if jobs:
            argv.append(f"-j{jobs}")
        return argv + list(targets)

    @property
    def image(self) -> Path:
        return self.out / self.arch.kernel_image

    @property
    def config_key(self) -> str:
        """The configuration, apart from the tree's path: arch, version, toolchain and fragment."""
        major_minor = ".".join(self.tree.version.split(".")[:2])
        return f"{self.arch.name}-{major_minor}-{self.toolchain}-{paths.digest(*self.kconfig)}"


CCACHE_LINKS = Path("/usr/lib/ccache")  # Debian's ccache: a link named after each installed compiler
CCACHE_OFF = "KPROBE_HARNESS_CCACHE"  # =0 builds without ccache


def ccache_env(build: KernelBuild) -> dict[str, str]:
    """The environment that sends this build's compiler through ccache, when ccache has a link for it
    ({} otherwise): its links first on PATH, so make's command lines stay exactly as they were and no
    object is rebuilt for it; the cache itself lives in the harness's cache."""
    compiler = "clang" if build.toolchain == "llvm" else f"{build.cross_compile}gcc"
    if os.environ.get(CCACHE_OFF) == "0" or not shutil.which("ccache") or not (CCACHE_LINKS / compiler).exists():
        return {}
    # depend mode takes the headers from the compiler's own -MMD output (Kbuild always asks for it)
    # instead of running the preprocessor a second time on every miss
    return {"PATH": f"{CCACHE_LINKS}{os.pathsep}{os.environ.get('PATH', '')}",
            "CCACHE_DIR": str(paths.cache_root() / "ccache"), "CCACHE_DEPEND": "1"}


def jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def read_version(makefile_text: str) -> str:
    """VERSION.PATCHLEVEL.SUBLEVEL from a top-level kernel Makefile."""
    fields = {}
    for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL"):
        m = re.search(rf"^{key}\s*=\s*(\d+)\s*$", makefile_text, re.MULTILINE)
        if not m:
            return ""
        fields[key] = m.group(1)
    return f"{fields['VERSION']}.{fields['PATCHLEVEL']}.{fields['SUBLEVEL']}"


def enclosing_tree(start: Path) -> Path | None:
    """The top of the kernel source tree that start lies in, if any (its Makefile, Kconfig and
    scripts/kconfig/merge_config.sh are there)."""
    for folder in (start.resolve(), *start.resolve().parents):
        if all((folder / name).exists() for name in ("Makefile", "Kconfig", "scripts/kconfig/merge_config.sh")):
            return folder
    return None


def check_tree(path: Path) -> KernelTree:
    """Validate a kernel source tree given by the user; never writes into it."""
    path = path.expanduser().resolve()
    if not path.exists():
        raise UserError(f"kernel tree '{path}' does not exist; pass --tree with a kernel source folder")
    if not path.is_dir():
        raise UserError(f"kernel tree '{path}' is not a folder; pass --tree with the top folder of a kernel "
                        "source tree")
    makefile = path / "Makefile"
    needed = [makefile, path / "Kconfig", path / "scripts/kconfig/merge_config.sh", path / "kernel/trace"]
    missing = [str(p.relative_to(path)) for p in needed if not p.exists()]
    version = read_version(makefile.read_text(errors="replace")) if makefile.exists() else ""
    if missing or not version:
        raise UserError(
            f"'{path}' is not a kernel source tree (missing: {', '.join(missing) or 'VERSION in Makefile'}); "
            "pass --tree with the top folder of a Linux checkout"
        )
    if (path / ".config").exists() or (path / "include/config").exists():
        raise UserError(
            f"kernel tree '{path}' has an in-tree build (.config or include/config); out-of-tree builds "
            "(make O=...) need a clean source tree: run 'make mrproper' in it or pass a clean worktree"
        )
    return KernelTree(path, version)


def tarball_identity(tarball: Path) -> str:
    """What changes when the installed linux-source package changes: path, size and mtime."""
    st = tarball.stat()
    return f"{tarball}:{st.st_size}:{st.st_mtime_ns}"


def default_tree(version: str = DEFAULT_KERNEL, commands: CommandLog | None = None) -> KernelTree:
    """The distribution's linux-source-<version>, unpacked into the cache again whenever the
    installed tarball changes."""
    if version not in KERNELS:
        raise UserError(f"unknown --kernel '{version}': the distribution provides {', '.join(KERNELS)}; "
                        "pass --tree PATH for any other kernel")
    tarball = Path(SOURCE_TARBALL.format(version=version))
    if not tarball.exists():
        raise UserError(
            f"{tarball} is missing: run 'inv setup' (installs linux-source-{version}) or pass --tree PATH"
        )
    identity = tarball_identity(tarball)
    target = paths.trees_dir() / f"linux-source-{version}"
    stamp = target / UNPACKED_STAMP
    if not stamp.exists() or stamp.read_text().strip() != identity:
        with paths.locked(target, f"the unpacked linux-source-{version}"):
            if not stamp.exists() or stamp.read_text().strip() != identity:
                _unpack(tarball, target, version, identity, commands)
    tree = check_tree(target)
    return KernelTree(tree.path, tree.version, identity)


def _unpack(tarball: Path, target: Path, version: str, identity: str, commands: CommandLog | None) -> None:
    paths.trees_dir().mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=paths.trees_dir()))
    argv = ["tar", "-xf", str(tarball), "-C", str(staging)]
    if commands:
        commands.record(argv)
    try:
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
        if target.exists():
            shutil.rmtree(target)
        (staging / f"linux-source-{version}").rename(target)
        (target / UNPACKED_STAMP).write_text(identity + "\n")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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


def version_numbers(text: str) -> tuple[int, ...]:
    """The first x.y[.z] in text as numbers (() when there is none)."""
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g) for g in m.groups() if g is not None) if m else ()


def clang_version() -> str:
    done = subprocess.run(["clang", "--version"], capture_output=True, text=True, check=False)
    m = re.search(r"clang version (\d+\.\d+\.\d+)", done.stdout)
    return m.group(1) if m else ""


def min_llvm_version(tree: KernelTree, arch: Arch) -> str:
    """The oldest LLVM the tree supports for arch, from its own scripts/min-tool-version.sh."""
    script = tree.path / "scripts/min-tool-version.sh"
    if not script.exists():
        return ""
    done = subprocess.run(["sh", str(script), "llvm"], capture_output=True, text=True, check=False,
                          env={**os.environ, "SRCARCH": arch.linux_arch, "ARCH": arch.linux_arch})
    return done.stdout.strip() if done.returncode == 0 else ""


def check_llvm(tree: KernelTree, arch: Arch) -> str:
    """The installed clang's version when it is complete and new enough for the tree (else UserError)."""
    missing = [tool for tool in LLVM_TOOLS if not shutil.which(tool)]
    if missing:
        raise UserError(f"--toolchain llvm needs {', '.join(missing)}: run 'inv setup' "
                        f"(installs {' '.join(LLVM_PACKAGES)})")
    have, need = clang_version(), min_llvm_version(tree, arch)
    if need and version_numbers(have) < version_numbers(need):
        raise UserError(f"Linux {tree.version} needs LLVM {need} or newer for {arch.name} (its "
                        f"scripts/min-tool-version.sh says so); the installed clang is {have or 'of unknown version'}. "
                        "Install a newer clang, lld and llvm, or use --toolchain gcc")
    return have


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
        compiler = f"clang-{check_llvm(tree, arch)}"
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


def make_inputs(build: KernelBuild, argv: list[str]) -> str:
    """What a make of this folder depends on besides the files of the tree and the folder: its
    command line, the environment make reads, the tools (path, size, mtime) and the tree's commit."""
    lines = [shlex.join(argv)]
    lines += [f"{k}={v}" for k, v in sorted(os.environ.items())
              if k in MAKE_ENV or k.startswith(tuple(n for n in MAKE_ENV if n.endswith("_")))]
    tools = ("make", "clang", "ld.lld") if build.toolchain == "llvm" else \
        ("make", f"{build.cross_compile}gcc", f"{build.cross_compile}ld")
    for tool in tools:
        found = shutil.which(tool)
        real = os.path.realpath(found) if found else ""
        st = os.stat(real) if real else None
        lines.append(f"{tool} {real} {st.st_size if st else 0} {st.st_mtime_ns if st else 0}")
    if (build.tree.path / ".git").exists():  # the kernel's release string carries the commit
        head = subprocess.run(["git", "-C", str(build.tree.path), "rev-parse", "--verify", "-q", "HEAD"],
                              capture_output=True, text=True, check=False, env=dict(os.environ, GIT_OPTIONAL_LOCKS="0"))
        lines.append(f"HEAD {head.stdout.strip()}")
    return "\n".join(lines) + "\n"


def stamp_start(stamp: Path) -> None:
    """Mark the start of work that reads a tree: the stamp's mtime is STAMP_MARGIN before now, so a
    file changed just before, or while the work runs, is newer than it."""
    stamp.write_text("")
    before = time.time() - STAMP_MARGIN
    os.utime(stamp, (before, before))


def settle(last_write: float) -> None:
    """Wait until STAMP_MARGIN has passed since last_write (a time.time()): a tree the harness itself
    just wrote must not look changed after the next make started."""
    wait = STAMP_MARGIN - (time.time() - last_write)
    if wait > 0:
        time.sleep(wait + 0.01)


def newer_file(stamp: Path, root: Path, prune: tuple[Path, ...] = (), parts: int = 0) -> str:
    """The first file or folder under root modified after stamp was ('' when there is none). A
    new, removed or renamed file changes its folder's mtime, so it is seen too. The top folders
    are shared out between `parts` finds running at once (one per core by default)."""
    if root.stat().st_mtime_ns > stamp.stat().st_mtime_ns:
        return str(root)
    entries = sorted((p for p in root.iterdir() if p not in prune), key=lambda p: -p.lstat().st_nlink)
    groups: list[list[str]] = [[] for _ in range(max(1, parts or jobs()))]
    weights = [0] * len(groups)
    for entry in entries:  # a folder's link count grows with its subfolders: a rough size
        lightest = weights.index(min(weights))
        groups[lightest].append(str(entry))
        weights[lightest] += entry.lstat().st_nlink
    pruned: list[str] = []
    for path in prune:
        pruned += ["-o", "-path", str(path)] if pruned else ["-path", str(path)]
    expression = [*(("(", *pruned, ")", "-prune", "-o") if pruned else ()), "-newer", str(stamp), "-print", "-quit"]
    finds = [subprocess.Popen(["find", *group, *expression], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for group in groups if group]
    found = ""
    for proc in finds:
        out, err = proc.communicate()
        if proc.returncode != 0 and not found:
            found = f"{root} (find failed: {err.strip()[:200]})"
        found = found or out.strip()
    return found


def why_make(build: KernelBuild, inputs: str) -> str:
    """Why this folder needs make ('' when nothing it reads changed since its last make ended).

    As sound as make's own rule: a source newer than the start of the last make, or an output newer
    than its end, means work; so does another command, environment, tool or commit.
    """
    built, started = build.out / BUILT_STAMP, build.out / STARTED_STAMP
    if not built.exists() or not started.exists():
        return "no finished make recorded in this folder"
    if built.read_text(errors="replace") != inputs:
        return "the make command, its environment, the compiler or the commit changed"
    if not build.image.exists():
        return f"{build.image.name} is missing"
    changed = newer_file(started, build.tree.path, (build.tree.path / ".git",))
    if changed:
        return f"{changed} changed"
    changed = newer_file(built, build.out, (build.out / MODULE_DIR,))
    return f"{changed} changed" if changed else ""


def build_kernel(build: KernelBuild, log: Path, commands: CommandLog,
                 on_line: Callable[[str], None] | None = None) -> str:
    """Incremental make of the image and modules (Module.symvers for the test module), skipped when
    nothing it reads changed; returns why make ran ('' when it did not)."""
    argv = build.make_argv(build.arch.image_target, "modules", jobs=jobs())
    inputs = make_inputs(build, argv)
    why = why_make(build, inputs)
    if not why:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as f:  # the run's build log says why there is no make in it
            f.write(f"# make skipped: nothing changed in {build.tree.path} or {build.out} since the last make\n")
        return ""
    built, started = build.out / BUILT_STAMP, build.out / STARTED_STAMP
    built.unlink(missing_ok=True)
    (build.out / MODULE_DIR).mkdir(parents=True, exist_ok=True)  # made later, it would change the folder's mtime
    stamp_start(started)
    if run_logged(argv, log, commands, env_extra=ccache_env(build), on_line=on_line) != 0:
        raise KernelBuildError(f"kernel build failed; see {log}:\n{tail(log)}")
    if not build.image.exists():
        raise KernelBuildError(f"kernel build produced no {build.image}; see {log}")
    built.write_text(inputs)
    return why
