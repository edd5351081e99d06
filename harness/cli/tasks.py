"""invoke tasks: the thin command-line layer over harness/ and vm/ (options in, one call, exit code out).

Run as `inv TASK` in the checkout or as the installed `kprobe-harness TASK` from anywhere. What the
tasks share (help texts, option checks, the error guard, the reports) is in harness/cli/options.py."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from invoke.tasks import task

from harness import errors
from harness.cli.options import (
    ALL_ARCHES,
    ARCH_HELP,
    ARCHES_HELP,
    COMMON_HELP,
    KCIDB_HELP,
    KERNELS_HELP,
    REPORT_HELP,
    TOOLCHAINS_HELP,
    HarnessTask,
    Reports,
    arch_names,
    cell_options,
    command,
    common_help,
    conclude_run,
    echo,
    guarded,
    json_target,
    kernel_tree_here,
    listed,
    report_targets,
    unique,
    write_reports,
)
from harness.host import paths
from harness.host.proc import CommandLog
from harness.results.kcidb import ORIGIN
from harness.runs.matrix import MatrixResult
from harness.spec.arches import ARCHES, DEFAULT_PROFILE, resolve_arch
from harness.spec.kernels import DEFAULT_KERNEL, KERNELS, TOOLCHAINS

LONG_OPTIONS = {"klass": HarnessTask, "auto_shortflags": False}


@task(help={})
@guarded
def setup(c):  # type: ignore[no-untyped-def]
    """Install what the harness needs: kernel build deps, QEMU, cross compilers, kernel and busybox source."""
    from harness.host import setup as host_setup

    done = host_setup.setup(CommandLog(echo=echo))
    print("setup: " + ("; ".join(done) if done else "everything already installed"))
    return 0


@task(**LONG_OPTIONS, iterable=["kconfig_add", "patch"],
      help={**COMMON_HELP, **REPORT_HELP, "json": "also write the result as JSON to this file"})
@guarded
def check(c, arch="x86_64", tree=None, kernel=DEFAULT_KERNEL, profile=DEFAULT_PROFILE, func=None,  # type: ignore[no-untyped-def]
          kconfig_add=None, patch=None, json=None, no_known_issues=False, junit=None, ktap=None, markdown=None,
          toolchain="gcc", verbose=False, module="rendered", suite="module", sanitizers=False, kcidb=None,
          kcidb_origin=ORIGIN, kcidb_base_url=""):
    """Build, boot under QEMU, run the checks. Exit 0 pass or XFAIL (known issue), 1 fail or XPASS, 125 nothing testable here (no kernel build, a patch that does not apply), 128 usage or setup."""
    from harness.runs.check import run_check

    opts = cell_options("check", arch, tree, kernel, profile, func, kconfig_add, patch, no_known_issues, toolchain,
                        module, verbose, suite, sanitizers)
    out, targets = json_target(json), report_targets(junit, ktap, markdown, kcidb, kcidb_origin, kcidb_base_url)
    return conclude_run(run_check(opts, echo=echo), "check", out, targets)


@task(help={"arch": ARCH_HELP, "profile": COMMON_HELP["profile"], "func": COMMON_HELP["func"],
            "out": "folder to write kprobe_event_gen_test.c and Kbuild into"})
@guarded
def render(c, arch="x86_64", out="rendered", profile=DEFAULT_PROFILE, func=None):  # type: ignore[no-untyped-def]
    """Render the test module and its Kbuild for an arch without building anything."""
    from harness.spec import render as rendering

    spec = rendering.probe_spec(resolve_arch(arch), profile, func)
    folder = paths.check_output_dir(Path(out), "--out")
    for path in rendering.write_files(rendering.render_files(spec), folder):
        print(path)
    return 0


@task(**LONG_OPTIONS, iterable=["kconfig_add", "patch"], help=common_help("no_known_issues"))
@guarded
def load(c, arch="x86_64", tree=None, kernel=DEFAULT_KERNEL, profile=DEFAULT_PROFILE, func=None,  # type: ignore[no-untyped-def]
         kconfig_add=None, patch=None, toolchain="gcc", verbose=False, module="rendered", suite="module", sanitizers=False):
    """Walk the upstream module's manual procedure in the guest (insmod, cat trace, rmmod) and show it."""
    from harness.runs.interactive import run_load

    return run_load(cell_options("load", arch, tree, kernel, profile, func, kconfig_add, patch, False, toolchain,
                                 module, verbose, suite, sanitizers), echo=echo)


