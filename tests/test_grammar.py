"""The probe-grammar target's data (spec/grammar.py): layout, printed values, README offers, C literals."""

from __future__ import annotations

import re

import pytest

from harness.spec import grammar
from harness.spec.arches import ARCHES
from harness.spec.render import probe_spec, render_files


@pytest.mark.parametrize("typ,value,shown", [
    ("s8", 0x80, "-128"), ("u8", 0x80, "128"), ("x8", 0x80, "0x80"), ("s8", 0x17F, "127"),
    ("s16", 0xFFFF, "-1"), ("x16", 0x10000, "0x0"), ("s32", 0x80000000, "-2147483648"),
    ("u64", -1, "18446744073709551615"), ("s64", 1 << 63, "-9223372036854775808"), ("x64", 0, "0x0"),
    ("char", ord("A"), "'A'"),
])
def test_show_prints_values_as_the_trace_does(typ: str, value: int, shown: str) -> None:
    assert grammar.show(typ, value) == shown


def test_bitfield_takes_width_bits_from_offset() -> None:
    assert grammar.show_bitfield(4, 3, 0b1010_1000) == str(0b0101)
    assert grammar.show_bitfield(5, 27, 0xFFFFFFFF) == "31"


def test_layout_aligns_each_member_naturally() -> None:
    at64, at32 = grammar.layout(8), grammar.layout(4)
    assert [at64[n] for n in ("s8v", "u8v", "s16v", "u16v", "s32v", "u32v", "s64v", "u64v")] == [0, 1, 2, 4, 8, 12, 16, 24]
    assert (at64["c"], at64["bits"], at64["arr"], at64["inner"], at64["kstr"]) == (32, 36, 40, 56, 88)
    assert (at32["inner"], at32["tail"], at32["kstr"]) == (56, 60, 72)


@pytest.mark.parametrize("value,ctype,literal", [
    (-0x80, "s8", "(-0x7f - 1)"), (-0x8000000000000000, "s64", "(-0x7fffffffffffffffLL - 1)"),
    (-2, "s32", "(-0x2)"), (127, "s8", "127"), (0xFF, "u8", "0xffU"), (1, "u64", "0x1ULL"),
])
def test_c_int_writes_every_edge_as_a_literal(value: int, ctype: str, literal: str) -> None:
    assert grammar.c_int(value, ctype) == literal


@pytest.mark.parametrize("arch", list(ARCHES))
def test_every_field_has_a_value_for_each_call(arch: str) -> None:
    target = grammar.grammar(ARCHES[arch])
    for event in target.events:
        assert event.element in grammar.ELEMENT
        for f in event.fields:
            assert len(f.expected) == grammar.CALLS, (event.name, f.name)


def test_stack_arguments_follow_the_register_arguments() -> None:
    x86 = {e.name: e for e in grammar.grammar(ARCHES["x86_64"]).events}
    assert [f.definition for f in x86["kh_stack_args"].fields] == [
        "a7=$stack1:x64", "a8=$stack2:x64", "a9=$stack3:x64", "a10=$stack4:x64"]
    arm = {e.name: e for e in grammar.grammar(ARCHES["arm"]).events}
    assert arm["kh_stack_args"].fields[0].definition == "a5=$stack0:x32"
    assert arm["kh_stack"].fields[0].definition == "a5=+0($stack):x32"
    assert arm["kh_stack_args"].fields[0].expected[1] == "0x89abcdef"  # a 64-bit pattern, cut to the word


README_612 = """\t fetcharg: (%<register>|$<efield>), @<address>, @<symbol>[+|-<offset>],
\t           $stack<index>, $stack, $retval, $comm, $arg<N>,
\t           +|-[u]<offset>(<fetcharg>), \\imm-value, \\"imm-string"
\t     kernel return probes support: $retval, $arg<N>, $comm
\t     type: s8/16/32/64, u8/16/32/64, x8/16/32/64, char, string, symbol,
"""
README_ARM = README_612.replace("$comm, $arg<N>,", "$comm,")


def test_readme_decides_what_the_kernel_offers() -> None:
    element = grammar.ELEMENT
    assert grammar.offered(element["fetch_argn"], README_612) == []
    assert grammar.offered(element["fetch_argn"], README_ARM) == ["$comm, $arg<N>"]
    assert grammar.offered(element["fetch_return_args"], README_ARM) == ["$comm, $arg<N>"]
    assert grammar.offered(element["fetch_immediate_string"], README_612) == []
    assert grammar.offered(element["fetch_dentry"], README_612) == ["%pd/%pD"]
    assert grammar.offered(element["probe_append"], "") == []


def test_rendered_module_carries_every_definition_and_value() -> None:
    arch = ARCHES["arm64"]
    source = render_files(probe_spec(arch, "abi"))["kprobe_event_gen_test.c"]
    target = grammar.grammar(arch)
    for event in target.events:
        for f in event.fields:
            assert grammar.quoted(f.definition.replace("\\", "\\\\").replace('"', '\\"')) in source
    for offset in target.layout.values():
        assert f"!= {offset});" in source
    assert re.search(r"kh_values\[KH_CALLS\]", source) and "0xdeadbeef" in source
    assert source.count("refusal") >= len(target.refusals)


def test_module_seed_is_ours_without_the_grammar_target() -> None:
    from harness.runs.options import CheckOptions, check_choices
    assert check_choices(CheckOptions(arch=ARCHES["x86_64"])).grammar
    seed = check_choices(CheckOptions(arch=ARCHES["x86_64"], module="seed"))
    assert not seed.grammar
    source = render_files(seed)["kprobe_event_gen_test.c"]
    assert "kh_args" not in source and "module_init(kprobe_event_gen_test_init)" in source
