"""What a restored cache holds (a CI cache some services share across branches) is checked against
what was recorded when it was made: a busybox binary, an unpacked tree, a build folder's image."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_kernel import _tarball

from harness.build import make
from harness.build import tree as trees
from harness.build.kbuild import KernelBuild
from harness.host import integrity
from harness.spec.arches import ARCHES
from vm import initramfs


def restore(folder: Path) -> None:
    """What a CI cache restore does to a folder: the same files, written anew (a new change time)."""
    shutil.copytree(folder, folder.with_name(folder.name + ".restored"), symlinks=True, copy_function=shutil.copy2)
    shutil.rmtree(folder)
    folder.with_name(folder.name + ".restored").rename(folder)


def test_a_restored_tree_is_used_when_whole_and_unpacked_again_when_not(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPROBE_HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(trees, "SOURCE_TARBALL", str(tmp_path / "linux-source-{version}.tar.xz"))
    _tarball(tmp_path, 117)
    tree = trees.default_tree("6.12")
    makefile = tree.path / "Makefile"
    record = tree.path.with_name(tree.path.name + ".kh-seal")
    assert integrity.sealed_digest(record) == integrity.tree_digest(tree.path)
    restore(tree.path)
    assert integrity.restored(tree.path, record)
    trees.default_tree("6.12")  # the same content: taken, and sealed again
    assert not integrity.restored(tree.path, record)
    good = makefile.read_text()
    makefile.write_text(good.replace("SUBLEVEL = 117", "SUBLEVEL = 117\n# poisoned"))
    restore(tree.path)
    assert trees.default_tree("6.12").version == "6.12.117"
    assert makefile.read_text() == good, "a restored tree that changed is unpacked again"


def test_a_restored_build_folder_whose_image_changed_makes_again(tmp_path: Path) -> None:
    tree = trees.KernelTree(tmp_path / "linux", "6.12.1")
    build = KernelBuild(tree, ARCHES["arm64"], tmp_path / "builds" / "arm64", (), "aarch64-linux-gnu-")
    build.image.parent.mkdir(parents=True)
    build.image.write_bytes(b"the image make produced")
    integrity.seal(build.out, make.seal_record(build), integrity.file_digest(build.image))
    assert make._unsealed(build) == ""
    restore(build.out)
    assert make._unsealed(build) == "", "restored whole: no make"
    build.image.write_bytes(b"an image from another branch")
    restore(build.out)
    assert "restored" in make._unsealed(build)


def test_a_busybox_binary_that_is_not_the_one_built_is_not_trusted(tmp_path: Path) -> None:
    binary = tmp_path / "busybox"
    binary.write_bytes(b"\x7fELF built here")
    assert initramfs._trusted(binary), "a binary from before digests existed is taken, and recorded"
    assert (tmp_path / initramfs.DIGEST).read_text().strip() == integrity.file_digest(binary)
    binary.write_bytes(b"\x7fELF from elsewhere")
    assert not initramfs._trusted(binary)
    os.unlink(binary)
    assert not initramfs._trusted(binary)


def test_a_make_of_one_more_target_counts_as_part_of_the_last_make(tmp_path: Path) -> None:
    """The in-tree module's .i is made after the kernel: Kbuild's rewrite of the folder's own files
    must read neither as a change nor as a restore next time."""
    import time

    tree = trees.KernelTree(tmp_path / "linux", "6.12.1")
    build = KernelBuild(tree, ARCHES["x86_64"], tmp_path / "builds" / "x86_64", (), "")
    build.out.mkdir(parents=True)
    build.image.write_bytes(b"vmlinux")
    (build.out / make.BUILT_STAMP).write_text("inputs\n")
    integrity.seal(build.out, make.seal_record(build), integrity.file_digest(build.image))
    time.sleep(0.05)
    (build.out / "source").symlink_to(tmp_path / "linux")  # what every make of the folder does
    assert make.newer_file(build.out / make.BUILT_STAMP, build.out)
    make.after_make(build)
    assert make.newer_file(build.out / make.BUILT_STAMP, build.out) == ""
    assert not integrity.restored(build.out, make.seal_record(build))
