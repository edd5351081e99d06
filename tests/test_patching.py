from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import require_tools
from test_kernel import make_tree

from harness.build import make, patching
from harness.build import tree as trees
from harness.errors import SetupError, Untestable, UserError
from harness.host.proc import CommandLog

PATCH_A = """--- a/kernel/trace/x.c
+++ b/kernel/trace/x.c
@@ -1,2 +1,2 @@
 int a;
-int b;
+int b_broken;
"""
PATCH_B = """--- a/kernel/trace/y.c
+++ b/kernel/trace/y.c
@@ -1 +1 @@
-int y;
+int y_broken;
"""

QUILT_A = """Index: linux/kernel/trace/x.c
===================================================================
--- linux.orig/kernel/trace/x.c
+++ linux/kernel/trace/x.c
@@ -1,2 +1,2 @@
 int a;
-int b;
+int b_quilt;
"""
SERIES = """From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001
From: Dev <dev@example.org>
Subject: [PATCH 1/2] trace: rename y.c and add a header

---
diff --git a/kernel/trace/y.c b/kernel/trace/z.c
similarity index 100%
rename from kernel/trace/y.c
rename to kernel/trace/z.c
diff --git a/kernel/trace/new.h b/kernel/trace/new.h
new file mode 100644
index 0000000..1111111
--- /dev/null
+++ b/kernel/trace/new.h
@@ -0,0 +1 @@
+#define NEW 1
--
2.39.5

From 2222222222222222222222222222222222222222 Mon Sep 17 00:00:00 2001
From: Dev <dev@example.org>
Subject: [PATCH 2/2] trace: drop x.c

---
diff --git a/kernel/trace/x.c b/kernel/trace/x.c
deleted file mode 100644
index 2222222..0000000
--- a/kernel/trace/x.c
+++ /dev/null
@@ -1,2 +0,0 @@
-int a;
-int b;
--
2.39.5
"""


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> trees.KernelTree:
    require_tools("rsync", "patch")
    monkeypatch.setenv("KPROBE_HARNESS_CACHE", str(tmp_path / "cache"))
    root = make_tree(tmp_path / "linux")
    (root / "kernel/trace/x.c").write_text("int a;\nint b;\n")
    (root / "kernel/trace/y.c").write_text("int y;\n")
    os.utime(root / "kernel/trace/x.c", (1_000_000, 1_000_000))
    return trees.check_tree(root)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_patch_changes_the_copy_and_never_the_users_tree(tree: trees.KernelTree, tmp_path: Path) -> None:
    before = (tree.path / "kernel/trace/x.c").stat()
    copy = patching.prepare(tree, [write(tmp_path, "a.diff", PATCH_A)], CommandLog())
    assert copy.path != tree.path and copy.version == tree.version
    assert "b_broken" in (copy.path / "kernel/trace/x.c").read_text()
    assert (tree.path / "kernel/trace/x.c").read_text() == "int a;\nint b;\n"
    after = (tree.path / "kernel/trace/x.c").stat()
    assert (after.st_mtime, after.st_ino) == (before.st_mtime, before.st_ino)
    # untouched files are hard links, not copies
    assert (copy.path / "kernel/trace/y.c").stat().st_ino == (tree.path / "kernel/trace/y.c").stat().st_ino


def test_the_next_patch_restores_the_last_one_and_marks_it_for_rebuild(tree: trees.KernelTree, tmp_path: Path) -> None:
    first = patching.prepare(tree, [write(tmp_path, "a.diff", PATCH_A)], CommandLog())
    built_at = (first.path / "kernel/trace/x.c").stat().st_mtime
    second = patching.prepare(tree, [write(tmp_path, "b.diff", PATCH_B)], CommandLog())
    assert second.path == first.path, "one stable path, so builds are incremental"
    restored = second.path / "kernel/trace/x.c"
    assert restored.read_text() == "int a;\nint b;\n"
    assert restored.stat().st_mtime >= built_at, "make must see the restored file as newer than its object"
    assert (tree.path / "kernel/trace/x.c").stat().st_mtime == 1_000_000
    assert "y_broken" in (second.path / "kernel/trace/y.c").read_text()


def test_a_patch_that_does_not_apply_leaves_the_tree_untested(tree: trees.KernelTree, tmp_path: Path) -> None:
    """A patch written for another commit: neither good nor bad there (git bisect run skips it)."""
    bad = write(tmp_path, "bad.diff", PATCH_A.replace("int b;", "int zzz;"))
    with pytest.raises(Untestable, match="does not apply.*skip this commit"):
        patching.prepare(tree, [bad], CommandLog())
    assert (tree.path / "kernel/trace/x.c").read_text() == "int a;\nint b;\n"


