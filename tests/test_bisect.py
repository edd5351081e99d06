"""inv bisect without a kernel: what git bisect run is given at each commit, and what it concluded."""

from __future__ import annotations

from pathlib import Path

from harness.results.run import RunResult
from harness.runs import bisect
from harness.verdict.checks import FAIL, PASS, Check

A, B, C = "a" * 40, "b" * 40, "c" * 40


def test_each_commit_runs_check_on_the_clone_and_keeps_its_result() -> None:
    argv = bisect.check_argv(Path("/cache/git/linux-1"), Path("/cache/bisect/linux-1"), ["--arch", "arm64"])
    assert argv[:2] == ["sh", "-c"]
    assert "-m harness.cli check --tree /cache/git/linux-1 --arch arm64" in argv[2]
    assert argv[2].endswith('--json "/cache/bisect/linux-1/$(git rev-parse HEAD).json"')


def test_git_s_conclusion_is_read_whether_it_named_a_commit_or_only_skipped_ones() -> None:
    assert bisect.conclusion(f"running ...\n{B} is the first bad commit\ncommit {B}\n") == (B, [])
    skipped = ("There are only 'skip'ped commits left to test.\nThe first bad commit could be any of:\n"
               f"{A}\n{B}\nWe cannot bisect more!\n")
    assert bisect.conclusion(skipped) == ("", [A, B])
    assert bisect.conclusion("bisect run failed:\nexit code 128 from 'sh -c ...' is < 0 or >= 128\n") == ("", [])


def test_the_report_names_the_first_bad_commit_with_its_failing_checks_and_findings() -> None:
    run = RunResult(arch="x86_64", kernel_version="6.12.118", tree="/c", profile="abi", func="do_sys_open",
                    checks=[Check("insmod", PASS), Check("kprobe_records", FAIL, "0 records of 3\nmore",
                                                         ("never hit",))])
    found = bisect.BisectResult(Path("/r"), C, "kprobes: break entry probes", result=run)
    text = bisect.format_bisect(found)
    assert text.splitlines()[0] == f'first bad commit: {C[:12]} "kprobes: break entry probes"'
    assert "  kprobe_records: 0 records of 3" in text and "    finding: never hit" in text
    assert found.exit_code == 1 and text.endswith("exit 1")
    hidden = bisect.BisectResult(Path("/r"), candidates=[A, B])
    assert hidden.exit_code == 125 and "2 candidates" in bisect.format_bisect(hidden)
    assert bisect.BisectResult(Path("/r")).exit_code == 128
