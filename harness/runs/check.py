"""One check run, stage by stage: tree, config, kernel, module, initramfs, boot, guest session."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from harness.build import config as kconfig
from harness.build import gitrev, intree, kbuild, make, module, patching, progress
from harness.build import toolchain as toolchains
from harness.build import tree as trees
from harness.errors import BuildError, StageError, UserError
from harness.host import paths
from harness.host.proc import CommandLog, Echo
from harness.results.run import RunResult, write_json
from harness.runs import judging
from harness.spec import kernels, render
from harness.spec.arches import DEFAULT_PROFILE, Arch
from harness.spec.cell import cell_label
from harness.spec.render import ProbeSpec
from harness.verdict import known_issues
from harness.verdict.checks import FAIL, PASS, Check, verdict
from harness.verdict.observations import Targets
from harness.verdict.registered import registered_spec
from vm import guest, initramfs, qemu
from vm.console import Console, Stage, Transcript

BOOT_SECONDS = 120.0


@dataclass(frozen=True)
class CheckOptions:
    arch: Arch
    tree: Path | None = None
    kernel: str = kernels.DEFAULT_KERNEL
    profile: str = DEFAULT_PROFILE
    func: str | None = None
    kconfig_add: tuple[str, ...] = ()
    patches: tuple[Path, ...] = ()
    known_issues: bool = True  # classify failures against known_issues.toml (False: the raw verdict)
    command: str = ""  # the command line that asked for this run, kept in every result
    toolchain: str = "gcc"  # gcc, or llvm (the kernel's LLVM=1)
    revision: str = ""  # a commit to check out in tree (a private clone) before building
    warn_files: tuple[str, ...] = ()  # compiler warnings in these tree files fail the run (build_warnings)
    allow_warnings: bool = False  # report those warnings without failing (--allow-warnings)
    module: str = intree.RENDERED  # rendered (ours, from the templates) or in-tree (the tree's own module)
    verbose: bool = False  # stream the build output and the guest console live (-v)

    @property
    def label(self) -> str:
        """The cell's name (spec.cell.cell_label): 'tree' stands for a tree's version until it is read."""
        return cell_label(self.arch.name, "tree" if self.tree else self.kernel, self.toolchain, self.revision,
                          self.module)


class Stages:
    """Times each stage and prints it as it ends."""

    def __init__(self, echo: Echo) -> None:
        self.echo = echo
        self.timings: list[tuple[str, float]] = []
        self.start = time.monotonic()

    @contextmanager
    def stage(self, name: str, note: str = "") -> Iterator[None]:
        t0 = time.monotonic()
        self.echo(f"[{t0 - self.start:7.1f}s] {name}{' (' + note + ')' if note else ''} ...")
        ok = False
        try:
            yield
            ok = True
        finally:
            elapsed = time.monotonic() - t0
            self.timings.append((name, elapsed))
            self.echo(f"[{time.monotonic() - self.start:7.1f}s] {name} {'done' if ok else 'FAILED'} in {elapsed:.1f}s")


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
        why = make.build_kernel(build, log, commands, shown.line)
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

    @property
    def module_path(self) -> str:
        return f"{initramfs.GUEST_MODULE_DIR}/{self.ko.name}"


def build_everything(opts: CheckOptions, spec: ProbeSpec, build: kbuild.KernelBuild, run_dir: Path,
                     commands: CommandLog, stages: Stages, guest_files: tuple[Path, ...] = (),
                     full_busybox: bool = False) -> Built:
    """Kernel config and build, module, busybox (the session's applets, or all of defconfig's for
    a shell a person or LAVA drives) and initramfs with guest_files beside the module
    (KernelBuildError/BuildError propagate)."""
    log = run_dir / "build.log"
    # busybox needs nothing from the kernel: it builds beside it, on the cores the kernel's serial
    # steps (linking, kallsyms, modpost) leave idle
    with (ThreadPoolExecutor(max_workers=1) as pool,
          paths.locked(build.out, "this kernel build folder", stages.echo)):
        busybox_built = pool.submit(initramfs.build_busybox, opts.arch, run_dir / "busybox.log", commands,
                                    full_busybox)
        with stages.stage("kernel config"):
            kconfig.configure(build, log, commands)
        with stages.stage("kernel build", f"make -j{kbuild.jobs()}, log {log}"):
            _build_with_progress(opts, build, log, commands, stages.echo)
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
            else:
                _save_artifacts(run_dir, build, render.render_files(spec))
                with stages.stage("module build"):
                    ko = module.build_module(build, spec, log, commands)
            with stages.stage("initramfs"):
                busybox = busybox_built.result()
                initrd = initramfs.build_initramfs(build, busybox, [ko, *guest_files], run_dir, log, commands)
            # boot a private copy, so a concurrent run may rebuild the folder while this one boots
            image = run_dir / build.image.name
            shutil.copy2(build.image, image)
    return Built(spec, build, ko, initrd, image)


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
    argv = qemu.qemu_argv(arch, qemu.BootSpec(kernel=built.image, initrd=built.initrd, accel=accel))
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


@dataclass
class Context:
    spec: ProbeSpec
    build: kbuild.KernelBuild
    run_dir: Path
    commands: CommandLog
    stages: Stages
    result: RunResult
    cleanup: ExitStack


def check_options(opts: CheckOptions) -> ProbeSpec:
    """Refuse bad options before any work starts (UserError): probe, kconfig, tree, kernel, cache."""
    spec = check_choices(opts)
    if opts.tree:
        trees.check_tree(opts.tree)
    elif opts.kernel not in kernels.KERNELS:
        trees.default_tree(opts.kernel)  # raises with the versions the distribution provides
    check_host(opts)
    return spec


def check_host(opts: CheckOptions) -> None:
    """A writable cache and the arch's QEMU."""
    paths.check_cache()
    qemu.require_qemu(opts.arch)