def test_touched_paths_come_from_patch_itself_and_refuse_escapes() -> None:
    listing = "checking file kernel/a.c\nchecking file kernel/new.c (renamed from kernel/old.c)\nHunk #1 ok\n"
    assert patching.touched_paths(listing) == ["kernel/a.c", "kernel/new.c", "kernel/old.c"]
    with pytest.raises(UserError, match="outside"):
        patching.touched_paths("checking file ../etc/passwd\n")


def test_a_quilt_patch_is_recorded_so_the_next_patch_rebuilds_its_files(tree: trees.KernelTree,
                                                                         tmp_path: Path) -> None:
    first = patching.prepare(tree, [write(tmp_path, "q.diff", QUILT_A)], CommandLog())
    x = first.path / "kernel/trace/x.c"
    assert "b_quilt" in x.read_text()
    quilt_at = x.stat().st_mtime
    second = patching.prepare(tree, [write(tmp_path, "b.diff", PATCH_B)], CommandLog())
    x = second.path / "kernel/trace/x.c"
    assert x.read_text() == "int a;\nint b;\n", "the quilt patch is undone"
    assert x.stat().st_mtime >= quilt_at, "and its file is newer than any object built from the quilt text"
    assert "y_broken" in (second.path / "kernel/trace/y.c").read_text()


def test_a_format_patch_series_with_rename_new_and_deleted_files_applies_and_undoes(
        tree: trees.KernelTree, tmp_path: Path) -> None:
    copy = patching.prepare(tree, [write(tmp_path, "series.mbox", SERIES)], CommandLog()).path
    assert not (copy / "kernel/trace/y.c").exists() and (copy / "kernel/trace/z.c").read_text() == "int y;\n"
    assert (copy / "kernel/trace/new.h").exists() and not (copy / "kernel/trace/x.c").exists()
    copy = patching.prepare(tree, [write(tmp_path, "b.diff", PATCH_B)], CommandLog()).path
    assert (copy / "kernel/trace/x.c").read_text() == "int a;\nint b;\n"
    assert not (copy / "kernel/trace/z.c").exists() and not (copy / "kernel/trace/new.h").exists()
    assert (copy / "kernel/trace/y.c").read_text() == "int y_broken;\n"


def test_a_file_changed_in_the_copy_behind_the_manifest_gets_a_new_mtime(tree: trees.KernelTree,
                                                                           tmp_path: Path) -> None:
    copy = patching.prepare(tree, [write(tmp_path, "b.diff", PATCH_B)], CommandLog()).path
    x = copy / "kernel/trace/x.c"
    x.unlink()
    x.write_text("int a;\nint stale;\n")
    os.utime(x, (2_000_000, 2_000_000))
    copy = patching.prepare(tree, [write(tmp_path, "b.diff", PATCH_B)], CommandLog()).path
    assert x.read_text() == "int a;\nint b;\n"
    assert x.stat().st_mtime > 2_000_000


def test_garbage_is_refused_before_anything_is_applied(tree: trees.KernelTree, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="garbage"):
        patching.prepare(tree, [write(tmp_path, "g.diff", "this is not a patch\n")], CommandLog())


