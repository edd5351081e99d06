"""Cells as standard LAVA jobs: the job definition, the device dictionary of the stock `qemu` device
type, a local run through lava-run, and the verdict read back from a job's log by our own checks."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import UserError
from harness.host import paths
from harness.host.proc import CommandLog, run_logged
from harness.spec.arches import Arch
from harness.verdict.checks import FAIL, PASS, Check
from vm import script

DEFINITION = "kprobe-harness"
STAGES = ("prepare", "insmod", "trigger", "trace", "grammar", "rmmod", "reload")  # the test cases the script reports
MEMORY_MB = 256


def context(arch: Arch) -> dict[str, object]:
    """The QEMU settings of an arch as a lab job gives them: in the job's context, which the stock
    qemu.jinja2 device type reads (so any lab with a qemu device runs the job unchanged)."""
    if not arch.lava_context:
        raise UserError(f"LAVA's stock qemu device type cannot run {arch.name}: lava-dispatcher accepts only the "
                        "architectures its device type lists; use inv check for this arch")
    return {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in arch.lava_context},
            "no_kvm": True, "memory": MEMORY_MB}


def job_definition(arch: Arch, name: str, kernel_url: str, ramdisk_url: str, cmdline: str,
                   visibility: str = "personal", test_minutes: int = 5) -> dict[str, object]:
    """A LAVA job: deploy the kernel and our initramfs (LAVA adds its test runner to it), boot to
    the shell, and run the session script as one inline test definition (test_minutes: its limit)."""
    return {
        "device_type": "qemu",
        "job_name": name,
        "timeouts": {"job": {"minutes": 10 + test_minutes}, "action": {"minutes": 5}, "connection": {"minutes": 2}},
        "priority": "medium",
        "visibility": visibility,
        "context": context(arch),
        "actions": [
            {"deploy": {
                "to": "tmpfs", "os": "oe", "timeout": {"minutes": 3},
                "images": {
                    "kernel": {"url": kernel_url, "image_arg": f"-kernel {{kernel}} -append \"{cmdline}\""},
                    "ramdisk": {"url": ramdisk_url, "image_arg": "-initrd {ramdisk}", "format": "cpio.newc",
                                "overlays": {"lava": True}},
                },
            }},
            {"boot": {
                "method": "qemu", "media": "tmpfs", "timeout": {"minutes": 4}, "prompts": ["/ # "],
                # the kernel boots with loglevel=1, which hides the banner LAVA waits for by default
                "parameters": {"kernel-start-message": ""},
            }},
            {"test": {
                "timeout": {"minutes": test_minutes},
                "definitions": [{
                    "from": "inline", "name": DEFINITION, "path": f"inline/{DEFINITION}.yaml",
                    "repository": {
                        "metadata": {"format": "Lava-Test Test Definition 1.0", "name": DEFINITION,
                                     "description": "the kprobe-harness guest session; the harness's checks "
                                                    "read the verdict from this job's log"},
                        "run": {"steps": [f"sh {script.SCRIPT_PATH}"]},
                    },
                }],
            }},
        ],
    }


def device_dictionary(arch: Arch) -> str:
    """The stock qemu device type rendered with the job's context, as a LAVA server renders it."""
    import jinja2

    folder = paths.lava_device_types()
    if not (folder / "qemu.jinja2").exists():
        raise UserError(f"the LAVA device-type templates are missing ({folder}): run 'inv setup' "
                        "(unpacks them from the lava-server package without installing a server)")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), autoescape=False)
    return env.from_string("{% extends 'qemu.jinja2' %}").render(**context(arch))


def dump(data: object) -> str:
    return str(yaml.safe_dump(data, sort_keys=False, width=120))


