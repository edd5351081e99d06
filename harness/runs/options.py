"""The options of one check, as data, and the checks that refuse bad ones before any work starts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from harness.build import config as kconfig
from harness.build import intree
from harness.build import toolchain as toolchains
from harness.build import tree as trees
from harness.errors import UserError
from harness.host import paths
from harness.spec import kernels, render, suites
from harness.spec.arches import DEFAULT_PROFILE, Arch
from harness.spec.cell import cell_label
from harness.spec.render import ProbeSpec
from vm import qemu


@dataclass(frozen=True)
class CheckOptions:
    arch: Arch
    tree: Path | None = None
    kernel: str = kernels.DEFAULT_KERNEL
    profile: str = DEFAULT_PROFILE
    func: str | None = None
    kconfig_add: tuple[str, ...] = ()
    patches: tuple[Path, ...] = ()
    known_issues: bool = True  # classify failures against known_issues.toml (False: the raw verdict)
    command: str = ""  # the command line that asked for this run, kept in every result
    toolchain: str = "gcc"  # gcc, or llvm (the kernel's LLVM=1)
    revision: str = ""  # a commit to check out in tree (a private clone) before building
    warn_files: tuple[str, ...] = ()  # compiler warnings in these tree files fail the run (build_warnings)
    allow_warnings: bool = False  # report those warnings without failing (--allow-warnings)
    module: str = intree.RENDERED  # rendered (ours, from the templates) or in-tree (the tree's own module)
    verbose: bool = False  # stream the build output and the guest console live (-v)
    suite: str = suites.DEFAULT_SUITE  # what runs in the guest (spec.suites): module, ftrace, boot or all
    sanitizers: bool = False  # build the sanitizer profile (spec.sanitizers) and read its reports

    @property
    def label(self) -> str:
        """The cell's name (spec.cell.cell_label): 'tree' stands for a tree's version until it is read."""
        return cell_label(self.arch.name, "tree" if self.tree else self.kernel, self.toolchain, self.revision,
                          self.module, self.suite, self.sanitizers)


def check_options(opts: CheckOptions) -> ProbeSpec:
    """Refuse bad options before any work starts (UserError): probe, kconfig, tree, kernel, cache."""
    spec = check_choices(opts)
    if opts.tree:
        trees.check_tree(opts.tree)
    elif opts.kernel not in kernels.KERNELS:
        trees.default_tree(opts.kernel)  # raises with the versions the distribution provides
    check_host(opts)
    return spec


def check_host(opts: CheckOptions) -> None:
    """A writable cache and the arch's QEMU."""
    paths.check_cache()
    qemu.require_qemu(opts.arch)


def check_choices(opts: CheckOptions) -> ProbeSpec:
    """The options that do not depend on a tree or the host: probe, kconfig, module, toolchain."""
    spec = render.probe_spec(opts.arch, opts.profile, opts.func)
    kconfig.kconfig_lines(opts.arch, opts.kconfig_add)
    if opts.suite not in suites.SUITES:
        raise UserError(f"unknown --suite '{opts.suite}': choose {', '.join(suites.SUITES)}")
    if opts.module not in intree.MODULES:
        raise UserError(f"unknown --module '{opts.module}': choose {', '.join(intree.MODULES)}")
    if opts.module == intree.SEED:
        spec = replace(spec, grammar=False)
    if opts.module == intree.IN_TREE and opts.func:
        raise UserError("--func renders our module for another function; the tree's own module (--module "
                        "in-tree) probes what its source says: drop one of them")
    if opts.toolchain not in kernels.TOOLCHAINS:
        raise UserError(f"unknown --toolchain '{opts.toolchain}': choose {' or '.join(kernels.TOOLCHAINS)}")
    if opts.toolchain == "llvm":
        toolchains.require_llvm_tools()
    return spec

