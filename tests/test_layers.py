"""The layout is a contract: import-linter's layers (pyproject.toml) pass on the code, and fail as
soon as a lower layer imports a higher one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.run([str(LINT), "--no-cache", "--config", str(root / "pyproject.toml")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def copy_of_the_code(tmp_path: Path) -> Path:
    for name in ("harness", "vm"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_code_keeps_its_layers() -> None:
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(("module", "line", "complaint"), [
    ("harness/spec/arches.py", "from harness.runs import check", "harness.spec is not allowed to import harness.runs"),
    ("harness/verdict/trace.py", "from vm import console", "harness.verdict is not allowed to import vm"),
    ("harness/verdict/checks.py", "from harness.build import kbuild", "harness.verdict"),
    ("vm/guest.py", "from harness.results import run", "vm is not allowed to import harness.results"),
])
def test_a_lower_layer_importing_a_higher_one_breaks_the_contract(tmp_path: Path, module: str, line: str,
                                                                  complaint: str) -> None:
    root = copy_of_the_code(tmp_path)
    path = root / module
    path.write_text(path.read_text() + f"\n{line}  # noqa: E402\n")
    done = lint(root)
    assert done.returncode == 1, done.stdout
    assert complaint in done.stdout
