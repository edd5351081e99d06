"""--module in-tree: the tree's own module, judged by the events it registered."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import inv

from harness.errors import UserError
from harness.runs.options import CheckOptions, check_options
from harness.spec import render
from harness.spec.arches import resolve_arch
from harness.verdict import registered

REGISTERED = """\
p:kprobes/gen_kprobe_renamed do_sys_open dfd=%ax filename=%dx flags=%cx mode=+4($stack)
r:kprobes/gen_kretprobe_test do_sys_open arg1=$retval
"""


def test_the_checks_follow_what_the_module_registered() -> None:
    base = render.probe_spec(resolve_arch("x86_64"), "abi")
    spec = registered.registered_spec(REGISTERED, base)
    assert spec.profile == "upstream" and spec.func == "do_sys_open"
    assert spec.kprobe_event == "gen_kprobe_renamed"
    assert spec.kprobe_fields == ("dfd=%ax", "filename=%dx", "flags=%cx", "mode=+4($stack)")
    assert (spec.kretprobe_event, spec.kretprobe_fields) == ("gen_kretprobe_test", ("arg1=$retval",))


def test_without_a_registration_the_names_stay_and_the_registration_checks_can_fail() -> None:
    base = render.probe_spec(resolve_arch("arm64"), "abi")
    spec = registered.registered_spec("", base)
    assert (spec.kprobe_event, spec.kretprobe_event) == (base.kprobe_event, base.kretprobe_event)
    assert spec.profile == "upstream"


def test_module_options_are_checked_before_any_work(tmp_path: Path) -> None:
    opts = CheckOptions(arch=resolve_arch("x86_64"), module="in-tree", func="vfs_read")
    with pytest.raises(UserError, match="--func"):
        check_options(opts)
    done = inv("check", "--module", "mine", cache=tmp_path / "cache")
    assert done.returncode == 2 and "unknown --module 'mine'" in done.stderr
