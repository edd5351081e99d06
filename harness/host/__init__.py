"""This machine: where the cache and the run folders are, locks, running commands as argv lists,
checking what a restored cache holds, and installing what the harness needs.
May import: harness.spec, harness.errors."""
