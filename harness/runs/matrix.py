"""Run many (arch, kernel) cells: build the next cell while the current one boots under QEMU."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError, KernelBuildError
from harness.host import cache, paths, proc
from harness.host.proc import Echo
from harness.results.cells import CellReport
from harness.results.run import SCHEMA_VERSION, RunResult
from harness.results.text import first_line, format_table
from harness.runs.build_and_boot import Built
from harness.runs.check import Context, boot_and_check, build_cell, classify, finish, start_run
from harness.runs.options import CheckOptions
from harness.verdict import known_issues
from harness.verdict.checks import FAIL, PASS


@dataclass
class Cell:
    """One cell of a matrix: what it asked for (its options, or what a result read back names), its
    result, its error when it never reached one, and its status."""

    opts: CheckOptions | None  # None for a cell read back from a file (inv report merge)
    label: str
    result: RunResult | None = None
    error: str = ""
    build_error: bool = False
    status: str = FAIL
    note: str = ""
    arch: str = ""
    kernel: str = ""  # a distribution version, a tree's path, or the version a result names
    toolchain: str = "gcc"
    revision: str = ""

    def __post_init__(self) -> None:
        if self.opts is not None:
            self.arch = self.arch or self.opts.arch.name
            self.kernel = self.kernel or (str(self.opts.tree) if self.opts.tree else self.opts.kernel)
            self.toolchain, self.revision = self.opts.toolchain, self.opts.revision


@dataclass
class MatrixResult:
    cells: list[Cell] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every cell passed or failed only by a known issue."""
        return all(c.status in (PASS, known_issues.XFAIL) for c in self.cells)


def _prefixed(echo: Echo, label: str, lock: threading.Lock) -> Echo:
    def out(line: str) -> None:
        with lock:
            echo(f"{label:>16} | {line}")
    return out


def _failed(cell: Cell, error: Exception, echo: Echo) -> None:
    """A cell that raised: its error says what (a harness error's message, else the exception's type
    and text: a failed checkout or tar); a full disk says so, and how to make room."""
    error = cache.as_disk_full(error) or error
    cell.error = str(error) if isinstance(error, HarnessError) else f"{type(error).__name__}: {error}"
    cell.build_error = isinstance(error, KernelBuildError)
    cell.status = FAIL
    echo(f"error: {cell.error}")


def _boot_cell(cell: Cell, opts: CheckOptions, ctx: Context, built: Built | None,
               issues: tuple[known_issues.KnownIssue, ...], echo: Echo) -> None:
    """Boot and judge a built cell, then finish its run; the first error raised is the cell's."""
    failure: Exception | None = None
    try:
        if built is not None:
            boot_and_check(opts, ctx, built)
        classify(opts, ctx.result, issues)
    except Exception as e:  # noqa: BLE001
        failure = e
    try:
        finish(ctx)
    except Exception as e:  # noqa: BLE001
        failure = failure or e
    cell.result = ctx.result
    if failure is not None:
        _failed(cell, failure, echo)
        return
    cell.status, cell.note = ctx.result.status, ctx.result.note
    echo(f"{cell.status.upper()}" + (f": {cell.note}" if cell.note else ""))


def run_matrix(cells_opts: list[CheckOptions], echo: Echo = print,
               issues: tuple[known_issues.KnownIssue, ...] | None = None) -> MatrixResult:
    """Every cell, one failing cell never stopping the others; builds run one ahead of boots."""
    issues = known_issues.load() if issues is None else issues
    started = time.monotonic()
    lock = threading.Lock()
    cells = [Cell(o, o.label) for o in cells_opts]

    def prepare(cell: Cell, opts: CheckOptions) -> tuple[Context, Built | None]:
        ctx = start_run(opts, _prefixed(echo, cell.label, lock))
        try:
            return ctx, build_cell(opts, ctx)
        except BaseException:
            with suppress(Exception):  # the build's error is the one to report
                finish(ctx)
            cell.result = ctx.result
            raise

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="build")
    try:
        futures: list[Future[tuple[Context, Built | None]]] = [
            pool.submit(prepare, c, o) for c, o in zip(cells, cells_opts)
        ]
        for cell, opts, future in zip(cells, cells_opts, futures):
            try:
                ctx, built = future.result()
            except Exception as e:  # noqa: BLE001 - any failure is this cell's, the others go on
                _failed(cell, e, _prefixed(echo, cell.label, lock))
                continue
            _boot_cell(cell, opts, ctx, built, issues, _prefixed(echo, cell.label, lock))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        proc.stop_all()
        raise
    pool.shutdown(wait=True)
    return MatrixResult(cells, time.monotonic() - started)


