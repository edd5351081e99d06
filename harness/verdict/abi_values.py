"""The value checks of the abi profile: the recorded arguments and return values against what
the trigger processes really did (filename_arg, register_args, retval)."""

from __future__ import annotations

from harness.verdict import trace
from harness.verdict.checks import Check, make_check
from harness.verdict.observations import MISSING, OPENER, OPENS, READ, WRITE
from harness.verdict.recorded import RecordedEvents

AT_FDCWD = -100
ENOENT = 2
FIRST_FREE_FD = 3  # 0, 1 and 2 are open in every trigger process
O_ACCMODE, O_WRONLY = 0o3, 0o1
VALUE_CHECKS = ("filename_arg", "register_args", "retval")


def signed(value: str | None, bits: int) -> int | None:
    """A printed register value (hex or decimal) as a signed integer of the given width."""
    if value is None:
        return None
    try:
        number = int(value, 0)
    except ValueError:
        return None
    number &= (1 << bits) - 1
    return number - (1 << bits) if number >= 1 << (bits - 1) else number


def _last_per_pid(records: list[trace.TraceRecord]) -> dict[int, trace.TraceRecord]:
    return {r.pid: r for r in records}


def value_checks(recorded: RecordedEvents, bits: int, names: tuple[str, ...], create: int) -> list[Check]:
    """The value checks among names (a profile that records the filename's address has no filename_arg);
    create: O_CREAT | O_TRUNC as the arch's fcntl.h defines them."""
    t = recorded.obs.targets
    kprobes = recorded.kprobes()
    reads = recorded.of(kprobes, READ)
    misses = recorded.of(kprobes, MISSING)
    writes = recorded.of(kprobes, WRITE)
    ok_reads = [r for r in reads if r.field("filename") == f'"{t.existing}"']
    ok_misses = [r for r in misses if r.field("filename") == f'"{t.missing}"']
    ok_writes = [r for r in writes if r.field("filename") == f'"{t.created}"']
    seen = sorted({r.field("filename") or "" for r in reads + misses + writes})[:4]
    token = t.existing.rsplit("-", 1)[-1]
    wrong = [f"{kind}: filename={(r.field('filename') or '').replace(token, 'TOKEN')}"
             for kind, records, ok in ((READ, reads, ok_reads), (MISSING, misses, ok_misses), (WRITE, writes, ok_writes))
             for r in records if r not in ok]
    counts = [f"{kind}: {len(records)} records" for kind, records, want in
              ((READ, reads, OPENS), (MISSING, misses, 1), (WRITE, writes, 1)) if len(records) != want]
    checks = [] if "filename_arg" not in names else [make_check(
        "filename_arg", len({r.pid for r in ok_reads}) == OPENS and len(ok_reads) == len(reads)
        and len(ok_misses) == len(misses) == 1 and len(ok_writes) == len(writes) == 1,
        f"filename recorded as the opened path: {len(ok_reads)}x {t.existing}, {t.missing}, {t.created}",
        f"expected one record of {t.existing} from each of the {OPENS} '{OPENER}' processes, one of {t.missing} "
        f"and one of {t.created}; got {len(ok_reads)} of {len(reads)}, {len(ok_misses)} of {len(misses)}, "
        f"{len(ok_writes)} of {len(writes)}; the trigger's records show filename {', '.join(seen) or 'nothing'}",
        wrong + counts,
    )]

    problems, found = [], []
    for kind, path, records, want_write in ((READ, t.existing, reads, False), (MISSING, t.missing, misses, False),
                                            (WRITE, t.created, writes, True)):
        for r in records:
            dfd, flags, mode = (signed(r.field(f), bits) for f in ("dfd", "flags", "mode"))
            if dfd != AT_FDCWD:
                problems.append(f"{path}: dfd={r.field('dfd')}, expected {AT_FDCWD} (AT_FDCWD)")
                found.append(f"{kind}: dfd={r.field('dfd')}")
            if flags is None or (flags & O_ACCMODE) != (O_WRONLY if want_write else 0):
                problems.append(f"{path}: flags={r.field('flags')}, expected {'O_WRONLY' if want_write else 'O_RDONLY'}")
                found.append(f"{kind}: flags={r.field('flags')}")
            elif want_write and (flags & create) != create:
                problems.append(f"{path}: flags={r.field('flags')}, expected O_CREAT|O_TRUNC ({create:#x} on this arch)")
                found.append(f"{kind}: flags={r.field('flags')}")
            if want_write and mode != 0o666:
                problems.append(f"{path}: mode={r.field('mode')}, expected 0x1b6 (0666)")
                found.append(f"{kind}: mode={r.field('mode')}")
    if not (reads or writes):
        problems.append("no records of the trigger processes to check")
        found.append("no records")
    checks.append(make_check("register_args", not problems,
                             "dfd=AT_FDCWD, O_RDONLY for reads, O_WRONLY|O_CREAT|O_TRUNC and mode 0666 for the write",
                             "; ".join(dict.fromkeys(problems)), found))
    checks.append(retval_check(recorded, bits))
    return checks


def retval_check(recorded: RecordedEvents, bits: int) -> Check:
    """Each trigger process's last return from the function: the first free fd, or -ENOENT.

    It reads the kretprobe records alone, so it runs even when entry records are missing."""
    returns = recorded.kretprobes()
    plan = ((READ, FIRST_FREE_FD), (MISSING, -ENOENT), (WRITE, FIRST_FREE_FD))
    problems, found, checked = [], [], 0
    for kind, want in plan:
        last = _last_per_pid(recorded.of(returns, kind))
        for pid in sorted(recorded.obs.pids(kind)):
            record = last.get(pid)
            value = signed(record.field("arg1"), bits) if record else None
            if record is None:
                problems.append(f"{kind} (pid {pid}): no {recorded.spec.kretprobe_event} record")
                found.append(f"{kind}: no record")
            elif value != want:
                name = " (-ENOENT)" if want == -ENOENT else " (the first free fd)"
                problems.append(f"{kind} (pid {pid}): returned {record.field('arg1')}, expected {want}{name}")
                found.append(f"{kind}: returned {value}")
            else:
                checked += 1
    if not checked and not problems:
        problems.append("no trigger processes to check")
        found.append("no trigger processes")
    return make_check("retval", not problems,
                      f"$retval is fd {FIRST_FREE_FD} for each open and -ENOENT for the missing file ({checked} returns)",
                      "; ".join(problems), found)
