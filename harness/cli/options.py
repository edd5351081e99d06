"""What every task shares: help texts, option parsing and checks before any work starts, the
reproducing command line, the error guard, and the reports written at the end of a run."""

from __future__ import annotations

import contextlib
import functools
import json
import shlex
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from invoke.exceptions import Exit
from invoke.tasks import Task

from harness import errors
from harness.build import patching
from harness.build.tree import enclosing_tree
from harness.host import cache, paths, proc
from harness.results import cells, junit, kcidb, ktap, markdown
from harness.results.run import RunResult, early_document, write_json
from harness.results.text import format_result
from harness.runs.options import CheckOptions, check_options
from harness.spec.arches import ALIASES, ARCHES, DEFAULT_PROFILE, resolve_arch
from harness.spec.kernels import DEFAULT_KERNEL, KERNELS, TOOLCHAINS
from harness.verdict.known_issues import PASSING

ALL_ARCHES = ",".join(ARCHES)
ARCH_HELP = f"target architecture: {', '.join(ARCHES)} (aliases: {', '.join(sorted(ALIASES))})"
ARCHES_HELP = f"comma-separated architectures (default: all of {ALL_ARCHES})"
KERNELS_HELP = f"comma-separated distribution kernel versions (default {DEFAULT_KERNEL}; known: {','.join(KERNELS)})"
TOOLCHAINS_HELP = f"comma-separated toolchains (default gcc; known: {','.join(TOOLCHAINS)})"
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
    "module": "rendered (default: ours, from the templates, with the value checks and the probe-grammar target), "
              "seed (ours without the grammar target: the do_sys_open events alone) or in-tree (the tree's own "
              "kernel/trace/kprobe_event_gen_test.c, judged by what it registers)",
    "suite": "what runs in the guest: module (default: our module's session), ftrace (also the tree's own "
             "ftrace selftests for kprobes and dynamic events), boot (also the kernel's boot-time probe self "
             "tests) or all; ftrace, boot and all build a larger configuration in folders of their own",
    "sanitizers": "build the kernel with its sanitizers (KASAN where the arch has it, lockdep, atomic-sleep "
                  "checks, debug objects, kmemleak, UBSAN bounds), in folders of its own, and fail on any report "
                  "they print or any object kmemleak finds unreferenced after the session",
    "no_known_issues": "report the raw verdict: a failure explained by known_issues.toml is a FAIL, not an "
                       "XFAIL (for git bisect run on a known issue)",
}
REPORT_HELP = {
    "junit": "also write JUnit XML to this file (one testsuite per cell, one testcase per check)",
    "ktap": "also write KTAP version 1 to this file ('-' for stdout)",
    "markdown": "also write a Markdown summary to this file (for a CI job summary or a review comment)",
    "kcidb": "also write the results as a KCIDB document (KernelCI's common results database, schema v5.3) "
             "to this file",
    "kcidb_origin": f"with --kcidb: the origin its objects are submitted as (default {kcidb.ORIGIN})",
    "kcidb_base_url": "with --kcidb: the URL prefix the run folders are served under, for the logs' URLs "
                      "(default: file:// URLs of this machine's run folders)",
}
KCIDB_HELP = {k: v for k, v in REPORT_HELP.items() if k.startswith("kcidb")}
Renderer = Callable[[Sequence[cells.CellReport], str], str]
RENDERERS: dict[str, Renderer] = {"junit": junit.render, "ktap": ktap.render, "markdown": markdown.render}
Reports = dict[str, tuple[str, Renderer]]  # report name -> (file or '-', how it is written)


def common_help(*leave_out: str, **more: str) -> dict[str, str]:
    """COMMON_HELP without the options a task lacks, with its own."""
    return {**{k: v for k, v in COMMON_HELP.items() if k not in leave_out}, **more}


class HarnessTask(Task):  # type: ignore[type-arg]
    """A task whose --verbose is also -v (every other option stays long-only)."""

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        if name == "verbose" and "v" not in taken_names:
            opts["names"] = [*opts["names"], "v"]
        return opts


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def guarded(body: Callable[..., int]) -> Callable[..., None]:
    """A task body that returns its exit code: harness errors become Exit(message, code), Ctrl-C and
    SIGTERM stop every build and QEMU (exit 130), and a non-zero code is the exit status. Anything
    else is a fault of the harness or the machine, never of the tree: its traceback is printed and it
    exits 128, so that `git bisect run` stops rather than marking the commit bad."""

    @functools.wraps(body)
    def run(*args: Any, **kwargs: Any) -> None:
        signal.signal(signal.SIGTERM, _sigterm)
        try:
            code = body(*args, **kwargs)
        except (errors.HarnessError, OSError) as raised:
            e = cache.as_disk_full(raised) or raised
            if not isinstance(e, errors.HarnessError):
                _unexpected(body.__name__, kwargs, e)
            _early_result(body.__name__, kwargs, e.exit_code, str(e))
            raise Exit(f"error: {e}", e.exit_code) from None
        except KeyboardInterrupt:
            proc.stop_all()
            _early_result(body.__name__, kwargs, 130, "interrupted (Ctrl-C or SIGTERM); builds and QEMU were stopped")
            raise Exit("interrupted; builds and QEMU were stopped", 130) from None
        except Exception as e:  # noqa: BLE001 - a harness bug: its traceback, and an exit that stops a bisect
            _unexpected(body.__name__, kwargs, e)
        if code:
            raise Exit(code=code)

    return run


def _unexpected(task: str, options: dict[str, Any], e: BaseException) -> NoReturn:
    """An error the harness did not foresee: print its traceback, keep the --json file, exit 128."""
    traceback.print_exception(e)
    message = f"{type(e).__name__}: {e}"
    _early_result(task, options, errors.EXIT_SETUP, f"internal error: {message}")
    raise Exit(f"error: the harness failed ({message}); this is not a verdict on the tree: please report it "
               "with the traceback above", errors.EXIT_SETUP) from None


