"""What to test, as data: the arch table, the kernels and toolchains, a cell's name, fetch-arg
validation, the probe-grammar target (functions, values, events, refusals) and the rendered
module. Pure: no processes, no files but the templates.
May import: harness.errors."""
