"""Everything a boot needs, built and cached (kernel, module, busybox, initramfs), and a booted guest
at its shell prompt."""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from harness.build import config as kconfig
from harness.build import intree, kbuild, make, module, progress, selftests
from harness.errors import BuildError
from harness.host import paths
from harness.host.proc import CommandLog, Echo, run_logged
from harness.results.run import RunResult
from harness.runs.options import CheckOptions
from harness.runs.stages import Stages
from harness.spec import render
from harness.spec.arches import Arch
from harness.spec.render import ProbeSpec
from harness.verdict.observations import MODULE_ONLY, SuitePlan
from vm import initramfs, qemu
from vm.console import Console, Stage, Transcript

BOOT_SECONDS = 120.0


def _save_artifacts(run_dir: Path, build: kbuild.KernelBuild, files: dict[str, str]) -> None:
    render.write_files(files, run_dir / "module")
    if (build.out / ".config").exists():
        shutil.copy2(build.out / ".config", run_dir / "kernel.config")


def _build_with_progress(opts: CheckOptions, build: kbuild.KernelBuild, log: Path, commands: CommandLog,
                         echo: Echo) -> None:
    """The kernel build, its progress shown against the last full build of this configuration."""
    full = not build.image.exists()
    expected = progress.expected_steps(build.config_key) if full else None
    shown = progress.BuildProgress(f"{opts.label} kernel build", expected, echo, stream=opts.verbose)
    try:
        why = make.build_kernel(build, log, commands, shown.line,
                                before_make=lambda: kconfig.check_sync(build, log, commands))
    finally:
        shown.close()
    echo(f"  make: {why}" if why else "  make skipped: nothing in the tree, the build folder, the command, "
         "the environment or the compiler changed since the last make")
    if full and shown.steps:
        progress.record_steps(build.config_key, shown.steps)


@dataclass(frozen=True)
class Built:
    """Everything a boot needs, built and cached."""

    spec: ProbeSpec
    build: kbuild.KernelBuild
    ko: Path
    initrd: Path
    image: Path
    append: tuple[str, ...] = ()  # the kernel command line's additions

    @property
    def module_path(self) -> str:
        return f"{initramfs.GUEST_MODULE_DIR}/{self.ko.name}"


def build_everything(opts: CheckOptions, spec: ProbeSpec, build: kbuild.KernelBuild, run_dir: Path,
                     commands: CommandLog, stages: Stages, guest_files: tuple[Path, ...] = (),
                     full_busybox: bool = False, plan: SuitePlan = MODULE_ONLY) -> Built:
    """Kernel config and build, module, busybox (the session's applets, or all of defconfig's for
    a shell a person or LAVA drives, or for the tree's ftrace cases) and initramfs with guest_files
    beside the module and the plan's ftrace cases (KernelBuildError/BuildError propagate)."""
    log = run_dir / "build.log"
    tree_files = selftests.guest_files(build.tree.path, plan.ftrace_cases) if plan.ftrace_cases else ()
    full_busybox = full_busybox or bool(tree_files)  # the framework needs job control and ~40 applets
    # busybox needs nothing from the kernel: it builds beside it, on the cores the kernel's serial
    # steps (linking, kallsyms, modpost) leave idle
    with (ThreadPoolExecutor(max_workers=1) as pool,
          paths.in_use(build.tree.path),
          paths.locked(build.out, "this kernel build folder", stages.echo)):
        busybox_built = pool.submit(initramfs.build_busybox, opts.arch, run_dir / "busybox.log", commands,
                                    full_busybox)
        with stages.stage("kernel config"):
            kconfig.configure(build, log, commands)
        with stages.stage("kernel build", f"make -j{kbuild.jobs()}, log {log}"):
            _build_with_progress(opts, build, log, commands, stages.echo)
            # make syncs .config with the tree's Kconfig on its own: what it dropped must not go unseen
            kconfig.require_options(build, "kernel build")
        # the first run on a host finds out whether KVM works by booting this kernel with it: that
        # boot overlaps the module and busybox builds
        with _kvm_probe_beside(opts.arch, build.image):
            if opts.module == intree.IN_TREE:
                _save_artifacts(run_dir, build, {intree.SOURCE.rsplit("/", 1)[-1]:
                                                 intree.module_source(build.tree.path).read_text(errors="replace")})
                ko = build.out / intree.BUILT  # Kbuild built it with the kernel (CONFIG_KPROBE_EVENT_GEN_TEST=m)
                if not ko.exists():
                    raise BuildError(f"the tree's own module {intree.SOURCE} was not built ({ko} is missing); "
                                     f"see {log}")
                spec = _asked_for(build, spec, run_dir, log, commands)
            else:
                _save_artifacts(run_dir, build, render.render_files(spec))
                with stages.stage("module build"):
                    ko = module.build_module(build, spec, log, commands)
            with stages.stage("initramfs"):
                if tree_files:
                    tree_files += selftests.installed_modules(build, run_dir / "modules", log, commands)
                busybox = busybox_built.result()
                initrd = initramfs.build_initramfs(build, busybox, [ko, *guest_files], run_dir, log, commands,
                                                   tree_files, real_sh=bool(tree_files))
            # boot a private link (a copy where the file system has none): a make in this folder first
            # unlinks an image that has links (harness.build.make), so a concurrent run may rebuild
            # the folder while this one boots
            image = run_dir / build.image.name
            paths.link_or_copy(build.image, image)
    return Built(spec, build, ko, initrd, image, plan.boot_args)


def _asked_for(build: kbuild.KernelBuild, spec: ProbeSpec, run_dir: Path, log: Path, commands: CommandLog) -> ProbeSpec:
    """The events the tree's module asks for, read from its preprocessed source (kept beside its
    source in the artifacts): the checks compare the kernel's registration with these."""
    if run_logged(build.make_argv(intree.PREPROCESSED), log, commands) != 0:
        raise BuildError(f"could not preprocess the tree's module ({intree.PREPROCESSED}); see {log}")
    make.after_make(build)
    text = (build.out / intree.PREPROCESSED).read_text(errors="replace")
    (run_dir / "module").mkdir(parents=True, exist_ok=True)
    (run_dir / "module" / Path(intree.PREPROCESSED).name).write_text(text)
    return intree.compiled_spec(text, spec)


@contextmanager
def _kvm_probe_beside(arch: Arch, image: Path) -> Iterator[None]:
    """Run qemu.pick_accel in a thread while the block runs (an error shows again when the boot asks)."""

    def probe() -> None:
        with suppress(Exception):
            qemu.pick_accel(arch, image)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()


@contextmanager
def booted(arch: Arch, built: Built, run_dir: Path, commands: CommandLog, stages: Stages,
           result: RunResult | None = None, stream: bool = False) -> Iterator[Console]:
    """A booted guest at its shell prompt; QEMU is always stopped on the way out."""
    accel = qemu.pick_accel(arch, built.image)
    if result is not None:
        result.accel = accel
    argv = qemu.qemu_argv(arch, qemu.BootSpec(kernel=built.image, initrd=built.initrd, accel=accel,
                                                   append=built.append))
    commands.record(argv)
    transcript = Transcript(open(run_dir / "console.log", "w", encoding="utf-8", errors="replace"),  # noqa: SIM115
                            sys.stdout if stream else None)
    child = qemu.start(argv, transcript)
    try:
        console = Console(child, transcript)
        with stages.stage("boot", accel):
            console.expect(rf"{initramfs.READY_MARKER} (\S+)", Stage("boot", BOOT_SECONDS))
        yield console
    finally:
        qemu.stop(child)

