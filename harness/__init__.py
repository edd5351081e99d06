"""kprobe-harness: prove the kernel's in-kernel dynamic-event API works on a kernel tree, per arch.

Packages by stage, each importing only those below it (the import-linter contract in pyproject.toml):
cli -> runs -> labs | results -> vm -> build | verdict -> host -> spec -> errors."""
