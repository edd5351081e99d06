"""inv ci: GitHub and GitLab workflows, validated against the engines' published schemas."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_cli import inv

SCHEMAS = {"github": "vendor.github-workflows", "gitlab": "vendor.gitlab-ci"}


def written(tmp_path: Path, engine: str, *args: str) -> dict:  # type: ignore[type-arg]
    out = tmp_path / f"{engine}.yml"
    done = inv("ci", "--engine", engine, "--out", str(out), *args, cache=tmp_path / "cache")
    assert done.returncode == 0, done.stdout + done.stderr
    valid = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", SCHEMAS[engine], str(out)],
                           capture_output=True, text=True, check=False)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    return yaml.safe_load(out.read_text())  # type: ignore[no-any-return]


def check_argv(command: str) -> list[str]:
    """The `inv check` part of a job's command line, as argv (GitHub substitutes its expressions
    before the shell runs)."""
    return shlex.split(command.split(".venv/bin/inv ", 1)[1].replace("${{ github.workspace }}", "/ws"))


@pytest.mark.parametrize("engine", ["github", "gitlab"])
def test_one_job_per_cell_and_a_merge_job_that_needs_them_all(tmp_path: Path, engine: str) -> None:
    doc = written(tmp_path, engine, "--arches", "x86_64,arm64", "--kernels", "6.12,6.1", "--toolchains", "gcc,llvm")
    jobs = doc["jobs"] if engine == "github" else {k: v for k, v in doc.items() if k.startswith("cell-")
                                                   or k == "merge"}
    cells = sorted(k for k in jobs if k.startswith("cell-"))
    assert len(cells) == 8 and "cell-arm64-6_1-llvm" in cells
    needs = jobs["merge"]["needs"]
    assert sorted(n if isinstance(n, str) else n["job"] for n in needs) == cells
    for name in cells:
        job = jobs[name]
        arch, kernel, toolchain = name.removeprefix("cell-").split("-")
        kernel = kernel.replace("_", ".")
        if engine == "github":
            commands = [s["run"] for s in job["steps"] if "run" in s]
            cache = next(s["with"] for s in job["steps"] if s.get("uses", "").startswith("actions/cache"))
            key = cache["key"]
            assert doc["jobs"][name]["container"]["image"] == "debian:bookworm"
        else:
            commands = job["script"]
            key = job["cache"]["key"]["prefix"]
            assert job["extends"] == ".cell" and doc[".cell"]["image"] == "debian:bookworm"
        assert "./bootstrap" in commands  # the README's set-up command
        argv = check_argv(next(c for c in commands if ".venv/bin/inv check" in c))
        assert argv[:3] == ["check", "--arch", arch]
        assert argv[argv.index("--kernel") + 1] == kernel and argv[argv.index("--toolchain") + 1] == toolchain
        assert {"--json", "--junit", "--markdown"} <= set(argv)
        assert f"kh-{arch}-{kernel}-{toolchain}" in key


@pytest.mark.parametrize("engine", ["github", "gitlab"])
def test_in_a_kernel_tree_each_job_clones_the_harness_and_checks_that_tree(tmp_path: Path, engine: str) -> None:
    url = "https://git.example.org/kprobe-harness.git"
    doc = written(tmp_path, engine, "--arches", "riscv64", "--harness-url", url, "--harness-ref", "0123abc")
    job = doc["jobs"]["cell-riscv64-tree-gcc"] if engine == "github" else doc["cell-riscv64-tree-gcc"]
    commands = [s["run"] for s in job["steps"] if "run" in s] if engine == "github" else job["script"]
    pinned = next(c for c in commands if "git clone" in c)
    assert pinned.startswith(f"git clone {url} kprobe-harness && ") and "checkout --detach 0123abc" in pinned
    argv = check_argv(next(c for c in commands if ".venv/bin/inv check" in c))
    assert argv[argv.index("--tree") + 1] in ("/ws/linux", "$CI_PROJECT_DIR")


def test_bad_ci_options_exit_2(tmp_path: Path) -> None:
    done = inv("ci", "--engine", "jenkins", "--out", str(tmp_path / "x.yml"), cache=tmp_path / "cache")
    assert done.returncode == 128 and "unknown --engine 'jenkins'" in done.stderr
    done = inv("ci", "--engine", "github", cache=tmp_path / "cache")
    assert done.returncode == 128 and "--out is required" in done.stderr
    done = inv("ci", "--toolchains", "icc", "--out", str(tmp_path / "x.yml"), cache=tmp_path / "cache")
    assert done.returncode == 128 and "icc" in done.stderr


def test_github_jobs_read_the_repository_only_and_keep_no_credentials(tmp_path: Path) -> None:
    doc = written(tmp_path, "github", "--arches", "x86_64", "--harness-url", "https://git.example.org/h.git")
    assert doc["permissions"] == {"contents": "read"}
    checkouts = [s for job in doc["jobs"].values() for s in job["steps"]
                 if s.get("uses", "").startswith("actions/checkout")]
    assert checkouts and all(s["with"]["persist-credentials"] is False for s in checkouts)
    from harness.labs.workflows import harness_commit

    commit = harness_commit()
    if commit:  # the checkout's own commit pins the harness by default
        clone = next(s["run"] for s in doc["jobs"]["cell-x86_64-tree-gcc"]["steps"] if "git clone" in s.get("run", ""))
        assert clone.endswith(f"checkout --detach {commit}")


def test_every_value_in_a_job_command_is_quoted(tmp_path: Path) -> None:
    url = "https://git.example.org/h.git; touch /tmp/pwned"
    doc = written(tmp_path, "gitlab", "--arches", "x86_64", "--harness-url", url, "--harness-ref", "main")
    clone = next(c for c in doc["cell-x86_64-tree-gcc"]["script"] if "git clone" in c)
    assert shlex.split(clone)[:4] == ["git", "clone", url, "kprobe-harness"]


@pytest.mark.parametrize("engine", ["github", "gitlab"])
def test_the_merge_job_expects_every_cell_of_the_workflow(tmp_path: Path, engine: str) -> None:
    doc = written(tmp_path, engine, "--arches", "x86_64,arm64", "--toolchains", "gcc,llvm")
    job = doc["jobs"]["merge"] if engine == "github" else doc["merge"]
    commands = [s["run"] for s in job["steps"] if "run" in s] if engine == "github" else job["script"]
    argv = shlex.split(next(c for c in commands if "report merge" in c).split("&& ")[-1])
    expected = argv[argv.index("--expect") + 1].split(",")
    assert sorted(expected) == sorted(["x86_64/6.12", "arm64/6.12", "x86_64/6.12/llvm", "arm64/6.12/llvm"])