def check_choices(opts: CheckOptions) -> ProbeSpec:
    """The options that do not depend on a tree or the host: probe, kconfig, module, toolchain."""
    spec = render.probe_spec(opts.arch, opts.profile, opts.func)
    kconfig.kconfig_lines(opts.arch, opts.kconfig_add)
    if opts.module not in intree.MODULES:
        raise UserError(f"unknown --module '{opts.module}': choose {' or '.join(intree.MODULES)}")
    if opts.module == intree.IN_TREE and opts.func:
        raise UserError("--func renders our module for another function; the tree's own module (--module "
                        "in-tree) probes what its source says: drop one of them")
    if opts.toolchain not in kernels.TOOLCHAINS:
        raise UserError(f"unknown --toolchain '{opts.toolchain}': choose {' or '.join(kernels.TOOLCHAINS)}")
    if opts.toolchain == "llvm":
        toolchains.require_llvm_tools()
    return spec


def start_run(opts: CheckOptions, echo: Echo) -> Context:
    """Validate everything the user gave before any work starts."""
    commands = CommandLog()
    stages = Stages(echo)
    spec = check_options(opts)
    cleanup = ExitStack()
    if opts.tree and opts.revision:
        with stages.stage("checkout", opts.revision[:12]):
            gitrev.checkout(opts.tree, opts.revision, commands)
        tree = trees.check_tree(opts.tree)
    elif opts.tree:
        tree = trees.check_tree(opts.tree)
    else:
        with stages.stage("kernel tree", f"linux-source-{opts.kernel}"):
            tree = trees.default_tree(opts.kernel, commands)
    if opts.patches:
        # the private copy is shared by every patched run of this tree: hold it for the whole run
        cleanup.enter_context(paths.locked(patching.copy_dir(tree), "the patched copy of this tree", echo))
        try:
            with stages.stage("patch", " ".join(p.name for p in opts.patches)):
                tree = patching.prepare(tree, list(opts.patches), commands)
        except BaseException:
            cleanup.close()
            raise
    if opts.module == intree.IN_TREE and not intree.module_source(tree.path).exists():
        raise UserError(f"{tree.path} has no {intree.SOURCE}: --module in-tree needs a tree that has the module "
                        "(Linux 5.7 or newer); use --module rendered")
    extra = opts.kconfig_add + ((intree.KCONFIG,) if opts.module == intree.IN_TREE else ())
    build = kconfig.prepare_build(tree, opts.arch, extra, opts.toolchain)
    run_dir = paths.new_run_dir(opts.arch.name)
    result = RunResult(arch=opts.arch.name, kernel_version=tree.version, tree=str(tree.path),
                              profile=spec.profile, func=spec.func, artifacts=str(run_dir),
                              patches=[str(p) for p in opts.patches], command=opts.command,
                              revision=opts.revision, toolchain=opts.toolchain, module=opts.module)
    echo(f"kprobe-harness: {opts.arch.name}, Linux {tree.version} at {tree.path}, toolchain {opts.toolchain}")
    echo(f"build dir {build.out}; artifacts {run_dir}")
    return Context(spec, build, run_dir, commands, stages, result, cleanup)


