"""inv compare on a real git history built from the distribution source, booted under QEMU."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import kcidb_io
import pytest
from conftest import KNOWN_612, require_tools, validate_json
from test_compare import GIT_ENV, git
from test_integration_qemu import inv, qemu_processes

from harness.build import tree as trees
from harness.host import paths
from harness.results import kcidb

pytestmark = pytest.mark.qemu
BAD = Path(__file__).parent / "bad-kernels"
DYNEVENT = "kernel/trace/trace_dynevent.c"
WARNING_LINE = "static __init int init_dynamic_event(void)\n{\n\tint ret;\n"


def source_repo(name: str) -> Path:
    """A git repository at a stable path in the cache whose one commit (fixed date: the same hash
    every time) is the distribution's 6.12 source."""
    source = trees.default_tree("6.12").path
    repo = paths.cache_root() / "test-repos" / name
    shutil.rmtree(repo, ignore_errors=True)
    repo.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(source), str(repo)], check=True)
    (repo / trees.UNPACKED_STAMP).unlink()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "gc.auto", "0")
    git(repo, "add", "-A", "-f", ".")
    git(repo, "commit", "-qm", "Linux 6.12 from the distribution source")
    return repo


def snapshot(folder: Path) -> str:
    """A digest of every path under folder with its size, mode, mtime and content (git's own
    files included): equal digests mean the folder was not written."""
    out = subprocess.run(
        f"cd {folder} && find . -printf '%p %s %m %T@\\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha1sum",
        shell=True, check=True, capture_output=True, text=True).stdout
    return out


@pytest.fixture(scope="module")
def series() -> Path:
    """A kernel git tree with three commits: the distribution's 6.12 source, a commit that adds a
    compiler warning in trace_dynevent.c, and a commit that applies the kprobe-never-fires patch; and
    a branch 'warns' off the source with a WARN in the kprobe dispatcher, then one more in the
    kretprobe dispatcher.
    It lives at a stable path in the cache with fixed commit dates (same hashes every time), so a
    re-run reuses its private clone and build folder."""
    require_tools("git", "make", "gcc", "qemu-system-x86_64")
    repo = source_repo("linux-6.12-series")
    text = (repo / DYNEVENT).read_text()
    assert WARNING_LINE in text
    (repo / DYNEVENT).write_text(text.replace(WARNING_LINE, WARNING_LINE + "\tint unused_in_series;\n"))
    git(repo, "commit", "-qam", "tracing: leave an unused variable behind")
    subprocess.run(["git", "-C", str(repo), "apply", str(BAD / "kprobe-never-fires.patch")], check=True,
                   env={**os.environ, **GIT_ENV})
    git(repo, "commit", "-qam", "kprobes: break entry probes")
    # a side branch whose base already WARNs and whose head WARNs at a second site
    git(repo, "checkout", "-q", "-b", "warns", "HEAD~2")
    for patch, subject in (("warn-in-dispatcher.patch", "tracing: warn on every kprobe hit"),
                           ("second-warn-in-kretprobe-dispatcher.patch", "tracing: warn on every kretprobe hit")):
        subprocess.run(["git", "-C", str(repo), "apply", str(BAD / patch)], check=True, env={**os.environ, **GIT_ENV})
        git(repo, "commit", "-qam", subject)
    git(repo, "checkout", "-q", "main")
    return repo