def _seconds(result: RunResult | None, *names: str) -> str:
    if result is None:
        return "-"
    total = sum(s for n, s in result.stages if n.strip() in names)
    return f"{total:.1f}"


def format_matrix(m: MatrixResult) -> str:
    """Cells as columns, checks and stage timings as rows, then reasons for every non-pass cell."""
    check_names: list[str] = []
    for cell in m.cells:
        for check in cell.result.checks if cell.result else []:
            if check.name not in check_names:
                check_names.append(check.name)
    headers = ("", *(c.label for c in m.cells))
    rows: list[tuple[str, ...]] = [("RESULT", *(c.status.upper() for c in m.cells))]
    if any(c.result for c in m.cells):
        rows.append(("Linux", *(c.result.kernel_version if c.result else "-" for c in m.cells)))
    for name in check_names:
        row = [name]
        for cell in m.cells:
            statuses = {ch.name: ch.status for ch in (cell.result.checks if cell.result else [])}
            row.append(statuses.get(name, "-"))
        rows.append(tuple(row))
    for label, names in (("build s", ("kernel config", "kernel build", "module build", "initramfs")),
                         ("boot s", ("boot",)), ("session s", ("guest session",))):
        rows.append((label, *(_seconds(c.result, *names) for c in m.cells)))
    rows.append(("total s", *(f"{c.result.seconds:.1f}" if c.result else "-" for c in m.cells)))
    lines = [format_table(rows, headers)]
    for cell in m.cells:
        if cell.status == PASS:
            continue
        lines.append(f"\n{cell.label}: {cell.status.upper()}")
        if cell.error:
            lines.append(f"  error: {cell.error}")
        if cell.note:
            lines.append(f"  {cell.note}")
        for check in cell.result.checks if cell.result else []:
            if check.status == "fail":
                lines.append(f"  {check.name}: {first_line(check.detail)}")
        if cell.result:
            lines.append(f"  artifacts: {cell.result.artifacts}")
    summary = ", ".join(f"{sum(c.status == s for c in m.cells)} {s}" for s in
                        (PASS, known_issues.XFAIL, FAIL, known_issues.XPASS) if any(c.status == s for c in m.cells))
    lines.append(f"\nmatrix {'OK' if m.ok else 'FAILED'}: {summary} ({m.seconds:.1f} s)")
    return "\n".join(lines)


def write_json(m: MatrixResult, path: Path, command: str = "") -> None:
    data = {
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "ok": m.ok,
        "seconds": round(m.seconds, 2),
        "cells": [
            {
                "cell": c.label,
                "arch": c.arch,
                "kernel": c.kernel,
                "status": c.status,
                "note": c.note,
                "error": c.error,
                "known_issues": c.result.known_issues if c.result else [],
                "result": c.result.to_json() if c.result else None,
            }
            for c in m.cells
        ],
    }
    paths.write_atomic(path, json.dumps(data, indent=2) + "\n")


def cell_reports(m: MatrixResult) -> list[CellReport]:
    """The matrix's cells as the report formats read them."""
    return [CellReport(label=c.label, arch=c.arch, kernel=c.result.kernel_version if c.result else c.kernel,
                       status=c.status, result=c.result, note=c.note, error=c.error, toolchain=c.toolchain,
                       build_error=c.build_error)
            for c in m.cells]
