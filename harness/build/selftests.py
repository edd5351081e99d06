"""The kernel's own probe tests, taken from the tree under test: its ftrace selftest cases for kprobes
and dynamic events (with the framework that runs them, for the initramfs), and its KUnit parser,
which reads the boot-time KUnit suites out of a kernel log."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.build.kbuild import KernelBuild
from harness.errors import SetupError, Untestable, UserError
from harness.host.proc import CommandLog, run_logged, tail

GuestFile = tuple[str, Path, int]  # a file the guest gets: its path there, the host file and its mode

FTRACE_DIR = "tools/testing/selftests/ftrace"
CASE_DIRS = ("kprobe", "dynevent")  # under test.d: the cases about probes
FRAMEWORK = ("ftracetest", "test.d/functions")
GUEST_DIR = "/kh/ftrace"  # where the initramfs carries them
KUNIT = "tools/testing/kunit/kunit.py"


def ftrace_cases(tree: Path) -> tuple[str, ...]:
    """The probe cases of a tree, as paths under test.d ("kprobe/add_and_remove.tc"): kprobe's, then
    dynevent's, each sorted, those that load a module last, so a module bug that hangs the guest
    (6.12's tprobe oops) hides no other case."""
    top = tree / FTRACE_DIR
    missing = [f for f in FRAMEWORK if not (top / f).exists()]
    if missing:
        raise Untestable(f"{tree} has no {FTRACE_DIR}/{missing[0]}: --suite ftrace runs the tree's own ftrace "
                         "selftests (Linux 4.1 or newer); choose --suite module or boot")
    cases = [str(p.relative_to(top / "test.d")) for d in CASE_DIRS for p in (top / "test.d" / d).glob("*.tc")]
    return tuple(sorted(cases, key=lambda c: (c.endswith("_module.tc"), CASE_DIRS.index(c.split("/")[0]), c)))


def guest_files(tree: Path, cases: tuple[str, ...]) -> tuple[GuestFile, ...]:
    """What the initramfs carries for the cases: guest path, host path and mode of each file."""
    top = tree / FTRACE_DIR
    files = [(f"{GUEST_DIR}/{f}", top / f, 0o755 if f == "ftracetest" else 0o644) for f in FRAMEWORK]
    return tuple(files + [(f"{GUEST_DIR}/test.d/{c}", top / "test.d" / c, 0o755) for c in cases])


def installed_modules(build: KernelBuild, root: Path, log: Path, commands: CommandLog) -> tuple[GuestFile, ...]:
    """The kernel's modules (the sample modules the *_module cases load with modprobe) installed by
    make modules_install with depmod into root, as the files the guest gets under /lib/modules."""
    shutil.rmtree(root, ignore_errors=True)
    argv = build.make_argv("modules_install", f"INSTALL_MOD_PATH={root}", "INSTALL_MOD_STRIP=1")
    if run_logged(argv, log, commands) != 0:
        raise SetupError(f"make modules_install failed (the ftrace cases' sample modules); see {log}:\n{tail(log)}")
    return tuple((f"/{p.relative_to(root)}", p, 0o644) for p in sorted(root.rglob("*"))
                 if p.is_file() and not p.is_symlink())


def kunit_results(tree: Path, kernel_log: str) -> dict[str, object] | None:
    """The KUnit results in a kernel log, as the tree's own parser reads them (its --json form), or
    None when the tree has no parser."""
    parser = tree / KUNIT
    if not parser.exists():
        return None
    with tempfile.TemporaryDirectory(prefix="kh-kunit-") as scratch:
        log, out = Path(scratch) / "dmesg.txt", Path(scratch) / "kunit.json"
        log.write_text(kernel_log)
        done = subprocess.run([sys.executable, str(parser), "parse", str(log), f"--json={out}"],
                              capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
        if not out.exists():
            raise UserError(f"the tree's KUnit parser ({parser}) failed: {done.stderr.strip()[-500:]}")
        data: dict[str, object] = json.loads(out.read_text())
        return data
