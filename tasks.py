"""invoke's entry point in the checkout (`inv ...`): the tasks live in harness/cli/tasks.py, which the
installed `kprobe-harness` command runs too."""

from harness.cli.tasks import (  # noqa: F401
    bench,
    bisect,
    boot,
    cache,
    check,
    ci,
    compare,
    lava,
    load,
    matrix,
    render,
    report,
    setup,
    test,
)
