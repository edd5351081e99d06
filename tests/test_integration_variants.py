"""Real boots of the variants a developer picks: the tree's own module, and the LLVM toolchain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DATA, HEALTHY, require_tools, validate_json
from test_integration_qemu import inv, qemu_processes

pytestmark = pytest.mark.qemu


def check(tmp_path: Path, *args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    out = tmp_path / "result.json"
    result = inv("check", "--json", str(out), *args)
    assert out.exists(), result.stdout[-4000:] + result.stderr[-3000:]
    data = json.loads(out.read_text())
    validate_json(data, "result")
    return result.returncode, data, result.stdout


def statuses(data: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {c["name"]: c["status"] for c in data["checks"]}


def test_the_trees_own_module_is_judged_by_the_events_it_really_registers(tmp_path: Path) -> None:
    """The tree's module, patched to name its kprobe event differently: the harness follows it."""
    require_tools("qemu-system-x86_64", "gcc", "patch")
    code, data, stdout = check(tmp_path, "--arch", "x86_64", "--module", "in-tree",
                               "--patch", str(DATA / "intree-rename-kprobe-event.patch"))
    assert code == 0, stdout[-4000:]
    assert data["module"] == "in-tree" and data["profile"] == "upstream"
    assert set(statuses(data).values()) == {"pass"}
    registered = next(c["detail"] for c in data["checks"] if c["name"] == "kprobe_registered")
    assert registered.startswith("p:kprobes/gen_kprobe_renamed do_sys_open ")
    assert "gen_kprobe_renamed:" in next(c["detail"] for c in data["checks"] if c["name"] == "kprobe_hit_counts")
    # the artifacts keep the module that really ran: the tree's source, with the patch applied
    assert '"gen_kprobe_renamed"' in (Path(data["artifacts"]) / "module/kprobe_event_gen_test.c").read_text()
    assert "the tree's own module" in stdout
    assert not qemu_processes()


def test_the_trees_own_module_on_a_kernel_that_drops_a_field_fails_registration(tmp_path: Path) -> None:
    """The expected definition comes from the module's own source (its preprocessed .i), so a kernel
    that registers fewer fields than the module asked for fails, with both texts quoted."""
    require_tools("qemu-system-x86_64", "gcc", "patch")
    code, data, stdout = check(tmp_path, "--arch", "x86_64", "--module", "in-tree",
                               "--patch", str(DATA.parent / "bad-kernels" / "registration-drops-a-field.patch"))
    assert code == 1, stdout[-4000:]
    detail = next(c["detail"] for c in data["checks"] if c["name"] == "kprobe_registered")
    assert "fields 'dfd=%ax filename=%dx flags=%cx'" in detail, detail
    assert "expected 'dfd=%ax filename=%dx flags=%cx mode=+4($stack)'" in detail, detail
    assert (Path(data["artifacts"]) / "module/kprobe_event_gen_test.i").exists()
    assert not qemu_processes()


def test_the_trees_own_module_that_leaks_its_event_fails(tmp_path: Path) -> None:
    require_tools("qemu-system-x86_64", "gcc", "patch")
    code, data, stdout = check(tmp_path, "--arch", "x86_64", "--module", "in-tree",
                               "--patch", str(DATA / "intree-module-leaks-its-kprobe.patch"))
    assert code == 1, stdout[-4000:]
    failed = sorted(name for name, status in statuses(data).items() if status == "fail")
    # the leaked event keeps its kprobe armed: kprobes/list says so after rmmod
    assert failed == ["events_removed", "kprobes_released", "reload"], stdout[-4000:]
    assert "still in kprobe_events: ['gen_kprobe_test']" in stdout
    assert "still armed after rmmod: k do_sys_open+0x4" in stdout
    assert not qemu_processes()


@pytest.mark.full  # the long set: a cold LLVM build
def test_llvm_builds_and_passes_on_arm64(tmp_path: Path) -> None:
    require_tools("qemu-system-aarch64", "clang", "ld.lld", "llvm-ar")
    code, data, stdout = check(tmp_path, "--arch", "arm64", "--toolchain", "llvm")
    assert code == 0, stdout[-4000:]
    assert data["toolchain"] == "llvm" and data["status"] == HEALTHY
    config = (Path(data["artifacts"]) / "kernel.config").read_text()
    assert "CONFIG_CC_IS_CLANG=y" in config and "CONFIG_LD_IS_LLD=y" in config
    commands = "\n".join(data["commands"])
    assert "CROSS_COMPILE" not in commands
    # a warm cache runs no make at all; any make that did run was LLVM's
    made = [line for line in commands.splitlines() if "make -C " in line]
    assert all("LLVM=1" in line for line in made)
    assert made or "make skipped" in (Path(data["artifacts"]) / "build.log").read_text()
    assert not qemu_processes()
