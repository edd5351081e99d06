"""The checks of a sanitizer kernel (--sanitizers): every report its debug options printed, named by
the sanitizer that printed it, and what kmemleak found unreferenced after the session."""

from __future__ import annotations

from harness.spec import sanitizers
from harness.verdict.checks import FAIL, Check, finding, make_check
from harness.verdict.observations import Observations

CONTEXT_LINES = 12  # lines of each report quoted in the check's detail


def _excerpt(text: str, first: str) -> str:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if first in line:
            return "\n".join(lines[i:i + CONTEXT_LINES])
    return first


def _log(obs: Observations, console: str) -> str:
    """What the kernel logged: the console (boot and the session's lines), the session's dmesg, and
    the kernel log of every suite case (a report from any step counts)."""
    return f"{console}\n{obs.dmesg_text}\n{obs.suite_log}"


def _reports(text: str) -> list[tuple[str, str]]:
    """Each report once (the console and dmesg can both hold it)."""
    return list(dict.fromkeys(sanitizers.reports_in(text)))


def reports_check(obs: Observations, console: str, named: tuple[str, ...]) -> Check:
    """No report from any sanitizer in the kernel's log (console: the boot and the session's lines)."""
    text = _log(obs, console)
    found = _reports(text)
    quoted = [f"{name}: {_excerpt(text, line)}" for name, line in found[:3]]
    return make_check(
        "sanitizer_reports", not found, f"no report from {', '.join(n for n in named if n != 'kmemleak')}",
        f"{len(found)} sanitizer report(s), the first by {found[0][0] if found else ''}:\n" + "\n---\n".join(quoted),
        [finding(f"{name}: {line}") for name, line in found[:3]])


def _callers(block: str, most: int = 3) -> list[str]:
    """The first functions of an object's allocation backtrace past the allocator itself ("[<addr>] f+0x1/0x2"
    on older kernels, "f+0x1/0x2" on newer ones)."""
    lines = block.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if line.strip().startswith("backtrace")), len(lines))
    names = [line.strip().split()[-1].split("+")[0] for line in lines[start:] if line.strip()]
    return [n for n in names if "kmalloc" not in n and "alloc_noprof" not in n and not n.startswith("0x")][:most]


def kmemleak_check(obs: Observations) -> Check:
    """Nothing the session allocated is left unreferenced once its events are deleted and the module
    unloaded (the guest cleared what boot left before insmod, then scanned after the reload)."""
    if obs.kmemleak is None:
        return Check("kmemleak", FAIL, "the guest did not scan for leaks (the session stopped before the reload)",
                     ("no scan",))
    report = obs.kmemleak.output
    if obs.kmemleak_clear is not None and not obs.kmemleak_clear.ok:  # kmemleak switched itself off
        return Check("kmemleak", FAIL, f"kmemleak refused to clear what boot left "
                     f"({obs.kmemleak_clear.output.strip()[:200] or 'no message'}): it has switched itself off, so "
                     "no scan can be trusted", ("clear refused",))
    if not obs.kmemleak.ok:
        return Check("kmemleak", FAIL, f"the scan failed: {report.strip()[:300]}", ("scan failed",))
    objects = sanitizers.kmemleak_objects(report)
    first = objects[0] if objects else ""
    return make_check(
        "kmemleak", not objects, "no unreferenced object after rmmod and the reload",
        f"kmemleak: {len(objects)} unreferenced object(s) after the session; the first:\n{first}",
        [finding(line) for line in first.splitlines()[:1]] + [finding(f"allocated by {f}") for f in _callers(first)])


def sanitizer_checks(obs: Observations, console: str, named: tuple[str, ...]) -> list[Check]:
    return [reports_check(obs, console, named), *([kmemleak_check(obs)] if "kmemleak" in named else [])]


def sanitizer_facts(obs: Observations, console: str) -> dict[str, int]:
    """Counts for known issues: reports per sanitizer (sanitizer.<name>) and leaked objects."""
    found = _reports(_log(obs, console))
    facts = {f"sanitizer.{name}": sum(1 for n, _ in found if n == name) for name, _ in sanitizers.REPORTS}
    facts["sanitizer.leaked_objects"] = len(sanitizers.kmemleak_objects(obs.kmemleak.output)) if obs.kmemleak else -1
    return facts
