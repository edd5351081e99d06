"""The invoke layer: bad input gets a clear error, exit code 2, and changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT


def inv(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KPROBE_HARNESS_CACHE=str(cache))
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_list_explains_every_task(tmp_path: Path) -> None:
    out = inv("--list", cache=tmp_path).stdout
    for task in ("check", "load", "render", "setup", "test"):
        assert task in out


def test_check_help_explains_options(tmp_path: Path) -> None:
    out = inv("check", "-h", cache=tmp_path).stdout
    for option in ("--arch", "--tree", "--profile", "--func", "--kconfig-add", "--patch", "--json"):
        assert option in out


def test_unknown_arch_exits_2_and_lists_valid_ones(tmp_path: Path) -> None:
    result = inv("check", "--arch", "sparc64", cache=tmp_path)
    assert result.returncode == 128
    assert "unknown architecture 'sparc64'" in result.stderr and "x86_64" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_non_kernel_tree_exits_2(tmp_path: Path) -> None:
    result = inv("check", "--tree", str(tmp_path), cache=tmp_path / "cache")
    assert result.returncode == 128
    assert "not a kernel source tree" in result.stderr
    assert list(tmp_path.iterdir()) == [] or not (tmp_path / "cache").exists()


def test_invalid_probe_function_exits_2_before_anything_runs(tmp_path: Path) -> None:
    result = inv("check", "--func", 'do_sys_open");', cache=tmp_path)
    assert result.returncode == 128
    assert "invalid probe function" in result.stderr
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_bad_kconfig_add_exits_2(tmp_path: Path) -> None:
    result = inv("check", "--kconfig-add", "DEBUG=y", cache=tmp_path)
    assert result.returncode == 128
    assert "--kconfig-add" in result.stderr


def test_render_writes_module_and_kbuild(tmp_path: Path) -> None:
    result = inv("render", "--arch", "amd64", "--out", str(tmp_path / "out"), cache=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out/kprobe_event_gen_test.c").exists()
    assert (tmp_path / "out/Kbuild").exists()


@pytest.mark.parametrize("profile", ["nope"])
def test_unknown_profile_exits_2(tmp_path: Path, profile: str) -> None:
    result = inv("render", "--profile", profile, "--out", str(tmp_path / "o"), cache=tmp_path)
    assert result.returncode == 128
    assert "upstream" in result.stderr


@pytest.mark.parametrize("args,needle", [
    (("check", "--json", "/proc/kh/x.json"), "--json"),
    (("matrix", "--json", "/proc/kh/m.json"), "--json"),
    (("render", "--out", "/proc/kh-out"), "--out"),
])
def test_unwritable_outputs_exit_2_before_any_work(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    result = inv(*args, cache=tmp_path / "cache")
    assert result.returncode == 128, result.stdout + result.stderr
    assert needle in result.stderr and "cannot write" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cache" / "runs").exists()


def test_a_json_path_that_is_a_folder_exits_2(tmp_path: Path) -> None:
    result = inv("check", "--json", str(tmp_path), cache=tmp_path / "cache")
    assert result.returncode == 128 and "is a folder" in result.stderr


def test_an_unwritable_cache_exits_2_and_names_the_variable(tmp_path: Path) -> None:
    result = inv("check", cache=Path("/proc/kh-cache"))
    assert result.returncode == 128, result.stdout + result.stderr
    assert "KPROBE_HARNESS_CACHE" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args,needle", [
    (("matrix", "--kernels", "6.12,5.4"), "5.4"),
    (("matrix", "--kernels", ","), "empty"),
    (("matrix", "--arches", "x86_64,sparc"), "sparc"),
])
def test_unknown_values_inside_lists_exit_2_at_once(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    result = inv(*args, cache=tmp_path)
    assert result.returncode == 128, result.stdout + result.stderr
    assert needle in result.stderr
    assert not (tmp_path / "runs").exists()


def test_a_file_given_for_the_tree_says_it_is_not_a_folder(tmp_path: Path) -> None:
    result = inv("check", "--tree", "/etc/passwd", cache=tmp_path)
    assert result.returncode == 128
    assert "is not a folder" in result.stderr


def test_a_patch_of_garbage_exits_2_before_any_work(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.patch"
    garbage.write_text("hello, this is not a diff\n")
    for task in ("check", "matrix"):
        result = inv(task, "--patch", str(garbage), cache=tmp_path / "cache")
        assert result.returncode == 128, result.stdout + result.stderr
        assert "no diff" in result.stderr
        assert not (tmp_path / "cache" / "runs").exists()


def test_a_function_with_an_offset_is_refused_with_the_reason(tmp_path: Path) -> None:
    result = inv("check", "--func", "do_sys_open+4", cache=tmp_path)
    assert result.returncode == 128
    assert "kretprobe" in result.stderr and "do_sys_open" in result.stderr


def test_check_and_matrix_offer_a_raw_verdict(tmp_path: Path) -> None:
    for task in ("check", "matrix"):
        out = inv(task, "-h", cache=tmp_path).stdout
        assert "--no-known-issues" in out and "XFAIL" in out
    assert "--patch" in inv("matrix", "-h", cache=tmp_path).stdout


def installed(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """The installed kprobe-harness command (beside this Python), run from another folder."""
    command = Path(sys.executable).parent / "kprobe-harness"
    assert command.exists(), f"{command} is missing: run ./bootstrap (pip install -e .)"
    env = dict(os.environ, KPROBE_HARNESS_CACHE=str(cache))
    return subprocess.run([str(command), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def test_the_installed_command_has_the_same_tasks_from_any_folder(tmp_path: Path) -> None:
    listing = installed("--list", cwd=tmp_path, cache=tmp_path / "c")
    assert listing.returncode == 0, listing.stderr
    for name in ("check", "matrix", "load", "render", "setup"):
        assert name in listing.stdout
    result = installed("check", "--arch", "sparc64", cwd=tmp_path, cache=tmp_path / "c")
    assert result.returncode == 128 and "unknown architecture" in result.stderr


def test_inside_a_kernel_tree_the_tree_defaults_to_it_and_says_so(tmp_path: Path) -> None:
    from test_kernel import make_tree
    tree = make_tree(tmp_path / "linux")
    (tree / ".config").write_text("CONFIG_X=y\n")  # stops the run at the tree check, before any build
    (tree / "kernel/trace").mkdir(parents=True, exist_ok=True)
    result = installed("check", "--arch", "x86_64", cwd=tree / "kernel/trace", cache=tmp_path / "c")
    assert result.stdout.splitlines()[0].startswith(f"--tree {tree.resolve()}: the kernel tree this command runs in")
    assert result.returncode == 128 and "mrproper" in result.stderr


@pytest.mark.parametrize("task", [("check", "--arch", "x86_64"), ("matrix",), ("lava", "--out", "OUT"),
                                  ("compare", "--base", "HEAD")])
def test_an_unknown_suite_exits_128_and_names_the_suites(tmp_path: Path, task: tuple[str, ...]) -> None:
    result = inv(*(str(tmp_path / "o") if word == "OUT" else word for word in task), "--suite", "everything",
                 cache=tmp_path)
    assert result.returncode == 128, result.stdout + result.stderr
    assert "module, ftrace, boot, all" in result.stderr


def test_no_task_option_shares_a_name_with_an_invoke_core_flag() -> None:
    """invoke reads its own long flags anywhere on the line: a task option named like one (say --debug)
    would be taken by invoke, and the task would run without it, silently. (A short flag after the
    task's name goes to the task: `inv render -p upstream` renders the upstream profile.)"""
    from invoke.collection import Collection
    from invoke.program import Program

    from harness.cli import tasks

    program = Program()
    core = {name for arg in [*program.core_args(), *program.task_args()] for name in arg.names}
    namespace = Collection.from_module(tasks)
    clashes = [f"inv {name} --{arg}" for name in namespace.task_names
               for arg in namespace[name].get_arguments() for arg in arg.names
               if len(arg) > 1 and arg in core]
    assert not clashes, f"task options that invoke's own flags would swallow: {clashes}"


def test_the_reproduce_line_keeps_the_program_invokes_flags_and_the_tree_found_here(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.cli import options

    monkeypatch.setattr(options.sys, "argv", ["/home/me/kh/.venv/bin/inv", "-r", "/home/me/kh", "check", "--arch", "arm64"])
    monkeypatch.setattr(options, "_announced", set())
    assert options.command("check") == "inv -r /home/me/kh check --arch arm64"
    monkeypatch.setattr(options, "_announced", {Path("/src/linux")})
    monkeypatch.setattr(options.sys, "argv", ["/usr/bin/kprobe-harness", "check", "--arch", "arm64"])
    assert options.command("check") == "kprobe-harness check --arch arm64 --tree /src/linux"


def test_the_matrix_refuses_several_kernels_with_one_tree_and_takes_an_arch_once(tmp_path: Path) -> None:
    from harness.cli.options import arch_names

    assert arch_names("arm64,aarch64,x86_64,arm64") == ["arm64", "x86_64"]
    result = inv("matrix", "--tree", str(tmp_path), "--kernels", "6.12,6.1", cache=tmp_path)
    assert result.returncode == 128 and "a tree is one kernel" in result.stderr, result.stderr
