"""The probe-grammar target's checks: every field of every record against the value the module
passed (spec/grammar.py), one check per element of the grammar; the API's refusals of malformed
definitions; and no grammar event left after rmmod (pure: no processes, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.spec import grammar
from harness.spec.grammar import CALLS, Element, Event, Expected, Grammar
from harness.verdict import trace
from harness.verdict.checks import FAIL, NO_EXPECTATION, NOT_RUN, PASS, Check, clip, excused
from harness.verdict.observations import REFUSAL_LINE, CommandResult, Observations, read_problem

REFUSALS = "api_refusals"
REMOVED = "grammar_events_removed"
FAULT = "(fault)"  # what the trace prints for a string or memory fetch that failed


def check_names(target: Grammar) -> tuple[str, ...]:
    return (*(e.check for e in target.elements()), REFUSALS, REMOVED)


@dataclass(frozen=True)
class Built:
    """One line of the module's status file: how far a build got, and what it returned."""

    name: str
    place: str
    stage: str
    ret: int


@dataclass
class Status:
    mid: str = ""  # the label inside kh_args, as "kh_args+0x<offset>"
    events: list[Built] = field(default_factory=list)  # in the order of Grammar.events
    refusals: dict[str, Built] = field(default_factory=dict)


def parse_status(text: str) -> Status:
    status = Status()
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "mid":
            status.mid = words[1]
        elif len(words) == 5 and words[0] == "event" and _is_int(words[4]):
            status.events.append(Built(words[1], words[2], words[3], int(words[4])))
        elif len(words) == 4 and words[0] == "refusal" and _is_int(words[3]):
            status.refusals[words[1]] = Built(words[1], "", words[2], int(words[3]))
    return status


def _is_int(text: str) -> bool:
    return re.fullmatch(r"-?\d+", text) is not None


@dataclass(frozen=True)
class LogEntry:
    """One error_log entry: the message, the command and the caret's column in the command."""

    message: str
    command: str
    caret: int

    def word(self) -> int:
        """Which space-separated word of the command the caret points into (-1: none)."""
        at = 0
        for i, w in enumerate(self.command.split(" ")):
            if at <= self.caret < at + max(len(w), 1):
                return i
            at += len(w) + 1
        return -1


_ERROR = re.compile(r"^\[\s*\d+\.\d+\]\s+\S+: error: (?P<message>.*)$")
_COMMAND = "  Command: "


def parse_error_log(text: str) -> list[LogEntry]:
    entries: list[LogEntry] = []
    lines = [line.rstrip("\r") for line in text.splitlines() if line.strip()]  # a serial log may double its line ends
    for i, line in enumerate(lines):
        m = _ERROR.match(line)
        if not m or i + 2 >= len(lines) or not lines[i + 1].startswith(_COMMAND):
            continue
        caret = lines[i + 2].find("^")
        entries.append(LogEntry(m.group("message").strip(), lines[i + 1][len(_COMMAND):], caret - len(_COMMAND)))
    return entries


def refusal_logs(result: CommandResult | None) -> dict[str, str]:
    """The refusal loop's output: case -> the error_log read after it."""
    logs: dict[str, list[str]] = {}
    case = None
    for line in (result.output if result else "").splitlines():
        if line.startswith(REFUSAL_LINE + " "):
            case = line.split()[1]
            logs[case] = []
        elif case is not None:
            logs[case].append(line)
    return {k: "\n".join(v) for k, v in logs.items()}


def probed(location: str) -> str:
    """The function a record's probe sits on: 'kh_args+0x4/0x39 [mod]' or 'caller+0x1/0x2 <- kh_args'."""
    if " <- " in location:
        return location.rsplit(" <- ", 1)[1].strip()
    return location.split("+", 1)[0]


