"""Validation of kprobe fetch-arg expressions before they are written into a C string literal."""

from __future__ import annotations

import re

from harness.errors import UserError

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_TYPE = re.compile(
    r"(?:[usx](?:8|16|32|64)|string|ustring|symbol|symstr|char|b[0-9]+@[0-9]+/[0-9]+)(?:\[[0-9]+\])?"
)
_SIMPLE = re.compile(
    r"%[a-z][a-z0-9]*"  # register
    r"|\$stack[0-9]*|\$retval|\$comm|\$arg[0-9]+"  # special variables
    r"|@[A-Za-z_][A-Za-z0-9_.]*(?:[+-](?:0x[0-9a-fA-F]+|[0-9]+))?"  # symbol (+offset)
    r"|@0x[0-9a-fA-F]+|@[0-9]+"  # absolute address
    r"|\\(?:0x[0-9a-fA-F]+|-?[0-9]+)"  # immediate
)
_DEREF = re.compile(r"([+-]u?(?:0x[0-9a-fA-F]+|[0-9]+))\((.*)\)")
_EVENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def _valid_fetch(expr: str, depth: int = 0) -> bool:
    if depth > 8:
        return False
    if _SIMPLE.fullmatch(expr):
        return True
    deref = _DEREF.fullmatch(expr)
    return deref is not None and _valid_fetch(deref.group(2), depth + 1)


def check_fetcharg(arg: str) -> str:
    """Return arg when it is a well-formed `[NAME=]FETCHARG[:TYPE]`, else raise UserError."""
    problem = _fetcharg_problem(arg)
    if problem:
        raise UserError(
            f"invalid kprobe field '{arg}': {problem}. Expected NAME=FETCHARG[:TYPE], e.g. "
            "'dfd=%di:s32', 'filename=+0(%si):ustring' or '$retval' "
            "(see Documentation/trace/kprobetrace.rst)"
        )
    return arg


def _fetcharg_problem(arg: str) -> str:
    if not arg or len(arg) > 128:
        return "empty or longer than 128 characters"
    if any(c in arg for c in "\"'\n\r\t ;{}") or not arg.isascii() or not arg.isprintable():
        return "it contains quotes, white space or characters a fetch-arg never has"
    name, sep, rest = arg.partition("=")
    if sep:
        if not re.fullmatch(_NAME, name):
            return f"'{name}' is not a valid field name"
    else:
        rest = arg
    fetch, colon, typ = rest.partition(":")
    if colon and not _TYPE.fullmatch(typ):
        return f"'{typ}' is not a fetch type"
    if not _valid_fetch(fetch):
        return f"'{fetch}' is not a fetch-arg"
    return ""


def check_event_name(name: str) -> str:
    if not _EVENT_NAME.fullmatch(name):
        raise UserError(f"invalid event name '{name}': use letters, digits and '_' only")
    return name


def check_symbol(symbol: str) -> str:
    """A probe location: a kernel function name (the kretprobe needs the function's entry, so no +offset)."""
    name, plus, _ = symbol.partition("+")
    if plus and _SYMBOL.fullmatch(name):
        raise UserError(
            f"invalid probe function '{symbol}': give the function name alone ({name}); the module puts "
            "a kretprobe on the same location, and a kretprobe must sit at a function's entry"
        )
    if not _SYMBOL.fullmatch(symbol) or len(symbol) > 128:
        raise UserError(
            f"invalid probe function '{symbol}': give a kernel function name such as do_sys_open; "
            "see /proc/kallsyms in the guest for candidates"
        )
    return symbol


def c_string(value: str) -> str:
    """A C string literal for an already validated value (backslash and quote are the escapes needed:
    the grammar target's immediate strings are quoted)."""
    if any(c in value for c in "\n\r") or not value.isprintable():
        raise UserError(f"refusing to put {value!r} into C source")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
