"""inv lava --submit to a real LAVA server (Debian's lava-server, brought up here): the same verdicts
as inv check, with the images fetched over http:// as a lab fetches them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import HEALTHY, in_ci, require_tools, validate_json
from test_integration_qemu import inv, qemu_processes

pytestmark = pytest.mark.qemu
BAD = Path(__file__).parent / "bad-kernels"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    import lava_server

    if not lava_server.available():
        if in_ci():
            pytest.fail("a LAVA server needs root and apt-get here")
        pytest.skip("a LAVA server needs root and apt-get")
    with lava_server.running(tmp_path_factory.mktemp("lava-server")) as (url, token):
        yield url, token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("arch", "patch"), [("x86_64", ""), ("arm64", "kprobe-never-fires.patch")])
def test_a_job_submitted_to_a_lava_server_matches_inv_check(server: tuple[str, str], tmp_path: Path,
                                                            arch: str, patch: str) -> None:
    require_tools("lava-run", "qemu-system-x86_64", "qemu-system-aarch64")
    url, token = server
    extra = ("--patch", str(BAD / patch)) if patch else ()
    out = tmp_path / "job"
    out.mkdir()
    port = free_port()
    http = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port), "--directory",
                             str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        env = {**os.environ, "LAVA_TOKEN": token}
        result = subprocess.run([sys.executable, "-m", "invoke", "lava", "--arch", arch, "--out", str(out),
                                 "--base-url", f"http://127.0.0.1:{port}", "--submit", url,
                                 "--json", str(tmp_path / "lava.json"), *extra],
                                cwd=Path(__file__).parent.parent, capture_output=True, text=True, env=env,
                                timeout=1800, check=False)
    finally:
        http.terminate()
        http.wait()
    assert (tmp_path / "lava.json").exists(), result.stdout[-4000:] + result.stderr[-3000:]
    job = json.loads((tmp_path / "lava.json").read_text())
    validate_json(job, "result")
    check_out = tmp_path / "check.json"
    check = inv("check", "--arch", arch, "--json", str(check_out), *extra)
    expected = json.loads(check_out.read_text())
    assert (result.returncode, job["status"]) == (check.returncode, expected["status"]), result.stdout[-3000:]
    assert {c["name"] for c in job["checks"] if c["status"] == "fail"} == {
        c["name"] for c in expected["checks"] if c["status"] == "fail"}
    assert job["status"] == ("fail" if patch else HEALTHY)
    assert "submitted LAVA job" in result.stdout
    assert not qemu_processes()
