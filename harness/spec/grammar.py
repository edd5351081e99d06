"""The probe-grammar target as data: the module's own functions, the values it calls them with, the
events it builds on them through the gen API and the malformed definitions the API must refuse.

One description for both sides: spec/render.py writes it into the C module, and the verdict
compares every recorded field with the value computed here. Nothing is typed twice."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from harness.spec.arches import Arch

DEBUGFS_DIR = "kh_grammar"  # under /sys/kernel/debug: create, call, refuse, status
CALLER = "echo"  # the program whose write to the call file makes the calls: $comm reads its name
ARGS_FUNC, DATA_FUNC = "kh_args", "kh_data"
N_ARGS = 10  # more than any of our arches passes in registers
AT_MID = "+MID"  # a place ending in this gets the offset of a label inside kh_args, found at run time
ADDRESS = "%lx"  # a fetch holding this gets the address of kh_globals, found at run time
CALLS = 3
STRING_LENGTHS = (0, 1, 50, 255, 1000)
PAGE_STRING_LENGTH = 40  # placed so that it starts 20 bytes before a page boundary
PAGE_STRING_BEFORE = 20
# a string fetch stops at the kernel's MAX_STRING_SIZE (PATH_MAX) with its NUL: a longer string is cut
# to this; its record needs a ring-buffer sub-buffer above the default page
MAX_STRING = 4095
LONGER_THAN_LIMIT = 5000
SUBBUF_FILE = "buffer_subbuf_size_kb"
SUBBUF_KB = 8
GLOBALS = (0x0123456789ABCDEF, 0xFEEDFACECAFEBEEF, 0x5A5A5A5A5A5A5A5A, 0x1)
IMMEDIATE = -123456
IMMEDIATE_STRING = "kh_immediate"
TOO_MANY = 129  # one more than MAX_TRACE_ARGS

Expected = str | re.Pattern[str]


@dataclass(frozen=True)
class Element:
    """One part of the probe grammar, and the check named after it."""

    check: str
    needs: tuple[str, ...]  # phrases of the booted kernel's tracefs README that offer it, all of them
    what: str
    files: tuple[str, ...] = ()  # tracefs files it needs as well


ELEMENTS = (
    Element("fetch_register", ("%<register>",), "%<register> with u/s/x types of each width"),
    Element("fetch_argn", ("$comm, $arg<N>",), "$argN for the arguments passed in registers"),
    Element("fetch_stack_args", ("$stack<index>",), "$stackN for the arguments passed on the stack"),
    Element("fetch_stack", ("$stack<index>, $stack,",), "$stack, dereferenced to the first stack argument"),
    Element("fetch_comm", ("$comm",), "$comm"),
    Element("fetch_retval", ("$retval",), "$retval of a kretprobe"),
    Element("fetch_return_args", ("$comm, $arg<N>", "kernel return probes support: $retval, $arg<N>"),
            "$argN read by a kretprobe"),
    Element("fetch_address", ("@<address>",), "@<address> of a global"),
    Element("fetch_symbol_offset", ("@<symbol>[+|-<offset>]",), "@<symbol>+<offset> of a global"),
    Element("fetch_deref", ("+|-[u]<offset>(<fetcharg>)",), "+|-<offset>(...) chains of two and three levels"),
    Element("fetch_user_deref", ("+|-[u]<offset>(<fetcharg>)",), "+u<offset>(...) into user memory"),
    Element("fetch_immediate", ("\\imm-value",), "\\<immediate> values"),
    Element("fetch_immediate_string", ('\\"imm-string"',), '\\"<immediate string>"'),
    Element("fetch_int_types", ("s8/16/32/64", "u8/16/32/64", "x8/16/32/64"),
            "s8-s64, u8-u64, x8-x64 at the edges of each width"),
    Element("fetch_char", (" char,",), "char"),
    Element("fetch_string", (" string,",), "kernel strings of 0, 1 and 50 bytes"),
    Element("fetch_string_long", (" string,",), "kernel strings of 255 and 1000 bytes"),
    Element("fetch_string_page", (" string,",), "a kernel string across a page boundary"),
    Element("fetch_ustring", ("ustring",), "user strings of 1 to 1000 bytes, one across a page boundary"),
    Element("fetch_ustring_empty", ("ustring",), "an empty user string"),
    Element("fetch_string_limit", (" string,", "ustring"), f"kernel and user strings of {LONGER_THAN_LIMIT} bytes, "
            f"cut to the fetch limit of {MAX_STRING}", files=(SUBBUF_FILE,)),
    Element("fetch_symbol", (" symbol,",), "symbol"),
    Element("fetch_symstr", ("symstr",), "symstr"),
    Element("fetch_bitfield", ("b<bit-width>@<bit-offset>/<container-size>",), "b<width>@<offset>/<size>"),
    Element("fetch_array", ("<type>\\[<array-size>\\]",), "<type>[N] arrays"),
    Element("fetch_dentry", ("%pd/%pD",), "%pd and %pD"),
    Element("probe_offset", ("<symbol>[+<offset>]",), "a kprobe inside the function, past its entry"),
    Element("probe_append", (), "a second probe appended to an event"),
    Element("kretprobe_maxactive", ("r[maxactive]",), "r<maxactive>, through the dynevent_cmd builder"),
)
ELEMENT = {e.check: e for e in ELEMENTS}


def offered(element: Element, readme: str, files: tuple[str, ...] | None = None) -> list[str]:
    """What of an element the kernel lacks: phrases of its README, tracefs files (none: it offers it;
    files None: the listing was not read)."""
    text = " ".join(readme.split())
    missing = [n for n in element.needs if " ".join(n.split()) not in text]
    return missing + [f"tracefs file {f}" for f in element.files if files is not None and f not in files]


# --- the values the module passes -------------------------------------------------------------

INT_MEMBERS = ("s8v", "u8v", "s16v", "u16v", "s32v", "u32v", "s64v", "u64v")
_INT_VALUES = (  # per call: each width's minimum, maximum, then -1/1 and a pattern
    (-0x80, 0xFF, -0x8000, 0xFFFF, -0x80000000, 0xFFFFFFFF, -0x8000000000000000, 0xFFFFFFFFFFFFFFFF),
    (0x7F, 0, 0x7FFF, 0, 0x7FFFFFFF, 0, 0x7FFFFFFFFFFFFFFF, 0),
    (-1, 0x5A, 1, 0xA55A, -2, 0x12345678, -0x123456789ABCDEF, 0x8000000000000001),
)


@dataclass(frozen=True)
class Call:
    """One call of the target functions: kh_args' arguments and return value, kh_data's struct."""

    args: tuple[int, ...]  # as 64-bit patterns: a 32-bit arch passes the low half
    ret: int
    ints: tuple[int, ...]  # INT_MEMBERS, in order
    char: str
    bits: int
    arr: tuple[int, int, int, int]
    inner: int  # d->inner->value
    next: int  # d->inner->next->value
    uval: int  # *d->uval, in user memory


CALL_VALUES = (
    Call(args=(0x80, 0x7F, 0xFF, 0x8000, 0x7FFF, 0xFFFF, 0x80000000, 0x7FFFFFFF, 0xFFFFFFFF, 0x8000000000000000),
         ret=0, ints=_INT_VALUES[0], char="A", bits=0xDEADBEEF, arr=(1, 2, 3, 4),
         inner=0x1111222233334444, next=0x5555666677778888, uval=0xFFFFFFFFFFFFFFFF),
    Call(args=(0, 1, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFE, 0x0123456789ABCDEF, 0xFEDCBA9876543210,
               0x7FFFFFFFFFFFFFFF, 0x100, 0x10000, 0x100000000),
         ret=0xFFFFFFFFFFFFFFFF, ints=_INT_VALUES[1], char="z", bits=0, arr=(0xFFFFFFFF, 0, 0x80000000, 0x7FFFFFFF),
         inner=0, next=1, uval=0),
    Call(args=tuple(0xA0A0A0A0A0A0A0A0 + i for i in range(N_ARGS)),
         ret=0x5A5A5A5A5A5A5A5A, ints=_INT_VALUES[2], char="~", bits=0xFFFFFFFF, arr=(10, 20, 30, 40),
         inner=0x8000000000000000, next=0x7FFFFFFFFFFFFFFF, uval=0x0102030405060708),
)
assert len(CALL_VALUES) == CALLS and all(len(c.args) == N_ARGS for c in CALL_VALUES)


def text_of(length: int, seed: int) -> str:
    """A string of a given length made of letters and digits, different for each seed."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(alphabet[(seed * 7 + i) % len(alphabet)] for i in range(length))


