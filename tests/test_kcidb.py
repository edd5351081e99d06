"""KCIDB documents, validated with KernelCI's own kcidb-io (schema v5.3) and our reference check."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import kcidb_io
import pytest
from test_reports import cells

from harness.errors import UserError
from harness.results import kcidb
from harness.results.cells import CellReport, from_run
from harness.results.run import RunResult

DATA = Path(__file__).parent / "data"
SCHEMA = kcidb_io.schema.LATEST


def riscv_xfail() -> RunResult:
    """A real riscv64 6.12 result, an XFAIL of riscv64-kprobe-records-in-nmi."""
    return RunResult.from_json(json.loads((DATA / "result-riscv64-6.12-xfail.json").read_text()))


def valid(doc: dict) -> dict:  # type: ignore[type-arg]
    SCHEMA.validate_exactly(doc)
    assert kcidb.unresolved(doc) == []
    return doc


def test_the_schema_is_v5_3_and_its_formats_are_checked() -> None:
    """The installed kcidb-io is the version the document says, and it really checks URIs and times
    (jsonschema skips a format whose checker library is missing)."""
    assert (SCHEMA.major, SCHEMA.minor) == (kcidb.VERSION["major"], kcidb.VERSION["minor"])
    base = {"version": kcidb.VERSION, "checkouts": [{"id": "o:c", "origin": "o", "start_time": "2026-11-30T10:00:00+00:00",
                                                     "log_url": "file:///x/console.log"}]}
    SCHEMA.validate_exactly(base)
    for key, bad in (("start_time", "30 Nov 2026"), ("log_url", "not a uri")):
        doc = copy.deepcopy(base)
        doc["checkouts"][0][key] = bad
        with pytest.raises(jsonschema.ValidationError):
            SCHEMA.validate_exactly(doc)


def test_an_xfail_cell_keeps_its_failing_checks_and_links_each_to_the_issue() -> None:
    result = riscv_xfail()
    doc = valid(kcidb.document([from_run(result)], result.command))
    assert [c["id"] for c in doc["checkouts"]] and all(
        o["id"].startswith("kprobe_harness:") and o["origin"] == "kprobe_harness"
        for kind in ("checkouts", "builds", "tests", "issues", "incidents") for o in doc[kind])
    tests = {t["path"]: t for t in doc["tests"]}
    assert tests["kprobe_event_gen"]["status"] == "FAIL", "an XFAIL cell's code really fails"
    assert tests["kprobe_event_gen"]["misc"]["status"] == "xfail"
    by_check = {r.name: r.status for r in result.checks}
    for check, status in by_check.items():
        assert tests[f"kprobe_event_gen.{kcidb.node(check)}"]["status"] == kcidb.CHECK_STATUS[status]
    assert tests["kprobe_event_gen.filename_arg"]["status"] == "SKIP", "not run is SKIP"
    [issue] = doc["issues"]
    assert issue["id"] == "kprobe_harness:riscv64-kprobe-records-in-nmi" and issue["culprit"]["code"]
    explained = {i["test_id"].rsplit(":", 1)[-1] for i in doc["incidents"]}
    failing = {f"kprobe_event_gen.{c.name}" for c in result.checks if c.status == "fail"}
    assert explained == failing and all(i["present"] for i in doc["incidents"])
    [build] = doc["builds"]
    assert build["architecture"] == "riscv64" and build["status"] == "PASS" and build["compiler"] == "gcc"
    assert tests["kprobe_event_gen"]["log_url"].startswith("file:///") and tests["kprobe_event_gen"][
        "log_url"].endswith("/console.log")


def test_ids_are_the_same_when_the_same_result_is_read_again() -> None:
    result = riscv_xfail()
    result.run_id, result.started = "0123abcd", "2026-11-30T16:00:00+00:00"
    first = kcidb.document([from_run(result)], "inv check")
    again = kcidb.document([from_run(RunResult.from_json(json.loads(json.dumps(result.to_json()))))], "inv check")
    assert first == again
    assert {b["id"] for b in first["builds"]} == {"kprobe_harness:0123abcd"}
    assert first["builds"][0]["start_time"] == "2026-11-30T16:00:00+00:00"
    other = copy.deepcopy(result)
    other.run_id = "4567"
    second = kcidb.document([from_run(result), from_run(other)], "inv check")
    assert len(second["builds"]) == 2 and len(second["checkouts"]) == 1, "two runs of one source: one checkout"


def test_the_checkout_is_the_commit_or_the_package_and_patches_make_another(tmp_path: Path) -> None:
    result = riscv_xfail()
    result.source = "a" * 40
    [checkout] = valid(kcidb.document([from_run(result)], "c"))["checkouts"]
    assert checkout["id"] == f"kprobe_harness:{'a' * 40}" and checkout["git_commit_hash"] == "a" * 40
    patch = tmp_path / "fix.patch"
    result.patches = [str(patch)]
    [patched] = valid(kcidb.document([from_run(result)], "c"))["checkouts"]
    assert patched["id"] != checkout["id"] and patched["patchset_files"] == [{"name": "fix.patch",
                                                                              "url": patch.as_uri()}]
    result.source, result.patches = "/usr/src/linux-source-6.12.tar.xz:1:2", []
    [package] = valid(kcidb.document([from_run(result)], "c"))["checkouts"]
    assert package["id"].startswith("kprobe_harness:linux-6.12.117-") and "git_commit_hash" not in package


def test_a_cell_that_never_ran_is_a_miss_and_its_build_says_why(tmp_path: Path) -> None:
    reports = cells(tmp_path)
    doc = valid(kcidb.document(reports, "inv matrix"))
    assert len(doc["builds"]) == len(reports)
    never = next(b for b in doc["builds"] if b["misc"]["cell"] == "arm/6.12")
    assert never["status"] == "ERROR" and "kernel build failed" in never["log_excerpt"]
    parent = [t for t in doc["tests"] if t["build_id"] == never["id"]]
    assert [t["status"] for t in parent] == ["MISS"]
    broken = CellReport("arm/6.12", "arm", "6.12", "fail", None, error="the kernel did not build", build_error=True)
    [build] = valid(kcidb.document([broken], "inv matrix"))["builds"]
    assert build["status"] == "FAIL"


def test_the_base_url_names_each_run_folder(tmp_path: Path) -> None:
    result = riscv_xfail()
    result.artifacts = str(tmp_path / "riscv64-20261130-160000")
    doc = valid(kcidb.document([from_run(result)], "c", origin="my_lab", base_url="https://ci.example.org/a/"))
    urls = {t["log_url"] for t in doc["tests"]}
    assert urls == {"https://ci.example.org/a/riscv64-20261130-160000/console.log"}
    assert all(o["id"].startswith("my_lab:") for o in doc["tests"])


@pytest.mark.parametrize("origin", ["Kprobe", "kprobe-harness", ""])
def test_an_origin_kcidb_refuses_is_a_usage_error(origin: str) -> None:
    with pytest.raises(UserError, match="--kcidb-origin"):
        kcidb.document([], "c", origin=origin)


def test_a_base_url_that_is_no_url_is_a_usage_error() -> None:
    with pytest.raises(UserError, match="--kcidb-base-url"):
        kcidb.check_base_url("ci.example.org/runs")


def test_a_reference_to_nothing_is_found() -> None:
    doc = kcidb.document([from_run(riscv_xfail())], "c")
    doc["tests"][0]["build_id"] = "kprobe_harness:gone"
    doc["incidents"][0]["issue_id"] = "kprobe_harness:no-such-issue"
    found = kcidb.unresolved(doc)
    assert len(found) == 2 and "kprobe_harness:gone is not in builds" in found[0]


def test_report_merge_writes_it_and_a_bad_origin_stops_before_any_work(tmp_path: Path) -> None:
    """The option as a user gives it: inv report merge --kcidb, and --kcidb-origin refused with exit 128."""
    import subprocess
    import sys

    from conftest import ROOT

    out = tmp_path / "kcidb.json"
    argv = [sys.executable, "-m", "invoke", "report", "merge", "--results", str(DATA / "result-riscv64-6.12-xfail.json"),
            "--kcidb", str(out), "--kcidb-base-url", "https://ci.example.org/runs"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    doc = valid(json.loads(out.read_text()))
    assert {t["log_url"].rsplit("/", 2)[0] for t in doc["tests"]} == {"https://ci.example.org/runs"}
    bad = subprocess.run([*argv[:-4], "--kcidb", str(tmp_path / "x.json"), "--kcidb-origin", "KH"], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 128 and "--kcidb-origin 'KH'" in bad.stderr and not (tmp_path / "x.json").exists()
