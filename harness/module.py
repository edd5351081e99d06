"""Render the test module into the kernel build folder and build it out of tree (M=)."""

from __future__ import annotations

from pathlib import Path

from harness import paths, render
from harness.errors import BuildError
from harness.kernel import KernelBuild
from harness.proc import CommandLog, run_logged, tail
from harness.render import ProbeSpec


def module_dir(build: KernelBuild, files: dict[str, str], spec: ProbeSpec) -> Path:
    """One folder per distinct rendering, so different profiles never share objects."""
    key = paths.digest(*(f"{name}\n{text}" for name, text in sorted(files.items())))
    return build.out / "kprobe-harness-module" / f"{spec.profile}-{key}"


def build_module(build: KernelBuild, spec: ProbeSpec, log: Path, commands: CommandLog) -> Path:
    """Build the rendered module against the built kernel; return the .ko path."""
    files = render.render_files(spec)
    mdir = module_dir(build, files, spec)
    render.write_files(files, mdir)
    argv = build.make_argv(f"M={mdir}", "modules")
    if run_logged(argv, log, commands) != 0:
        raise BuildError(f"the test module did not build against {build.tree.path}; see {log}:\n{tail(log)}")
    ko = mdir / f"{render.MODULE_NAME}.ko"
    if not ko.exists():
        raise BuildError(f"module build produced no {ko}; see {log}")
    return ko
