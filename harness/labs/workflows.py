"""CI workflows that run the matrix on a CI service: one job per cell, then one job that merges them.

Each cell job installs with the README's set-up command (./bootstrap) in a Debian 12 container,
restores and saves the harness cache under a key of tree, arch, toolchain and kernel configuration,
runs `inv check` for its cell with --json, --junit and --markdown, and uploads those with the console
log. The merge job reads every cell's result with `inv report merge`."""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.spec.cell import cell_label

ENGINES = ("github", "gitlab")
IMAGE = "debian:bookworm"
CACHE_DIR = ".kh-cache"  # inside the workspace, where the CI services' caches can reach it
OUT = "kh-out"  # each cell's reports and console log
CONFIG_FILES = ("harness/spec/arches.py", "harness/build/config.py")  # the kernel configuration lives here
SETUP = "./bootstrap"


@dataclass(frozen=True)
class CellSpec:
    arch: str
    kernel: str  # a distribution version, or "tree" when the workflow checks the repository's own tree
    toolchain: str

    @property
    def name(self) -> str:
        return f"{self.arch}-{self.kernel.replace('.', '_')}-{self.toolchain}"

    @property
    def label(self) -> str:
        """The cell's name in the merged tables (spec.cell.cell_label)."""
        return cell_label(self.arch, self.kernel, self.toolchain)


@dataclass(frozen=True)
class Layout:
    """Where the harness and the kernel tree are in the CI workspace: the workflow lives in the
    harness's repository (distribution kernels), or in a kernel tree that clones the harness."""

    harness_url: str = ""  # set: the repository is a kernel tree, and the harness is cloned from here
    harness_ref: str = ""  # the harness commit every job checks out (with harness_url)

    @property
    def in_kernel_tree(self) -> bool:
        return bool(self.harness_url)

    @property
    def harness_dir(self) -> str:
        return "kprobe-harness" if self.in_kernel_tree else "."

    def check_command(self, cell: CellSpec, out: str, tree: str) -> str:
        where = f"--tree {_q(tree)}" if self.in_kernel_tree else f"--kernel {_q(cell.kernel)}"
        enter = f" && cd {self.harness_dir}" if self.in_kernel_tree else ""
        return (f"mkdir -p {_q(out)}{enter} && .venv/bin/inv check --arch {_q(cell.arch)} {where} "
                f"--toolchain {_q(cell.toolchain)} --json {_q(out + '/result.json')} --junit {_q(out + '/junit.xml')} "
                f"--markdown {_q(out + '/summary.md')}")

    def clone(self) -> str:
        """Clone the harness and check out the pinned commit (a branch could move under the workflow)."""
        return (f"git clone {_q(self.harness_url)} kprobe-harness && "
                f"git -C kprobe-harness -c advice.detachedHead=false checkout --detach {_q(self.harness_ref)}")

    def cache_key(self, cell: CellSpec, hash_expr: str) -> str:
        return f"kh-{cell.arch}-{cell.kernel}-{cell.toolchain}-{hash_expr}"


def _q(value: str) -> str:
    """A value in a job's shell command, quoted: a path that starts with the CI service's workspace
    variable ($CI_PROJECT_DIR, or an expression GitHub substitutes first) in double quotes, so the
    variable still expands; anything else as the shell quotes it."""
    if value.startswith(("$CI_", "${{")) and not any(c in value for c in '"`\\'):
        return f'"{value}"'
    return shlex.quote(value)


def _expected(cell_specs: list[CellSpec]) -> str:
    """The merge's --expect: every cell job of the workflow, so a job that left no result fails it."""
    return _q(",".join(c.label for c in cell_specs))


