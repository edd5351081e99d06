"""Render the test module and its Kbuild from the strict Jinja2 templates."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jinja2

from harness.errors import UserError
from harness.spec import fetchargs
from harness.spec import grammar as grammar_target
from harness.spec.arches import ARCHES, KPROBE_EVENT, KRETPROBE_EVENT, KRETPROBE_FIELDS, PROBE_FUNC, Arch

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates"
MODULE_NAME = "kprobe_event_gen_test"


@dataclass(frozen=True)
class ProbeSpec:
    """What the module probes: validated, ready for the template and for the verdict."""

    arch: str
    profile: str
    func: str
    kprobe_event: str
    kprobe_fields: tuple[str, ...]
    kretprobe_event: str
    kretprobe_fields: tuple[str, ...]
    grammar: bool = True  # the module carries the probe-grammar target (the tree's own module does not)


def grammar_of(spec: ProbeSpec) -> grammar_target.Grammar | None:
    """The probe-grammar target a spec's module carries (the tree's own module carries none)."""
    return grammar_target.grammar(ARCHES[spec.arch]) if spec.grammar and spec.arch in ARCHES else None


def probe_spec(arch: Arch, profile: str, func: str | None = None) -> ProbeSpec:
    """Build and validate the probe spec of an arch and profile (func overrides the probed function)."""
    fields = tuple(fetchargs.check_fetcharg(f) for f in arch.probe_fields(profile))
    if len(fields) < 2:
        raise UserError("a probe profile needs at least two kprobe fields")
    return ProbeSpec(
        arch=arch.name,
        profile=profile,
        func=fetchargs.check_symbol(PROBE_FUNC if func is None else func),
        kprobe_event=fetchargs.check_event_name(KPROBE_EVENT),
        kprobe_fields=fields,
        kretprobe_event=fetchargs.check_event_name(KRETPROBE_EVENT),
        kretprobe_fields=tuple(fetchargs.check_fetcharg(f) for f in KRETPROBE_FIELDS),
    )


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["c_string"] = fetchargs.c_string
    env.filters["c_int"] = grammar_target.c_int
    return env


def render_files(spec: ProbeSpec) -> dict[str, str]:
    """File name -> rendered text, for the module source and its Kbuild."""
    env = environment()
    context = {"spec": spec, "module": MODULE_NAME, "grammar": grammar_of(spec), "gm": grammar_target,
               "word": lambda value: grammar_target.word_value(value, ARCHES[spec.arch].word_bits)}
    return {
        f"{MODULE_NAME}.c": env.get_template(f"{MODULE_NAME}.c.j2").render(context),
        "Kbuild": env.get_template("Kbuild.j2").render(context),
    }


def write_files(files: dict[str, str], out_dir: Path) -> list[Path]:
    """Write rendered files, leaving unchanged files untouched so make sees no new mtime."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = out_dir / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written
