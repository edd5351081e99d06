"""invoke tasks: the thin command-line layer over harness/ and vm/ (options in, exit codes out).

Run as `inv TASK` in the checkout or as the installed `kprobe-harness TASK` from anywhere."""

from __future__ import annotations

import os
import shlex
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from invoke.exceptions import Exit
from invoke.tasks import Task, task

from harness import errors
from harness.build import patching
from harness.build.tree import enclosing_tree
from harness.host import paths, proc
from harness.host.proc import CommandLog
from harness.results import cells as reports
from harness.results.run import write_json
from harness.results.text import format_result
from harness.runs.check import finish, run_check
from harness.runs.interactive import run_boot, run_load
from harness.runs.options import CheckOptions, check_choices, check_host, check_options
from harness.spec import render as rendering
from harness.spec.arches import ALIASES, ARCHES, DEFAULT_PROFILE, resolve_arch
from harness.spec.kernels import DEFAULT_KERNEL, KERNELS, TOOLCHAINS
from harness.verdict.known_issues import PASSING

ALL_ARCHES = ",".join(ARCHES)
ARCH_HELP = f"target architecture: {', '.join(ARCHES)} (aliases: {', '.join(sorted(ALIASES))})"
COMMON_HELP = {
    "arch": ARCH_HELP,
    "tree": "kernel source tree to test (default: the kernel tree the command runs in, else the distribution's "
            "linux-source, unpacked into the cache)",
    "kernel": f"distribution kernel version to use when --tree is not given (default {DEFAULT_KERNEL})",
    "profile": f"probe profile: which fetch args the kprobe event records (default {DEFAULT_PROFILE})",
    "func": "kernel function to probe instead of do_sys_open",
    "kconfig_add": "extra kernel option, e.g. CONFIG_DEBUG_INFO=y (repeatable)",
    "patch": "apply this patch (-p1: unified diff, quilt or git format-patch) to a private copy of the tree "
             "for this run (repeatable)",
    "toolchain": "gcc (default: the cross gcc) or llvm (the kernel's LLVM=1 with clang and lld; builds never "
                 "share a folder with gcc's)",
    "verbose": "stream the kernel build output and the guest console live",
    "module": "rendered (default: ours, from the templates, with the value checks) or in-tree (the tree's own "
              "kernel/trace/kprobe_event_gen_test.c, judged by what it registers)",
    "no_known_issues": "report the raw verdict: a failure explained by known_issues.toml is a FAIL, not an "
                       "XFAIL (for git bisect run on a known issue)",
}


class HarnessTask(Task):  # type: ignore[type-arg]
    """A task whose --verbose is also -v (every other option stays long-only)."""

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        if name == "verbose" and "v" not in taken_names:
            opts["names"] = [*opts["names"], "v"]
        return opts


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _guard(fn: Callable[[], int]) -> None:
    """Run fn; map harness errors to Exit(message, code) and a failed verdict to exit 1."""
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        code = fn()
    except errors.HarnessError as e:
        raise Exit(f"error: {e}", e.exit_code) from None
    except KeyboardInterrupt:
        proc.stop_all()
        raise Exit("interrupted; builds and QEMU were stopped", 130) from None
    if code:
        raise Exit(code=code)


def _options(arch: str, tree: str | None, kernel: str, profile: str, func: str | None,
             kconfig_add: list[str], patch: list[str] | None = None,
             no_known_issues: bool = False, task: str = "check", toolchain: str = "gcc",
             module: str = "rendered", verbose: bool = False) -> CheckOptions:
    """Every option checked before any work starts (UserError, exit 2)."""
    if tree is None and (here := kernel_tree_here()) is not None:
        tree = str(here)
    opts = CheckOptions(
        arch=resolve_arch(arch), tree=Path(tree) if tree else None, kernel=kernel,
        profile=profile, func=func, kconfig_add=tuple(kconfig_add),
        patches=tuple(patching.check_patch_file(Path(p)) for p in patch or []),
        known_issues=not no_known_issues, command=_command(task), toolchain=toolchain, module=module,
        verbose=verbose,
    )
    check_options(opts)
    return opts


