"""From a kernel tree to bootable artifacts: the tree (a user's, a patched copy, a git revision), its
configuration, make and its freshness stamps, toolchains, the rendered module and the tree's own.
May import: harness.host, harness.spec, harness.errors (never the verdict)."""