@task(**LONG_OPTIONS, iterable=["kconfig_add", "patch"],
      help=common_help("no_known_issues", no_load="boot without loading the test module"))
@guarded
def boot(c, arch="x86_64", tree=None, kernel=DEFAULT_KERNEL, profile=DEFAULT_PROFILE, func=None,  # type: ignore[no-untyped-def]
         kconfig_add=None, patch=None, no_load=False, toolchain="gcc", verbose=False, module="rendered",
         suite="module", sanitizers=False):
    """Build as check does, boot, load the module, and give you the guest's shell (Ctrl-] leaves and stops QEMU)."""
    from harness.runs.interactive import run_boot

    opts = cell_options("boot", arch, tree, kernel, profile, func, kconfig_add, patch, False, toolchain, module,
                        verbose, suite, sanitizers)
    return run_boot(opts, load=not no_load, echo=echo)


def _conclude_matrix(m: MatrixResult, task: str, json: Path | None, targets: Reports,
                     reproduce: bool = True) -> int:
    """Print a matrix, write what was asked for; exit 0 only when every cell passed or is an XFAIL."""
    from harness.runs import matrix as matrix_run

    print(matrix_run.format_matrix(m))
    if json:
        matrix_run.write_json(m, json, command(task))
    write_reports(matrix_run.cell_reports(m), targets, command(task))
    if reproduce:
        print("reproduce: " + command(task))
    return 0 if m.ok else errors.EXIT_FAIL


@task(**LONG_OPTIONS, iterable=["kconfig_add", "patch"], help={
    **common_help("arch", "kernel", "func", "toolchain"), **REPORT_HELP,
    "arches": ARCHES_HELP, "kernels": KERNELS_HELP, "toolchains": TOOLCHAINS_HELP,
    "tree": "test this kernel tree instead of the distribution kernels",
    "patch": "apply this patch to a private copy of each kernel tree, in every cell (repeatable)",
    "json": "also write the matrix result as JSON to this file",
})
@guarded
def matrix(c, arches=ALL_ARCHES, kernels=DEFAULT_KERNEL, tree=None, profile=DEFAULT_PROFILE,  # type: ignore[no-untyped-def]
           kconfig_add=None, patch=None, no_known_issues=False, json=None, junit=None, ktap=None, markdown=None,
           toolchains="gcc", verbose=False, module="rendered", suite="module", sanitizers=False, kcidb=None,
           kcidb_origin=ORIGIN, kcidb_base_url=""):
    """Check every arch (and kernel); known kernel issues show as XFAIL. Exit 0 only if every cell passes or is an XFAIL."""
    from harness.runs.matrix import run_matrix

    versions = unique(listed(kernels, "--kernels", None if tree else KERNELS))
    if tree and kernels != DEFAULT_KERNEL:
        raise errors.UserError(f"--kernels {kernels} with --tree {tree}: a tree is one kernel (its Makefile says "
                               "which); drop --kernels, or drop --tree to check the distribution's kernels")
    chains = unique(listed(toolchains, "--toolchains", TOOLCHAINS))
    cells = [cell_options("matrix", a, tree, k, profile, None, kconfig_add, patch, no_known_issues, t, module, verbose,
                          suite, sanitizers)
             for k in (versions[:1] if tree else versions) for t in chains for a in arch_names(arches)]
    out, targets = json_target(json), report_targets(junit, ktap, markdown, kcidb, kcidb_origin, kcidb_base_url)
    result = run_matrix(cells, echo=echo)
    print()
    return _conclude_matrix(result, "matrix", out, targets)