def field_values(record: trace.TraceRecord, names: tuple[str, ...]) -> dict[str, str]:
    """Each field's printed value, split at the known names (a symbol's value holds a space)."""
    body = record.body
    text = body[body.index(")") + 1:] if body.startswith("(") and ")" in body else body
    text = " " + text.strip()
    values: dict[str, str] = {}
    starts = []
    at = 0
    for name in names:
        found = text.find(f" {name}=", at)
        if found < 0:
            continue
        starts.append((name, found))
        at = found + 1
    for i, (name, start) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else len(text)
        values[name] = text[start + len(name) + 2:end]
    return values


def matches(expected: Expected, got: str | None) -> bool:
    if got is None:
        return False
    return expected.fullmatch(got) is not None if isinstance(expected, re.Pattern) else got == expected


def _shown(expected: Expected) -> str:
    return f"/{expected.pattern}/" if isinstance(expected, re.Pattern) else expected


@dataclass(frozen=True)
class EventResult:
    """What one definition showed: its build, its records of the calls, the fields that differ."""

    event: Event
    built: Built | None
    records: int
    wrong: tuple[tuple[str, int, str, str], ...]  # field, call (1-based), recorded, expected


class GrammarSession:
    """The grammar target's observations, parsed once."""

    def __init__(self, obs: Observations, target: Grammar) -> None:
        self.obs, self.target = obs, target
        self.readme = obs.readme.output if obs.readme and obs.readme.ok else ""
        listed = obs.tracefs_files.output.split() if obs.tracefs_files and obs.tracefs_files.ok else None
        self.files = tuple(p.rsplit("/", 1)[-1] for p in listed) if listed is not None else None
        self.status = parse_status(obs.grammar_status.output if obs.grammar_status else "")
        self.dump = trace.parse_trace(obs.grammar_trace.output if obs.grammar_trace and obs.grammar_trace.ok else "")
        first = (obs.grammar_call.output.strip().splitlines() or [""])[0] if obs.grammar_call else ""
        self.pid = int(first) if first.strip().isdigit() else None
        self.built_log = parse_error_log(obs.grammar_built.output if obs.grammar_built else "")

    def result(self, index: int) -> EventResult:
        event = self.target.events[index]
        built = self.status.events[index] if index < len(self.status.events) else None
        records = [r for r in self.dump.by_event(event.name)
                   if r.pid == self.pid and probed(r.location) == event.function]
        names = tuple(f.name for f in event.fields)
        wrong = []
        for call, record in enumerate(records[:CALLS]):
            values = field_values(record, names)
            for f in event.fields:
                if not matches(f.expected[call], values.get(f.name)):
                    wrong.append((f.name, call + 1, values.get(f.name, "(missing)"), _shown(f.expected[call])))
        if event.place.endswith(grammar.AT_MID):
            for call, record in enumerate(records[:CALLS]):
                at = record.location.split("/", 1)[0]
                if not self.status.mid or at != self.status.mid or self.status.mid.endswith("+0x0"):
                    wrong.append(("(location)", call + 1, at, self.status.mid or "the label's place"))
        return EventResult(event, built, len(records), tuple(wrong))

    def listed_kind(self, event: str) -> str:
        """How kprobe_events (read after the refusals) lists an event: p, r or r<maxactive> ('' if not)."""
        for line in (self.obs.grammar_events.output if self.obs.grammar_events else "").splitlines():
            m = re.match(rf"([pr]\d*):kprobes/{re.escape(event)} ", line.strip())
            if m:
                return m.group(1)
        return ""

    def lost(self) -> str:
        d = self.dump
        if d.entries_written is not None and d.entries_in_buffer != d.entries_written or d.lost_events:
            return (f"; the ring buffer kept {d.entries_in_buffer} of {d.entries_written} entries"
                    f"{f' and marked {d.lost_events} lost' if d.lost_events else ''}")
        return ""


