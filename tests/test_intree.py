"""--module in-tree: the tree's own module, judged by the events it registered."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import inv

from harness.build import intree
from harness.errors import BuildError, UserError
from harness.runs.options import CheckOptions, check_options
from harness.spec import render
from harness.spec.arches import resolve_arch

# what `make kernel/trace/kprobe_event_gen_test.i` leaves of the module's calls (macros expanded)
PREPROCESSED = """\
extern int __kprobe_event_gen_cmd_start(struct dynevent_cmd *cmd,
     _Bool kretprobe, const char *name, const char *loc, ...);
extern int __kprobe_event_add_fields(struct dynevent_cmd *cmd, ...);
static int __attribute__((__section__(".init.text"))) test_gen_kprobe_cmd(void)
{
 ret = __kprobe_event_gen_cmd_start(&cmd, false, "gen_kprobe_renamed",
      "do_sys_open",
      "dfd=%ax", "filename=%dx", ((void *)0));
 if (ret)
  goto out;
 ret = __kprobe_event_add_fields(&cmd, "flags=%cx", "mode=" "+4($stack)", ((void *)0));
}
static int __attribute__((__section__(".init.text"))) test_gen_kretprobe_cmd(void)
{
 ret = __kprobe_event_gen_cmd_start(&cmd, true, "gen_kretprobe_test",
      "do_sys_open",
      "$retval", ((void *)0));
}
"""


def test_the_checks_follow_what_the_modules_source_asks_for() -> None:
    base = render.probe_spec(resolve_arch("x86_64"), "abi")
    spec = intree.compiled_spec(PREPROCESSED, base)
    assert spec.profile == "upstream" and spec.func == "do_sys_open"
    assert spec.kprobe_event == "gen_kprobe_renamed", "a renamed event is read from the source"
    assert spec.kprobe_fields == ("dfd=%ax", "filename=%dx", "flags=%cx", "mode=+4($stack)")
    assert (spec.kretprobe_event, spec.kretprobe_fields) == ("gen_kretprobe_test", ("$retval",))


def test_a_module_whose_fields_are_not_literals_or_that_defines_no_event_is_refused() -> None:
    base = render.probe_spec(resolve_arch("arm64"), "abi")
    with pytest.raises(BuildError, match="not a string literal"):
        intree.compiled_spec(PREPROCESSED.replace('"$retval"', "field"), base)
    with pytest.raises(BuildError, match="no kretprobe"):
        intree.compiled_spec(PREPROCESSED.split("test_gen_kretprobe_cmd")[0], base)


def test_module_options_are_checked_before_any_work(tmp_path: Path) -> None:
    opts = CheckOptions(arch=resolve_arch("x86_64"), module="in-tree", func="vfs_read")
    with pytest.raises(UserError, match="--func"):
        check_options(opts)
    done = inv("check", "--module", "mine", cache=tmp_path / "cache")
    assert done.returncode == 128 and "unknown --module 'mine'" in done.stderr
