"""A session's trace and profile parsed once: which records came from the trigger, and the
per-event counts (hits, misses, records) that the checks and the known issues read."""

from __future__ import annotations

from dataclasses import dataclass

from harness.spec.arches import PROBE_FUNC
from harness.spec.render import ProbeSpec
from harness.verdict import trace
from harness.verdict.observations import PROFILE_SPLIT, READ, Observations


def profile_hits(kprobe_profile: str) -> dict[str, tuple[int, int]]:
    """kprobe_profile lines 'EVENT HITS MISSES' as event -> (hits, misses)."""
    hits = {}
    for line in kprobe_profile.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            hits[parts[0]] = (int(parts[1]), int(parts[2]))
    return hits


@dataclass(frozen=True)
class EventFacts:
    """One event's counts: hits and misses from kprobe_profile, records from the trace."""

    hits: int  # -1 when the event is not in kprobe_profile
    misses: int
    records: int  # every record of the event
    trigger_records: int  # records from the trigger processes (as the probed function says)
    slack: int  # hits while tracing was off, measured by a second profile snapshot

    @property
    def unrecorded(self) -> int:
        return self.hits - self.records

    @property
    def all_recorded(self) -> bool:
        """Every hit has its record, apart from the hits taken while tracing was off."""
        return self.hits >= 0 and self.misses == 0 and 0 <= self.unrecorded <= self.slack

    def as_dict(self, prefix: str) -> dict[str, int]:
        return {f"{prefix}.hits": self.hits, f"{prefix}.misses": self.misses, f"{prefix}.records": self.records,
                f"{prefix}.trigger_records": self.trigger_records, f"{prefix}.unrecorded": self.unrecorded,
                f"{prefix}.slack": self.slack, f"{prefix}.all_recorded": int(self.all_recorded)}


class RecordedEvents:
    """What the kernel recorded in one guest session (its trace and kprobe_profile, parsed once),
    and which of the records came from the trigger."""

    def __init__(self, obs: Observations, spec: ProbeSpec) -> None:
        self.obs, self.spec = obs, spec
        self.dump = trace.parse_trace(obs.trace.output if obs.trace and obs.trace.ok else "")
        profile = obs.kprobe_profile.output if obs.kprobe_profile and obs.kprobe_profile.ok else ""
        first, _, second = profile.partition(PROFILE_SPLIT)
        self.hits, self.hits_again = profile_hits(first), profile_hits(second)
        self.own_function = spec.func == PROBE_FUNC

    def returns(self, record: trace.TraceRecord) -> bool:
        return record.location.endswith(f"<- {self.spec.func}")

    def kprobes(self) -> list[trace.TraceRecord]:
        return self.dump.by_event(self.spec.kprobe_event)

    def kretprobes(self) -> list[trace.TraceRecord]:
        return [r for r in self.dump.by_event(self.spec.kretprobe_event) if self.returns(r)]

    def of(self, records: list[trace.TraceRecord], kind: str) -> list[trace.TraceRecord]:
        """Records of the trigger processes of one kind (by PID: the trace prints a PID's latest comm)."""
        pids = self.obs.pids(kind)
        return [r for r in records if r.pid in pids]

    def trigger_records(self, records: list[trace.TraceRecord]) -> list[trace.TraceRecord]:
        """Records of the reading processes; for another function, any record at all."""
        return self.of(records, READ) if self.own_function else records

    def facts(self, event: str, records: list[trace.TraceRecord]) -> EventFacts:
        hit, miss = self.hits.get(event, (-1, -1))
        again = self.hits_again.get(event, (hit, miss))[0]
        return EventFacts(hit, miss, len(self.dump.by_event(event)), len(self.trigger_records(records)),
                          max(0, again - hit))
