"""`python -m alerts` is the same as the `alerts` command."""

from alerts.cli import main

main()