def _element_check(session: GrammarSession, element: Element) -> Check:
    missing = grammar.offered(element, session.readme, session.files)
    if missing:
        return excused(element.check, NO_EXPECTATION, f"this kernel's README lacks "
                                                      f"{', '.join(repr(m) for m in missing)} ({element.what})")
    results = [session.result(i) for i, e in enumerate(session.target.events) if e.element == element.check]
    problems, findings = [], []
    for r in results:
        e = r.event
        if r.built is None or r.built.ret:
            said = [f"{x.message} at '{x.command.split(' ')[x.word()] if x.word() >= 0 else '?'}'"
                    for x in session.built_log if f"/{e.name} " in x.command]
            how = f"{r.built.stage} returned {r.built.ret}" if r.built else "the module did not report it"
            problems.append(f"{e.name} on {e.place} was not built: {how}" + (f" ({'; '.join(said)})" if said else ""))
            findings.append(f"{e.name} not built ({r.built.stage if r.built else 'no report'})")
            continue
        if r.records != CALLS:
            problems.append(f"{e.name} on {e.function}: {r.records} records of the {CALLS} calls" + session.lost())
            findings.append(f"{e.name} records {'missing' if r.records < CALLS else 'extra'}")
        for name, call, got, want in r.wrong:
            problems.append(f"{e.name} {name}, call {call}: recorded {clip(got, 70)}, expected {clip(want, 70)}")
            findings.append(f"{e.name} {name} wrong")
        kind = session.listed_kind(e.name)
        if e.kind not in ("p", "r") and kind != e.kind:  # r<maxactive>: the kernel must keep the number
            problems.append(f"{e.name}: kprobe_events lists it as {kind or 'nothing'}:, defined as {e.kind}:")
            findings.append(f"{e.name} kind")
    if not problems:
        fields = sum(len(r.event.fields) for r in results)
        sample = results[0].event.fields[0]
        return Check(element.check, PASS, f"{element.what}: {fields} fields x {CALLS} calls as passed, e.g. "
                                          f"{results[0].event.name} {sample.definition} = {clip(_shown(sample.expected[0]), 40)}")
    shown = problems[:6] + ([f"... and {len(problems) - 6} more"] if len(problems) > 6 else [])
    return Check(element.check, FAIL, f"{element.what}: " + "; ".join(shown), tuple(sorted(set(findings))))


def _refusal_problem(session: GrammarSession, refusal: grammar.Refusal, log: str | None,
                     left: set[str]) -> tuple[str, str]:
    """(problem, finding) for one malformed definition; ('', answer) when it was refused as it should be."""
    built = session.status.refusals.get(refusal.case)
    if built is None or log is None:
        return f"{refusal.case}: no answer from the module", f"{refusal.case} not run"
    if built.ret >= 0:
        return f"{refusal.case}: accepted ({built.stage} returned {built.ret})", f"{refusal.case} accepted"
    entries = parse_error_log(log)
    if refusal.case in left:
        return f"{refusal.case}: refused ({built.ret}) but {refusal.event} is left in kprobe_events", \
            f"{refusal.case} left an event"
    if not refusal.message:
        if entries:
            return (f"{refusal.case}: the gen API refuses it itself, yet error_log says '{entries[-1].message}'",
                    f"{refusal.case} logged")
        return "", f"{refusal.case} ({built.stage}, {built.ret})"
    if not entries:
        return f"{refusal.case}: refused ({built.ret}) with no error_log entry", f"{refusal.case} not logged"
    entry = entries[-1]
    if entry.message != refusal.message:
        return (f"{refusal.case}: error_log says '{entry.message}', expected '{refusal.message}'",
                f"{refusal.case} message")
    if f"/{refusal.event} " not in entry.command + " " or entry.word() != refusal.token:
        word = entry.command.split(" ")[entry.word()] if entry.word() >= 0 else "nothing"
        want = (f"kprobes/{refusal.event} {refusal.place} " + " ".join(refusal.fields)).split(" ")[refusal.token]
        return (f"{refusal.case}: error_log's caret points at '{word}', expected '{want}' ({entry.command})",
                f"{refusal.case} caret")
    return "", f"{refusal.case} ({built.ret}: {entry.message})"


