"""inv cache: what the cache holds (du) and making room in it (prune)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.errors import UserError
from harness.host import cache
from harness.host.proc import Echo
from harness.results.text import format_table

LARGEST = 10  # entries du lists below the kinds


def du_report(found: Sequence[cache.Entry], root: Path, now: float) -> str:
    """Space per kind, largest first, with when each kind was last used; then the largest entries."""
    kinds: dict[str, list[cache.Entry]] = {}
    for e in found:
        kinds.setdefault(e.kind, []).append(e)
    rows = [(kind, cache.human(sum(e.size for e in es)), str(len(es)), cache.ago(max(e.last_used for e in es), now),
             "yes" if any(e.prunable for e in es) else "no")
            for kind, es in sorted(kinds.items(), key=lambda kv: -sum(e.size for e in kv[1]))]
    total = sum(e.size for e in found)
    lines = [f"cache {root}: {cache.human(total)}" + _free(root), "",
             format_table(rows, ("kind", "size", "entries", "last used", "prune")), "",
             f"largest {min(LARGEST, len(found))}:",
             format_table([(cache.human(e.size), cache.ago(e.last_used, now), e.kind, str(e.path))
                           for e in sorted(found, key=lambda e: -e.size)[:LARGEST]],
                          ("size", "last used", "kind", "path"))]
    return "\n".join(lines)


def _free(root: Path) -> str:
    left = cache.free_bytes(root)
    return "" if left is None else f" (the disk has {cache.human(left)} free)"


def limits(older_than: str | None, max_size: str | None, runs: str | None) -> tuple[float | None, int | None, int | None]:
    """prune's options as numbers (UserError naming the one that is not, or when none is given)."""
    if older_than is None and max_size is None and runs is None:
        raise UserError("inv cache prune: say what to keep: --older-than DAYS, --max-size GB and/or --runs N "
                        "(add --dry-run to see what would go)")

    def number(text: str | None, option: str, kind: type) -> float | None:
        if text is None:
            return None
        try:
            value = kind(text)
        except ValueError:
            raise UserError(f"{option} '{text}' is not a {'whole ' if kind is int else ''}number") from None
        if value < 0:
            raise UserError(f"{option} '{text}' is negative")
        return float(value)

    days = number(older_than, "--older-than", float)
    size = number(max_size, "--max-size", float)
    keep = number(runs, "--runs", int)
    return days, None if size is None else int(size * cache.GB), None if keep is None else int(keep)


def prune(root: Path, days: float | None, max_bytes: int | None, keep_runs: int | None, dry_run: bool,
          echo: Echo = print) -> int:
    """Delete (or with dry_run, list) what select() picks, least recently used first, skipping whatever
    a running job holds; prints what it freed. Returns the bytes freed."""
    now = cache.now()
    found = cache.entries(root)
    chosen = cache.select(found, now, days, max_bytes, keep_runs)
    freed, kept = 0, []
    for entry in chosen:
        line = f"{cache.human(entry.size):>9}  {cache.ago(entry.last_used, now):>12}  {entry.kind:<15} {entry.path}"
        if dry_run:
            echo("would delete " + line)
            freed += entry.size
            continue
        with cache.held(entry) as free:
            if not free:
                kept.append(entry)
                echo("in use, kept " + line)
                continue
            cache.delete(entry)
        freed += entry.size
        echo("deleted      " + line)
    total, done = sum(e.size for e in found) - freed, len(chosen) - len(kept)
    verb = "would free" if dry_run else "freed"
    echo(f"{verb} {cache.human(freed)} in {done} entr{'y' if done == 1 else 'ies'}"
         f"; the cache {'would hold' if dry_run else 'holds'} {cache.human(total)}" + _free(root)
         + (f"; {len(kept)} in use by a running job, kept" if kept else ""))
    if max_bytes is not None and total > max_bytes:
        echo(f"still above --max-size {cache.human(max_bytes)}: what is left is in use, or not pruned "
             "(sources, ccache, other; ccache keeps itself under its own max_size)")
    return freed