def kernel_tree_here(start: Path | None = None) -> Path | None:
    """The kernel source tree the command runs in (the current folder or a parent), announced once."""
    found = enclosing_tree(start or Path.cwd())
    if found is not None and found not in _announced:
        _announced.add(found)
        _echo(f"--tree {found}: the kernel tree this command runs in (pass --tree to test another)")
    return found


_announced: set[Path] = set()


def _listed(text: str, option: str, valid: tuple[str, ...] | None = None) -> list[str]:
    """A comma-separated option's values; an empty list or a value not in valid is a usage error."""
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise errors.UserError(f"{option} is empty; give a comma-separated list")
    unknown = [v for v in values if valid is not None and v not in valid]
    if unknown:
        raise errors.UserError(f"{option}: unknown value(s) {', '.join(unknown)}; valid: {', '.join(valid or ())}"
                               + ("; pass --tree PATH for any other kernel" if option == "--kernels" else ""))
    return values


REPORT_HELP = {
    "junit": "also write JUnit XML to this file (one testsuite per cell, one testcase per check)",
    "ktap": "also write KTAP version 1 to this file ('-' for stdout)",
    "markdown": "also write a Markdown summary to this file (for a CI job summary or a review comment)",
}


def _report_targets(junit: str | None, ktap: str | None, markdown: str | None) -> dict[str, str]:
    """The report files asked for, each checked writable before any work starts."""
    targets = {"junit": junit, "ktap": ktap, "markdown": markdown}
    for name, target in targets.items():
        if target and target != "-":
            paths.check_output_file(Path(target), f"--{name}")
    return {k: v for k, v in targets.items() if v}


def _write_reports(cells: list[reports.CellReport], targets: dict[str, str], command: str) -> None:
    from harness.results import junit as junit_report
    from harness.results import ktap as ktap_report
    from harness.results import markdown as markdown_report

    renderers = {"junit": junit_report.render, "ktap": ktap_report.render, "markdown": markdown_report.render}
    for name, target in targets.items():
        reports.write(renderers[name](cells, command), target)


def _command(task: str) -> str:
    """The command line that reproduces this run."""
    args = sys.argv[sys.argv.index(task) + 1:] if task in sys.argv else []
    return shlex.join(["inv", task, *args])


