"""A cache on a small tmpfs: a build that fills the disk stops with an error that names the folder and
the way out, and leaves no stamp or digest a later run would trust; `inv cache` on that cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, in_ci, require_tools

from harness.build import make
from harness.build import tree as trees
from harness.host import paths

pytestmark = pytest.mark.qemu

SIZE = "10m"  # room for the build folder's first files, not for the kernel's objects


@pytest.fixture
def small_cache(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of SIZE as the cache, with the downloaded sources of the real one linked in."""
    require_tools("make", "gcc", "flex", "bison", "bc", "mount", "umount")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = f"cannot mount a tmpfs here ({done.stderr.strip()}): the disk-full test needs root"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    try:
        (mount / "sources").symlink_to(paths.sources_dir())
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_during_the_build_names_the_folder_and_leaves_nothing_trusted(small_cache: Path,
                                                                                   tmp_path: Path) -> None:
    tree = trees.default_tree("6.12")  # from the real cache: the small one could not hold it
    out = tmp_path / "result.json"
    env = {**os.environ, paths.CACHE_ENV: str(small_cache), "KPROBE_HARNESS_CCACHE": "0"}
    result = subprocess.run([sys.executable, "-m", "invoke", "check", "--arch", "x86_64", "--tree", str(tree.path),
                             "--json", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=20 * 60,
                            stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 128, result.stdout[-3000:] + result.stderr[-3000:]
    [build] = [p for p in (small_cache / "builds").iterdir() if p.is_dir()]
    assert f"the disk holding {build} is full" in result.stderr, result.stderr[-3000:]
    assert "inv cache prune" in result.stderr and paths.CACHE_ENV in result.stderr
    early = json.loads(out.read_text())
    assert early["status"] == "error" and "is full" in early["error"], "the --json file says why"
    # nothing half-written is trusted: no finished make, no seal of the image, no busybox digest
    assert not (build / make.BUILT_STAMP).exists() and not build.with_name(build.name + ".kh-seal").exists()
    assert not list((small_cache / "busybox").glob("*/busybox.sha256"))
    listing = subprocess.run([sys.executable, "-m", "invoke", "cache", "du"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)
    assert listing.returncode == 0 and "builds" in listing.stdout, listing.stderr
    pruned = subprocess.run([sys.executable, "-m", "invoke", "cache", "prune", "--max-size", "0"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)
    assert pruned.returncode == 0 and "freed" in pruned.stdout, pruned.stderr
    assert not build.exists() and (small_cache / "sources").is_symlink(), "sources are never pruned"
