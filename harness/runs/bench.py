"""inv bench: the harness beside a bare make and the kernel's own KUnit runner, on one tree, in one run.

Everything runs on the benchmark's own hard-linked copy of the tree (a changed file is replaced,
never written through a link) with a cache of its own, so the user's tree and cache stay as they
were. Ratios from one run are what count: absolute times move with the machine's load.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from harness.build import config as kconfig
from harness.build import kbuild
from harness.build import tree as trees
from harness.host import paths
from harness.host.proc import Echo
from harness.results import bench_table
from harness.spec.arches import ARCHES

KUNITCONFIG = ("CONFIG_KUNIT=y", "CONFIG_KUNIT_EXAMPLE_TEST=y", "CONFIG_MODULES=y", "CONFIG_FTRACE=y",
               "CONFIG_KPROBES=y", "CONFIG_KPROBE_EVENTS=y")
CHANGED_FILE = "kernel/trace/trace_kprobe.c"


@dataclass
class Timed:
    """One command: wall seconds, exit code, its --json result, and peak memory (KiB, VmHWM)."""

    seconds: float
    exit: int
    result: dict = field(default_factory=dict)  # type: ignore[type-arg]
    harness_kb: int = 0
    qemu_kb: int = 0

    def stage(self, name: str) -> float:
        return stage_seconds(self.result, name)


def stage_seconds(result: dict, name: str) -> float:  # type: ignore[type-arg]
    """The seconds a --json result spent in the stages of that name."""
    return round(float(sum(s["seconds"] for s in result.get("stages", []) if s["name"].strip() == name)), 2)


def run_inv(args: tuple[str, ...] | list[str], env: dict[str, str] | None, cwd: Path, echo: Echo = print,
            sample: bool = False) -> Timed:
    """`inv ARGS --json F`, timed (and with sample, its peak memory and its QEMU's, read from /proc
    while it runs)."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "result.json"
        argv = [sys.executable, "-m", "harness.cli", *args, "--json", str(out)]
        started = time.monotonic()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        memory = PeakMemory(proc.pid) if sample else None
        _, err = proc.communicate()
        seconds = time.monotonic() - started
        if memory:
            memory.stop()
        data = json.loads(out.read_text()) if out.exists() else {}
    if not data:
        echo(f"  inv {' '.join(args)}: no result (exit {proc.returncode}): {err.strip()[-800:]}")
    return Timed(round(seconds, 2), proc.returncode, data, memory.harness_kb if memory else 0,
                 memory.qemu_kb if memory else 0)


