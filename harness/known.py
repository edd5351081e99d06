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
    checks: tuple[str, ...]  # the symptom: all of these fail
    reason: str
    reference: str
    evidence: str
    consequences: tuple[str, ...] = ()  # may fail too, but only along with the symptom

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
                consequences=tuple(entry.get("consequences", ())),
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
    """PASS/FAIL; XFAIL when known issues whose whole symptom shows explain every failed check;
    XPASS when a known issue's symptom is gone."""
    relevant = tuple(i for i in issues if i.applies(arch, version))
    failed = {c.name for c in checks if c.status != PASS}
    if not relevant:
        return Classification(PASS if verdict == PASS else FAIL)
    showing = tuple(i for i in relevant if set(i.checks) <= failed)
    gone = tuple(i for i in relevant if not set(i.checks) & failed)
    if gone and (verdict == PASS or not failed):
        ids = ", ".join(i.id for i in gone)
        return Classification(XPASS, gone, f"known issue {ids} did not reproduce: update known_issues.toml")
    explained = {name for i in showing for name in (*i.checks, *i.consequences)}
    if showing and failed <= explained:
        return Classification(XFAIL, showing, "; ".join(f"{i.id}: {i.reason}" for i in showing))
    unexplained = ", ".join(sorted(failed - explained))
    return Classification(FAIL, showing, f"fails beyond the known issue: {unexplained}" if showing else "")
