from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import require_tools

from harness.build import config as kconfig
from harness.build import kbuild
from harness.build import toolchain as toolchains
from harness.build import tree as trees
from harness.errors import Untestable, UserError
from harness.spec.arches import ARCHES


def make_tree(root: Path, version: tuple[int, int, int] = (6, 12, 1)) -> Path:
    (root / "scripts/kconfig").mkdir(parents=True)
    (root / "kernel/trace").mkdir(parents=True)
    (root / "scripts/kconfig/merge_config.sh").write_text("#!/bin/sh\n")
    (root / "Kconfig").write_text("")
    (root / "Makefile").write_text(
        f"# SPDX\nVERSION = {version[0]}\nPATCHLEVEL = {version[1]}\nSUBLEVEL = {version[2]}\nEXTRAVERSION =\n"
    )
    return root


def test_tree_version_is_read_from_the_makefile(tmp_path: Path) -> None:
    tree = trees.check_tree(make_tree(tmp_path, (6, 1, 192)))
    assert tree.version == "6.1.192"


def test_a_folder_that_is_not_a_kernel_tree_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text("all:\n")
    with pytest.raises(UserError, match="not a kernel source tree"):
        trees.check_tree(tmp_path)


def test_a_missing_tree_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        trees.check_tree(tmp_path / "nope")