def test_a_missing_patch_file_is_a_clear_error(tree: trees.KernelTree, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        patching.prepare(tree, [tmp_path / "nope.diff"], CommandLog())


def test_two_build_folders_never_keep_an_object_of_a_patched_text(tree: trees.KernelTree, tmp_path: Path) -> None:
    a, b = write(tmp_path, "a.diff", PATCH_A), write(tmp_path, "b.diff", PATCH_B)
    patching.prepare(tree, [a], CommandLog())  # build folder 1 builds x.c patched
    copy = patching.prepare(tree, [a], CommandLog())  # build folder 2 builds x.c patched
    patched_at = (copy.path / "kernel/trace/x.c").stat().st_mtime
    patching.prepare(tree, [b], CommandLog())  # folder 1: x.c restored
    copy = patching.prepare(tree, [b], CommandLog())  # folder 2 must still see x.c as changed
    x = copy.path / "kernel/trace/x.c"
    assert x.read_text() == "int a;\nint b;\n"
    assert x.stat().st_mtime >= patched_at
    assert x.stat().st_ino != (tree.path / "kernel/trace/x.c").stat().st_ino


def test_the_same_patches_again_leave_every_time_as_it_was_and_skip_the_sync(tree: trees.KernelTree,
                                                                             tmp_path: Path) -> None:
    """So a build folder that built this text is not rebuilt, and make.why_make skips make."""
    for path in [tree.path, *tree.path.rglob("*")]:  # a tree that was not written just now
        os.utime(path, (1_000_000, 1_000_000))
    a = write(tmp_path, "a.diff", PATCH_A)
    copy = patching.prepare(tree, [a], CommandLog()).path
    x = copy / "kernel/trace/x.c"
    times = (x.stat().st_mtime_ns, x.parent.stat().st_mtime_ns)
    commands = CommandLog()
    patching.prepare(tree, [a], commands)
    assert (x.stat().st_mtime_ns, x.parent.stat().st_mtime_ns) == times
    assert "b_broken" in x.read_text()
    assert not any(line.startswith("rsync") for line in commands.lines), "nothing changed: no sync"
    patching.prepare(tree, [], CommandLog())  # the patch undone: a new mtime
    assert x.read_text() == "int a;\nint b;\n" and x.stat().st_mtime_ns > times[0]


def test_a_change_in_the_tree_after_the_last_sync_is_synced(tree: trees.KernelTree, tmp_path: Path) -> None:
    import time

    a = write(tmp_path, "a.diff", PATCH_A)
    copy = patching.prepare(tree, [a], CommandLog()).path
    time.sleep(make.STAMP_MARGIN + 0.05)
    (tree.path / "kernel/trace/new.c").write_text("int n;\n")
    commands = CommandLog()
    patching.prepare(tree, [a], commands)
    assert (copy / "kernel/trace/new.c").read_text() == "int n;\n"
    assert any(line.startswith("rsync") for line in commands.lines)


def test_a_sync_that_failed_is_done_again_by_the_next_run(tree: trees.KernelTree, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """An rsync that dies before it copied anything must not leave the copy marked as synced."""
    import time

    a = write(tmp_path, "a.diff", PATCH_A)
    copy = patching.prepare(tree, [a], CommandLog()).path
    time.sleep(make.STAMP_MARGIN + 0.05)
    (tree.path / "kernel/trace/new.c").write_text("int n;\n")
    time.sleep(make.STAMP_MARGIN + 0.05)
    broken = tmp_path / "bin"
    broken.mkdir()
    (broken / "rsync").write_text("#!/bin/sh\nexit 23\n")
    (broken / "rsync").chmod(0o755)
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", f"{broken}{os.pathsep}{path}")
    with pytest.raises(SetupError, match="could not sync"):
        patching.prepare(tree, [a], CommandLog())
    monkeypatch.setenv("PATH", path)
    patching.prepare(tree, [a], CommandLog())
    assert (copy / "kernel/trace/new.c").read_text() == "int n;\n", "the copy stayed stale after a failed sync"


def test_a_tree_made_again_at_its_path_gets_a_fresh_copy(tree: trees.KernelTree, tmp_path: Path) -> None:
    """A tree removed and made again (git clone, cp -a) shares no inode with the copy: every file of
    the copy looks changed by hand; the copy starts anew instead of listing thousands of exclusions."""
    import shutil as sh

    for i in range(patching.REPLACED_TREE + 50):
        (tree.path / f"drivers/f{i}.c").parent.mkdir(parents=True, exist_ok=True)
        (tree.path / f"drivers/f{i}.c").write_text(f"int f{i};\n")
    patching.prepare(tree, [write(tmp_path, "a.diff", PATCH_A)], CommandLog())
    again = tmp_path / "linux.again"
    sh.copytree(tree.path, again, copy_function=sh.copy2)
    sh.rmtree(tree.path)
    again.rename(tree.path)
    copy = patching.prepare(tree, [write(tmp_path, "b.diff", PATCH_B)], CommandLog()).path
    assert (copy / "kernel/trace/x.c").read_text() == "int a;\nint b;\n", "the last run's patch is undone"
    assert "y_broken" in (copy / "kernel/trace/y.c").read_text()
    assert os.path.samefile(copy / "drivers/f7.c", tree.path / "drivers/f7.c"), "linked to the new tree"


def test_an_unforeseen_error_exits_128_with_its_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    """A harness bug (here an OSError no check foresaw) must not read as a bad commit."""
    from invoke.exceptions import Exit

    from harness.cli.options import guarded

    def boom() -> int:
        raise OSError(7, "Argument list too long", "rsync")

    with pytest.raises(Exit) as e:
        guarded(boom)()
    assert e.value.code == 128 and "not a verdict on the tree" in str(e.value.message)
    assert "Traceback" in capsys.readouterr().err