def finish(ctx: Context) -> None:
    ctx.cleanup.close()
    ctx.result.stages = ctx.stages.timings
    ctx.result.seconds = round(time.monotonic() - ctx.stages.start, 2)
    ctx.result.commands = ctx.commands.lines
    (ctx.run_dir / "commands.sh").write_text("#!/bin/sh\n" + "\n".join(ctx.commands.lines) + "\n")
    write_json(ctx.result, ctx.run_dir / "result.json")


def build_cell(opts: CheckOptions, ctx: Context) -> Built | None:
    """Build everything; a module or initramfs failure becomes a failed check (None)."""
    try:
        return build_everything(opts, ctx.spec, ctx.build, ctx.run_dir, ctx.commands, ctx.stages)
    except BuildError as e:
        ctx.result.checks = [Check("module_build", FAIL, str(e))]
        ctx.result.error = str(e)
        return None


def boot_and_check(opts: CheckOptions, ctx: Context, built: Built) -> None:
    """Boot, run the guest session and fill in the checks and verdict of ctx.result (with the
    build_warnings check when opts names files to watch)."""
    _boot_and_verify(opts, ctx, built)
    if opts.warn_files:
        log = ctx.run_dir / "build.log"
        found = gitrev.warnings_in(log.read_text(errors="replace") if log.exists() else "", opts.warn_files)
        ctx.result.checks.append(warnings_check(found, opts.allow_warnings, log))
        ctx.result.verdict = verdict(ctx.result.checks)


def warnings_check(found: list[str], allowed: bool, log: Path) -> Check:
    """No compiler warning in the files the revision touches (ktest.pl's patchcheck rule)."""
    if not found:
        return Check("build_warnings", PASS, "no compiler warning in the files this revision touches")
    listed = "\n".join(found[:20]) + (f"\n... {len(found) - 20} more in {log}" if len(found) > 20 else "")
    if allowed:
        return Check("build_warnings", PASS, f"warnings waived by --allow-warnings:\n{listed}")
    return Check("build_warnings", FAIL,
                        f"{len(found)} compiler warning(s) in files this revision touches, first: {found[0]} "
                        f"(waive with --allow-warnings SHA):\n{listed}")


def _boot_and_verify(opts: CheckOptions, ctx: Context, built: Built) -> None:
    result = ctx.result
    consoles: list[Console] = []  # the booted console, kept for its transcript on failure
    try:
        with (booted(opts.arch, built, ctx.run_dir, ctx.commands, ctx.stages, result, opts.verbose) as console,
              ctx.stages.stage("guest session")):
            consoles.append(console)
            obs = guest.run_session(console, ctx.spec, built.module_path, events_of=_events_of(opts, ctx.spec))
    except StageError as e:
        judging.stage_failed(result, e, consoles[0].transcript() if consoles else e.console_tail,
                             where=f"console log: {ctx.run_dir / 'console.log'}")
        return
    ctx.stages.timings.extend((f"  {k}", v) for k, v in obs.stage_seconds.items())
    (ctx.run_dir / "trace.txt").write_text(obs.trace.output if obs.trace else "")
    (ctx.run_dir / "dmesg.txt").write_text(obs.dmesg_text)
    spec = ctx.spec
    if opts.module == intree.IN_TREE:  # judged by what the tree's module registered
        spec = registered_spec(obs.kprobe_events.output if obs.kprobe_events else "", ctx.spec)
        result.profile, result.func = spec.profile, spec.func
    judging.judge_session(result, obs, spec, opts.arch.word_bits, consoles[0].transcript())