def harness_commit(root: Path | None = None) -> str:
    """The commit of the harness checkout that writes the workflow ('' when it is not a git checkout)."""
    where = root or Path(__file__).resolve().parents[2]
    done = subprocess.run(["git", "-C", str(where), "rev-parse", "--verify", "-q", "HEAD"], capture_output=True,
                          text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def cells(arches: list[str], kernels: list[str], toolchains: list[str], layout: Layout) -> list[CellSpec]:
    versions = ["tree"] if layout.in_kernel_tree else kernels
    return [CellSpec(a, k, t) for k in versions for t in toolchains for a in arches]


def _console_copy(out: str) -> str:
    """Copy the run's console log next to its reports (the result names its artifacts folder)."""
    return (f"python3 -c \"import json,shutil; r=json.load(open('{out}/result.json')); "
            f"shutil.copy(r['artifacts'] + '/console.log', '{out}/console.log')\" || true")


def _install_harness(layout: Layout) -> list[str]:
    if not layout.in_kernel_tree:
        return [SETUP]
    return ["apt-get update && apt-get install -y --no-install-recommends git ca-certificates",
            layout.clone(), f"cd kprobe-harness && {SETUP}"]


def _step(name: str, run: str) -> dict[str, object]:
    return {"name": name, "run": run}


def github(cell_specs: list[CellSpec], layout: Layout) -> dict[str, object]:
    ws = "${{ github.workspace }}"
    hash_expr = "${{ hashFiles(" + ", ".join(f"'{layout.harness_dir}/{f}'".replace("'./", "'")
                                            for f in CONFIG_FILES) + ") }}"
    checkout: dict[str, object] = {"uses": "actions/checkout@v4", "with": {"persist-credentials": False}}
    if layout.in_kernel_tree:
        checkout["with"] = {"path": "linux", "persist-credentials": False}
    jobs: dict[str, object] = {}
    for cell in cell_specs:
        out = f"{ws}/{OUT}/{cell.name}"
        steps: list[dict[str, object]] = [
            {"name": "install git (checkout keeps the history with it)",
             "run": "apt-get update && apt-get install -y --no-install-recommends git ca-certificates"},
            dict(checkout),
            *[_step("set up", command) for command in _install_harness(layout)],
            {"name": "harness cache", "uses": "actions/cache@v4",
             "with": {"path": CACHE_DIR, "key": layout.cache_key(cell, hash_expr) + "-${{ github.sha }}",
                      "restore-keys": layout.cache_key(cell, hash_expr) + "-"}},
            {"name": f"check {cell.arch} {cell.kernel} {cell.toolchain}",
             "run": layout.check_command(cell, out, f"{ws}/linux")},
            {"name": "console log", "if": "always()", "run": _console_copy(out)},
            {"name": "job summary", "if": "always()",
             "run": f'cat {_q(out + "/summary.md")} >> "$GITHUB_STEP_SUMMARY" || true'},
            {"name": "upload", "if": "always()", "uses": "actions/upload-artifact@v4",
             "with": {"name": f"kh-{cell.name}", "path": f"{OUT}/"}},
        ]
        jobs[f"cell-{cell.name}"] = {
            "name": f"{cell.arch} {cell.kernel} {cell.toolchain}",
            "runs-on": "ubuntu-latest",
            "container": {"image": IMAGE},
            "timeout-minutes": 60,
            "env": {"KPROBE_HARNESS_CACHE": f"{ws}/{CACHE_DIR}"},
            "steps": steps,
        }
    merge_steps: list[dict[str, object]] = [] if layout.in_kernel_tree else [
        {"uses": "actions/checkout@v4", "with": {"persist-credentials": False}}]
    merge_steps += [
        {"uses": "actions/download-artifact@v4", "with": {"pattern": "kh-*", "path": "results"}},
        {"name": "install the harness's Python side",
         "run": "apt-get update && apt-get install -y --no-install-recommends python3-venv git ca-certificates"
                + (f" && {layout.clone()}" if layout.in_kernel_tree else "")
                + f" && cd {layout.harness_dir} && python3 -m venv .venv && .venv/bin/pip install -e ."},
        {"name": "one matrix",
         "run": f"cd {layout.harness_dir} && .venv/bin/inv report merge --results {_q(ws + '/results')} "
                f"--expect {_expected(cell_specs)} --junit {_q(ws + '/merged.xml')} --markdown {_q(ws + '/merged.md')}"},
        {"name": "job summary", "if": "always()", "run": 'cat merged.md >> "$GITHUB_STEP_SUMMARY" || true'},
        {"uses": "actions/upload-artifact@v4", "if": "always()",
         "with": {"name": "kh-merged", "path": "merged.*"}},
    ]
    jobs["merge"] = {"name": "one matrix", "needs": [f"cell-{c.name}" for c in cell_specs], "if": "always()",
                     "runs-on": "ubuntu-latest", "container": {"image": IMAGE}, "steps": merge_steps}
    return {"name": "kprobe-harness", "on": {"push": None, "pull_request": None, "workflow_dispatch": None},
            "permissions": {"contents": "read"}, "jobs": jobs}


def gitlab(cell_specs: list[CellSpec], layout: Layout) -> dict[str, object]:
    ws = "$CI_PROJECT_DIR"  # GitLab checks the repository out here: in a kernel tree, that is the tree
    doc: dict[str, object] = {
        "stages": ["check", "merge"],
        "variables": {"KPROBE_HARNESS_CACHE": f"{ws}/{CACHE_DIR}", "GIT_DEPTH": "0"},
        ".cell": {
            "stage": "check",
            "image": IMAGE,
            "timeout": "1h",
            "artifacts": {"when": "always", "paths": [f"{OUT}/"], "reports": {"junit": f"{OUT}/*/junit.xml"}},
        },
    }
    for cell in cell_specs:
        out = f"{ws}/{OUT}/{cell.name}"
        key_files = [f"{layout.harness_dir}/{f}".removeprefix("./") for f in CONFIG_FILES]
        doc[f"cell-{cell.name}"] = {
            "extends": ".cell",
            "cache": {"key": {"prefix": f"kh-{cell.arch}-{cell.kernel}-{cell.toolchain}",
                              "files": key_files if not layout.in_kernel_tree else ["Makefile"]},
                      "paths": [f"{CACHE_DIR}/"]},
            "script": [*_install_harness(layout), layout.check_command(cell, out, ws)],
            "after_script": [_console_copy(out)],
        }
    doc["merge"] = {
        "stage": "merge",
        "image": IMAGE,
        "when": "always",
        "needs": [{"job": f"cell-{c.name}", "artifacts": True} for c in cell_specs],
        "script": [
            "apt-get update && apt-get install -y --no-install-recommends python3-venv git ca-certificates",
            *([layout.clone()] if layout.in_kernel_tree else []),
            f"cd {layout.harness_dir} && python3 -m venv .venv && .venv/bin/pip install -e .",
            (f".venv/bin/inv report merge --results {_q(f'{ws}/{OUT}')} --expect {_expected(cell_specs)} "
             f"--junit {_q(ws + '/merged.xml')} --markdown {_q(ws + '/merged.md')}"),
        ],
        "artifacts": {"when": "always", "paths": ["merged.xml", "merged.md"], "reports": {"junit": "merged.xml"}},
    }
    return doc


def render(engine: str, cell_specs: list[CellSpec], layout: Layout) -> str:
    data = github(cell_specs, layout) if engine == "github" else gitlab(cell_specs, layout)
    header = (f"# Written by `inv ci --engine {engine}`: one job per cell ({len(cell_specs)}), then one matrix.\n")
    return header + str(yaml.dump(data, Dumper=_NoAliases, sort_keys=False, width=120))


class _NoAliases(yaml.SafeDumper):  # type: ignore[misc]
    """Every step written out in full: a workflow reads better without YAML anchors."""

    def ignore_aliases(self, data: object) -> bool:
        return True