class PeakMemory:
    """Samples /proc while a command runs: the peak resident size of the command itself and of
    every QEMU below it."""

    def __init__(self, pid: int) -> None:
        self.pid, self.harness_kb, self.qemu_kb = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.sample()

    def sample(self) -> None:
        parents: dict[int, int] = {}
        names: dict[int, str] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) < self.pid:  # started before the command
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
            parents[int(entry.name)], names[int(entry.name)] = int(rest[1]), name
        for pid, name in names.items():
            ancestor = pid
            while ancestor != self.pid and ancestor in parents:
                ancestor = parents[ancestor]
            if ancestor != self.pid:
                continue
            hwm = _vm_hwm(pid)
            if pid == self.pid:
                self.harness_kb = max(self.harness_kb, hwm)
            elif name.startswith("qemu-system"):
                self.qemu_kb = max(self.qemu_kb, hwm)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _vm_hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Bench:
    root: Path  # everything the benchmark writes
    source: trees.KernelTree  # the tree it copies
    echo: Echo = print
    runs: int = 3
    edits: int = 0
    results: dict[str, object] = field(default_factory=dict)

    @property
    def tree(self) -> Path:
        return self.root / "linux"

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, **{paths.CACHE_ENV: str(self.root / "cache")})

    def prepare(self) -> None:
        """An empty cache of its own (sharing only the downloaded sources) and a fresh copy of the tree."""
        if self.root.exists():
            shutil.rmtree(self.root)
        (self.root / "cache").mkdir(parents=True)
        (self.root / "cache" / "sources").symlink_to(paths.sources_dir())
        subprocess.run(["cp", "-al", str(self.source.path), str(self.tree)], check=True)

    def edit(self) -> None:
        """A one-line change to CHANGED_FILE, written as a new file (the copy's file is a hard link)."""
        self.edits += 1
        path = self.tree / CHANGED_FILE
        lines = path.read_text().splitlines(keepends=True)
        if lines[0].startswith("/* kprobe-harness bench"):
            lines = lines[1:]
        tmp = path.with_name(path.name + ".bench")
        tmp.write_text(f"/* kprobe-harness bench edit {self.edits} */\n" + "".join(lines))
        tmp.replace(path)

    def patch_file(self) -> Path:
        """The same kind of one-line change as a patch (a new line each time, so each is new)."""
        self.edits += 1
        patch = self.root / f"edit-{self.edits}.patch"
        first = (self.tree / CHANGED_FILE).read_text().splitlines()[0]
        patch.write_text(f"--- a/{CHANGED_FILE}\n+++ b/{CHANGED_FILE}\n@@ -1 +1,2 @@\n"
                         f"+/* kprobe-harness bench patch {self.edits} */\n {first}\n")
        return patch

    def inv(self, *args: str, sample: bool = False) -> Timed:
        """`inv ARGS` against the benchmark's tree and cache (see run_inv)."""
        return run_inv(args, self.env, self.root, self.echo, sample)

    def check(self, arch: str, *extra: str, sample: bool = False) -> Timed:
        return self.inv("check", "--arch", arch, "--tree", str(self.tree), *extra, sample=sample)

    def matrix(self, arches: list[str], *extra: str) -> Timed:
        return self.inv("matrix", "--arches", ",".join(arches), "--tree", str(self.tree), *extra)

    def bare_build(self, arch: str) -> kbuild.KernelBuild:
        """A build folder of the benchmark's own, configured with the .config of the harness's cell."""
        build = kconfig.prepare_build(trees.KernelTree(self.tree, self.source.version), ARCHES[arch])
        return kbuild.KernelBuild(build.tree, build.arch, self.root / f"bare-{arch}", build.kconfig,
                                  build.cross_compile)

    def bare_make(self, bare: kbuild.KernelBuild, config: Path | None = None) -> float:
        """`make -j<cores> <image> modules`, timed (with config: from scratch with that .config)."""
        if config is not None:
            bare.out.mkdir(parents=True, exist_ok=True)
            shutil.copy2(config, bare.out / ".config")
            subprocess.run(bare.make_argv("olddefconfig"), check=True, stdout=subprocess.DEVNULL)
        started = time.monotonic()
        subprocess.run(bare.make_argv(bare.arch.image_target, "modules", jobs=kbuild.jobs()), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return round(time.monotonic() - started, 2)

    def kunit(self, arch: str) -> Timed:
        """kunit.py run on the same tree, in a build folder of its own."""
        config = self.root / "kunitconfig"
        config.write_text("\n".join(KUNITCONFIG) + "\n")
        argv = [sys.executable, str(self.tree / "tools/testing/kunit/kunit.py"), "run", f"--arch={arch}",
                f"--kunitconfig={config}", f"--build_dir={self.root / f'kunit-{arch}'}", f"--jobs={kbuild.jobs()}"]
        prefix = ARCHES[arch].cross_prefix()
        if prefix:
            argv.append(f"--cross_compile={prefix}")
        started = time.monotonic()
        done = subprocess.run(argv, cwd=self.tree, capture_output=True, text=True, check=False)
        seconds = round(time.monotonic() - started, 2)
        if done.returncode != 0:
            self.echo(f"  kunit.py {arch}: exit {done.returncode}: {(done.stdout + done.stderr)[-800:]}")
        return Timed(seconds, done.returncode)

    def median(self, run: Callable[[], Timed], before: Callable[[], None] | None = None) -> Timed:
        """The median of `runs` runs by wall time (each after `before`, when given)."""
        times = []
        for _ in range(self.runs):
            if before:
                before()
            times.append(run())
        return sorted(times, key=lambda t: t.seconds)[len(times) // 2]

    def bare_changed(self, bare: kbuild.KernelBuild) -> Timed:
        return Timed(self.bare_make(bare), 0)

    def ccache_stats(self) -> dict[str, int]:
        """Hits and misses of the benchmark's ccache so far (empty when there is no ccache)."""
        env = dict(self.env, CCACHE_DIR=str(self.root / "cache" / "ccache"))
        done = subprocess.run(["ccache", "--print-stats"], env=env, capture_output=True, text=True, check=False) \
            if shutil.which("ccache") else None
        stats = dict(line.split("\t", 1) for line in (done.stdout.splitlines() if done else []) if "\t" in line)
        hits = sum(int(stats.get(k, 0)) for k in ("direct_cache_hit", "preprocessed_cache_hit"))
        return {"hits": hits, "misses": int(stats.get("cache_miss", 0))} if stats else {}


def _status(t: Timed) -> str:
    return str(t.result.get("status") or t.result.get("verdict") or f"exit {t.exit}")


def run_bench(root: Path, source: trees.KernelTree, arches: list[str], kunit_arches: list[str], runs: int,
              echo: Echo = print) -> dict[str, object]:
    """Every measurement of the benchmark, in an order where each starts from the state it needs."""
    b = Bench(root, source, echo, runs)
    echo(f"bench: Linux {source.version}, copy of {source.path} in {b.tree}, {kbuild.jobs()} cores")
    b.prepare()
    per_arch: dict[str, dict[str, object]] = {a: {} for a in arches}
    kunit: dict[str, dict[str, object]] = {a: {} for a in kunit_arches}

    echo("cold: the harness, then a bare make with its .config, per arch; then kunit.py")
    bares: dict[str, kbuild.KernelBuild] = {}
    for arch in arches:
        cold = b.check(arch)
        per_arch[arch].update(cold=cold.seconds, cold_status=_status(cold), cold_make=cold.stage("kernel build"),
                              cold_config=cold.stage("kernel config"), cold_module=cold.stage("module build"),
                              cold_initramfs=cold.stage("initramfs"),
                              cold_guest=round(cold.stage("boot") + cold.stage("guest session"), 2))
        bares[arch] = b.bare_build(arch)
        config = Path(str(cold.result.get("artifacts", ""))) / "kernel.config"
        per_arch[arch]["bare_make"] = b.bare_make(bares[arch], config) if config.is_file() else None
        echo(f"  {arch}: harness {cold.seconds:.1f} s ({_status(cold)}), bare make {per_arch[arch]['bare_make']} s")
    for arch in kunit_arches:
        kunit[arch]["cold"] = b.kunit(arch).seconds
        echo(f"  kunit.py {arch}: {kunit[arch]['cold']:.1f} s")

    echo("warm: nothing changed")
    for arch in arches:
        warm = b.median(partial(b.check, arch))
        sampled = b.check(arch, sample=True)  # one more run, for memory: sampling costs time
        per_arch[arch].update(warm=warm.seconds, warm_status=_status(warm), boot=warm.stage("boot"),
                              session=warm.stage("guest session"), make=warm.stage("kernel build"),
                              harness_peak_mb=round(sampled.harness_kb / 1024, 1),
                              qemu_peak_mb=round(sampled.qemu_kb / 1024, 1))
        per_arch[arch]["overhead"] = round(warm.seconds - warm.stage("boot") - warm.stage("guest session"), 2)
        echo(f"  {arch}: {warm.seconds:.2f} s (boot {warm.stage('boot')} s, session {warm.stage('guest session')} s)")
    if "x86_64" in arches:  # the same verdict without the probe-grammar target: what the grammar costs
        seed = b.median(partial(b.check, "x86_64", "--module", "seed"))
        per_arch["x86_64"].update(warm_seed=seed.seconds, session_seed=seed.stage("guest session"))
        echo(f"  x86_64 --module seed: {seed.seconds:.2f} s (session {seed.stage('guest session')} s)")
    for arch in kunit_arches:
        kunit[arch]["warm"] = b.median(partial(b.kunit, arch)).seconds
    matrix_warm = b.median(partial(b.matrix, arches))
    echo(f"  matrix of {len(arches)}: {matrix_warm.seconds:.1f} s")

    echo(f"one-line change to {CHANGED_FILE} (a new one before each run)")
    incremental: dict[str, object] = {}
    if "x86_64" in arches:
        x86 = b.median(partial(b.check, "x86_64"), b.edit)
        incremental.update(x86_64=x86.seconds, x86_64_status=_status(x86), x86_64_make=x86.stage("kernel build"),
                           x86_64_module=x86.stage("module build"))
        seed_changed = b.median(partial(b.check, "x86_64", "--module", "seed"), b.edit)
        incremental["x86_64_seed"] = seed_changed.seconds
        echo(f"  x86_64 --module seed: {seed_changed.seconds:.2f} s")
        if per_arch["x86_64"]["bare_make"]:
            incremental["x86_64_bare_make"] = b.median(partial(b.bare_changed, bares["x86_64"]), b.edit).seconds
        echo(f"  x86_64: {x86.seconds:.2f} s (make {x86.stage('kernel build')} s; bare make "
             f"{incremental.get('x86_64_bare_make')} s)")
    for arch in kunit_arches:
        kunit[arch]["changed"] = b.median(partial(b.kunit, arch), b.edit).seconds
        echo(f"  kunit.py {arch}: {kunit[arch]['changed']:.2f} s")
    matrix_changed = b.median(partial(b.matrix, arches), b.edit)
    incremental.update(matrix=matrix_changed.seconds, matrix_exit=matrix_changed.exit)
    echo(f"  matrix of {len(arches)}: {matrix_changed.seconds:.1f} s")
    ccache: dict[str, object] = {}
    if "x86_64" in arches:
        # the patched copy is a second tree at another path: its first build is cold, but ccache
        # holds what the first tree compiled
        before = b.ccache_stats()
        second = b.check("x86_64", "--patch", str(b.patch_file()))
        after = b.ccache_stats()
        if before:
            ccache = {"second_tree_cold": second.seconds, "second_tree_make": second.stage("kernel build"),
                      "first_tree_make": per_arch["x86_64"]["cold_make"],
                      "hits": after["hits"] - before["hits"], "misses": after["misses"] - before["misses"]}
            echo(f"  ccache: the --patch copy's cold x86_64 build {second.stage('kernel build')} s "
                 f"({ccache['hits']} hits, {ccache['misses']} misses)")
        patched = b.median(lambda: b.check("x86_64", "--patch", str(b.patch_file())))
        incremental.update(x86_64_patch=patched.seconds, x86_64_patch_status=_status(patched))
        echo(f"  x86_64 --patch: {patched.seconds:.2f} s")
        b.matrix(arches, "--patch", str(b.patch_file()))  # cold for the other arches' patched builds
        matrix_patched = b.median(lambda: b.matrix(arches, "--patch", str(b.patch_file())))
        incremental["matrix_patch"] = matrix_patched.seconds
        echo(f"  matrix of {len(arches)} --patch: {matrix_patched.seconds:.1f} s")

    results: dict[str, object] = {
        "kernel": source.version, "cores": kbuild.jobs(), "runs": runs, "arches": per_arch, "kunit": kunit,
        "matrix_warm": matrix_warm.seconds, "incremental": incremental, "ccache": ccache,
    }
    results["ratios"] = bench_table.ratios(results)
    return results


def run_suite_bench(root: Path, source: trees.KernelTree, arches: list[str], runs: int, suite: str,
                    echo: Echo = print, sanitizers: bool = False) -> dict[str, object]:
    """What a larger configuration costs, per arch, on the benchmark's own copy and cache (a suite beyond
    the module's, or the sanitizer profile, or both): its cold build against the default one's, and a
    warm run of each (boot and session beside the default's)."""
    b = Bench(root, source, echo, runs)
    flags = (*(("--suite", suite) if suite else ()), *(("--sanitizers",) if sanitizers else ()))
    echo(f"bench {' '.join(flags)}: Linux {source.version}, copy of {source.path} in {b.tree}, {kbuild.jobs()} cores")
    b.prepare()
    per_arch: dict[str, dict[str, object]] = {}
    for arch in arches:
        default = b.check(arch)
        plain = b.median(partial(b.check, arch))
        cold = b.check(arch, *flags)
        warm = b.median(partial(b.check, arch, *flags))
        per_arch[arch] = {
            "cold_make_default": default.stage("kernel build"), "cold_make": cold.stage("kernel build"),
            "cold": cold.seconds, "warm": warm.seconds, "warm_status": _status(warm), "boot": warm.stage("boot"),
            "session": warm.stage("guest session"), "cases": warm.stage("ftrace"),
            "boot_default": plain.stage("boot"), "session_default": plain.stage("guest session"),
        }
        echo(f"  {arch}: cold make {cold.stage('kernel build')} s (default configuration "
             f"{default.stage('kernel build')} s); warm {warm.seconds:.1f} s ({_status(warm)}; boot "
             f"{warm.stage('boot')} s, session {warm.stage('guest session')} s)")
    return {"kernel": source.version, "cores": kbuild.jobs(), "runs": runs, "suite": suite, "sanitizers": sanitizers,
            "arches": per_arch}
