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
    assert result.returncode == 2
    assert "unknown architecture 'sparc64'" in result.stderr and "x86_64" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_non_kernel_tree_exits_2(tmp_path: Path) -> None:
    result = inv("check", "--tree", str(tmp_path), cache=tmp_path / "cache")
    assert result.returncode == 2
    assert "not a kernel source tree" in result.stderr
    assert list(tmp_path.iterdir()) == [] or not (tmp_path / "cache").exists()


def test_invalid_probe_function_exits_2_before_anything_runs(tmp_path: Path) -> None:
    result = inv("check", "--func", 'do_sys_open");', cache=tmp_path)
    assert result.returncode == 2
    assert "invalid probe function" in result.stderr
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_bad_kconfig_add_exits_2(tmp_path: Path) -> None:
    result = inv("check", "--kconfig-add", "DEBUG=y", cache=tmp_path)
    assert result.returncode == 2
    assert "--kconfig-add" in result.stderr


def test_render_writes_module_and_kbuild(tmp_path: Path) -> None:
    result = inv("render", "--arch", "amd64", "--out", str(tmp_path / "out"), cache=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out/kprobe_event_gen_test.c").exists()
    assert (tmp_path / "out/Kbuild").exists()


@pytest.mark.parametrize("profile", ["nope"])
def test_unknown_profile_exits_2(tmp_path: Path, profile: str) -> None:
    result = inv("render", "--profile", profile, "--out", str(tmp_path / "o"), cache=tmp_path)
    assert result.returncode == 2
    assert "upstream" in result.stderr
