"""Results people and tools read: the run result and its JSON, text tables, and one module per report
format (JUnit, KTAP, Markdown, the benchmark's tables). May import: harness.verdict and below."""
