"""`python -m swaplib ...`: the command line tools (see swaplib.cli)."""

from .cli import main

raise SystemExit(main())
