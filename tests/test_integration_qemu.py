"""Real boots: build the kernel and module, boot QEMU, and check verdicts end to end."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import HEALTHY, KNOWN_612, ROOT, require_tools, validate_json

from harness.host import paths

pytestmark = pytest.mark.qemu

COLD_TIMEOUT = 40 * 60


def inv(*args: str, timeout: float = COLD_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def qemu_processes() -> list[str]:
    """QEMU processes booting from this cache's run folders (full width: ps cuts lines under pytest)."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True, check=False).stdout
    runs = str(paths.cache_root() / "runs")
    return [line for line in out.splitlines() if "qemu-system" in line and runs in line]


@pytest.fixture(scope="module", autouse=True)
def tools() -> None:
    require_tools("qemu-system-x86_64", "make", "gcc", "flex", "bison", "bc")


def run_json(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:  # type: ignore[type-arg]
    out = tmp_path / "result.json"
    result = inv("check", "--arch", "x86_64", "--json", str(out), *args)
    assert out.exists(), f"no JSON written\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    data = json.loads(out.read_text())
    validate_json(data, "result")
    return result, data


def test_check_x86_64_passes_on_the_default_tree_but_for_two_known_issues(tmp_path: Path) -> None:
    result, data = run_json(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert data["status"] == HEALTHY and {i["id"] for i in data["known_issues"]} == {
        "ustring-empty-records-as-fault", "ring-buffer-subbuf-keeps-page-event-limit"}
    assert data["arch"] == "x86_64" and data["kernel_version"].startswith("6.12.")
    assert [c["name"] for c in data["checks"] if c["status"] != "pass"] == KNOWN_612
    assert {"fetch_stack_args", "fetch_bitfield", "fetch_string_long", "api_refusals", "grammar_events_removed"} <= {
        c["name"] for c in data["checks"]}
    assert {"filename_arg", "register_args", "retval", "kprobe_hit_counts", "no_lost_events", "reload", "kernel_log"} <= {
        c["name"] for c in data["checks"]}
    artifacts = Path(data["artifacts"])
    for name in ("console.log", "trace.txt", "result.json", "build.log", "kernel.config", "commands.sh",
                 "module/kprobe_event_gen_test.c", "module/Kbuild", "dmesg.txt"):
        assert (artifacts / name).exists(), name
    assert "gen_kretprobe_test:" in (artifacts / "trace.txt").read_text()
    assert any(c.startswith("qemu-system-x86_64 ") for c in data["commands"])
    assert "XFAIL: x86_64" in result.stdout
    assert not qemu_processes()


def test_check_x86_64_passes_on_a_tree_given_with_tree(tmp_path: Path) -> None:
    _, data = run_json(tmp_path)
    tree = data["tree"]
    result, data = run_json(tmp_path, "--tree", tree)
    assert result.returncode == 0, result.stdout[-3000:]
    assert data["status"] == HEALTHY and data["tree"] == tree


def test_a_function_that_does_not_exist_fails_insmod_with_the_kernels_reason(tmp_path: Path) -> None:
    result, data = run_json(tmp_path, "--func", "kh_no_such_function")
    assert result.returncode == 1
    assert data["verdict"] == "fail"
    insmod = data["checks"][0]
    assert insmod["name"] == "insmod" and insmod["status"] == "fail"
    assert "Invalid probed address or symbol" in insmod["detail"]
    assert not qemu_processes()


@pytest.mark.parametrize("func", ["vfs_read", "ksys_read"])
def test_another_function_passes_on_a_healthy_kernel(tmp_path: Path, func: str) -> None:
    result, data = run_json(tmp_path, "--profile", "upstream", "--func", func)
    assert result.returncode == 0, result.stdout[-3000:]
    assert data["func"] == func and data["status"] == HEALTHY
    assert "retval" not in {c["name"] for c in data["checks"]}


def test_boot_hands_over_the_guest_shell_and_stops_qemu_when_left() -> None:
    import pexpect
    child = pexpect.spawn(sys.executable, ["-m", "invoke", "boot", "--arch", "x86_64"], cwd=str(ROOT),
                          encoding="utf-8", timeout=COLD_TIMEOUT, dimensions=(50, 200))
    try:
        child.expect("Ctrl-] leaves")
        assert qemu_processes(), "the guest runs while the user has its shell"
        child.sendline("cat /sys/kernel/tracing/kprobe_events; echo KH''-DONE")
        child.expect("r[0-9]*:kprobes/gen_kretprobe_test do_sys_open", timeout=60)
        child.expect("KH-DONE", timeout=60)
        child.send("\x1d")
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
    time.sleep(0.5)
    assert not qemu_processes()


def test_boot_without_a_terminal_exits_2_before_any_work() -> None:
    result = inv("boot", "--arch", "x86_64", timeout=60)
    assert result.returncode == 128 and "terminal" in result.stderr


def test_load_shows_the_trace_buffer_as_the_guest_shows_it() -> None:
    result = inv("load", "--arch", "x86_64")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "guest# insmod /kh/kprobe_event_gen_test.ko" in result.stdout
    assert "gen_kprobe_test: (do_sys_open" in result.stdout
    assert "guest# rmmod kprobe_event_gen_test" in result.stdout


def test_sigterm_during_a_running_boot_stops_it_and_leaves_no_qemu_behind() -> None:
    inv("check", "--arch", "x86_64")  # warm the build so the boot starts quickly
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "check", "--arch", "x86_64"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 300
    for line in proc.stdout:
        seen.append(line)
        if "boot (" in line or time.monotonic() > deadline:
            break
    running: list[str] = []
    while not running and time.monotonic() < deadline:  # the boot has started: QEMU is up
        running = qemu_processes()
    proc.send_signal(signal.SIGTERM)
    try:
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    output = "".join(seen) + rest
    assert running, "QEMU was running when the signal came\n" + output[-2000:]
    assert proc.returncode == 130, output[-2000:]
    assert "interrupted" in output
    assert "boot done" not in output, "the signal came while the boot was running\n" + output[-2000:]
    assert "PASS" not in output and "FAIL:" not in output, "an interrupted run gives no verdict"
    time.sleep(0.5)
    assert not qemu_processes()


def test_matrix_boots_all_four_arches_and_marks_the_riscv64_known_issue(tmp_path: Path) -> None:
    require_tools("qemu-system-aarch64", "qemu-system-arm", "qemu-system-riscv64", "aarch64-linux-gnu-gcc",
                  "arm-linux-gnueabihf-gcc", "riscv64-linux-gnu-gcc")
    out = tmp_path / "matrix.json"
    reports = {name: tmp_path / f"matrix.{name}" for name in ("junit", "ktap", "markdown", "kcidb")}
    result = inv("matrix", "--arches", "x86_64,arm64,arm,riscv64", "--kernels", "6.12", "--json", str(out),
                 *(a for name, path in reports.items() for a in (f"--{name}", str(path))), timeout=80 * 60)
    assert out.exists(), result.stdout[-4000:] + result.stderr[-2000:]
    data = json.loads(out.read_text())
    validate_json(data, "matrix")
    status = {c["arch"]: c["status"] for c in data["cells"]}
    assert status == {"x86_64": HEALTHY, "arm64": HEALTHY, "arm": HEALTHY, "riscv64": "xfail"}, result.stdout[-6000:]
    assert result.returncode == 0
    riscv = next(c for c in data["cells"] if c["arch"] == "riscv64")
    assert riscv["known_issues"][0]["id"] == "riscv64-kprobe-records-in-nmi"
    failed = [c for c in riscv["result"]["checks"] if c["status"] == "fail"]
    # the entry probes record nothing, ours and the grammar target's; every kretprobe is checked
    assert {"kprobe_records", "kprobe_hit_counts", "fetch_register", "fetch_stack_args"} <= {c["name"] for c in failed}
    assert {"fetch_retval", "fetch_return_args", "kretprobe_maxactive", "api_refusals"} <= {
        c["name"] for c in riscv["result"]["checks"] if c["status"] == "pass"}
    arm = next(c for c in data["cells"] if c["arch"] == "arm")
    assert {c["name"] for c in arm["result"]["checks"] if c["status"] == "not run"} == {"fetch_argn", "fetch_return_args"}
    not_run = {c["name"] for c in riscv["result"]["checks"] if c["status"] == "not run"}
    assert not_run == {"filename_arg", "register_args"}, "entry values have nothing to read; $retval still runs"
    records = next(c for c in failed if c["name"] == "kprobe_records")
    assert "hits" in records["detail"] and "not written to the ring buffer" in records["detail"]
    check_reports_agree_with_the_json(data, reports)
    for cell in data["cells"]:
        boot = next(s["seconds"] for s in cell["result"]["stages"] if s["name"] == "boot")
        assert boot < 30, (cell["arch"], boot)
    assert not qemu_processes()


def check_reports_agree_with_the_json(data: dict, reports: dict[str, Path]) -> None:  # type: ignore[type-arg]
    """JUnit read back with junitparser, KTAP with the kernel's parser, both against the JSON."""
    from junitparser import JUnitXml
    from test_reports import kunit_py

    suites = {s.name: s for s in JUnitXml.fromfile(str(reports["junit"]))}
    for cell in data["cells"]:
        suite = suites[cell["cell"]]
        checks = cell["result"]["checks"]
        assert [c.name for c in suite] == [c["name"] for c in checks]
        props = {p.name: p.value for p in suite.properties()}
        assert props["status"] == cell["status"] and props["command"].startswith("inv matrix ")
        assert suite.skipped == sum(c["status"] != "pass" for c in checks if cell["status"] == "xfail"
                                    or c["status"] == "not run")
    parsed = subprocess.run([sys.executable, str(kunit_py(reports["ktap"].parent)), "parse", str(reports["ktap"])],
                            capture_output=True, text=True, check=False).stdout
    total = sum(len(c["result"]["checks"]) for c in data["cells"])
    assert f"Testing complete. Ran {total} tests" in parsed, parsed[-2000:]
    markdown = reports["markdown"].read_text()
    assert markdown.startswith("## kprobe-harness: OK") and "riscv64/6.12: XFAIL" in markdown
    check_kcidb_agrees_with_the_json(data, json.loads(reports["kcidb"].read_text()))


def check_kcidb_agrees_with_the_json(data: dict, doc: dict) -> None:  # type: ignore[type-arg]
    """The KCIDB document is valid for KernelCI's own kcidb-io, every reference resolves, and it holds one
    build per cell, a test per check with the check's status, and an incident per check a known issue
    explains."""
    import kcidb_io

    from harness.results import kcidb

    kcidb_io.schema.LATEST.validate_exactly(doc)
    assert kcidb.unresolved(doc) == []
    builds = {b["misc"]["cell"]: b for b in doc["builds"]}
    assert set(builds) == {c["cell"] for c in data["cells"]}
    tests = {(t["build_id"], t["path"]): t for t in doc["tests"]}
    for cell in data["cells"]:
        build = builds[cell["cell"]]
        assert build["id"] == f"kprobe_harness:{cell['result']['run_id']}" and build["status"] == "PASS"
        assert build["architecture"] == cell["arch"] and build["start_time"] == cell["result"]["started"]
        for check in cell["result"]["checks"]:
            assert tests[(build["id"], f"kprobe_event_gen.{kcidb.node(check['name'])}")]["status"] == \
                kcidb.CHECK_STATUS[check["status"]]
        failing = {c["name"] for c in cell["result"]["checks"] if c["status"] == "fail"}
        linked = {i["test_id"].rsplit(".", 1)[-1] for i in doc.get("incidents", []) if i["test_id"].startswith(build["id"])}
        assert linked == (failing if cell["status"] == "xfail" else set()), cell["cell"]


def test_a_terminal_shows_the_build_progress_and_v_streams_the_console() -> None:
    import pexpect

    from harness.build import make
    from harness.build import tree as trees
    from harness.spec import kernels

    tree = trees.default_tree(kernels.DEFAULT_KERNEL).path
    os.utime(tree / "kernel/trace/trace_kprobe.c")  # one file to rebuild: a short build to watch
    child = pexpect.spawn(sys.executable, ["-m", "invoke", "check", "--arch", "x86_64"], cwd=str(ROOT),
                          encoding="utf-8", timeout=COLD_TIMEOUT, dimensions=(40, 120))
    try:
        child.expect(r"x86_64/6\.12 kernel build: \d+ objects")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
    # -v: the build's own lines and the guest's console, live
    time.sleep(make.STAMP_MARGIN)
    os.utime(tree / "kernel/trace/trace_kprobe.c")
    result = inv("check", "--arch", "x86_64", "-v", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(r"CC\s+kernel/trace/trace_kprobe\.o", result.stdout)  # make's own line
    assert "Linux version 6.12" in result.stdout  # the kernel's banner from the console
    assert "insmod /kh/kprobe_event_gen_test.ko" in result.stdout
