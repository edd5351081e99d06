"""Parsers for what the guest's tracefs shows: the trace buffer and kprobe_events."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_RECORD = re.compile(
    r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+"
    r"(?:\(\s*(?:\d+|-+)\)\s+)?"  # optional tgid column
    r"\[(?P<cpu>\d+)\]\s+"
    r"(?:(?P<flags>[^\s]{4,5})\s+)?"  # irq-info flags column, when enabled
    r"(?P<ts>\d+\.\d+):\s+"
    r"(?P<event>[A-Za-z_][A-Za-z0-9_]*):\s+"
    r"(?P<body>.*)$"
)
_LOCATION = re.compile(r"^\((?P<location>[^)]*)\)\s*(?P<fields>.*)$")
_FIELD = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S+)')
_ENTRIES = re.compile(r"entries-in-buffer/entries-written:\s*(\d+)/(\d+)")
_LOST = re.compile(r"\[LOST (\d+) EVENTS\]")


@dataclass(frozen=True)
class TraceRecord:
    comm: str
    pid: int
    cpu: int
    timestamp: float
    event: str
    location: str  # "do_sys_open+0x0/0x2a" or "caller+0x49/0xa3 <- do_sys_open"
    fields: tuple[tuple[str, str], ...]
    body: str = ""  # everything after "EVENT: ", as printed

    def field(self, name: str) -> str | None:
        for key, value in self.fields:
            if key == name:
                return value
        return None


@dataclass
class TraceDump:
    records: list[TraceRecord] = field(default_factory=list)
    entries_in_buffer: int | None = None
    entries_written: int | None = None
    lost_events: int = 0
    unparsed: list[str] = field(default_factory=list)

    def by_event(self, event: str) -> list[TraceRecord]:
        return [r for r in self.records if r.event == event]


def parse_record(line: str) -> TraceRecord | None:
    m = _RECORD.match(line)
    if not m:
        return None
    body = m.group("body")
    loc = _LOCATION.match(body)
    location, field_text = (loc.group("location"), loc.group("fields")) if loc else ("", body)
    return TraceRecord(
        comm=m.group("comm").strip(),
        pid=int(m.group("pid")),
        cpu=int(m.group("cpu")),
        timestamp=float(m.group("ts")),
        event=m.group("event"),
        location=location,
        fields=tuple((k, v) for k, v in _FIELD.findall(field_text)),
        body=body,
    )


def parse_trace(text: str) -> TraceDump:
    """Parse the text of /sys/kernel/tracing/trace (header comments, records, LOST markers)."""
    dump = TraceDump()
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if line.lstrip().startswith("#"):
            m = _ENTRIES.search(line)
            if m:
                dump.entries_in_buffer, dump.entries_written = int(m.group(1)), int(m.group(2))
            continue
        lost = _LOST.search(line)
        if lost:
            dump.lost_events += int(lost.group(1))
            continue
        record = parse_record(line)
        if record:
            dump.records.append(record)
        else:
            dump.unparsed.append(line)
    return dump


@dataclass(frozen=True)
class ProbeDefinition:
    """One line of kprobe_events: p|r[MAXACTIVE]:GROUP/EVENT LOCATION NAME=FETCHARG..."""

    kind: str  # "p" or "r"
    group: str
    event: str
    location: str
    args: tuple[tuple[str, str], ...]


_DEFINITION = re.compile(r"^(?P<kind>[pr])\d*:(?P<group>[^/\s]+)/(?P<event>\S+)\s+(?P<location>\S+)(?P<args>.*)$")


def parse_kprobe_events(text: str) -> list[ProbeDefinition]:
    definitions = []
    for raw in text.splitlines():
        m = _DEFINITION.match(raw.strip())
        if not m:
            continue
        args = tuple((a.split("=", 1)[0], a.split("=", 1)[1]) for a in m.group("args").split() if "=" in a)
        definitions.append(
            ProbeDefinition(
                kind=m.group("kind"),
                group=m.group("group"),
                event=m.group("event"),
                location=m.group("location"),
                args=args,
            )
        )
    return definitions


def expected_args(fields: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """How the kernel lists fields: unnamed ones become argN (1-based position)."""
    result = []
    for i, f in enumerate(fields, start=1):
        name, sep, value = f.partition("=")
        result.append((name, value) if sep else (f"arg{i}", f))
    return tuple(result)
