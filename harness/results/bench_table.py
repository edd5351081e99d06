"""inv bench's results as Markdown tables and JSON, and the ratios its targets are judged by."""

from __future__ import annotations

import json
from pathlib import Path

from harness.host import paths

# the targets of the speed work, as (name, measured/reference at most)
TARGETS = {
    "warm x86_64 / kunit.py warm": 0.7,
    "one-line change x86_64 / kunit.py": 0.7,
    "one-line change --patch / plain change": 1.0,
    "one-line change 4-arch matrix / x86_64": 3.0,
    "one-line change 4-arch matrix --patch / x86_64 --patch": 3.0,
    "cold x86_64 / kunit.py cold": 0.9,
    "x86_64 boot / arm64 boot": 1.0,
    "cold x86_64 / bare make of the same .config": 1.1,
    "the harness's own time in a warm run, slowest arch (s)": 0.3,
    "warm x86_64 / the same without the grammar target": 1.3,
    "one-line change x86_64 / the same without the grammar target": 1.2,
}


def _ratio(a: object, b: object) -> float | None:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return round(a / b, 2)
    return None


def ratios(r: dict) -> dict[str, float | None]:  # type: ignore[type-arg]
    """The targets' ratios from one run's results (None where a part was not measured)."""
    arches, kunit, inc = r["arches"], r["kunit"], r["incremental"]
    x86, arm64, kx86 = arches.get("x86_64", {}), arches.get("arm64", {}), kunit.get("x86_64", {})
    return {
        "warm x86_64 / kunit.py warm": _ratio(x86.get("warm"), kx86.get("warm")),
        "one-line change x86_64 / kunit.py": _ratio(inc.get("x86_64"), kx86.get("changed")),
        "one-line change --patch / plain change": _ratio(inc.get("x86_64_patch"), inc.get("x86_64")),
        "one-line change 4-arch matrix / x86_64": _ratio(inc.get("matrix"), inc.get("x86_64")),
        "one-line change 4-arch matrix --patch / x86_64 --patch": _ratio(inc.get("matrix_patch"),
                                                                         inc.get("x86_64_patch")),
        "cold x86_64 / kunit.py cold": _ratio(x86.get("cold"), kx86.get("cold")),
        "x86_64 boot / arm64 boot": _ratio(x86.get("boot"), arm64.get("boot")),
        "cold x86_64 / bare make of the same .config": _ratio(x86.get("cold"), x86.get("bare_make")),
        "the harness's own time in a warm run, slowest arch (s)": max(
            (a["overhead"] for a in arches.values() if isinstance(a.get("overhead"), (int, float))), default=None),
        "warm x86_64 / the same without the grammar target": _ratio(x86.get("warm"), x86.get("warm_seed")),
        "one-line change x86_64 / the same without the grammar target": _ratio(inc.get("x86_64"),
                                                                               inc.get("x86_64_seed")),
    }


def _cell(value: object, unit: str = " s") -> str:
    if value is None or value == "":
        return "-"
    return f"{value:.2f}{unit}" if isinstance(value, float) else f"{value}{unit}"


