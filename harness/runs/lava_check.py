"""`inv lava`: build a cell as `inv check` does, write it as a LAVA job with its images, and (with
--run) run it through lava-run and judge its log with the same checks as a console session."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.build import selftests
from harness.errors import StageError, UserError
from harness.host.proc import Echo
from harness.labs import lava
from harness.results.run import RunResult
from harness.runs import judging
from harness.runs.build_and_boot import build_everything
from harness.runs.check import Context, classify, finish, kunit_offered, start_run
from harness.runs.options import CheckOptions
from harness.spec import suites
from harness.spec.arches import resolve_arch
from harness.spec.render import ProbeSpec, probe_spec
from harness.verdict.observations import SuitePlan, Targets
from harness.verdict.placement import OOT_MODULE
from vm import initramfs, qemu, script

JOB_FILE, DEVICE_FILE, META_FILE = "job.yaml", "device.yaml", "kh-job.json"


@dataclass(frozen=True)
class JobMeta:
    """What reading a job's log back needs besides the log: kept beside the job as kh-job.json."""

    arch: str
    kernel_version: str
    profile: str
    func: str
    module_path: str
    token: str  # the targets' token the session script uses
    command: str
    toolchain: str = "gcc"
    suite: str = "module"
    ftrace_cases: tuple[str, ...] = ()  # the tree's cases the script runs
    boot: bool = False
    tree: str = ""  # the tree whose KUnit parser reads the boot self tests
    kunit_offered: dict[str, bool] | None = None  # the KUnit suites the kernel's configuration has
    sanitizers: tuple[str, ...] = ()  # the sanitizers the kernel was built with

    def spec(self) -> ProbeSpec:
        return probe_spec(resolve_arch(self.arch), self.profile, None if self.func == "do_sys_open" else self.func)

    def plan(self) -> SuitePlan:
        return SuitePlan(tuple(self.ftrace_cases), selftests.GUEST_DIR, self.boot, sanitizers=tuple(self.sanitizers),
                         ftrace=self.suite in suites.SUITES and suites.FTRACE in suites.parts(self.suite))


def write_job(opts: CheckOptions, out: Path, base_url: str = "", echo: Echo = print,
              visibility: str = "personal") -> tuple[Path, Context]:
    """Build everything, then write job.yaml, device.yaml, kh-job.json and the images into out."""
    if visibility not in lava.VISIBILITIES:
        raise UserError(f"unknown --visibility '{visibility}': choose {' or '.join(lava.VISIBILITIES)}")
    if opts.module != "rendered":
        raise UserError("inv lava runs our rendered module; --module in-tree is for inv check and inv matrix")
    lava.context(opts.arch)  # an arch the device type cannot run is refused before anything is built
    ctx = start_run(opts, echo)
    targets = Targets.new()
    session = ctx.run_dir / "session.sh"
    module_path = f"{initramfs.GUEST_MODULE_DIR}/kprobe_event_gen_test.ko"
    session.write_text(script.session_script(ctx.spec, module_path, targets, plan=ctx.plan))
    built = build_everything(opts, ctx.spec, ctx.build, ctx.run_dir, ctx.commands, ctx.stages, (session,),
                             full_busybox=True, plan=ctx.plan)  # LAVA's test runner needs a whole toolbox
    out.mkdir(parents=True, exist_ok=True)
    kernel, ramdisk = out / built.image.name, out / "initramfs.cpio"
    shutil.copy2(built.image, kernel)
    shutil.copy2(built.initrd, ramdisk)
    shutil.copy2(session, out / "session.sh")

    def url(path: Path) -> str:
        return f"{base_url.rstrip('/')}/{path.name}" if base_url else path.resolve().as_uri()

    name = f"kprobe-harness {opts.arch.name} Linux {ctx.build.tree.version} {opts.toolchain}"
    # the kernel's ftrace cases take 1.5 minutes on x86_64 under TCG, several on the 32-bit arm
    minutes = 5 + (30 if ctx.plan.ftrace_cases else 0)
    job = lava.job_definition(opts.arch, name, url(kernel), url(ramdisk),
                              qemu.kernel_cmdline(opts.arch, ctx.plan.boot_args), visibility, minutes)
    (out / JOB_FILE).write_text(lava.dump(job))
    (out / DEVICE_FILE).write_text(lava.device_dictionary(opts.arch))
    meta = JobMeta(opts.arch.name, ctx.build.tree.version, ctx.spec.profile, ctx.spec.func, module_path,
                   targets.existing.rsplit("-", 1)[-1], opts.command, opts.toolchain, opts.suite,
                   ctx.plan.ftrace_cases, ctx.plan.boot, str(ctx.build.tree.path), kunit_offered(ctx.build),
                   ctx.plan.sanitizers)
    (out / META_FILE).write_text(json.dumps(meta.__dict__, indent=2) + "\n")
    echo(f"LAVA job: {out / JOB_FILE} (device type qemu; images {url(kernel)}, {url(ramdisk)})")
    return out / JOB_FILE, ctx


