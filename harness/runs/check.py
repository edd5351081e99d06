"""One check, stage by stage: tree, patches, build, boot, guest session, checks, known issues."""

from __future__ import annotations

import contextlib
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from harness.build import config as kconfig
from harness.build import gitrev, intree, kbuild, patching, selftests
from harness.build import tree as trees
from harness.errors import BuildError, KernelBuildError, StageError, Untestable
from harness.host import cache, paths
from harness.host.proc import CommandLog, Echo
from harness.results.run import RunResult, write_json
from harness.runs import judging
from harness.runs.build_and_boot import Built, booted, build_everything
from harness.runs.options import CheckOptions, check_options
from harness.runs.stages import Stages
from harness.spec import sanitizers, suites
from harness.spec.render import ProbeSpec
from harness.verdict import build_warnings, known_issues
from harness.verdict.checks import FAIL, Check, verdict
from harness.verdict.observations import MODULE_ONLY, SuitePlan
from harness.verdict.placement import OOT_MODULE
from vm import guest
from vm.console import Console


@dataclass
class Context:
    """What one run carries from start_run to finish: its spec, build folder, artifacts folder, the
    commands it ran, its stage timings, its result, and what to release at the end."""

    spec: ProbeSpec
    build: kbuild.KernelBuild
    run_dir: Path
    commands: CommandLog
    stages: Stages
    result: RunResult
    cleanup: ExitStack
    plan: SuitePlan = MODULE_ONLY


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
    source = tree.source or (opts.revision if opts.revision else gitrev.head_commit(tree.path))
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
        raise Untestable(f"{tree.path} has no {intree.SOURCE}: --module in-tree needs a tree that has the module "
                        "(Linux 5.7 or newer); use --module rendered")
    extra = opts.kconfig_add + ((intree.KCONFIG,) if opts.module == intree.IN_TREE else ())
    required, wanted = suites.kconfig(opts.suite, opts.arch.suite_kconfig)
    named = sanitizers.named(opts.arch.has_kasan) if opts.sanitizers else ()
    if opts.sanitizers:
        required, wanted = required + sanitizers.kconfig(opts.arch.has_kasan), wanted + sanitizers.WANTED
    arch = opts.arch
    if opts.sanitizers and arch.sanitizer_image:
        arch = replace(arch, kernel_image=arch.sanitizer_image)
    build = kconfig.prepare_build(tree, arch, required + extra, opts.toolchain, wanted)
    run_dir = paths.new_run_dir(opts.arch.name)
    cleanup.enter_context(paths.locked(run_dir, "this run's folder"))  # inv cache prune leaves it alone
    result = RunResult(arch=opts.arch.name, kernel_version=tree.version, tree=str(tree.path),
                              profile=spec.profile, func=spec.func, artifacts=str(run_dir),
                              patches=[str(p) for p in opts.patches], command=opts.command,
                              revision=opts.revision, toolchain=opts.toolchain, module=opts.module,
                              suite=opts.suite, sanitizers=opts.sanitizers, run_id=uuid.uuid4().hex,
                              started=datetime.now(UTC).isoformat(timespec="seconds"), source=source)
    echo(f"kprobe-harness: {opts.arch.name}, Linux {tree.version} at {tree.path}, toolchain {opts.toolchain}"
         + (f", suite {opts.suite}" if opts.suite != suites.DEFAULT_SUITE else "")
         + (f", sanitizers {', '.join(named)}" if named else ""))
    echo(f"build dir {build.out}; artifacts {run_dir}")
    return Context(spec, build, run_dir, commands, stages, result, cleanup, suite_plan(opts.suite, tree.path, named))


def suite_plan(suite: str, tree: Path, named: tuple[str, ...] = ()) -> SuitePlan:
    """What the guest runs beside the module's session, the ftrace cases taken from the tree (named:
    the sanitizers the kernel is built with)."""
    wanted = suites.parts(suite)
    cases = selftests.ftrace_cases(tree) if suites.FTRACE in wanted else ()
    return SuitePlan(ftrace_cases=cases, ftrace_dir=selftests.GUEST_DIR, ftrace=suites.FTRACE in wanted,
                     boot=suites.BOOT in wanted,
                     boot_args=suites.boot_args(suite), sanitizers=named)