def compare(repo: Path, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:  # type: ignore[type-arg]
    out = tmp_path / "compare.json"
    result = inv("compare", "--tree", str(repo), "--arches", "x86_64", "--json", str(out), *args)
    assert out.exists(), result.stdout[-4000:] + result.stderr[-3000:]
    data = json.loads(out.read_text())
    validate_json(data, "compare")
    return result, data


def regressed(data: dict, after: str) -> list[str]:  # type: ignore[type-arg]
    return sorted(ch["check"] for s in data["steps"] if s["after"] == after for ch in s["changes"]
                  if ch["kind"] == "regressed")


def test_compare_names_the_regression_and_leaves_the_repository_as_it_was(series: Path, tmp_path: Path) -> None:
    before = snapshot(series)
    result, data = compare(series, tmp_path, "--base", "HEAD~2", "--kcidb", str(tmp_path / "kcidb.json"))
    assert result.returncode == 1, result.stdout[-4000:]
    head = git(series, "rev-parse", "HEAD")
    assert data["regression"] and data["first_regression"] == head
    # the entry probe stopped recording, and head warns in a file it changed
    assert {"kprobe_records", "build_warnings"} <= set(regressed(data, head))
    assert "REGRESSION: first at HEAD" in result.stdout and "kprobe_records (pass -> fail)" in result.stdout
    assert "unused_in_series" in result.stdout and "unused variable" in result.stdout
    # compare judges raw verdicts: the base fails only what the known issues explain, on both sides
    assert [c["status"] for c in data["cells"]] == ["fail", "fail"]
    base_failed = [c["name"] for c in data["cells"][0]["result"]["checks"] if c["status"] == "fail"]
    assert base_failed == KNOWN_612
    assert "reproduce: inv compare --tree" in result.stdout
    # KCIDB: a checkout per revision, named by its commit, each with its build and a failing kprobe_records on head
    doc = json.loads((tmp_path / "kcidb.json").read_text())
    kcidb_io.schema.LATEST.validate_exactly(doc)
    assert kcidb.unresolved(doc) == []
    assert {c["git_commit_hash"] for c in doc["checkouts"]} == {git(series, "rev-parse", "HEAD~2"), head}
    head_build = next(b for b in doc["builds"] if b["checkout_id"] == f"kprobe_harness:{head}")
    assert next(t for t in doc["tests"] if t["build_id"] == head_build["id"]
                and t["path"] == "kprobe_event_gen.kprobe_records")["status"] == "FAIL"
    assert snapshot(series) == before, "compare wrote into the user's repository"
    assert not qemu_processes()


def test_each_commit_is_checked_and_the_first_regression_is_the_warning(series: Path, tmp_path: Path) -> None:
    before = snapshot(series)
    result, data = compare(series, tmp_path, "--base", "HEAD~2", "--each")
    assert result.returncode == 1, result.stdout[-4000:]
    middle, head = git(series, "rev-parse", "HEAD~1"), git(series, "rev-parse", "HEAD")
    assert [r["sha"] for r in data["revisions"]][1:] == [middle, head]
    assert data["first_regression"] == middle
    assert regressed(data, middle) == ["build_warnings"]
    assert regressed(data, head) == ["kprobe_records"] or "kprobe_records" in regressed(data, head)
    # every commit after the first builds incrementally: one changed file, seconds not minutes
    for cell in data["cells"][1:]:
        build = sum(s["seconds"] for s in cell["result"]["stages"] if s["name"] == "kernel build")
        assert build < 90, f"{cell['cell']}: kernel build took {build:.0f} s"
    assert snapshot(series) == before
    assert not qemu_processes()


def test_a_waived_warning_moves_the_first_regression_to_the_broken_commit(series: Path, tmp_path: Path) -> None:
    middle = git(series, "rev-parse", "HEAD~1")
    result, data = compare(series, tmp_path, "--base", "HEAD~2", "--each", "--allow-warnings", middle[:10])
    assert result.returncode == 1, result.stdout[-4000:]
    assert data["first_regression"] == git(series, "rev-parse", "HEAD")
    assert regressed(data, middle) == []
    assert "waived by --allow-warnings" in json.dumps(data["cells"][1]["result"]["checks"])


def test_no_regression_exits_0(series: Path, tmp_path: Path) -> None:
    result, data = compare(series, tmp_path, "--base", "HEAD~2", "--head", "HEAD~1", "--allow-warnings",
                           git(series, "rev-parse", "HEAD~1"))
    assert result.returncode == 0, result.stdout[-4000:]
    assert not data["regression"]
    assert "no regression" in result.stdout


def test_a_second_warn_inside_an_already_failing_check_is_a_regression(series: Path, tmp_path: Path) -> None:
    """Base already fails kernel_log; head fails it at a new site too: changed, exit 1 (the names of
    the failed checks alone are the same on both sides)."""
    result, data = compare(series, tmp_path, "--base", "warns~1", "--head", "warns", "--allow-warnings",
                           git(series, "rev-parse", "warns")[:12])
    assert result.returncode == 1, result.stdout[-4000:]
    [change] = [ch for s in data["steps"] for ch in s["changes"] if ch["check"] == "kernel_log"]
    assert change["kind"] == "changed" and "kretprobe_dispatcher" in change["detail"], change
    assert "kprobe_dispatcher" in json.dumps(data["cells"][0]["result"]["checks"])
    assert data["first_regression"] == git(series, "rev-parse", "warns")
    assert "changed         kernel_log (fail -> fail): new: WARNING" in result.stdout
    assert not qemu_processes()
