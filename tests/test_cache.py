"""inv cache: sizes per kind with hard links counted once, least-recently-used selection, locks that
keep a running job's folders, a full disk named as such."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import DiskFull, KernelBuildError, UserError
from harness.host import cache, paths
from harness.runs import housekeeping

MB = 1 << 20


def fill(path: Path, mb: int, age_days: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(mb * MB))
    stamp = time.time() - age_days * 86400
    os.utime(path, (stamp, stamp))
    return path


def aged(folder: Path, age_days: float) -> Path:
    stamp = time.time() - age_days * 86400
    os.utime(folder, (stamp, stamp))
    return folder


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small cache: a tree, a build, a patched copy linking the tree's file, runs linking the image."""
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "cache"))
    r = tmp_path / "cache"
    fill(r / "trees/linux-source-6.12/Makefile", 4)
    aged(r / "trees/linux-source-6.12", 10)
    image = fill(r / "builds/x86_64-6.12.117-aaaa/vmlinux", 3)
    (r / "builds/x86_64-6.12.117-aaaa.lock").write_text("")
    (r / "builds/x86_64-6.12.117-aaaa.kh-seal").write_text("x")
    aged(r / "builds/x86_64-6.12.117-aaaa", 5)
    os.utime(r / "builds/x86_64-6.12.117-aaaa.lock", (time.time() - 5 * 86400,) * 2)
    copy = r / "patched/linux-source-6.12-bbbb/linux"
    copy.mkdir(parents=True)
    os.link(r / "trees/linux-source-6.12/Makefile", copy / "Makefile")
    aged(copy.parent, 1)
    for n, age in enumerate((3, 2, 0.5)):
        run = r / f"runs/x86_64-2026113{n}-000000"
        run.mkdir(parents=True)
        os.link(image, run / "vmlinux")
        fill(run / "console.log", 1)
        aged(run, age)
    fill(r / "ccache/x/obj", 1)
    return r


def by_name(found: list[cache.Entry]) -> dict[str, cache.Entry]:
    return {e.path.name: e for e in found}


def test_du_counts_a_hard_link_once_where_it_is_first_met(root: Path) -> None:
    found = by_name(cache.entries(root))
    assert found["linux-source-6.12"].size >= 4 * MB
    assert found["linux-source-6.12-bbbb"].size < MB, "the patched copy's linked file is the tree's"
    assert found["x86_64-6.12.117-aaaa"].size >= 3 * MB
    assert all(found[f"x86_64-2026113{n}-000000"].size < 2 * MB for n in range(3)), "a run's image is the build's"
    assert "x86_64-6.12.117-aaaa.lock" not in found and "x86_64-6.12.117-aaaa.kh-seal" not in found
    assert found["ccache"].kind == "ccache" and not found["ccache"].prunable


def test_last_used_is_the_newest_of_the_entry_and_its_lock(root: Path) -> None:
    build = root / "builds/x86_64-6.12.117-aaaa"
    before = by_name(cache.entries(root))[build.name].last_used
    assert before < time.time() - 4 * 86400
    with paths.locked(build, "a build"):
        pass
    assert by_name(cache.entries(root))[build.name].last_used > time.time() - 60, "a run's lock marks it used"


def test_select_takes_old_runs_then_the_least_recently_used_down_to_the_size(root: Path) -> None:
    found = cache.entries(root)
    now = time.time()
    names = [e.path.name for e in cache.select(found, now, keep_runs=1)]
    assert names == ["x86_64-20261130-000000", "x86_64-20261131-000000"], "the newest run is kept"
    names = [e.path.name for e in cache.select(found, now, older_than_days=4)]
    assert names == ["linux-source-6.12", "x86_64-6.12.117-aaaa"]
    total = sum(e.size for e in found)
    chosen = cache.select(found, now, max_bytes=total - 5 * MB)
    assert [e.path.name for e in chosen] == ["linux-source-6.12", "x86_64-6.12.117-aaaa"], "oldest first, until it fits"
    assert all(e.prunable for e in cache.select(found, now, max_bytes=0)), "sources and ccache are never chosen"