KERNEL_STRINGS = tuple(text_of(n, i) for i, n in enumerate(STRING_LENGTHS))
USER_STRINGS = tuple(text_of(n, i + 10) for i, n in enumerate(STRING_LENGTHS))
KERNEL_PAGE_STRING = text_of(PAGE_STRING_LENGTH, 20)
USER_PAGE_STRING = text_of(PAGE_STRING_LENGTH, 21)
KERNEL_LIMIT_STRING = text_of(LONGER_THAN_LIMIT, 30)
USER_LIMIT_STRING = text_of(LONGER_THAN_LIMIT, 31)


# --- the struct kh_data the module passes, laid out as the C compiler lays it out -----------------

@dataclass(frozen=True)
class Member:
    name: str
    ctype: str  # C type of one element; a pointer ends in '*'
    count: int = 1

    def size(self, word_bytes: int) -> int:
        return word_bytes if self.ctype.endswith("*") else {"s8": 1, "u8": 1, "char": 1, "s16": 2, "u16": 2,
                                                           "s32": 4, "u32": 4, "s64": 8, "u64": 8}[self.ctype]

    @property
    def declaration(self) -> str:
        star = "" if self.ctype.endswith("*") else " "
        return f"{self.ctype}{star}{self.name}" + (f"[{self.count}]" if self.count > 1 else "")


