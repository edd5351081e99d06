from __future__ import annotations

from pathlib import Path

from harness.verdict import trace


def test_recorded_x86_64_trace_parses_every_record(data: Path) -> None:
    dump = trace.parse_trace((data / "trace-x86_64-6.12-upstream.txt").read_text())
    assert dump.entries_in_buffer == dump.entries_written == len(dump.records)
    assert not dump.unparsed
    kprobes = dump.by_event("gen_kprobe_test")
    krets = dump.by_event("gen_kretprobe_test")
    assert kprobes and krets
    first = kprobes[0]
    assert first.location.startswith("do_sys_open+")
    assert [k for k, _ in first.fields] == ["dfd", "filename", "flags", "mode"]
    assert krets[0].location.endswith("<- do_sys_open")
    assert {r.comm for r in kprobes} == {"sh", "cat"}


def test_record_with_quoted_string_field_and_spaces() -> None:
    line = ('  cat-31  [000] .....  2.500: gen_kprobe_test: (do_sys_open+0x0/0x2a) dfd=-100 '
            'filename="/tmp/a b" flags=0x0 mode=0x0')
    record = trace.parse_record(line)
    assert record is not None
    assert record.field("filename") == '"/tmp/a b"'
    assert record.field("mode") == "0x0"


def test_record_with_tgid_column_and_dashes_in_comm() -> None:
    line = " kworker/u2:1-12 (   12) [001] d..1.  10.000001: gen_kretprobe_test: (x+0x1/0x2 <- do_sys_open) arg1=0x3"
    record = trace.parse_record(line)
    assert record is not None
    assert (record.comm, record.pid, record.cpu) == ("kworker/u2:1", 12, 1)


def test_lost_events_are_counted() -> None:
    text = "# tracer: nop\nCPU:0 [LOST 42 EVENTS]\n  cat-1 [000] ..... 1.0: gen_kprobe_test: (f+0x0/0x1) a=1\n"
    dump = trace.parse_trace(text)
    assert dump.lost_events == 42
    assert len(dump.records) == 1


def test_kprobe_events_lines_parse_with_maxactive() -> None:
    text = ("p:kprobes/gen_kprobe_test do_sys_open dfd=%ax filename=%dx flags=%cx mode=+4($stack)\n"
            "r10:kprobes/gen_kretprobe_test do_sys_open arg1=$retval\n")
    defs = trace.parse_kprobe_events(text)
    assert [(d.kind, d.group, d.event, d.location) for d in defs] == [
        ("p", "kprobes", "gen_kprobe_test", "do_sys_open"),
        ("r", "kprobes", "gen_kretprobe_test", "do_sys_open"),
    ]
    assert defs[0].args[3] == ("mode", "+4($stack)")


def test_unnamed_fields_are_named_by_position() -> None:
    assert trace.expected_args(("$retval",)) == (("arg1", "$retval"),)
    assert trace.expected_args(("a=%ax", "%dx")) == (("a", "%ax"), ("arg2", "%dx"))


def test_recorded_riscv64_6_12_trace_has_kretprobe_records_only(data: Path) -> None:
    dump = trace.parse_trace((data / "trace-riscv64-6.12-upstream-no-kprobe-records.txt").read_text())
    assert not dump.unparsed
    assert dump.by_event("gen_kprobe_test") == []
    rets = dump.by_event("gen_kretprobe_test")
    assert len(rets) == 17
    assert rets[0].location == "do_trap_ecall_u+0xa4/0xde <- do_sys_open"
    assert rets[1].field("arg1") == "0x3"
