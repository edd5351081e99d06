"""Revisions of a user's git tree, checked out in a private clone in the cache.

The user's repository is only read (rev-parse, rev-list, diff-tree, and the clone's borrowing of its
objects): its work tree, index, refs and config are never written. The private clone lives at one
stable path per repository, so a kernel build folder keyed by that path is shared by every revision
and `git checkout` rewrites only the files that differ: each revision's build is incremental."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.build import make
from harness.errors import UserError
from harness.host import paths
from harness.host.proc import CommandLog

# never take optional locks (index refresh) in the user's repository
GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


@dataclass(frozen=True)
class Revision:
    ref: str  # as the user named it
    sha: str
    subject: str = ""

    @property
    def short(self) -> str:
        return self.sha[:12]

    @property
    def label(self) -> str:
        return self.ref if self.ref == self.short else f"{self.ref} ({self.short})"


def git_argv(repo: Path, *args: str) -> list[str]:
    return ["git", "-C", str(repo), *args]


def _git(repo: Path, *args: str, commands: CommandLog | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = git_argv(repo, *args)
    if commands is not None:
        commands.record(argv)
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=check,
                          env={**os.environ, **GIT_ENV})


def check_repo(path: Path) -> Path:
    """The top folder of the git work tree at path (UserError when it is not one)."""
    path = path.expanduser().resolve()
    if not shutil.which("git"):
        raise UserError("'git' not found: run 'inv setup' (installs git)")
    if not path.is_dir():
        raise UserError(f"--tree '{path}' is not a folder; pass the top folder of a kernel git tree")
    done = _git(path, "rev-parse", "--show-toplevel", check=False)
    if done.returncode != 0:
        raise UserError(f"--tree '{path}' is not a git repository ({done.stderr.strip()}); "
                        "compare needs a kernel git tree")
    return Path(done.stdout.strip())


def resolve(repo: Path, ref: str) -> Revision:
    """A ref as git names it (branch, tag, HEAD~3, hash) resolved to a commit; UserError naming it."""
    done = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise UserError(f"unknown revision '{ref}' in {repo}: name a branch, tag, commit or an expression "
                        "such as HEAD~3 that 'git rev-parse' accepts there")
    sha = done.stdout.strip()
    return Revision(ref, sha, subject(repo, sha))


def head_commit(tree: Path) -> str:
    """The commit checked out in tree when tree is the top of a git work tree, else "" (a package's
    tree, a tarball, a folder inside someone else's repository)."""
    if not shutil.which("git"):
        return ""
    done = _git(tree, "rev-parse", "--show-toplevel", "HEAD", check=False)
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != tree.resolve():
        return ""
    return lines[1]


KERNEL_PATHS = ("Makefile", "Kconfig", "scripts/kconfig/merge_config.sh", "kernel/trace")


def require_kernel(repo: Path, rev: Revision) -> None:
    """UserError unless rev holds a kernel source tree (read from the commit, not the work tree)."""
    missing = [p for p in KERNEL_PATHS if _git(repo, "cat-file", "-e", f"{rev.sha}:{p}", check=False).returncode]
    if missing:
        raise UserError(f"{rev.label} in {repo} is not a kernel source tree (missing: {', '.join(missing)}); "
                        "compare needs revisions of a Linux git tree")


def subject(repo: Path, sha: str) -> str:
    return _git(repo, "log", "-1", "--format=%s", sha).stdout.strip()


def series(repo: Path, base: Revision, head: Revision) -> list[Revision]:
    """The commits from base (exclusive) to head, oldest first; UserError when base is not an ancestor."""
    if _git(repo, "merge-base", "--is-ancestor", base.sha, head.sha, check=False).returncode != 0:
        raise UserError(f"--base {base.ref} is not an ancestor of --head {head.ref}; --each checks the commits "
                        "between them, so base must lie on head's history")
    shas = _git(repo, "rev-list", "--reverse", "--topo-order", f"{base.sha}..{head.sha}").stdout.split()
    return [Revision(sha[:12] if sha != head.sha else head.ref, sha, subject(repo, sha)) for sha in shas]


def changed_files(repo: Path, before: str, after: str) -> tuple[str, ...]:
    """The paths that differ between two commits."""
    out = _git(repo, "diff", "--no-renames", "--name-only", before, after).stdout
    return tuple(sorted({line for line in out.splitlines() if line}))


def clone_path(repo: Path) -> Path:
    """The private clone of repo: one stable path per repository."""
    return paths.cache_root() / "git" / f"{repo.name}-{paths.digest(str(repo))}"


def _borrows_from(clone: Path, repo: Path) -> bool:
    alternates = clone / ".git/objects/info/alternates"
    if not alternates.exists():
        return False
    common = _git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir", check=False).stdout.strip()
    return bool(common) and str(Path(common) / "objects") in alternates.read_text().split()


def ensure_clone(repo: Path, commands: CommandLog | None = None) -> Path:
    """The private clone of repo, made on first use with `git clone --shared --no-checkout` (it borrows
    the repository's objects, so it costs only a work tree)."""
    clone = clone_path(repo)
    if clone.exists() and _borrows_from(clone, repo):
        return clone
    if clone.exists():
        shutil.rmtree(clone)
    clone.parent.mkdir(parents=True, exist_ok=True)
    staging = clone.with_name(clone.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    argv = ["git", "clone", "--quiet", "--shared", "--no-checkout", str(repo), str(staging)]
    if commands is not None:
        commands.record(argv)
    done = subprocess.run(argv, check=False, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, **GIT_ENV})
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise UserError(f"could not clone {repo} into the cache: {done.stderr.strip()}")
    staging.rename(clone)
    return clone


def checkout(clone: Path, sha: str, commands: CommandLog | None = None) -> None:
    """Put the clone's work tree at sha; only files that differ are rewritten (their mtime is new)."""
    _git(clone, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--force", "--detach", sha,
         commands=commands)
    _git(clone, "clean", "-ffdxq", commands=commands)
    make.settle(time.time())  # what checkout rewrote is older than the next make's start stamp