@task(**LONG_OPTIONS, iterable=["kconfig_add", "allow_warnings"], help={
    **common_help("arch", "tree", "kernel", "func", "patch", "no_known_issues"),
    "tree": "the kernel git tree (default: the git tree the command runs in); it is only read, never written",
    "base": "the revision to compare against (a branch, tag, commit or expression such as HEAD~3)",
    "head": "the revision to check (default HEAD)",
    "arches": ARCHES_HELP,
    "each": "check every commit from base (exclusive) to head, each against the one before it, and name "
            "the first that regresses",
    "allow_warnings": "do not fail this commit (SHA or prefix) for compiler warnings in the files it touches "
                      "(repeatable)",
    "json": "also write the comparison as JSON to this file",
    **KCIDB_HELP,
})
@guarded
def compare(c, base=None, head="HEAD", tree=None, arches=ALL_ARCHES, each=False, allow_warnings=None,  # type: ignore[no-untyped-def]
            profile=DEFAULT_PROFILE, kconfig_add=None, json=None, toolchain="gcc", verbose=False,
            module="rendered", suite="module", sanitizers=False, kcidb=None, kcidb_origin=ORIGIN,
            kcidb_base_url=""):
    """Check base and head of a git tree (or every commit between) per arch; print what regressed or changed, what was fixed, what failed on both. Exit 1 on a regression, 125 when a step had nothing to compare, 0 otherwise, 128 usage or setup."""
    from harness.runs import compare as comparing
    from harness.runs import matrix as matrix_run
    from harness.runs.options import CheckOptions, check_choices

    if not base:
        raise errors.UserError("--base is required: the revision to compare against, e.g. --base origin/master")
    where = tree or (str(here) if (here := kernel_tree_here()) else ".")
    names = arch_names(arches)
    template = CheckOptions(arch=resolve_arch(names[0]), profile=profile, toolchain=toolchain, verbose=verbose,
                            module=module, kconfig_add=tuple(kconfig_add or []), command=command("compare"),
                            suite=suite, sanitizers=sanitizers)
    check_choices(template)  # bad options are named before any revision is read
    waived = set(allow_warnings or [])
    plan = comparing.plan(Path(where), base, head, each, names, template, waived)
    out = json_target(json)
    targets = report_targets(kcidb_file=kcidb, kcidb_origin=kcidb_origin, kcidb_base_url=kcidb_base_url)
    echo(f"compare {plan.repo}: " + " -> ".join(r.label for r in plan.revisions) + f" on {', '.join(names)}")
    result = comparing.run_compare(plan.repo, plan.revisions, names, template, waived, echo=echo)
    print()
    print(comparing.format_compare(result))
    if out:
        comparing.write_json(result, out, command("compare"))
    write_reports(matrix_run.cell_reports(result.cells), targets, command("compare"))
    print("reproduce: " + command("compare"))
    return result.exit_code


@task(**LONG_OPTIONS, iterable=["kconfig_add", "patch"], help=common_help(
    "kernel", "func", "profile",
    tree="the kernel git tree (default: the git tree the command runs in); it is only read, never written",
    good="a revision that passes (the last known good)", bad="a revision that fails (default HEAD)",
))
@guarded
def bisect(c, good=None, bad="HEAD", tree=None, arch="x86_64", kconfig_add=None, patch=None,  # type: ignore[no-untyped-def]
           no_known_issues=False, toolchain="gcc", verbose=False, module="rendered", suite="module",
           sanitizers=False):
    """Find the first commit between --good and --bad whose check fails (git bisect run in a private clone; your repository is only read). Exit 1 when one is named, 125 when skipped commits hide it, 128 usage or setup."""
    from harness.build import gitrev
    from harness.build.patching import check_patch_file
    from harness.runs import bisect as bisecting
    from harness.runs.options import CheckOptions, check_choices, check_host

    if not good:
        raise errors.UserError("--good is required: a revision whose check passes, e.g. --good v6.12")
    where = Path(tree or (str(here) if (here := kernel_tree_here()) else ".")).expanduser().absolute()
    repo = gitrev.check_repo(where)
    args = ["--arch", resolve_arch(arch).name, "--toolchain", toolchain, "--module", module, "--suite", suite,
            *(["--sanitizers"] if sanitizers else []), *(["--no-known-issues"] if no_known_issues else []),
            *(["--verbose"] if verbose else []),
            *[w for k in kconfig_add or [] for w in ("--kconfig-add", k)],
            *[w for p in patch or [] for w in ("--patch", str(Path(p).expanduser().absolute()))]]
    # every option is checked as check checks it, before the first commit is built (the tree is checked
    # at each commit, in the clone)
    template = CheckOptions(arch=resolve_arch(arch), toolchain=toolchain, module=module, suite=suite,
                            sanitizers=sanitizers, kconfig_add=tuple(kconfig_add or ()),
                            patches=tuple(check_patch_file(Path(p)) for p in patch or ()))
    check_choices(template)
    check_host(template)
    echo(f"bisect {repo}: good {good}, bad {bad}, check {' '.join(args)}")
    result = bisecting.run_bisect(repo, good, bad, args, echo=echo)
    print()
    print(bisecting.format_bisect(result))
    print("reproduce: " + command("bisect"))
    return result.exit_code


