"""The installed `kprobe-harness` command: the same invoke tasks as `inv` in the checkout."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.program import Program

from harness.cli import tasks

program = Program(namespace=Collection.from_module(tasks), name="kprobe-harness", binary="kprobe-harness",
                  version="0.1.0")


def main() -> None:
    program.run()


if __name__ == "__main__":
    main()
