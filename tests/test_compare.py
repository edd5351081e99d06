"""inv compare without QEMU: refs, the private clone, the check diff, warnings in touched files."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import validate_json
from test_cli import inv

from harness.build import gitrev
from harness.build.gitrev import Revision
from harness.errors import UserError
from harness.results.run import RunResult
from harness.runs import compare, matrix
from harness.runs.options import CheckOptions
from harness.spec.arches import resolve_arch
from harness.verdict.build_warnings import warnings_check, warnings_in
from harness.verdict.checks import FAIL, NOT_RUN, PASS, Check

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "gc.auto=0", *args], check=True, capture_output=True,
                          text=True, env={**os.environ, **GIT_ENV}).stdout.strip()


def snapshot(folder: Path) -> list[tuple[str, int, int, bytes]]:
    """Every file and folder with its size, mtime and content: what 'byte-identical' means here."""
    out = []
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        out.append((str(path.relative_to(folder)), st.st_size, st.st_mtime_ns,
                    path.read_bytes() if path.is_file() else b""))
    return out


def kernel_like(r: Path) -> None:
    """The files that make a revision count as a kernel tree."""
    (r / "scripts/kconfig").mkdir(parents=True)
    (r / "scripts/kconfig/merge_config.sh").write_text("#!/bin/sh\n")
    (r / "Kconfig").write_text("")
    (r / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 1\n")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A three-commit kernel-like repository: base, a commit to kernel/trace/a.c, a commit to b.c."""
    r = tmp_path / "repo"
    (r / "kernel/trace").mkdir(parents=True)
    kernel_like(r)
    git(r, "init", "-q", "-b", "main")
    (r / "kernel/trace/a.c").write_text("int a;\n")
    (r / "kernel/trace/b.c").write_text("int b;\n")
    git(r, "add", "-A")
    git(r, "commit", "-qm", "base")
    git(r, "tag", "v1")
    (r / "kernel/trace/a.c").write_text("int a = 1;\n")
    git(r, "commit", "-qam", "change a")
    (r / "kernel/trace/b.c").write_text("int b = 2;\n")
    git(r, "commit", "-qam", "change b")
    return r


def test_refs_resolve_as_git_names_them(repo: Path) -> None:
    assert gitrev.resolve(repo, "HEAD~2").sha == gitrev.resolve(repo, "v1").sha
    head = gitrev.resolve(repo, "main")
    assert head.subject == "change b" and len(head.sha) == 40
    assert gitrev.resolve(repo, head.sha[:10]).sha == head.sha


def test_an_unknown_ref_is_a_usage_error_that_names_it(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown revision 'no-such-branch'"):
        gitrev.resolve(repo, "no-such-branch")
    with pytest.raises(UserError, match="not a git repository"):
        gitrev.check_repo(tmp_path)
    done = inv("compare", "--tree", str(repo), "--base", "nope~1", "--arches", "x86_64", cache=tmp_path / "cache")
    assert done.returncode == 128, done.stdout + done.stderr
    assert "unknown revision 'nope~1'" in done.stderr


def test_compare_needs_a_base_and_two_different_commits(repo: Path, tmp_path: Path) -> None:
    done = inv("compare", "--tree", str(repo), cache=tmp_path / "cache")
    assert done.returncode == 128 and "--base is required" in done.stderr
    done = inv("compare", "--tree", str(repo), "--base", "HEAD", cache=tmp_path / "cache")
    assert done.returncode == 128 and "same commit" in done.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "README").write_text("not a kernel\n")
    git(plain, "init", "-q", "-b", "main")
    git(plain, "add", "-A")
    git(plain, "commit", "-qm", "one")
    (plain / "README").write_text("still not a kernel\n")
    git(plain, "commit", "-qam", "two")
    done = inv("compare", "--tree", str(plain), "--base", "HEAD~1", cache=tmp_path / "cache")
    assert done.returncode == 128 and "HEAD~1 (" in done.stderr and "is not a kernel source tree" in done.stderr
    assert not (tmp_path / "cache/git").exists()  # refused before any work


def test_a_waiver_for_a_commit_outside_the_series_is_a_usage_error(repo: Path, tmp_path: Path) -> None:
    done = inv("compare", "--tree", str(repo), "--base", "HEAD~1", "--allow-warnings", "0123abcd",
               cache=tmp_path / "cache")
    assert done.returncode == 128 and "--allow-warnings 0123abcd: no such commit" in done.stderr
    done = inv("compare", "--tree", str(repo), "--base", "HEAD~1", "--toolchain", "icc", cache=tmp_path / "cache")
    assert done.returncode == 128 and "unknown --toolchain 'icc'" in done.stderr


