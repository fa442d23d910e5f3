"""`python -m swaplib.config [--check] [ROOT]`: write config.yaml's and the schema's declared sections
(swaplib.config.files) and the settings tables of the pages in docs/ (swaplib.config.docs), or with
--check exit 1 naming the files that differ from the declarations."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from swaplib.config import docs, files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m swaplib.config", description=__doc__)
    parser.add_argument("root", nargs="?", default=".", help="the checkout (default: the current folder)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file differs")
    args = parser.parse_args(argv)
    differ = files.write(Path(args.root), check=args.check) + docs.write(Path(args.root), check=args.check)
    for path in differ:
        print(f"{path}: {'differs from' if args.check else 'written from'} the settings' declarations")
    return 1 if args.check and differ else 0


if __name__ == "__main__":
    sys.exit(main())
