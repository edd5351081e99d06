"""`git bisect run` of `check` in the private clone of a repository (the repository is only read):
the first bad commit, with the checks it failed and their findings, or the commits it could not
tell apart because they were skipped."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness.build import gitrev
from harness.errors import EXIT_FAIL, EXIT_SETUP, EXIT_UNTESTABLE, UserError
from harness.host import paths
from harness.host.proc import Echo
from harness.results.run import RunResult

_FIRST_BAD = re.compile(r"^([0-9a-f]{40}) is the first bad commit", re.MULTILINE)
_SKIPPED_ONLY = "only 'skip'ped commits left to test"
_CANDIDATE = re.compile(r"^([0-9a-f]{40})$", re.MULTILINE)


@dataclass
class BisectResult:
    """What git bisect concluded: the first bad commit (and its run), or the skipped candidates."""

    repo: Path
    first_bad: str = ""
    subject: str = ""
    candidates: list[str] = field(default_factory=list)
    result: RunResult | None = None
    log: str = ""

    @property
    def exit_code(self) -> int:
        """1 when a first bad commit was named, 125 when skipped commits hid it, 128 when git stopped."""
        return EXIT_FAIL if self.first_bad else EXIT_UNTESTABLE if self.candidates else EXIT_SETUP


def check_argv(clone: Path, results: Path, check_args: list[str]) -> list[str]:
    """What git bisect runs at each commit: this harness's check on the clone, its result kept per
    commit (the installed command's exit codes are the ones git bisect run reads)."""
    check = [sys.executable, "-m", "harness.cli", "check", "--tree", str(clone), *check_args]
    script = f'{shlex.join(check)} --json "{results}/$(git rev-parse HEAD).json"'
    return ["sh", "-c", script]


def conclusion(output: str) -> tuple[str, list[str]]:
    """(the first bad commit, '') or ('', the commits skipped ones left undecided) from git's output."""
    if m := _FIRST_BAD.search(output):
        return m.group(1), []
    if _SKIPPED_ONLY in output:
        return "", _CANDIDATE.findall(output.split(_SKIPPED_ONLY, 1)[1])
    return "", []


def run_bisect(repo: Path, good: str, bad: str, check_args: list[str], echo: Echo = print) -> BisectResult:
    """Bisect good..bad in the private clone with check at each commit."""
    good_rev, bad_rev = gitrev.resolve(repo, good), gitrev.resolve(repo, bad)
    if good_rev.sha == bad_rev.sha:
        raise UserError(f"--good {good} and --bad {bad} are the same commit: nothing to bisect")
    with paths.locked(gitrev.clone_path(repo), f"the private clone of {repo}", echo):
        clone = gitrev.ensure_clone(repo)
        results = paths.cache_root() / "bisect" / clone.name
        results.mkdir(parents=True, exist_ok=True)
        git = gitrev.git_argv(clone)
        subprocess.run([*git, "bisect", "reset", "--quiet"], capture_output=True, check=False)
        gitrev.checkout(clone, bad_rev.sha)
        try:
            started = subprocess.run([*git, "bisect", "start", bad_rev.sha, good_rev.sha], capture_output=True,
                                     text=True, check=False)
            if started.returncode != 0:
                raise UserError(f"git bisect start {bad} {good} failed: {started.stderr.strip()}")
            output = _run_at(clone, [*git, "bisect", "run", *check_argv(clone, results, check_args)], echo)
            log = subprocess.run([*git, "bisect", "log"], capture_output=True, text=True, check=False).stdout
        finally:
            subprocess.run([*git, "bisect", "reset", "--quiet"], capture_output=True, check=False)
        first, candidates = conclusion(output)
        found = results / f"{first}.json"
        if first and not found.exists():  # the bad end itself: git never ran the check there
            gitrev.checkout(clone, first)
            echo(f"bisect | checking the first bad commit {first[:12]} for its findings")
            _run_at(clone, check_argv(clone, results, check_args), echo)
    result = RunResult.from_json(json.loads(found.read_text())) if first and found.exists() else None
    return BisectResult(repo, first, gitrev.subject(repo, first) if first else "", candidates, result, log)


def _run_at(clone: Path, argv: list[str], echo: Echo) -> str:
    """Run argv in the clone, its output echoed line by line as it comes; the whole output."""
    lines = []
    with subprocess.Popen(argv, cwd=clone, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          stdin=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            echo(f"bisect | {line.rstrip()}")
    return "".join(lines)


def format_bisect(b: BisectResult) -> str:
    """The first bad commit with each check it failed and the findings, or why there is none."""
    if b.first_bad:
        lines = [f"first bad commit: {b.first_bad[:12]} \"{b.subject}\""]
        if b.result is not None:
            for c in b.result.checks:
                if c.counts_against:
                    lines.append(f"  {c.name}: {c.detail.strip().splitlines()[0] if c.detail.strip() else ''}")
                    lines += [f"    finding: {f}" for f in c.findings]
        lines.append(f"exit {b.exit_code}")
        return "\n".join(lines)
    if b.candidates:
        return (f"no first bad commit: skipped commits leave {len(b.candidates)} candidates: "
                + ", ".join(c[:12] for c in b.candidates) + f"; exit {b.exit_code}")
    return f"git bisect stopped without a conclusion (see its output above); exit {b.exit_code}"