def kunit_offered(build: kbuild.KernelBuild) -> dict[str, bool]:
    """The boot-time KUnit suites the build folder's configuration has."""
    config = build.out / ".config"
    values = kconfig.parse_config(config.read_text(errors="replace") if config.exists() else "")
    return {suite: values.get(option) == "y" for suite, option in suites.KUNIT_OPTIONS.items()}


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
        return build_everything(opts, ctx.spec, ctx.build, ctx.run_dir, ctx.commands, ctx.stages, plan=ctx.plan)
    except (BuildError, KernelBuildError, OSError) as e:
        # a full disk is this machine's trouble, not the tree's: never a failed check or a skipped commit
        if full := cache.as_disk_full(e, ctx.build.out):
            raise full from None
        if not isinstance(e, BuildError):
            raise
        ctx.result.checks = [Check(e.check, FAIL, str(e), (e.check,))]
        ctx.result.error = str(e)
        return None


def boot_and_check(opts: CheckOptions, ctx: Context, built: Built) -> None:
    """Boot, run the guest session and fill in the checks and verdict of ctx.result (with the
    build_warnings check when opts names files to watch)."""
    _boot_and_verify(opts, ctx, built)
    if opts.warn_files:
        log = ctx.run_dir / "build.log"
        found = build_warnings.warnings_in(log.read_text(errors="replace") if log.exists() else "", opts.warn_files)
        ctx.result.checks.append(build_warnings.warnings_check(found, opts.allow_warnings, log))
        ctx.result.verdict = verdict(ctx.result.checks)


def _boot_and_verify(opts: CheckOptions, ctx: Context, built: Built) -> None:
    """Boot, run the session and judge it against built.spec: ours, or what the tree's own module
    asks for as its source says (never what the kernel answered)."""
    result, spec = ctx.result, built.spec
    result.profile, result.func = spec.profile, spec.func
    consoles: list[Console] = []  # the booted console, kept for its transcript on failure
    try:
        with (booted(opts.arch, built, ctx.run_dir, ctx.commands, ctx.stages, result, opts.verbose) as console,
              ctx.stages.stage("guest session")):
            consoles.append(console)
            obs = guest.run_session(console, spec, built.module_path, plan=ctx.plan)
    except StageError as e:
        taint = (0 if opts.module == intree.IN_TREE else OOT_MODULE) | suites.expected_taint(opts.suite)
        judging.stage_failed(result, e, consoles[0].transcript() if consoles else e.console_tail,
                             judging.finished_before(result, e, spec, opts.arch, taint),
                             where=f"console log: {ctx.run_dir / 'console.log'}")
        return
    ctx.stages.timings.extend((f"  {k}", v) for k, v in obs.stage_seconds.items())
    (ctx.run_dir / "trace.txt").write_text(obs.trace.output if obs.trace else "")
    (ctx.run_dir / "dmesg.txt").write_text(obs.dmesg_text)
    judging.judge_session(result, obs, spec, opts.arch, consoles[0].transcript(), in_tree=opts.module == intree.IN_TREE,
                          taint=suites.expected_taint(opts.suite))
    judging.judge_suites(result, obs, ctx.plan, consoles[0].transcript(), ctx.build.tree.path,
                         kunit_offered(ctx.build))


def classify(opts: CheckOptions, result: RunResult, issues: tuple[known_issues.KnownIssue, ...] | None = None) -> None:
    """Set result.status (and mark impossible checks) from the known issues, unless they are off."""
    if not opts.known_issues:
        result.status = result.verdict
        return
    c = known_issues.classify(opts.arch.name, result.kernel_version, result.checks, result.facts,
                              known_issues.load() if issues is None else issues, opts.toolchain)
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
    except BaseException:
        with contextlib.suppress(OSError):  # a full disk while saving must not hide what stopped the run
            finish(ctx)
        raise
    finish(ctx)
    return ctx.result

