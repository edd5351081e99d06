"""LAVA without QEMU: the job, the session script, and verdicts read from a recorded lava-run log."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import DATA, KNOWN_612, in_ci

from harness.errors import UserError
from harness.host import paths
from harness.labs import lava
from harness.runs import lava_check
from harness.spec import render
from harness.spec.arches import ARCHES, resolve_arch
from harness.verdict import session_checks
from harness.verdict.observations import Targets
from vm import script

RECORDED = DATA / "lava-x86_64-6.12"


def copy_recorded(tmp_path: Path, keep_lines: int | None = None, extra: str = "") -> Path:
    folder = tmp_path / "job"
    shutil.copytree(RECORDED, folder)
    lines = (RECORDED / "lava-log.yaml").read_text().splitlines(keepends=True)
    (folder / "lava-log.yaml").write_text("".join(lines[:keep_lines]) + extra)
    return folder


def test_a_recorded_lava_run_is_judged_by_the_same_checks_as_a_console_session(tmp_path: Path) -> None:
    result = lava_check.results_of(copy_recorded(tmp_path))
    assert result.status == "xfail", [c for c in result.checks if c.status != "pass"]
    assert [c.name for c in result.checks if c.status != "pass"] == KNOWN_612
    names = [c.name for c in result.checks]
    assert {"filename_arg", "register_args", "retval", "no_records_after_rmmod", "kernel_log"} <= set(names)
    assert names[-2:] == ["lava_test_cases", "lava_job"]


def test_the_guest_output_is_read_back_with_its_quotes() -> None:
    log = lava.parse_log((RECORDED / "lava-log.yaml").read_text())
    # the only backslash-quotes the guest printed are the README's and our immediate string's own
    legit = log.target.replace('\\"imm-string', "").replace('\\"kh_immediate', "")
    assert 'filename="/tmp/kh-d1272b01"' in log.target and '\\"' not in legit
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


def script_frames(text: str) -> list[tuple[int, str, bool]]:
    """(frame number, command, judged) of every framed command of a session script, in script order."""
    found = re.findall(r"echo KHfeedx(\d+)B; (.*?); (KH_S|KH_STATUS)=\$\?; (\[ [^]]*\] \|\| KH_FAILED=1; )?"
                       r"echo KHfeedx\1E=\$\3", text)
    return [(int(n), command, bool(judge)) for n, command, _, judge in found]


def test_the_script_frames_every_command_of_the_session_and_branches_on_insmod() -> None:
    spec = render.probe_spec(resolve_arch("arm64"), "abi")
    text = script.session_script(spec, "/kh/kprobe_event_gen_test.ko", Targets.new("0123abcd"), token="feed")
    assert text.startswith("#!/bin/sh\n") and "KH-TARGETS 0123abcd" in text
    before, _, branches = text.partition('if [ "$KH_STATUS" != 0 ]; then')
    failed, _, ok = branches.partition("\nelse\n")
    ok_path = script_frames(before) + script_frames(ok)
    assert [n for n, _, _ in ok_path] == list(range(1, len(ok_path) + 1)), "numbered in the order asked"
    assert [c for _, c, _ in ok_path].count("insmod /kh/kprobe_event_gen_test.ko") == 2  # the load, the reload
    failed_path = script_frames(before) + script_frames(failed)
    assert [n for n, _, _ in failed_path] == list(range(1, len(failed_path) + 1))
    assert "cat /sys/kernel/tracing/error_log" in failed
    # nothing the session reads depends on what an earlier command printed: the kernel log after a
    # failed insmod is read from a marker written before it, not from a line count frozen here
    assert "echo kh-insmod-0123abcd > /dev/kmsg" in before
    assert "dmesg | sed -n '/kh-insmod-0123abcd$/,$p'" in failed and "tail -n +" not in text
    # only the commands whose failure is the plan go unjudged: the missing target, test -d after rmmod
    unjudged = [c for _, c, judged in ok_path if not judged]
    assert len(unjudged) == 3 and all("missing" in c or c.startswith("test -d") for c in unjudged), unjudged
    for stage in lava.STAGES:
        assert (before + ok).count(f"kh_end {stage}\n") == 1, f"{stage} is reported once on the ok path"
        assert f"kh_case {stage} pass" not in text, "a stage passes only when its commands did"


def test_a_failed_insmod_is_reported_once_as_fail_and_the_later_stages_as_skipped() -> None:
    spec = render.probe_spec(resolve_arch("x86_64"), "abi")
    text = script.session_script(spec, "/kh/kprobe_event_gen_test.ko", Targets.new("0123abcd"), token="feed")
    before, _, branches = text.partition('if [ "$KH_STATUS" != 0 ]; then')
    failed = branches.partition("\nelse\n")[0]
    assert "kh_end insmod" not in before and failed.count("kh_end insmod") == 1
    assert 'KH_STATUS=$?; [ "$KH_STATUS" = 0 ] || KH_FAILED=1' in before, "a failed insmod fails its stage"
    assert [line.strip() for line in failed.splitlines() if "kh_case" in line] == [
        f"kh_case {s} skip" for s in lava.STAGES[2:]]


def test_a_lost_frame_is_named_never_read_as_the_next_answer(tmp_path: Path) -> None:
    lines = (RECORDED / "lava-log.yaml").read_text().splitlines(keepends=True)
    tag = re.search(r"(KH[0-9a-f]+x)7B", "".join(lines))
    assert tag, "the recording has a seventh frame"
    kept = [line for line in lines if f"{tag.group(1)}7" not in line]
    folder = copy_recorded(tmp_path)
    (folder / "lava-log.yaml").write_text("".join(kept))
    result = lava_check.results_of(folder)
    assert result.status == "fail"
    failed = next(c for c in result.checks if c.status == "fail")
    assert "no answer to command 7" in failed.detail, failed.detail


def test_the_live_console_log_and_a_script_log_are_read_by_one_parser(data: Path) -> None:
    """The recorded live session, read back through the script's reader, gives the same verdict."""
    console = (data / "console-x86_64-6.12.log").read_text()
    token = re.search(r"/tmp/kh-([0-9a-f]+)", console).group(1)  # type: ignore[union-attr]
    spec = render.probe_spec(resolve_arch("x86_64"), "abi")
    obs = script.observations_from_log(console, spec, "/kh/kprobe_event_gen_test.ko", Targets.new(token))
    checks = session_checks.check_session(obs, spec, 64, console, entry_offsets=ARCHES["x86_64"].entry_offsets)
    assert [c.name for c in checks if c.status != "pass"] == KNOWN_612


