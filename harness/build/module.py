"""Render the test module into the kernel build folder and build it out of tree (M=)."""

from __future__ import annotations

from pathlib import Path

from harness.build.kbuild import MODULE_DIR, KernelBuild, ccache_env
from harness.build.make import BUILT_STAMP, newer_file
from harness.errors import BuildError
from harness.host import paths
from harness.host.proc import CommandLog, run_logged, tail
from harness.spec import render
from harness.spec.render import ProbeSpec


def module_dir(build: KernelBuild, files: dict[str, str], spec: ProbeSpec) -> Path:
    """One folder per distinct rendering, so different profiles never share objects."""
    key = paths.digest(*(f"{name}\n{text}" for name, text in sorted(files.items())))
    return build.out / MODULE_DIR / f"{spec.profile}-{key}"


MODULE_STAMP = ".kh-module-built"  # holds the command and the kernel make it was built after


def _built_against(build: KernelBuild, argv: list[str]) -> str:
    kernel_built = build.out / BUILT_STAMP
    return f"{' '.join(argv)}\n{kernel_built.stat().st_mtime_ns if kernel_built.exists() else 'none'}\n"


def up_to_date(build: KernelBuild, mdir: Path, argv: list[str]) -> bool:
    """The .ko was built by this command after the kernel's last make, and no file of the module's
    folder changed since."""
    stamp, ko = mdir / MODULE_STAMP, mdir / f"{render.MODULE_NAME}.ko"
    return (stamp.exists() and ko.exists() and stamp.read_text() == _built_against(build, argv)
            and not newer_file(stamp, mdir))


def build_module(build: KernelBuild, spec: ProbeSpec, log: Path, commands: CommandLog) -> Path:
    """Build the rendered module against the built kernel; return the .ko path."""
    files = render.render_files(spec)
    mdir = module_dir(build, files, spec)
    render.write_files(files, mdir)
    argv = build.make_argv(f"M={mdir}", "modules")
    if up_to_date(build, mdir, argv):
        return mdir / f"{render.MODULE_NAME}.ko"
    (mdir / MODULE_STAMP).unlink(missing_ok=True)
    if run_logged(argv, log, commands, env_extra=ccache_env(build)) != 0:
        raise BuildError(f"the test module did not build against {build.tree.path}; see {log}:\n{tail(log)}")
    ko = mdir / f"{render.MODULE_NAME}.ko"
    if not ko.exists():
        raise BuildError(f"module build produced no {ko}; see {log}")
    (mdir / MODULE_STAMP).write_text(_built_against(build, argv))
    return ko
