"""Known kernel issues (known_issues.toml) and how a cell's verdict is classified against them."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from harness.arches import version_tuple
from harness.errors import UserError
from harness.verify import FAIL, PASS, Check

__all__ = ["FAIL", "PASS", "XFAIL", "XPASS", "Classification", "KnownIssue", "classify", "load"]

KNOWN_ISSUES = Path(__file__).with_name("known_issues.toml")
XFAIL, XPASS = "xfail", "xpass"


@dataclass(frozen=True)
class KnownIssue:
    id: str
    arch: str
    since: str
    before: str
    checks: tuple[str, ...]
    reason: str
    reference: str
    evidence: str

    def applies(self, arch: str, version: str) -> bool:
        v = version_tuple(version)
        return (self.arch == arch
                and (not self.since or v >= version_tuple(self.since))
                and (not self.before or v < version_tuple(self.before)))


def load(path: Path = KNOWN_ISSUES) -> tuple[KnownIssue, ...]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise UserError(f"cannot read the known issues file {path}: {e}") from None
    issues = []
    for entry in data.get("issue", []):
        try:
            issues.append(KnownIssue(
                id=entry["id"], arch=entry["arch"], since=entry.get("since", ""),
                before=entry.get("before", ""), checks=tuple(entry["checks"]), reason=entry["reason"],
                reference=entry.get("reference", ""), evidence=entry.get("evidence", ""),
            ))
        except KeyError as e:
            raise UserError(f"known issue {entry.get('id', '?')} in {path} lacks {e}") from None
    return tuple(issues)


@dataclass(frozen=True)
class Classification:
    status: str  # pass, fail, xfail, xpass
    issues: tuple[KnownIssue, ...] = ()
    note: str = ""


def classify(arch: str, version: str, verdict: str, checks: list[Check],
             issues: tuple[KnownIssue, ...]) -> Classification:
    """PASS/FAIL, or XFAIL when every failed check is explained by a known issue, XPASS when a
    known issue's checks now pass."""
    relevant = tuple(i for i in issues if i.applies(arch, version))
    failed = {c.name for c in checks if c.status != PASS}
    if not relevant:
        return Classification(PASS if verdict == PASS else FAIL)
    explained = {name for i in relevant for name in i.checks}
    if verdict == PASS or not failed:
        ids = ", ".join(i.id for i in relevant)
        return Classification(XPASS, relevant, f"known issue {ids} did not reproduce: update known_issues.toml")
    matched = tuple(i for i in relevant if failed & set(i.checks))
    if failed <= explained:
        return Classification(XFAIL, matched, "; ".join(f"{i.id}: {i.reason}" for i in matched))
    unexplained = ", ".join(sorted(failed - explained))
    return Classification(FAIL, matched, f"fails beyond the known issue: {unexplained}")
