"""Known kernel issues (known_issues.toml) and how a cell's verdict is classified against them.

An issue applies to a cell only when every fact it predicts holds in what the guest showed (hit and
record counts per event, not the names of failed checks), so a different bug that fails the same
checks is never hidden behind it."""

from __future__ import annotations

import operator
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import UserError
from harness.spec.kernels import version_tuple
from harness.verdict.checks import FAIL, NOT_RUN, NOTHING_TO_READ, PASS, Check

KNOWN_ISSUES = Path(__file__).with_name("known_issues.toml")
XFAIL, XPASS = "xfail", "xpass"
PASSING = (PASS, XFAIL)  # statuses a run or a matrix exits 0 with
ANY_ARCH = "*"  # an issue of generic code: every arch has it
_OPS: dict[str, Callable[[int, int], bool]] = {
    "==": operator.eq, "!=": operator.ne, ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
}
_PREDICATE = re.compile(r"\s*(==|!=|>=|<=|>|<)\s*(-?\d+)\s*")


@dataclass(frozen=True)
class Predicate:
    fact: str
    op: str
    value: int

    def holds(self, facts: Mapping[str, int]) -> bool:
        return self.fact in facts and _OPS[self.op](facts[self.fact], self.value)

    def __str__(self) -> str:
        return f"{self.fact} {self.op} {self.value}"


def parse_predicate(fact: str, text: str) -> Predicate:
    m = _PREDICATE.fullmatch(text)
    if not m:
        raise UserError(f"known issue fact '{fact} = {text}': expected an operator and a number, e.g. '> 0'")
    return Predicate(fact, m.group(1), int(m.group(2)))


@dataclass(frozen=True)
class KnownIssue:
    id: str
    arch: str
    since: str
    before: str
    facts: tuple[Predicate, ...]  # the symptom: all of these hold
    checks: tuple[str, ...]  # the checks the symptom fails
    reason: str
    reference: str
    evidence: str
    impossible: tuple[str, ...] = ()  # checks with nothing to read while the symptom shows: not run

    def applies(self, arch: str, version: str) -> bool:
        v = version_tuple(version)
        return (self.arch in (arch, ANY_ARCH)
                and (not self.since or v >= version_tuple(self.since))
                and (not self.before or v < version_tuple(self.before)))

    def unmet(self, facts: Mapping[str, int]) -> list[str]:
        """The predicted facts that do not hold, with the value seen."""
        return [f"{p} (is {facts.get(p.fact, 'unknown')})" for p in self.facts if not p.holds(facts)]


def load(path: Path = KNOWN_ISSUES) -> tuple[KnownIssue, ...]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise UserError(f"cannot read the known issues file {path}: {e}") from None
    issues = []
    for entry in data.get("issue", []):
        try:
            facts = tuple(parse_predicate(k, v) for k, v in entry["facts"].items())
            if not facts:
                raise KeyError("facts")
            issues.append(KnownIssue(
                id=entry["id"], arch=entry["arch"], since=entry.get("since", ""),
                before=entry.get("before", ""), facts=facts, checks=tuple(entry["checks"]),
                reason=entry["reason"], reference=entry.get("reference", ""), evidence=entry.get("evidence", ""),
                impossible=tuple(entry.get("impossible", ())),
            ))
        except KeyError as e:
            raise UserError(f"known issue {entry.get('id', '?')} in {path} lacks {e}") from None
    return tuple(issues)


@dataclass(frozen=True)
class Classification:
    status: str  # pass, fail, xfail, xpass
    checks: tuple[Check, ...]  # the checks, with those a showing issue makes impossible marked not run
    issues: tuple[KnownIssue, ...] = ()
    note: str = ""


def classify(arch: str, version: str, checks: list[Check], facts: Mapping[str, int],
             issues: tuple[KnownIssue, ...]) -> Classification:
    """PASS/FAIL; XFAIL when issues whose predicted facts all hold explain every failed check;
    XPASS when an issue's facts no longer hold and nothing failed."""
    # an issue is weighed only where its checks ran: a result made before them, or a module without
    # them, neither shows an issue nor proves it gone
    relevant = tuple(i for i in issues if i.applies(arch, version)
                     and any(c.name in i.checks and c.offered for c in checks))
    showing = tuple(i for i in relevant if not i.unmet(facts))
    impossible = {name: i for i in showing for name in i.impossible}
    result = tuple(replace(c, status=NOT_RUN, detail=f"nothing to check while {impossible[c.name].id} shows",
                           excuse=f"{NOTHING_TO_READ}: known issue {impossible[c.name].id} shows")
                   if c.name in impossible and c.status != PASS else c for c in checks)
    failed = {c.name for c in result if c.counts_against and c.name not in impossible}
    has_checks = bool(checks)
    if not failed and not showing:
        if relevant and has_checks:  # nothing failed, and the issues' facts did not show: they are gone
            ids = ", ".join(i.id for i in relevant)
            return Classification(XPASS, result, relevant,
                                  f"known issue {ids} did not reproduce: update known_issues.toml")
        return Classification(PASS if has_checks else FAIL, result)
    explained = {name for i in showing for name in i.checks}
    if showing and failed <= explained:
        return Classification(XFAIL, result, showing, "; ".join(f"{i.id}: {i.reason}" for i in showing))
    notes = []
    if showing:
        notes.append(f"fails beyond known issue {', '.join(i.id for i in showing)}: "
                     + ", ".join(sorted(failed - explained)))
    for i in relevant:
        if i not in showing:
            notes.append(f"known issue {i.id} does not explain this: {'; '.join(i.unmet(facts))}")
    return Classification(FAIL, result, showing, "; ".join(notes))
