from __future__ import annotations

import os

import pytest
from conftest import GOLDEN, in_ci

from harness.errors import UserError
from harness.spec import fetchargs, render
from harness.spec.arches import ARCHES

UPDATE = os.environ.get("KH_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("arch", sorted(ARCHES))
@pytest.mark.parametrize("profile", ["upstream", "abi"])
def test_render_matches_golden_files(arch: str, profile: str) -> None:
    files = render.render_files(render.probe_spec(ARCHES[arch], profile))
    assert not (UPDATE and in_ci()), "KH_UPDATE_GOLDEN=1 under CI would compare the renders with themselves"
    for name, text in files.items():
        golden = GOLDEN / arch / profile / name
        if UPDATE and (not golden.exists() or golden.read_text() != text):
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(text)
            pytest.fail(f"rewrote {golden}: review the difference with git diff, then run the tests again")
        assert golden.exists(), f"no golden file {golden}: run with KH_UPDATE_GOLDEN=1 once and review it"
        assert text == golden.read_text(), f"{golden} differs; KH_UPDATE_GOLDEN=1 rewrites it on purpose"


def test_upstream_x86_64_renders_the_upstream_field_strings() -> None:
    text = render.render_files(render.probe_spec(ARCHES["x86_64"], "upstream"))["kprobe_event_gen_test.c"]
    for field in ('"dfd=%ax"', '"filename=%dx"', '"flags=%cx"', '"mode=+4($stack)"', '"$retval"'):
        assert field in text
    assert "kprobe_event_gen_cmd_start(&cmd, KPROBE_GEN_TEST_EVENT" in text
    assert "kprobe_event_add_fields(&cmd, KPROBE_GEN_TEST_ARG2, KPROBE_GEN_TEST_ARG3);" in text
    assert 'MODULE_LICENSE("GPL v2");' in text
    # the exit path disables before it deletes, and puts the event file
    exit_fn = text[text.index("kprobe_event_gen_test_exit(void)"):]
    assert exit_fn.index("false));") < exit_fn.index("trace_put_event_file") < exit_fn.index("kprobe_event_delete")


def test_func_override_reaches_the_c_source() -> None:
    text = render.render_files(render.probe_spec(ARCHES["x86_64"], "upstream", "ksys_read"))["kprobe_event_gen_test.c"]
    assert '#define KPROBE_GEN_TEST_FUNC\t"ksys_read"' in text


def test_kbuild_builds_the_module_object() -> None:
    files = render.render_files(render.probe_spec(ARCHES["x86_64"], "upstream"))
    assert "obj-m := kprobe_event_gen_test.o" in files["Kbuild"]


@pytest.mark.parametrize("arg", [
    "dfd=%di:s32", "filename=+0(%si):ustring", "$retval", "mode=+4($stack)", "x=%x0",
    "a=$arg1", "v=@jiffies", "c=$comm", "p=+8(+0(%sp)):x64", "b=%ax:b4@2/32", "arr=%di:u8[4]",
])
def test_valid_fetchargs_pass(arg: str) -> None:
    assert fetchargs.check_fetcharg(arg) == arg


@pytest.mark.parametrize("arg", [
    'dfd=%ax"); evil(); ("', "dfd=%ax\n", "", "dfd=", "1x=%ax", "dfd=%ax:float", "dfd=ax",
    "dfd=%ax ; rm", "f=+4(%ax", "f=\\\"str\"", "dfd=%AX", "x=$nothing",
])
def test_invalid_fetchargs_are_rejected_with_a_hint(arg: str) -> None:
    with pytest.raises(UserError, match="kprobetrace"):
        fetchargs.check_fetcharg(arg)


@pytest.mark.parametrize("func", ['do_sys_open"', "do sys", "", "a;b", "x" * 200])
def test_invalid_probe_functions_are_rejected(func: str) -> None:
    with pytest.raises(UserError, match="probe function"):
        render.probe_spec(ARCHES["x86_64"], "upstream", func)


def test_c_string_escapes_backslashes_and_quotes_and_refuses_line_ends() -> None:
    assert fetchargs.c_string("a=\\0x10") == '"a=\\\\0x10"'
    assert fetchargs.c_string('s=\\"kh":string') == '"s=\\\\\\"kh\\":string"'
    with pytest.raises(UserError):
        fetchargs.c_string("a\nb")


def test_undefined_template_variables_fail_loudly() -> None:
    env = render.environment()
    with pytest.raises(Exception, match="undefined"):
        env.from_string("{{ nothing }}").render()