def _early_result(task: str, options: dict[str, Any], exit_code: int, error: str) -> None:
    """The --json file of a run that stopped before its checks, so a merge sees a failed cell where
    it would otherwise find nothing (best effort: the file itself may be what failed)."""
    target = options.get("json")
    if not target:
        return
    cell = {"toolchain": str(options.get("toolchain") or ""), "module": str(options.get("module") or ""),
            "kernel": "tree" if options.get("tree") else str(options.get("kernel") or "")}
    with contextlib.suppress(errors.UserError):
        cell["arch"] = resolve_arch(str(options.get("arch") or "")).name
    with contextlib.suppress(OSError):
        paths.write_atomic(Path(target).expanduser().absolute(),
                           json.dumps(early_document(exit_code, error, command(task), **cell), indent=2) + "\n")


def echo(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(line)  # above a progress bar when there is one, plain print otherwise
    sys.stdout.flush()


def command(task: str) -> str:
    """The command line that reproduces this run: the program that ran (inv, or the installed
    kprobe-harness), invoke's own flags before the task (-r), the task's options, and the tree found
    from the current folder when --tree was not given."""
    argv = sys.argv
    program = "kprobe-harness" if Path(argv[0]).name == "kprobe-harness" else "inv"
    at = argv.index(task) if task in argv else len(argv)
    core, args = argv[1:at], argv[at + 1:]
    if "--tree" not in args and _announced:
        args = [*args, "--tree", str(next(iter(_announced)))]
    return shlex.join([program, *core, task, *args])


_announced: set[Path] = set()


def kernel_tree_here(start: Path | None = None) -> Path | None:
    """The kernel source tree the command runs in (the current folder or a parent), announced once."""
    found = enclosing_tree(start or Path.cwd())
    if found is not None and found not in _announced:
        _announced.add(found)
        echo(f"--tree {found}: the kernel tree this command runs in (pass --tree to test another)")
    return found


def listed(text: str, option: str, valid: Sequence[str] | None = None) -> list[str]:
    """A comma-separated option's values; an empty list or a value not in valid is a usage error."""
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise errors.UserError(f"{option} is empty; give a comma-separated list")
    unknown = [v for v in values if valid is not None and v not in valid]
    if unknown:
        raise errors.UserError(f"{option}: unknown value(s) {', '.join(unknown)}; valid: {', '.join(valid or ())}"
                               + ("; pass --tree PATH for any other kernel" if option == "--kernels" else ""))
    return values


def arch_names(arches: str) -> list[str]:
    """--arches as the table's names (aliases resolved), each once ("arm64,aarch64" is one arch)."""
    return unique([resolve_arch(a).name for a in listed(arches, "--arches")])


def unique(values: list[str]) -> list[str]:
    """values in their order, each once."""
    return list(dict.fromkeys(values))


def cell_options(task: str, arch: str, tree: str | None, kernel: str = DEFAULT_KERNEL,
                 profile: str = DEFAULT_PROFILE, func: str | None = None, kconfig_add: Sequence[str] | None = None,
                 patch: Sequence[str] | None = None, no_known_issues: bool = False, toolchain: str = "gcc",
                 module: str = "rendered", verbose: bool = False, suite: str = "module",
                 sanitizers: bool = False) -> CheckOptions:
    """One cell's options, every one checked before any work starts (UserError, exit 128)."""
    if tree is None and (here := kernel_tree_here()) is not None:
        tree = str(here)
    opts = CheckOptions(
        arch=resolve_arch(arch), tree=Path(tree) if tree else None, kernel=kernel,
        profile=profile, func=func, kconfig_add=tuple(kconfig_add or ()),
        patches=tuple(patching.check_patch_file(Path(p)) for p in patch or ()),
        known_issues=not no_known_issues, command=command(task), toolchain=toolchain, module=module,
        verbose=verbose, suite=suite, sanitizers=sanitizers,
    )
    check_options(opts)
    return opts


def json_target(json: str | None) -> Path | None:
    return paths.check_output_file(Path(json), "--json") if json else None


def report_targets(junit: str | None = None, ktap: str | None = None, markdown: str | None = None,
                   kcidb_file: str | None = None, kcidb_origin: str = kcidb.ORIGIN, kcidb_base_url: str = "") -> Reports:
    """The reports asked for, each file checked writable (and KCIDB's origin and URL checked) before any
    work starts."""
    renderers: dict[str, Renderer] = {**RENDERERS, "kcidb": functools.partial(kcidb.render, origin=kcidb.check_origin(kcidb_origin),
                                                         base_url=kcidb.check_base_url(kcidb_base_url))}
    targets = {"junit": junit, "ktap": ktap, "markdown": markdown, "kcidb": kcidb_file}
    for name, target in targets.items():
        if target and target != "-":
            paths.check_output_file(Path(target), f"--{name}")
    return {k: (v, renderers[k]) for k, v in targets.items() if v}


def write_reports(reports: Sequence[cells.CellReport], targets: Reports, line: str) -> None:
    for target, render in targets.values():
        cells.write(render(reports, line), target)


def conclude_run(result: RunResult, task: str, json: Path | None, targets: Reports | None = None) -> int:
    """Print one run's table and verdict, write what was asked for, print the reproducer; the exit code."""
    print()
    print(format_result(result))
    if json:
        write_json(result, json)
    write_reports([cells.from_run(result)], targets or {}, command(task))
    print("reproduce: " + command(task))
    return errors.EXIT_PASS if result.status in PASSING else errors.EXIT_FAIL
