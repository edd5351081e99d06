#!/usr/bin/env python3
"""Measure kprobe-harness: warm checks, boot times, the matrix, patched rebuilds, cold runs.

Numbers come from real runs of the invoke tasks (their --json results), never from the tests.

  .venv/bin/python bench/benchmark.py                    # warm check per arch, boot times
  .venv/bin/python bench/benchmark.py --matrix           # + warm 4-arch matrix
  .venv/bin/python bench/benchmark.py --patched          # + incremental rebuilds with --patch
  .venv/bin/python bench/benchmark.py --repeat 20        # 20 back-to-back x86_64 checks (flakes)
  .venv/bin/python bench/benchmark.py --cold             # cold check and matrix in an empty cache
  .venv/bin/python bench/benchmark.py --compare GIT_TREE # inv compare --base HEAD~1 on x86_64
  .venv/bin/python bench/benchmark.py --lava             # inv lava --run beside inv check, per arch
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.runs import bench
from harness.spec.arches import ARCHES

BAD = ROOT / "tests" / "bad-kernels"


def inv(*args: str, env: dict[str, str] | None = None) -> tuple[float, int, dict]:  # type: ignore[type-arg]
    """Run an invoke task with --json; return wall seconds, exit code and the JSON."""
    timed = bench.run_inv(args, env, ROOT)
    return timed.seconds, timed.exit, timed.result


stage = bench.stage_seconds


def warm_checks(arches: list[str], runs: int) -> dict[str, object]:
    results: dict[str, object] = {}
    for arch in arches:
        inv("check", "--arch", arch)  # make sure it is built
        walls, boots = [], []
        verdicts = []
        for _ in range(runs):
            wall, _, data = inv("check", "--arch", arch)
            walls.append(wall)
            boots.append(stage(data, "boot"))
            verdicts.append(data.get("verdict", "none"))
        results[arch] = {"wall_median": statistics.median(walls), "wall_min": min(walls),
                         "boot_median": statistics.median(boots), "boot_max": max(boots), "verdicts": verdicts}
        print(f"  warm check {arch:8} median {statistics.median(walls):5.1f} s (min {min(walls):.1f}); "
              f"boot to shell median {statistics.median(boots):.2f} s, max {max(boots):.2f} s; {verdicts}")
    return results


def warm_matrix(arches: list[str]) -> dict[str, object]:
    inv("matrix", "--arches", ",".join(arches))
    wall, code, data = inv("matrix", "--arches", ",".join(arches))
    statuses = {c["cell"]: c["status"] for c in data.get("cells", [])}
    print(f"  warm matrix {','.join(arches)}: {wall:.1f} s, exit {code}, {statuses}")
    return {"wall": wall, "exit": code, "cells": statuses}


def patched(arch: str) -> dict[str, object]:
    patches = sorted(BAD.glob("*.patch"))
    inv("check", "--arch", arch, "--patch", str(patches[0]))  # the first patched build may be cold
    rows = {}
    for patch in patches:
        wall, code, data = inv("check", "--arch", arch, "--patch", str(patch))
        failed = [c["name"] for c in data.get("checks", []) if c["status"] == "fail"]
        rows[patch.name] = {"wall": wall, "kernel_build": stage(data, "kernel build"), "exit": code, "failed": failed}
        print(f"  {arch} --patch {patch.name:34} {wall:5.1f} s (make {stage(data, 'kernel build'):4.1f} s) "
              f"exit {code} failed {failed}")
    return rows


def repeat(arch: str, runs: int) -> dict[str, object]:
    verdicts = []
    for i in range(runs):
        wall, code, data = inv("check", "--arch", arch)
        verdicts.append(data.get("verdict", f"exit {code}"))
        print(f"  run {i + 1:2}/{runs}: {data.get('verdict')} in {wall:.1f} s")
    passes = verdicts.count("pass")
    print(f"  {passes}/{runs} passes")
    return {"runs": runs, "passes": passes}


def cold(arches: list[str]) -> dict[str, object]:
    cache = Path(tempfile.mkdtemp(prefix="kh-cold-"))
    env = dict(os.environ, KPROBE_HARNESS_CACHE=str(cache))
    try:
        subprocess.run([sys.executable, "-m", "invoke", "setup"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        wall_check, _, data = inv("check", "--arch", "x86_64", env=env)
        print(f"  cold check x86_64: {wall_check:.1f} s (kernel build {stage(data, 'kernel build'):.1f} s)")
        wall_matrix, code, mdata = inv("matrix", "--arches", ",".join(arches), env=env)
        builds = {c["cell"]: stage(c["result"] or {}, "kernel build") for c in mdata.get("cells", [])}
        print(f"  cold matrix (x86_64 already built): {wall_matrix:.1f} s, exit {code}; kernel builds {builds}")
        return {"check_x86_64": wall_check, "matrix": wall_matrix, "kernel_builds": builds}
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def compare(tree: Path, base: str, runs: int) -> dict[str, object]:
    """inv compare of base against HEAD on x86_64: the first run may build the clone cold, the next
    ones move the clone between the two revisions and rebuild what differs."""
    args = ("compare", "--tree", str(tree), "--base", base, "--arches", "x86_64")
    inv(*args)
    walls, builds = [], []
    for i in range(runs):
        wall, code, data = inv(*args)
        per_rev = [round(stage(c["result"], "kernel build"), 1) for c in data.get("cells", []) if c.get("result")]
        walls.append(wall)
        builds.append(per_rev)
        print(f"  compare run {i + 1}/{runs}: {wall:.1f} s, exit {code}, kernel build per revision {per_rev} s")
    return {"walls": walls, "median": statistics.median(walls), "kernel_builds": builds}


def lava_beside_check(arches: list[str], runs: int) -> dict[str, object]:
    """Warm `inv lava --run` and `inv check` of the same cell, alternately: wall time and verdict."""
    rows: dict[str, object] = {}
    for arch in arches:
        with tempfile.TemporaryDirectory() as d:
            inv("lava", "--arch", arch, "--out", d, "--run")  # make sure it is built
            lava_walls, check_walls, runs_of_lava, verdicts = [], [], [], set()
            for _ in range(runs):
                wall, _code, data = inv("lava", "--arch", arch, "--out", d, "--run")
                lava_walls.append(wall)
                runs_of_lava.append(stage(data, "lava-run"))
                verdicts.add(("lava", data.get("status")))
                wall, _code, data = inv("check", "--arch", arch)
                check_walls.append(wall)
                verdicts.add(("check", data.get("status")))
        rows[arch] = {"lava": statistics.median(lava_walls), "lava_run": statistics.median(runs_of_lava),
                      "check": statistics.median(check_walls), "verdicts": sorted(verdicts)}
        print(f"  {arch}: inv lava --run {rows[arch]['lava']:.1f} s (lava-run {rows[arch]['lava_run']:.1f} s), "
              f"inv check {rows[arch]['check']:.1f} s; verdicts {sorted(verdicts)}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arches", default=",".join(ARCHES))
    parser.add_argument("--runs", type=int, default=3, help="warm runs per arch")
    parser.add_argument("--matrix", action="store_true")
    parser.add_argument("--patched", action="store_true")
    parser.add_argument("--repeat", type=int, default=0)
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--compare", type=Path, metavar="GIT_TREE", help="time inv compare on this git tree")
    parser.add_argument("--base", default="HEAD~1", help="the base revision for --compare")
    parser.add_argument("--lava", action="store_true", help="time inv lava --run beside inv check")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    arches = [a for a in args.arches.split(",") if a]
    if args.compare:
        results: dict[str, object] = {"compare": compare(args.compare, args.base, args.runs)}
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        return 0
    if args.lava:
        results = {"lava": lava_beside_check(arches, args.runs)}
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        return 0
    results = {"warm_checks": warm_checks(arches, args.runs)}
    if args.matrix:
        results["warm_matrix"] = warm_matrix(arches)
    if args.patched:
        results["patched"] = {a: patched(a) for a in ("x86_64", "arm64") if a in arches}
    if args.repeat:
        results["repeat"] = repeat("x86_64", args.repeat)
    if args.cold:
        results["cold"] = cold(arches)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