def _events_of(opts: CheckOptions, spec: ProbeSpec) -> guest.EventsOf | None:
    if opts.module != intree.IN_TREE:
        return None

    def names(kprobe_events: str) -> tuple[str, ...]:
        theirs = registered_spec(kprobe_events, spec)
        return theirs.kprobe_event, theirs.kretprobe_event

    return names


def classify(opts: CheckOptions, result: RunResult, issues: tuple[known_issues.KnownIssue, ...] | None = None) -> None:
    """Set result.status (and mark impossible checks) from the known issues, unless they are off."""
    if not opts.known_issues:
        result.status = result.verdict
        return
    c = known_issues.classify(opts.arch.name, result.kernel_version, result.checks, result.facts,
                       known_issues.load() if issues is None else issues)
    result.checks, result.status, result.note = list(c.checks), c.status, c.note
    result.known_issues = [{"id": i.id, "reason": i.reason, "reference": i.reference} for i in c.issues]


def run_check(opts: CheckOptions, echo: Echo = print) -> RunResult:
    """The whole check; user and kernel-build errors propagate, guest failures become a fail verdict."""
    ctx = start_run(opts, echo)
    try:
        built = build_cell(opts, ctx)
        if built is not None:
            boot_and_check(opts, ctx, built)
        classify(opts, ctx.result)
        return ctx.result
    finally:
        finish(ctx)


def run_load(opts: CheckOptions, echo: Echo = print) -> int:
    """The upstream module's manual procedure, shown as the guest shows it; 0 when every step worked."""
    ctx = start_run(opts, echo)
    try:
        built = build_everything(opts, ctx.spec, ctx.build, ctx.run_dir, ctx.commands, ctx.stages)
        target = Targets.new().existing
        steps = [("insmod", f"insmod {built.module_path}"),
                 ("trigger", f"cat {target}; cat {target}"),
                 ("trace", f"cat {guest.TRACEFS}/trace"),
                 ("rmmod", f"rmmod {guest.module_name(built.module_path)}")]
        failed = 0
        with booted(opts.arch, built, ctx.run_dir, ctx.commands, ctx.stages) as console:
            console.run(f"stty -echo 2>/dev/null; dmesg -n 1; echo hello > {target}", Stage("prepare", 30))
            for stage, command in steps:
                answer = console.run(command, Stage(stage, guest.STAGE_SECONDS[stage]))
                echo(f"guest# {command}")
                if answer.output.strip():
                    echo(answer.output.rstrip())
                if not answer.ok:
                    echo(f"(exit status {answer.status})")
                    failed += 1
            echo("guest# dmesg | tail -n 5")
            echo(console.run("dmesg | tail -n 5", Stage("rmmod", 30)).output.rstrip())
        echo(f"console log: {ctx.run_dir / 'console.log'}")
        return 1 if failed else 0
    finally:
        finish(ctx)


ESCAPE = "\x1d"  # Ctrl-]


def run_boot(opts: CheckOptions, load: bool = True, echo: Echo = print) -> int:
    """Build as check does, boot, load the module (unless load is False), then hand the guest's shell
    to the user until they leave with Ctrl-] or the guest exits; QEMU is stopped either way."""
    if not sys.stdin.isatty():
        raise UserError("boot hands the guest's console to you: run it in a terminal")
    ctx = start_run(opts, echo)
    try:
        built = build_everything(opts, ctx.spec, ctx.build, ctx.run_dir, ctx.commands, ctx.stages,
                                 full_busybox=True)
        with booted(opts.arch, built, ctx.run_dir, ctx.commands, ctx.stages) as console:
            if load:
                answer = console.run(f"insmod {built.module_path}", Stage("insmod", guest.STAGE_SECONDS["insmod"]))
                echo(f"guest# insmod {built.module_path}" + ("" if answer.ok else f": {answer.output.strip()}"))
                events = console.run(f"cat {guest.TRACEFS}/kprobe_events", Stage("insmod", 30))
                echo(f"guest# cat {guest.TRACEFS}/kprobe_events\n{events.output.rstrip()}")
            echo("The guest's shell is yours. Ctrl-] leaves and stops QEMU (so does 'reboot -f' in the guest); "
                 f"console log: {ctx.run_dir / 'console.log'}")
            console.interact(ESCAPE)
        return 0
    finally:
        finish(ctx)