MEMBERS = (
    *(Member(n, n[:-1]) for n in INT_MEMBERS),
    Member("c", "char"),
    Member("bits", "u32"),
    Member("arr", "u32", 4),
    Member("inner", "struct kh_inner *"),
    Member("tail", "u32 *"),  # points at arr: a negative offset from it reads u32v
    Member("uval", "u64 __user *"),
    Member("fn", "void *"),  # kh_args, for :symbol and :symstr
    # then one across a page boundary, and one longer than the fetch limit
    Member("kstr", "const char *", len(STRING_LENGTHS) + 2),
    Member("ustr", "const char __user *", len(STRING_LENGTHS) + 2),
)
INNER_VALUE, INNER_NEXT = 0, 8  # struct kh_inner { u64 value; struct kh_inner *next; }


def layout(word_bytes: int) -> dict[str, int]:
    """Member name -> byte offset in struct kh_data, with each member naturally aligned."""
    offsets, at = {}, 0
    for m in MEMBERS:
        size = m.size(word_bytes)
        at = (at + size - 1) // size * size
        offsets[m.name] = at
        at += size * m.count
    return offsets


# --- how the trace prints a value ---------------------------------------------------------------

def show(typ: str, value: int) -> str:
    """A value as the trace prints it for a basic type (u8-u64, s8-s64, x8-x64, char)."""
    if typ == "char":
        return f"'{chr(value & 0xFF)}'"
    kind, bits = typ[0], int(typ[1:])
    v = value & ((1 << bits) - 1)
    if kind == "s" and v >> (bits - 1):
        v -= 1 << bits
    return f"0x{v:x}" if kind == "x" else str(v)


def show_bitfield(width: int, offset: int, value: int) -> str:
    return str((value >> offset) & ((1 << width) - 1))


def quoted(text: str) -> str:
    return f'"{text}"'


# --- the events -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    name: str
    fetch: str  # FETCHARG[:TYPE]
    expected: tuple[Expected, ...]  # what the trace prints on each call

    @property
    def definition(self) -> str:
        return f"{self.name}={self.fetch}"


@dataclass(frozen=True)
class Event:
    """One definition the module builds. Two with one name: the second is appended to the first."""

    name: str
    kind: str  # p, r, or r<maxactive> (which only the dynevent_cmd builder can write)
    place: str
    fields: tuple[Field, ...]
    element: str
    appended: bool = False  # added to the event of the same name built before it

    @property
    def function(self) -> str:
        return self.place.removesuffix(AT_MID)

    @property
    def builder(self) -> str:
        return "raw" if self.kind not in ("p", "r") else "gen"


@dataclass(frozen=True)
class Refusal:
    """A malformed definition the gen API must refuse, with what the kernel logs for it."""

    case: str
    event: str
    kind: str
    place: str
    fields: tuple[str, ...]
    message: str  # the error_log text; "" when the gen API refuses it before the kernel parses it
    token: int  # which word of the logged command the caret must point into


def _each(f) -> tuple[Expected, ...]:  # type: ignore[no-untyped-def]
    return tuple(f(c) for c in CALL_VALUES)