@task(**LONG_OPTIONS, iterable=["kconfig_add", "patch"], help=common_help(
    "func", "module",
    out="the folder to write the LAVA job, its device dictionary and its images into",
    base_url="the images' URL prefix for a lab that fetches them over http(s) (default: file:// URLs)",
    run="run the job on this machine through lava-run and print the verdict as inv check does",
    results="judge the log of a job that already ran: a LAVA log file, or the folder inv lava wrote",
    json="also write the result as JSON to this file (with --run, --submit or --results)",
    submit="submit the job to this LAVA server (e.g. https://lava.example.org), wait for it and judge its log; "
           "the API token comes from $LAVA_TOKEN and goes to that server only (https, or http on loopback)",
    insecure="with --submit: allow a plain http:// server that is not on this machine (the token crosses "
             "the network in clear text)",
    visibility="who may see the job on the server: personal (default) or public",
    **KCIDB_HELP,
))
@guarded
def lava(c, arch="x86_64", tree=None, kernel=DEFAULT_KERNEL, profile=DEFAULT_PROFILE, kconfig_add=None,  # type: ignore[no-untyped-def]
         patch=None, toolchain="gcc", no_known_issues=False, out=None, base_url="", run=False, results=None,
         verbose=False, json=None, submit=None, insecure=False, visibility="personal", suite="module", sanitizers=False,
         kcidb=None, kcidb_origin=ORIGIN, kcidb_base_url=""):
    """Write a cell as a standard LAVA job (stock qemu device type); --run runs it here with lava-run, --results judges a job's log. Exit codes as inv check."""
    from harness.labs import lava
    from harness.runs import lava_check
    from harness.runs.check import finish

    target = json_target(json)
    targets = report_targets(kcidb_file=kcidb, kcidb_origin=kcidb_origin, kcidb_base_url=kcidb_base_url)
    if results:
        return conclude_run(lava_check.results_of(Path(results), known_issues=not no_known_issues), "lava", target,
                            targets)
    if not out:
        raise errors.UserError("--out is required: the folder to write the LAVA job into")
    if submit:
        lava.check_server(submit, insecure)
    folder = paths.check_output_dir(Path(out), "--out")
    opts = cell_options("lava", arch, tree, kernel, profile, None, kconfig_add, patch, no_known_issues, toolchain,
                        "rendered", verbose, suite, sanitizers)
    if submit:
        token = os.environ.get(lava_check.TOKEN_ENV, "")
        return conclude_run(lava_check.submit_job(opts, folder, base_url, submit, token, echo, visibility, insecure),
                            "lava", target, targets)
    if run:
        return conclude_run(lava_check.run_job(opts, folder, echo=echo), "lava", target, targets)
    _, ctx = lava_check.write_job(opts, folder, base_url, echo=echo, visibility=visibility)
    finish(ctx)
    print(f"run it here: inv lava --arch {opts.arch.name} --out {folder} --run; or submit "
          f"{folder / lava_check.JOB_FILE} to a lab with a qemu device")
    return 0