def _echo(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(line)  # above a progress bar when there is one, plain print otherwise
    sys.stdout.flush()


@task(help={})
def setup(c):  # type: ignore[no-untyped-def]
    """Install what the harness needs: kernel build deps, QEMU, cross compilers, kernel and busybox source."""
    from harness.host import setup as host_setup

    def go() -> int:
        done = host_setup.setup(CommandLog(echo=_echo))
        print("setup: " + ("; ".join(done) if done else "everything already installed"))
        return 0

    _guard(go)


@task(klass=HarnessTask, auto_shortflags=False, iterable=["kconfig_add", "patch"],
      help={**COMMON_HELP, **REPORT_HELP, "json": "also write the result as JSON to this file"})
def check(c, arch="x86_64", tree=None, kernel=DEFAULT_KERNEL, profile=DEFAULT_PROFILE, func=None,  # type: ignore[no-untyped-def]
          kconfig_add=None, patch=None, json=None, no_known_issues=False, junit=None, ktap=None, markdown=None,
          toolchain="gcc", verbose=False, module="rendered"):
    """Build, boot under QEMU, run the checks. Exit 0 pass or XFAIL (known issue), 1 fail or XPASS, 2 usage, 125 kernel build failed."""

    def go() -> int:
        opts = _options(arch, tree, kernel, profile, func, kconfig_add or [], patch, no_known_issues,
                        toolchain=toolchain, module=module, verbose=verbose)
        out = paths.check_output_file(Path(json), "--json") if json else None
        targets = _report_targets(junit, ktap, markdown)
        result = run_check(opts, echo=_echo)
        print()
        print(format_result(result))
        if out:
            write_json(result, out)
        _write_reports([reports.from_run(result)], targets, _command("check"))
        print("reproduce: " + _command("check"))
        return 0 if result.status in PASSING else errors.EXIT_FAIL

    _guard(go)


@task(help={"arch": ARCH_HELP, "profile": COMMON_HELP["profile"], "func": COMMON_HELP["func"],
            "out": "folder to write kprobe_event_gen_test.c and Kbuild into"})
def render(c, arch="x86_64", out="rendered", profile=DEFAULT_PROFILE, func=None):  # type: ignore[no-untyped-def]
    """Render the test module and its Kbuild for an arch without building anything."""

    def go() -> int:
        spec = rendering.probe_spec(resolve_arch(arch), profile, func)
        folder = paths.check_output_dir(Path(out), "--out")
        for path in rendering.write_files(rendering.render_files(spec), folder):
            print(path)
        return 0

    _guard(go)


@task(klass=HarnessTask, auto_shortflags=False, iterable=["kconfig_add", "patch"],
      help={k: v for k, v in COMMON_HELP.items() if k != "no_known_issues"})
def load(c, arch="x86_64", tree=None, kernel=DEFAULT_KERNEL, profile=DEFAULT_PROFILE, func=None,  # type: ignore[no-untyped-def]
         kconfig_add=None, patch=None, toolchain="gcc", verbose=False, module="rendered"):
    """Walk the upstream module's manual procedure in the guest (insmod, cat trace, rmmod) and show it."""

    def go() -> int:
        opts = _options(arch, tree, kernel, profile, func, kconfig_add or [], patch, task="load",
                        toolchain=toolchain, module=module, verbose=verbose)
        return run_load(opts, echo=_echo)

    _guard(go)


@task(klass=HarnessTask, auto_shortflags=False, iterable=["kconfig_add", "patch"],
      help={**{k: v for k, v in COMMON_HELP.items() if k != "no_known_issues"},
            "no_load": "boot without loading the test module"})
def boot(c, arch="x86_64", tree=None, kernel=DEFAULT_KERNEL, profile=DEFAULT_PROFILE, func=None,  # type: ignore[no-untyped-def]
         kconfig_add=None, patch=None, no_load=False, toolchain="gcc", verbose=False, module="rendered"):
    """Build as check does, boot, load the module, and give you the guest's shell (Ctrl-] leaves and stops QEMU)."""

    def go() -> int:
        opts = _options(arch, tree, kernel, profile, func, kconfig_add or [], patch, task="boot",
                        toolchain=toolchain, module=module, verbose=verbose)
        return run_boot(opts, load=not no_load, echo=_echo)

    _guard(go)


@task(klass=HarnessTask, auto_shortflags=False, iterable=["kconfig_add", "patch"], help={
    "arches": f"comma-separated architectures (default: all of {','.join(ARCHES)})",
    "verbose": COMMON_HELP["verbose"],
    "module": COMMON_HELP["module"],
    "kernels": f"comma-separated distribution kernel versions (default {DEFAULT_KERNEL}; known: {','.join(KERNELS)})",
    "tree": "test this kernel tree instead of the distribution kernels",
    "profile": COMMON_HELP["profile"],
    "kconfig_add": COMMON_HELP["kconfig_add"],
    "patch": "apply this patch to a private copy of each kernel tree, in every cell (repeatable)",
    "no_known_issues": COMMON_HELP["no_known_issues"],
    "toolchains": f"comma-separated toolchains (default gcc; known: {','.join(TOOLCHAINS)})",
    "json": "also write the matrix result as JSON to this file",
    **REPORT_HELP,
})
def matrix(c, arches=ALL_ARCHES, kernels=DEFAULT_KERNEL, tree=None, profile=DEFAULT_PROFILE,  # type: ignore[no-untyped-def]
           kconfig_add=None, patch=None, no_known_issues=False, json=None, junit=None, ktap=None, markdown=None,
           toolchains="gcc", verbose=False, module="rendered"):
    """Check every arch (and kernel); known kernel issues show as XFAIL. Exit 0 only if every cell passes or is an XFAIL."""
    from harness.runs import matrix as matrix_run

    def go() -> int:
        versions = _listed(kernels, "--kernels", None if tree else KERNELS)
        chains = _listed(toolchains, "--toolchains", TOOLCHAINS)
        cells = [
            _options(a, tree, k, profile, None, kconfig_add or [], patch, no_known_issues, "matrix", t, module,
                     verbose)
            for k in (versions[:1] if tree else versions) for t in chains for a in _listed(arches, "--arches")
        ]
        out = paths.check_output_file(Path(json), "--json") if json else None
        targets = _report_targets(junit, ktap, markdown)
        result = matrix_run.run_matrix(cells, echo=_echo)
        print()
        print(matrix_run.format_matrix(result))
        if out:
            matrix_run.write_json(result, out, _command("matrix"))
        _write_reports(matrix_run.cell_reports(result), targets, _command("matrix"))
        print("reproduce: " + _command("matrix"))
        return 0 if result.ok else errors.EXIT_FAIL

    _guard(go)


@task(klass=HarnessTask, auto_shortflags=False, iterable=["kconfig_add", "allow_warnings"], help={
    "verbose": COMMON_HELP["verbose"],
    "module": COMMON_HELP["module"],
    "tree": "the kernel git tree (default: the git tree the command runs in); it is only read, never written",
    "base": "the revision to compare against (a branch, tag, commit or expression such as HEAD~3)",
    "head": "the revision to check (default HEAD)",
    "arches": f"comma-separated architectures (default: all of {','.join(ARCHES)})",
    "each": "check every commit from base (exclusive) to head, each against the one before it, and name "
            "the first that regresses",
    "allow_warnings": "do not fail this commit (SHA or prefix) for compiler warnings in the files it touches "
                      "(repeatable)",
    "profile": COMMON_HELP["profile"],
    "kconfig_add": COMMON_HELP["kconfig_add"],
    "toolchain": COMMON_HELP["toolchain"],
    "json": "also write the comparison as JSON to this file",
})
def compare(c, base=None, head="HEAD", tree=None, arches=ALL_ARCHES, each=False, allow_warnings=None,  # type: ignore[no-untyped-def]
            profile=DEFAULT_PROFILE, kconfig_add=None, json=None, toolchain="gcc", verbose=False,
            module="rendered"):
    """Check base and head of a git tree (or every commit between) per arch; print what regressed, what was fixed, what failed on both. Exit 1 only on a regression, 0 otherwise, 2 usage."""
    from harness.build import gitrev
    from harness.runs import compare as comparing

    def go() -> int:
        if not base:
            raise errors.UserError("--base is required: the revision to compare against, e.g. --base origin/master")
        where = tree or (str(here) if (here := kernel_tree_here()) else ".")
        repo = gitrev.check_repo(Path(where))
        before, after = gitrev.resolve(repo, base), gitrev.resolve(repo, head)
        if before.sha == after.sha:
            raise errors.UserError(f"--base {base} and --head {head} are the same commit: nothing to compare")
        revisions = [before, *gitrev.series(repo, before, after)] if each else [before, after]
        for rev in (before, after):
            gitrev.require_kernel(repo, rev)
        waived = set(allow_warnings or [])
        unknown = [w for w in waived if not any(r.sha.startswith(w.lower()) for r in revisions[1:])]
        if unknown:
            raise errors.UserError(f"--allow-warnings {', '.join(unknown)}: no such commit among the revisions "
                                   "checked after the base; give a hash or prefix of one of them")
        names = [resolve_arch(a).name for a in _listed(arches, "--arches")]
        template = CheckOptions(arch=resolve_arch(names[0]), profile=profile, toolchain=toolchain,
                                         verbose=verbose, module=module,
                                         kconfig_add=tuple(kconfig_add or []), command=_command("compare"))
        for name in names:
            check_choices(replace(template, arch=resolve_arch(name)))
            check_host(replace(template, arch=resolve_arch(name)))
        out = paths.check_output_file(Path(json), "--json") if json else None
        _echo(f"compare {repo}: " + " -> ".join(r.label for r in revisions) + f" on {', '.join(names)}")
        result = comparing.run_compare(repo, revisions, names, template, waived, echo=_echo)
        print()
        print(comparing.format_compare(result))
        if out:
            comparing.write_json(result, out, _command("compare"))
        print("reproduce: " + _command("compare"))
        return errors.EXIT_FAIL if result.first_regression else 0

    _guard(go)


@task(klass=HarnessTask, auto_shortflags=False, iterable=["kconfig_add", "patch"], help={
    **{k: v for k, v in COMMON_HELP.items() if k not in ("func", "module")},
    "out": "the folder to write the LAVA job, its device dictionary and its images into",
    "base_url": "the images' URL prefix for a lab that fetches them over http(s) (default: file:// URLs)",
    "run": "run the job on this machine through lava-run and print the verdict as inv check does",
    "results": "judge the log of a job that already ran: a LAVA log file, or the folder inv lava wrote",
    "json": "also write the result as JSON to this file (with --run, --submit or --results)",
    "submit": "submit the job to this LAVA server (e.g. https://lava.example.org), wait for it and judge its log; "
              "the API token comes from $LAVA_TOKEN",
})
def lava(c, arch="x86_64", tree=None, kernel=DEFAULT_KERNEL, profile=DEFAULT_PROFILE, kconfig_add=None,  # type: ignore[no-untyped-def]
         patch=None, toolchain="gcc", no_known_issues=False, out=None, base_url="", run=False, results=None,
         verbose=False, json=None, submit=None):
    """Write a cell as a standard LAVA job (stock qemu device type); --run runs it here with lava-run, --results judges a job's log. Exit codes as inv check."""
    from harness.runs import lava_check

    def go() -> int:
        target = paths.check_output_file(Path(json), "--json") if json else None
        if results:
            result = lava_check.results_of(Path(results), known_issues=not no_known_issues)
        else:
            if not out:
                raise errors.UserError("--out is required: the folder to write the LAVA job into")
            folder = paths.check_output_dir(Path(out), "--out")
            opts = _options(arch, tree, kernel, profile, None, kconfig_add or [], patch, no_known_issues,
                            "lava", toolchain, "rendered", verbose)
            if submit:
                result = lava_check.submit_job(opts, folder, base_url, submit,
                                             os.environ.get(lava_check.TOKEN_ENV, ""), echo=_echo)
            elif not run:
                _, ctx = lava_check.write_job(opts, folder, base_url, echo=_echo)
                finish(ctx)
                print(f"run it here: inv lava --arch {opts.arch.name} --out {folder} --run; or submit "
                      f"{folder / lava_check.JOB_FILE} to a lab with a qemu device")
                return 0
            else:
                result = lava_check.run_job(opts, folder, echo=_echo)
        print()
        print(format_result(result))
        if target:
            write_json(result, target)
        print("reproduce: " + _command("lava"))
        return 0 if result.status in PASSING else errors.EXIT_FAIL

    _guard(go)


@task(auto_shortflags=False, help={
    "engine": "github (GitHub Actions) or gitlab (GitLab CI)",
    "arches": f"comma-separated architectures (default: all of {','.join(ARCHES)})",
    "kernels": f"comma-separated distribution kernel versions (default {DEFAULT_KERNEL}; known: {','.join(KERNELS)})",
    "toolchains": f"comma-separated toolchains (default gcc; known: {','.join(TOOLCHAINS)})",
    "harness_url": "the workflow goes into a kernel tree's repository: each job clones the harness from this "
                   "git URL and checks the repository's own tree (default: the workflow goes into the harness's "
                   "repository and checks the distribution kernels)",
    "out": "the workflow file to write (e.g. .github/workflows/kprobe-harness.yml or .gitlab-ci.yml)",
})
def ci(c, engine="github", arches=ALL_ARCHES, kernels=DEFAULT_KERNEL, toolchains="gcc", harness_url="",  # type: ignore[no-untyped-def]
       out=None):
    """Write a CI workflow with one job per cell (arch, kernel, toolchain) and a last job that merges their results."""
    from harness.labs import workflows

    def go() -> int:
        if engine not in workflows.ENGINES:
            raise errors.UserError(f"unknown --engine '{engine}': choose {' or '.join(workflows.ENGINES)}")
        if not out:
            raise errors.UserError("--out is required: the workflow file to write")
        target = paths.check_output_file(Path(out), "--out")
        specs = workflows.cells([resolve_arch(a).name for a in _listed(arches, "--arches")],
                                _listed(kernels, "--kernels", KERNELS), _listed(toolchains, "--toolchains", TOOLCHAINS),
                                workflows.Layout(harness_url))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(workflows.render(engine, specs, workflows.Layout(harness_url)))
        print(f"{target}: {engine} workflow, {len(specs)} cell job(s) and one merge job")
        return 0

    _guard(go)


@task(klass=HarnessTask, positional=["action"], auto_shortflags=False, iterable=["results"], help={
    "action": "merge: read results made anywhere and print them as one matrix",
    "results": "a result file (--json of check, matrix or compare) or a folder holding them (repeatable)",
    "no_known_issues": COMMON_HELP["no_known_issues"],
    "json": "also write the merged matrix as JSON to this file",
    **REPORT_HELP,
})
def report(c, action, results=None, no_known_issues=False, json=None, junit=None, ktap=None,  # type: ignore[no-untyped-def]
           markdown=None):
    """Merge results from local runs, CI jobs and other machines into one matrix, classified as inv matrix does. Exit 0 only if every cell passes or is an XFAIL."""
    from harness.runs import matrix as matrix_run
    from harness.runs import merge as merging

    def go() -> int:
        if action != "merge":
            raise errors.UserError(f"unknown report action '{action}': the action is merge")
        if not results:
            raise errors.UserError("give the results to merge: --results FILE_OR_FOLDER (repeatable)")
        runs = [r for path in results for r in merging.results_in(Path(path))]
        out = paths.check_output_file(Path(json), "--json") if json else None
        targets = _report_targets(junit, ktap, markdown)
        merged = merging.merge(runs, known_issues=not no_known_issues)
        print(matrix_run.format_matrix(merged))
        if out:
            matrix_run.write_json(merged, out, _command("report"))
        _write_reports(matrix_run.cell_reports(merged), targets, _command("report"))
        return 0 if merged.ok else errors.EXIT_FAIL

    _guard(go)


@task(auto_shortflags=False, help={
    "arches": f"comma-separated architectures (default: all of {ALL_ARCHES})",
    "kunit_arches": "architectures to run the kernel's own kunit.py on, beside the harness (default x86_64,arm64)",
    "runs": "warm runs per measurement; the median counts (default 3)",
    "tree": "the kernel tree to measure on (default: the distribution's linux-source); the benchmark builds "
            "a hard-linked copy of it and never writes to it",
    "kernel": COMMON_HELP["kernel"],
    "json": "also write every measurement and ratio as JSON to this file",
})
def bench(c, arches=ALL_ARCHES, kunit_arches="x86_64,arm64", runs=3, tree=None, kernel=DEFAULT_KERNEL,  # type: ignore[no-untyped-def]
          json=None):
    """Time the harness beside a bare make and kunit.py on one tree: cold, warm, after a one-line change."""
    from harness.build import tree as trees
    from harness.results import bench_table
    from harness.runs import bench as benchmark

    def go() -> int:
        out = paths.check_output_file(Path(json), "--json") if json else None
        source = trees.check_tree(Path(tree)) if tree else trees.default_tree(kernel)
        listed = _listed(arches, "--arches", tuple(ARCHES))
        results = benchmark.run_bench(paths.cache_root() / "bench", source, listed,
                                      _listed(kunit_arches, "--kunit-arches", tuple(ARCHES)), int(runs), _echo)
        print()
        print(bench_table.format_bench(results))
        if out:
            bench_table.write_json(results, out)
        return 0

    _guard(go)


@task(help={"unit": "only the unit tests (no QEMU)", "pytest_args": "extra arguments for pytest"})
def test(c, unit=False, pytest_args=""):  # type: ignore[no-untyped-def]
    """Run the project's test suite (unit tests and the QEMU integration tests)."""
    argv = [sys.executable, "-m", "pytest"] + (["-m", "not qemu"] if unit else []) + shlex.split(pytest_args)
    c.run(shlex.join(argv), pty=False)
