from __future__ import annotations

from pathlib import Path

import pytest

from harness import known
from harness.errors import UserError
from harness.verify import Check

RISCV = known.KnownIssue(id="riscv-nmi", arch="riscv64", since="6.2", before="", checks=("kprobe_records",),
                         reason="records refused in NMI context", reference="traps.c", evidence="run")


def checks(**statuses: str) -> list[Check]:
    return [Check(name, status) for name, status in statuses.items()]


def test_the_shipped_known_issues_file_loads_and_names_real_checks() -> None:
    issues = known.load()
    assert any(i.arch == "riscv64" and "kprobe_records" in i.checks for i in issues)
    for issue in issues:
        assert issue.reason and issue.evidence and issue.reference


def test_range_applies_by_arch_and_version() -> None:
    assert RISCV.applies("riscv64", "6.12.117")
    assert not RISCV.applies("riscv64", "6.1.192")
    assert not RISCV.applies("arm64", "6.12.117")


def test_failure_explained_by_a_known_issue_is_xfail_with_its_reason() -> None:
    c = known.classify("riscv64", "6.12.117", "fail", checks(insmod="pass", kprobe_records="fail"), (RISCV,))
    assert c.status == known.XFAIL
    assert "NMI" in c.note and c.issues == (RISCV,)


def test_failure_beyond_the_known_issue_is_a_plain_fail() -> None:
    c = known.classify("riscv64", "6.12.117", "fail", checks(kprobe_records="fail", rmmod="fail"), (RISCV,))
    assert c.status == known.FAIL
    assert "rmmod" in c.note


def test_known_issue_that_passes_is_xpass() -> None:
    c = known.classify("riscv64", "6.12.117", "pass", checks(kprobe_records="pass"), (RISCV,))
    assert c.status == known.XPASS


def test_outside_the_range_plain_verdicts_stand() -> None:
    assert known.classify("riscv64", "6.1.192", "pass", checks(a="pass"), (RISCV,)).status == known.PASS
    assert known.classify("riscv64", "6.1.192", "fail", checks(kprobe_records="fail"), (RISCV,)).status == known.FAIL


def test_a_broken_known_issues_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "k.toml"
    bad.write_text("[[issue]]\nid = 'x'\n")
    with pytest.raises(UserError, match="lacks"):
        known.load(bad)


WITH_CONSEQUENCES = known.KnownIssue(
    id="riscv-nmi", arch="riscv64", since="6.2", before="", checks=("kprobe_records",), reason="NMI",
    reference="traps.c", evidence="run", consequences=("retval",))


def test_consequences_are_explained_only_along_with_the_symptom() -> None:
    both = checks(kprobe_records="fail", retval="fail")
    assert known.classify("riscv64", "6.12", "fail", both, (WITH_CONSEQUENCES,)).status == known.XFAIL
    alone = checks(kprobe_records="pass", retval="fail")
    c = known.classify("riscv64", "6.12", "fail", alone, (WITH_CONSEQUENCES,))
    assert c.status == known.FAIL, "a wrong retval with records present is a real failure"
