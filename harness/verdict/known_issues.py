"""Known kernel issues (known_issues.toml) and how a cell's verdict is classified against them.

An issue applies to a cell only when every fact it predicts holds in what the guest showed (hit and
record counts per event, not the names of failed checks), and it explains a failed check only when it
predicts every finding of that failure (records missing on an event that was built, a crash at a named
site): a different bug that fails the same checks, or fails them another way, is never hidden behind it."""

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
    findings: tuple[re.Pattern[str], ...] = ()  # how its checks fail: every finding of one matches one
    toolchain: str = ""  # the toolchain it needs ('' any)

    def applies(self, arch: str, version: str, toolchain: str = "") -> bool:
        v = version_tuple(version)
        return (self.arch in (arch, ANY_ARCH)
                and (not self.toolchain or not toolchain or self.toolchain == toolchain)
                and (not self.since or v >= version_tuple(self.since))
                and (not self.before or v < version_tuple(self.before)))

    def unpredicted(self, check: Check) -> list[str]:
        """The findings of a failed check of this issue's that it does not predict (a check with no
        findings has nothing it could predict: ['no findings'])."""
        if not check.findings:
            return ["no findings"]
        return [f for f in check.findings if not any(p.fullmatch(f) for p in self.findings)]

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
                findings=tuple(re.compile(p) for p in entry["findings"]), toolchain=entry.get("toolchain", ""),
            ))
            if not issues[-1].findings:
                raise KeyError("findings")
        except KeyError as e:
            raise UserError(f"known issue {entry.get('id', '?')} in {path} lacks {e}") from None
        except re.error as e:
            raise UserError(f"known issue {entry.get('id', '?')} in {path}: a finding is no regular expression ({e})") from None
    return tuple(issues)


@dataclass(frozen=True)
class Classification:
    status: str  # pass, fail, xfail, xpass
    checks: tuple[Check, ...]  # the checks, with those a showing issue makes impossible marked not run
    issues: tuple[KnownIssue, ...] = ()
    note: str = ""


def classify(arch: str, version: str, checks: list[Check], facts: Mapping[str, int],
             issues: tuple[KnownIssue, ...], toolchain: str = "") -> Classification:
    """PASS/FAIL; XFAIL when issues whose predicted facts all hold explain every failed check, each
    with findings the issue predicts; XPASS when an issue's facts no longer hold and nothing failed."""
    # an issue is weighed only where its checks ran: a result made before them, or a module without
    # them, neither shows an issue nor proves it gone
    relevant = tuple(i for i in issues if i.applies(arch, version, toolchain)
                     and any(c.name in i.checks and c.offered for c in checks))
    showing = tuple(i for i in relevant if not i.unmet(facts))
    impossible = {name: i for i in showing for name in i.impossible}
    result = tuple(replace(c, status=NOT_RUN, detail=f"nothing to check while {impossible[c.name].id} shows",
                           excuse=f"{NOTHING_TO_READ}: known issue {impossible[c.name].id} shows")
                   if c.name in impossible and c.status != PASS else c for c in checks)
    failing = {c.name: c for c in result if c.counts_against and c.name not in impossible}
    failed = set(failing)
    has_checks = bool(checks)
    if not failed and not showing:
        if relevant and has_checks:  # nothing failed, and the issues' facts did not show: they are gone
            ids = ", ".join(i.id for i in relevant)
            return Classification(XPASS, result, relevant,
                                  f"known issue {ids} did not reproduce: update known_issues.toml")
        return Classification(PASS if has_checks else FAIL, result)
    explained = {name for name, c in failing.items()
                 if any(name in i.checks and not i.unpredicted(c) for i in showing)}
    if showing and failed <= explained:
        return Classification(XFAIL, result, showing, "; ".join(f"{i.id}: {i.reason}" for i in showing))
    notes = []
    partly = {name: i for name, c in failing.items() for i in showing if name in i.checks and name not in explained}
    if partly:
        notes.append("; ".join(f"known issue {i.id} matched {name} only in part: it does not predict "
                               + ", ".join(repr(f) for f in i.unpredicted(failing[name]))
                               for name, i in sorted(partly.items())))
    if showing and failed - explained - set(partly):
        notes.append(f"fails beyond known issue {', '.join(i.id for i in showing)}: "
                     + ", ".join(sorted(failed - explained - set(partly))))
    for i in relevant:
        if i not in showing:
            notes.append(f"known issue {i.id} does not explain this: {'; '.join(i.unmet(facts))}")
    return Classification(FAIL, result, showing, "; ".join(notes))
