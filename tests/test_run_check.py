"""One check, end to end, with fakes at the process boundary: the build and the boot are replaced, the
run's own logic (options, the session, the checks, a stage that stops, the known issues, the files
it keeps) is the real one."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import require_tools
from fakes import RuleShell
from test_guest import abi_trace, healthy_rules
from test_kernel import make_tree

from harness.errors import StageError
from harness.runs import check
from harness.runs.build_and_boot import Built
from harness.runs.options import CheckOptions
from harness.spec.arches import ARCHES
from harness.verdict import known_issues
from harness.verdict.observations import Targets

TOKEN = "0badcafe"


class FakeConsole(RuleShell):
    def transcript(self) -> str:
        return "KH-GUEST-READY 6.12.1\n"


def fake_process_boundary(monkeypatch: pytest.MonkeyPatch, shell: RuleShell | None,
                          stop: StageError | None = None) -> None:
    """build_everything builds nothing and booted boots nothing: the console answers by rules, or
    the boot stops with stop."""

    def build_everything(opts: CheckOptions, spec: object, build: object, run_dir: Path, *rest: object,
                         **kw: object) -> Built:
        # the seed session alone: the rules answer its commands (the grammar target's are tested on recordings)
        return Built(replace(spec, grammar=False), build, run_dir / "kprobe_event_gen_test.ko",  # type: ignore[type-var]
                     run_dir / "initramfs.cpio", run_dir / "vmlinux")

    @contextmanager
    def booted(*args: object, **kw: object) -> Iterator[RuleShell]:
        if stop is not None:
            raise stop
        assert shell is not None
        yield shell

    monkeypatch.setattr(check, "build_everything", build_everything)
    monkeypatch.setattr(check, "booted", booted)
    monkeypatch.setattr(check.guest.Targets, "new", classmethod(lambda cls, token=None: Targets(
        f"/tmp/kh-{TOKEN}", f"/tmp/kh-missing-{TOKEN}", f"/tmp/kh-new-{TOKEN}")))


@pytest.fixture
def opts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CheckOptions:
    require_tools("make", "flex", "bison", "bc", "gcc", "qemu-system-x86_64")
    monkeypatch.setenv("KPROBE_HARNESS_CACHE", str(tmp_path / "cache"))
    return CheckOptions(arch=ARCHES["x86_64"], tree=make_tree(tmp_path / "linux"), command="inv check")


def test_a_healthy_session_passes_and_the_run_keeps_its_files(opts: CheckOptions, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_process_boundary(monkeypatch, FakeConsole(healthy_rules(abi_trace())))
    result = check.run_check(opts, echo=lambda line: None)
    assert (result.verdict, result.status) == ("pass", "pass"), [c for c in result.checks if c.status != "pass"]
    run_dir = Path(result.artifacts)
    kept = json.loads((run_dir / "result.json").read_text())
    assert kept["status"] == "pass" and kept["command"] == "inv check"
    assert "gen_kprobe_test" in (run_dir / "trace.txt").read_text() and (run_dir / "commands.sh").exists()
    assert result.facts["kprobe.trigger_records"] == 3


def test_a_stage_that_stops_fails_with_its_name_and_the_kernel_log_of_the_console(
        opts: CheckOptions, monkeypatch: pytest.MonkeyPatch) -> None:
    tail = "[    1.000000] Kernel panic - not syncing: VFS: Unable to mount root fs"
    fake_process_boundary(monkeypatch, None, StageError("boot", "no answer within 120s", tail))
    result = check.run_check(opts, echo=lambda line: None)
    assert result.status == "fail"
    assert [(c.name, c.status) for c in result.checks] == [("boot", "fail"), ("kernel_log", "fail")]
    assert "Kernel panic" in result.checks[1].detail and result.checks[1].findings
    assert "stage 'boot' failed: no answer within 120s" in result.error and "console.log" in result.error


def test_a_known_issue_makes_an_xfail_only_when_its_facts_hold(opts: CheckOptions,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    no_entry = "\n".join(line for line in abi_trace().splitlines() if "gen_kprobe_test:" not in line) + "\n"
    issue = known_issues.KnownIssue(
        id="entry-silent", arch="x86_64", since="6.12", before="", reason="entry probes record nothing",
        facts=(known_issues.parse_predicate("kprobe.records", "== 0"), known_issues.parse_predicate("kprobe.hits", "> 0")),
        checks=("kprobe_records", "kprobe_hit_counts"), reference="-", evidence="-",
        impossible=("filename_arg", "register_args"),
        findings=(re.compile("hit but never recorded"), re.compile("hits without records")))
    monkeypatch.setattr(known_issues, "load", lambda: (issue,))
    fake_process_boundary(monkeypatch, FakeConsole(healthy_rules(no_entry, hits=5)))
    assert check.run_check(opts, echo=lambda line: None).status == "xfail"
    fake_process_boundary(monkeypatch, FakeConsole(healthy_rules(no_entry, hits=0)))
    never = check.run_check(opts, echo=lambda line: None)
    assert never.status == "fail" and "does not explain" in never.note
