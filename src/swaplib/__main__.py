"""`python -m swaplib ...`: the command line tools (see swaplib.cli)."""

from swaplib.cli import main

raise SystemExit(main())
