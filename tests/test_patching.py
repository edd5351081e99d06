from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_kernel import make_tree

from harness import kernel, patching
from harness.errors import UserError
from harness.proc import CommandLog

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

pytestmark = pytest.mark.skipif(not (shutil.which("rsync") and shutil.which("patch")), reason="needs rsync, patch")


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> kernel.KernelTree:
    monkeypatch.setenv("KPROBE_HARNESS_CACHE", str(tmp_path / "cache"))
    root = make_tree(tmp_path / "linux")
    (root / "kernel/trace/x.c").write_text("int a;\nint b;\n")
    (root / "kernel/trace/y.c").write_text("int y;\n")
    os.utime(root / "kernel/trace/x.c", (1_000_000, 1_000_000))
    return kernel.check_tree(root)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_patch_changes_the_copy_and_never_the_users_tree(tree: kernel.KernelTree, tmp_path: Path) -> None:
    before = (tree.path / "kernel/trace/x.c").stat()
    copy = patching.prepare(tree, [write(tmp_path, "a.diff", PATCH_A)], CommandLog())
    assert copy.path != tree.path and copy.version == tree.version
    assert "b_broken" in (copy.path / "kernel/trace/x.c").read_text()
    assert (tree.path / "kernel/trace/x.c").read_text() == "int a;\nint b;\n"
    after = (tree.path / "kernel/trace/x.c").stat()
    assert (after.st_mtime, after.st_ino) == (before.st_mtime, before.st_ino)
    # untouched files are hard links, not copies
    assert (copy.path / "kernel/trace/y.c").stat().st_ino == (tree.path / "kernel/trace/y.c").stat().st_ino


def test_the_next_patch_restores_the_last_one_and_marks_it_for_rebuild(tree: kernel.KernelTree, tmp_path: Path) -> None:
    first = patching.prepare(tree, [write(tmp_path, "a.diff", PATCH_A)], CommandLog())
    built_at = (first.path / "kernel/trace/x.c").stat().st_mtime
    second = patching.prepare(tree, [write(tmp_path, "b.diff", PATCH_B)], CommandLog())
    assert second.path == first.path, "one stable path, so builds are incremental"
    restored = second.path / "kernel/trace/x.c"
    assert restored.read_text() == "int a;\nint b;\n"
    assert restored.stat().st_mtime >= built_at, "make must see the restored file as newer than its object"
    assert (tree.path / "kernel/trace/x.c").stat().st_mtime == 1_000_000
    assert "y_broken" in (second.path / "kernel/trace/y.c").read_text()


def test_a_patch_that_does_not_apply_is_a_clear_error(tree: kernel.KernelTree, tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.diff", PATCH_A.replace("int b;", "int zzz;"))
    with pytest.raises(UserError, match="does not apply"):
        patching.prepare(tree, [bad], CommandLog())
    assert (tree.path / "kernel/trace/x.c").read_text() == "int a;\nint b;\n"


def test_patch_paths_refuse_escapes() -> None:
    assert patching.patch_paths(PATCH_A) == ["kernel/trace/x.c"]
    with pytest.raises(UserError, match="outside"):
        patching.patch_paths("--- a/../etc/passwd\n+++ b/../etc/passwd\n")


def test_a_missing_patch_file_is_a_clear_error(tree: kernel.KernelTree, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        patching.prepare(tree, [tmp_path / "nope.diff"], CommandLog())


def test_two_build_folders_never_keep_an_object_of_a_patched_text(tree: kernel.KernelTree, tmp_path: Path) -> None:
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
