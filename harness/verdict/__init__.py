"""From what a guest session showed to checks, facts and a verdict: observations as plain data, trace
parsing, recorded events, the checks, the value checks, the probe-grammar checks and the known
issues. Pure: it never builds,
boots or touches the host. May import: harness.spec, harness.errors."""