class _Target:
    """The events and refusals of one arch (its argument registers and word size)."""

    def __init__(self, arch: Arch) -> None:
        self.arch, self.w = arch, arch.word_bits
        self.n_regs = len(arch.arg_registers)
        # each argument's fetch at the function's entry: its register, then its stack slot (i386
        # passes only three arguments in registers)
        self.regs = tuple(f"%{r}" for r in arch.arg_registers) + tuple(
            f"$stack{arch.first_stack_arg + i}" for i in range(N_ARGS - self.n_regs))
        self.at = layout(self.w // 8)
        self.word = f"x{self.w}"

    def member(self, name: str, index: int = 0) -> str:
        """A member of *d (kh_data's first argument) as a fetch: +OFFSET(%reg)."""
        return f"+{self.at[name] + index * self.w // 8}({self.regs[0]})"

    def arg(self, i: int) -> tuple[Expected, ...]:
        return _each(lambda c: show(self.word, c.args[i]))

    def reg_fields(self) -> tuple[str, ...]:
        return tuple(f.definition for f in self.events()[0].fields)

    def events(self) -> tuple[Event, ...]:
        n_regs, r, w = self.n_regs, self.regs, self.word
        first = self.arch.first_stack_arg
        sym = re.compile(rf"{ARGS_FUNC}\+0x0/0x[0-9a-f]+ \[\w+\]")
        string_fields = [Field(f"k{n}", f"+0({self.member('kstr', i)}):string", _each(lambda c, i=i: quoted(KERNEL_STRINGS[i])))
                         for i, n in enumerate(STRING_LENGTHS)]
        user_fields = [Field(f"u{n}", f"+0({self.member('ustr', i)}):ustring", _each(lambda c, i=i: quoted(USER_STRINGS[i])))
                       for i, n in enumerate(STRING_LENGTHS)]
        last = len(STRING_LENGTHS)
        bitfields = ((1, 0), (4, 3), (8, 24), (5, 27))
        return (
            Event("kh_reg", "p", ARGS_FUNC, (
                Field("a1", f"{r[0]}:{w}", self.arg(0)),
                Field("a2", f"{r[1]}:s8", _each(lambda c: show("s8", c.args[1]))),
                Field("a3", f"{r[2]}:u16", _each(lambda c: show("u16", c.args[2]))),
                Field("a4", f"{r[3]}:s32", _each(lambda c: show("s32", c.args[3]))),
            ), "fetch_register"),
            Event("kh_argn", "p", ARGS_FUNC, tuple(
                Field(f"a{i + 1}", f"$arg{i + 1}:{w}", self.arg(i)) for i in range(n_regs)), "fetch_argn"),
            Event("kh_stack_args", "p", ARGS_FUNC, tuple(
                Field(f"a{i + 1}", f"$stack{first + i - n_regs}:{w}", self.arg(i)) for i in range(n_regs, N_ARGS)),
                "fetch_stack_args"),
            Event("kh_stack", "p", ARGS_FUNC, (
                Field(f"a{n_regs + 1}", f"+{first * self.w // 8}($stack):{w}", self.arg(n_regs)),), "fetch_stack"),
            Event("kh_comm", "p", ARGS_FUNC, (Field("comm", "$comm", _each(lambda c: quoted(CALLER))),), "fetch_comm"),
            Event("kh_ret", "r", ARGS_FUNC, (Field("ret", f"$retval:{w}", _each(lambda c: show(w, c.ret))),),
                  "fetch_retval"),
            Event("kh_ret_args", "r", ARGS_FUNC, (
                Field("ret", f"$retval:{w}", _each(lambda c: show(w, c.ret))),
                Field("a1", f"$arg1:{w}", self.arg(0)),
                Field("a2", f"$arg2:{w}", self.arg(1)),
            ), "fetch_return_args"),
            Event("kh_ret_max", "r4", ARGS_FUNC, (Field("ret", f"$retval:{w}", _each(lambda c: show(w, c.ret))),),
                  "kretprobe_maxactive"),
            Event("kh_offset", "p", ARGS_FUNC + AT_MID, (Field("comm", "$comm", _each(lambda c: quoted(CALLER))),),
                  "probe_offset"),
            Event("kh_addr", "p", ARGS_FUNC, (
                Field("g", f"@0x{ADDRESS}:x64", _each(lambda c: show("x64", GLOBALS[0]))),), "fetch_address"),
            Event("kh_sym", "p", ARGS_FUNC, (
                Field("g1", "@kh_globals+8:x64", _each(lambda c: show("x64", GLOBALS[1]))),
                Field("g3", "@kh_globals+24:u64", _each(lambda c: show("u64", GLOBALS[3]))),
            ), "fetch_symbol_offset"),
            Event("kh_imm", "p", ARGS_FUNC, (
                Field("n", f"\\{IMMEDIATE}:s32", _each(lambda c: show("s32", IMMEDIATE))),
                Field("h", "\\0x7f:x8", _each(lambda c: "0x7f")),
            ), "fetch_immediate"),
            Event("kh_imm_str", "p", ARGS_FUNC, (
                Field("s", f'\\"{IMMEDIATE_STRING}":string', _each(lambda c: quoted(IMMEDIATE_STRING))),),
                "fetch_immediate_string"),
            Event("kh_deref", "p", DATA_FUNC, (
                Field("inner", f"+{INNER_VALUE}({self.member('inner')}):x64", _each(lambda c: show("x64", c.inner))),
                Field("next", f"+{INNER_VALUE}(+{INNER_NEXT}({self.member('inner')})):x64",
                      _each(lambda c: show("x64", c.next))),
                Field("back", f"-{self.at['arr'] - self.at['u32v']}({self.member('tail')}):u32",
                      _each(lambda c: show("u32", c.ints[5]))),
            ), "fetch_deref"),
            Event("kh_uderef", "p", DATA_FUNC, (
                Field("u", f"+u0({self.member('uval')}):x64", _each(lambda c: show("x64", c.uval))),), "fetch_user_deref"),
            Event("kh_ints", "p", DATA_FUNC, tuple(
                Field(f"{kind}{m[1:-1]}_{m[0]}", f"{self.member(m)}:{kind}{m[1:-1]}",
                      _each(lambda c, k=kind + m[1:-1], i=i: show(k, c.ints[i])))
                for i, m in enumerate(INT_MEMBERS) for kind in ("s", "u", "x")), "fetch_int_types"),
            Event("kh_char", "p", DATA_FUNC, (Field("c", f"{self.member('c')}:char", _each(lambda c: f"'{c.char}'")),),
                  "fetch_char"),
            Event("kh_bits", "p", DATA_FUNC, tuple(
                Field(f"b{width}_{off}", f"{self.member('bits')}:b{width}@{off}/32",
                      _each(lambda c, width=width, off=off: show_bitfield(width, off, c.bits)))
                for width, off in bitfields), "fetch_bitfield"),
            Event("kh_array", "p", DATA_FUNC, (
                Field("arr", f"{self.member('arr')}:u32[4]", _each(lambda c: "{" + ",".join(str(x) for x in c.arr) + "}")),
                Field("hex", f"{self.member('arr')}:x32[2]",
                      _each(lambda c: "{" + ",".join(show("x32", x) for x in c.arr[:2]) + "}")),
            ), "fetch_array"),
            Event("kh_kstr", "p", DATA_FUNC, tuple(string_fields[:3]), "fetch_string"),
            Event("kh_kstr_long", "p", DATA_FUNC, tuple(string_fields[3:]), "fetch_string_long"),
            Event("kh_kstr_page", "p", DATA_FUNC, (
                Field("page", f"+0({self.member('kstr', last)}):string", _each(lambda c: quoted(KERNEL_PAGE_STRING))),),
                "fetch_string_page"),
            Event("kh_ustr_empty", "p", DATA_FUNC, tuple(user_fields[:1]), "fetch_ustring_empty"),
            Event("kh_ustr", "p", DATA_FUNC, (*user_fields[1:], Field(
                "page", f"+0({self.member('ustr', last)}):ustring", _each(lambda c: quoted(USER_PAGE_STRING)))),
                "fetch_ustring"),
            Event("kh_kstr_limit", "p", DATA_FUNC, (
                Field("limit", f"+0({self.member('kstr', last + 1)}):string",
                      _each(lambda c: quoted(KERNEL_LIMIT_STRING[:MAX_STRING]))),), "fetch_string_limit"),
            Event("kh_ustr_limit", "p", DATA_FUNC, (
                Field("limit", f"+0({self.member('ustr', last + 1)}):ustring",
                      _each(lambda c: quoted(USER_LIMIT_STRING[:MAX_STRING]))),), "fetch_string_limit"),
            Event("kh_symbol", "p", DATA_FUNC, (Field("fn", f"{self.member('fn')}:symbol", _each(lambda c: sym)),),
                  "fetch_symbol"),
            Event("kh_symstr", "p", DATA_FUNC, (
                Field("fn", f"{self.member('fn')}:symstr", _each(lambda c: re.compile(f'"{sym.pattern}"'))),),
                "fetch_symstr"),
            Event("kh_dentry", "p", DATA_FUNC, (
                Field("file", f"{r[1]}:%pD", _each(lambda c: quoted("call"))),
                Field("dentry", f"{r[2]}:%pd", _each(lambda c: quoted("call"))),
            ), "fetch_dentry"),
            Event("kh_multi", "p", ARGS_FUNC, (Field("v", f"{r[0]}:x32", _each(lambda c: show("x32", c.args[0]))),),
                  "probe_append"),
            Event("kh_multi", "p", DATA_FUNC, (
                Field("v", f"{self.member('u32v')}:x32", _each(lambda c: show("x32", c.ints[5]))),), "probe_append",
                appended=True),
        )

    def refusals(self) -> tuple[Refusal, ...]:
        r = self.regs
        return (
            Refusal("unknown_register", "kh_bad_reg", "p", ARGS_FUNC, ("x=%kh_no_reg",), "Invalid register name", 2),
            Refusal("unknown_type", "kh_bad_type", "p", ARGS_FUNC, (f"x={r[0]}:u7",), "Unknown type is specified", 2),
            Refusal("bad_bitfield", "kh_bad_bits", "p", ARGS_FUNC, (f"x=+0({r[0]}):b40@2/32",), "Invalid bitfield", 2),
            Refusal("array_too_big", "kh_bad_array", "p", ARGS_FUNC, (f"x=+0({r[0]}):u8[65]",),
                    "Array number is too big", 2),
            Refusal("too_many_args", "kh_bad_many", "p", ARGS_FUNC, tuple(f"f{i}={r[0]}:u8" for i in range(TOO_MANY)),
                    "", 0),
            Refusal("bad_event_name", "1kh_bad_name", "p", ARGS_FUNC, (f"x={r[0]}",),
                    "Event name must follow the same rules as C identifiers", 0),
            # kh_reg's fields, the first with another type (a different count has the caret past the end)
            Refusal("duplicate_event", "kh_reg", "p", ARGS_FUNC, (f"a1={r[0]}:u8", *self.reg_fields()[1:]),
                    "Argument type or name is different from existing probe", 2),
            Refusal("missing_symbol", "kh_bad_symbol", "p", "kh_no_such_function", (f"x={r[0]}",),
                    "Invalid probed address or symbol", 1),
            Refusal("blacklisted", "kh_bad_blacklisted", "p", "kprobe_dispatcher", (f"x={r[0]}",),
                    "Failed to register probe event", 1),
            Refusal("kretprobe_offset", "kh_bad_retoffset", "r", ARGS_FUNC + AT_MID, (),
                    "Retprobe address must be an function entry", 1),
        )


@dataclass(frozen=True)
class Grammar:
    arch: str
    word_bits: int
    layout: dict[str, int]
    events: tuple[Event, ...]
    refusals: tuple[Refusal, ...]

    def event_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.name for e in self.events))

    def elements(self) -> tuple[Element, ...]:
        used = {e.element for e in self.events}
        return tuple(e for e in ELEMENTS if e.check in used)


@functools.cache
def grammar(arch: Arch) -> Grammar:
    """The grammar target of an arch (built once per arch)."""
    target = _Target(arch)
    return Grammar(arch.name, arch.word_bits, target.at, target.events(), target.refusals())


def word_value(value: int, word_bits: int) -> str:
    """An unsigned C literal of a value cut to the word."""
    return f"0x{value & ((1 << word_bits) - 1):x}UL"


def c_int(value: int, ctype: str) -> str:
    """A C literal of an integer member's value (s8-s64, u8-u64)."""
    suffix = "LL" if ctype.endswith("64") else ""
    if ctype[0] == "u":
        return f"0x{value:x}U{suffix}"
    if value == -(1 << (int(ctype[1:]) - 1)):  # the minimum has no literal of its own
        return f"(-0x{-value - 1:x}{suffix} - 1)"
    return f"{value}{suffix}" if value >= 0 else f"(-0x{-value:x}{suffix})"
