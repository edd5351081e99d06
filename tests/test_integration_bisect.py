"""`git bisect run` with the README's recipe on a real git history: only the tree can mark a commit
bad; what cannot be tested at a commit skips it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tools
from test_compare import GIT_ENV, git
from test_integration_compare import source_repo
from test_integration_qemu import qemu_processes

pytestmark = pytest.mark.qemu
BAD = Path(__file__).parent / "bad-kernels"
HARNESS = Path(sys.executable).parent / "kprobe-harness"  # the installed command the README's recipe runs
MAKEFILE = "Makefile"


@pytest.fixture(scope="module")
def history() -> Path:
    """The distribution's 6.12 source, two commits whose kernel does not configure (make stops on an
    $(error) in the top Makefile), the commit that mends it, and one that breaks entry kprobes. A stable path in the cache
    with fixed dates (the same hashes every time), so a re-run reuses its build folder."""
    require_tools("git", "make", "gcc", "patch", "rsync", "qemu-system-x86_64")
    repo = source_repo("linux-6.12-bisect")
    good = (repo / MAKEFILE).read_text()
    for n in (1, 2):
        (repo / MAKEFILE).write_text(f"$(error this commit does not build ({n}))\n" + good)
        git(repo, "commit", "-qam", f"kbuild: a Makefile that stops make ({n})")
    (repo / MAKEFILE).write_text(good)
    git(repo, "commit", "-qam", "kbuild: mend the Makefile")
    subprocess.run(["git", "-C", str(repo), "apply", str(BAD / "kprobe-never-fires.patch")], check=True,
                   env={**os.environ, **GIT_ENV})
    git(repo, "commit", "-qam", "kprobes: break entry probes")
    return repo


def bisect_run(repo: Path, *extra: str) -> str:
    """git bisect start HEAD (bad) root (good), then the README's recipe; the bisect log."""
    git(repo, "bisect", "reset")
    git(repo, "bisect", "start", "HEAD", "HEAD~4")
    try:
        done = subprocess.run(["git", "-C", str(repo), "bisect", "run", str(HARNESS), "check", "--arch", "x86_64",
                               "--tree", str(repo), *extra], capture_output=True, text=True, timeout=3600,
                              stdin=subprocess.DEVNULL, check=False, env={**os.environ, **GIT_ENV})
        return done.stdout + done.stderr + git(repo, "bisect", "log")
    finally:
        git(repo, "bisect", "reset")


def test_bisect_skips_a_commit_that_does_not_build_and_names_the_one_that_broke(history: Path) -> None:
    out = bisect_run(history)
    broke = git(history, "rev-parse", "HEAD")
    assert f"{broke} is the first bad commit" in out, out[-5000:]
    assert "git bisect skip" in out, out[-5000:]  # a commit whose kernel does not configure was skipped
    assert not qemu_processes()


def test_a_patch_that_applies_to_no_commit_names_no_first_bad_commit(history: Path, tmp_path: Path) -> None:
    stray = tmp_path / "stray.patch"
    stray.write_text((BAD / "retval-off-by-one.patch").read_text().replace("regs_return_value(regs);", "nothing;"))
    out = bisect_run(history, "--patch", str(stray))
    assert "is the first bad commit" not in out, out[-5000:]
    assert "only 'skip'ped commits left" in out, out[-5000:]
    assert "does not apply" in out and "skip this commit" in out


@pytest.mark.full
def test_inv_bisect_names_the_first_bad_commit_with_its_findings_and_leaves_the_repository_alone(
        history: Path, tmp_path: Path) -> None:
    """The same history through inv bisect: git bisect runs in the private clone (the long set: the
    clone's first build is one more cold kernel)."""
    head = git(history, "rev-parse", "HEAD")
    done = subprocess.run([str(HARNESS), "bisect", "--tree", str(history), "--good", "HEAD~4", "--bad", "HEAD",
                           "--arch", "x86_64"], capture_output=True, text=True, timeout=3600, stdin=subprocess.DEVNULL,
                          check=False)
    assert done.returncode == 1, done.stdout[-4000:] + done.stderr[-2000:]
    assert f'first bad commit: {head[:12]} "kprobes: break entry probes"' in done.stdout
    assert "  kprobe_records:" in done.stdout and "finding: never hit" in done.stdout
    assert git(history, "rev-parse", "HEAD") == head and not (history / ".git/BISECT_LOG").exists()
    assert not qemu_processes()
