"""make is skipped only when nothing changed: on a real kernel tree, a changed source file, Kconfig
file and header are each rebuilt, and the same tree again runs no make at all.

The changes come as patches with a token of this run (so each is new to the build folder) and run
through the patched copy that the bad-kernel tests already built.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from test_integration_bad_kernels import check_json

from harness.build import tree as trees

pytestmark = pytest.mark.qemu

MAKE_TARGETS = "vmlinux modules"  # x86_64's kernel make, as commands.sh records it


def one_line_patch(tmp_path: Path, rel: str, line: str) -> Path:
    """A patch that adds line above the first line of rel in the distribution's tree."""
    first = (trees.default_tree().path / rel).read_text().splitlines()[0]
    patch = tmp_path / f"{rel.replace('/', '-')}.patch"
    patch.write_text(f"--- a/{rel}\n+++ b/{rel}\n@@ -1 +1,2 @@\n+{line}\n {first}\n")
    return patch


def build_log(data: dict) -> str:  # type: ignore[type-arg]
    return (Path(data["artifacts"]) / "build.log").read_text(errors="replace")


def made(data: dict) -> bool:  # type: ignore[type-arg]
    return any(MAKE_TARGETS in line and " M=" not in line for line in data["commands"])


def test_a_source_a_kconfig_and_a_header_change_are_each_rebuilt_and_nothing_else(tmp_path: Path) -> None:
    token = secrets.token_hex(4)
    source = one_line_patch(tmp_path, "kernel/trace/trace_kprobe.c", f"/* fresh {token} */")
    kconfig = one_line_patch(tmp_path, "kernel/trace/Kconfig", f"# fresh {token}")
    header = one_line_patch(tmp_path, "kernel/trace/trace_probe.h", f"/* fresh {token} */")

    code, data, out = check_json(tmp_path, "x86_64", "--patch", str(source))
    assert code == 0 and made(data), out[-3000:]
    assert "CC      kernel/trace/trace_kprobe.o" in build_log(data)

    code, data, out = check_json(tmp_path, "x86_64", "--patch", str(source))
    assert code == 0 and not made(data), f"nothing changed, yet make ran:\n{out[-3000:]}"
    assert "make skipped" in out

    code, data, out = check_json(tmp_path, "x86_64", "--patch", str(kconfig))
    assert code == 0 and made(data), out[-3000:]
    log = build_log(data)
    assert "SYNC    include/config/auto.conf" in log, "Kconfig is read again"
    assert "CC      kernel/trace/trace_kprobe.o" in log, "the source is back as it was: rebuilt too"

    code, data, out = check_json(tmp_path, "x86_64", "--patch", str(header))
    assert code == 0 and made(data), out[-3000:]
    log = build_log(data)
    for obj in ("kernel/trace/trace_kprobe.o", "kernel/trace/trace_probe.o"):
        assert f"CC      {obj}" in log, f"{obj} includes trace_probe.h"

    code, data, out = check_json(tmp_path, "x86_64", "--patch", str(header))
    assert code == 0 and not made(data), out[-3000:]
