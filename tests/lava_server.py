"""A real LAVA server on this machine for the tests: Debian's lava-server with PostgreSQL, a local
worker and one qemu device, bound to 127.0.0.1 and stopped afterwards (run as root)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

URL = "http://127.0.0.1:8000"
EVENTS = "/etc/lava-server/settings.d/01-kprobe-harness-events.yaml"
DEVICES = Path("/etc/lava-server/dispatcher-config/devices")
ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def _run(*argv: str, check: bool = True) -> str:
    done = subprocess.run(list(argv), capture_output=True, text=True, env=ENV, stdin=subprocess.DEVNULL, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def _installed(package: str) -> bool:
    return "install ok installed" in _run("dpkg-query", "-W", "-f=${Status}", package, check=False)


def _pg_cluster() -> str:
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir()) if Path("/etc/postgresql").exists() else []
    return versions[-1] if versions else "15"


def _pg_online() -> bool:
    return "online" in _run("pg_lsclusters", "--no-header", check=False)


def install() -> bool:
    """PostgreSQL first and running, then lava-server (its postinst creates the database then).
    True when this started PostgreSQL (so it is stopped again afterwards)."""
    if not _installed("postgresql"):
        _run("apt-get", "update")
        _run("apt-get", "install", "-y", "--no-install-recommends", "postgresql")
    started = not _pg_online()
    _run("pg_ctlcluster", _pg_cluster(), "main", "start", check=False)
    if not (_installed("lava-server") and _installed("lavacli")):
        _run("apt-get", "install", "-y", "--no-install-recommends", "lava-server", "lavacli")
    return started


def _ready(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{URL}/api/v0.2/system/version/", timeout=5):
            return
        time.sleep(0.5)
    raise RuntimeError(f"the LAVA server did not answer at {URL} within {timeout:.0f} s")


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)


@contextlib.contextmanager
def running(workdir: Path) -> Iterator[tuple[str, str]]:
    """A server with a worker and a qemu device; yields its URL and an admin token."""
    started_pg = install()
    Path(EVENTS).write_text('EVENT_NOTIFICATION: true\nEVENT_SOCKET: "tcp://127.0.0.1:5500"\n')
    with contextlib.suppress(RuntimeError):
        _run("lava-server", "manage", "users", "add", "khadmin", "--superuser", "--staff", "--passwd", "kh-test")
    token = _run("lava-server", "manage", "tokens", "add", "--user", "khadmin").strip().splitlines()[-1]
    _run("lava-server", "manage", "device-types", "add", "qemu", check=False)
    # a worker and a device of this run's own: a worker of an earlier run is registered with a token
    # a new worker folder does not have, and its device would take jobs that never run
    name = f"kh-{os.getpid()}-{int(time.time())}"
    worker, device = f"{name}-worker", f"{name}-qemu"
    for old in _run("lava-server", "manage", "devices", "list", check=False).splitlines():
        m = re.match(r"\* (kh-\S+-qemu) ", old.strip())
        if m:
            _run("lava-server", "manage", "devices", "update", "--health", "RETIRED", m.group(1), check=False)
    (DEVICES / f"{device}.jinja2").write_text("{% extends 'qemu.jinja2' %}\n")
    workdir.mkdir(parents=True, exist_ok=True)
    procs = [
        _spawn(["gunicorn3", "lava_server.wsgi", "-u", "lavaserver", "-g", "lavaserver", "--worker-class", "eventlet",
                "--workers", "2", "--bind", "127.0.0.1:8000"],
               workdir / "gunicorn.log"),
        _spawn(["lava-server", "manage", "lava-publisher", "--host", "127.0.0.1", "--port", "8001"],
               workdir / "publisher.log"),
        _spawn(["lava-server", "manage", "lava-scheduler", "--event-url", "tcp://127.0.0.1:5500"],
               workdir / "scheduler.log"),
    ]
    try:
        _ready()
        procs.append(_spawn(["lava-worker", "--name", worker, "--url", f"{URL}/", "--ws-url",
                             "http://127.0.0.1:8001/ws/", "--ping-interval", "2", "--worker-dir",
                             str(workdir / "worker")], workdir / "worker.log"))
        deadline = time.monotonic() + 60
        while worker not in _run("lava-server", "manage", "workers", "list", check=False):
            if time.monotonic() > deadline:
                raise RuntimeError("the local worker never registered; see " + str(workdir / "worker.log"))
            time.sleep(1)
        _run("lava-server", "manage", "devices", "add", "--device-type", "qemu", "--worker", worker, device)
        yield URL, token
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        _run("lava-server", "manage", "devices", "update", "--health", "RETIRED", device, check=False)
        (DEVICES / f"{device}.jinja2").unlink(missing_ok=True)
        shutil.rmtree(workdir / "worker", ignore_errors=True)
        if started_pg:
            _run("pg_ctlcluster", _pg_cluster(), "main", "stop", check=False)


def available() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None
