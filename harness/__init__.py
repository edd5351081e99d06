"""kprobe-harness: prove the in-kernel dynamic-event API works on a kernel tree, per architecture."""