def test_prune_deletes_the_entry_with_its_seal_and_lock_and_says_what_it_freed(root: Path) -> None:
    lines: list[str] = []
    housekeeping.prune(root, 4, None, None, dry_run=True, echo=lines.append)
    assert (root / "builds/x86_64-6.12.117-aaaa").exists() and "would free" in lines[-1]
    lines.clear()
    freed = housekeeping.prune(root, 4, None, None, dry_run=False, echo=lines.append)
    assert not (root / "builds/x86_64-6.12.117-aaaa").exists()
    assert not (root / "builds/x86_64-6.12.117-aaaa.kh-seal").exists()
    assert not (root / "builds/x86_64-6.12.117-aaaa.lock").exists()
    assert not (root / "trees/linux-source-6.12").exists()
    assert (root / "patched/linux-source-6.12-bbbb/linux/Makefile").read_bytes(), "the copy keeps its linked file"
    assert all((root / f"runs/x86_64-2026113{n}-000000/vmlinux").stat().st_size == 3 * MB for n in range(3))
    assert freed >= 7 * MB and lines[-1].startswith("freed 7.") and "2 entries" in lines[-1]


def test_prune_never_deletes_what_a_running_job_holds(root: Path) -> None:
    """Another process holds the build folder's lock, as a running build does: prune keeps it."""
    build = root / "builds/x86_64-6.12.117-aaaa"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time\n"
        f"f = open({str(build) + '.lock'!r}, 'a'); fcntl.flock(f, fcntl.LOCK_EX)\n"
        "print('held', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        lines: list[str] = []
        housekeeping.prune(root, 4, None, None, dry_run=False, echo=lines.append)
        assert build.exists() and any(line.startswith("in use, kept") and str(build) in line for line in lines)
        assert "1 in use by a running job, kept" in lines[-1]
        assert not (root / "trees/linux-source-6.12").exists(), "what nobody holds still goes"
    finally:
        holder.kill()
        holder.wait()


def test_a_patched_copy_held_by_its_run_is_not_locked_again(root: Path) -> None:
    """A patched run holds its copy's lock; building from the copy must not wait on that same lock."""
    import threading

    copy = root / "patched/linux-source-6.12-bbbb/linux"
    done = threading.Event()

    def build() -> None:
        with paths.locked(copy, "the patched copy"), paths.in_use(copy):
            done.set()

    worker = threading.Thread(target=build, daemon=True)
    worker.start()
    assert done.wait(10), "building from a held patched copy waited on its own lock"


def test_a_shared_hold_of_a_tree_keeps_it_and_a_users_tree_gets_no_lock_file(root: Path, tmp_path: Path) -> None:
    tree = root / "trees/linux-source-6.12"
    with paths.in_use(tree):
        [entry] = [e for e in cache.entries(root) if e.path == tree]
        with cache.held(entry) as free:
            assert not free
    users = tmp_path / "linux"
    users.mkdir()
    with paths.in_use(users):
        pass
    assert not (tmp_path / "linux.lock").exists()


@pytest.mark.parametrize(("older", "size", "runs", "message"), [
    (None, None, None, "say what to keep"), ("ten", None, None, "--older-than 'ten' is not a number"),
    (None, "-1", None, "--max-size '-1' is negative"), (None, None, "2.5", "--runs '2.5' is not a whole number")])
def test_prune_options_are_checked(older: str | None, size: str | None, runs: str | None, message: str) -> None:
    with pytest.raises(UserError, match=message):
        housekeeping.limits(older, size, runs)


def test_du_lists_kinds_largest_first(root: Path) -> None:
    text = housekeeping.du_report(cache.entries(root), root, time.time())
    kinds = [line.split()[0] for line in text.splitlines()[4:9] if line.strip()]
    assert kinds[0] == "trees" and set(kinds) == {"trees", "builds", "runs", "ccache", "patched"} and f"cache {root}:" in text


