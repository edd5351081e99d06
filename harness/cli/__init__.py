"""The command line: invoke tasks (options in, one call, exit code out), shared by `inv` in the
checkout and the installed `kprobe-harness`. May import everything."""
