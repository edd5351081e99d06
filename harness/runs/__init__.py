"""Whole runs, stage by stage: one check, the interactive load and boot, the matrix, base against head,
merged results, a cell through LAVA, and the benchmark. May import every layer below (not harness.cli)."""