@dataclass
class JobLog:
    """A LAVA job's log: the guest's output, the test-case results, and the job's own errors."""

    target: str = ""  # everything the guest printed, in order
    results: list[dict[str, object]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


_LINE = re.compile(r"^- (\{.*\})\s*$")


def parse_log(text: str) -> JobLog:
    """Read a LAVA log (lava-run's stderr, or output.yaml of a server job): one YAML mapping per line;
    its lines carry YAML tags, so a YAML loader reads them, not a JSON one."""
    log = JobLog()
    target: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        entry = None
        m = _LINE.match(line)
        candidate = m.group(1) if m else (line if line.startswith("{") else "")
        if not candidate:
            continue
        try:
            entry = yaml.safe_load(candidate)
        except yaml.YAMLError:
            continue
        if not isinstance(entry, dict):
            continue
        level, msg = entry.get("lvl"), entry.get("msg")
        if level in ("target", "feedback") and isinstance(msg, str):
            target.append(msg.replace('\\"', '"'))  # the dispatcher escapes the guest's double quotes
        elif level == "results" and isinstance(msg, dict):
            log.results.append(msg)
        elif level == "error" and msg:
            log.errors.append(str(msg))
    log.target = "\n".join(target) + "\n"
    return log


def job_checks(log: JobLog) -> list[Check]:
    """What LAVA itself says, as checks: every stage the script reports is there and ran, and no
    LAVA-level action failed (lava-run says 'pass' even when the guest died mid-test)."""
    ours = {str(r.get("case")): str(r.get("result")) for r in log.results if r.get("definition") != "lava"}
    missing = [s for s in STAGES if f"kh-{s}" not in ours]
    failed = [f"{r.get('case')}: {r.get('result')}" + (f" ({r.get('error_msg')})" if r.get("error_msg") else "")
              for r in log.results if r.get("definition") == "lava" and r.get("result") == "fail"]
    checks = [Check("lava_test_cases", PASS if not missing else FAIL,
                    f"the guest reported every stage: {', '.join(STAGES)}" if not missing else
                    f"the guest never reported {', '.join('kh-' + s for s in missing)}: the session stopped "
                    "early (the guest died, or LAVA stopped the test)"),
              Check("lava_job", PASS if not failed and not log.errors else FAIL,
                    "no LAVA action failed" if not failed and not log.errors else
                    "; ".join(failed + log.errors))]
    return checks


def require_lava_run() -> str:
    tool = shutil.which("lava-run")
    if not tool:
        raise UserError("lava-run not found: run 'inv setup' (installs lava-dispatcher without recommends)")
    return tool


def run_local(job: Path, device: Path, out_dir: Path, job_id: int, commands: CommandLog) -> str:
    """lava-run on this machine: the whole job, no server. Returns its log (it writes the log to
    stderr; its exit status says nothing about the tests)."""
    log = out_dir / "lava.log"
    log.unlink(missing_ok=True)
    # lava-run keeps what it downloaded in its output folder and would boot an earlier run's images
    shutil.rmtree(out_dir / "lava-output", ignore_errors=True)
    argv = [require_lava_run(), "--job-id", str(job_id), "--output-dir", str(out_dir / "lava-output"),
            "--device", str(device), str(job)]
    run_logged(argv, log, commands)
    return log.read_text(errors="replace")


def validate(job: Path, device: Path, out_dir: Path, job_id: int) -> str:
    """lava-run --validate: '' when LAVA accepts the job, else its complaint."""
    done = subprocess.run([require_lava_run(), "--validate", "--job-id", str(job_id), "--output-dir",
                           str(out_dir / "lava-validate"), "--device", str(device), str(job)],
                          capture_output=True, text=True, check=False)
    return "" if done.returncode == 0 else (done.stderr.strip() or done.stdout.strip())[-2000:]


LOOPBACK = ("localhost", "127.0.0.1", "::1")
VISIBILITIES = ("personal", "public")


def check_server(server: str, insecure: bool = False) -> str:
    """The server's URL when the token may travel to it: https, or plain http only on this machine or
    with --insecure (UserError otherwise)."""
    parts = urllib.parse.urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"--submit {server}: give the server's URL, e.g. https://lava.example.org")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK and not insecure:
        raise UserError(f"--submit {server}: the API token would cross the network in clear text; use https:// "
                        "(or --insecure for a lab network you trust)")
    return server.rstrip("/")


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect, but the token goes only to the origin it was meant for: a redirect to
    another scheme, host or port is followed without it."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            new.remove_header("Authorization")
        return new


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.hostname or "", parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def _request(url: str, token: str, data: dict[str, object] | None = None) -> bytes:
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET",
                                     headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
    opener = urllib.request.build_opener(_SameOriginRedirects())
    try:
        with opener.open(request, timeout=60) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as e:
        raise UserError(f"the LAVA server answered {e.code} for {url}: {e.read().decode(errors='replace')[:500]}") from None
    except urllib.error.URLError as e:
        raise UserError(f"cannot reach the LAVA server at {url}: {e.reason}") from None


def submit(server: str, token: str, definition: str, echo: Callable[[str], None], timeout: float = 1800) -> str:
    """Submit a job through the server's REST API, wait until it finishes, and return its log."""

    api = server.rstrip("/") + "/api/v0.2"
    answer = json.loads(_request(f"{api}/jobs/", token, {"definition": definition}))
    ids = answer.get("job_ids") or [answer.get("job_id")]
    job_id = ids[0]
    echo(f"submitted LAVA job {job_id}: {server.rstrip('/')}/scheduler/job/{job_id}")
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        info = json.loads(_request(f"{api}/jobs/{job_id}/", token))
        if info.get("state") != state:
            state = str(info.get("state"))
            echo(f"LAVA job {job_id}: {state}" + (f" ({info.get('health')})" if state == "Finished" else ""))
        if state == "Finished":
            return _request(f"{api}/jobs/{job_id}/logs/", token).decode(errors="replace")
        time.sleep(2)
    raise UserError(f"LAVA job {job_id} did not finish within {timeout:.0f} s; see {server.rstrip('/')}/scheduler/job/{job_id}")