def _left(session: GrammarSession) -> set[str]:
    """The refusals whose event shows in kprobe_events after they ran."""
    events = trace.parse_kprobe_events(session.obs.grammar_events.output if session.obs.grammar_events else "")
    built = {e.name for e in session.target.events}
    left = set()
    for r in session.target.refusals:
        asked = trace.expected_args(r.fields)
        for d in events:
            if d.event == r.event and (r.event not in built or d.args == asked):
                left.add(r.case)
    return left


def refusals_check(session: GrammarSession) -> Check:
    obs = session.obs
    problem = read_problem(obs.refusals, "the refusals' error_log") or read_problem(obs.grammar_events, "kprobe_events")
    if problem:
        return Check(REFUSALS, FAIL, problem, ("unreadable",))
    logs, left = refusal_logs(obs.refusals), _left(session)
    problems: list[str] = []
    answers: list[str] = []
    findings: list[str] = []
    for refusal in session.target.refusals:
        bad, said = _refusal_problem(session, refusal, logs.get(refusal.case), left)
        (problems if bad else answers).append(bad or said)
        if bad:
            findings.append(said)
    if problems:
        return Check(REFUSALS, FAIL, "malformed definitions not refused as documented: " + "; ".join(problems),
                     tuple(sorted(findings)))
    return Check(REFUSALS, PASS, f"{len(answers)} malformed definitions refused, none left behind, each error_log "
                                 "caret on the bad word: " + ", ".join(answers))


def removed_check(obs: Observations, target: Grammar) -> Check:
    problem = read_problem(obs.kprobe_events_after, "kprobe_events after rmmod")
    if problem:
        return Check(REMOVED, FAIL, problem, ("unreadable",))
    assert obs.kprobe_events_after is not None
    names = set(target.event_names()) | {r.event for r in target.refusals}
    left = sorted({d.event for d in trace.parse_kprobe_events(obs.kprobe_events_after.output) if d.event in names})
    if left:
        return Check(REMOVED, FAIL, f"grammar events left after rmmod: {', '.join(left)}", tuple(f"{n} left" for n in left))
    return Check(REMOVED, PASS, f"none of the {len(target.event_names())} grammar events is left after rmmod")


def grammar_checks(obs: Observations, target: Grammar) -> list[Check]:
    """One check per element of the grammar, then the refusals (rmmod's check comes later)."""
    if obs.grammar_trace is None or obs.grammar_status is None:
        return [Check(name, NOT_RUN, "the session did not get as far as the grammar target")
                for name in check_names(target)[:-1]]
    session = GrammarSession(obs, target)
    if read_problem(obs.readme, "the tracefs README"):
        return [Check(name, FAIL, read_problem(obs.readme, "the tracefs README"), ("README unreadable",))
                for name in check_names(target)[:-1]]
    return [*(_element_check(session, e) for e in target.elements()), refusals_check(session)]


def grammar_facts(obs: Observations, target: Grammar) -> dict[str, int]:
    """Per element: fields recorded wrong (a missing record's fields count as wrong), how many of them
    read (fault) or name an ELF mapping symbol ($...), and the records of the calls (for known issues)."""
    if obs.grammar_trace is None:
        return {}
    session = GrammarSession(obs, target)
    facts: dict[str, int] = {}
    for i, event in enumerate(target.events):
        r = session.result(i)
        key = f"grammar.{event.element}"
        facts[f"{key}.wrong"] = facts.get(f"{key}.wrong", 0) + len(r.wrong) + abs(CALLS - r.records) * len(event.fields)
        facts[f"{key}.faults"] = facts.get(f"{key}.faults", 0) + sum(1 for w in r.wrong if w[2] == FAULT)
        facts[f"{key}.records"] = facts.get(f"{key}.records", 0) + r.records
        facts[f"{key}.mapping_symbols"] = facts.get(f"{key}.mapping_symbols", 0) + sum(
            1 for w in r.wrong if w[2].lstrip('"').startswith("$"))
    return facts
