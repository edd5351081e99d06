"""inv bench's report: the ratios of the targets and the tables, from one run's results."""

from __future__ import annotations

from harness.results import bench_table

RESULTS = {
    "kernel": "6.12.117", "cores": 2, "runs": 3,
    "arches": {
        "x86_64": {"cold": 130.0, "bare_make": 100.0, "warm": 1.5, "make": 0.2, "boot": 0.7, "session": 0.35,
                   "overhead": 0.45, "harness_peak_mb": 34.0, "qemu_peak_mb": 95.0},
        "arm64": {"cold": 150.0, "bare_make": 120.0, "warm": 1.3, "boot": 0.5, "session": 0.35},
    },
    "kunit": {"x86_64": {"cold": 168.0, "warm": 5.2, "changed": 9.6}, "arm64": {"cold": 180.0}},
    "matrix_warm": 3.0,
    "incremental": {"x86_64": 6.0, "x86_64_patch": 6.2, "matrix": 15.0, "matrix_patch": 20.0,
                    "x86_64_bare_make": 3.3},
    "ccache": {"second_tree_cold": 40.0, "second_tree_make": 30.0, "first_tree_make": 100.0, "hits": 900,
               "misses": 10},
}


def test_each_target_is_its_ratio_from_the_same_run() -> None:
    ratios = bench_table.ratios(RESULTS)
    assert ratios["warm x86_64 / kunit.py warm"] == round(1.5 / 5.2, 2)
    assert ratios["one-line change x86_64 / kunit.py"] == round(6.0 / 9.6, 2)
    assert ratios["one-line change --patch / plain change"] == round(6.2 / 6.0, 2)
    assert ratios["cold x86_64 / kunit.py cold"] == round(130 / 168, 2)
    assert ratios["x86_64 boot / arm64 boot"] == 1.4
    assert set(ratios) == set(bench_table.TARGETS)


def test_the_report_says_which_targets_are_met_and_which_are_not() -> None:
    text = bench_table.format_bench({**RESULTS, "ratios": bench_table.ratios(RESULTS)})
    assert "| x86_64 boot / arm64 boot | 1.40 | 1.0 | no |" in text
    assert "| warm x86_64 / kunit.py warm | 0.29 | 0.7 | yes |" in text
    assert "| one-line change --patch / plain change | 1.03 | 1.0 | no |" in text
    assert "| x86_64 cold | 168.00 s | 130.00 s | 0.77 |" in text
    assert "900 hits, 10 misses" in text
    missing = {**RESULTS, "kunit": {}}
    assert "| cold x86_64 / kunit.py cold | - | 0.9 | - |" in bench_table.format_bench({**missing, "ratios": bench_table.ratios(missing)})
