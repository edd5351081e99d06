"""The installed `kprobe-harness` command: the same invoke tasks as `inv` in the checkout."""

from __future__ import annotations

import sys
from collections.abc import Callable

from invoke.collection import Collection
from invoke.exceptions import ParseError
from invoke.program import Program

from harness.cli import tasks
from harness.errors import EXIT_SETUP


class HarnessProgram(Program):
    """invoke's program, but a command line it cannot parse exits 128 like every other usage error,
    so that `git bisect run` stops instead of marking every commit bad (invoke's own exit is 1)."""

    def parse_core(self, argv: list[str] | None) -> None:
        _refusing(lambda: super(HarnessProgram, self).parse_core(argv))

    def parse_tasks(self) -> None:
        _refusing(super().parse_tasks)


def _refusing(parse: Callable[[], None]) -> None:
    """Run one of invoke's parse steps; a ParseError is said on stderr and exits 128."""
    try:
        parse()
    except ParseError as e:
        print(f"{e}; see 'kprobe-harness --help TASK'", file=sys.stderr)
        sys.exit(EXIT_SETUP)


program = HarnessProgram(namespace=Collection.from_module(tasks), name="kprobe-harness", binary="kprobe-harness",
                         version="0.1.0")


def main() -> None:
    program.run()


if __name__ == "__main__":
    main()
