"""`python -m harness.cli TASK ...`: the installed command, run from the checkout."""

from harness.cli.main import main

main()