@task(auto_shortflags=False, help={
    "engine": "github (GitHub Actions) or gitlab (GitLab CI)",
    "arches": ARCHES_HELP, "kernels": KERNELS_HELP, "toolchains": TOOLCHAINS_HELP,
    "harness_url": "the workflow goes into a kernel tree's repository: each job clones the harness from this "
                   "git URL and checks the repository's own tree (default: the workflow goes into the harness's "
                   "repository and checks the distribution kernels)",
    "harness_ref": "with --harness-url: the harness commit every job checks out (default: the commit of the "
                   "harness that writes the workflow)",
    "out": "the workflow file to write (e.g. .github/workflows/kprobe-harness.yml or .gitlab-ci.yml)",
})
@guarded
def ci(c, engine="github", arches=ALL_ARCHES, kernels=DEFAULT_KERNEL, toolchains="gcc", harness_url="",  # type: ignore[no-untyped-def]
       out=None, harness_ref=""):
    """Write a CI workflow with one job per cell (arch, kernel, toolchain) and a last job that merges their results."""
    from harness.labs import workflows

    if engine not in workflows.ENGINES:
        raise errors.UserError(f"unknown --engine '{engine}': choose {' or '.join(workflows.ENGINES)}")
    if not out:
        raise errors.UserError("--out is required: the workflow file to write")
    target = paths.check_output_file(Path(out), "--out")
    ref = harness_ref or (workflows.harness_commit() if harness_url else "")
    if harness_url and not ref:
        raise errors.UserError("--harness-url: give --harness-ref COMMIT, the harness commit the jobs check out "
                               "(this harness is not a git checkout, so its own commit is unknown)")
    layout = workflows.Layout(harness_url, ref)
    specs = workflows.cells(arch_names(arches), listed(kernels, "--kernels", KERNELS),
                            listed(toolchains, "--toolchains", TOOLCHAINS), layout)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(workflows.render(engine, specs, layout))
    print(f"{target}: {engine} workflow, {len(specs)} cell job(s) and one merge job")
    return 0


@task(klass=HarnessTask, positional=["action"], auto_shortflags=False, iterable=["results"], help={
    "action": "merge: read results made anywhere and print them as one matrix",
    "results": "a result file (--json of check, matrix or compare) or a folder holding them (repeatable)",
    "no_known_issues": COMMON_HELP["no_known_issues"],
    "json": "also write the merged matrix as JSON to this file",
    "expect": "comma-separated cells the results must hold, named as the tables name them (x86_64/6.12, "
              "arm64/6.1/llvm; tree for any version): a cell no result names fails the merge",
    **REPORT_HELP,
})
@guarded
def report(c, action, results=None, no_known_issues=False, json=None, junit=None, ktap=None,  # type: ignore[no-untyped-def]
           markdown=None, expect="", kcidb=None, kcidb_origin=ORIGIN, kcidb_base_url=""):
    """Merge results from local runs, CI jobs and other machines into one matrix, classified as inv matrix does. Exit 0 only if every cell passes or is an XFAIL."""
    from harness.runs import merge as merging

    if action != "merge":
        raise errors.UserError(f"unknown report action '{action}': the action is merge ('inv --help report' lists "
                               "the options)")
    if not results:
        raise errors.UserError("give the results to merge: --results FILE_OR_FOLDER (repeatable)")
    expected = merging.check_expected(listed(expect, "--expect")) if expect else []
    runs = [r for path in results for r in merging.results_in(Path(path))]
    out, targets = json_target(json), report_targets(junit, ktap, markdown, kcidb, kcidb_origin, kcidb_base_url)
    merged = merging.merge(runs, known_issues=not no_known_issues, expect=expected)
    return _conclude_matrix(merged, "report", out, targets, reproduce=False)


