"""The tree's own kernel/trace/kprobe_event_gen_test.c (--module in-tree): built by Kbuild with the
kernel, and the events it defines read from its preprocessed source (kprobe_event_gen_test.i, built
with the module's own flags), so the verdict compares what the kernel registered with what the
module asked for, never with the kernel's own answer."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import BuildError
from harness.spec.render import ProbeSpec

RENDERED, SEED, IN_TREE = "rendered", "seed", "in-tree"
MODULES = (RENDERED, SEED, IN_TREE)  # seed: ours without the probe-grammar target
KCONFIG = "CONFIG_KPROBE_EVENT_GEN_TEST=m"
SOURCE = "kernel/trace/kprobe_event_gen_test.c"
BUILT = "kernel/trace/kprobe_event_gen_test.ko"  # inside the build folder
PREPROCESSED = "kernel/trace/kprobe_event_gen_test.i"  # make's single-file target, same flags as the .o
PROFILE = "upstream"  # its fields are the upstream ones: the value checks do not apply

_CALL = re.compile(r"\b(__kprobe_event_gen_cmd_start|__kprobe_event_add_fields)\s*\(")
_LITERAL = re.compile(r'\s*(?:"(?:[^"\\]|\\.)*"\s*)+')
_PIECE = re.compile(r'"((?:[^"\\]|\\.)*)"')
_NULL = re.compile(r"^\(*\s*(?:\(\s*void\s*\*\s*\)\s*)?0\s*\)*$")


@dataclass(frozen=True)
class Definition:
    """One event as the module's source defines it: p or r, its name, where, and its fields."""

    kind: str
    event: str
    location: str
    fields: tuple[str, ...]


def module_source(tree: Path) -> Path:
    return tree / SOURCE


def _arguments(text: str, start: int) -> list[str]:
    """The top-level arguments of a call whose '(' is just before start."""
    args, depth, current, i = [], 0, [], start
    while i < len(text):
        c = text[i]
        if c == '"':
            end = i + 1
            while text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            current.append(text[i:end + 1])
            i = end + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                args.append("".join(current).strip())
                return args
            depth -= 1
        elif c == "," and depth == 0:
            args.append("".join(current).strip())
            current = []
            i += 1
            continue
        current.append(c)
        i += 1
    return args


def _literal(arg: str) -> str | None:
    """The C string an argument is (adjacent literals joined), None when it is no literal."""
    if not _LITERAL.fullmatch(arg):
        return None
    return "".join(_PIECE.findall(arg)).replace('\\"', '"').replace("\\\\", "\\")


def definitions(preprocessed: str) -> list[Definition]:
    """The events a preprocessed module defines through the gen API, in order: each
    __kprobe_event_gen_cmd_start call (name and location literals), with the fields of the
    __kprobe_event_add_fields calls on the same command after it. BuildError when a field is not a
    string literal (what the module asks for would not be known)."""
    found: list[Definition] = []
    current: dict[str, int] = {}  # the command variable -> its event in found
    for m in _CALL.finditer(preprocessed):
        args = _arguments(preprocessed, m.end())
        if m.group(1) == "__kprobe_event_gen_cmd_start":
            if len(args) < 4 or _literal(args[2]) is None or _literal(args[3]) is None:
                continue  # the declaration in trace_events.h
            fields = _fields(args[4:], m.group(0))
            kind = "r" if args[1].strip("() ") in ("true", "1") else "p"
            current[args[0]] = len(found)
            found.append(Definition(kind, str(_literal(args[2])), str(_literal(args[3])), fields))
        elif args and args[0] in current:
            at = current[args[0]]
            found[at] = replace(found[at], fields=found[at].fields + _fields(args[1:], m.group(0)))
    return found


def _fields(args: list[str], call: str) -> tuple[str, ...]:
    fields = []
    for arg in args:
        if _NULL.match(arg):
            break
        text = _literal(arg)
        if text is None:
            raise BuildError(f"the tree's module passes {arg!r} to {call.rstrip('(')}: not a string literal, so "
                             "the fields it asks for cannot be read from its source")
        fields.append(text)
    return tuple(fields)


def compiled_spec(preprocessed: str, base: ProbeSpec) -> ProbeSpec:
    """The probe spec the tree's module asks for: its first kprobe and first kretprobe, as its
    preprocessed source defines them (BuildError when it defines neither)."""
    found = definitions(preprocessed)
    entry = next((d for d in found if d.kind == "p"), None)
    ret = next((d for d in found if d.kind == "r"), None)
    if entry is None or ret is None:
        raise BuildError(f"{PREPROCESSED} defines {'no kprobe' if entry is None else 'no kretprobe'} event through "
                         "kprobe_event_gen_cmd_start/kretprobe_event_gen_cmd_start: nothing to check it against")
    return replace(base, grammar=False, profile=PROFILE, func=entry.location, kprobe_event=entry.event, kprobe_fields=entry.fields,
                   kretprobe_event=ret.event, kretprobe_fields=ret.fields)
