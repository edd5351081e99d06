"""The GitLab pipeline `inv ci` writes, run for real with gitlab-ci-local's shell executor: one cell
job (./bootstrap, then inv check on x86_64 6.12) and the merge job, in a clone of this repository."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HEALTHY, ROOT, in_ci, require_tools, validate_json
from junitparser import JUnitXml

from harness.host import paths

pytestmark = pytest.mark.qemu

GITLAB_CI_LOCAL = ROOT / ".venv/node/node_modules/.bin/gitlab-ci-local"  # where ./bootstrap installs it
CELL = "x86_64-6_12-gcc"


def gitlab_ci_local() -> str:
    found = shutil.which("gitlab-ci-local") or (str(GITLAB_CI_LOCAL) if GITLAB_CI_LOCAL.exists() else "")
    if not found:
        message = f"gitlab-ci-local not found (neither on PATH nor {GITLAB_CI_LOCAL}): run ./bootstrap --test-tools"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_the_generated_gitlab_pipeline_runs_a_cell_and_merges_it(tmp_path: Path) -> None:
    require_tools("qemu-system-x86_64", "git", "node")
    tool = gitlab_ci_local()
    repo = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    subprocess.run([sys.executable, "-m", "invoke", "ci", "--engine", "gitlab", "--arches", "x86_64", "--kernels",
                    "6.12", "--out", str(repo / ".gitlab-ci.yml")], cwd=ROOT, check=True, capture_output=True)
    # the file runs as written: only what a GitLab runner would set is given from outside (the project
    # folder a shell runner checks out into) and the cache, pointed at this suite's warm one
    argv = [tool, "--force-shell-executor", "--concurrency", "1", "--variable", f"CI_PROJECT_DIR={repo}",
            "--variable", f"{paths.CACHE_ENV}={paths.cache_root()}"]
    done = subprocess.run(argv, cwd=repo, capture_output=True, text=True, timeout=40 * 60, stdin=subprocess.DEVNULL,
                          check=False)
    log = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, log
    assert f"PASS  cell-{CELL}" in done.stdout and "PASS  merge" in done.stdout, log
    result = json.loads((repo / "kh-out" / CELL / "result.json").read_text())
    validate_json(result, "result")
    assert result["status"] == HEALTHY and result["arch"] == "x86_64"
    assert "KH-GUEST-READY" in (repo / "kh-out" / CELL / "console.log").read_text(), "after_script copied the console"
    [suite] = list(JUnitXml.fromfile(str(repo / "merged.xml")))
    assert suite.name == "x86_64/6.12" and [c.name for c in suite] == [c["name"] for c in result["checks"]]
    merged = (repo / "merged.md").read_text()
    assert merged.startswith("## kprobe-harness: OK (1 xfail)") and "x86_64/6.12: XFAIL" in merged