@pytest.mark.parametrize("arch", sorted(a for a in ARCHES if ARCHES[a].lava_context))
def test_jobs_put_qemu_settings_in_the_context_for_the_stock_qemu_device_type(arch: str) -> None:
    job = lava.job_definition(ARCHES[arch], "n", "file:///k", "http://lab/initramfs.cpio", "console=ttyS0")
    assert job["device_type"] == "qemu" and job["context"]["arch"] == dict(ARCHES[arch].lava_context)["arch"]  # type: ignore[index]
    deploy = job["actions"][0]["deploy"]  # type: ignore[index]
    assert deploy["images"]["ramdisk"]["format"] == "cpio.newc" and deploy["images"]["ramdisk"]["overlays"]["lava"]
    assert yaml.safe_load(lava.dump(job)) == job
    if paths.lava_device_types().joinpath("qemu.jinja2").exists() or in_ci():  # under CI: inv setup unpacked them
        device = yaml.safe_load(lava.device_dictionary(ARCHES[arch]))
        command = device["actions"]["boot"]["methods"]["qemu"]["parameters"]["command"]
        assert command == ARCHES[arch].qemu_binary
        qemu = device["actions"]["boot"]["methods"]["qemu"]["parameters"]
        assert "-enable-kvm" not in qemu["options"]
        given = " ".join([*qemu["options"], *qemu.get("extra", [])])
        ours = ARCHES[arch].qemu_machine_args
        assert all(f"{flag} {value}" in given for flag, value in zip(ours[::2], ours[1::2]))


def test_the_token_goes_only_to_https_or_to_this_machine() -> None:
    assert lava.check_server("https://lava.example.org/") == "https://lava.example.org"
    assert lava.check_server("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert lava.check_server("http://lab.internal", insecure=True) == "http://lab.internal"
    with pytest.raises(UserError, match="clear text"):
        lava.check_server("http://lava.example.org")
    with pytest.raises(UserError, match="give the server's URL"):
        lava.check_server("lava.example.org")


def test_a_redirect_to_another_port_never_carries_the_token() -> None:
    import http.server
    import threading

    seen: list[str | None] = []

    class Target(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    target = http.server.HTTPServer(("127.0.0.1", 0), Target)

    class Redirect(Target):
        def do_GET(self) -> None:
            if self.path == "/landed":
                super().do_GET()
                return
            seen.append(self.headers.get("Authorization"))
            where = self.path.removeprefix("/to-")
            self.send_response(302)
            port = target.server_port if where == "other" else self.server.server_port  # type: ignore[attr-defined]
            self.send_header("Location", f"http://127.0.0.1:{port}/landed")
            self.end_headers()

    origin = http.server.HTTPServer(("127.0.0.1", 0), Redirect)
    for server in (target, origin):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert lava._request(f"http://127.0.0.1:{origin.server_port}/to-other", "s3cret") == b"{}"
        assert seen == ["Token s3cret", None], "the other port got the token"
        seen.clear()
        lava._request(f"http://127.0.0.1:{origin.server_port}/to-same", "s3cret")
        assert seen == ["Token s3cret", "Token s3cret"], "the same origin keeps it"
    finally:
        origin.shutdown()
        target.shutdown()


def test_a_job_is_personal_unless_asked() -> None:
    job = lava.job_definition(ARCHES["x86_64"], "n", "file:///k", "file:///r", "console=ttyS0")
    assert job["visibility"] == "personal"
    assert lava.job_definition(ARCHES["x86_64"], "n", "k", "r", "c", "public")["visibility"] == "public"


def test_an_arch_the_stock_device_type_lacks_is_refused_with_the_reason() -> None:
    with pytest.raises(UserError, match="stock qemu device type cannot run mips64el"):
        lava.job_definition(ARCHES["mips64el"], "n", "file:///k", "http://lab/initramfs.cpio", "console=ttyS0")