def format_bench(r: dict) -> str:  # type: ignore[type-arg]
    """The benchmark as Markdown tables: per arch, against kunit.py, and the targets."""
    arches: dict[str, dict[str, object]] = r["arches"]
    names = list(arches)
    rows = [
        ("bare `make -j` from scratch", "bare_make", " s"), ("harness, cold", "cold", " s"),
        ("  of which kernel config", "cold_config", " s"), ("  make", "cold_make", " s"),
        ("  module build", "cold_module", " s"), ("  initramfs (and the wait for busybox)", "cold_initramfs", " s"),
        ("  boot and guest session", "cold_guest", " s"),
        ("harness, warm (nothing changed)", "warm", " s"), ("  of which make (or the check that skips it)", "make", " s"),
        ("  boot to shell", "boot", " s"), ("  guest session", "session", " s"),
        ("  the harness's own (warm - boot - session)", "overhead", " s"),
        ("warm without the grammar target (--module seed)", "warm_seed", " s"),
        ("  its guest session", "session_seed", " s"),
        ("peak memory: harness", "harness_peak_mb", " MB"), ("peak memory: QEMU", "qemu_peak_mb", " MB"),
    ]
    out = [f"Linux {r['kernel']}, {r['cores']} cores, medians of {r['runs']} warm runs", "",
           "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, key, unit in rows:
        out.append(f"| {label} | " + " | ".join(_cell(arches[a].get(key), unit) for a in names) + " |")
    out.append("| harness cold / bare make | " + " | ".join(
        _cell(_ratio(arches[a].get("cold"), arches[a].get("bare_make")), "") for a in names) + " |")
    inc = r["incremental"]
    out += ["", "| one-line change to kernel/trace/trace_kprobe.c | time |", "|---|---|",
            f"| x86_64, bare incremental make | {_cell(inc.get('x86_64_bare_make'))} |",
            f"| x86_64, harness verdict | {_cell(inc.get('x86_64'))} |",
            f"| x86_64, harness verdict without the grammar target | {_cell(inc.get('x86_64_seed'))} |",
            f"| x86_64, harness verdict through --patch | {_cell(inc.get('x86_64_patch'))} |",
            f"| {len(names)}-arch matrix, harness verdicts | {_cell(inc.get('matrix'))} |",
            f"| {len(names)}-arch matrix through --patch | {_cell(inc.get('matrix_patch'))} |",
            f"| {len(names)}-arch matrix, warm (nothing changed) | {_cell(r.get('matrix_warm'))} |"]
    out += ["", "| kunit.py vs harness | kunit.py | harness | harness / kunit.py |", "|---|---|---|---|"]
    for arch, k in r["kunit"].items():
        ours = {"cold": arches.get(arch, {}).get("cold"), "warm": arches.get(arch, {}).get("warm"),
                "changed": inc.get(arch) if arch == "x86_64" else None}
        for key, label in (("cold", "cold"), ("warm", "warm"), ("changed", "one-line change")):
            out.append(f"| {arch} {label} | {_cell(k.get(key))} | {_cell(ours[key])} | "
                       f"{_cell(_ratio(ours[key], k.get(key)), '')} |")
    cc = r.get("ccache") or {}
    if cc:
        out += ["", (f"ccache: x86_64 cold on a second tree (the --patch copy) {_cell(cc.get('second_tree_cold'))} "
                     f"(make {_cell(cc.get('second_tree_make'))}; {cc.get('hits')} hits, {cc.get('misses')} misses; "
                     f"the first tree's cold make: {_cell(cc.get('first_tree_make'))})")]
    out += ["", "| target | ratio | at most | met |", "|---|---|---|---|"]
    for name, limit in TARGETS.items():
        value = r["ratios"].get(name)
        met = "-" if value is None else ("yes" if value <= limit else "no")
        out.append(f"| {name} | {_cell(value, '')} | {limit} | {met} |")
    return "\n".join(out)


def write_json(results: dict[str, object], path: Path) -> None:
    paths.write_atomic(path, json.dumps(results, indent=2) + "\n")


SUITE_WARM_TARGET = 90.0  # seconds: a warm --suite ftrace run on x86_64 and arm64


def format_suite_bench(r: dict) -> str:  # type: ignore[type-arg]
    """A larger configuration's cost per arch (a suite's, the sanitizer profile's): its cold make against
    the default one's, and a warm run (target: under 90 s on x86_64 and arm64 for the ftrace suite)."""
    what = " ".join([*([f"--suite {r['suite']}"] if r.get("suite") else []), *(["--sanitizers"] if r.get("sanitizers") else [])])
    judged = r.get("suite") == "ftrace" and not r.get("sanitizers")
    lines = [f"{what}, Linux {r['kernel']}, {r['cores']} cores, median of {r['runs']} warm runs",
             "", ("| arch | cold make (default config) | cold make (this config) | ratio | warm run | boot (default) | "
             "session (default) | target |"), "|---|---|---|---|---|---|---|---|"]
    for arch, a in r["arches"].items():
        target = f"< {SUITE_WARM_TARGET:.0f} s: {'met' if a['warm'] < SUITE_WARM_TARGET else 'NOT met'}" \
            if judged and arch in ("x86_64", "arm64") else ""
        lines.append(f"| {arch} | {a['cold_make_default']} s | {a['cold_make']} s | "
                     f"{_ratio(a['cold_make'], a['cold_make_default'])}x | {a['warm']} s ({a['warm_status']}) | "
                     f"{a['boot']} s ({a.get('boot_default', '-')} s) | {a['session']} s "
                     f"({a.get('session_default', '-')} s) | {target} |")
    return "\n".join(lines)