def test_a_full_disk_names_the_folder_and_the_way_out(tmp_path: Path) -> None:
    full = cache.as_disk_full(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x" / "f.o")))
    assert isinstance(full, DiskFull) and f"the disk holding {tmp_path / 'x'} is full" in str(full)
    assert "inv cache prune" in str(full)
    built = cache.as_disk_full(KernelBuildError("kernel build failed; see b.log:\nld: final link failed: "
                                                "No space left on device"), tmp_path / "builds/x")
    assert built is not None and str(tmp_path / "builds/x") in str(built) and built.exit_code == 128
    assert cache.as_disk_full(KernelBuildError("kernel build failed: error: 'x' undeclared")) is None


def test_a_step_that_failed_on_a_disk_with_nothing_left_is_a_full_disk(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Kconfig only says it could not write the configuration: the free space says why."""
    error = KernelBuildError("kernel configuration failed; see b.log:\n*** Error during writing of the configuration.")
    real = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(cache.shutil, "disk_usage", lambda path: real._replace(free=4096))
    full = cache.as_disk_full(error, tmp_path)
    assert full is not None and "kernel configuration failed; see b.log. Make room" in str(full)
    monkeypatch.setattr(cache.shutil, "disk_usage", lambda path: real._replace(free=1 << 30))
    assert cache.as_disk_full(error, tmp_path) is None
    assert cache.as_disk_full(OSError(errno.EACCES, "Permission denied")) is None


def test_a_run_boots_a_hard_link_and_make_never_writes_through_it(tmp_path: Path) -> None:
    image = fill(tmp_path / "build/vmlinux", 1)
    run = tmp_path / "run/vmlinux"
    run.parent.mkdir()
    paths.link_or_copy(image, run)
    assert run.stat().st_ino == image.stat().st_ino
    before = run.read_bytes()
    paths.unshare(image)  # what harness.build.make does before a make
    image.write_bytes(b"rebuilt")
    assert run.read_bytes() == before
    paths.unshare(image)
    assert image.read_bytes() == b"rebuilt", "a file nothing else links to stays"


def test_the_lock_file_says_when_it_was_last_taken(tmp_path: Path) -> None:
    target = tmp_path / "b"
    lock = tmp_path / "b.lock"
    lock.write_text("")
    os.utime(lock, (1, 1))
    with paths.locked(target, "b"):
        pass
    assert lock.stat().st_mtime > time.time() - 60
    with open(lock) as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released


def test_max_size_and_printed_sizes_are_in_the_decimal_gigabytes_the_readme_names() -> None:
    from harness.runs import housekeeping

    assert housekeeping.limits(None, "20", None)[1] == 20_000_000_000
    assert cache.human(20_000_000_000) == "20.0 GB" and cache.human(1500) == "1.5 kB"


def test_a_run_waiting_on_a_lock_that_prune_deletes_locks_the_new_file(tmp_path: Path) -> None:
    """prune deletes an entry with its lock while a run waits on that lock: the run must not go on
    holding the unlinked file (a second run would take the new one, and both would build)."""
    import fcntl
    import threading

    from harness.host import paths

    entry = tmp_path / "builds" / "x"
    entry.mkdir(parents=True)
    lock = entry.with_name("x.lock")
    lock.touch()
    got: list[int] = []
    with open(lock, "a") as pruning:
        fcntl.flock(pruning, fcntl.LOCK_EX)

        def run() -> None:
            with paths.locked(entry, "x"), open(lock, "a") as other:
                try:  # the lock file at the path must be the one this run holds
                    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    got.append(0)
                except BlockingIOError:
                    got.append(1)

        waiter = threading.Thread(target=run)
        waiter.start()
        time.sleep(0.3)
        lock.unlink()  # what cache.delete does while prune holds the lock
        lock.touch()
    waiter.join(5)
    assert got == [1]