def test_a_tree_with_an_in_tree_build_is_refused_untouched(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    (tree / ".config").write_text("CONFIG_X=y\n")
    with pytest.raises(UserError, match="mrproper"):
        trees.check_tree(tree)
    assert (tree / ".config").read_text() == "CONFIG_X=y\n"


def test_missing_options_names_dropped_and_changed_options() -> None:
    config = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_PANIC_TIMEOUT=-1\n"
    requested = ("CONFIG_A=y", "CONFIG_B=y", "CONFIG_C=y", "CONFIG_PANIC_TIMEOUT=-1", "CONFIG_D=n")
    assert kconfig.missing_options(requested, config) == ["CONFIG_B=y (got n)", "CONFIG_C=y (got absent)"]


def test_later_requests_override_earlier_ones() -> None:
    assert kconfig.missing_options(("CONFIG_A=y", "CONFIG_A=n"), "# CONFIG_A is not set\n") == []


@pytest.mark.parametrize("line", ["CONFIG_X", "X=y", "CONFIG_X=y; rm -rf /", "CONFIG_X=maybe"])
def test_bad_kconfig_add_is_refused(line: str) -> None:
    with pytest.raises(UserError, match="kconfig-add"):
        kconfig.kconfig_lines(ARCHES["x86_64"], (line,))


def test_kconfig_add_lines_come_last() -> None:
    lines = kconfig.kconfig_lines(ARCHES["x86_64"], ("CONFIG_DEBUG_INFO_NONE=y", 'CONFIG_CMDLINE="x"'))
    assert lines[-2:] == ("CONFIG_DEBUG_INFO_NONE=y", 'CONFIG_CMDLINE="x"')
    assert "CONFIG_KPROBE_EVENTS=y" in lines


def test_builds_are_keyed_by_tree_arch_and_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPROBE_HARNESS_CACHE", str(tmp_path / "cache"))
    a = trees.check_tree(make_tree(tmp_path / "a"))
    b = trees.check_tree(make_tree(tmp_path / "b"))
    arch = ARCHES["x86_64"]
    if not __import__("shutil").which("gcc"):
        require_tools("gcc")
    dirs = {
        kconfig.prepare_build(a, arch).out,
        kconfig.prepare_build(b, arch).out,
        kconfig.prepare_build(a, arch, ("CONFIG_DEBUG_KERNEL=y",)).out,
    }
    assert len(dirs) == 3
    assert all(str(d).startswith(str(tmp_path / "cache")) for d in dirs)
    assert kconfig.prepare_build(a, arch).out == kconfig.prepare_build(a, arch).out


def test_make_argv_is_out_of_tree_with_arch_and_cross_prefix(tmp_path: Path) -> None:
    tree = trees.KernelTree(tmp_path, "6.12.1")
    build = kbuild.KernelBuild(tree, ARCHES["x86_64"], tmp_path / "out", (), "x86_64-linux-gnu-")
    assert build.make_argv("bzImage", jobs=2) == [
        "make", "-C", str(tmp_path), f"O={tmp_path / 'out'}", "ARCH=x86",
        "CROSS_COMPILE=x86_64-linux-gnu-", "-j2", "bzImage",
    ]


def test_riscv_symbols_follow_the_kernel_version() -> None:
    riscv = ARCHES["riscv64"]
    old = kconfig.kconfig_lines(riscv, (), "6.1.192")
    new = kconfig.kconfig_lines(riscv, (), "6.12.117")
    assert "CONFIG_SOC_VIRT=y" in old and "CONFIG_ARCH_VIRT=y" not in old
    assert "CONFIG_RISCV_ISA_FALLBACK=y" not in old
    assert "CONFIG_ARCH_VIRT=y" in new and "CONFIG_SOC_VIRT=y" not in new
    assert "CONFIG_RISCV_ISA_FALLBACK=y" in new


def test_fragment_writes_n_as_not_set() -> None:
    assert kconfig.fragment(("CONFIG_A=y", "CONFIG_THUMB2_KERNEL=n")) == "CONFIG_A=y\n# CONFIG_THUMB2_KERNEL is not set\n"


def test_unknown_distribution_kernel_lists_the_known_ones() -> None:
    with pytest.raises(UserError, match="6.12, 6.1"):
        trees.default_tree("5.10")


def test_kconfig_add_overrides_the_arch_line_for_the_same_option() -> None:
    lines = kconfig.kconfig_lines(ARCHES["arm"], ("CONFIG_THUMB2_KERNEL=y",), "6.12.117")
    assert [line for line in lines if line.startswith("CONFIG_THUMB2_KERNEL=")] == ["CONFIG_THUMB2_KERNEL=y"]


def _tarball(tmp_path: Path, sublevel: int) -> Path:
    import tarfile
    src = tmp_path / f"src-{sublevel}"
    make_tree(src / "linux-source-6.12", (6, 12, sublevel))
    tarball = tmp_path / "linux-source-6.12.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        tar.add(src / "linux-source-6.12", arcname="linux-source-6.12")
    return tarball


def test_the_distribution_source_is_unpacked_again_when_the_package_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_tools("gcc", "make", "flex", "bison", "bc")
    monkeypatch.setenv("KPROBE_HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(trees, "SOURCE_TARBALL", str(tmp_path / "linux-source-{version}.tar.xz"))
    _tarball(tmp_path, 117)
    old = trees.default_tree("6.12")
    assert old.version == "6.12.117" and old.source
    assert trees.default_tree("6.12") == old, "an unchanged package is not unpacked again"
    tarball = _tarball(tmp_path, 119)
    os.utime(tarball, ns=(10**18, 10**18))
    new = trees.default_tree("6.12")
    assert new.path == old.path and new.version == "6.12.119" and new.source != old.source
    arch = ARCHES["x86_64"]
    assert kconfig.prepare_build(new, arch).out != kconfig.prepare_build(old, arch).out
    # the same version with another tarball (a new distribution revision) never shares a build folder
    same_version = trees.KernelTree(new.path, new.version, new.source + "-rebuilt")
    assert kconfig.prepare_build(same_version, arch).out != kconfig.prepare_build(new, arch).out


def test_the_enclosing_tree_is_found_from_any_folder_inside_it(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "linux")
    assert trees.enclosing_tree(tree / "kernel/trace") == tree.resolve()
    assert trees.enclosing_tree(tree) == tree.resolve()
    assert trees.enclosing_tree(tmp_path) is None


def test_llvm_builds_use_the_kernels_llvm_switch_and_never_share_a_folder_with_gcc(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPROBE_HARNESS_CACHE", str(tmp_path / "cache"))
    require_tools("clang", "ld.lld", "llvm-ar", "gcc", "aarch64-linux-gnu-gcc")
    tree = trees.check_tree(make_tree(tmp_path / "t"))
    arch = ARCHES["arm64"]
    llvm = kconfig.prepare_build(tree, arch, (), "llvm")
    gcc = kconfig.prepare_build(tree, arch, (), "gcc")
    assert "-llvm-" in llvm.out.name and gcc.out != llvm.out
    argv = llvm.make_argv("Image", jobs=2)
    assert "LLVM=1" in argv and not any(a.startswith("CROSS_COMPILE=") for a in argv)
    with pytest.raises(UserError, match="unknown toolchain 'icc'"):
        kconfig.prepare_build(tree, arch, (), "icc")


def test_a_tree_that_needs_a_newer_llvm_names_the_version_it_needs(tmp_path: Path) -> None:
    require_tools("clang", "ld.lld", "llvm-ar")
    root = make_tree(tmp_path / "t")
    (root / "scripts/min-tool-version.sh").write_text(
        '#!/bin/sh\ncase "$1" in llvm) if [ "$SRCARCH" = riscv ]; then echo 99.0.0; else echo 11.0.0; fi;; '
        '*) exit 1;; esac\n')
    tree = trees.check_tree(root)
    assert toolchains.min_llvm_version(tree, ARCHES["riscv64"]) == "99.0.0"
    assert toolchains.check_llvm(tree, ARCHES["arm64"]) == toolchains.clang_version()
    with pytest.raises(Untestable, match=r"needs LLVM 99\.0\.0 or newer for riscv64 .* installed clang is \d+\.\d+"):
        toolchains.check_llvm(tree, ARCHES["riscv64"])



def test_llvm_gets_its_own_lines_only_where_the_symbol_exists() -> None:
    riscv = ARCHES["riscv64"]
    assert "CONFIG_RISCV_SLOW_UNALIGNED_ACCESS=y" in kconfig.kconfig_lines(riscv, (), "6.12.117", "llvm")
    assert "CONFIG_RISCV_SLOW_UNALIGNED_ACCESS=y" not in kconfig.kconfig_lines(riscv, (), "6.12.117", "gcc")
    assert "CONFIG_RISCV_SLOW_UNALIGNED_ACCESS=y" not in kconfig.kconfig_lines(riscv, (), "6.1.192", "llvm")


def test_ccache_comes_first_on_path_only_when_it_has_a_link_for_the_compiler(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    links = tmp_path / "ccache-links"
    links.mkdir()
    (links / "aarch64-linux-gnu-gcc").symlink_to("/usr/bin/ccache")
    monkeypatch.setattr(kbuild, "CCACHE_LINKS", links)
    monkeypatch.setattr(kbuild.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setenv("KPROBE_HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(kbuild.CCACHE_OFF, raising=False)
    tree = trees.KernelTree(tmp_path, "6.12.1")
    gcc = kbuild.KernelBuild(tree, ARCHES["arm64"], tmp_path / "out", (), "aarch64-linux-gnu-")
    env = kbuild.ccache_env(gcc)
    assert env["PATH"].split(os.pathsep)[0] == str(links)
    assert env["CCACHE_DIR"] == str(tmp_path / "cache" / "ccache")
    # ccache goes in through PATH: make's command line is the very one a build without it runs
    assert gcc.make_argv("Image") == ["make", "-C", str(tmp_path), f"O={tmp_path / 'out'}", "ARCH=arm64",
                                      "CROSS_COMPILE=aarch64-linux-gnu-", "Image"]
    assert not any(a.endswith("ccache") for a in gcc.make_argv("Image"))
    llvm = kbuild.KernelBuild(tree, ARCHES["arm64"], tmp_path / "out", (), "", "llvm")
    assert kbuild.ccache_env(llvm) == {}, "no clang link: no ccache"
    monkeypatch.setenv(kbuild.CCACHE_OFF, "0")
    assert kbuild.ccache_env(gcc) == {}


def test_an_option_is_named_with_where_the_tree_defines_it_and_what_it_depends_on(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "linux")
    (root / "init").mkdir()
    (root / "init/Kconfig").write_text('menu "x"\n\nconfig BUG\n\tbool "BUG() support" if EXPERT\n\tdepends on BROKEN\n'
                                       '\tdefault y\n\thelp\n\t  depends on nothing, says the help\n\nconfig OTHER\n'
                                       '\tdepends on COREDUMP\n')
    said = kconfig.definition(root, "CONFIG_BUG")
    assert said == 'CONFIG_BUG is defined at init/Kconfig:3 (bool "BUG() support" if EXPERT; depends on BROKEN; default y).'
    assert "no Kconfig file" in kconfig.definition(root, "CONFIG_GONE")
