"""Real LAVA jobs through lava-run: the same verdicts as inv check, cell for cell."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import HEALTHY, require_tools, validate_json
from test_integration_qemu import inv, qemu_processes

from harness.labs import lava

pytestmark = pytest.mark.qemu
BAD = Path(__file__).parent / "bad-kernels"
QEMU = {"x86_64": "qemu-system-x86_64", "arm64": "qemu-system-aarch64", "i386": "qemu-system-i386"}


def verdict(tmp_path: Path, task: str, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    out = tmp_path / f"{task}.json"
    done = inv(task, "--json", str(out), *args)
    assert out.exists(), done.stdout[-4000:] + done.stderr[-3000:]
    data = json.loads(out.read_text())
    validate_json(data, "result")
    return done.returncode, data


def failed(data: dict) -> set[str]:  # type: ignore[type-arg]
    return {c["name"] for c in data["checks"] if c["status"] == "fail"}


@pytest.mark.parametrize(("arch", "patch", "suite"), [
    ("x86_64", "", "module"), ("arm64", "", "module"), ("x86_64", "kprobe-never-fires.patch", "module"),
    ("arm64", "retval-off-by-one.patch", "module"),
    # a later arch through the stock device type (the long set: its full busybox is one more cold build)
    pytest.param("i386", "", "module", marks=pytest.mark.full),
    # the boot self tests read from the job's kernel log (the long set: the suites' configuration)
    pytest.param("x86_64", "", "boot", marks=pytest.mark.full)])
def test_a_lava_run_matches_inv_check_verdict_for_verdict(tmp_path: Path, arch: str, patch: str, suite: str) -> None:
    require_tools("lava-run", QEMU[arch])
    extra = ("--suite", suite, *(("--patch", str(BAD / patch)) if patch else ()))
    check_code, check = verdict(tmp_path, "check", "--arch", arch, *extra)
    lava_code, job = verdict(tmp_path, "lava", "--arch", arch, "--out", str(tmp_path / "job"), "--run", *extra)
    assert (lava_code, job["status"]) == (check_code, check["status"]), json.dumps(job["checks"], indent=1)[-3000:]
    assert failed(job) == failed(check)
    assert {"lava_test_cases", "lava_job"} <= {c["name"] for c in job["checks"]}
    assert job["status"] == ("fail" if patch else HEALTHY)
    assert [c["name"] for c in job["checks"] if c["name"].startswith("boot:")] == \
        [c["name"] for c in check["checks"] if c["name"].startswith("boot:")]
    log = lava.parse_log((tmp_path / "job" / "lava-log.yaml").read_text())
    cases = [(r["case"], r["result"]) for r in log.results if r.get("definition") != "lava"]
    assert cases == [(f"kh-{s}", "pass") for s in lava.STAGES], "each stage reported once, in order"
    # the log someone else's lab returns is judged the same way
    again_code, again = verdict(tmp_path, "lava", "--results", str(tmp_path / "job"))
    assert (again_code, again["status"], failed(again)) == (lava_code, job["status"], failed(job))
    assert not qemu_processes()


def test_a_written_job_is_valid_for_lava_and_points_at_its_images(tmp_path: Path) -> None:
    require_tools("lava-run")
    out = tmp_path / "job"
    done = inv("lava", "--arch", "arm64", "--out", str(out), "--base-url", "http://lab.example/kh")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    job = yaml.safe_load((out / "job.yaml").read_text())
    images = job["actions"][0]["deploy"]["images"]
    assert images["kernel"]["url"] == "http://lab.example/kh/Image"
    assert images["ramdisk"]["url"] == "http://lab.example/kh/initramfs.cpio"
    assert (out / "Image").exists() and (out / "initramfs.cpio").exists() and (out / "session.sh").exists()
    # LAVA's validation fetches the images, so validate the job with file:// URLs
    local = tmp_path / "local"
    done = inv("lava", "--arch", "arm64", "--out", str(local))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert yaml.safe_load((local / "job.yaml").read_text())["actions"][0]["deploy"]["images"]["kernel"]["url"] == (
        (local / "Image").as_uri())
    valid = subprocess.run(["lava-run", "--validate", "--job-id", "4242", "--output-dir", str(tmp_path / "v"),
                            "--device", str(local / "device.yaml"), str(local / "job.yaml")],
                           capture_output=True, text=True, check=False, timeout=300)
    assert valid.returncode == 0, valid.stderr[-3000:]


def test_running_a_job_again_in_the_same_folder_judges_the_new_run(tmp_path: Path) -> None:
    """Each run writes a new script (new targets): an earlier run's log or images must not be read."""
    require_tools("lava-run", QEMU["x86_64"])
    for _ in range(2):
        code, job = verdict(tmp_path, "lava", "--arch", "x86_64", "--out", str(tmp_path / "job"), "--run")
        assert (code, job["status"]) == (0, HEALTHY), json.dumps(job["checks"], indent=1)[-3000:]