def test_the_series_is_oldest_first_and_base_must_be_an_ancestor(repo: Path) -> None:
    base, head = gitrev.resolve(repo, "v1"), gitrev.resolve(repo, "HEAD")
    assert [r.subject for r in gitrev.series(repo, base, head)] == ["change a", "change b"]
    assert gitrev.series(repo, base, head)[-1].ref == "HEAD"
    with pytest.raises(UserError, match="not an ancestor"):
        gitrev.series(repo, head, base)
    assert gitrev.changed_files(repo, base.sha, gitrev.resolve(repo, "HEAD~1").sha) == ("kernel/trace/a.c",)


def test_the_private_clone_checks_out_revisions_and_never_writes_the_repository(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPROBE_HARNESS_CACHE", str(tmp_path / "cache"))
    (repo / "untracked.txt").write_text("the user's work in progress\n")
    before = snapshot(repo)
    clone = gitrev.ensure_clone(repo)
    assert clone == gitrev.clone_path(repo) and not (clone / "kernel").exists()  # --no-checkout
    base, head = gitrev.resolve(repo, "v1"), gitrev.resolve(repo, "HEAD")
    gitrev.checkout(clone, base.sha)
    assert (clone / "kernel/trace/a.c").read_text() == "int a;\n"
    b_mtime = (clone / "kernel/trace/b.c").stat().st_mtime_ns
    os.utime(clone / "kernel/trace/a.c", ns=(1, 1))
    (clone / "stray.o").write_text("left by a build\n")
    gitrev.checkout(clone, gitrev.resolve(repo, "HEAD~1").sha)
    assert (clone / "kernel/trace/a.c").read_text() == "int a = 1;\n"
    assert (clone / "kernel/trace/a.c").stat().st_mtime_ns > 1  # rewritten: make sees it changed
    assert (clone / "kernel/trace/b.c").stat().st_mtime_ns == b_mtime  # untouched: no rebuild
    assert not (clone / "stray.o").exists()
    assert gitrev.ensure_clone(repo) == clone  # reused, not cloned again
    gitrev.checkout(clone, head.sha)
    # a commit made after the clone is there at once: the clone borrows the repository's objects
    (repo / "kernel/trace/a.c").write_text("int a = 3;\n")
    git(repo, "commit", "-qam", "change a again")
    before = snapshot(repo)
    gitrev.checkout(gitrev.ensure_clone(repo), gitrev.resolve(repo, "HEAD").sha)
    gitrev.series(repo, base, gitrev.resolve(repo, "HEAD"))
    gitrev.changed_files(repo, base.sha, head.sha)
    assert (clone / "kernel/trace/a.c").read_text() == "int a = 3;\n"
    assert snapshot(repo) == before


def test_warnings_count_only_in_the_files_a_revision_touches() -> None:
    lines = ["  CC      kernel/trace/trace_kprobe.o",
             "../kernel/trace/trace_kprobe.c:12:6: warning: unused variable 'x' [-Wunused-variable]",
             "/src/linux/kernel/trace/trace_kprobe.c:14:1: warning: no return statement [-Wreturn-type]",
             "kernel/sched/core.c:99:2: warning: something else",
             "kernel/trace/trace_kprobe.c:12:6: error: not a warning",
             "../kernel/trace/trace_kprobe.c:12:6: warning: unused variable 'x' [-Wunused-variable]"]
    log = "\n".join(lines)
    found = warnings_in(log, ("kernel/trace/trace_kprobe.c",))
    assert found == ["kernel/trace/trace_kprobe.c:12:6: warning: unused variable 'x' [-Wunused-variable]",
                     "kernel/trace/trace_kprobe.c:14:1: warning: no return statement [-Wreturn-type]"]
    assert warnings_in(log, ("kernel/trace/kprobe.c",)) == []
    check = warnings_check(found, False, Path("build.log"))
    assert check.status == FAIL and "--allow-warnings" in check.detail
    assert warnings_check(found, True, Path("build.log")).status == PASS
    assert warnings_check([], False, Path("build.log")).status == PASS


def test_the_diff_names_regressions_changes_fixes_and_shared_failures() -> None:
    warn = "WARNING: CPU: # PID: # at kernel/trace/trace_kprobe.c:# kprobe_dispatcher+0x#/0x#"
    before = [Check("insmod", PASS), Check("kprobe_records", PASS), Check("retval", FAIL, "got 4\nmore", ("read: returned 4",)),
              Check("reload", FAIL, "no"), Check("kernel_log", FAIL, "WARN", (warn,))]
    after = [Check("insmod", PASS), Check("kprobe_records", FAIL, "0 records"),
             Check("retval", FAIL, "got 5", ("read: returned 5",)), Check("reload", PASS),
             Check("kernel_log", FAIL, "WARN", (warn,))]
    changes = compare.diff_checks(before, after)
    assert [(c.check, c.kind) for c in changes] == [
        ("kprobe_records", compare.REGRESSED), ("retval", compare.CHANGED), ("reload", compare.FIXED),
        ("kernel_log", compare.BOTH)]
    assert changes[0].detail == "0 records" and changes[1].detail == "new: read: returned 5"
    assert changes[2].detail == "no" and changes[3].detail == "WARN"
    # a second WARN site on head is a change inside a check that already failed
    second = "WARNING: CPU: # PID: # at kernel/trace/trace_probe.c:# store_trace_args+0x#/0x#"
    more = compare.diff_checks(before[4:], [Check("kernel_log", FAIL, "WARN", (warn, second))])
    assert [(c.kind, c.detail) for c in more] == [(compare.CHANGED, f"new: {second}")]
    # fixed only when head passes: hits without records, then a probe that never fires, is no fix
    lost = [Check("kprobe_records", FAIL, "x", ("hit but never recorded",)), Check("kprobe_hit_counts", FAIL, "y")]
    never = [Check("kprobe_records", FAIL, "x", ("never hit",)), Check("kprobe_hit_counts", NOT_RUN, "never hit")]
    assert [(c.check, c.kind) for c in compare.diff_checks(lost, never)] == [
        ("kprobe_records", compare.CHANGED), ("kprobe_hit_counts", compare.NOT_RUN_AFTER)]
    # a head that no longer boots regresses on 'boot'; checks it never reached are not listed
    stopped = compare.diff_checks(before[:2], [Check("boot", FAIL, "timeout")])
    assert [(c.check, c.kind, c.before) for c in stopped] == [("boot", compare.REGRESSED, "-")]
    assert compare.diff_checks(before[:2], before[:2]) == []
    # a commit that touches no warning file did not fix the warnings of the commit before it
    warned = [Check("build_warnings", FAIL, "1 compiler warning")]
    assert compare.diff_checks(warned, [Check("build_warnings", PASS)]) == []


def _cell(arch: str, rev: Revision, checks: list[Check], error: str = "") -> matrix.Cell:
    opts = CheckOptions(arch=resolve_arch(arch), tree=Path("/clone"), revision=rev.sha)
    result = RunResult(arch=arch, kernel_version="6.12.1", tree="/clone", profile="abi", func="do_sys_open",
                       checks=checks, revision=rev.sha, artifacts=f"/runs/{arch}-{rev.short}")
    status = PASS if checks and all(c.status == PASS for c in checks) and not error else FAIL
    return matrix.Cell(opts, opts.label, result=result, error=error, status=status,
                       build_error=error.startswith("kernel build failed"))


def test_every_commit_is_compared_with_the_one_before_and_the_first_regression_is_named() -> None:
    revs = [Revision("v1", "a" * 40, "base"), Revision("bbbbbbbbbbbb", "b" * 40, "warns"),
            Revision("HEAD", "c" * 40, "breaks")]
    ok = [Check("insmod", PASS), Check("kprobe_records", PASS)]
    cells = [_cell("x86_64", revs[0], ok), _cell("arm64", revs[0], ok),
             _cell("x86_64", revs[1], [*ok, Check("build_warnings", PASS)]),
             _cell("arm64", revs[1], [], error="kernel build failed; see build.log"),
             _cell("x86_64", revs[2], [Check("insmod", PASS), Check("kprobe_records", FAIL, "0 records")]),
             _cell("arm64", revs[2], ok)]
    result = compare.CompareResult(Path("/repo"), revs, ["x86_64", "arm64"], matrix.MatrixResult(cells),
                                   compare.steps(revs, ["x86_64", "arm64"], cells))
    assert [(s.arch, s.after.ref, [c.check for c in s.regressed]) for s in result.steps] == [
        ("x86_64", "bbbbbbbbbbbb", []), ("arm64", "bbbbbbbbbbbb", ["kernel_build"]),
        ("x86_64", "HEAD", ["kprobe_records"]), ("arm64", "HEAD", [])]
    assert result.first_regression == revs[1]
    text = compare.format_compare(result)
    assert "NO BUILD" in text
    assert "arm64: bbbbbbbbbbbb -> HEAD (cccccccccccc):\n  fixed           kernel_build" in text
    assert text.splitlines()[-1].startswith('REGRESSION: first at bbbbbbbbbbbb "warns" (arm64: kernel_build)')


def test_no_regression_says_exit_0(tmp_path: Path) -> None:
    revs = [Revision("v1", "a" * 40, "base"), Revision("HEAD", "c" * 40, "fix")]
    cells = [_cell("x86_64", revs[0], [Check("insmod", PASS), Check("retval", FAIL, "got 4")]),
             _cell("x86_64", revs[1], [Check("insmod", PASS), Check("retval", PASS)])]
    result = compare.CompareResult(Path("/repo"), revs, ["x86_64"], matrix.MatrixResult(cells),
                                   compare.steps(revs, ["x86_64"], cells))
    assert result.first_regression is None
    text = compare.format_compare(result)
    assert "fixed           retval (fail -> pass): got 4" in text
    assert text.splitlines()[-1] == "no regression (1 step(s) on x86_64): exit 0"
    out = tmp_path / "compare.json"
    compare.write_json(result, out, "inv compare --base v1")
    data = json.loads(out.read_text())
    validate_json(data, "compare")
    assert data["steps"][0]["changes"][0]["kind"] == "fixed" and data["first_regression"] is None


def test_cells_are_revision_major_and_watch_the_files_each_revision_changes(repo: Path) -> None:
    revs = [gitrev.resolve(repo, "v1"), *gitrev.series(repo, gitrev.resolve(repo, "v1"), gitrev.resolve(repo, "HEAD"))]
    template = CheckOptions(arch=resolve_arch("x86_64"))
    cells = compare.cell_options(template, Path("/clone"), revs, ["x86_64", "arm64"], repo, {revs[2].sha[:8]})
    assert [(c.revision, c.arch.name) for c in cells] == [(r.sha, a) for r in revs for a in ("x86_64", "arm64")]
    assert [c.warn_files for c in cells[::2]] == [(), ("kernel/trace/a.c",), ("kernel/trace/b.c",)]
    assert [c.allow_warnings for c in cells[::2]] == [False, False, True]
    assert all(c.tree == Path("/clone") and not c.known_issues for c in cells)


def test_a_step_built_and_booted_on_neither_side_is_untested_and_never_exits_0(tmp_path: Path) -> None:
    revs = [Revision("v1", "a" * 40, "base"), Revision("HEAD", "c" * 40, "head")]
    cells = [_cell("x86_64", revs[0], [], error="kernel build failed; see build.log"),
             _cell("x86_64", revs[1], [Check("boot", FAIL, "no answer within 120s")])]
    result = compare.CompareResult(Path("/repo"), revs, ["x86_64"], matrix.MatrixResult(cells),
                                   compare.steps(revs, ["x86_64"], cells))
    assert result.first_regression is None and result.exit_code == compare.EXIT_UNTESTED
    assert "kernel build failed" in result.steps[0].untested and "boot" in result.steps[0].untested
    text = compare.format_compare(result)
    assert "untested, nothing to compare" in text and text.endswith("exit 125")
    out = tmp_path / "compare.json"
    compare.write_json(result, out)
    data = json.loads(out.read_text())
    validate_json(data, "compare")
    assert data["exit_code"] == 125 and data["steps"][0]["untested"]
    # base built and head did not: a regression already
    cells[0] = _cell("x86_64", revs[0], [Check("insmod", PASS)])
    again = compare.CompareResult(Path("/repo"), revs, ["x86_64"], matrix.MatrixResult(cells),
                                  compare.steps(revs, ["x86_64"], cells))
    assert again.exit_code == 1 and not again.steps[0].untested


def test_kernel_log_findings_are_warn_sites_without_line_numbers() -> None:
    from harness.verdict.observations import CommandResult
    from harness.verdict.session_checks import kernel_log_check

    def log(*sites: str) -> CommandResult:
        lines = [f"<4>[    {i}.12345{i}] WARNING: CPU: 0 PID: {40 + i} at {site}+0x1{i}/0x80" for i, site in enumerate(sites)]
        return CommandResult("dmesg", "\n".join(["boot", *lines, "[    9.1] Call Trace:"]), 0)

    one = kernel_log_check(log("kernel/trace/trace_kprobe.c:1802 kprobe_dispatcher"))
    moved = kernel_log_check(log("kernel/trace/trace_kprobe.c:1810 kprobe_dispatcher"))
    two = kernel_log_check(log("kernel/trace/trace_kprobe.c:1802 kprobe_dispatcher",
                               "kernel/trace/trace_probe.c:900 store_trace_args"))
    assert one.findings == moved.findings and len(one.findings) == 1, "a WARN that moved a line is the same site"
    assert compare.diff_checks([one], [moved])[0].kind == compare.BOTH
    assert compare.diff_checks([one], [two])[0].kind == compare.CHANGED
    assert one.findings[0].startswith("WARNING: CPU: # PID: # at kernel/trace/trace_kprobe.c:# kprobe_dispatcher")



@pytest.mark.parametrize("error", [
    "patch fix.patch does not apply to /clone (Linux 6.12.1): nothing was tested",
    "the disk holding /cache/builds/x is full (0.0 GB free): kernel build failed",
    "Linux 6.12.1 needs LLVM 15.0.0 or newer for s390x",
])
def test_a_side_that_errored_for_a_reason_not_the_trees_is_untested_never_a_regression(error: str) -> None:
    """Only a kernel that does not build is the tree's fault: any other error leaves the step untested."""
    revs = [Revision("v1", "a" * 40, "base"), Revision("HEAD", "c" * 40, "head")]
    for errored in (0, 1):
        cells = [_cell("x86_64", revs[0], [Check("insmod", PASS), Check("retval", FAIL, "got 4")]),
                 _cell("x86_64", revs[1], [Check("insmod", PASS), Check("retval", PASS)])]
        cells[errored] = _cell("x86_64", revs[errored], [], error=error)
        result = compare.CompareResult(Path("/repo"), revs, ["x86_64"], matrix.MatrixResult(cells),
                                       compare.steps(revs, ["x86_64"], cells))
        assert result.first_regression is None and result.exit_code == compare.EXIT_UNTESTED
        assert error.split(":")[0] in result.steps[0].untested
        assert "UNTESTED" in compare.format_compare(result) and "NO BUILD" not in compare.format_compare(result)


def test_a_check_that_passed_and_then_is_excused_or_gone_is_a_change() -> None:
    """pass -> not run (the head's kernel stopped offering it) and a check gone from a session that
    ran to its end are changes that fail the comparison; a check not run without an excuse counts."""
    full = [Check("insmod", PASS), Check("fetch_argn", PASS), Check("fetch_char", PASS), Check("kernel_log", PASS),
            Check("reload", PASS)]
    later = [Check("insmod", PASS), Check("fetch_argn", "not run", "lacks it", excuse="not offered, no expectation: x"),
             Check("kernel_log", "not run", "dmesg was not read"), Check("reload", PASS)]
    changes = {c.check: c for c in compare.diff_checks(full, later)}
    assert changes["fetch_argn"].kind == compare.STOPPED and "no expectation" in changes["fetch_argn"].detail
    assert changes["fetch_char"].kind == compare.STOPPED and "no such check" in changes["fetch_char"].detail
    assert changes["kernel_log"].kind == compare.REGRESSED
    assert compare.STOPPED in compare.BAD
    # a session that stopped early: the checks it never reached are not each a change
    stopped = [Check("insmod", PASS), Check("boot", "fail", "no answer")]
    assert {c.check for c in compare.diff_checks(full, stopped)} == {"boot"}


def test_a_stopped_check_is_written_to_the_json_the_schema_reads(tmp_path: Path) -> None:
    revs = [Revision("v1", "a" * 40, "base"), Revision("HEAD", "c" * 40, "head")]
    cells = [_cell("x86_64", revs[0], [Check("insmod", PASS), Check("fetch_argn", PASS), Check("reload", PASS)]),
             _cell("x86_64", revs[1], [Check("insmod", PASS), Check("fetch_argn", "not run", "lacks it",
                                                                    excuse="not offered, no expectation: x"),
                                       Check("reload", PASS)])]
    result = compare.CompareResult(Path("/repo"), revs, ["x86_64"], matrix.MatrixResult(cells),
                                   compare.steps(revs, ["x86_64"], cells))
    assert result.exit_code == 1 and result.first_regression == revs[1]
    out = tmp_path / "compare.json"
    compare.write_json(result, out)
    validate_json(json.loads(out.read_text()), "compare")
