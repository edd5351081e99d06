"""Where the probes were armed and what the session left behind, read from kprobes/list and taint."""

from __future__ import annotations

from harness.spec import render
from harness.spec.arches import ARCHES
from harness.verdict import placement, trace
from harness.verdict.observations import CommandResult

SPEC = render.probe_spec(ARCHES["arm64"], "abi")
LISTED = """\
ffff8000802c1e40  k  do_sys_open+0x0    [FTRACE]
ffff8000802c1e40  r  do_sys_open+0x0    [FTRACE]
ffff800080012340  k  kernel_clone+0x8
"""


def read(text: str, status: int = 0) -> CommandResult:
    return CommandResult("cat", text, status)


def records(location: str, n: int = 3) -> list[trace.TraceRecord]:
    return [trace.TraceRecord("cat", 30 + i, 0, 1.0 + i, "gen_kprobe_test", location, ()) for i in range(n)]


def test_kprobes_list_is_read_as_kind_symbol_and_offset() -> None:
    assert placement.armed(LISTED) == [placement.Armed("k", "do_sys_open", 0), placement.Armed("r", "do_sys_open", 0),
                                       placement.Armed("k", "kernel_clone", 8)]


def test_an_entry_probe_at_the_entry_passes_and_past_it_fails_even_when_the_records_agree() -> None:
    ok = placement.location_check(read(LISTED), SPEC, records("do_sys_open+0x0/0x38"), (0, 4))
    assert ok.status == "pass" and "do_sys_open+0x0" in ok.detail
    past = LISTED.replace("do_sys_open+0x0    [FTRACE]\nffff8000802c1e40  r", "do_sys_open+0x8\nffff8000802c1e40  r")
    bad = placement.location_check(read(past), SPEC, records("do_sys_open+0x8/0x38"), (0, 4))
    assert bad.status == "fail" and "do_sys_open+0x8, not at the entry (+0x0 or +0x4" in bad.detail
    assert bad.findings == ("armed at +0x8",)


def test_records_that_name_another_place_than_kprobes_list_fail() -> None:
    check = placement.location_check(read(LISTED), SPEC, records("do_sys_open+0x4/0x38"), (0, 4))
    assert check.status == "fail" and "records say (do_sys_open+0x4/0x38)" in check.detail


def test_without_debugfs_or_without_our_kprobe_the_location_fails() -> None:
    assert placement.location_check(read("cat: can't open", 1), SPEC, [], (0,)).status == "fail"
    missing = placement.location_check(read(LISTED.replace("do_sys_open", "vfs_read")), SPEC, [], (0,))
    assert missing.status == "fail" and "no kprobe on do_sys_open" in missing.detail


def test_a_kprobe_still_armed_after_rmmod_fails_released() -> None:
    assert placement.released_check(read(""), SPEC).status == "pass"
    left = placement.released_check(read(LISTED), SPEC)
    assert left.status == "fail" and "k do_sys_open+0x0, r do_sys_open+0x0" in left.detail


def test_only_the_taint_the_module_causes_is_allowed() -> None:
    assert placement.taint_check(read("4096\n"), placement.OOT_MODULE).status == "pass"
    warned = placement.taint_check(read(str(4096 | 512) + "\n"), placement.OOT_MODULE)
    assert warned.status == "fail" and "flags W beyond the module's own (O)" in warned.detail
    assert placement.taint_check(read("4096\n"), 0).status == "fail", "the tree's own module taints nothing"
    assert placement.taint_check(read("", 1), 0).status == "fail"
