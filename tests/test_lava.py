"""LAVA without QEMU: the job, the session script, and verdicts read from a recorded lava-run log."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import DATA

from harness.host import paths
from harness.labs import lava
from harness.runs import lava_check
from harness.spec import render
from harness.spec.arches import ARCHES, resolve_arch
from harness.verdict import session_checks
from harness.verdict.checks import verdict
from harness.verdict.observations import Targets
from vm import script

RECORDED = DATA / "lava-x86_64-6.12-pass"


def copy_recorded(tmp_path: Path, keep_lines: int | None = None, extra: str = "") -> Path:
    folder = tmp_path / "job"
    shutil.copytree(RECORDED, folder)
    lines = (RECORDED / "lava-log.yaml").read_text().splitlines(keepends=True)
    (folder / "lava-log.yaml").write_text("".join(lines[:keep_lines]) + extra)
    return folder


def test_a_recorded_lava_run_is_judged_by_the_same_checks_as_a_console_session(tmp_path: Path) -> None:
    result = lava_check.results_of(copy_recorded(tmp_path))
    assert result.status == "pass", [c for c in result.checks if c.status != "pass"]
    names = [c.name for c in result.checks]
    assert {"filename_arg", "register_args", "retval", "no_records_after_rmmod", "kernel_log"} <= set(names)
    assert names[-2:] == ["lava_test_cases", "lava_job"]


def test_the_guest_output_is_read_back_with_its_quotes() -> None:
    log = lava.parse_log((RECORDED / "lava-log.yaml").read_text())
    assert 'filename="/tmp/kh-e7aca2c4"' in log.target and '\\"' not in log.target
    cases = {r["case"]: r["result"] for r in log.results if r.get("definition") != "lava"}
    assert cases == {f"kh-{s}": "pass" for s in lava.STAGES}


def test_a_guest_that_dies_mid_session_fails_even_though_lava_says_pass(tmp_path: Path) -> None:
    text = (RECORDED / "lava-log.yaml").read_text().splitlines()
    cut = next(i for i, line in enumerate(text) if "kh-trigger" in line)  # the log stops after the trigger
    result = lava_check.results_of(copy_recorded(tmp_path, keep_lines=cut))
    assert result.status == "fail" and result.verdict == "fail"
    failed = {c.name for c in result.checks if c.status == "fail"}
    assert "lava_test_cases" in failed and failed & {"trace", "rmmod", "reload"}
    assert "kh-trace" in next(c.detail for c in result.checks if c.name == "lava_test_cases")


def test_a_failed_lava_action_fails_the_cell(tmp_path: Path) -> None:
    bad = ('{"dt": "x", "lvl": "results", "msg": {"case": "auto-login-action", "definition": "lava", '
           '"result": "fail", "error_msg": "login timed out"}}\n')
    result = lava_check.results_of(copy_recorded(tmp_path, extra=bad))
    job = next(c for c in result.checks if c.name == "lava_job")
    assert job.status == "fail" and "auto-login-action: fail (login timed out)" in job.detail
    assert result.status == "fail"


def test_the_script_frames_every_command_of_the_session_and_branches_on_insmod() -> None:
    spec = render.probe_spec(resolve_arch("arm64"), "abi")
    text = script.session_script(spec, "/kh/kprobe_event_gen_test.ko", Targets.new("0123abcd"), token="feed")
    assert text.startswith("#!/bin/sh\n") and "KH-TARGETS 0123abcd" in text
    frames = re.findall(r"echo (KHfeedx\d+)B; (.*?); (?:KH_STATUS=\$\?; )?echo \1E=", text)
    commands = [c for _, c in frames]
    assert commands.count("insmod /kh/kprobe_event_gen_test.ko") == 2  # the load, and the reload
    assert 'if [ "$KH_STATUS" != 0 ]; then' in text and "cat /sys/kernel/tracing/error_log" in text
    assert len({tag for tag, _ in frames}) == len(frames)
    for stage in lava.STAGES:
        assert f"kh_case {stage} pass" in text


def test_the_live_console_log_and_a_script_log_are_read_by_one_parser(data: Path) -> None:
    """The recorded live session, read back through the script's reader, gives the same verdict."""
    console = (data / "console-x86_64-6.12-pass.log").read_text()
    token = re.search(r"/tmp/kh-([0-9a-f]+)", console).group(1)  # type: ignore[union-attr]
    spec = render.probe_spec(resolve_arch("x86_64"), "abi")
    obs = script.observations_from_log(console, spec, "/kh/kprobe_event_gen_test.ko", Targets.new(token))
    checks = session_checks.check_session(obs, spec, 64, console)
    assert verdict(checks) == "pass", [c for c in checks if c.status != "pass"]


@pytest.mark.parametrize("arch", sorted(ARCHES))
def test_jobs_put_qemu_settings_in_the_context_for_the_stock_qemu_device_type(arch: str) -> None:
    job = lava.job_definition(ARCHES[arch], "n", "file:///k", "http://lab/initramfs.cpio", "console=ttyS0")
    assert job["device_type"] == "qemu" and job["context"]["arch"] == lava.CONTEXTS[arch]["arch"]  # type: ignore[index]
    deploy = job["actions"][0]["deploy"]  # type: ignore[index]
    assert deploy["images"]["ramdisk"]["format"] == "cpio.newc" and deploy["images"]["ramdisk"]["overlays"]["lava"]
    assert yaml.safe_load(lava.dump(job)) == job
    if paths.lava_device_types().joinpath("qemu.jinja2").exists():
        device = yaml.safe_load(lava.device_dictionary(ARCHES[arch]))
        command = device["actions"]["boot"]["methods"]["qemu"]["parameters"]["command"]
        assert command == ARCHES[arch].qemu_binary
        assert "-enable-kvm" not in device["actions"]["boot"]["methods"]["qemu"]["parameters"]["options"]