def submit_job(opts: CheckOptions, out: Path, base_url: str, server: str, token: str,
               echo: Echo = print, visibility: str = "personal", insecure: bool = False) -> RunResult:
    """Write the job, submit it to a LAVA server, wait for it, and judge the log it returns."""
    server = lava.check_server(server, insecure)
    if not token:
        raise UserError(f"--submit needs an API token of {server}: set {TOKEN_ENV} "
                        "(lava-server manage tokens add --user NAME, or the token page of your LAVA account)")
    return _run_and_judge(opts, out, base_url, "LAVA job",
                          lambda job, ctx: lava.submit(server, token, job.read_text(), echo), echo, visibility)


TOKEN_ENV = "LAVA_TOKEN"


def read_meta(folder: Path) -> JobMeta:
    path = folder / META_FILE
    if not path.exists():
        raise UserError(f"{path} is missing: --results needs the folder inv lava wrote (its {META_FILE} says "
                        "which targets and module the job's script used)")
    return JobMeta(**json.loads(path.read_text()))


def judge(log_text: str, meta: JobMeta, result: RunResult) -> None:
    """Fill result's checks and verdict from a LAVA log, with the checks of a console session plus
    LAVA's own: every stage reported, no LAVA action failed."""
    log = lava.parse_log(log_text)
    spec = meta.spec()
    lava_checks = lava.job_checks(log)
    plan = meta.plan()
    try:
        obs = script.observations_from_log(log.target, spec, meta.module_path, Targets.new(meta.token), plan)
    except StageError as e:
        taint = OOT_MODULE | suites.expected_taint(meta.suite)
        judging.stage_failed(result, e, log.target, [*judging.finished_before(result, e, spec, resolve_arch(meta.arch),
                                                                              taint), *lava_checks])
        return
    judging.judge_session(result, obs, spec, resolve_arch(meta.arch), log.target, lava_checks,
                          taint=suites.expected_taint(meta.suite))
    judging.judge_suites(result, obs, plan, log.target, Path(meta.tree) if meta.tree else None,
                         meta.kunit_offered or {})


def run_job(opts: CheckOptions, out: Path, echo: Echo = print) -> RunResult:
    """Write the job, run it through lava-run here, and judge its log."""
    lava.require_lava_run()
    return _run_and_judge(opts, out, "", "lava-run",
                          lambda job, ctx: lava.run_local(job, out / DEVICE_FILE, out, _job_id(), ctx.commands), echo)


def _run_and_judge(opts: CheckOptions, out: Path, base_url: str, stage: str,
                   runner: Callable[[Path, Context], str], echo: Echo, visibility: str = "personal") -> RunResult:
    """Write the job, have runner run it and return its log, keep the log, and judge it."""
    job, ctx = write_job(opts, out, base_url, echo=echo, visibility=visibility)
    try:
        meta = read_meta(out)
        with ctx.stages.stage(stage):
            log_text = runner(job, ctx)
        (out / "lava-log.yaml").write_text(log_text)
        (ctx.run_dir / "console.log").write_text(lava.parse_log(log_text).target)
        judge(log_text, meta, ctx.result)
        classify(opts, ctx.result)
        return ctx.result
    finally:
        finish(ctx)


def results_of(target: Path, known_issues: bool = True) -> RunResult:
    """The verdict of a job someone else ran: its log file (with kh-job.json beside it) or its folder."""
    folder = target if target.is_dir() else target.parent
    log_file = target if target.is_file() else next(
        (p for p in (folder / "lava-log.yaml", folder / "output.yaml", folder / "lava.log") if p.exists()), None)
    if log_file is None:
        raise UserError(f"no LAVA log in {folder}: give the log file (lava-run's stderr or a server's output.yaml)")
    meta = read_meta(folder)
    result = RunResult(arch=meta.arch, kernel_version=meta.kernel_version, tree="", profile=meta.profile,
                       func=meta.func, artifacts=str(folder), command=meta.command, toolchain=meta.toolchain,
                       suite=meta.suite, sanitizers=bool(meta.sanitizers))
    judge(log_file.read_text(errors="replace"), meta, result)
    opts = CheckOptions(arch=resolve_arch(meta.arch), toolchain=meta.toolchain, known_issues=known_issues)
    classify(opts, result)
    return result


def _job_id() -> int:
    """Distinct per run: lava-run works in /var/lib/lava/dispatcher/tmp/<job id>."""
    return int(time.time() * 1000) % 10**9
