"""The kernel's make is skipped only when nothing it reads changed (harness.build.make).

A stand-in `make` on PATH writes the image and counts its calls, so every case runs in
milliseconds; tests/test_integration_fresh.py proves the same on a real kernel tree.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from harness.build import kbuild, module
from harness.build import make as kmake
from harness.build import tree as trees
from harness.host.proc import CommandLog
from harness.spec import render
from harness.spec.arches import ARCHES
from harness.spec.render import probe_spec

FAKE_MAKE = """#!/bin/sh
echo "$@" >> "$FAKE_MAKE_CALLS"
for a in "$@"; do case "$a" in O=*) out="${a#O=}";; M=*) mod="${a#M=}";; esac; done
if [ -n "$mod" ]; then : > "$mod/kprobe_event_gen_test.ko"; exit 0; fi
: > "$out/vmlinux"
[ -n "$FAKE_MAKE_EDITS" ] && echo edited >> "$FAKE_MAKE_EDITS"
exit 0
"""


@pytest.fixture
def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> kbuild.KernelBuild:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "make").write_text(FAKE_MAKE)
    (bin_dir / "make").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_MAKE_CALLS", str(tmp_path / "calls"))
    monkeypatch.delenv("KCFLAGS", raising=False)
    tree = tmp_path / "linux"
    for rel, text in {"Makefile": "VERSION = 6\n", "Kconfig": "", "kernel/trace/trace_kprobe.c": "int x;\n",
                      "kernel/trace/Kconfig": "config FTRACE\n", "include/linux/kprobes.h": "#define K 1\n"}.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(text)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".config").write_text("CONFIG_KPROBES=y\n")
    past = time.time() - 60  # as a tree unpacked a minute ago
    for path in [*tree.rglob("*"), tree, *out.rglob("*"), out]:
        os.utime(path, (past, past))
    return kbuild.KernelBuild(trees.KernelTree(tree, "6.12.1"), ARCHES["x86_64"], out, (), "")


def make(build: kbuild.KernelBuild) -> str:
    return kmake.build_kernel(build, build.out.parent / "build.log", CommandLog())


def calls(build: kbuild.KernelBuild) -> int:
    path = build.out.parent / "calls"
    return len(path.read_text().splitlines()) if path.exists() else 0


def pause() -> None:
    """A change closer than STAMP_MARGIN to a make counts for the next make too: keep clear of it."""
    time.sleep(kmake.STAMP_MARGIN + 0.05)


def later(path: Path, text: str | None = None) -> None:
    """Change a file the way an editor does, well apart from any make."""
    pause()
    if text is not None:
        path.write_text(text)
    else:
        path.touch()
    pause()


def test_the_second_make_is_skipped_when_nothing_changed(build: kbuild.KernelBuild) -> None:
    assert make(build) == "no finished make recorded in this folder"
    assert make(build) == ""
    assert make(build) == ""
    assert calls(build) == 1
    assert (build.out.parent / "build.log").read_text().count("# make skipped: nothing changed") == 2


@pytest.mark.parametrize("rel", ["kernel/trace/trace_kprobe.c", "kernel/trace/Kconfig", "include/linux/kprobes.h"])
def test_a_changed_source_kconfig_or_header_runs_make(build: kbuild.KernelBuild, rel: str) -> None:
    make(build)
    later(build.tree.path / rel, "changed\n")
    assert make(build) == f"{build.tree.path / rel} changed"
    assert make(build) == ""
    assert calls(build) == 2


def test_a_new_a_removed_and_a_renamed_file_run_make(build: kbuild.KernelBuild) -> None:
    tree = build.tree.path
    make(build)
    pause()
    (tree / "kernel/trace/new.c").write_text("")
    pause()
    assert make(build).endswith("changed")
    pause()
    (tree / "kernel/trace/new.c").unlink()
    pause()
    assert make(build) == f"{tree / 'kernel/trace'} changed"
    pause()
    os.rename(tree / "Kconfig", tree / "Kconfig.old")
    pause()
    assert make(build) == f"{tree} changed"
    assert calls(build) == 4


def test_a_change_in_the_build_folder_runs_make_but_the_module_folder_does_not(build: kbuild.KernelBuild) -> None:
    make(build)
    (build.out / kbuild.MODULE_DIR / "abi-123").mkdir()
    (build.out / kbuild.MODULE_DIR / "abi-123" / "x.c").write_text("")
    assert make(build) == ""
    later(build.out / ".config", "CONFIG_KPROBES=n\n")
    assert make(build) == f"{build.out / '.config'} changed"
    (build.out / "vmlinux").unlink()
    assert make(build) == "vmlinux is missing"
    assert calls(build) == 3


def test_another_command_environment_or_commit_runs_make(build: kbuild.KernelBuild,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    make(build)
    monkeypatch.setenv("KCFLAGS", "-O1")
    assert make(build).startswith("the make command, its environment")
    assert make(build) == ""
    tree = build.tree.path
    git = ["git", "-C", str(tree), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    pause()
    assert make(build).startswith("the make command, its environment")  # the commit is part of the release
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "two"], check=True)
    assert make(build).startswith("the make command, its environment")
    subprocess.run([*git, "status"], check=True, capture_output=True)  # .git changes, the files do not
    assert make(build) == ""
    assert calls(build) == 4


def test_a_source_changed_while_make_ran_runs_make_again(build: kbuild.KernelBuild,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    make(build)
    pause()
    monkeypatch.setenv("FAKE_MAKE_EDITS", str(build.tree.path / "kernel/trace/trace_kprobe.c"))
    (build.out / ".config").touch()
    assert make(build) == f"{build.out / '.config'} changed"
    monkeypatch.delenv("FAKE_MAKE_EDITS")
    pause()
    assert make(build) == f"{build.tree.path / 'kernel/trace/trace_kprobe.c'} changed"
    assert make(build) == ""


def test_a_failed_make_is_not_taken_for_a_finished_one(build: kbuild.KernelBuild) -> None:
    make(build)
    fake = Path(os.environ["PATH"].split(os.pathsep)[0]) / "make"
    fake.write_text("#!/bin/sh\nexit 2\n")
    later(build.tree.path / "kernel/trace/trace_kprobe.c", "broken\n")
    with pytest.raises(Exception, match="kernel build failed"):
        make(build)
    fake.write_text(FAKE_MAKE)
    assert make(build) == "no finished make recorded in this folder"


def test_the_module_is_rebuilt_only_after_a_kernel_make_or_a_change_of_its_own(build: kbuild.KernelBuild) -> None:
    spec = probe_spec(ARCHES["x86_64"], "abi", None)
    log, commands = build.out.parent / "build.log", CommandLog()
    make(build)
    module.build_module(build, spec, log, commands)
    module.build_module(build, spec, log, commands)
    assert calls(build) == 2  # the kernel once, the module once
    later(build.tree.path / "kernel/trace/trace_kprobe.c", "x\n")
    make(build)
    module.build_module(build, spec, log, commands)
    assert calls(build) == 4
    mdir = module.module_dir(build, render.render_files(spec), spec)
    later(mdir / "Kbuild", "obj-m += other.o\n")  # a hand edit: rendered back, and built again
    module.build_module(build, spec, log, commands)
    assert calls(build) == 5
