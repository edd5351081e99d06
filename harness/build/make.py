"""make of a configured build folder, skipped when nothing it reads changed since its last make
(the freshness stamps of a build folder)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from harness.build.kbuild import MODULE_DIR, KernelBuild, ccache_env, jobs
from harness.errors import KernelBuildError
from harness.host import integrity, paths
from harness.host.proc import CommandLog, run_logged, tail

# The last make of a build folder: BUILT_STAMP holds what it ran with (command, environment, tools,
# commit) and its mtime is when it ended; STARTED_STAMP's mtime is STAMP_MARGIN before it started.
BUILT_STAMP = ".kh-built"
STARTED_STAMP = ".kh-make-started"
# file times come from a coarse clock (a jiffy, up to 10 ms, behind): a source changed this long
# before make started counts as changed after it
STAMP_MARGIN = 0.2
# environment variables the kernel's make reads (by name, or by prefix when they end in _)
MAKE_ENV = ("KBUILD_", "KCONFIG_", "KCFLAGS", "KCPPFLAGS", "KAFLAGS", "KRUSTFLAGS", "KDOCFLAGS", "LOCALVERSION",
            "LLVM", "LLVM_IAS", "CROSS_COMPILE", "CC", "LD", "HOSTCC", "HOSTCXX", "HOSTCFLAGS", "HOSTLDFLAGS",
            "PAHOLE", "INSTALL_MOD_STRIP", "SOURCE_DATE_EPOCH")


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
                 on_line: Callable[[str], None] | None = None,
                 before_make: Callable[[], None] | None = None) -> str:
    """Incremental make of the image and modules (Module.symvers for the test module), skipped when
    nothing it reads changed; returns why make ran ('' when it did not). before_make runs first when
    make will run, while the folder still holds the last make's stamps (it may refuse by raising)."""
    argv = build.make_argv(build.arch.image_target, "modules", jobs=jobs())
    inputs = make_inputs(build, argv)
    why = why_make(build, inputs) or _unsealed(build)
    if not why:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as f:  # the run's build log says why there is no make in it
            f.write(f"# make skipped: nothing changed in {build.tree.path} or {build.out} since the last make\n")
        return ""
    if before_make is not None:
        before_make()
    built, started = build.out / BUILT_STAMP, build.out / STARTED_STAMP
    built.unlink(missing_ok=True)
    paths.unshare(build.image)  # runs boot hard links to it: make must write a new file, not through them
    (build.out / MODULE_DIR).mkdir(parents=True, exist_ok=True)  # made later, it would change the folder's mtime
    stamp_start(started)
    if run_logged(argv, log, commands, env_extra=ccache_env(build), on_line=on_line) != 0:
        raise KernelBuildError(f"kernel build failed; see {log}:\n{tail(log)}")
    if not build.image.exists():
        raise KernelBuildError(f"kernel build produced no {build.image}; see {log}")
    built.write_text(inputs)
    integrity.seal(build.out, seal_record(build), integrity.file_digest(build.image))
    return why


def after_make(build: KernelBuild) -> None:
    """A make of one more target in the folder after its last make (the tree's own module's .i)
    counts as part of that make: Kbuild rewrites the folder's own files (its `source` link) on every
    make, which would otherwise read as a change next time, and as a restore."""
    built, record = build.out / BUILT_STAMP, seal_record(build)
    if built.exists():
        os.utime(built)
        integrity.seal(build.out, record, integrity.sealed_digest(record) or integrity.file_digest(build.image))


def seal_record(build: KernelBuild) -> Path:
    """Beside the build folder: its change time and its image's digest when its last make ended."""
    return build.out.with_name(build.out.name + ".kh-seal")


def _unsealed(build: KernelBuild) -> str:
    """Why a build folder that needs no make must make anyway: it was restored from elsewhere (a CI
    cache) and its image is not the one its last make here produced ('' when it is, or when it
    was never restored; a folder from before seals existed is sealed as it is)."""
    record = seal_record(build)
    if not integrity.restored(build.out, record):
        return ""
    digest, recorded = integrity.file_digest(build.image), integrity.sealed_digest(record)
    if recorded and digest != recorded:
        return f"the build folder was restored and {build.image.name} is not the image its last make produced"
    integrity.seal(build.out, record, digest)
    return ""