@task(klass=HarnessTask, positional=["action"], auto_shortflags=False, help={
    "action": "du: space per kind (sources, trees, builds, patched copies, compare clones, runs, ccache), largest "
              "first, with when each was last used; prune: delete least recently used entries",
    "older_than": "prune: delete what was not used for this many days",
    "max_size": "prune: delete the least recently used until the cache holds at most this many GB",
    "runs": "prune: keep only the newest N run folders",
    "dry_run": "prune: list what would be deleted, delete nothing",
})
@guarded
def cache(c, action, older_than=None, max_size=None, runs=None, dry_run=False):  # type: ignore[no-untyped-def]
    """Show what the cache holds (du) or make room in it (prune), never touching what a running job holds."""
    from harness.host import cache as caches
    from harness.runs import housekeeping

    root = paths.cache_root()
    if action == "du":
        print(housekeeping.du_report(caches.entries(root), root, caches.now()))
        return 0
    if action != "prune":
        raise errors.UserError(f"unknown cache action '{action}': choose du or prune ('inv --help cache' lists "
                               "the options)")
    days, max_bytes, keep = housekeeping.limits(older_than, max_size, runs)
    housekeeping.prune(root, days, max_bytes, keep, dry_run, echo=echo)
    return 0


@task(auto_shortflags=False, help={
    "arches": ARCHES_HELP,
    "kunit_arches": "architectures to run the kernel's own kunit.py on, beside the harness (default x86_64,arm64)",
    "runs": "warm runs per measurement; the median counts (default 3)",
    "tree": "the kernel tree to measure on (default: the distribution's linux-source); the benchmark builds "
            "a hard-linked copy of it and never writes to it",
    "kernel": COMMON_HELP["kernel"],
    "json": "also write every measurement and ratio as JSON to this file",
    "suite": "measure this suite instead (ftrace, boot or all): per arch, its configuration's cold make against "
             "the default one's, and a warm run",
    "sanitizers": "measure the sanitizer profile instead (with --suite: both): per arch, its cold make, boot and "
                  "session against the default configuration's",
})
@guarded
def bench(c, arches=ALL_ARCHES, kunit_arches="x86_64,arm64", runs=3, tree=None, kernel=DEFAULT_KERNEL,  # type: ignore[no-untyped-def]
          json=None, suite=None, sanitizers=False):
    """Time the harness beside a bare make and kunit.py on one tree: cold, warm, after a one-line change."""
    from harness.build import tree as trees
    from harness.results import bench_table
    from harness.runs import bench as benchmark
    from harness.spec import suites

    out = json_target(json)
    source = trees.check_tree(Path(tree)) if tree else trees.default_tree(kernel)
    if suite or sanitizers:
        if suite and (suite not in suites.SUITES or not suites.larger(suite)):
            raise errors.UserError(f"--suite {suite}: choose ftrace, boot or all (the module's suite is the "
                                   "benchmark without --suite)")
        measured = benchmark.run_suite_bench(paths.cache_root() / "bench", source,
                                             listed(arches, "--arches", tuple(ARCHES)), int(runs), suite or "", echo,
                                             sanitizers)
        print()
        print(bench_table.format_suite_bench(measured))
        if out:
            bench_table.write_json(measured, out)
        return 0
    results = benchmark.run_bench(paths.cache_root() / "bench", source, listed(arches, "--arches", tuple(ARCHES)),
                                  listed(kunit_arches, "--kunit-arches", tuple(ARCHES)), int(runs), echo)
    print()
    print(bench_table.format_bench(results))
    if out:
        bench_table.write_json(results, out)
    return 0


@task(help={"unit": "only the unit tests (no QEMU)", "pytest_args": "extra arguments for pytest",
            "full": "also the long set (marker full): every arch on both kernels, the sanitizer kernels, the "
                    "kernel's own probe tests"})
def test(c, unit=False, full=False, pytest_args=""):  # type: ignore[no-untyped-def]
    """Run the project's test suite (unit tests and the QEMU integration tests; --full adds the long set)."""
    select = ["-m", "not qemu"] if unit else ["-m", "full or not full"] if full else []
    argv = [sys.executable, "-m", "pytest", *select, *shlex.split(pytest_args)]
    c.run(shlex.join(argv), pty=False)
